"""Deliveries, rejected requests, pruning, sessions and the schema version, for both
backends (see `hookd.store.steps`). Recording an accepted delivery differs: SQLite's is in
`hookd.store.sqlite_sql`, PostgreSQL's one statement in `hookd.store.postgres_record`; both
use what is here for duplicates and jobs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from hookd.core.delivery import Delivery
from hookd.core.vocabulary import DeliveryStatus
from hookd.errors import NotFound
from hookd.store import queries as q
from hookd.store.filters import delivery_filters, where_clause
from hookd.store.ids import new_id
from hookd.store.records import (
    REJECTIONS_KEPT,
    DeliveryQuery,
    DeliveryRecord,
    Recorded,
    RejectedRequest,
)
from hookd.store.rows import delivery_record
from hookd.store.steps import Row, Steps, all_rows, count, many, one

# A rare hook's few deliveries are read straight from the jobs index; for a common one each
# row of the newest-first scan is checked, and a page fills early. On SQLite a probe decides
# which in at most HOOK_PROBE index steps, so neither case reads far; PostgreSQL's planner
# decides by itself.
HOOK_PROBE = 5000


def select_deliveries(query: DeliveryQuery, *, probe_hook: bool) -> Steps[list[DeliveryRecord]]:
    where, params = delivery_filters(query)
    if query.hook is not None:
        found = q.HOOK_PER_ROW
        if probe_hook:
            row = yield one(q.HOOK_SEEN, hook=query.hook, most=HOOK_PROBE)
            if row["seen"] < HOOK_PROBE:
                found = q.HOOK_IN_INDEX
        where.append(found)
        params["hook"] = query.hook
    text = q.LIST_DELIVERIES.replace("{where}", where_clause(where))
    rows = yield all_rows(text, **params, limit=query.limit)
    return [delivery_record(row) for row in rows]


def delivery_row(delivery_id: str, most: int) -> Steps[Row]:
    """The delivery's row, its body only if at most `most` bytes (`body_size` says)."""
    row = yield one(q.GET_DELIVERY, most=most, id=delivery_id)
    if row is None:
        raise NotFound(f"no delivery {delivery_id}")
    return row


def first_with_id(delivery: Delivery) -> Steps[Recorded | None]:
    """The delivery the endpoint accepted first with this forge delivery id, if any."""
    if delivery.delivery_id is None:
        return None
    row = yield one(q.FIRST_WITH_ID, endpoint=delivery.endpoint, delivery=delivery.delivery_id)
    if row is None:
        return None
    return Recorded(row["id"], DeliveryStatus.DUPLICATE, delivery=delivery.delivery_id)


def first_with_body(endpoint: str, sha256: bytes, since: datetime) -> Steps[Recorded | None]:
    """The delivery the endpoint accepted with this body since `since`, if any."""
    row = yield one(q.FIRST_WITH_BODY, endpoint=endpoint, sha256=sha256, since=since)
    if row is None:
        return None
    return Recorded(row["id"], DeliveryStatus.DUPLICATE, delivery=row["delivery"], same_body=True)


def insert_duplicate(
    delivery: Delivery,
    received_at: datetime,
    remote_addr: str | None,
    original: Recorded,
    config: str | None = None,
) -> Steps[Recorded]:
    """Record a delivery whose forge id its endpoint accepted before, and which configuration
    (`config`, its short hash) decided that; return the original."""
    duplicate_id = new_id()
    yield count(
        q.INSERT_DUPLICATE, id=duplicate_id, delivery=delivery.delivery_id,
        endpoint=delivery.endpoint, forge=delivery.forge, event=delivery.event,
        forge_event=delivery.forge_event, action=delivery.action,
        repository=delivery.repository, at=received_at, remote_addr=remote_addr,
        size=len(delivery.body), content_type=delivery.content_type, duplicate_of=original.id,
    )  # fmt: skip
    if config is not None:
        yield count(q.INSERT_DELIVERY_CONFIG, id=duplicate_id, config=config)
    return original


def delivery_values(
    delivery_id: str,
    delivery: Delivery,
    received_at: datetime | str,
    remote_addr: str | None,
    trace_json: str,
    hooks: tuple[str, ...],
) -> dict[str, Any]:
    """The parameters of an accepted delivery's row (`INSERT_DELIVERY`, `RECORD`)."""
    return {
        "id": delivery_id, "delivery": delivery.delivery_id, "endpoint": delivery.endpoint,
        "forge": delivery.forge, "event": delivery.event, "forge_event": delivery.forge_event,
        "action": delivery.action, "repository": delivery.repository, "ref": delivery.ref,
        "sha": delivery.sha, "at": received_at, "http_status": 200 if delivery.is_ping else 202,
        "remote_addr": remote_addr, "size": len(delivery.body),
        "content_type": delivery.content_type, "headers": orjson.dumps(delivery.headers).decode(),
        "body": delivery.body, "hooks": orjson.dumps(hooks).decode(), "trace": trace_json,
    }  # fmt: skip


TRIM_BATCH = 2 * REJECTIONS_KEPT
"""Rejected requests of an endpoint one call drops at most: more than a batch adds, so the
sample stays bounded, and a backlog from before it was goes over a few calls instead of
holding up the writer for long once."""


def insert_rejections(rejected: Sequence[RejectedRequest], keep: int) -> Steps[list[str]]:
    """Insert the rejected requests and trim their endpoints' samples (in one transaction:
    the caller's)."""
    ids = [new_id() for _ in rejected]
    yield many(
        q.INSERT_REJECTED,
        [
            {
                "id": rejection_id, "endpoint": it.endpoint, "at": it.received_at,
                "reason": it.reason, "http_status": it.status, "path": it.path,
                "remote_addr": it.remote_addr, "size": it.size, "event": it.event,
                "delivery": it.delivery,
            }
            for rejection_id, it in zip(ids, rejected, strict=True)
        ],
    )  # fmt: skip
    for endpoint in sorted({it.endpoint for it in rejected if it.endpoint is not None}):
        yield count(q.TRIM_REJECTED, endpoint=endpoint, batch=TRIM_BATCH, keep=keep)
    return ids


def prune_batch(before: datetime, limit: int) -> Steps[int]:
    """Delete at most `limit` deliveries received before `before`; return how many went."""
    removed = yield count(q.PRUNE, before=before, limit=limit)
    return int(removed)


def revoke_session(digest: str, until: datetime, now: datetime) -> Steps[None]:
    """Remember a signed-out session until its cookie would have expired anyway, and forget
    those whose time has passed (so the table holds at most one cookie lifetime's)."""
    yield count(q.FORGET_REVOKED, now=now)
    yield count(q.REVOKE_SESSION, digest=digest, until=until)


def session_revoked(digest: str, now: datetime) -> Steps[bool]:
    row = yield one(q.SESSION_REVOKED, digest=digest, now=now)
    return row is not None


def schema_version() -> Steps[int]:
    row = yield one(q.SCHEMA_VERSION)
    return int(row["version"])
