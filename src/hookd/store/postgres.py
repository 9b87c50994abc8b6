"""The PostgreSQL backend: any number of receivers and workers, in any number of processes
and machines, on one database. The database is the only coordinator: dedupe by a unique
index, claims with `FOR UPDATE SKIP LOCKED`, concurrency groups by advisory locks, and
LISTEN/NOTIFY to wake idle workers.

Connections come from a psycopg pool. While the database is unreachable every operation
fails with StoreError after the URL's `timeout` (receivers answer 503) and the pool keeps
reconnecting, so work resumes by itself when the database is back. A pooled connection the
server closed meanwhile (it restarted) is found before use, and the pool replaces all it
holds at once, so the first delivery once the database is back is stored: the pool's own
check would try its stale connections one by one, a second and more apart, and run out of
the delivery's time."""

from __future__ import annotations

import contextlib
import logging
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from hookd.core.delivery import Delivery
from hookd.errors import NotFound, StoreError
from hookd.store import deliveries, jobs
from hookd.store import postgres_record as record
from hookd.store import queries as q
from hookd.store.catch_up import CatchUpStore
from hookd.store.dialect import POSTGRESQL
from hookd.store.filters import prune_in_batches
from hookd.store.postgres_connect import Connection, connect, migrate, one_line
from hookd.store.postgres_listen import NOTIFY, Listener, Notifier
from hookd.store.postgres_url import parse_url
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
from hookd.store.rows import delivery_detail
from hookd.store.steps import Steps, run_postgres

T = TypeVar("T")
# The pool logs every failed reconnection attempt in several lines; unless the application
# routes that logger somewhere, keep it quiet: hookd reports an unreachable database itself.
logging.getLogger("psycopg.pool").addHandler(logging.NullHandler())
# After this long failing to replace a lost connection the pool gives up on that attempt;
# the next operation starts a fresh one, so recovery never waits on a long backoff.
RECONNECT_SECONDS = 5.0
# A pooled connection that answered within this long is used as it is; an older one first
# answers an empty query (one round trip: 0.25 ms at the median on loopback, on a busy
# 2-core machine where the delivery's own insert and commit took 4 ms), so that one broken
# by a database restart is replaced, not used. Under load connections are rarely that idle.
# Also the least time between two replacements of all the pool's connections.
FRESH_SECONDS = 1.0


class PostgresStore:
    """A `Store` on a PostgreSQL database. See `hookd.store.base.Store` for the contract."""

    def __init__(self, url: str) -> None:
        self.target = parse_url(url)
        self._pool: AsyncConnectionPool[Connection] | None = None
        self._listener = Listener(self.target)
        self._notifier = Notifier(lambda: self._connected(lambda c: c.execute(NOTIFY)))
        self._answered: weakref.WeakKeyDictionary[Connection, float] = weakref.WeakKeyDictionary()
        self._replaced_at = -FRESH_SECONDS
        self._readiness = Readiness(self._probe)

    async def open(self) -> None:
        """Connect once (a clear StoreError if the database is unreachable), migrate, then
        start the pool."""
        async with await connect(self.target) as connection:
            try:
                await migrate(connection)
            except psycopg.Error as exc:
                raise StoreError(
                    f"cannot migrate {self.target.display}: {one_line(exc, self.target)}"
                ) from exc
        pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
            self.target.conninfo,
            min_size=1,
            max_size=self.target.pool_size,
            timeout=self.target.timeout,
            reconnect_timeout=RECONNECT_SECONDS,
            kwargs={"autocommit": True, "row_factory": dict_row},
            name="hookd",
            open=False,
        )
        await pool.open()
        self._pool = pool

    async def close(self) -> None:
        await self._readiness.close()
        await self._notifier.flush()
        await self._listener.close()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def _connected(
        self, operation: Callable[[Connection], Awaitable[T]], *, retry_lost: bool = False
    ) -> T:
        """Run `operation` on a pooled connection (autocommit), translating driver errors.
        `retry_lost`: if the connection is lost under it, run it once more on a new one."""
        if self._pool is None:
            raise StoreError("the store is not open")
        deadline = time.monotonic() + self.target.timeout
        try:
            try:
                return await self._on_live_connection(self._pool, operation, deadline)
            except psycopg.OperationalError as exc:
                if not (retry_lost and _connection_lost(exc)):
                    raise
                await self._replace_connections(self._pool)
                return await self._on_live_connection(self._pool, operation, deadline)
        except PoolTimeout as exc:
            raise StoreError(
                f"cannot reach the database at {self.target.display}: "
                f"no connection within {self.target.timeout:g}s"
            ) from exc
        except psycopg.Error as exc:
            if _connection_lost(exc):
                raise StoreError(
                    f"cannot reach the database at {self.target.display}: "
                    f"{one_line(exc, self.target)}"
                ) from exc
            raise StoreError(
                f"the database could not answer: {one_line(exc, self.target)}"
            ) from exc

    async def _on_live_connection(
        self,
        pool: AsyncConnectionPool[Connection],
        operation: Callable[[Connection], Awaitable[T]],
        deadline: float,
    ) -> T:
        """Run `operation` on a connection that answers (see FRESH_SECONDS). If the one the
        pool gave does not, every connection the pool holds is replaced and `operation`
        waits for a new one, until `deadline` at the latest."""
        async with pool.connection(timeout=_left(deadline)) as connection:
            if await self._answers(connection):
                return await self._run(connection, operation)
        await self._replace_connections(pool)
        async with pool.connection(timeout=_left(deadline)) as connection:
            return await self._run(connection, operation)

    async def _answers(self, connection: Connection) -> bool:
        if time.monotonic() - self._answered.get(connection, -FRESH_SECONDS) <= FRESH_SECONDS:
            return True
        try:
            await AsyncConnectionPool.check_connection(connection)
        except psycopg.OperationalError as exc:
            if not _connection_lost(exc):
                raise
            return False
        return True

    async def _run(
        self, connection: Connection, operation: Callable[[Connection], Awaitable[T]]
    ) -> T:
        result = await operation(connection)
        self._answered[connection] = time.monotonic()
        return result

    async def _replace_connections(self, pool: AsyncConnectionPool[Connection]) -> None:
        """The server closed a pooled connection, so likely all of them (a restart): close
        those idle, and those in use once they are back, and connect new ones. At most once
        per FRESH_SECONDS, however many callers find their connection closed."""
        if time.monotonic() - self._replaced_at > FRESH_SECONDS:
            self._replaced_at = time.monotonic()
            await pool.drain()

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

    async def _steps(
        self, steps: Callable[[], Steps[T]], *, atomic: bool = False, notify: bool = False
    ) -> T:
        """Run the operation `steps` makes; `atomic`: in one transaction. See `_transaction`
        for `notify`."""
        if atomic:
            return await self._transaction(lambda c: run_postgres(c, steps()), notify=notify)
        return await self._connected(lambda c: run_postgres(c, steps()))

    async def probe(self) -> None:
        await self._readiness.check()

    async def _probe(self) -> None:
        """A write committed as a delivery's is (with the server's synchronous_commit),
        on a pooled connection as a delivery gets one."""
        probe = q.PROBE.sql(POSTGRESQL)
        await self._connected(
            lambda connection: connection.execute(probe, {"at": datetime.now(UTC)}),
            retry_lost=True,
        )

    async def schema_version(self) -> int:
        return await self._steps(deliveries.schema_version)

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
        try:
            # Run again on a connection lost under it: if it was committed all the same,
            # the second finds the first by its forge id and answers duplicate; without
            # one there is nothing to find it by, so it is not run twice.
            recorded = await self._connected(
                lambda c: record.insert_delivery(
                    c,
                    delivery,
                    received_at,
                    remote_addr,
                    trace_json,
                    jobs,
                    replay_of,
                    guard,
                    config=config,
                ),
                retry_lost=delivery.delivery_id is not None and replay_of is None,
            )
        except StoreError as exc:
            self._readiness.failed(str(exc))
            raise
        if recorded.status == "accepted" and any(job.status == "queued" for job in jobs):
            self._notifier.poke()
        return recorded

    async def record_rejections(
        self, rejected: Sequence[RejectedRequest], keep: int = REJECTIONS_KEPT
    ) -> list[str]:
        return await self._steps(lambda: deliveries.insert_rejections(rejected, keep), atomic=True)

    async def list_deliveries(self, query: DeliveryQuery) -> list[DeliveryRecord]:
        return await self._steps(lambda: deliveries.select_deliveries(query, probe_hook=False))

    async def get_delivery(self, delivery_id: str) -> DeliveryDetail:
        return await self._connected(lambda c: _select_delivery(c, delivery_id))

    async def claim_job(self, worker: str, now: datetime, lease_seconds: float) -> JobRecord | None:
        """None also if another process started a job of the same group at the same moment
        (the caller simply asks again)."""
        try:
            return await self._steps(
                lambda: jobs.claim(worker, now, lease_seconds, recheck=True), atomic=True
            )
        except jobs.GroupTaken:
            return None

    async def renew_lease(self, job_id: str, worker: str, until: datetime) -> Lease:
        return await self._steps(lambda: jobs.renew(job_id, worker, until))

    async def finish_job(
        self, job_id: str, worker: str, outcome: JobOutcome, now: datetime
    ) -> bool:
        # Notify even on a final outcome: the job's concurrency group may have freed up.
        return await self._steps(
            lambda: jobs.finish(job_id, worker, outcome, now), atomic=True, notify=True
        )

    async def release_job(self, job_id: str, worker: str, now: datetime) -> None:
        await self._steps(lambda: jobs.release(job_id, worker, now), atomic=True, notify=True)

    async def cancel_job(self, job_id: str, now: datetime) -> JobRecord:
        return await self._steps(lambda: jobs.cancel(job_id, now), atomic=True)

    async def cancel_queued_jobs(self, hooks: Sequence[str], reason: str, now: datetime) -> int:
        return await self._steps(lambda: jobs.cancel_queued_of(hooks, reason, now), atomic=True)

    async def retry_job(self, job_id: str, now: datetime) -> JobRecord:
        return await self._steps(lambda: jobs.requeue(job_id, now), atomic=True, notify=True)

    async def record_job_process(self, job_id: str, process: JobProcess) -> None:
        await self._steps(lambda: jobs.record_process(job_id, process))

    async def job_processes(self, job_id: str) -> list[JobProcess]:
        return await self._steps(lambda: jobs.processes(job_id))

    async def forget_job_processes(self, job_id: str) -> None:
        await self._steps(lambda: jobs.forget_processes(job_id))

    async def keep_files(self, delivery_id: str, ref: str, kept: KeptFiles, at: datetime) -> None:
        await self._steps(lambda: jobs.keep_files(delivery_id, ref, kept, at))

    async def kept_files(self, delivery_id: str, ref: str) -> KeptFiles | None:
        return await self._steps(lambda: jobs.kept_files(delivery_id, ref))

    async def append_log(self, job_id: str, chunk: bytes, cap: int) -> int:
        return await self._steps(lambda: jobs.append_log(job_id, chunk, cap), atomic=True)

    async def read_log(self, job_id: str, offset: int = 0) -> bytes:
        return await self._steps(lambda: jobs.read_log(job_id, offset))

    async def get_job(self, job_id: str) -> JobRecord:
        return await self._steps(lambda: jobs.get(job_id))

    async def list_jobs(self, query: JobQuery) -> list[JobRecord]:
        return await self._steps(lambda: jobs.select(query))

    async def count_jobs(self, statuses: Sequence[str]) -> dict[str, int]:
        return await self._steps(lambda: jobs.count_jobs(statuses))

    async def prune(self, before: datetime) -> int:
        return await prune_in_batches(
            lambda limit: self._steps(lambda: deliveries.prune_batch(before, limit))
        )

    async def revoke_session(self, digest: str, until: datetime, now: datetime) -> None:
        await self._steps(lambda: deliveries.revoke_session(digest, until, now), atomic=True)

    async def session_revoked(self, digest: str, now: datetime) -> bool:
        return await self._steps(lambda: deliveries.session_revoked(digest, now))

    async def wait_for_jobs(self, timeout: float) -> None:
        await self._listener.wait(timeout)

    def catch_up(self) -> CatchUpStore:
        return CatchUpStore(_CatchUpRunner(self))


def _left(deadline: float) -> float:
    """Seconds left until `deadline`; a little over nothing if none are (the pool then
    hands out only a connection it has at hand)."""
    return max(deadline - time.monotonic(), 0.001)


def _connection_lost(exc: psycopg.Error) -> bool:
    """The server went away under a pooled connection (it was shut down or restarted, or
    the network dropped): no SQLSTATE, a connection exception (08) or an operator
    intervention (57P: admin shutdown, crash shutdown, cannot connect now)."""
    if not isinstance(exc, psycopg.OperationalError):
        return False
    return exc.sqlstate is None or exc.sqlstate.startswith(("08", "57P"))


async def _select_delivery(connection: Connection, delivery_id: str) -> DeliveryDetail:
    """The delivery, a large body read in pieces after its row: selected whole, libpq would
    hold all of it (as hex, twice its size) while the driver made its own copy."""
    row = await run_postgres(connection, deliveries.delivery_row(delivery_id, record.BODY_PIECE))
    size, body = row["body_size"], row["body"]
    if body is None and size is not None:
        body = bytearray(size)
        cursor = connection.cursor(binary=True)
        for start in range(0, size, record.BODY_PIECE):
            await cursor.execute(
                q.BODY_PIECE.sql(POSTGRESQL),
                {"start": start + 1, "length": record.BODY_PIECE, "id": delivery_id},
            )
            piece = await cursor.fetchone()
            if piece is None:
                raise NotFound(f"no delivery {delivery_id}")
            body[start : start + record.BODY_PIECE] = piece["piece"]
    return delivery_detail(row, body)


class _CatchUpRunner:
    """Catch-up's steps on the pool; its lock on a connection of its own, held for the
    catch-up and released by closing that connection."""

    def __init__(self, store: PostgresStore) -> None:
        self._store = store

    def read(self, steps: Callable[[], Steps[T]]) -> Awaitable[T]:
        return self._store._steps(steps)

    def write(self, steps: Callable[[], Steps[T]]) -> Awaitable[T]:
        return self._store._steps(steps, atomic=True)

    @contextlib.asynccontextmanager
    async def lock(self) -> AsyncIterator[bool]:
        connection = await connect(self._store.target)
        try:
            cursor = await connection.execute(q.CATCH_UP_LOCK.sql(POSTGRESQL))
            row = await cursor.fetchone()
            yield bool(row and row["locked"])
        finally:
            await connection.close()
