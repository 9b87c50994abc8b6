"""The one migration runner: a database made by the migrations as they were shipped before
they were written once (0001-0008, one file per backend, kept in migrations_0008/) upgrades
to the very schema a fresh database gets, on both backends, keeping its rows; and the status
checks of 0009 refuse a state the vocabulary does not name."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from test_store_contract import make_delivery

from hookd.core.vocabulary import JobStatus
from hookd.store import store_for
from hookd.store.migrations import migrations
from hookd.store.records import JobOutcome, NewJob
from pg import Cluster, postgres_fixture, postgres_url_fixture  # noqa: F401 - fixtures

pytestmark = pytest.mark.anyio
OLD = Path(__file__).parent / "migrations_0008"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _old_sqlite(path: Path) -> None:
    """A database as hookd made it with migrations 0001-0008, holding one delivery."""
    with sqlite3.connect(path, isolation_level=None) as connection:
        connection.execute(
            "CREATE TABLE schema_migrations "
            "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        for file in sorted((OLD / "sqlite").glob("*.sql")):
            connection.executescript(file.read_text())
            version, name = file.stem.split("_", 1)
            connection.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, ?)", (int(version), name, "then")
            )
    connection.close()


def _sqlite_schema(path: Path) -> dict[str, Any]:
    with sqlite3.connect(path) as connection:
        objects = connection.execute(
            "SELECT type, name, tbl_name FROM sqlite_master ORDER BY name"
        ).fetchall()
        shape: dict[str, Any] = {"objects": objects}
        for kind, name, _ in objects:
            if kind == "table":
                shape[name] = connection.execute(f"PRAGMA table_xinfo({name})").fetchall()
            if kind == "index":
                shape[name] = connection.execute(f"PRAGMA index_xinfo({name})").fetchall()
        shape["versions"] = connection.execute(
            "SELECT version, name FROM schema_migrations ORDER BY version"
        ).fetchall()
    connection.close()
    return shape


async def test_a_sqlite_database_of_the_old_migrations_upgrades_to_a_fresh_ones_schema(
    tmp_path: Path,
) -> None:
    old, fresh = tmp_path / "old.db", tmp_path / "fresh.db"
    _old_sqlite(old)
    with sqlite3.connect(old, isolation_level=None) as connection:
        connection.execute(
            "INSERT INTO deliveries (id, received_at, status, size) "
            "VALUES ('0001', '2026-01-01T00:00:00.000000Z', 'accepted', 0)"
        )
    connection.close()
    for path in (old, fresh):
        store = store_for(f"sqlite:///{path}")
        await store.open()
        assert await store.schema_version() == max(m.version for m in migrations("sqlite"))
        await store.close()
    assert _sqlite_schema(old) == _sqlite_schema(fresh)
    with sqlite3.connect(fresh) as connection:
        (sql,) = connection.execute("SELECT sql FROM sqlite_master WHERE name = 'jobs'").fetchone()
    connection.close()
    assert "CONSTRAINT jobs_status_check CHECK (status = 'queued' OR status = 'running'" in sql
    store = store_for(f"sqlite:///{old}")
    await store.open()
    try:
        assert (await store.get_delivery("0001")).record.status == "accepted"
    finally:
        await store.close()


def _postgres_schema(url: str) -> dict[str, Any]:
    with psycopg.connect(url) as connection:
        return {
            "columns": connection.execute(
                "SELECT table_name, column_name, data_type, is_nullable, column_default, "
                "collation_name FROM information_schema.columns WHERE table_schema = 'public' "
                "ORDER BY table_name, ordinal_position"
            ).fetchall(),
            "indexes": connection.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
                "ORDER BY indexname"
            ).fetchall(),
            "constraints": connection.execute(
                "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
                "FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 2"
            ).fetchall(),
            "versions": connection.execute(
                "SELECT version, name FROM schema_migrations ORDER BY version"
            ).fetchall(),
        }


def _database(postgres: Cluster) -> str:
    name = f"migrations_{uuid.uuid4().hex[:8]}"
    with postgres.admin() as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return postgres.url(name)


async def test_a_postgresql_database_of_the_old_migrations_upgrades_to_a_fresh_ones_schema(
    postgres: Cluster,
) -> None:
    old, fresh = _database(postgres), _database(postgres)
    with psycopg.connect(old, autocommit=True) as connection:
        connection.execute(
            "CREATE TABLE schema_migrations (version integer PRIMARY KEY, "
            "name text NOT NULL, applied_at timestamptz NOT NULL)"
        )
        for file in sorted((OLD / "postgresql").glob("*.sql")):
            with connection.transaction():
                connection.execute(file.read_text().encode())
                version, name = file.stem.split("_", 1)
                connection.execute(
                    "INSERT INTO schema_migrations VALUES (%s, %s, now())", (int(version), name)
                )
        connection.execute(
            "INSERT INTO deliveries (id, received_at, status, size) "
            "VALUES ('0001', now(), 'accepted', 0)"
        )
    for url in (old, fresh):
        store = store_for(url)
        await store.open()
        assert await store.schema_version() == max(m.version for m in migrations("postgresql"))
        await store.close()
    assert _postgres_schema(old) == _postgres_schema(fresh)
    assert "jobs_status_check" in str(_postgres_schema(fresh)["constraints"])
    store = store_for(old)
    await store.open()
    try:
        assert (await store.get_delivery("0001")).record.status == "accepted"
    finally:
        await store.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hookd.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


async def test_the_database_refuses_a_state_the_vocabulary_does_not_name(store_url: str) -> None:
    store = store_for(store_url)
    await store.open()
    try:
        recorded = await store.record_delivery(
            make_delivery(), received_at=T0, remote_addr=None, trace=(), jobs=[NewJob("a", 1)]
        )
    finally:
        await store.close()
    (job_id,) = recorded.job_ids
    refused = (sqlite3.IntegrityError, psycopg.errors.CheckViolation)
    for statement in (
        f"UPDATE jobs SET status = 'canceled' WHERE id = '{job_id}'",  # GitLab's word
        f"UPDATE deliveries SET status = 'ok' WHERE id = '{recorded.id}'",
        "INSERT INTO deliveries (id, received_at, status, size) "
        "VALUES ('x', '2026-01-01T00:00:00Z', 'pending', 0)",
    ):
        with pytest.raises(refused, match="status_check"):
            _execute(store_url, statement)
    _execute(store_url, f"UPDATE jobs SET status = 'timed_out' WHERE id = '{job_id}'")
    with pytest.raises(ValueError, match="canceled"):
        JobOutcome(status="canceled")
    assert JobOutcome(status="cancelled").status is JobStatus.CANCELLED


def _execute(url: str, statement: str) -> None:
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None) as lite:
            lite.execute(statement)
        lite.close()
        return
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(statement.encode())
