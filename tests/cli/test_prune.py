"""`hookd prune --older-than AGE` and `server.retention`: old deliveries go with their jobs
and logs; recent ones, and ones whose jobs have not ended, stay."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from conftest import start_server, write_config
from hookd.cli import cli
from hookd.core.delivery import Delivery
from hookd.store.filters import PRUNE_BATCH
from hookd.store.records import DeliveryQuery, JobOutcome, NewJob, RejectedRequest
from hookd.store.sqlite import SqliteStore

CONFIG = """
server:
  port: 0
  database: sqlite:///hookd.db
  {retention}
endpoints:
  github:
    forge: github
    secret: "It's a Secret to Everybody"
hooks:
  steps:
    on: push
    run: ["true"]
"""
NOW = datetime.now(UTC)


def delivery(number: int) -> Delivery:
    body = json.dumps({"ref": "refs/heads/main", "n": number}).encode()
    return Delivery(
        endpoint="github", forge="github", event="push", forge_event="push", action=None,
        delivery_id=f"delivery-{number}", content_type="application/json", headers=(),
        body=body, payload=json.loads(body),
    )  # fmt: skip


async def record(store: SqliteStore, number: int, age: timedelta, finish: bool) -> tuple[str, str]:
    """A delivery received `age` ago with one job, finished (with some output) if asked."""
    recorded = await store.record_delivery(
        delivery(number), received_at=NOW - age, remote_addr=None, trace=(),
        jobs=(NewJob(hook="steps", max_attempts=1),),
    )  # fmt: skip
    job_id = recorded.job_ids[0]
    if finish:
        claimed = await store.claim_job("test", NOW, 30)
        assert claimed is not None and claimed.id == job_id
        await store.append_log(job_id, b"output\n", 1024)
        await store.finish_job(job_id, "test", JobOutcome(status="succeeded", exit_code=0), NOW)
    return recorded.id, job_id


def populate(folder: Path, *specs: tuple[int, timedelta, bool]) -> list[tuple[str, str]]:
    async def work() -> list[tuple[str, str]]:
        store = SqliteStore(f"sqlite:///{folder / 'hookd.db'}")
        await store.open()
        try:
            return [await record(store, n, age, finish) for n, age, finish in specs]
        finally:
            await store.close()

    return asyncio.run(work())


def prune(folder: Path, *args: str) -> Result:
    """`hookd prune` in this process (the command, not a shortcut round it)."""
    return CliRunner().invoke(cli, ["prune", *args, "--config", str(folder / "hookd.yaml")])


def exists(folder: Path, table: str, key: str, value: str) -> bool:
    with sqlite3.connect(folder / "hookd.db") as connection:
        row = connection.execute(f"SELECT 1 FROM {table} WHERE {key} = ?", (value,)).fetchone()
    return row is not None


def test_prunes_old_deliveries_with_their_jobs_and_logs(tmp_path: Path) -> None:
    write_config(tmp_path, CONFIG.format(retention=""))
    (old, old_job), (recent, _) = populate(
        tmp_path, (1, timedelta(days=40), True), (2, timedelta(days=1), True)
    )
    started = datetime.now(UTC)
    result = prune(tmp_path, "--older-than", "30d", "--json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["pruned"] == 1
    cut = datetime.fromisoformat(answer["before"]) + timedelta(days=30)
    assert started <= cut <= datetime.now(UTC)
    assert not exists(tmp_path, "deliveries", "id", old)
    assert not exists(tmp_path, "jobs", "id", old_job)
    assert not exists(tmp_path, "job_logs", "job_id", old_job)
    assert exists(tmp_path, "deliveries", "id", recent)


def test_keeps_old_deliveries_whose_jobs_have_not_ended(tmp_path: Path) -> None:
    write_config(tmp_path, CONFIG.format(retention=""))
    [(waiting, _)] = populate(tmp_path, (1, timedelta(days=40), False))
    result = prune(tmp_path, "--older-than", "30d")
    assert result.stdout.startswith("Pruned 0 deliveries received before ")
    assert exists(tmp_path, "deliveries", "id", waiting)


@pytest.mark.parametrize("age", ["soon", "0", "-3d", "999999999999d"])
def test_refuses_a_malformed_age(tmp_path: Path, age: str) -> None:
    write_config(tmp_path, CONFIG.format(retention=""))
    result = prune(tmp_path, "--older-than", age)
    assert result.exit_code == 2
    assert "--older-than" in result.stderr


def test_prunes_in_batches_until_nothing_old_is_left(tmp_path: Path) -> None:
    async def work() -> tuple[int, int]:
        store = SqliteStore(f"sqlite:///{tmp_path / 'hookd.db'}")
        await store.open()
        try:
            ages = (timedelta(days=50),) * (PRUNE_BATCH * 2 + 7) + (timedelta(0),)
            await store.record_rejections(
                [
                    RejectedRequest("github", "/hooks/github", 401, "no", None, 0, NOW - age)
                    for age in ages
                ],
                keep=len(ages),  # more than the sample of rejected requests usually kept
            )
            removed = await store.prune(NOW - timedelta(days=30))
            return removed, len(await store.list_deliveries(DeliveryQuery(limit=10_000)))
        finally:
            await store.close()

    removed, left = asyncio.run(work())
    assert (removed, left) == (PRUNE_BATCH * 2 + 7, 1)


def test_serve_prunes_when_retention_is_set(tmp_path: Path) -> None:
    write_config(tmp_path, CONFIG.format(retention="retention: 30d"))
    (old, _), (recent, _) = populate(
        tmp_path, (1, timedelta(days=31), True), (2, timedelta(days=29), True)
    )
    server = start_server(tmp_path, "--workers", "0")
    try:
        deadline = time.monotonic() + 10
        while "retention: pruned" not in server.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "retention: pruned 1 deliveries" in server.log()
    finally:
        server.stop()
    assert not exists(tmp_path, "deliveries", "id", old)
    assert exists(tmp_path, "deliveries", "id", recent)
