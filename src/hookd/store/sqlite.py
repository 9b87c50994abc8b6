"""The SQLite backend: WAL, one write connection with group commit that syncs every
delivery to disk before it is answered (see `hookd.store.writer`), and reads on their own
connections in a small thread pool."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import orjson

from hookd.core.delivery import Delivery
from hookd.errors import StoreError
from hookd.store import deliveries, jobs, migrations
from hookd.store import queries as q
from hookd.store import sqlite_sql as sql
from hookd.store.catch_up import CatchUpStore
from hookd.store.dialect import SQLITE
from hookd.store.filters import prune_in_batches
from hookd.store.readiness import Readiness
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
from hookd.store.replay_index import ReplayIndex
from hookd.store.sqlite_health import IntegrityCheck, check_free_space
from hookd.store.steps import Steps, run_sqlite
from hookd.store.wakeups import Wakeups
from hookd.store.writer import Writer, connect_wal

T = TypeVar("T")
READERS = 4
LOOP_BODY = 64 * 1024
"""The largest body `get_delivery` reads on the event loop's thread (about 10 us from the
page cache); a larger one is read on a reader's thread."""


def sqlite_path(url: str) -> tuple[Path, float]:
    """The file and busy timeout (seconds, `?timeout=`) of a `sqlite:///PATH` URL."""
    parts = urlsplit(url)
    timeout = float(parse_qs(parts.query).get("timeout", ["5"])[0])
    return Path(url.removeprefix("sqlite:///").split("?", 1)[0]), timeout


class SqliteStore:
    """A `Store` on one SQLite file. See `hookd.store.base.Store` for the contract."""

    def __init__(self, url: str) -> None:
        self.path, self._timeout = sqlite_path(url)
        self._replay_index = ReplayIndex()
        self._writer = Writer(
            self._connect,
            on_rollback=self._replay_index.forget,
            on_begin=self._replay_index.began,
        )
        self._local = threading.local()
        self._readers = ThreadPoolExecutor(READERS, thread_name_prefix="hookd-sqlite-read")
        self._opened = False
        self._wakeups = Wakeups()
        self._integrity = IntegrityCheck(self.path, self._timeout)
        self._readiness = Readiness(self._probe)

    def _connect(self) -> sqlite3.Connection:
        connection = connect_wal(self.path, self._timeout)
        connection.row_factory = sqlite3.Row
        return connection

    async def open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create {self.path.parent}: {exc.strerror}") from exc
        await self._writer.start()
        self._opened = True
        await self._write(migrations.migrate_sqlite, slow=True)

    async def close(self) -> None:
        await self._readiness.close()
        if self._opened:
            await self._writer.stop()
        self._readers.shutdown(wait=True)
        here: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if here is not None:  # the one get_delivery opened on the loop's thread
            here.close()
            del self._local.connection

    async def _write(
        self, operation: Callable[[sqlite3.Connection], T], slow: bool = False, durable: bool = True
    ) -> T:
        return await self._writer.run(operation, slow=slow, durable=durable)

    async def _write_steps(
        self, steps: Callable[[], Steps[T]], slow: bool = False, durable: bool = True
    ) -> T:
        """Run the operation `steps` makes (again, should its batch be run again)."""
        return await self._write(lambda c: run_sqlite(c, steps()), slow=slow, durable=durable)

    async def _read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._run_read, query)

    async def _read_steps(self, steps: Callable[[], Steps[T]]) -> T:
        return await self._read(lambda c: run_sqlite(c, steps()))

    def _run_read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        try:
            if connection is None:
                connection = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None)
                connection.row_factory = sqlite3.Row
                connection.execute("PRAGMA query_only=ON")
                self._local.connection = connection
            return query(connection)
        except sqlite3.Error as exc:
            raise StoreError(f"the database could not answer: {exc}") from exc

    async def probe(self) -> None:
        await self._readiness.check()

    async def _probe(self) -> None:
        """A durable write through the writer, as a delivery's (committed and synced with
        whatever batch it joins: no sync of its own under load); then, on a reader's thread,
        the room on the disk (when short, the writer empties its WAL, if it can, to make
        some) and the integrity check when due (see `hookd.store.sqlite_health`)."""
        at = datetime.now(UTC).isoformat()
        probe = q.PROBE.statement(SQLITE)
        await self._write(lambda connection: connection.execute(probe.text, probe.args({"at": at})))
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._readers, check_free_space, self.path)
        except StoreError:
            self._writer.reclaim()
            raise
        await loop.run_in_executor(self._readers, self._integrity.check)

    async def schema_version(self) -> int:
        return await self._read_steps(lambda: deliveries.schema_version())

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
        trace_json = orjson.dumps(list(trace)).decode()
        guarded = None if guard is None else sql.Guarded(guard, self._replay_index)

        write = sql.DeliveryWrite(
            delivery, received_at, remote_addr, trace_json, jobs, replay_of, guarded, config
        )
        slow = len(delivery.body) > sql.BLOB_PIECE
        try:
            recorded = await self._writer.run(write, slow=slow, together=sql.insert_deliveries)
        except StoreError as exc:
            self._readiness.failed(str(exc))
            self._integrity.suspect(exc)
            raise
        self._wakeups.give(len(recorded.job_ids))
        return recorded

    async def record_rejections(
        self, rejected: Sequence[RejectedRequest], keep: int = REJECTIONS_KEPT
    ) -> list[str]:
        return await self._write_steps(
            lambda: deliveries.insert_rejections(rejected, keep), durable=False
        )

    async def list_deliveries(self, query: DeliveryQuery) -> list[DeliveryRecord]:
        return await self._read(lambda connection: sql.select_deliveries(connection, query))

    async def get_delivery(self, delivery_id: str) -> DeliveryDetail:
        # One row by its key, read right here on the loop's thread (on its own connection):
        # a worker asks for one per job, and a hop to a reader thread and back costs more,
        # under load, than the read. Not a large body: reading megabytes would stall every
        # request meanwhile, so that one is read again on a reader's thread.
        small = self._run_read(
            lambda connection: sql.select_small_delivery(connection, delivery_id, LOOP_BODY)
        )
        if small is not None:
            return small
        return await self._read(lambda connection: sql.select_delivery(connection, delivery_id))

    async def claim_job(self, worker: str, now: datetime, lease_seconds: float) -> JobRecord | None:
        return await self._write_steps(
            lambda: jobs.claim(worker, now, lease_seconds, recheck=False), durable=False
        )

    async def renew_lease(self, job_id: str, worker: str, until: datetime) -> Lease:
        return await self._write_steps(lambda: jobs.renew(job_id, worker, until), durable=False)

    async def finish_job(
        self, job_id: str, worker: str, outcome: JobOutcome, now: datetime
    ) -> bool:
        done = await self._write_steps(
            lambda: jobs.finish(job_id, worker, outcome, now), durable=False
        )
        self._wakeups.give(1)  # a job of its concurrency group may be claimable now
        return done

    async def release_job(self, job_id: str, worker: str, now: datetime) -> None:
        await self._write_steps(lambda: jobs.release(job_id, worker, now), durable=False)

    async def cancel_job(self, job_id: str, now: datetime) -> JobRecord:
        return await self._write_steps(lambda: jobs.cancel(job_id, now))

    async def cancel_queued_jobs(self, hooks: Sequence[str], reason: str, now: datetime) -> int:
        return await self._write_steps(lambda: jobs.cancel_queued_of(hooks, reason, now))

    async def retry_job(self, job_id: str, now: datetime) -> JobRecord:
        job = await self._write_steps(lambda: jobs.requeue(job_id, now))
        self._wakeups.give(1)
        return job

    async def record_job_process(self, job_id: str, process: JobProcess) -> None:
        await self._write_steps(lambda: jobs.record_process(job_id, process), durable=False)

    async def job_processes(self, job_id: str) -> list[JobProcess]:
        return await self._read_steps(lambda: jobs.processes(job_id))

    async def forget_job_processes(self, job_id: str) -> None:
        await self._write_steps(lambda: jobs.forget_processes(job_id), durable=False)

    async def keep_files(self, delivery_id: str, ref: str, kept: KeptFiles, at: datetime) -> None:
        await self._write_steps(lambda: jobs.keep_files(delivery_id, ref, kept, at), durable=False)

    async def kept_files(self, delivery_id: str, ref: str) -> KeptFiles | None:
        return await self._read_steps(lambda: jobs.kept_files(delivery_id, ref))

    async def append_log(self, job_id: str, chunk: bytes, cap: int) -> int:
        return await self._write_steps(lambda: jobs.append_log(job_id, chunk, cap), durable=False)

    async def read_log(self, job_id: str, offset: int = 0) -> bytes:
        return await self._read_steps(lambda: jobs.read_log(job_id, offset))

    async def get_job(self, job_id: str) -> JobRecord:
        return await self._read_steps(lambda: jobs.get(job_id))

    async def list_jobs(self, query: JobQuery) -> list[JobRecord]:
        return await self._read_steps(lambda: jobs.select(query))

    async def count_jobs(self, statuses: Sequence[str]) -> dict[str, int]:
        return await self._read_steps(lambda: jobs.count_jobs(statuses))

    async def prune(self, before: datetime) -> int:
        return await prune_in_batches(
            lambda limit: self._write(lambda c: sql.prune_batch(c, before, limit), slow=True)
        )

    async def revoke_session(self, digest: str, until: datetime, now: datetime) -> None:
        await self._write_steps(lambda: deliveries.revoke_session(digest, until, now))

    async def session_revoked(self, digest: str, now: datetime) -> bool:
        return await self._read_steps(lambda: deliveries.session_revoked(digest, now))

    async def wait_for_jobs(self, timeout: float) -> None:
        await self._wakeups.wait(timeout)

    def catch_up(self) -> CatchUpStore:
        return CatchUpStore(_CatchUpRunner(self))


class _CatchUpRunner:
    """Catch-up's steps on the store's readers and writer. One SQLite file has one writer:
    the claim's unique index is lock enough."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    def read(self, steps: Callable[[], Steps[T]]) -> Awaitable[T]:
        return self._store._read_steps(steps)

    def write(self, steps: Callable[[], Steps[T]]) -> Awaitable[T]:
        return self._store._write_steps(steps)

    @contextlib.asynccontextmanager
    async def lock(self) -> AsyncIterator[bool]:
        yield True
