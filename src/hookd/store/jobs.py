"""Jobs and their logs, for both backends (see `hookd.store.steps`). Each operation runs
inside whatever transaction its backend gives it: SQLite's writer's, or on PostgreSQL the
one `hookd.store.postgres` opens for those that write more than one statement."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from hookd.core.vocabulary import JobStatus
from hookd.errors import NotFound
from hookd.store import queries as q
from hookd.store.filters import job_filters, where_clause
from hookd.store.ids import new_id
from hookd.store.records import (
    JobOutcome,
    JobProcess,
    JobQuery,
    JobRecord,
    KeptFiles,
    Lease,
    NewJob,
    capped_log_chunk,
)
from hookd.store.rows import job_process, job_record, kept_files_of
from hookd.store.steps import Steps, all_rows, count, one


class GroupTaken(Exception):
    """Another process started a job of the claimed job's group at the same moment: the
    claim's transaction must be rolled back (the caller simply asks again)."""


def claim(
    worker: str, now: datetime, lease_seconds: float, *, recheck: bool
) -> Steps[JobRecord | None]:
    """Take the next claimable job for `worker`. `recheck`: other processes claim too
    (PostgreSQL), so a claim in a group looks again, holding the group's lock, for a job of
    the group that another claim started after this one's snapshot; raises GroupTaken."""
    until = datetime.fromtimestamp(now.timestamp() + lease_seconds, UTC)
    row = yield one(q.CLAIM, worker=worker, now=now, until=until)
    if row is None:
        return None
    job = job_record(row)
    if recheck and job.concurrency_group is not None:
        busy = yield one(q.GROUP_BUSY, group=job.concurrency_group, id=job.id, now=now)
        if busy is not None:
            raise GroupTaken(job.concurrency_group)
    return job


def renew(job_id: str, worker: str, until: datetime) -> Steps[Lease]:
    row = yield one(q.RENEW, until=until, id=job_id, worker=worker)
    if row is None:
        return Lease(held=False, cancel_requested=False)
    return Lease(held=True, cancel_requested=bool(row["cancel_requested"]))


def finish(job_id: str, worker: str, outcome: JobOutcome, now: datetime) -> Steps[bool]:
    if outcome.retry_at is not None:
        changed = yield count(
            q.RETRY_LATER, run_after=outcome.retry_at, exit_code=outcome.exit_code,
            error=outcome.error, given_back=0 if outcome.count_attempt else 1, id=job_id,
            worker=worker,
        )  # fmt: skip
    else:
        changed = yield count(
            q.FINISH, status=outcome.status, exit_code=outcome.exit_code, error=outcome.error,
            result=outcome.result, now=now, id=job_id, worker=worker,
        )  # fmt: skip
    return bool(changed == 1)


def release(job_id: str, worker: str, now: datetime) -> Steps[None]:
    """Hand a job back unfinished (shutdown): queued again at once, the attempt not counted."""
    yield count(q.RELEASE, now=now, id=job_id, worker=worker)


def cancel(job_id: str, now: datetime) -> Steps[JobRecord]:
    """Cancel a queued job now; ask a running one to stop. Finished jobs stay as they are."""
    yield count(q.CANCEL_QUEUED, now=now, id=job_id)
    yield count(q.ASK_TO_STOP, id=job_id)
    return (yield from get(job_id))


def cancel_queued_of(hooks: Sequence[str], reason: str, now: datetime) -> Steps[int]:
    """Cancel the queued jobs of `hooks` with `reason`; how many."""
    cancelled = 0
    for hook in hooks:
        cancelled += yield count(q.CANCEL_HOOK_QUEUED, now=now, reason=reason, hook=hook)
    return cancelled


def requeue(job_id: str, now: datetime) -> Steps[JobRecord]:
    """Run a finished job again (`retry`): queued now with a fresh attempt budget."""
    job = yield from get(job_id, lock=True)
    if job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
        return job
    yield count(q.REQUEUE, now=now, id=job_id)
    return (yield from get(job_id))


def get(job_id: str, *, lock: bool = False) -> Steps[JobRecord]:
    row = yield one(q.GET_JOB_LOCKED if lock else q.GET_JOB, id=job_id)
    if row is None:
        raise NotFound(f"no job {job_id}")
    return job_record(row)


def select(query: JobQuery) -> Steps[list[JobRecord]]:
    where, params = job_filters(query)
    text = q.LIST_JOBS.replace("{where}", where_clause(where))
    rows = yield all_rows(text, **params, limit=query.limit)
    return [job_record(row) for row in rows]


def count_jobs(statuses: Sequence[str]) -> Steps[dict[str, int]]:
    counts = dict.fromkeys(statuses, 0)
    marks = {f"s{number}": status for number, status in enumerate(statuses)}
    text = q.COUNT_JOBS.replace("{marks}", ", ".join(f":{mark}" for mark in marks) or "NULL")
    rows = yield all_rows(text, **marks)
    counts.update({row["status"]: row["jobs"] for row in rows})
    return counts


def insert_job(delivery_id: str, job: NewJob, at: datetime | str) -> Steps[str]:
    """Create a job queued at `at` (its delivery's `received_at`). A queued job replaces any
    older job still queued in its concurrency group, and with `cancel_in_progress` asks the
    running one to stop (GitHub Actions' concurrency rule). On PostgreSQL the caller holds
    the group's lock."""
    job_id = new_id()
    group = job.concurrency_group
    if group is not None and job.status == JobStatus.QUEUED:
        yield count(q.REPLACE_IN_GROUP, at=at, id=job_id, group=group)
        if job.cancel_in_progress:
            yield count(q.STOP_IN_GROUP, group=group)
    yield count(q.INSERT_JOB, **job_values(job_id, delivery_id, job, at))
    return job_id


def job_values(job_id: str, delivery_id: str, job: NewJob, at: datetime | str) -> dict[str, Any]:
    """The parameters of a new job's row (`INSERT_JOB`)."""
    return {
        "id": job_id, "delivery_id": delivery_id, "hook": job.hook, "status": job.status,
        "max_attempts": job.max_attempts, "error": job.error, "group": job.concurrency_group,
        "at": at, "finished": at if job.status != JobStatus.QUEUED else None, "ref": job.ref,
        "paths_filter": job.paths_filter,
    }  # fmt: skip


def append_log(job_id: str, chunk: bytes, cap: int) -> Steps[int]:
    """Append output, keeping at most `cap` bytes and a note where it was cut.
    Returns how many bytes of `chunk` were kept."""
    row = yield one(q.LOG_STATE, id=job_id)
    if row is None or row["log_truncated"]:
        return 0
    kept, truncated = capped_log_chunk(chunk, row["log_size"], cap)
    yield count(q.APPEND_CHUNK, id=job_id, chunk=kept)
    yield count(q.GROW_LOG, kept=len(kept), truncated=truncated, id=job_id)
    return len(kept)


def read_log(job_id: str, offset: int) -> Steps[bytes]:
    """The log from byte `offset` on, reading only the chunks that hold it."""
    job = yield from get(job_id)
    if offset >= job.log_size:
        return b""
    rows = yield all_rows(q.READ_LOG, id=job_id, offset=offset)
    if not rows:
        return b""
    start = rows[0]["log_size"] - rows[0]["behind"]
    return b"".join(row["chunk"] for row in rows)[int(offset - start) :]


def record_process(job_id: str, process: JobProcess) -> Steps[None]:
    yield count(
        q.RECORD_PROCESS, id=job_id, attempt=process.attempt, machine=process.machine,
        tag=process.tag, pid=process.pid, started=process.started,
    )  # fmt: skip


def processes(job_id: str) -> Steps[list[JobProcess]]:
    rows = yield all_rows(q.PROCESSES, id=job_id)
    return [job_process(row) for row in rows]


def forget_processes(job_id: str) -> Steps[None]:
    yield count(q.FORGET_PROCESSES, id=job_id)


def keep_files(delivery_id: str, ref: str, kept: KeptFiles, at: datetime) -> Steps[None]:
    """Keep a delivery's changed files (for the job's `ref`, '' for none); the first kept
    for a delivery and ref stays."""
    listed = None if kept.files is None else orjson.dumps(list(kept.files)).decode()
    yield count(
        q.KEEP_FILES, id=delivery_id, ref=ref, source=kept.source, files=listed,
        reason=kept.reason, at=at,
    )  # fmt: skip


def kept_files(delivery_id: str, ref: str) -> Steps[KeptFiles | None]:
    row = yield one(q.KEPT_FILES, id=delivery_id, ref=ref)
    return None if row is None else kept_files_of(row)
