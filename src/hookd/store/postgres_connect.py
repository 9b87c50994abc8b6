"""Reaching PostgreSQL: connections with one-line errors, and the schema migrations (run
under an advisory lock, so any number of processes may start at once)."""

from __future__ import annotations

import psycopg
from psycopg.rows import DictRow, dict_row

from hookd.errors import StoreError
from hookd.store.migrations import migrate_postgres
from hookd.store.postgres_url import Target

Connection = psycopg.AsyncConnection[DictRow]
"""Rows by column name, as the store reads them (`hookd.store.steps`)."""

CONNECT_SECONDS = 10


def one_line(exc: BaseException, target: Target) -> str:
    """A driver message on one line (libpq spreads its hints over several), with nothing of
    `target`'s credentials in it (libpq repeats a URL it cannot parse, whole)."""
    return target.scrub(" ".join(str(exc).split())) or type(exc).__name__


async def connect(target: Target) -> Connection:
    """A new autocommit connection, or StoreError saying in one line why there is none."""
    try:
        return await psycopg.AsyncConnection.connect(
            target.conninfo, autocommit=True, connect_timeout=CONNECT_SECONDS, row_factory=dict_row
        )
    except psycopg.Error as exc:
        raise StoreError(f"cannot connect to {target.display}: {one_line(exc, target)}") from exc


async def migrate(connection: Connection) -> int:
    """Bring the schema up to date (see `hookd.store.migrations`)."""
    return await migrate_postgres(connection)
