"""Recording deliveries in PostgreSQL: the hot path of every receiver. Runs on a connection in
autocommit mode and opens a transaction only when it needs one."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
import psycopg

from hookd.core.delivery import Body, Delivery
from hookd.errors import StoreError
from hookd.store.ids import new_id
from hookd.store.postgres_connect import Connection
from hookd.store.records import (
    REJECTIONS_KEPT,
    NewJob,
    Recorded,
    RejectedRequest,
    ReplayGuard,
)

# One statement (so one round trip, atomic without BEGIN/COMMIT) stores the delivery and,
# if it was not a duplicate, its jobs. The conflict target names the dedupe index, so only
# a second accepted copy of a forge delivery id counts as a duplicate, whichever receiver
# it reached; any other violation is an error. With a body digest (`sha256`), a body that
# its endpoint accepted since `since` is a duplicate too, and an accepted one claims the
# digest's row: the insert, without ON CONFLICT, fails the whole statement when another
# receiver claimed it first (or a row whose window has passed still holds it).
_INSERT = """
WITH delivery AS (
    INSERT INTO deliveries (id, delivery, endpoint, forge, event, forge_event, action,
        repository, ref, sha, received_at, status, http_status, remote_addr, size,
        content_type, headers, body, hooks, trace, replay_of)
    SELECT %(id)s, %(delivery)s, %(endpoint)s, %(forge)s, %(event)s, %(forge_event)s,
        %(action)s, %(repository)s, %(ref)s, %(sha)s, %(at)s, 'accepted', %(http_status)s,
        %(remote_addr)s, %(size)s, %(content_type)s, %(headers)s::jsonb,
        coalesce(%(body)s::bytea, lo_get(%(body_object)s::oid)),
        %(hooks)s::jsonb, %(trace)s::jsonb, %(replay_of)s
    WHERE %(sha256)s::bytea IS NULL OR NOT EXISTS (
        SELECT 1 FROM body_digests b WHERE b.endpoint = %(endpoint)s
            AND b.sha256 = %(sha256)s::bytea AND b.received_at >= %(since)s::timestamptz)
    ON CONFLICT (endpoint, delivery)
        WHERE status = 'accepted' AND replay_of IS NULL AND delivery IS NOT NULL
    DO NOTHING
    RETURNING id
), claim AS (
    INSERT INTO body_digests (endpoint, sha256, delivery_id, received_at)
    SELECT %(endpoint)s, %(sha256)s::bytea, delivery.id, %(at)s
    FROM delivery WHERE %(sha256)s::bytea IS NOT NULL
), made AS (
    INSERT INTO jobs (id, delivery_id, hook, status, max_attempts, error, queued_at, run_after,
        finished_at)
    SELECT job.id, delivery.id, job.hook, job.status, job.max_attempts, job.error, %(at)s,
        %(at)s, CASE WHEN job.status = 'queued' THEN NULL ELSE %(at)s::timestamptz END
    FROM delivery, jsonb_to_recordset(%(jobs)s::jsonb)
        AS job (id text, hook text, status text, max_attempts integer, error text)
)
SELECT count(*) FROM delivery
"""

_INSERT_DUPLICATE = """
INSERT INTO deliveries (id, delivery, endpoint, forge, event, forge_event, action, repository,
    received_at, status, http_status, remote_addr, size, content_type, duplicate_of)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'duplicate', 200, %s, %s, %s, %s)
"""

_FIRST_WITH_ID = """
SELECT id FROM deliveries
WHERE endpoint = %s AND delivery = %s AND status = 'accepted' AND replay_of IS NULL
"""

_FIRST_WITH_BODY = """
SELECT d.id, d.delivery FROM body_digests b JOIN deliveries d ON d.id = b.delivery_id
WHERE b.endpoint = %s AND b.sha256 = %s AND b.received_at >= %s
"""

# The digest's row outlived its window: the next identical body takes its place.
_EXPIRE_DIGEST = """
DELETE FROM body_digests WHERE endpoint = %s AND sha256 = %s AND received_at < %s
"""

_INSERT_JOB = """
INSERT INTO jobs (id, delivery_id, hook, status, max_attempts, error, concurrency_group,
    queued_at, run_after, finished_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
"""

# Taken by receivers before they replace a group's queued jobs, as claims try it (see
# postgres_jobs): one transaction at a time decides what a group runs next, in any process.
_LOCK_GROUP = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"

BODY_PIECE = 1024 * 1024
"""A body longer than this is sent in pieces of this size: sent whole as a parameter, the
driver and libpq would each hold a copy of it at once."""


async def insert_delivery(
    connection: Connection,
    delivery: Delivery,
    received_at: datetime,
    remote_addr: str | None,
    trace_json: str,
    jobs: Sequence[NewJob],
    replay_of: str | None,
    guard: ReplayGuard | None = None,
) -> Recorded:
    """Store a delivery and its jobs, or a duplicate row if its endpoint already accepted
    its forge id, or (with `guard`) its body within the guard's window. A body claimed
    meanwhile by another receiver is a duplicate of that one; a claim whose window has
    passed is dropped and the delivery recorded again."""
    guard = guard if replay_of is None else None
    for _ in range(CLAIM_TRIES):
        try:
            return await _record(
                connection, delivery, received_at, remote_addr, trace_json, jobs, replay_of, guard
            )
        except psycopg.errors.UniqueViolation as exc:
            if guard is None or exc.diag.constraint_name != "body_digests_pkey":
                raise
        duplicate = await _duplicate(connection, delivery, received_at, remote_addr, guard)
        if duplicate is not None:
            return duplicate
        since = received_at - guard.window
        await connection.execute(_EXPIRE_DIGEST, (delivery.endpoint, guard.sha256, since))
    raise StoreError(f"delivery {delivery.delivery_id}: its body's digest kept changing hands")


CLAIM_TRIES = 3
"""Attempts to claim a body's digest: one, and one after dropping an expired claim, and one
more should a receiver have taken and lost it meanwhile."""


async def _record(
    connection: Connection,
    delivery: Delivery,
    received_at: datetime,
    remote_addr: str | None,
    trace_json: str,
    jobs: Sequence[NewJob],
    replay_of: str | None,
    guard: ReplayGuard | None,
) -> Recorded:
    """One attempt of `insert_delivery`. A body over BODY_PIECE is sent first, in a
    transaction holding the whole."""
    delivery_id = new_id()
    hooks = tuple(job.hook for job in jobs)
    values = _values(delivery_id, delivery, received_at, remote_addr, trace_json, hooks)
    values["replay_of"] = replay_of
    values["sha256"] = guard.sha256 if guard is not None else None
    values["since"] = received_at - guard.window if guard is not None else None
    if len(delivery.body) <= BODY_PIECE:
        return await _insert_delivery(connection, delivery, remote_addr, jobs, values, guard)
    # The pieces go into a large object, which the insert reads on the server; one
    # transaction holds it all, and the object is gone when it commits.
    async with connection.transaction():
        body_object = await _upload(connection, delivery.body)
        values.update(body=None, body_object=body_object)
        recorded = await _insert_delivery(connection, delivery, remote_addr, jobs, values, guard)
        await connection.execute("SELECT lo_unlink(%s::oid)", (body_object,))
    return recorded


async def _upload(connection: Connection, body: Body) -> int:
    """A new large object holding `body`, sent a piece at a time; its oid."""
    cursor = await connection.execute("SELECT lo_create(0)")
    row = await cursor.fetchone()
    assert row is not None
    view = memoryview(body)
    for start in range(0, len(view), BODY_PIECE):
        piece = view[start : start + BODY_PIECE]
        await connection.execute("SELECT lo_put(%s::oid, %s, %b)", (row[0], start, piece))
    return int(row[0])


async def _insert_delivery(
    connection: Connection,
    delivery: Delivery,
    remote_addr: str | None,
    jobs: Sequence[NewJob],
    values: dict[str, Any],
    guard: ReplayGuard | None,
) -> Recorded:
    """The insert of `insert_delivery`, with the values of its row."""
    delivery_id = values["id"]
    received_at = values["at"]
    hooks = tuple(job.hook for job in jobs)
    groups = sorted({job.concurrency_group for job in jobs if job.concurrency_group is not None})
    if not groups:
        job_ids = [new_id() for _ in jobs]
        accepted = await _insert(connection, values, jobs, job_ids)
    else:
        async with connection.transaction():
            for group in groups:  # in one order everywhere, so receivers cannot deadlock
                await connection.execute(_LOCK_GROUP, (group,))
            accepted = await _insert(connection, values, (), [])
            job_ids = [
                await insert_job(connection, delivery_id, job, received_at)
                for job in (jobs if accepted else ())
            ]
    if not accepted:
        duplicate = await _duplicate(connection, delivery, received_at, remote_addr, guard)
        if duplicate is None:  # deleted between the two statements: try again later
            raise StoreError(f"delivery {delivery.delivery_id} conflicted with a vanished original")
        return duplicate
    return Recorded(id=delivery_id, status="accepted", job_ids=tuple(job_ids), hooks=hooks)


def _values(
    delivery_id: str,
    delivery: Delivery,
    received_at: datetime,
    remote_addr: str | None,
    trace_json: str,
    hooks: tuple[str, ...],
) -> dict[str, Any]:
    return {
        "id": delivery_id, "delivery": delivery.delivery_id, "endpoint": delivery.endpoint,
        "forge": delivery.forge, "event": delivery.event, "forge_event": delivery.forge_event,
        "action": delivery.action, "repository": delivery.repository, "ref": delivery.ref,
        "sha": delivery.sha, "at": received_at, "http_status": 200 if delivery.is_ping else 202,
        "remote_addr": remote_addr, "size": len(delivery.body),
        "content_type": delivery.content_type, "headers": orjson.dumps(delivery.headers).decode(),
        "body": delivery.body, "body_object": None, "hooks": orjson.dumps(hooks).decode(),
        "trace": trace_json,
    }  # fmt: skip


async def _insert(
    connection: Connection, values: dict[str, Any], jobs: Sequence[NewJob], job_ids: list[str]
) -> bool:
    """Run the insert with these jobs (none: the caller inserts them); True if accepted."""
    made = [
        {"id": job_id, "hook": job.hook, "status": job.status,
         "max_attempts": job.max_attempts, "error": job.error}
        for job_id, job in zip(job_ids, jobs, strict=True)
    ]  # fmt: skip
    cursor = await connection.execute(_INSERT, {**values, "jobs": orjson.dumps(made).decode()})
    row = await cursor.fetchone()
    return bool(row and row[0])


async def _duplicate(
    connection: Connection,
    delivery: Delivery,
    received_at: datetime,
    remote_addr: str | None,
    guard: ReplayGuard | None,
) -> Recorded | None:
    """The first delivery of `delivery`: with its forge id (a duplicate row is recorded),
    or (with `guard`) its body under another id (nothing is); None when there is none (any
    more)."""
    original = await _first_with_id(connection, delivery)
    if original is not None:
        return await _insert_duplicate(connection, delivery, received_at, remote_addr, original)
    if guard is None:
        return None
    return await _first_with_body(connection, delivery.endpoint, guard, received_at - guard.window)


async def _first_with_id(connection: Connection, delivery: Delivery) -> Recorded | None:
    """The delivery the endpoint accepted first with this forge delivery id, if any."""
    if delivery.delivery_id is None:
        return None
    cursor = await connection.execute(_FIRST_WITH_ID, (delivery.endpoint, delivery.delivery_id))
    row = await cursor.fetchone()
    return None if row is None else Recorded(row[0], "duplicate", delivery=delivery.delivery_id)


async def _first_with_body(
    connection: Connection, endpoint: str, guard: ReplayGuard, since: datetime
) -> Recorded | None:
    """The delivery the endpoint accepted with this body since `since`, if any."""
    cursor = await connection.execute(_FIRST_WITH_BODY, (endpoint, guard.sha256, since))
    row = await cursor.fetchone()
    return None if row is None else Recorded(row[0], "duplicate", delivery=row[1], same_body=True)


async def _insert_duplicate(
    connection: Connection,
    delivery: Delivery,
    received_at: datetime,
    remote_addr: str | None,
    original: Recorded,
) -> Recorded:
    await connection.execute(
        _INSERT_DUPLICATE,
        (
            new_id(), delivery.delivery_id, delivery.endpoint, delivery.forge, delivery.event,
            delivery.forge_event, delivery.action, delivery.repository, received_at,
            remote_addr, len(delivery.body), delivery.content_type, original.id,
        ),
    )  # fmt: skip
    return original


async def insert_job(connection: Connection, delivery_id: str, job: NewJob, now: datetime) -> str:
    """Create a job. A queued job replaces any older job still queued in its concurrency
    group, and with `cancel_in_progress` asks the running one to stop (GitHub Actions'
    concurrency rule). The caller holds the group's lock."""
    job_id = new_id()
    finished = now if job.status != "queued" else None
    if job.concurrency_group is not None and job.status == "queued":
        await connection.execute(
            "UPDATE jobs SET status = 'cancelled', finished_at = %s, "
            "error = 'replaced by a newer job in its concurrency group (' || %s || ')' "
            "WHERE concurrency_group = %s AND status = 'queued'",
            (now, job_id, job.concurrency_group),
        )
        if job.cancel_in_progress:
            await connection.execute(
                "UPDATE jobs SET cancel_requested = true "
                "WHERE concurrency_group = %s AND status = 'running'",
                (job.concurrency_group,),
            )
    await connection.execute(
        _INSERT_JOB,
        (
            job_id, delivery_id, job.hook, job.status, job.max_attempts, job.error,
            job.concurrency_group, now, now, finished,
        ),
    )  # fmt: skip
    return job_id


# An endpoint's rejected requests beyond the newest `keep`, a batch at a time, through the
# deliveries_rejected index.
_TRIM_REJECTED = """
DELETE FROM deliveries WHERE id IN (
    SELECT id FROM deliveries WHERE endpoint = %s AND status = 'rejected'
    ORDER BY id DESC LIMIT %s OFFSET %s)
"""

TRIM_BATCH = 2 * REJECTIONS_KEPT
"""Rejected requests of an endpoint one call drops at most: more than a batch adds, so the
sample stays bounded, and a backlog from before it was goes over a few calls instead of
holding up one for long."""


async def insert_rejections(
    connection: Connection, rejected: Sequence[RejectedRequest], keep: int
) -> list[str]:
    """Insert the rejected requests and trim their endpoints' samples, in one transaction."""
    ids = [new_id() for _ in rejected]
    async with connection.transaction(), connection.cursor() as cursor:
        await cursor.executemany(
            "INSERT INTO deliveries (id, endpoint, received_at, status, reason, http_status, "
            "path, remote_addr, size, event, delivery) "
            "VALUES (%s, %s, %s, 'rejected', %s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    rejection_id, one.endpoint, one.received_at, one.reason, one.status,
                    one.path, one.remote_addr, one.size, one.event, one.delivery,
                )
                for rejection_id, one in zip(ids, rejected, strict=True)
            ],
        )  # fmt: skip
        for endpoint in sorted({one.endpoint for one in rejected if one.endpoint is not None}):
            await cursor.execute(_TRIM_REJECTED, (endpoint, TRIM_BATCH, keep))
    return ids
