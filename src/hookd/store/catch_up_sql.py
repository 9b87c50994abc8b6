"""What catch-up (`hookd.catch_up`) keeps, on either backend: the statements are written
once, with `?` placeholders that `Postgres` turns into `%s`; the two `Db` classes differ
only in how they run a statement and how a moment or a JSON column is stored.

`CatchUpStore` is what both stores hand out from `Store.catch_up()`."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import orjson

from hookd.catch_up.records import CatchUpRequest, HookState, SeenDelivery
from hookd.store.records import iso, parse_iso

if TYPE_CHECKING:
    from hookd.store.postgres_connect import Connection
    from hookd.store.postgres_url import Target

T = TypeVar("T")
Statement = tuple[str, Sequence[Any]]
# The session advisory lock one catch-up holds on PostgreSQL (two-integer form, as the
# migration lock; see hookd.store.postgres_connect).
CATCH_UP_LOCK = (0x686F6F6B, 10)

_HOOKS = (
    "SELECT hook, seen_at, caught_up_at, gone_at FROM catch_up_hooks "
    "WHERE endpoint = ? ORDER BY hook"
)
_SAVE_HOOK = (
    "INSERT INTO catch_up_hooks (endpoint, hook, seen_at, caught_up_at, gone_at) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (endpoint, hook) DO UPDATE SET "
    "caught_up_at = excluded.caught_up_at, gone_at = excluded.gone_at"
)
_SCANNED = "SELECT scanned_through FROM catch_up_scans WHERE endpoint = ?"
_SAVE_SCANNED = (
    "INSERT INTO catch_up_scans (endpoint, scanned_through) VALUES (?, ?) "
    "ON CONFLICT (endpoint) DO UPDATE SET scanned_through = excluded.scanned_through"
)
_NEW_DELIVERIES = (
    "SELECT id, headers, repository FROM deliveries "
    "WHERE endpoint = ? AND status = 'accepted' AND id > ? ORDER BY id LIMIT ?"
)
_CLAIM = (
    "INSERT INTO catch_up_requests (id, endpoint, forge, hook, delivery, forge_id, event, "
    "failed_at, failure, requested_at, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (endpoint, delivery) DO NOTHING"
)
_FINISH = "UPDATE catch_up_requests SET outcome = ?, answer_status = ?, answer = ? WHERE id = ?"
_REQUESTS = (
    "SELECT r.id, r.endpoint, r.forge, r.hook, r.delivery, r.forge_id, r.event, r.failed_at, "
    "r.failure, r.requested_at, r.outcome, r.answer_status, r.answer, "
    "EXISTS (SELECT 1 FROM deliveries d WHERE d.endpoint = r.endpoint "
    "AND d.delivery = r.delivery AND d.status = 'accepted' AND d.replay_of IS NULL) "
    "FROM catch_up_requests r WHERE r.id < ? ORDER BY r.id DESC LIMIT ?"
)
NEWEST = "~"  # sorts after every id: the first page of `requests`


def _held(count: int) -> str:
    """The conditions of the dedupe index (migration 0001), so it answers."""
    return (
        "SELECT delivery FROM deliveries WHERE endpoint = ? AND status = 'accepted' "
        "AND replay_of IS NULL AND delivery IS NOT NULL "
        f"AND delivery IN ({', '.join('?' * count)})"
    )


def _asked(count: int) -> str:
    return (
        "SELECT delivery FROM catch_up_requests WHERE endpoint = ? "
        f"AND delivery IN ({', '.join('?' * count)})"
    )


class Db(Protocol):
    async def rows(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]: ...

    async def run(self, statements: Sequence[Statement]) -> list[int]:
        """Run the statements in one transaction; their row counts."""

    def lock(self) -> contextlib.AbstractAsyncContextManager[bool]: ...

    def stored(self, moment: datetime | None) -> Any: ...

    def moment(self, value: Any) -> datetime | None: ...

    def json(self, value: Any) -> Any: ...


class CatchUpStore:
    """Catch-up's reads and writes, the same on both backends."""

    def __init__(self, db: Db) -> None:
        self._db = db

    def lock(self) -> contextlib.AbstractAsyncContextManager[bool]:
        """Held by one catch-up at a time across processes (PostgreSQL); yields False when
        another process holds it."""
        return self._db.lock()

    async def hooks(self, endpoint: str) -> list[HookState]:
        rows = await self._db.rows(_HOOKS, (endpoint,))
        moment = self._db.moment
        return [
            HookState(hook, seen, moment(caught_up), moment(gone))
            for hook, seen_at, caught_up, gone in rows
            if (seen := moment(seen_at)) is not None
        ]

    async def save_hooks(
        self, endpoint: str, hooks: Sequence[HookState], scanned_through: str | None = None
    ) -> None:
        """Add or update `hooks` (when each was caught up, or found gone); with
        `scanned_through`, remember the newest delivery read for hooks."""
        stored = self._db.stored
        statements: list[Statement] = [
            (
                _SAVE_HOOK,
                (endpoint, h.hook, stored(h.seen_at), stored(h.caught_up_at), stored(h.gone_at)),
            )
            for h in hooks
        ]
        if scanned_through is not None:
            statements.append((_SAVE_SCANNED, (endpoint, scanned_through)))
        if statements:
            await self._db.run(statements)

    async def scanned_through(self, endpoint: str) -> str | None:
        rows = await self._db.rows(_SCANNED, (endpoint,))
        return str(rows[0][0]) if rows else None

    async def new_deliveries(
        self, endpoint: str, after: str | None, limit: int
    ) -> list[SeenDelivery]:
        """Accepted deliveries of `endpoint` stored after the one with id `after`, oldest
        first, at most `limit`."""
        rows = await self._db.rows(_NEW_DELIVERIES, (endpoint, after or "", limit))
        return [
            SeenDelivery(
                id,
                [(str(n), str(v)) for n, v in self._db.json(headers) or []],
                repository,
            )
            for id, headers, repository in rows
        ]

    async def held(self, endpoint: str, keys: Sequence[str]) -> set[str]:
        """Which of these forge delivery ids `endpoint` accepted."""
        return await self._in(_held, endpoint, keys)

    async def asked(self, endpoint: str, keys: Sequence[str]) -> set[str]:
        """Which of these forge delivery ids catch-up already asked for."""
        return await self._in(_asked, endpoint, keys)

    async def _in(
        self, statement: Callable[[int], str], endpoint: str, keys: Sequence[str]
    ) -> set[str]:
        found: set[str] = set()
        unique = sorted(set(keys))
        for start in range(0, len(unique), 200):
            chunk = unique[start : start + 200]
            rows = await self._db.rows(statement(len(chunk)), (endpoint, *chunk))
            found.update(str(row[0]) for row in rows)
        return found

    async def claim(self, request: CatchUpRequest) -> bool:
        """Record that `request` is being made; False if its delivery was asked for before
        (by this process or another), in which case nothing is recorded."""
        stored = self._db.stored
        r = request
        params = (
            r.id, r.endpoint, r.forge, r.hook, r.delivery, r.forge_id, r.event,
            stored(r.failed_at), r.failure, stored(r.requested_at), r.outcome,
        )  # fmt: skip
        counts = await self._db.run([(_CLAIM, params)])
        return counts[0] == 1

    async def finish(
        self, request_id: str, outcome: str, answer_status: int | None, answer: str | None
    ) -> None:
        await self._db.run([(_FINISH, (outcome, answer_status, answer, request_id))])

    async def requests(self, limit: int, before: str | None = None) -> list[CatchUpRequest]:
        """Requests newest first, at most `limit`, older than the one with id `before`."""
        rows = await self._db.rows(_REQUESTS, (before or NEWEST, limit))
        moment = self._db.moment
        return [
            CatchUpRequest(
                id=row[0],
                endpoint=row[1],
                forge=row[2],
                hook=row[3],
                delivery=row[4],
                forge_id=row[5],
                event=row[6],
                failed_at=moment(row[7]),
                failure=row[8],
                requested_at=moment(row[9]) or datetime.min,
                outcome=row[10],
                answer_status=row[11],
                answer=row[12],
                arrived=bool(row[13]),
            )
            for row in rows
        ]


class Sqlite:
    """A `Db` on a SQLite store: reads on its readers, writes through its writer."""

    def __init__(
        self,
        read: Callable[[Callable[[sqlite3.Connection], Any]], Awaitable[Any]],
        write: Callable[[Callable[[sqlite3.Connection], Any]], Awaitable[Any]],
    ) -> None:
        self._read, self._write = read, write

    async def rows(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        found: list[tuple[Any, ...]] = await self._read(
            lambda c: c.execute(sql, tuple(params)).fetchall()
        )
        return found

    async def run(self, statements: Sequence[Statement]) -> list[int]:
        def operation(connection: sqlite3.Connection) -> list[int]:
            return [connection.execute(sql, tuple(p)).rowcount for sql, p in statements]

        counts: list[int] = await self._write(operation)
        return counts

    @contextlib.asynccontextmanager
    async def lock(self) -> AsyncIterator[bool]:
        """One SQLite file has one writer: the claim's unique index is lock enough."""
        yield True

    def stored(self, moment: datetime | None) -> Any:
        return iso(moment)

    def moment(self, value: Any) -> datetime | None:
        return parse_iso(value)

    def json(self, value: Any) -> Any:
        return orjson.loads(value) if value else None


def postgresql(sql: str) -> str:
    """The statement with psycopg's placeholders."""
    return sql.replace("?", "%s")


class Postgres:
    """A `Db` on a PostgreSQL store: statements on its pool; the lock on a connection of
    its own, held for the catch-up and released by closing it."""

    def __init__(
        self,
        connected: Callable[[Callable[[Connection], Awaitable[Any]]], Awaitable[Any]],
        connect: Callable[[Target], Awaitable[Connection]],
        target: Target,
    ) -> None:
        self._connected, self._connect, self._target = connected, connect, target

    async def rows(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        async def query(connection: Connection) -> list[tuple[Any, ...]]:
            cursor = await connection.execute(postgresql(sql), tuple(params))
            return list(await cursor.fetchall())

        found: list[tuple[Any, ...]] = await self._connected(query)
        return found

    async def run(self, statements: Sequence[Statement]) -> list[int]:
        async def operation(connection: Connection) -> list[int]:
            counts = []
            async with connection.transaction():
                for sql, params in statements:
                    cursor = await connection.execute(postgresql(sql), tuple(params))
                    counts.append(cursor.rowcount)
            return counts

        counts: list[int] = await self._connected(operation)
        return counts

    @contextlib.asynccontextmanager
    async def lock(self) -> AsyncIterator[bool]:
        connection = await self._connect(self._target)
        try:
            cursor = await connection.execute("SELECT pg_try_advisory_lock(%s, %s)", CATCH_UP_LOCK)
            row = await cursor.fetchone()
            yield bool(row and row[0])
        finally:
            await connection.close()

    def stored(self, moment: datetime | None) -> Any:
        return moment

    def moment(self, value: Any) -> datetime | None:
        return value if isinstance(value, datetime) else None

    def json(self, value: Any) -> Any:
        return value
