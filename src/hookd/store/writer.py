"""The SQLite writer: one connection makes every write, and all the writes waiting when a
transaction begins go into it together (group commit).

The writes run on the event loop's thread. Each is a few short statements, nearly all of it
SQLite's C; on a thread of their own they would hand the GIL to and from the busy loop at
every statement, and each handover can wait out the interpreter's switch interval. What may
block runs on the writer's thread, needing the GIL once: waiting for the write lock while
another process holds it (up to the busy timeout), a batch holding a write that may take
long (a migration, a prune, a large body), and the commit of a batch holding a durable
write, with its sync.

The sync is hookd's own. A connection opened with synchronous=FULL is switched to NORMAL,
and the writer's thread, after such a commit, syncs the WAL (fdatasync) before the durable
writes in it are answered: what FULL does, except that the loop goes on as soon as the
commit is made, and the write lock is free while the disk works.

A write can be marked not durable: the job bookkeeping (claims, lease renewals, outcomes,
output), whose loss in a machine crash costs at most a job run again. A batch of only such
writes commits on the loop, without a sync, and is answered at once; it survives hookd's
own crash (the WAL is written), and the next sync makes it durable too. While a sync is in
flight, only such batches are committed; the durable writes arriving meanwhile wait and go
together into the next. So a worker's claim no longer queues behind a delivery's fsync:
at 200 deliveries a second with two workers, a claim took 4.5 ms at the median when every
batch waited for the disk under the write lock, 0.7 ms now.

Checkpoints (copying the WAL back into the database file) run on a connection and thread of
their own (see `hookd.store.checkpoints`, which also keeps the WAL bounded), but for the
short catch-up that lets the WAL start afresh: the writer runs it between two batches.

Writes of one kind queued next to each other may go `together`: one call runs them all, as
they would run one after another. The deliveries of a batch are inserted so, a statement
per table for many of them (`hookd.store.sqlite_sql.insert_deliveries`; the deliveries'
own rows, holding their bodies, a statement each): each statement costs sqlite3 and SQLite
a fixed part, and this took a delivery's part of the batch from about 200 to 136 µs
(bench/receiver_in_process.py).

A batch runs its writes one after another without savepoints (a savepoint per write copied
every page it touched into a journal, which doubled the cost of a delivery). If one raises,
the batch is rolled back and run again with a savepoint per write, so that one's failure
undoes only its own work."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from hookd.errors import StoreError
from hookd.store import checkpoints
from hookd.store.checkpoints import Checkpoints
from hookd.store.disk_sync import sync_data

log = logging.getLogger("hookd.store")

T = TypeVar("T")
_NORMAL = 1  # PRAGMA synchronous: in WAL mode, commits do not wait for the disk
Operation = Callable[[sqlite3.Connection], Any]
Together = Callable[[sqlite3.Connection, list[Any]], list[Any]]
"""Runs several operations of one kind at once, as they would run one after another, and
returns their results in order."""


@dataclass(frozen=True, slots=True)
class _Write:
    operation: Operation
    future: asyncio.Future[Any]
    slow: bool
    durable: bool
    together: Together | None = None


def connect_wal(path: Path, timeout: float) -> sqlite3.Connection:
    """A connection to one of hookd's SQLite files as the writer and its helpers use it:
    WAL, synchronous=FULL, foreign keys on, usable from the writer's threads."""
    connection = sqlite3.connect(
        path, timeout=timeout, isolation_level=None, check_same_thread=False
    )
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("PRAGMA foreign_keys=ON")
    return connection


class Writer:
    """Runs operations on the write connection in group-committed batches; one that fails
    (say, a constraint) does not undo the others in its batch. Start and use it on one event
    loop; a call from another loop is handed over to it."""

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        on_rollback: Callable[[], None] = lambda: None,
        on_begin: Callable[[], None] = lambda: None,
    ) -> None:
        self._connect = connect
        # Told whenever a write transaction begins: another process may have written since
        # the last one.
        self._on_begin = on_begin
        # Told whenever a transaction is rolled back whole: what the batch's operations
        # remembered of their writes outside the database is then wrong.
        self._on_rollback = on_rollback
        self._busy_timeout_ms = 0
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="hookd-sqlite-writer")
        self._connection: sqlite3.Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: list[_Write] = []
        self._committing: asyncio.Task[None] | None = None
        # The WAL hookd syncs itself, when the connection was opened to sync every commit.
        self._wal: Path | None = None
        self._wal_named_on_disk = False
        # The writer thread's commit and sync of the batch holding durable writes, while on.
        self._syncing: asyncio.Future[None] | None = None
        # Set while only durable writes wait for the sync in flight: a write that needs no
        # sync resolves it, so that it is committed meanwhile.
        self._nudge: asyncio.Future[None] | None = None
        self._checkpoints = Checkpoints(connect)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            self._connection = await self._on_thread(self._connect)
            # The lock is tried without waiting on the loop; the wait, if any, is the thread's.
            (self._busy_timeout_ms,) = self._connection.execute("PRAGMA busy_timeout").fetchone()
            (level,) = self._connection.execute("PRAGMA synchronous").fetchone()
            (_, _, path) = self._connection.execute("PRAGMA database_list").fetchone()
            self._checkpoints.wal = Path(f"{path}-wal") if path else None
            if level > _NORMAL and path:
                self._wal = Path(f"{path}-wal")
                self._connection.execute(f"PRAGMA synchronous = {_NORMAL}")
            self._connection.execute("PRAGMA busy_timeout = 0")
            self._connection.execute("PRAGMA wal_autocheckpoint = 0")
            limit = checkpoints.JOURNAL_SIZE_LIMIT
            self._connection.execute(f"PRAGMA journal_size_limit = {limit}")
        except (sqlite3.Error, OSError) as exc:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
            raise StoreError(f"cannot open the database: {exc}") from exc

    async def stop(self) -> None:
        """Commit what is waiting, then close the connection."""
        if self._committing is not None:
            await asyncio.shield(self._committing)
        if self._syncing is not None:
            await asyncio.wait([self._syncing])
        await self._checkpoints.stop()
        if self._connection is not None:
            await self._on_thread(self._connection.close)
            self._connection = None
        self._thread.shutdown(wait=True)

    async def run(
        self,
        operation: Callable[[sqlite3.Connection], T],
        *,
        slow: bool = False,
        durable: bool = True,
        together: Together | None = None,
    ) -> T:
        """Run `operation` in the next transaction and return its result once committed.
        `slow`: it may take long enough to stall the event loop, so its batch runs on the
        writer's thread. `durable=False`: return once committed, without waiting for the
        disk; the write may be lost if the machine (not hookd) crashes before the next
        sync. `together`: runs this operation with the others of the batch given the same
        `together` and queued next to it, in one call. A caller that gives up before its
        write starts drops the write."""
        if self._loop is None or self._connection is None:
            raise StoreError("the store is not open")
        if asyncio.get_running_loop() is not self._loop:
            handed = asyncio.run_coroutine_threadsafe(
                self.run(operation, slow=slow, durable=durable, together=together), self._loop
            )
            result: T = await asyncio.wrap_future(handed)
            return result
        future: asyncio.Future[T] = self._loop.create_future()
        write = _Write(operation, future, slow, durable, together)
        self._pending.append(write)
        if self._nudge is not None and not self._nudge.done() and _needs_no_sync(write):
            self._nudge.set_result(None)
        if self._committing is None:
            self._committing = self._loop.create_task(self._commit_pending())
        return await future

    async def _on_thread(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, function, *args)

    async def _commit_pending(self) -> None:
        try:
            while self._pending:
                if self._sync_in_flight() and not any(map(_needs_no_sync, self._pending)):
                    # Only writes that wait for the disk are left: they go together once
                    # the sync in flight is done, unless one that needs none comes first.
                    assert self._syncing is not None
                    self._nudge = asyncio.get_running_loop().create_future()
                    await asyncio.wait(
                        [self._syncing, self._nudge], return_when=asyncio.FIRST_COMPLETED
                    )
                    self._nudge = None
                    continue
                if self._checkpoints.catch_up_wanted and not self._sync_in_flight():
                    await self._on_thread(self._checkpoints.catch_up, self._connection)
                await self._commit_batch()
        finally:
            self._committing = None

    def _take(self) -> list[_Write]:
        """The writes waiting now, less those whose callers gave up; while a sync is in
        flight, only those that need none."""
        live = [write for write in self._pending if not write.future.done()]
        if not self._sync_in_flight():
            self._pending = []
            return live
        self._pending = [write for write in live if not _needs_no_sync(write)]
        return [write for write in live if _needs_no_sync(write)]

    def _sync_in_flight(self) -> bool:
        return self._syncing is not None and not self._syncing.done()

    async def _commit_batch(self) -> None:
        connection = self._connection
        assert connection is not None
        try:
            await self._begin(connection)
        except sqlite3.Error as exc:
            _fail(self._take(), exc)
            self._after_failure(exc)
            return
        batch = self._take()
        try:
            try:
                outcomes = await self._run(connection, batch, guarded=False)
            except _WriteFailed:
                connection.execute("ROLLBACK")
                self._on_rollback()
                await self._begin(connection)
                outcomes = await self._run(connection, batch, guarded=True)
            if all(map(_needs_no_sync, batch)):
                connection.execute("COMMIT")  # a few pages, no sync: on the loop
                syncing = None
            else:
                syncing = await self._commit_on_thread(connection)
        except BaseException as exc:  # the batch fails as one; the writer goes on
            _fail(batch, exc)
            await self._roll_back(connection)
            if not isinstance(exc, Exception):
                raise
            self._after_failure(exc)
            return
        self._checkpoints.request("PASSIVE")
        waiting = []
        for write, outcome in zip(batch, outcomes, strict=True):
            if syncing is not None and write.durable and outcome[1] is None:
                waiting.append((write, outcome[0]))
            else:
                _resolve(write.future, *outcome)
        if syncing is not None:
            syncing.add_done_callback(lambda synced: self._synced(synced, waiting))

    async def _commit_on_thread(self, connection: sqlite3.Connection) -> asyncio.Future[None]:
        """COMMIT on the writer's thread, which then syncs the WAL. Returns once committed
        (the write lock is free), with the future of the sync."""
        loop = asyncio.get_running_loop()
        committed: asyncio.Future[None] = loop.create_future()
        self._syncing = loop.run_in_executor(
            self._thread, self._commit_and_sync, connection, loop, committed
        )
        try:
            await committed
        except BaseException:
            self._syncing = None
            raise
        return self._syncing

    def _commit_and_sync(
        self,
        connection: sqlite3.Connection,
        loop: asyncio.AbstractEventLoop,
        committed: asyncio.Future[None],
    ) -> None:
        try:
            connection.execute("COMMIT")
        except Exception as exc:  # noqa: BLE001 - the loop fails the batch and rolls back
            loop.call_soon_threadsafe(_resolve, committed, None, exc)
            return
        loop.call_soon_threadsafe(_resolve, committed, None, None)
        if self._wal is not None:
            self._sync_wal()

    def _synced(self, synced: asyncio.Future[None], waiting: list[tuple[_Write, Any]]) -> None:
        """Answer the durable writes of a batch once its sync is done."""
        if self._syncing is synced:
            self._syncing = None
        failure = synced.exception()
        error = None
        if failure is not None:
            log.error("the store could not sync its write-ahead log: %s", failure)
            error = StoreError(f"the database could not be written to disk: {failure}")
            error.__cause__ = failure
            self._checkpoints.request("TRUNCATE")
        for write, result in waiting:
            _resolve(write.future, result, error)

    def _sync_wal(self) -> None:
        assert self._wal is not None
        descriptor = os.open(self._wal, os.O_RDONLY)
        try:
            sync_data(descriptor)
        finally:
            os.close(descriptor)
        if not self._wal_named_on_disk:  # the WAL's directory entry, once
            folder = os.open(self._wal.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
            self._wal_named_on_disk = True

    def reclaim(self) -> None:
        """The disk is short of room: empty the WAL file, as after a failed batch."""
        self._checkpoints.request("TRUNCATE")

    def _after_failure(self, exc: BaseException) -> None:
        """After a batch failed in the database, empty the WAL file (see
        `hookd.store.checkpoints`); a busy lock is no reason to, the holder's commit will."""
        if isinstance(exc, sqlite3.Error) and not _busy(exc):
            self._checkpoints.request("TRUNCATE")

    async def _begin(self, connection: sqlite3.Connection) -> None:
        if connection.in_transaction:  # left open by a batch cancelled mid-way
            connection.execute("ROLLBACK")
            self._on_rollback()
        try:
            connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                raise
            await self._on_thread(_begin_waiting, connection, self._busy_timeout_ms)
        self._on_begin()

    async def _roll_back(self, connection: sqlite3.Connection) -> None:
        self._on_rollback()
        try:
            if connection.in_transaction:
                await self._on_thread(connection.execute, "ROLLBACK")
        except sqlite3.Error as exc:
            log.error("the store could not roll back a failed batch: %s", exc)

    async def _run(
        self, connection: sqlite3.Connection, batch: list[_Write], *, guarded: bool
    ) -> list[tuple[Any, Exception | None]]:
        if any(write.slow for write in batch):
            return await self._on_thread(_run_all, connection, batch, guarded)
        return _run_all(connection, batch, guarded)


class _WriteFailed(Exception):
    """A write raised in a batch run without savepoints."""


def _begin_waiting(connection: sqlite3.Connection, timeout_ms: int) -> None:
    connection.execute(f"PRAGMA busy_timeout = {int(timeout_ms)}")
    try:
        connection.execute("BEGIN IMMEDIATE")
    finally:
        connection.execute("PRAGMA busy_timeout = 0")


def _run_all(
    connection: sqlite3.Connection, batch: list[_Write], guarded: bool
) -> list[tuple[Any, Exception | None]]:
    if guarded:
        return [_attempt(connection, write.operation) for write in batch]
    outcomes: list[tuple[Any, Exception | None]] = []
    for run in _runs(batch):
        together = run[0].together
        try:
            if together is not None and len(run) > 1:
                results = together(connection, [write.operation for write in run])
                outcomes.extend((result, None) for result in results)
            else:
                outcomes.append((run[0].operation(connection), None))
        except sqlite3.OperationalError:
            raise  # the database itself failed: the whole batch fails
        except Exception as exc:
            raise _WriteFailed from exc
    return outcomes


def _runs(batch: list[_Write]) -> list[list[_Write]]:
    """The batch in order, cut into runs of writes next to each other that go `together`
    (one write alone otherwise)."""
    runs: list[list[_Write]] = []
    for write in batch:
        if runs and write.together is not None and runs[-1][-1].together == write.together:
            runs[-1].append(write)
        else:
            runs.append([write])
    return runs


def _attempt(connection: sqlite3.Connection, operation: Operation) -> tuple[Any, Exception | None]:
    connection.execute("SAVEPOINT op")
    try:
        result = operation(connection)
    except sqlite3.OperationalError:
        raise  # the database itself failed: the whole batch fails
    except Exception as exc:  # noqa: BLE001 - handed to the caller through its future
        connection.execute("ROLLBACK TO op")
        connection.execute("RELEASE op")
        return None, exc
    connection.execute("RELEASE op")
    return result, None


def _fail(batch: list[_Write], exc: BaseException) -> None:
    if isinstance(exc, sqlite3.Error):
        log.error("the store could not commit %d writes: %s", len(batch), exc)
        error = StoreError(f"the database could not commit: {exc}")
    else:
        log.error("the store's writer failed a batch of %d writes", len(batch), exc_info=exc)
        error = StoreError(f"the store failed: {exc}")
    error.__cause__ = exc  # what the store's readiness looks at (a damaged page, say)
    for write in batch:
        _resolve(write.future, None, error)


def _busy(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _needs_no_sync(write: _Write) -> bool:
    return not write.durable and not write.slow


def _resolve(future: asyncio.Future[Any], result: Any, failure: BaseException | None) -> None:
    if future.done():  # its caller gave up
        return
    if failure is None:
        future.set_result(result)
    else:
        future.set_exception(failure)
