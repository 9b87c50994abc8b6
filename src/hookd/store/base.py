"""The `Store` seam: everything hookd keeps goes through this interface, so the SQLite and
PostgreSQL backends are interchangeable for every caller.

All methods are coroutines. Writes are atomic per call and durable when they return,
except the job bookkeeping (`claim_job`, `renew_lease`, `finish_job`, `release_job`,
`append_log`) and `record_rejections`: a backend may commit those without waiting for the
disk, since losing them in a machine crash (never in hookd's own) only means a job runs
again, or a rejected request is missing from the sample. Driver errors
surface as `hookd.errors.StoreError`; a missing id as `NotFound`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from hookd.core.delivery import Delivery
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

if TYPE_CHECKING:  # catch-up's records need orjson, which importing the store must not
    from hookd.store.catch_up import CatchUpStore


class Store(Protocol):
    async def open(self) -> None:
        """Connect and bring the schema up to date (migrations run here)."""

    async def close(self) -> None:
        """Finish pending writes and release connections."""

    async def probe(self) -> None:
        """Return if a delivery could be committed now; raise StoreError saying why not
        (disk full, database damaged, write lock held elsewhere, database unreachable).

        The answer comes from a real write that goes the way a delivery's does and waits
        for the disk as one does, run at most once a second however often this is called
        (see `hookd.store.readiness`); on SQLite also from `PRAGMA quick_check` when due
        (see `hookd.store.sqlite_health`). A delivery `record_delivery` could not store
        makes it raise at once, until a later probe passes."""

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
        """Store a verified delivery and its jobs in one transaction; an accepted one
        with `config`, the short hash of the configuration that decided it.

        If the endpoint already accepted this forge delivery id (and this is not a
        replay), store a `duplicate` row pointing at the original instead, create no
        job, and return `Recorded(status="duplicate", id=<original id>,
        delivery=<original's forge id>)`. With `guard`, a body with the guard's digest
        that the endpoint accepted within the window before `received_at`, under another
        delivery id, is a duplicate too (`same_body`), and nothing is stored: a captured
        body sent again and again costs no row. Both checks are the database's unique
        constraints, checked in the transaction that records, so they hold under
        concurrent receivers. An accepted delivery with a guard becomes the one its
        digest names until the window has passed.
        """

    async def record_rejections(
        self, rejected: Sequence[RejectedRequest], keep: int = REJECTIONS_KEPT
    ) -> list[str]:
        """Store rejected requests' metadata (never a body) in one transaction and return
        their ids; in it, drop each of their endpoints' older rejected requests beyond the
        newest `keep` (a few hundred at a time, so a backlog from before goes over a few
        calls)."""

    async def list_deliveries(self, query: DeliveryQuery) -> list[DeliveryRecord]:
        """Deliveries matching `query`, newest first, at most `query.limit`."""

    async def get_delivery(self, delivery_id: str) -> DeliveryDetail:
        """One delivery with headers, body and trace; NotFound if there is none."""

    async def schema_version(self) -> int:
        """The newest migration applied."""

    async def claim_job(self, worker: str, now: datetime, lease_seconds: float) -> JobRecord | None:
        """Atomically take the next claimable job (queued and due, or running under a lapsed
        lease) for `worker`, honouring concurrency groups; count the attempt."""

    async def renew_lease(self, job_id: str, worker: str, until: datetime) -> Lease:
        """Extend `worker`'s lease; say whether it still holds it and whether to stop."""

    async def finish_job(
        self, job_id: str, worker: str, outcome: JobOutcome, now: datetime
    ) -> bool:
        """Record how the attempt ended (or queue it again at `outcome.retry_at`). False if
        `worker` no longer held the job, in which case nothing changes."""

    async def release_job(self, job_id: str, worker: str, now: datetime) -> None:
        """Hand a running job back unfinished (graceful shutdown); the attempt is not counted."""

    async def cancel_job(self, job_id: str, now: datetime) -> JobRecord:
        """Cancel a queued job; ask a running one to stop (its worker sees it on renewal)."""

    async def cancel_queued_jobs(self, hooks: Sequence[str], reason: str, now: datetime) -> int:
        """Cancel every queued job of `hooks` (a reload removed them) with `reason` as its
        error; return how many. Running ones finish."""

    async def retry_job(self, job_id: str, now: datetime) -> JobRecord:
        """Queue a finished job to run again now, with a fresh attempt budget."""

    async def record_job_process(self, job_id: str, process: JobProcess) -> None:
        """Remember a process an attempt of the job started (bookkeeping, like a claim)."""

    async def job_processes(self, job_id: str) -> list[JobProcess]:
        """The processes the job's attempts started that are not forgotten yet."""

    async def forget_job_processes(self, job_id: str) -> None:
        """Forget the job's processes (they are known to be gone)."""

    async def keep_files(self, delivery_id: str, ref: str, kept: KeptFiles, at: datetime) -> None:
        """Keep a delivery's changed files as a forge's API listed them, for the job's
        `ref` ('' for a delivery of one ref); the first kept for a delivery and ref stays.
        They go when the delivery does."""

    async def kept_files(self, delivery_id: str, ref: str) -> KeptFiles | None:
        """The changed files kept for a delivery and ref, or None."""

    async def append_log(self, job_id: str, chunk: bytes, cap: int) -> int:
        """Append output to the job's log, capped at `cap` bytes with a note where cut."""

    async def read_log(self, job_id: str, offset: int = 0) -> bytes:
        """The job's output from byte `offset` (>= 0) on, reading only the chunks that
        hold it: a log followed from near its end costs its tail, not all of it."""

    async def get_job(self, job_id: str) -> JobRecord:
        """One job; NotFound if there is none."""

    async def list_jobs(self, query: JobQuery) -> list[JobRecord]:
        """Jobs matching `query`, newest first."""

    async def count_jobs(self, statuses: Sequence[str]) -> dict[str, int]:
        """How many jobs are in each of `statuses` now (every status asked for is a key);
        cheap for the few unfinished ones (the queue-depth gauge reads it on each scrape)."""

    async def prune(self, before: datetime) -> int:
        """Delete deliveries received before `before`, with their jobs and logs; return how
        many deliveries went. A delivery with a queued or running job is kept. Deletes in
        small batches, each its own transaction, so receivers are not held up meanwhile."""

    async def revoke_session(self, digest: str, until: datetime, now: datetime) -> None:
        """Remember until `until` that the dashboard session `digest` was signed out of,
        for every process sharing the database; forget sessions revoked until before `now`."""

    async def session_revoked(self, digest: str, now: datetime) -> bool:
        """Whether `revoke_session` was called for `digest` with an `until` after `now`."""

    async def wait_for_jobs(self, timeout: float) -> None:
        """Return when new work may be claimable (a delivery or retry was recorded), or
        after `timeout` seconds at the latest."""

    def catch_up(self) -> CatchUpStore:
        """Catch-up's records (hooks, redeliveries asked for): see `hookd.catch_up`."""
        raise NotImplementedError
