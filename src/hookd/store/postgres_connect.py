"""Reaching PostgreSQL: connections with one-line errors, and the schema migrations (run
under an advisory lock, so any number of processes may start at once)."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
from psycopg.rows import TupleRow

from hookd.errors import StoreError
from hookd.store.migrations import migrations
from hookd.store.postgres_url import Target

Connection = psycopg.AsyncConnection[TupleRow]

CONNECT_SECONDS = 10
# The key of the session advisory lock that serializes migrations across processes (the
# two-integer form, whose keys never meet the one-integer keys of concurrency groups).
MIGRATION_LOCK = (0x686F6F6B, 1)


def one_line(exc: BaseException, target: Target) -> str:
    """A driver message on one line (libpq spreads its hints over several), with nothing of
    `target`'s credentials in it (libpq repeats a URL it cannot parse, whole)."""
    return target.scrub(" ".join(str(exc).split())) or type(exc).__name__


async def connect(target: Target) -> Connection:
    """A new autocommit connection, or StoreError saying in one line why there is none."""
    try:
        return await psycopg.AsyncConnection.connect(
            target.conninfo, autocommit=True, connect_timeout=CONNECT_SECONDS
        )
    except psycopg.Error as exc:
        raise StoreError(f"cannot connect to {target.display}: {one_line(exc, target)}") from exc


async def migrate(connection: Connection) -> int:
    """Apply every migration not yet applied, each in its own transaction, under the
    migration lock (a session lock: the caller closes this connection afterwards, which
    releases it); return the newest version applied."""
    await connection.execute("SELECT pg_advisory_lock(%s, %s)", MIGRATION_LOCK)
    await connection.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
        "name text NOT NULL, applied_at timestamptz NOT NULL)"
    )
    cursor = await connection.execute("SELECT version FROM schema_migrations")
    applied = {row[0] for row in await cursor.fetchall()}
    for migration in migrations("postgresql"):
        if migration.version in applied:
            continue
        async with connection.transaction():
            await connection.execute(migration.sql.encode())
            await connection.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (%s, %s, %s)",
                (migration.version, migration.name, datetime.now(UTC)),
            )
        applied.add(migration.version)
    return max(applied, default=0)
