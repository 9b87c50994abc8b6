"""The SQL of the PostgreSQL backend for reading deliveries, and pruning them (recording
them is in postgres_record)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hookd.errors import NotFound
from hookd.store.filters import delivery_filters, where_clause
from hookd.store.postgres_connect import Connection
from hookd.store.postgres_record import BODY_PIECE
from hookd.store.records import (
    DeliveryDetail,
    DeliveryQuery,
    DeliveryRecord,
)


async def schema_version(connection: Connection) -> int:
    cursor = await connection.execute("SELECT max(version) FROM schema_migrations")
    row = await cursor.fetchone()
    return int(row[0] or 0) if row else 0


_LIST_COLUMNS = """
d.id, d.delivery, d.endpoint, d.forge, d.event, d.action, d.repository, d.received_at,
d.status, d.reason, d.hooks, d.size, d.remote_addr, d.replay_of, d.duplicate_of,
ARRAY(SELECT j.id FROM jobs j WHERE j.delivery_id = d.id ORDER BY j.id)
"""


async def select_deliveries(connection: Connection, query: DeliveryQuery) -> list[DeliveryRecord]:
    where, params = delivery_filters(query, "%s", lambda moment: moment)
    if query.hook is not None:  # matched a hook exactly when it has a job for it
        where.append("EXISTS (SELECT 1 FROM jobs j WHERE j.delivery_id = d.id AND j.hook = %s)")
        params.append(query.hook)
    cursor = await connection.execute(
        f"SELECT {_LIST_COLUMNS} FROM deliveries d {where_clause(where)} "
        "ORDER BY d.id DESC LIMIT %s",
        (*params, query.limit),
    )
    return [_record(row) for row in await cursor.fetchall()]


def _record(row: tuple[Any, ...]) -> DeliveryRecord:
    return DeliveryRecord(
        id=row[0], delivery=row[1], endpoint=row[2], forge=row[3], event=row[4], action=row[5],
        repository=row[6], received_at=row[7].astimezone(UTC), status=row[8], reason=row[9],
        hooks=tuple(row[10] or ()), jobs=tuple(row[15]), size=row[11], remote_addr=row[12],
        replay_of=row[13], duplicate_of=row[14],
    )  # fmt: skip


# A large body is read in pieces after the row: selected whole, libpq would hold all of it
# (as hex, twice its size) while the driver made its own copy.
_SELECT_DELIVERY = f"""
SELECT {_LIST_COLUMNS}, d.content_type, d.headers,
    CASE WHEN octet_length(d.body) <= {BODY_PIECE} THEN d.body END,
    d.trace, d.forge_event, octet_length(d.body)
FROM deliveries d WHERE d.id = %s
"""

_SELECT_BODY_PIECE = "SELECT substring(body FROM %s FOR %s) FROM deliveries WHERE id = %s"


async def select_delivery(connection: Connection, delivery_id: str) -> DeliveryDetail:
    cursor = await connection.execute(_SELECT_DELIVERY, (delivery_id,))
    row = await cursor.fetchone()
    if row is None:
        raise NotFound(f"no delivery {delivery_id}")
    size = row[21]
    body = row[18]
    if body is None and size is not None:
        body = await _read_body(connection, delivery_id, size)
    return DeliveryDetail(
        record=_record(row),
        content_type=row[16],
        headers=tuple(tuple(pair) for pair in row[17] or ()),
        body=body,
        trace=tuple(row[19] or ()),
        forge_event=row[20],
    )


async def _read_body(connection: Connection, delivery_id: str, size: int) -> bytearray:
    body = bytearray(size)
    cursor = connection.cursor(binary=True)
    for start in range(0, size, BODY_PIECE):
        await cursor.execute(_SELECT_BODY_PIECE, (start + 1, BODY_PIECE, delivery_id))
        row = await cursor.fetchone()
        if row is None:
            raise NotFound(f"no delivery {delivery_id}")
        body[start : start + BODY_PIECE] = row[0]
    return body


# Oldest first through the received_at index; a delivery whose jobs are still queued or
# running is skipped (a worker holds it). Jobs and their logs go by ON DELETE CASCADE.
_PRUNE = """
DELETE FROM deliveries WHERE id IN (
    SELECT d.id FROM deliveries d
    WHERE d.received_at < %s AND NOT EXISTS (
        SELECT 1 FROM jobs j WHERE j.delivery_id = d.id AND j.status IN ('queued', 'running'))
    ORDER BY d.received_at
    LIMIT %s)
"""


async def prune_batch(connection: Connection, before: datetime, limit: int) -> int:
    """Delete at most `limit` deliveries received before `before`; return how many went."""
    cursor = await connection.execute(_PRUNE, (before, limit))
    return cursor.rowcount
