"""The SQLite writer: group commit, slow writes off the event loop, and surviving callers
that give up, writes that fail and a database locked by another process."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import LoopTicks
from hookd.errors import StoreError
from hookd.store import checkpoints
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


class Syncs:
    """Stands in for fdatasync: counts the WAL's syncs, and holds them while `held`."""

    def __init__(self) -> None:
        self.count = 0
        self.held = threading.Event()
        self.held.set()
        self.failing = False

    def __call__(self, descriptor: int) -> None:
        self.held.wait(5)
        if self.failing:
            raise OSError(5, "Input/output error")
        self.count += 1


@pytest.fixture
def syncs(monkeypatch: pytest.MonkeyPatch) -> Syncs:
    syncs = Syncs()
    monkeypatch.setattr(writer_module.os, "fdatasync", syncs)
    return syncs


def insert(n: int) -> Callable[[sqlite3.Connection], int]:
    return lambda c: c.execute("INSERT INTO t VALUES (?)", (n,)).rowcount


async def test_a_durable_write_is_answered_after_the_sync_and_a_relaxed_one_before(
    writer: Writer, syncs: Syncs
) -> None:
    syncs.held.clear()
    durable = asyncio.ensure_future(writer.run(insert(1)))
    relaxed = await asyncio.wait_for(writer.run(insert(2), durable=False), 2)
    assert relaxed == 1 and not durable.done()
    assert await writer.run(rows, durable=False) == [1, 2]  # committed, not yet synced
    syncs.held.set()
    assert await asyncio.wait_for(durable, 5) == 1
    assert syncs.count == 1


async def test_a_relaxed_write_does_not_wait_behind_durable_ones_waiting_for_a_sync(
    writer: Writer, syncs: Syncs
) -> None:
    syncs.held.clear()
    syncing = asyncio.ensure_future(writer.run(insert(1)))
    await asyncio.sleep(0.05)  # committed; its sync waits
    waiting = asyncio.ensure_future(writer.run(insert(2)))  # waits for the next batch
    await asyncio.sleep(0.05)
    assert await asyncio.wait_for(writer.run(insert(3), durable=False), 2) == 1
    assert not syncing.done() and not waiting.done()
    syncs.held.set()
    assert await asyncio.wait_for(asyncio.gather(syncing, waiting), 5) == [1, 1]
    assert await writer.run(rows) == [1, 2, 3]


async def test_durable_writes_committed_during_a_sync_share_the_next_one(
    writer: Writer, syncs: Syncs
) -> None:
    syncs.held.clear()
    first = asyncio.ensure_future(writer.run(insert(0)))
    await asyncio.sleep(0.05)  # its sync has begun, and waits
    rest = asyncio.gather(*(writer.run(insert(n)) for n in range(1, 40)))
    await asyncio.sleep(0.05)
    syncs.held.set()
    assert await first == 1 and await rest == [1] * 39
    assert syncs.count == 2


async def test_a_failed_sync_fails_its_writes_and_the_writer_goes_on(
    writer: Writer, syncs: Syncs
) -> None:
    syncs.failing = True
    with pytest.raises(StoreError, match="could not be written to disk"):
        await writer.run(insert(1))
    syncs.failing = False
    assert await writer.run(insert(2)) == 1


async def test_where_there_is_no_fdatasync_a_durable_write_is_synced_with_fsync(
    writer: Writer, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    monkeypatch.delattr(writer_module.os, "fdatasync")
    monkeypatch.setattr(writer_module.os, "fsync", synced.append)
    assert await writer.run(insert(1)) == 1
    assert synced  # the WAL (and, the first time, its folder)


async def test_bookkeeping_commits_on_the_loop_and_a_durable_batch_on_the_writers_thread(
    writer: Writer, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[tuple[str, str]] = []

    def note_commit(statement: str) -> None:
        if statement == "COMMIT":
            threads.append(("commit", threading.current_thread().name))

    def note_sync(descriptor: int) -> None:
        threads.append(("sync", threading.current_thread().name))

    monkeypatch.setattr(writer_module.os, "fdatasync", note_sync)
    await writer.run(lambda c: c.set_trace_callback(note_commit))
    threads.clear()
    await writer.run(insert(1), durable=False)
    await writer.run(insert(2))
    loop, writers = threading.current_thread().name, "hookd-sqlite-writer_0"
    assert threads == [("commit", loop), ("commit", writers), ("sync", writers)]


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


class Inserts:
    """Operations inserting one value each, which `together` inserts in one statement."""

    def __init__(self) -> None:
        self.calls: list[list[int | None]] = []

    def write(self, n: int | None) -> Callable[[sqlite3.Connection], int]:
        def insert(connection: sqlite3.Connection) -> int:
            return connection.execute("INSERT INTO t VALUES (?)", (n,)).rowcount

        insert.n = n  # type: ignore[attr-defined]
        return insert

    def together(self, connection: sqlite3.Connection, inserts: list[Any]) -> list[int]:
        values = [insert.n for insert in inserts]
        self.calls.append(values)
        marks = ", ".join("(?)" for _ in values)
        connection.execute(f"INSERT INTO t VALUES {marks}", values)
        return [1] * len(values)


async def test_writes_that_go_together_run_in_one_call_in_their_place(writer: Writer) -> None:
    """Runs of writes next to each other go together; another write between them runs
    alone, in its place: it sees the rows of the writes before it and none after."""
    inserts = Inserts()
    seen: list[list[int]] = []

    def look(connection: sqlite3.Connection) -> int:
        seen.append(rows(connection))
        return 0

    calls = [
        *(writer.run(inserts.write(n), together=inserts.together) for n in (1, 2, 3)),
        writer.run(look),
        *(writer.run(inserts.write(n), together=inserts.together) for n in (4, 5)),
    ]
    assert await asyncio.gather(*calls) == [1, 1, 1, 0, 1, 1]
    assert inserts.calls == [[1, 2, 3], [4, 5]]
    assert seen == [[1, 2, 3]]
    assert await writer.run(rows) == [1, 2, 3, 4, 5]


async def test_one_failing_write_of_those_together_fails_alone(writer: Writer) -> None:
    """The batch is run again with each write alone, so only the failing one fails."""
    inserts = Inserts()
    outcomes = await asyncio.gather(
        *(writer.run(inserts.write(n), together=inserts.together) for n in (1, None, 3)),
        return_exceptions=True,
    )
    assert outcomes[0] == outcomes[2] == 1
    assert isinstance(outcomes[1], sqlite3.IntegrityError)
    assert inserts.calls == [[1, None, 3]]
    assert await writer.run(rows) == [1, 3]


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
    monkeypatch.setattr(checkpoints, "CHECKPOINT_SECONDS", 0.0)
    for _ in range(20):
        await writer.run(lambda c: c.execute("INSERT INTO blobs VALUES (?)", (bytes(100_000),)))
    for _ in range(100):  # the checkpoint runs in the background
        if database.stat().st_size > 1_500_000:
            break
        await asyncio.sleep(0.05)
    assert small < 100_000
    assert database.stat().st_size > 1_500_000


async def test_once_checkpointed_the_wal_file_shrinks_to_the_journal_size_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkpoints, "JOURNAL_SIZE_LIMIT", 64 * 1024)
    monkeypatch.setattr(checkpoints, "CHECKPOINT_SECONDS", 0.0)
    wal = tmp_path / "w.db-wal"
    writer = Writer(lambda: writer_module.connect_wal(tmp_path / "w.db", 1))
    await writer.start()
    try:
        await writer.run(lambda c: c.execute("CREATE TABLE blobs (b BLOB)"))
        reader = sqlite3.connect(tmp_path / "w.db", isolation_level=None)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM blobs").fetchone()  # holds the WAL's start
        for _ in range(20):
            await writer.run(lambda c: c.execute("INSERT INTO blobs VALUES (?)", (bytes(100_000),)))
        grown = wal.stat().st_size
        reader.execute("COMMIT")
        reader.close()

        async def shrunk() -> bool:  # each write lets a checkpoint run; one after it restarts
            await writer.run(lambda c: c.execute("INSERT INTO blobs VALUES (x'00')"))
            return wal.stat().st_size <= 64 * 1024

        for _ in range(200):
            if await shrunk():
                break
            await asyncio.sleep(0.05)
        assert grown > 2_000_000
        assert wal.stat().st_size <= 64 * 1024
    finally:
        await writer.stop()


async def test_a_batch_failing_in_the_database_is_followed_by_an_emptied_wal(
    writer: Writer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wal = tmp_path / "w.db-wal"
    await writer.run(lambda c: c.execute("INSERT INTO t VALUES (?)", (1,)))
    assert wal.stat().st_size > 0
    monkeypatch.setattr(checkpoints, "CHECKPOINT_SECONDS", 0.0)
    for _ in range(100):  # a failure finding a checkpoint still running asks in vain
        with pytest.raises(StoreError, match="no such table"):  # the database's own error
            await writer.run(lambda c: c.execute("INSERT INTO missing VALUES (1)"))
        await asyncio.sleep(0.05)
        if wal.stat().st_size == 0:
            break
    assert wal.stat().st_size == 0
    assert await writer.run(insert(2)) == 1


@pytest.mark.parametrize("interval", [0.05, 0.0], ids=["rounds_apart", "rounds_back_to_back"])
async def test_under_steady_writes_the_wal_stays_near_the_journal_size_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, interval: float
) -> None:
    """A passive checkpoint never finds all of a busy WAL copied, so the WAL would never
    start afresh; once over the limit, the writer itself copies the rest between two
    batches, on its own connection. Rounds back to back are what a busy machine makes of
    rounds that take longer than their interval: the next must not begin before the
    catch-up (beside it, the catch-up copied nothing and the WAL peaked at 10-16 MB of 24).

    How far the WAL grows between two fresh starts is the write rate times a round's
    length, which a machine's disk and load decide (5-13 MB here, 12.6 MB in CI): the test
    asserts the fresh starts, which never come without the catch-up (the WAL then holds
    all 48 MB), and a peak well below all that was written."""
    limit = 256 * 1024
    monkeypatch.setattr(checkpoints, "JOURNAL_SIZE_LIMIT", limit)
    monkeypatch.setattr(checkpoints, "CHECKPOINT_SECONDS", interval)
    wal = tmp_path / "w.db-wal"
    writer = Writer(lambda: writer_module.connect_wal(tmp_path / "w.db", 5))
    await writer.start()
    peak = 0
    fresh_starts = 0
    statements: list[str] = []
    try:
        await writer.run(lambda c: c.execute("CREATE TABLE blobs (b BLOB)"))
        await writer.run(lambda c: c.set_trace_callback(statements.append))

        async def steady() -> None:
            for _ in range(60):
                await writer.run(
                    lambda c: c.execute("INSERT INTO blobs VALUES (randomblob(20000))")
                )

        async def watch() -> None:
            nonlocal peak, fresh_starts
            size = 0
            while True:
                (before, size) = (size, wal.stat().st_size if wal.exists() else 0)
                fresh_starts += size < before  # truncated to the limit as it started afresh
                peak = max(peak, size)
                await asyncio.sleep(0.005)

        watching = asyncio.ensure_future(watch())
        await asyncio.gather(*(steady() for _ in range(40)))  # 48 MB in all
        watching.cancel()
    finally:
        await writer.stop()
    assert fresh_starts >= 3
    assert peak < 24 * 1024 * 1024
    assert "PRAGMA wal_checkpoint(PASSIVE)" in statements  # the writer's catch-up


async def test_a_passive_round_waits_for_the_catch_up_the_last_one_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkpoints, "CHECKPOINT_SECONDS", 0.0)
    connection = writer_module.connect_wal(tmp_path / "w.db", 1)
    rounds = checkpoints.Checkpoints(lambda: writer_module.connect_wal(tmp_path / "w.db", 1))
    try:
        rounds.catch_up_wanted = True
        rounds.request("PASSIVE")
        assert rounds._running is None
        rounds.request("TRUNCATE")  # a failed batch's or a full disk's: not held back
        assert rounds._running is not None
        await rounds._running
        rounds.catch_up(connection)
        rounds.request("PASSIVE")
        assert rounds._running is not None
    finally:
        await rounds.stop()
        connection.close()


def test_a_catch_up_that_fails_leaves_the_writer_to_go_on(tmp_path: Path) -> None:
    """Run on the writer's own loop between batches, a failing catch-up must not raise:
    the writer's next batch meets whatever is wrong with the database itself."""
    connection = writer_module.connect_wal(tmp_path / "w.db", 1)
    connection.close()  # any sqlite3 error will do: a closed connection raises one
    rounds = checkpoints.Checkpoints(lambda: writer_module.connect_wal(tmp_path / "w.db", 1))
    rounds.catch_up_wanted = True
    rounds.catch_up(connection)
    assert rounds.catch_up_wanted is False
