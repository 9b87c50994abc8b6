"""A claim's work does not grow with the backlog: with thousands of jobs queued, both
backends find the next one by walking the claim index in order, not by reading and sorting
every queued job (which made each claim take milliseconds, and a backlog feed itself)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from psycopg import AsyncConnection
from test_store_contract import LEASE, T0, record

from hookd.store import jobs, store_for
from hookd.store.postgres_connect import connect
from hookd.store.postgres_url import parse_url
from hookd.store.records import NewJob
from hookd.store.steps import run_postgres, run_sqlite
from pg import postgres_fixture, postgres_url_fixture  # noqa: F401 - fixtures

pytestmark = pytest.mark.anyio
SMALL, LARGE = 10, 3000
GROUPED = (NewJob("deploy", max_attempts=1, concurrency_group="site"),)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _sqlite_store_with_a_job(path: Path) -> None:
    store = store_for(f"sqlite:///{path}")
    await store.open()
    try:
        await record(store, jobs=GROUPED)  # a group job that runs, blocking the group
        running = await store.claim_job("other", T0, LEASE)
        assert running is not None
        await record(store, jobs=GROUPED)  # a queued job of the busy group, passed over
        await record(store)
    finally:
        await store.close()


def _queue_more(connection: sqlite3.Connection, count: int) -> None:
    """`count` more queued jobs like the ungrouped one, due with it, after it in id order."""
    delivery_id, queued_at, run_after = connection.execute(
        "SELECT delivery_id, queued_at, run_after FROM jobs WHERE concurrency_group IS NULL"
    ).fetchone()
    connection.executemany(
        "INSERT INTO jobs (id, delivery_id, hook, status, max_attempts, queued_at, run_after) "
        "VALUES (?, ?, 'deploy', 'queued', 1, ?, ?)",
        [(f"zz{number:06d}", delivery_id, queued_at, run_after) for number in range(count)],
    )


def _sqlite_claim_steps(path: Path, backlog: int) -> int:
    """How many virtual machine steps SQLite takes to claim the first due job."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.row_factory = sqlite3.Row
    try:
        _queue_more(connection, backlog)
        steps = 0

        def count() -> int:
            nonlocal steps
            steps += 1
            return 0

        connection.execute("BEGIN IMMEDIATE")
        connection.set_progress_handler(count, 1)
        job = run_sqlite(connection, jobs.claim("w1", T0, LEASE, recheck=False))
        connection.set_progress_handler(None, 1)
        connection.execute("ROLLBACK")
    finally:
        connection.close()
    assert job is not None, "a job is due"
    assert job.concurrency_group is None, "the job of the busy group is passed over"
    assert not job.id.startswith("zz"), "the first due job is claimed, not a later copy"
    return steps


async def test_sqlite_claim_takes_as_many_steps_with_thousands_queued(tmp_path: Path) -> None:
    small, large = tmp_path / "small.db", tmp_path / "large.db"
    for path in (small, large):
        await _sqlite_store_with_a_job(path)
    small_steps = _sqlite_claim_steps(small, SMALL)
    large_steps = _sqlite_claim_steps(large, LARGE)
    assert large_steps < small_steps * 1.5, (small_steps, large_steps)


async def test_postgresql_claim_reads_a_handful_of_rows_with_thousands_queued(
    postgres_url: str,
) -> None:
    store = store_for(postgres_url)
    await store.open()
    try:
        await record(store, jobs=GROUPED)
        assert await store.claim_job("other", T0, LEASE) is not None
        await record(store, jobs=GROUPED)
        first = await record(store)
    finally:
        await store.close()
    async with await connect(parse_url(postgres_url)) as connection:
        await connection.execute(
            "INSERT INTO jobs (id, delivery_id, hook, status, max_attempts, queued_at, run_after) "
            "SELECT 'zz' || lpad(n::text, 6, '0'), delivery_id, hook, 'queued', max_attempts, "
            "queued_at, run_after "
            "FROM jobs, generate_series(1, %s) n WHERE concurrency_group IS NULL",
            (LARGE,),
        )
        await connection.execute("ANALYZE jobs")
        await connection.commit()
        async with connection.transaction(force_rollback=True):
            before = await _rows_read(connection)
            job = await run_postgres(connection, jobs.claim("w1", T0, LEASE, recheck=True))
            after = await _rows_read(connection)
    assert job is not None and job.id == first.job_ids[0]
    scanned, fetched = (later - earlier for later, earlier in zip(after, before, strict=True))
    assert scanned == 0, f"the claim scanned {scanned} rows of the jobs table"
    assert fetched < 20, f"the claim fetched {fetched} rows through indexes"


async def _rows_read(connection: AsyncConnection[Any]) -> tuple[int, int]:
    """Rows of `jobs` this transaction has read so far: by scans, and through indexes."""
    cursor = await connection.execute(
        "SELECT seq_tup_read, idx_tup_fetch FROM pg_stat_xact_user_tables WHERE relname = 'jobs'"
    )
    row = await cursor.fetchone()
    assert row is not None
    return row["seq_tup_read"], row["idx_tup_fetch"]
