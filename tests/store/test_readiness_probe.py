"""The store's readiness: one probe at most per second however often it is asked, a failed
delivery answered at once, a probe that hangs answered within a bound; and SQLite's
integrity check."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

import pytest

from hookd.errors import StoreError
from hookd.store import readiness as readiness_module
from hookd.store.readiness import Readiness
from hookd.store.sqlite_health import IntegrityCheck

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Probe:
    """Counts its runs; fails with `failure` when set; waits for `gate` when set."""

    def __init__(self) -> None:
        self.runs = 0
        self.failure: str | None = None
        self.gate: asyncio.Event | None = None

    async def __call__(self) -> None:
        self.runs += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.failure is not None:
            raise StoreError(self.failure)


async def test_many_callers_within_a_second_share_one_probe() -> None:
    probe = Probe()
    readiness = Readiness(probe)
    await asyncio.gather(*(readiness.check() for _ in range(50)))
    for _ in range(50):
        await readiness.check()
    assert probe.runs == 1


async def test_a_failed_delivery_makes_it_not_ready_until_a_later_probe_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    probe = Probe()
    readiness = Readiness(probe)
    await readiness.check()
    readiness.failed("the database could not commit: database or disk is full")
    with pytest.raises(StoreError, match="disk is full"):
        await readiness.check()
    monkeypatch.setattr(readiness_module, "PROBE_SECONDS", 0.0)
    await readiness.check()
    assert probe.runs == 2


async def test_a_failure_during_a_probe_outlasts_that_probe() -> None:
    probe = Probe()
    probe.gate = asyncio.Event()
    readiness = Readiness(probe)
    checking = asyncio.ensure_future(readiness.check())
    await asyncio.sleep(0.01)
    readiness.failed("cannot reach the database")
    probe.gate.set()
    with pytest.raises(StoreError, match="cannot reach"):
        await checking


async def test_a_probe_that_hangs_is_answered_not_ready_within_the_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(readiness_module, "WAIT_SECONDS", 0.1)
    probe = Probe()
    probe.gate = asyncio.Event()
    readiness = Readiness(probe)
    with pytest.raises(StoreError, match=r"did not take a write within 0\.1s"):
        await readiness.check()
    probe.gate.set()
    await readiness.check()  # the same probe, finished: ready
    assert probe.runs == 1
    probe.failure = "database is locked"
    monkeypatch.setattr(readiness_module, "PROBE_SECONDS", 0.0)
    with pytest.raises(StoreError, match="database is locked"):
        await readiness.check()
    await readiness.close()


def test_the_integrity_check_tells_a_damaged_file_and_a_missing_one(tmp_path: Path) -> None:
    database = tmp_path / "h.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE t (b BLOB)")
        connection.executemany("INSERT INTO t VALUES (randomblob(3000))", [()] * 300)
    connection.close()
    IntegrityCheck(database, 1).check()
    with database.open("r+b") as file:
        file.seek(4096)
        file.write(os.urandom(database.stat().st_size - 4096))
    with pytest.raises(StoreError, match="damaged"):
        IntegrityCheck(database, 1).check()
    database.unlink()
    with pytest.raises(StoreError, match="could not be checked"):
        IntegrityCheck(database, 1).check()
    assert not database.exists()
