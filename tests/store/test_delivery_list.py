"""The SQLite store's delivery list: the `after` cursor, time ranges (read through id
bounds), and the hook filter's two ways of finding a hook's deliveries."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest

from hookd.core.delivery import Delivery
from hookd.store import deliveries
from hookd.store.records import DeliveryQuery, NewJob
from hookd.store.sqlite import SqliteStore

T = TypeVar("T")
NOW = datetime.now(UTC)


def run(folder: Path, work: Callable[[SqliteStore], Awaitable[T]]) -> T:
    async def go() -> T:
        store = SqliteStore(f"sqlite:///{folder / 'hookd.db'}")
        await store.open()
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(go())


def delivery(number: int) -> Delivery:
    body = json.dumps({"n": number}).encode()
    return Delivery(
        endpoint="github", forge="github", event="push", forge_event="push", action=None,
        delivery_id=f"d-{number}", content_type="application/json", headers=(), body=body,
        payload=json.loads(body),
    )  # fmt: skip


async def record(
    store: SqliteStore, number: int, received: datetime, hooks: tuple[str, ...]
) -> str:
    recorded = await store.record_delivery(
        delivery(number), received_at=received, remote_addr=None, trace=(),
        jobs=tuple(NewJob(hook=hook, max_attempts=1) for hook in hooks),
    )  # fmt: skip
    return recorded.id


def test_after_lists_only_newer_deliveries_newest_first(tmp_path: Path) -> None:
    async def work(store: SqliteStore) -> tuple[list[str], list[str]]:
        made = [await record(store, n, NOW, ()) for n in range(4)]
        found = await store.list_deliveries(DeliveryQuery(after=made[1]))
        return made, [record.id for record in found]

    made, found = run(tmp_path, work)
    assert found == [made[3], made[2]]


def test_a_time_range_finds_deliveries_whose_id_was_made_after_they_arrived(
    tmp_path: Path,
) -> None:
    """A delivery recorded 30 minutes after its `received_at` (a long write queue) is still
    inside a range that ends before its id's moment."""

    async def work(store: SqliteStore) -> list[str]:
        late = await record(store, 1, NOW - timedelta(minutes=30), ())
        await record(store, 2, NOW, ())
        query = DeliveryQuery(since=NOW - timedelta(hours=1), until=NOW - timedelta(minutes=10))
        return [late] + [record.id for record in await store.list_deliveries(query)]

    late, *found = run(tmp_path, work)
    assert found == [late]


@pytest.mark.parametrize("probe", [1, 10_000], ids=["common-hook-scan", "rare-hook-index"])
def test_the_hook_filter_finds_the_same_deliveries_either_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, probe: int
) -> None:
    monkeypatch.setattr(deliveries, "HOOK_PROBE", probe)

    async def work(store: SqliteStore) -> tuple[list[str], list[str], list[str]]:
        hooks = [("deploy",), (), ("deploy", "notify"), ("notify",), ("deploy",)]
        made = [await record(store, n, NOW, names) for n, names in enumerate(hooks)]
        deploy = await store.list_deliveries(DeliveryQuery(hook="deploy", limit=2))
        rest = await store.list_deliveries(DeliveryQuery(hook="deploy", before=deploy[-1].id))
        nothing = await store.list_deliveries(DeliveryQuery(hook="nothing"))
        return made, [r.id for r in deploy + rest], [r.id for r in nothing]

    made, deploy, nothing = run(tmp_path, work)
    assert deploy == [made[4], made[2], made[0]]
    assert nothing == []
