"""Versioned schema migrations, one runner for both backends: numbered SQL files in
`migrations/`, each written once with `{token}`s a dialect fills in (`hookd.store.dialect`),
applied in order, recorded in `schema_migrations`. A step whose SQL the two backends spell
differently throughout (0009's status checks) takes it from a token the dialect makes."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import TYPE_CHECKING

from hookd.core.vocabulary import DeliveryStatus, JobStatus, values
from hookd.store import queries as q
from hookd.store.dialect import DIALECTS, POSTGRESQL, SQLITE, Dialect

if TYPE_CHECKING:
    from hookd.store.postgres_connect import Connection

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    def statements(self) -> list[str]:
        """The migration's statements, one by one (SQLite's executescript would commit the
        transaction it runs in; a trigger's body stays whole)."""
        found, current = [], []
        for line in self.sql.splitlines():
            current.append(line)
            if sqlite3.complete_statement("\n".join(current)):
                found.append("\n".join(current).strip())
                current = []
        return found


def _tokens(dialect: Dialect) -> dict[str, str]:
    return {
        **dialect.tokens,
        "deliveries_status_check": dialect.check("deliveries", "status", values(DeliveryStatus)),
        "jobs_status_check": dialect.check("jobs", "status", values(JobStatus)),
    }


def migrations(backend: str) -> list[Migration]:
    """Every migration, rendered for `backend` (`sqlite` or `postgresql`), oldest first."""
    tokens = _tokens(DIALECTS[backend])
    folder = resources.files("hookd.store").joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            sql = entry.read_text("utf-8").format_map(tokens)
            found.append(Migration(int(match.group(1)), match.group(2), sql))
    return sorted(found, key=lambda migration: migration.version)


def migrate_sqlite(connection: sqlite3.Connection) -> int:
    """Apply every migration not yet applied, in the caller's transaction (the writer's);
    return the newest version applied."""
    connection.execute(q.CREATE_MIGRATIONS.sql(SQLITE))
    applied = {row["version"] for row in connection.execute(q.APPLIED.sql(SQLITE))}
    for migration in _pending("sqlite", applied):
        for statement in migration.statements():
            connection.execute(statement)
        mark = q.MARK_APPLIED.statement(SQLITE)
        connection.execute(mark.text, mark.args(_mark(migration)))
        applied.add(migration.version)
    return max(applied, default=0)


async def migrate_postgres(connection: Connection) -> int:
    """Apply every migration not yet applied, each in its own transaction, under the
    migration lock (a session lock: the caller closes this connection afterwards, which
    releases it); return the newest version applied."""
    await connection.execute(q.MIGRATION_LOCK.sql(POSTGRESQL))
    await connection.execute(q.CREATE_MIGRATIONS.sql(POSTGRESQL))
    cursor = await connection.execute(q.APPLIED.sql(POSTGRESQL))
    applied = {row["version"] for row in await cursor.fetchall()}
    for migration in _pending("postgresql", applied):
        async with connection.transaction():
            for statement in migration.statements():
                await connection.execute(statement.encode())
            await connection.execute(q.MARK_APPLIED.sql(POSTGRESQL), _mark(migration))
        applied.add(migration.version)
    return max(applied, default=0)


def _pending(backend: str, applied: set[int]) -> list[Migration]:
    return [m for m in migrations(backend) if m.version not in applied]


def _mark(migration: Migration) -> dict[str, object]:
    return {"version": migration.version, "name": migration.name, "at": datetime.now(UTC)}
