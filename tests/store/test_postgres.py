"""What only the PostgreSQL backend has to show: its migrations match SQLite's, URLs and
errors never show a password, processes starting together migrate once, NOTIFY wakes a
worker in another process, the store works again after the database restarts, and a large
body leaves no large object behind."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from test_store_contract import make_delivery, record

from hookd.errors import StoreError
from hookd.store import store_for
from hookd.store.migrations import migrations
from hookd.store.postgres_url import display_url, parse_url
from hookd.store.records import NewJob
from pg import (  # noqa: F401 - fixtures
    Cluster,
    free_port,
    postgres_fixture,
    postgres_url_fixture,
    table_columns,
)

pytestmark = pytest.mark.anyio
TABLES = ("deliveries", "jobs", "job_logs")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_both_backends_ship_the_same_numbered_migrations() -> None:
    def versions(backend: str) -> list[tuple[int, str]]:
        return [(migration.version, migration.name) for migration in migrations(backend)]

    assert versions("postgresql") == versions("sqlite")
    assert versions("sqlite")[:2] == [(1, "deliveries"), (2, "jobs")]


async def test_both_backends_create_the_same_tables_and_columns(
    postgres_url: str, tmp_path: Path
) -> None:
    lite = store_for(f"sqlite:///{tmp_path / 'hookd.db'}")
    await lite.open()
    await lite.close()
    sqlite_columns, postgres_columns = table_columns(tmp_path / "hookd.db", postgres_url, TABLES)
    assert postgres_columns == sqlite_columns


def test_url_options_are_hookds_and_the_rest_goes_to_libpq() -> None:
    query = "sslmode=require&pool_size=4&timeout=2.5"
    target = parse_url(f"postgresql://hookd:pw@db:5433/hookd?{query}")
    assert (target.pool_size, target.timeout) == (4, 2.5)
    assert target.conninfo == "postgresql://hookd:pw@db:5433/hookd?sslmode=require"
    assert target.display == f"postgresql://hookd:***@db:5433/hookd?{query}"
    defaults = parse_url("postgres://db/hookd")
    assert (defaults.pool_size, defaults.timeout) == (10, 5.0)
    assert defaults.conninfo == "postgres://db/hookd"
    for wrong in ("pool_size=0", "pool_size=many", "timeout=-1"):
        with pytest.raises(StoreError, match="must be"):
            parse_url(f"postgresql://db/hookd?{wrong}")


def test_printed_urls_never_show_a_password() -> None:
    assert display_url("postgresql://u:s3cret@h/db") == "postgresql://u:***@h/db"
    assert display_url("postgresql://h/db?password=s3cret") == "postgresql://h/db?password=***"
    assert display_url("postgresql://u@h/db") == "postgresql://u@h/db"
    assert display_url("sqlite:///srv/hookd.db") == "sqlite:///srv/hookd.db"
    socket = parse_url("postgresql:///hookd?host=/run/postgresql&password=s3cret&timeout=1")
    assert socket.conninfo == "postgresql:///hookd?host=/run/postgresql&password=s3cret"
    assert socket.display == "postgresql:///hookd?host=/run/postgresql&password=***&timeout=1"


async def test_unreachable_database_is_one_clear_line_without_the_password() -> None:
    store = store_for(f"postgresql://hookd:s3cret@127.0.0.1:{free_port()}/hookd")
    with pytest.raises(StoreError) as caught:
        await store.open()
    message = str(caught.value)
    assert message.startswith("cannot connect to postgresql://hookd:***@127.0.0.1:")
    assert "refused" in message and "s3cret" not in message and "\n" not in message
    with pytest.raises(StoreError, match="not open"):
        await store.probe()


async def test_processes_starting_together_migrate_once(postgres: Cluster) -> None:
    name = f"empty_{uuid.uuid4().hex[:12]}"
    with postgres.admin() as connection:
        connection.execute(f"CREATE DATABASE {name}")
    stores = [store_for(postgres.url(name)) for _ in range(4)]
    await asyncio.gather(*(store.open() for store in stores))
    try:
        newest = max(migration.version for migration in migrations("postgresql"))
        assert [await store.schema_version() for store in stores] == [newest] * 4
    finally:
        for store in stores:
            await store.close()
    with psycopg.connect(postgres.url(name)) as connection:
        rows = connection.execute("SELECT version, name FROM schema_migrations ORDER BY 1")
        assert rows.fetchall() == [(m.version, m.name) for m in migrations("postgresql")]


async def test_notify_wakes_a_worker_in_another_process(postgres_url: str) -> None:
    receiver, worker = store_for(postgres_url), store_for(postgres_url)
    await receiver.open()
    await worker.open()
    try:
        await worker.wait_for_jobs(0.5)  # starts listening (and may wake once on that)
        waiting = asyncio.create_task(worker.wait_for_jobs(30))
        await asyncio.sleep(0.3)
        recorded_at = time.monotonic()
        await record(receiver)
        await asyncio.wait_for(waiting, 10)
        assert time.monotonic() - recorded_at < 1.0  # long before its own 30 s timeout
    finally:
        await receiver.close()
        await worker.close()


async def test_store_works_again_after_the_database_restarts(postgres: Cluster) -> None:
    store = store_for(postgres.new_database() + "?timeout=1")
    await store.open()
    try:
        await record(store)
        postgres.stop()
        try:
            started = time.monotonic()
            with pytest.raises(StoreError, match="cannot reach the database"):
                await record(store)
            assert time.monotonic() - started < 5
        finally:
            postgres.start()
        deadline = time.monotonic() + 20
        while True:
            try:
                await store.probe()
                break
            except StoreError:
                assert time.monotonic() < deadline, "the store did not reconnect"
                await asyncio.sleep(0.1)
        assert (await record(store)).status == "accepted"
    finally:
        await store.close()


async def test_a_large_body_leaves_no_large_object_behind(postgres_url: str) -> None:
    """A body over 1 MiB travels through a large object inside the recording transaction;
    committed or rolled back, none is left."""
    large = b"x" * (2 * 1024 * 1024 + 1)
    store = store_for(postgres_url)
    await store.open()
    try:
        await record(store, replace(make_delivery("d-big"), body=large))
        with pytest.raises(StoreError):  # attempts out of range: the insert fails, rolls back
            await record(store, replace(make_delivery("d-big-2"), body=large), [NewJob("a", 2**40)])
    finally:
        await store.close()
    with psycopg.connect(postgres_url) as connection:
        left = connection.execute("SELECT count(*) FROM pg_largeobject_metadata").fetchone()
        assert left == (0,)


async def test_after_a_restart_the_next_delivery_is_stored_though_every_pooled_one_died(
    postgres: Cluster,
) -> None:
    """The pool held several connections the restart closed: all are replaced at once, so
    the delivery gets a new one within its 5 s, not after trying each dead one in turn."""
    store = store_for(postgres.new_database())
    await store.open()
    try:
        await asyncio.gather(*(record(store) for _ in range(30)))  # the pool grows
        await asyncio.sleep(1.1)  # past FRESH_SECONDS: each is checked before use
        postgres.stop()
        postgres.start()
        assert (await record(store)).status == "accepted"
        await store.probe()
    finally:
        await store.close()


def end_sessions(url: str) -> None:
    """End every session on `url`'s database but the caller's, as a restart would."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


async def test_a_delivery_whose_connection_dies_under_it_is_stored_on_a_new_one(
    postgres_url: str,
) -> None:
    """A connection that answered less than a second ago is not checked first; if it is
    gone, a delivery with a forge id runs once more on a new one (were it committed, the
    second run would find it and answer duplicate). One without an id is not run twice."""
    store = store_for(postgres_url)
    await store.open()
    try:
        await record(store)
        end_sessions(postgres_url)
        assert (await record(store)).status == "accepted"
        await store.probe()
        end_sessions(postgres_url)
        with pytest.raises(StoreError, match="cannot reach the database"):
            await record(store, make_delivery(None))
        with pytest.raises(StoreError, match="cannot reach the database"):
            await store.probe()  # that failure made it not ready at once
    finally:
        await store.close()
