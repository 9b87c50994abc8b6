"""Run one claimed job: rebuild its delivery, decide a paths filter left to the job
(hookd.changed_files.gate), run the hook's action with its output streamed into the store,
and decide: finished, or another attempt after a backoff."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from hookd.actions.base import ActionResult, JobContext, failure
from hookd.actions.job_processes import JobProcesses, end_earlier_attempts
from hookd.actions.registry import run_action
from hookd.changed_files.gate import known_files, paths_gate
from hookd.config import Config, job_base_environment
from hookd.core.delivery import Body, Delivery
from hookd.core.forges import payload_json, read_payload, with_facts
from hookd.core.payload_reads import Reads
from hookd.core.retry import backoff_delay
from hookd.core.vocabulary import JobStatus
from hookd.errors import StoreError
from hookd.intake import delivery_context
from hookd.store.base import Store
from hookd.store.records import DeliveryDetail, JobOutcome, JobRecord

log = logging.getLogger("hookd.worker")

LOG_CAP = 1024 * 1024
FLUSH_BYTES = 64 * 1024
FLUSH_SECONDS = 0.1


class LogBuffer:
    """Collects a job's output and appends it to the store in chunks, at most every
    FLUSH_SECONDS, so a chatty job does not cost one write per line. Output followed by
    silence is flushed by a timer, so `hookd logs --follow` shows it within FLUSH_SECONDS
    rather than at the job's next output or end."""

    def __init__(self, store: Store, job_id: str) -> None:
        self._store, self._job_id = store, job_id
        self._pending = bytearray()
        self._flushed_at = time.monotonic()
        self._lock = asyncio.Lock()  # appends in order, one at a time
        self._later: asyncio.Task[None] | None = None

    async def write(self, chunk: bytes) -> None:
        self._pending += chunk
        due = time.monotonic() - self._flushed_at >= FLUSH_SECONDS
        if len(self._pending) >= FLUSH_BYTES or due:
            await self.flush()
        elif self._later is None:
            self._later = asyncio.create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(FLUSH_SECONDS)
        self._later = None
        try:
            await self.flush()
        except StoreError as exc:
            log.error("could not store output of job %s: %s", self._job_id, exc)

    async def flush(self) -> None:
        async with self._lock:
            self._flushed_at = time.monotonic()
            if self._pending:
                chunk, self._pending = bytes(self._pending), bytearray()
                await self._store.append_log(self._job_id, chunk, LOG_CAP)

    def stop_timer(self) -> None:
        """No timed flush from now on (one already flushing finishes)."""
        if self._later is not None:
            self._later.cancel()
            self._later = None

    async def close(self) -> None:
        """Store what is left; nothing is appended after this returns."""
        self.stop_timer()
        await self.flush()


def rebuild_delivery(detail: DeliveryDetail, reads: Reads) -> tuple[Delivery, Body]:
    """The stored delivery as the core's value, and the JSON bytes it carries; a large
    payload holds what `reads` names (core.forges.read_payload)."""
    record = detail.record
    body = detail.body or b""
    carried = payload_json(detail.content_type, body)
    forge_event = detail.forge_event or record.event or ""
    delivery = Delivery(
        endpoint=record.endpoint or "",
        forge=record.forge or "",
        event=record.event or "",
        forge_event=forge_event,
        action=record.action,
        delivery_id=record.delivery,
        content_type=detail.content_type or "",
        headers=detail.headers,
        body=body,
        payload=with_facts(record.forge or "", forge_event, read_payload(carried, reads)),
    )
    return delivery, carried


def for_ref(delivery: Delivery, ref: str) -> Delivery | None:
    """The delivery as a job of its one `ref` sees it (one of several it moved): that ref's
    name and commits are its `ref`, `before` and `sha`. None when it moved no such ref."""
    update = next((found for found in delivery.ref_updates if found.ref == ref), None)
    return None if update is None else replace(delivery, ref_update=update)


async def execute(
    store: Store, config: Config, job: JobRecord, stop: asyncio.Event, scratch: Path
) -> JobOutcome:
    """Run one attempt of `job` and say how it ended (or when to try again). `scratch` is
    a private folder for the job's payload file."""
    output = LogBuffer(store, job.id)
    hook = config.hooks.get(job.hook)
    keep = hook is not None and hook.keep_background
    processes = JobProcesses(
        job.id, job.attempts, keep_background=keep,
        record=partial(store.record_job_process, job.id),
    )  # fmt: skip
    try:
        await _end_earlier_attempts(store, job, output, keep_background=keep)
    except StoreError as exc:
        result = failure(f"cannot read what earlier attempts left running: {exc}", retryable=True)
    else:
        result = await _attempt(
            store, config, job, stop, output, _Scratch(scratch / f"{job.id}.json", processes)
        )
    finally:
        output.stop_timer()
    outcome = _decide(job, result)
    if outcome.retry_at is not None:
        wait = (outcome.retry_at - datetime.now(UTC)).total_seconds()
        ended = f"attempt {job.attempts} of {job.max_attempts} ended"
        if not outcome.count_attempt:
            ended = "turned away, this attempt does not count"
        await output.write(
            f"\n[hookd: {ended}: {result.error}; next attempt in {wait:.1f}s]\n".encode()
        )
    await output.close()
    return outcome


async def _end_earlier_attempts(
    store: Store, job: JobRecord, output: LogBuffer, *, keep_background: bool
) -> None:
    """Before a retry, end what an earlier attempt left running when its hookd died: the
    two never run side by side. A first attempt has nothing before it."""
    if job.attempts <= 1:
        return
    recorded = await store.job_processes(job.id)
    if recorded:
        await end_earlier_attempts(recorded, output.write, keep_background=keep_background)
        await store.forget_job_processes(job.id)


@dataclass(frozen=True, slots=True)
class _Scratch:
    """Where the attempt keeps its payload file, and its processes."""

    payload_file: Path
    processes: JobProcesses


async def _attempt(
    store: Store,
    config: Config,
    job: JobRecord,
    stop: asyncio.Event,
    output: LogBuffer,
    scratch: _Scratch,
) -> ActionResult:
    hook = config.hooks.get(job.hook)
    if hook is None:
        return failure(f"hook {job.hook!r} is no longer in {config.path}")
    try:
        detail = await store.get_delivery(job.delivery_id)
        delivery, carried = rebuild_delivery(detail, config.job_reads[job.hook])
    except ValueError as exc:
        return failure(f"the stored delivery cannot be read: {exc}")
    if job.ref is not None:
        found = for_ref(delivery, job.ref)
        if found is None:
            return failure(f"the stored delivery moved no ref {job.ref!r}")
        delivery = found
    if job.paths_filter is not None:
        gate = await paths_gate(store, config, job, delivery, output.write)
        if gate.stop is not None:
            return gate.stop
        changed = gate.files
    else:
        changed = await known_files(store, job, delivery)
    context = JobContext(
        job_id=job.id, hook=job.hook, attempt=job.attempts, delivery=delivery,
        payload_bytes=carried, context=delivery_context(delivery, job.hook, changed),
        base_env=job_base_environment(config, os.environ), payload_file=scratch.payload_file,
        timeout=hook.timeout, output=output.write, stop=stop, processes=scratch.processes,
        config=config,
    )  # fmt: skip
    return await run_action(context, hook.action)


def _decide(job: JobRecord, result: ActionResult) -> JobOutcome:
    if result.retry_at is not None:
        return JobOutcome(
            status=JobStatus.QUEUED, exit_code=result.exit_code, error=result.error,
            retry_at=result.retry_at, count_attempt=False,
        )  # fmt: skip
    again = result.status in (JobStatus.FAILED, JobStatus.TIMED_OUT) and result.retryable
    if again and job.attempts < job.max_attempts:
        delay = backoff_delay(job.attempts, jitter=random.random())  # noqa: S311 - not crypto
        return JobOutcome(
            status=JobStatus.QUEUED, exit_code=result.exit_code, error=result.error,
            retry_at=datetime.now(UTC) + timedelta(seconds=delay),
        )  # fmt: skip
    return JobOutcome(
        status=result.status, exit_code=result.exit_code, error=result.error, result=result.result
    )
