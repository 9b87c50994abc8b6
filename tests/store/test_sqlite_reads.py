"""SQLite reads on the event loop's thread stay small: a large delivery body is read on a
reader's thread, so opening one does not stall every request meanwhile."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hookd.core.delivery import Body, Delivery
from hookd.store import sqlite_sql
from hookd.store.records import DeliveryDetail
from hookd.store.sqlite import LOOP_BODY, SqliteStore

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = SqliteStore(f"sqlite:///{tmp_path / 'hookd.db'}")
    await opened.open()
    yield opened
    await opened.close()


async def record(store: SqliteStore, body: bytes) -> str:
    delivery = Delivery(
        endpoint="github", forge="github", event="push", forge_event="push", action=None,
        delivery_id=f"d-{len(body)}", content_type="application/json", headers=(),
        body=body, payload={},
    )  # fmt: skip
    recorded = await store.record_delivery(
        delivery, received_at=datetime.now(UTC), remote_addr=None, trace=(), jobs=()
    )
    return recorded.id


def reading_threads(monkeypatch: pytest.MonkeyPatch) -> list[threading.Thread]:
    """The threads each delivery (with its body) is selected on, from now on."""
    threads: list[threading.Thread] = []
    small, whole = sqlite_sql.select_small_delivery, sqlite_sql.select_delivery

    def select_small(connection: object, delivery_id: str, most: int) -> DeliveryDetail | None:
        detail = small(connection, delivery_id, most)  # type: ignore[arg-type]
        if detail is not None:
            threads.append(threading.current_thread())
        return detail

    def select(connection: object, delivery_id: str) -> DeliveryDetail:
        threads.append(threading.current_thread())
        return whole(connection, delivery_id)  # type: ignore[arg-type]

    monkeypatch.setattr(sqlite_sql, "select_small_delivery", select_small)
    monkeypatch.setattr(sqlite_sql, "select_delivery", select)
    return threads


async def test_a_large_body_is_read_off_the_loop_thread(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = bytes(range(256)) * (3 * 1024 * 1024 // 256 + 1)  # over BLOB_PIECE: read in pieces
    delivery_id = await record(store, body)
    threads = reading_threads(monkeypatch)
    detail = await store.get_delivery(delivery_id)
    assert bytes(detail.body) == body
    assert threads and threading.current_thread() not in threads


@pytest.mark.parametrize("size", [0, 10, LOOP_BODY])
async def test_a_small_body_is_read_right_on_the_loop_thread(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    body: Body = b"b" * size
    delivery_id = await record(store, bytes(body))
    threads = reading_threads(monkeypatch)
    assert (await store.get_delivery(delivery_id)).body == body
    assert threads == [threading.current_thread()]


async def test_a_body_just_over_the_loop_limit_is_read_whole(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = b"c" * (LOOP_BODY + 1)
    delivery_id = await record(store, body)
    threads = reading_threads(monkeypatch)
    assert (await store.get_delivery(delivery_id)).body == body
    assert threads and threading.current_thread() not in threads
