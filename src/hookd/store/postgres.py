"""The PostgreSQL backend: any number of receivers and workers, in any number of processes
and machines, on one database. The database is the only coordinator: dedupe by a unique
index, claims with `FOR UPDATE SKIP LOCKED`, concurrency groups by advisory locks, and
LISTEN/NOTIFY to wake idle workers.

Connections come from a psycopg pool. While the database is unreachable every operation
fails with StoreError after the URL's `timeout` (receivers answer 503) and the pool keeps
reconnecting, so work resumes by itself when the database is back."""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import orjson
import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from hookd.core.delivery import Delivery
from hookd.errors import StoreError
from hookd.store import postgres_jobs as jobs_sql
from hookd.store import postgres_record as record
from hookd.store import postgres_sql as sql
from hookd.store.filters import prune_in_batches
from hookd.store.postgres_connect import Connection, connect, migrate, one_line
from hookd.store.postgres_listen import NOTIFY, Listener, Notifier
from hookd.store.postgres_url import parse_url
from hookd.store.records import (
    REJECTIONS_KEPT,
    DeliveryDetail,
    DeliveryQuery,
    DeliveryRecord,
    JobOutcome,
    JobQuery,
    JobRecord,
    Lease,
    NewJob,
    Recorded,
    RejectedRequest,
    ReplayGuard,
)

T = TypeVar("T")
# The pool logs every failed reconnection attempt in several lines; unless the application
# routes that logger somewhere, keep it quiet: hookd reports an unreachable database itself.
logging.getLogger("psycopg.pool").addHandler(logging.NullHandler())
# After this long failing to replace a lost connection the pool gives up on that attempt;
# the next operation starts a fresh one, so recovery never waits on a long backoff.
RECONNECT_SECONDS = 5.0
# A pooled connection that answered within this long is handed out as it is; an older one
# first answers an empty query, so one broken by a database restart is replaced, not used.
FRESH_SECONDS = 1.0


class PostgresStore:
    """A `Store` on a PostgreSQL database. See `hookd.store.base.Store` for the contract."""

    def __init__(self, url: str) -> None:
        self.target = parse_url(url)
        self._pool: AsyncConnectionPool[Connection] | None = None
        self._listener = Listener(self.target)
        self._notifier = Notifier(lambda: self._connected(lambda c: c.execute(NOTIFY)))
        self._answered: weakref.WeakKeyDictionary[Connection, float] = weakref.WeakKeyDictionary()

    async def open(self) -> None:
        """Connect once (a clear StoreError if the database is unreachable), migrate, then
        start the pool."""
        async with await connect(self.target) as connection:
            try:
                await migrate(connection)
            except psycopg.Error as exc:
                raise StoreError(f"cannot migrate {self.target.display}: {one_line(exc)}") from exc
        pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
            self.target.conninfo,
            min_size=1,
            max_size=self.target.pool_size,
            timeout=self.target.timeout,
            reconnect_timeout=RECONNECT_SECONDS,
            kwargs={"autocommit": True},
            check=self._check,
            name="hookd",
            open=False,
        )
        await pool.open()
        self._pool = pool

    async def _check(self, connection: Connection) -> None:
        """The pool's check before it hands out a connection (see FRESH_SECONDS)."""
        if time.monotonic() - self._answered.get(connection, -FRESH_SECONDS) > FRESH_SECONDS:
            await AsyncConnectionPool.check_connection(connection)

    async def close(self) -> None:
        await self._notifier.flush()
        await self._listener.close()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def _connected(self, operation: Callable[[Connection], Awaitable[T]]) -> T:
        """Run `operation` on a pooled connection (autocommit), translating driver errors."""
        if self._pool is None:
            raise StoreError("the store is not open")
        try:
            async with self._pool.connection() as connection:
                result = await operation(connection)
                self._answered[connection] = time.monotonic()
                return result
        except PoolTimeout as exc:
            raise StoreError(
                f"cannot reach the database at {self.target.display}: "
                f"no connection within {self.target.timeout:g}s"
            ) from exc
        except psycopg.Error as exc:
            if _connection_lost(exc):
                raise StoreError(
                    f"cannot reach the database at {self.target.display}: {one_line(exc)}"
                ) from exc
            raise StoreError(f"the database could not answer: {one_line(exc)}") from exc

    async def _transaction(
        self, operation: Callable[[Connection], Awaitable[T]], *, notify: bool = False
    ) -> T:
        """Run `operation` in one transaction; with `notify`, wake listening workers once
        it committed."""

        async def run(connection: Connection) -> T:
            async with connection.transaction():
                return await operation(connection)

        result = await self._connected(run)
        if notify:
            self._notifier.poke()
        return result

    async def ping(self) -> None:
        await self._connected(lambda connection: connection.execute("SELECT 1"))

    async def schema_version(self) -> int:
        return await self._connected(sql.schema_version)

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
    ) -> Recorded:
        trace_json = orjson.dumps(list(trace)).decode()
        recorded = await self._connected(
            lambda c: record.insert_delivery(
                c, delivery, received_at, remote_addr, trace_json, jobs, replay_of, guard
            )
        )
        if recorded.status == "accepted" and any(job.status == "queued" for job in jobs):
            self._notifier.poke()
        return recorded

    async def record_rejections(
        self, rejected: Sequence[RejectedRequest], keep: int = REJECTIONS_KEPT
    ) -> list[str]:
        return await self._connected(lambda c: record.insert_rejections(c, rejected, keep))

    async def list_deliveries(self, query: DeliveryQuery) -> list[DeliveryRecord]:
        return await self._connected(lambda c: sql.select_deliveries(c, query))

    async def get_delivery(self, delivery_id: str) -> DeliveryDetail:
        return await self._connected(lambda c: sql.select_delivery(c, delivery_id))

    async def claim_job(self, worker: str, now: datetime, lease_seconds: float) -> JobRecord | None:
        return await self._connected(lambda c: jobs_sql.claim(c, worker, now, lease_seconds))

    async def renew_lease(self, job_id: str, worker: str, until: datetime) -> Lease:
        return await self._connected(lambda c: jobs_sql.renew(c, job_id, worker, until))

    async def finish_job(
        self, job_id: str, worker: str, outcome: JobOutcome, now: datetime
    ) -> bool:
        # Notify even on a final outcome: the job's concurrency group may have freed up.
        return await self._transaction(
            lambda c: jobs_sql.finish(c, job_id, worker, outcome, now), notify=True
        )

    async def release_job(self, job_id: str, worker: str, now: datetime) -> None:
        await self._transaction(lambda c: jobs_sql.release(c, job_id, worker, now), notify=True)

    async def cancel_job(self, job_id: str, now: datetime) -> JobRecord:
        return await self._transaction(lambda c: jobs_sql.cancel(c, job_id, now))

    async def retry_job(self, job_id: str, now: datetime) -> JobRecord:
        return await self._transaction(lambda c: jobs_sql.requeue(c, job_id, now), notify=True)

    async def append_log(self, job_id: str, chunk: bytes, cap: int) -> int:
        return await self._transaction(lambda c: jobs_sql.append_log(c, job_id, chunk, cap))

    async def read_log(self, job_id: str, offset: int = 0) -> bytes:
        return await self._connected(lambda c: jobs_sql.read_log(c, job_id, offset))

    async def get_job(self, job_id: str) -> JobRecord:
        return await self._connected(lambda c: jobs_sql.get(c, job_id))

    async def list_jobs(self, query: JobQuery) -> list[JobRecord]:
        return await self._connected(lambda c: jobs_sql.select(c, query))

    async def count_jobs(self, statuses: Sequence[str]) -> dict[str, int]:
        return await self._connected(lambda c: jobs_sql.count(c, statuses))

    async def prune(self, before: datetime) -> int:
        return await prune_in_batches(
            lambda limit: self._connected(lambda c: sql.prune_batch(c, before, limit))
        )

    async def wait_for_jobs(self, timeout: float) -> None:
        await self._listener.wait(timeout)


def _connection_lost(exc: psycopg.Error) -> bool:
    """The server went away under a pooled connection (it was shut down or restarted, or
    the network dropped): no SQLSTATE, a connection exception (08) or an operator
    intervention (57P: admin shutdown, crash shutdown, cannot connect now)."""
    if not isinstance(exc, psycopg.OperationalError):
        return False
    return exc.sqlstate is None or exc.sqlstate.startswith(("08", "57P"))
