"""A `Store` that times each of its operations into `hookd_store_latency_seconds`.

Every operation is written out and forwards its arguments by name to the same operation of
the store it wraps: mypy checks each against `Store`, so an operation renamed or added there
is an error here, not a series that silently stops. Job outcomes are not read from here: the
worker pool counts them where it knows them (`hookd.worker.pool`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from prometheus_client.context_managers import Timer

from hookd.core.delivery import Delivery
from hookd.store.base import Store
from hookd.store.catch_up import CatchUpStore
from hookd.store.records import (
    REJECTIONS_KEPT,
    DeliveryDetail,
    DeliveryQuery,
    DeliveryRecord,
    JobOutcome,
    JobProcess,
    JobQuery,
    JobRecord,
    KeptFiles,
    Lease,
    NewJob,
    Recorded,
    RejectedRequest,
    ReplayGuard,
)
from hookd.web.metrics import STORE_LATENCY


@cache
def _timer(operation: str) -> Any:
    """The histogram child of `operation`: labels() locks, so once per operation."""
    return STORE_LATENCY.labels(operation)


def _timed(operation: str) -> Timer:
    timer: Timer = _timer(operation).time()
    return timer


class TimedStore(Store):
    """`store`, measured: what serve hands to the receiver, the API and the workers.
    `wait_for_jobs` is a wait, not work, and is not timed: it would measure idleness."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def open(self) -> None:
        with _timed("open"):
            await self._store.open()

    async def close(self) -> None:
        with _timed("close"):
            await self._store.close()

    async def probe(self) -> None:
        with _timed("probe"):
            await self._store.probe()

    async def record_delivery(
        self,
        delivery: Delivery,
        *,
        received_at: datetime,
        remote_addr: str | None,
        trace: Sequence[Mapping[str, Any]],
        jobs: Sequence[NewJob],
        replay_of: str | None = None,
        guard: ReplayGuard | None = None,
        config: str | None = None,
    ) -> Recorded:
        with _timed("record_delivery"):
            return await self._store.record_delivery(
                delivery=delivery,
                received_at=received_at,
                remote_addr=remote_addr,
                trace=trace,
                jobs=jobs,
                replay_of=replay_of,
                guard=guard,
                config=config,
            )

    async def record_rejections(
        self, rejected: Sequence[RejectedRequest], keep: int = REJECTIONS_KEPT
    ) -> list[str]:
        with _timed("record_rejections"):
            return await self._store.record_rejections(rejected=rejected, keep=keep)

    async def list_deliveries(self, query: DeliveryQuery) -> list[DeliveryRecord]:
        with _timed("list_deliveries"):
            return await self._store.list_deliveries(query=query)

    async def get_delivery(self, delivery_id: str) -> DeliveryDetail:
        with _timed("get_delivery"):
            return await self._store.get_delivery(delivery_id=delivery_id)

    async def schema_version(self) -> int:
        with _timed("schema_version"):
            return await self._store.schema_version()

    async def claim_job(self, worker: str, now: datetime, lease_seconds: float) -> JobRecord | None:
        with _timed("claim_job"):
            return await self._store.claim_job(worker=worker, now=now, lease_seconds=lease_seconds)

    async def renew_lease(self, job_id: str, worker: str, until: datetime) -> Lease:
        with _timed("renew_lease"):
            return await self._store.renew_lease(job_id=job_id, worker=worker, until=until)

    async def finish_job(
        self, job_id: str, worker: str, outcome: JobOutcome, now: datetime
    ) -> bool:
        with _timed("finish_job"):
            return await self._store.finish_job(
                job_id=job_id, worker=worker, outcome=outcome, now=now
            )

    async def release_job(self, job_id: str, worker: str, now: datetime) -> None:
        with _timed("release_job"):
            await self._store.release_job(job_id=job_id, worker=worker, now=now)

    async def cancel_job(self, job_id: str, now: datetime) -> JobRecord:
        with _timed("cancel_job"):
            return await self._store.cancel_job(job_id=job_id, now=now)

    async def cancel_queued_jobs(self, hooks: Sequence[str], reason: str, now: datetime) -> int:
        with _timed("cancel_queued_jobs"):
            return await self._store.cancel_queued_jobs(hooks=hooks, reason=reason, now=now)

    async def retry_job(self, job_id: str, now: datetime) -> JobRecord:
        with _timed("retry_job"):
            return await self._store.retry_job(job_id=job_id, now=now)

    async def keep_files(self, delivery_id: str, ref: str, kept: KeptFiles, at: datetime) -> None:
        with _timed("keep_files"):
            await self._store.keep_files(delivery_id=delivery_id, ref=ref, kept=kept, at=at)

    async def kept_files(self, delivery_id: str, ref: str) -> KeptFiles | None:
        with _timed("kept_files"):
            return await self._store.kept_files(delivery_id=delivery_id, ref=ref)

    async def record_job_process(self, job_id: str, process: JobProcess) -> None:
        with _timed("record_job_process"):
            await self._store.record_job_process(job_id=job_id, process=process)

    async def job_processes(self, job_id: str) -> list[JobProcess]:
        with _timed("job_processes"):
            return await self._store.job_processes(job_id=job_id)

    async def forget_job_processes(self, job_id: str) -> None:
        with _timed("forget_job_processes"):
            await self._store.forget_job_processes(job_id=job_id)

    async def append_log(self, job_id: str, chunk: bytes, cap: int) -> int:
        with _timed("append_log"):
            return await self._store.append_log(job_id=job_id, chunk=chunk, cap=cap)

    async def read_log(self, job_id: str, offset: int = 0) -> bytes:
        with _timed("read_log"):
            return await self._store.read_log(job_id=job_id, offset=offset)

    async def get_job(self, job_id: str) -> JobRecord:
        with _timed("get_job"):
            return await self._store.get_job(job_id=job_id)

    async def list_jobs(self, query: JobQuery) -> list[JobRecord]:
        with _timed("list_jobs"):
            return await self._store.list_jobs(query=query)

    async def count_jobs(self, statuses: Sequence[str]) -> dict[str, int]:
        with _timed("count_jobs"):
            return await self._store.count_jobs(statuses=statuses)

    async def prune(self, before: datetime) -> int:
        with _timed("prune"):
            return await self._store.prune(before=before)

    async def revoke_session(self, digest: str, until: datetime, now: datetime) -> None:
        with _timed("revoke_session"):
            await self._store.revoke_session(digest=digest, until=until, now=now)

    async def session_revoked(self, digest: str, now: datetime) -> bool:
        with _timed("session_revoked"):
            return await self._store.session_revoked(digest=digest, now=now)

    async def wait_for_jobs(self, timeout: float) -> None:
        await self._store.wait_for_jobs(timeout=timeout)

    def catch_up(self) -> CatchUpStore:
        """Not timed: catch-up runs beside the work the histogram is about."""
        return self._store.catch_up()
