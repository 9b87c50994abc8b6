"""The SQLite writer: one thread owns the only write connection and commits every write
that is waiting in one transaction (group commit), so concurrent deliveries share an
fsync instead of queueing for one each."""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from hookd.errors import StoreError

log = logging.getLogger("hookd.store")

Operation = Callable[[sqlite3.Connection], Any]
MAX_BATCH = 512


class Writer:
    """Runs operations on the write connection; each gets its own savepoint, so one that
    fails (say, a constraint) does not undo the others in its batch."""

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        # None asks the thread to finish what is queued and stop.
        self._queue: queue.SimpleQueue[tuple[Operation, Future[Any]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="hookd-sqlite-writer", daemon=True)
        self._ready: Future[None] = Future()
        self.last_commit_seconds = 0.0

    def start(self) -> None:
        self._thread.start()
        self._ready.result()

    def submit(self, operation: Operation) -> Future[Any]:
        future: Future[Any] = Future()
        self._queue.put((operation, future))
        return future

    def stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def _run(self) -> None:
        try:
            connection = self._connect()
        except (sqlite3.Error, OSError) as exc:
            self._ready.set_exception(StoreError(f"cannot open the database: {exc}"))
            return
        self._ready.set_result(None)
        try:
            while True:
                batch, stopping = self._next_batch()
                if batch:
                    self._commit_or_fail(connection, batch)
                if stopping:
                    return
        finally:
            connection.close()

    def _commit_or_fail(self, connection: sqlite3.Connection, batch: list[Any]) -> None:
        """Commit a batch; whatever goes wrong fails that batch's callers, never the thread."""
        try:
            self._commit(connection, batch)
        except Exception as exc:  # the writer must outlive any one batch
            log.exception("the store's writer failed a batch of %d writes", len(batch))
            error = StoreError(f"the store failed: {exc}")
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)

    def _next_batch(self) -> tuple[list[tuple[Operation, Future[Any]]], bool]:
        """The writes waiting now (blocking for the first). A write whose caller gave up
        (its future was cancelled) before it started is dropped; once started, it cannot be
        cancelled any more, so its result always has somewhere to go."""
        batch: list[tuple[Operation, Future[Any]]] = []
        item = self._queue.get()
        while True:
            if item is None:
                return batch, True
            operation, future = item
            if future.set_running_or_notify_cancel():
                batch.append((operation, future))
            if len(batch) >= MAX_BATCH:
                return batch, False
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return batch, False

    def _commit(self, connection: sqlite3.Connection, batch: list[tuple[Operation, Any]]) -> None:
        started = time.perf_counter()
        outcomes: list[tuple[Future[Any], Any, BaseException | None]] = []
        try:
            connection.execute("BEGIN IMMEDIATE")
            for operation, future in batch:
                outcomes.append((future, *_attempt(connection, operation)))
            connection.execute("COMMIT")
        except sqlite3.Error as exc:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            log.error("the store could not commit %d writes: %s", len(batch), exc)
            error = StoreError(f"the database could not commit: {exc}")
            for _, future in batch:
                future.set_exception(error)
            return
        self.last_commit_seconds = time.perf_counter() - started
        for future, result, failure in outcomes:
            if failure is None:
                future.set_result(result)
            else:
                future.set_exception(failure)


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
