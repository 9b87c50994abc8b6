"""The SQLite receiver's in-memory index of accepted bodies: what it holds, what it lets go
of, and that a rolled-back write cannot leave it wrong."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hookd.core.delivery import Delivery
from hookd.errors import StoreError
from hookd.store.records import Recorded, ReplayGuard
from hookd.store.replay_index import ReplayIndex
from hookd.store.sqlite import SqliteStore

pytestmark = pytest.mark.anyio
T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
HOUR = 3600.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def digest(n: int) -> bytes:
    return hashlib.sha256(str(n).encode()).digest()


def test_the_index_lets_go_of_rows_older_than_the_widest_window() -> None:
    index = ReplayIndex()
    index.load(
        [(1, "gh", digest(1), 0.0), (2, "gh", digest(2), HOUR)], since=0.0, last=2, version=1
    )
    assert (index.find("gh", digest(1)), index.find("gitea", digest(1))) == (1, None)
    index.add("gh", digest(3), 3, 3 * HOUR)
    index.keep(2 * HOUR)
    assert (index.find("gh", digest(1)), index.find("gh", digest(2)), len(index)) == (None, 2, 2)
    assert not index.needs_load(HOUR) and index.needs_load(HOUR - 1)


def test_the_newest_row_of_a_body_is_the_one_found_and_kept() -> None:
    index = ReplayIndex()
    index.load([(1, "gh", digest(1), 0.0)], since=0.0, last=1, version=1)
    index.extend([(5, "gh", digest(1), 2 * HOUR)], version=2)
    index.keep(HOUR)  # lets go of row 1, not of the body's newer row 5
    assert index.find("gh", digest(1)) == 5 and index.read_to() == 5


def test_rows_of_another_process_between_its_own_are_read_before_they_are_passed() -> None:
    index = ReplayIndex()
    index.load([(1, "gh", digest(1), 0.0)], since=0.0, last=1, version=1)
    index.add("gh", digest(2), 2, 1.0)
    assert index.read_to() == 2  # nothing can lie between 1 and its own 2
    index.add("gh", digest(5), 5, 2.0)
    assert index.read_to() == 2  # rows 3 and 4 are another process's, not read yet
    index.extend(
        [(3, "gh", digest(3), 1.5), (4, "gh", digest(4), 1.5), (5, "gh", digest(5), 2.0)], version=2
    )
    assert index.read_to() == 5 and len(index) == 5
    assert [index.find("gh", digest(n)) for n in (3, 4, 5)] == [3, 4, 5]


def test_the_index_is_compared_with_the_file_once_a_transaction() -> None:
    index = ReplayIndex()
    index.load([(1, "gh", digest(1), 0.0)], since=0.0, last=1, version=7)
    index.add("gh", digest(2), 2, 1.0)  # its own rows do not make it stale
    assert index.checked()
    index.began()
    assert not index.checked() and not index.stale(7) and index.checked()
    index.began()
    assert index.stale(8)  # another connection committed
    index.extend([(3, "gh", digest(3), 2.0)], version=8)
    assert not index.stale(8) and index.find("gh", digest(3)) == 3
    index.forget()
    assert not index.checked() and index.stale(8)


def test_forgetting_makes_the_next_use_load_again() -> None:
    index = ReplayIndex()
    index.load([(1, "gh", digest(1), 0.0)], since=0.0, last=1, version=1)
    index.forget()
    assert index.needs_load(HOUR) and len(index) == 0


BODY = b'{"same":"body"}'


def delivery(delivery_id: str) -> Delivery:
    return Delivery(
        endpoint="gh", forge="github", event="push", forge_event="push", action=None,
        delivery_id=delivery_id, content_type="application/json", headers=(), body=BODY,
        payload={},
    )  # fmt: skip


async def record(store: SqliteStore, delivery_id: str) -> Recorded:
    guard = ReplayGuard(hashlib.sha256(BODY).digest(), timedelta(hours=72))
    return await store.record_delivery(
        delivery(delivery_id), received_at=T0, remote_addr=None, trace=[], jobs=[], guard=guard
    )


async def test_a_batch_rolled_back_leaves_no_hint_to_a_row_that_never_was(tmp_path: Path) -> None:
    store = SqliteStore(f"sqlite:///{tmp_path / 'hookd.db'}")
    await store.open()
    try:

        def fail(connection: sqlite3.Connection) -> None:
            raise sqlite3.OperationalError("disk I/O error")

        # One batch: the delivery's digest is written and indexed, then the batch fails whole.
        lost, failed = await asyncio.gather(
            record(store, "lost"), store._writer.run(fail), return_exceptions=True
        )
        assert isinstance(lost, StoreError) and isinstance(failed, StoreError)
        assert len(store._replay_index) == 0
        first = await record(store, "d-1")
        again = await record(store, "d-2")
        assert first.status == "accepted"
        assert (again.status, again.id, again.delivery) == ("duplicate", first.id, "d-1")
    finally:
        await store.close()
