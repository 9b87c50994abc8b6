"""SQLite records the deliveries of one batch together (`sqlite_sql.insert_deliveries`): a
statement per table for a run of them, with what each was decided the same as if they had
been recorded one after another (`insert_delivery`)."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from hookd.core.delivery import Delivery
from hookd.store import sqlite_sql as sql
from hookd.store.records import NewJob, ReplayGuard
from hookd.store.replay_index import ReplayIndex
from hookd.store.sqlite import SqliteStore

pytestmark = pytest.mark.anyio
T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
WINDOW = timedelta(hours=72)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def delivery(forge_id: str | None = "", body: bytes | None = None) -> Delivery:
    forge_id = str(uuid.uuid4()) if forge_id == "" else forge_id
    payload = {"ref": "refs/heads/main", "n": forge_id}
    return Delivery(
        endpoint="github", forge="github", event="push", forge_event="push", action=None,
        delivery_id=forge_id, content_type="application/json",
        headers=(("X-GitHub-Delivery", forge_id or ""),),
        body=orjson.dumps(payload) if body is None else body, payload=payload,
    )  # fmt: skip


async def migrated(path: Path) -> sqlite3.Connection:
    store = SqliteStore(f"sqlite:///{path}")
    await store.open()
    await store.close()
    connection = sqlite3.connect(path, isolation_level=None)
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA foreign_keys=ON")
    return connection


Case = tuple[Delivery, tuple[NewJob, ...], dict[str, object]]


def cases(large: bytes) -> list[Case]:
    """Every case a run must leave to go alone, among plain deliveries."""
    deploy = (NewJob("deploy", 2),)
    seen, twice = delivery("seen"), delivery("twice")
    copies = [delivery(f"copy-{n}", body=b'{"captured":true}') for n in range(3)]
    guard = {"guard": True}
    plain: list[Case] = [(delivery(), deploy, guard if n % 6 == 0 else {}) for n in range(30)]
    return [
        (seen, deploy, {}),
        *plain[:10],
        (twice, deploy, {"config": "0123456789ab"}),
        (twice, deploy, {}),
        (copies[0], deploy, guard),
        *plain[10:20],
        (copies[1], deploy, guard),
        (delivery(), (NewJob("deploy", 1, concurrency_group="site"),), {}),
        (seen, deploy, {}),
        (seen, deploy, {"replay_of": "earlier"}),
        (replace(delivery("large"), body=large), deploy, {}),
        (copies[2], deploy, {**guard, "config": "ffffffffffff"}),
        (delivery(None), (NewJob("a", 1), NewJob("b", 1, status="failed", error="no")), {}),
        *plain[20:],
    ]


def writes(made: list[Case]) -> list[sql.DeliveryWrite]:
    """The cases as writes, with an index of bodies of their own."""
    index = ReplayIndex()

    def write(one: Delivery, jobs: tuple[NewJob, ...], named: dict[str, object]) -> Any:
        guard = ReplayGuard(hashlib.sha256(one.body).digest(), WINDOW)
        return sql.DeliveryWrite(
            one,
            T0,
            "127.0.0.1",
            "[]",
            jobs,
            replay_of=named.get("replay_of"),  # type: ignore[arg-type]
            guarded=sql.Guarded(guard, index) if named.get("guard") else None,
            config=named.get("config"),  # type: ignore[arg-type]
        )

    return [write(*case) for case in made]


TABLES = {
    "deliveries": "SELECT delivery, status, hooks, size, body, replay_of IS NULL AS fresh, "
    "duplicate_of IS NULL AS first FROM deliveries",
    "jobs": "SELECT d.delivery, j.hook, j.status, j.error, j.max_attempts, j.concurrency_group "
    "FROM jobs j JOIN deliveries d ON d.id = j.delivery_id",
    "configs": "SELECT d.delivery, d.status, c.config FROM delivery_configs c "
    "JOIN deliveries d ON d.id = c.delivery_id",
    "digests": "SELECT d.delivery, b.sha256 FROM body_digests b "
    "JOIN deliveries d ON d.id = b.delivery_id",
}


def contents(connection: sqlite3.Connection) -> dict[str, list[tuple[object, ...]]]:
    return {
        table: sorted((tuple(row) for row in connection.execute(select)), key=repr)
        for table, select in TABLES.items()
    }


async def test_a_batch_recorded_together_is_recorded_as_one_after_another(
    tmp_path: Path,
) -> None:
    made = cases(b"[" + b" " * sql.BLOB_PIECE + b"]")
    together, alone = await migrated(tmp_path / "t.db"), await migrated(tmp_path / "a.db")
    together.execute("BEGIN")
    batched = sql.insert_deliveries(together, writes(made))
    together.execute("COMMIT")
    alone.execute("BEGIN")
    one_by_one = [write(alone) for write in writes(made)]
    alone.execute("COMMIT")

    def decided(recorded: list[sql.Recorded]) -> list[tuple[object, ...]]:
        return [(r.status, r.delivery, r.same_body, r.hooks, len(r.job_ids)) for r in recorded]

    assert decided(batched) == decided(one_by_one)
    assert [r.status for r in batched].count("duplicate") == 4
    assert contents(together) == contents(alone)
    assert len(contents(together)["digests"]) == 1 + 5  # copy-0's, and 5 plain ones


async def test_a_run_of_deliveries_takes_a_few_statements_per_table(tmp_path: Path) -> None:
    """70 deliveries in one batch: their jobs and configurations in statements of 64, 4, 1
    and 1 rows; the deliveries themselves, holding their bodies, a statement each."""
    store = SqliteStore(f"sqlite:///{tmp_path / 'hookd.db'}")
    await store.open()
    statements: list[str] = []
    await store._writer.run(lambda c: c.set_trace_callback(statements.append))
    try:
        recorded = await asyncio.gather(
            *(
                store.record_delivery(
                    delivery(),
                    received_at=T0,
                    remote_addr=None,
                    trace=[],
                    jobs=[NewJob("deploy", 1)],
                    config="0123456789ab",
                )
                for _ in range(70)
            )
        )
    finally:
        await store.close()
    assert {r.status for r in recorded} == {"accepted"}

    def inserts(table: str) -> list[str]:
        return [text for text in statements if text.lstrip().startswith(f"INSERT INTO {table} ")]

    for table in ("jobs", "delivery_configs"):
        assert len(inserts(table)) == 4, table
    assert len(inserts("deliveries")) == 70
    assert not any("RETURNING" in text for text in inserts("deliveries"))
