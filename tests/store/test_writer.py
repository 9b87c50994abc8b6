"""The SQLite writer thread: group commit, and surviving callers that give up."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from hookd.errors import StoreError
from hookd.store.writer import Writer


def writer_on(path: Path) -> Writer:
    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        return connection

    writer = Writer(connect)
    writer.start()
    writer.submit(lambda c: c.execute("CREATE TABLE t (n INTEGER NOT NULL)")).result(5)
    return writer


def test_a_write_cancelled_before_it_ran_is_dropped_and_the_writer_goes_on(tmp_path: Path) -> None:
    writer = writer_on(tmp_path / "w.db")
    gate = threading.Event()
    blocking = writer.submit(lambda c: gate.wait(5))
    given_up = writer.submit(lambda c: c.execute("INSERT INTO t VALUES (1)"))
    assert given_up.cancel()
    gate.set()
    blocking.result(5)
    later = writer.submit(lambda c: c.execute("INSERT INTO t VALUES (2)").rowcount)
    assert later.result(5) == 1
    rows = writer.submit(lambda c: c.execute("SELECT n FROM t").fetchall()).result(5)
    assert rows == [(2,)]
    writer.stop()


def test_one_failing_write_does_not_undo_the_others_in_its_batch(tmp_path: Path) -> None:
    writer = writer_on(tmp_path / "w.db")
    gate = threading.Event()
    writer.submit(lambda c: gate.wait(5))
    good = writer.submit(lambda c: c.execute("INSERT INTO t VALUES (1)").rowcount)
    bad = writer.submit(lambda c: c.execute("INSERT INTO t VALUES (NULL)"))
    gate.set()
    assert good.result(5) == 1
    with pytest.raises(sqlite3.IntegrityError):
        bad.result(5)
    rows = writer.submit(lambda c: c.execute("SELECT n FROM t").fetchall()).result(5)
    assert rows == [(1,)]
    writer.stop()


def test_a_locked_database_fails_the_batch_with_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    writer = writer_on(path)
    lock = sqlite3.connect(path, isolation_level=None, timeout=0)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        failed = writer.submit(lambda c: c.execute("INSERT INTO t VALUES (1)"))
        with pytest.raises(StoreError):
            failed.result(30)
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert writer.submit(lambda c: c.execute("INSERT INTO t VALUES (3)").rowcount).result(5) == 1
    writer.stop()
