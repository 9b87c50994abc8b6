"""The relay's own SQLite file: channels, the requests posted to them, and how far each
subscriber has acknowledged. It is separate from hookd's store: a relay runs on a VPS
with no hookd.yaml.

WAL with synchronous=FULL; every write goes through hookd's group-commit writer, so a
request is on disk before the relay answers for it. Reads run on their own connections.
Channel tokens are kept only as SHA-256 digests.

The bytes stored are counted in the file itself, per channel and in all, by the same
transactions that store and prune requests: the storage quotas hold across restarts.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import orjson

from hookd.errors import StoreError
from hookd.relay.wire import Pairs, Relayed
from hookd.store.sqlite_sql import BLOB_PIECE
from hookd.store.writer import Writer, connect_wal

T = TypeVar("T")

SCHEMA = """
-- last_seq only grows, even when old requests are pruned, so a channel's event ids only
-- ever grow and Last-Event-ID stays meaningful. Each channel counts on its own: a
-- subscriber learns nothing of other channels' traffic from its ids.
-- stored_bytes: what the channel's requests take (see stored_size).
CREATE TABLE IF NOT EXISTS channels (
    id TEXT PRIMARY KEY,
    token_sha256 BLOB NOT NULL,
    last_seq INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    stored_bytes INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS requests (
    channel TEXT NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    method TEXT NOT NULL,
    query TEXT NOT NULL,
    headers TEXT NOT NULL,
    content_type TEXT,
    body BLOB NOT NULL,
    received_at REAL NOT NULL,
    PRIMARY KEY (channel, seq)
);
CREATE INDEX IF NOT EXISTS requests_by_age ON requests (received_at);
CREATE TABLE IF NOT EXISTS acknowledgements (
    channel TEXT NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    subscriber TEXT NOT NULL,
    seq INTEGER NOT NULL,
    acknowledged_at REAL NOT NULL,
    PRIMARY KEY (channel, subscriber)
);
-- One row: what all the channels' requests take.
CREATE TABLE IF NOT EXISTS usage (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    stored_bytes INTEGER NOT NULL
);
"""

# What a stored request counts for is its body, headers and query in bytes as stored:
# `length(body) + length(CAST(headers AS BLOB)) + length(CAST(query AS BLOB))` in SQL,
# `stored_size` before the row exists.
_FREED = """
SELECT channel,
    sum(length(body) + length(CAST(headers AS BLOB)) + length(CAST(query AS BLOB)))
FROM requests WHERE received_at < ? GROUP BY channel
"""

# Files from before the quotas: count what their requests take, once.
_COUNT_STORED = """
UPDATE channels SET stored_bytes = (
    SELECT coalesce(sum(
        length(body) + length(CAST(headers AS BLOB)) + length(CAST(query AS BLOB))
    ), 0)
    FROM requests WHERE channel = channels.id
)
"""
_COUNT_TOTAL = """
INSERT OR IGNORE INTO usage (id, stored_bytes)
    SELECT 1, coalesce(sum(stored_bytes), 0) FROM channels;
"""

QuotaScope = Literal["channel", "total"]


@dataclass(frozen=True)
class Usage:
    """Bytes stored by one channel's requests, and by all the relay's."""

    channel: int
    total: int


# Compared against when a channel does not exist, so an unknown channel costs the same
# time as a wrong token.
_NO_CHANNEL = hashlib.sha256(b"no such channel").digest()


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


def stored_size(query: str, headers: str, body: bytes) -> int:
    """What a request counts for against the storage quotas (as `_FREED` counts it)."""
    return len(body) + len(headers.encode("utf-8")) + len(query.encode("utf-8"))


class RelayStorage:
    """The relay's durable state in one SQLite file. Open before use, close after."""

    def __init__(self, path: Path, timeout: float = 5.0) -> None:
        self.path = path
        self._timeout = timeout
        self._writer = Writer(self._connect)
        self._readers = ThreadPoolExecutor(2, thread_name_prefix="hookd-relay-read")
        self._local = threading.local()
        self._reader_connections: list[sqlite3.Connection] = []

    def _connect(self) -> sqlite3.Connection:
        return connect_wal(self.path, self._timeout)

    def create(self) -> None:
        """Create the file and its tables if needed (idempotent; blocking). Raises
        StoreError with a sentence when the file cannot be opened."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = self._connect()
            try:
                connection.executescript(SCHEMA)
                _count_stored_bytes(connection)
            finally:
                connection.close()
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the relay database {self.path}: {exc}") from exc

    async def open(self) -> None:
        """Create the file and its tables if needed and start the writer."""
        await asyncio.to_thread(self.create)
        await self._writer.start()

    async def close(self) -> None:
        await self._writer.stop()
        self._readers.shutdown(wait=True)
        for connection in self._reader_connections:
            connection.close()
        self._reader_connections.clear()

    async def _write(self, operation: Callable[[sqlite3.Connection], T], slow: bool = False) -> T:
        return await self._writer.run(operation, slow=slow)

    async def _read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
            if connection is None:
                connection = self._connect()
                self._local.connection = connection
                self._reader_connections.append(connection)
            return query(connection)

        try:
            return await asyncio.get_running_loop().run_in_executor(self._readers, run)
        except sqlite3.Error as exc:
            raise StoreError(f"the relay database could not be read: {exc}") from exc

    async def create_channel(self, now: float) -> tuple[str, str]:
        """A new channel: its id (128 random bits, hex) and its subscriber token."""
        channel, token = secrets.token_hex(16), secrets.token_urlsafe(32)
        await self._write(
            lambda db: db.execute(
                "INSERT INTO channels (id, token_sha256, created_at) VALUES (?, ?, ?)",
                (channel, token_digest(token), now),
            )
        )
        return channel, token

    async def usage(self, channel: str) -> Usage | None:
        """The bytes stored by `channel` and by the whole relay; None for an unknown channel."""
        row = await self._read(
            lambda db: db.execute(
                "SELECT c.stored_bytes, u.stored_bytes FROM channels c, usage u WHERE c.id = ?",
                (channel,),
            ).fetchone()
        )
        return Usage(int(row[0]), int(row[1])) if row is not None else None

    async def authorized(self, channel: str, token: str) -> bool:
        """Whether `token` is `channel`'s subscriber token; False for an unknown channel.
        The digests are compared in constant time."""
        row = await self._read(
            lambda db: db.execute(
                "SELECT token_sha256 FROM channels WHERE id = ?", (channel,)
            ).fetchone()
        )
        expected = bytes(row[0]) if row is not None else _NO_CHANNEL
        return hmac.compare_digest(expected, token_digest(token)) and row is not None

    async def add_request(
        self,
        channel: str,
        method: str,
        query: str,
        headers: Pairs,
        body: bytes,
        now: float,
        quotas: Usage,
    ) -> int | QuotaScope:
        """Store a request durably; returns its sequence number in the channel (its event
        id), or, storing nothing, the scope whose storage quota in `quotas` it would pass.
        The channel must exist."""
        content_type = next((v for k, v in headers if k.lower() == "content-type"), None)
        encoded = orjson.dumps([list(pair) for pair in headers]).decode("utf-8")
        size = stored_size(query, encoded, body)

        def insert(db: sqlite3.Connection) -> int | QuotaScope:
            stored = db.execute(
                "SELECT c.stored_bytes, u.stored_bytes FROM channels c, usage u WHERE c.id = ?",
                (channel,),
            ).fetchone()
            if stored[0] + size > quotas.channel:
                return "channel"
            if stored[1] + size > quotas.total:
                return "total"
            (seq,) = db.execute(
                "UPDATE channels SET last_seq = last_seq + 1 WHERE id = ? RETURNING last_seq",
                (channel,),
            ).fetchone()
            db.execute(
                "INSERT INTO requests (channel, seq, method, query, headers, content_type, body,"
                " received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (channel, seq, method, query, encoded, content_type, body, now),
            )
            db.execute(
                "UPDATE channels SET stored_bytes = stored_bytes + ? WHERE id = ?", (size, channel)
            )
            db.execute("UPDATE usage SET stored_bytes = stored_bytes + ?", (size,))
            return int(seq)

        return await self._write(insert, slow=len(body) > BLOB_PIECE)

    async def requests_after(self, channel: str, seq: int, limit: int = 50) -> list[Relayed]:
        """The channel's requests with a sequence number above `seq`, oldest first."""
        rows = await self._read(
            lambda db: db.execute(
                "SELECT seq, method, query, headers, body, received_at FROM requests"
                " WHERE channel = ? AND seq > ? ORDER BY seq LIMIT ?",
                (channel, seq, limit),
            ).fetchall()
        )
        return [_relayed(row) for row in rows]

    async def acknowledged(self, channel: str, subscriber: str) -> int:
        """The highest sequence number `subscriber` acknowledged on `channel` (0: none)."""
        row = await self._read(
            lambda db: db.execute(
                "SELECT seq FROM acknowledgements WHERE channel = ? AND subscriber = ?",
                (channel, subscriber),
            ).fetchone()
        )
        return int(row[0]) if row is not None else 0

    async def acknowledge(self, channel: str, subscriber: str, seq: int, now: float) -> int:
        """Record that `subscriber` handled everything up to `seq`; an older number never
        moves the mark back. Returns the mark."""

        def upsert(db: sqlite3.Connection) -> int:
            db.execute(
                "INSERT INTO acknowledgements (channel, subscriber, seq, acknowledged_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (channel, subscriber) DO UPDATE SET"
                " seq = max(seq, excluded.seq), acknowledged_at = excluded.acknowledged_at",
                (channel, subscriber, seq, now),
            )
            row = db.execute(
                "SELECT seq FROM acknowledgements WHERE channel = ? AND subscriber = ?",
                (channel, subscriber),
            ).fetchone()
            return int(row[0])

        return await self._write(upsert)

    async def prune(self, before: float) -> int:
        """Delete requests received before `before`, and what they took from the stored
        bytes; returns how many went."""

        def delete(db: sqlite3.Connection) -> int:
            freed = db.execute(_FREED, (before,)).fetchall()
            db.executemany(
                "UPDATE channels SET stored_bytes = stored_bytes - ? WHERE id = ?",
                [(size, channel) for channel, size in freed],
            )
            db.execute(
                "UPDATE usage SET stored_bytes = stored_bytes - ?",
                (sum(size for _channel, size in freed),),
            )
            deleted: int = db.execute(
                "DELETE FROM requests WHERE received_at < ?", (before,)
            ).rowcount
            return deleted

        return await self._write(delete, slow=True)


def _count_stored_bytes(connection: sqlite3.Connection) -> None:
    """Start counting stored bytes in a file made before the count was kept (idempotent)."""
    if connection.execute("SELECT 1 FROM usage").fetchone() is not None:
        return
    connection.execute("BEGIN IMMEDIATE")
    try:
        columns = {row[1] for row in connection.execute("PRAGMA table_info(channels)")}
        if "stored_bytes" not in columns:
            connection.execute(
                "ALTER TABLE channels ADD COLUMN stored_bytes INTEGER NOT NULL DEFAULT 0"
            )
        connection.execute(_COUNT_STORED)
        connection.execute(_COUNT_TOTAL)
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def _relayed(row: Any) -> Relayed:
    seq, method, query, headers, body, received_at = row
    return Relayed(
        id=str(seq),
        method=method,
        headers=tuple((str(name), str(value)) for name, value in orjson.loads(headers)),
        body=bytes(body),
        query=query,
        received_at=received_at,
    )
