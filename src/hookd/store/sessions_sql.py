"""Revoked dashboard sessions, on either backend: a row per session ended by signing out,
kept until its cookie would have expired anyway (each revocation deletes the expired rows,
so the table holds at most the sessions ended in the last cookie lifetime)."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import TYPE_CHECKING

from hookd.store.records import iso

if TYPE_CHECKING:
    from hookd.store.postgres_connect import Connection


def revoke_sqlite(
    connection: sqlite3.Connection, digest: str, until: datetime, now: datetime
) -> None:
    connection.execute("DELETE FROM revoked_sessions WHERE until <= ?", (iso(now),))
    connection.execute(
        "INSERT OR REPLACE INTO revoked_sessions (digest, until) VALUES (?, ?)",
        (digest, iso(until)),
    )


def revoked_sqlite(connection: sqlite3.Connection, digest: str, now: datetime) -> bool:
    row = connection.execute(
        "SELECT 1 FROM revoked_sessions WHERE digest = ? AND until > ?", (digest, iso(now))
    ).fetchone()
    return row is not None


async def revoke_postgres(
    connection: Connection, digest: str, until: datetime, now: datetime
) -> None:
    async with connection.transaction():
        await connection.execute("DELETE FROM revoked_sessions WHERE until <= %s", (now,))
        await connection.execute(
            "INSERT INTO revoked_sessions (digest, until) VALUES (%s, %s) "
            "ON CONFLICT (digest) DO UPDATE SET until = EXCLUDED.until",
            (digest, until),
        )


async def revoked_postgres(connection: Connection, digest: str, now: datetime) -> bool:
    cursor = await connection.execute(
        "SELECT 1 FROM revoked_sessions WHERE digest = %s AND until > %s", (digest, now)
    )
    return await cursor.fetchone() is not None
