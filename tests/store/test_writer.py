"""The SQLite writer: group commit, slow writes off the event loop, and surviving callers
that give up, writes that fail and a database locked by another process."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from conftest import LoopTicks
from hookd.errors import StoreError
from hookd.store import writer as writer_module
from hookd.store.writer import Writer

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Commits:
    """Counts the COMMIT statements the writer's connection runs."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, statement: str) -> None:
        if statement.strip().upper() == "COMMIT":
            self.count += 1


@pytest.fixture
def commits() -> Commits:
    return Commits()


@pytest.fixture
async def writer(tmp_path: Path, commits: Commits) -> AsyncIterator[Writer]:
    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(
            tmp_path / "w.db", timeout=1, isolation_level=None, check_same_thread=False
        )
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.set_trace_callback(commits)
        return connection

    writer = Writer(connect)
    await writer.start()
    await writer.run(lambda c: c.execute("CREATE TABLE t (n INTEGER NOT NULL)"))
    yield writer
    await writer.stop()


def rows(connection: sqlite3.Connection) -> list[int]:
    return [n for (n,) in connection.execute("SELECT n FROM t ORDER BY n")]


async def test_concurrent_writes_share_one_commit(writer: Writer, commits: Commits) -> None:
    before = commits.count
    results = await asyncio.gather(
        *(writer.run(lambda c, n=n: c.execute("INSERT INTO t VALUES (?)", (n,)).rowcount)
          for n in range(50))
    )  # fmt: skip
    assert results == [1] * 50
    assert commits.count - before <= 2
    assert await writer.run(rows) == list(range(50))


def synchronous(connection: sqlite3.Connection) -> int:
    level: int = connection.execute("PRAGMA synchronous").fetchone()[0]
    return level


async def test_a_batch_of_writes_that_need_not_be_durable_commits_without_waiting_for_the_disk(
    writer: Writer,
) -> None:
    """synchronous=NORMAL (1) when every write in the batch allows it; FULL (2) as soon as
    one write must be durable, and for the writes after."""
    alone = await writer.run(synchronous, durable=False)
    together = await asyncio.gather(writer.run(synchronous, durable=False), writer.run(synchronous))
    after = await writer.run(synchronous)
    assert (alone, together, after) == (1, [2, 2], 2)


async def test_a_write_that_need_not_be_durable_commits_on_the_loop(writer: Writer) -> None:
    committed_on: list[str] = []

    def note_thread(statement: str) -> None:
        if statement == "COMMIT":
            committed_on.append(threading.current_thread().name)

    await writer.run(lambda c: c.set_trace_callback(note_thread))
    await writer.run(lambda c: c.execute("INSERT INTO t VALUES (1)"), durable=False)
    await writer.run(lambda c: c.execute("INSERT INTO t VALUES (2)"))
    assert committed_on[-2] == threading.current_thread().name  # the loop's
    assert committed_on[-1].startswith("hookd-sqlite-writer")
    assert await writer.run(rows) == [1, 2]


async def test_a_slow_write_runs_off_the_loop_and_a_write_given_up_meanwhile_is_dropped(
    writer: Writer,
) -> None:
    gate = threading.Event()
    blocking = asyncio.ensure_future(writer.run(lambda c: gate.wait(5), slow=True))
    await asyncio.sleep(0.05)
    given_up = asyncio.ensure_future(writer.run(lambda c: c.execute("INSERT INTO t VALUES (1)")))
    await asyncio.sleep(0.05)  # the loop runs while the slow write blocks its thread
    given_up.cancel()
    gate.set()
    assert await blocking is True
    later = await writer.run(lambda c: c.execute("INSERT INTO t VALUES (2)").rowcount)
    assert later == 1
    assert await writer.run(rows) == [2]


async def test_one_failing_write_does_not_undo_the_others_in_its_batch(writer: Writer) -> None:
    good = writer.run(lambda c: c.execute("INSERT INTO t VALUES (1)").rowcount)
    bad = writer.run(lambda c: c.execute("INSERT INTO t VALUES (NULL)"))
    outcomes = await asyncio.gather(good, bad, return_exceptions=True)
    assert outcomes[0] == 1
    assert isinstance(outcomes[1], sqlite3.IntegrityError)
    assert await writer.run(rows) == [1]


async def test_a_locked_database_fails_the_batch_with_a_store_error(
    writer: Writer, tmp_path: Path
) -> None:
    lock = sqlite3.connect(tmp_path / "w.db", isolation_level=None, timeout=0)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        async with LoopTicks() as ticks:
            with pytest.raises(StoreError, match="could not commit"):
                await writer.run(lambda c: c.execute("INSERT INTO t VALUES (1)"))
        assert ticks.count > 10  # waiting for the lock did not stall the loop
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert await writer.run(lambda c: c.execute("INSERT INTO t VALUES (3)").rowcount) == 1
    assert await writer.run(rows) == [3]


async def test_a_write_from_another_event_loop_is_handed_to_the_writers(writer: Writer) -> None:
    def elsewhere() -> int:
        async def write() -> int:
            return await writer.run(lambda c: c.execute("INSERT INTO t VALUES (7)").rowcount)

        return asyncio.run(write())

    assert await asyncio.to_thread(elsewhere) == 1
    assert await writer.run(rows) == [7]


async def test_the_wal_is_copied_into_the_database_file_off_the_commit_path(
    writer: Writer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "w.db"
    await writer.run(lambda c: c.execute("CREATE TABLE blobs (b BLOB)"))
    small = database.stat().st_size
    monkeypatch.setattr(writer_module, "CHECKPOINT_SECONDS", 0.0)
    for _ in range(20):
        await writer.run(lambda c: c.execute("INSERT INTO blobs VALUES (?)", (bytes(100_000),)))
    for _ in range(100):  # the checkpoint runs in the background
        if database.stat().st_size > 1_500_000:
            break
        await asyncio.sleep(0.05)
    assert small < 100_000
    assert database.stat().st_size > 1_500_000
