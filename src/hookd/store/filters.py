"""The WHERE clauses of the list queries (`hookd.store.queries`), with `:name` parameters."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from hookd.store.ids import ALPHABET
from hookd.store.records import DeliveryQuery, JobQuery

Clauses = tuple[list[str], dict[str, Any]]

# How much later than its `received_at` an id may have been made: the write queue's wait,
# or a clock stepped back (ids never go back, so they run ahead until it catches up).
ID_CLOCK_SLACK = timedelta(hours=1)


def id_floor(moment: datetime, slack: timedelta = timedelta(0)) -> str:
    """The smallest id made at `moment + slack` (store/ids.py's layout: 48 bits of
    milliseconds, then 80 random bits), clamped to the ids that layout can hold."""
    millis = int(moment.timestamp() * 1000 + slack.total_seconds() * 1000)
    value = min(max(millis, 0), (1 << 48) - 1) << 80
    return "".join(ALPHABET[(value >> shift) & 31] for shift in range(125, -1, -5))


def delivery_filters(query: DeliveryQuery) -> Clauses:
    """Every filter of `query` but `hook` (see `hookd.store.deliveries`), on the table
    aliased `d`."""
    where: list[str] = []
    params: dict[str, Any] = {}
    for column, value in (
        ("endpoint", query.endpoint),
        ("event", query.event),
        ("status", query.status),
        ("repository", query.repository),
    ):
        if value is not None:
            where.append(f"d.{column} = :{column}")
            params[column] = value
    # Ids are time-ordered and made after `received_at` is read, so a time range is also an
    # id range: the newest-first scan then starts and stops near the range instead of
    # reading every newer row. `received_at` still decides exactly.
    if query.since is not None:
        where.append("d.received_at >= :since AND d.id >= :since_id")
        params.update(since=query.since, since_id=id_floor(query.since))
    if query.until is not None:
        where.append("d.received_at < :until AND d.id < :until_id")
        params.update(until=query.until, until_id=id_floor(query.until, ID_CLOCK_SLACK))
    _cursor(where, params, "d.id", query.before, query.after)
    return where, params


def job_filters(query: JobQuery) -> Clauses:
    where: list[str] = []
    params: dict[str, Any] = {}
    for column, value in (
        ("status", query.status),
        ("hook", query.hook),
        ("delivery_id", query.delivery_id),
    ):
        if value is not None:
            where.append(f"{column} = :{column}")
            params[column] = value
    _cursor(where, params, "id", query.before, None)
    return where, params


def _cursor(
    where: list[str], params: dict[str, Any], column: str, before: str | None, after: str | None
) -> None:
    if before is not None:
        where.append(f"{column} < :before")
        params["before"] = before
    if after is not None:
        where.append(f"{column} > :after")
        params["after"] = after


def where_clause(where: list[str]) -> str:
    return f"WHERE {' AND '.join(where)}" if where else ""


# Deliveries deleted per prune transaction: small enough that a delivery arriving meanwhile
# waits milliseconds for the writer, not the whole prune.
PRUNE_BATCH = 500


async def prune_in_batches(delete_batch: Callable[[int], Awaitable[int]]) -> int:
    """Call `delete_batch(limit)` (one transaction each, so writers wait at most one batch)
    until a batch comes back short; return how many rows went in all."""
    total = 0
    while True:
        removed = await delete_batch(PRUNE_BATCH)
        total += removed
        if removed < PRUNE_BATCH:
            return total
