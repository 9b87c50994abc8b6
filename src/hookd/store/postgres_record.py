"""Recording deliveries in PostgreSQL: the hot path of every receiver. Runs on a connection in
autocommit mode and opens a transaction only when it needs one. The delivery and its jobs
go in one statement (`queries.RECORD`); duplicates and grouped jobs as on SQLite
(`hookd.store.deliveries`, `hookd.store.jobs`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
import psycopg

from hookd.core.delivery import Body, Delivery
from hookd.core.vocabulary import DeliveryStatus
from hookd.errors import StoreError
from hookd.store import deliveries, jobs
from hookd.store import queries as q
from hookd.store.dialect import POSTGRESQL
from hookd.store.ids import new_id
from hookd.store.postgres_connect import Connection
from hookd.store.records import NewJob, Recorded, ReplayGuard
from hookd.store.steps import Steps, run_postgres

BODY_PIECE = 1024 * 1024
"""A body longer than this is sent in pieces of this size: sent whole as a parameter, the
driver and libpq would each hold a copy of it at once."""

CLAIM_TRIES = 3
"""Attempts to claim a body's digest: one, and one after dropping an expired claim, and one
more should a receiver have taken and lost it meanwhile."""


async def insert_delivery(
    connection: Connection,
    delivery: Delivery,
    received_at: datetime,
    remote_addr: str | None,
    trace_json: str,
    jobs_to_make: Sequence[NewJob],
    replay_of: str | None,
    guard: ReplayGuard | None = None,
    config: str | None = None,
) -> Recorded:
    """Store a delivery and its jobs, or a duplicate row if its endpoint already accepted
    its forge id, or (with `guard`) its body within the guard's window. A body claimed
    meanwhile by another receiver is a duplicate of that one; a claim whose window has
    passed is dropped and the delivery recorded again."""
    guard = guard if replay_of is None else None
    for _ in range(CLAIM_TRIES):
        try:
            return await _record(
                connection, delivery, received_at, remote_addr, trace_json, jobs_to_make,
                replay_of, guard, config,
            )  # fmt: skip
        except psycopg.errors.UniqueViolation as exc:
            if guard is None or exc.diag.constraint_name != "body_digests_pkey":
                raise
        steps = _duplicate(delivery, received_at, remote_addr, guard, config)
        duplicate = await run_postgres(connection, steps)
        if duplicate is not None:
            return duplicate
        since = received_at - guard.window
        expired = {"endpoint": delivery.endpoint, "sha256": guard.sha256, "since": since}
        await connection.execute(q.EXPIRE_DIGEST.sql(POSTGRESQL), expired)
    raise StoreError(f"delivery {delivery.delivery_id}: its body's digest kept changing hands")


async def _record(
    connection: Connection,
    delivery: Delivery,
    received_at: datetime,
    remote_addr: str | None,
    trace_json: str,
    jobs_to_make: Sequence[NewJob],
    replay_of: str | None,
    guard: ReplayGuard | None,
    config: str | None,
) -> Recorded:
    """One attempt of `insert_delivery`. A body over BODY_PIECE is sent first, in a
    transaction holding the whole."""
    hooks = tuple(job.hook for job in jobs_to_make)
    values = deliveries.delivery_values(
        new_id(), delivery, received_at, remote_addr, trace_json, hooks
    )
    values["replay_of"] = replay_of
    values["config"] = config
    values["body_object"] = None
    values["sha256"] = guard.sha256 if guard is not None else None
    values["since"] = received_at - guard.window if guard is not None else None
    if len(delivery.body) <= BODY_PIECE:
        return await _insert_delivery(
            connection, delivery, remote_addr, jobs_to_make, values, guard
        )
    # The pieces go into a large object, which the insert reads on the server; one
    # transaction holds it all, and the object is gone when it commits.
    async with connection.transaction():
        body_object = await _upload(connection, delivery.body)
        values.update(body=None, body_object=body_object)
        recorded = await _insert_delivery(
            connection, delivery, remote_addr, jobs_to_make, values, guard
        )
        await connection.execute(q.LO_UNLINK.sql(POSTGRESQL), {"oid": body_object})
    return recorded


async def _upload(connection: Connection, body: Body) -> int:
    """A new large object holding `body`, sent a piece at a time; its oid."""
    cursor = await connection.execute(q.LO_CREATE.sql(POSTGRESQL))
    row = await cursor.fetchone()
    assert row is not None
    view = memoryview(body)
    for start in range(0, len(view), BODY_PIECE):
        piece = view[start : start + BODY_PIECE]
        await connection.execute(
            q.LO_PUT.sql(POSTGRESQL), {"oid": row["oid"], "start": start, "piece": piece}
        )
    return int(row["oid"])


async def _insert_delivery(
    connection: Connection,
    delivery: Delivery,
    remote_addr: str | None,
    jobs_to_make: Sequence[NewJob],
    values: dict[str, Any],
    guard: ReplayGuard | None,
) -> Recorded:
    """The insert of `insert_delivery`, with the values of its row."""
    delivery_id = values["id"]
    received_at = values["at"]
    hooks = tuple(job.hook for job in jobs_to_make)
    groups = sorted(
        {job.concurrency_group for job in jobs_to_make if job.concurrency_group is not None}
    )
    if not groups:
        job_ids = [new_id() for _ in jobs_to_make]
        accepted = await _insert(connection, values, jobs_to_make, job_ids)
    else:
        async with connection.transaction():
            for group in groups:  # in one order everywhere, so receivers cannot deadlock
                await connection.execute(q.LOCK_GROUP.sql(POSTGRESQL), {"group": group})
            accepted = await _insert(connection, values, (), [])
            job_ids = [
                await run_postgres(connection, jobs.insert_job(delivery_id, job, received_at))
                for job in (jobs_to_make if accepted else ())
            ]
    if not accepted:
        steps = _duplicate(delivery, received_at, remote_addr, guard, values["config"])
        duplicate = await run_postgres(connection, steps)
        if duplicate is None:  # deleted between the two statements: try again later
            raise StoreError(f"delivery {delivery.delivery_id} conflicted with a vanished original")
        return duplicate
    return Recorded(
        id=delivery_id, status=DeliveryStatus.ACCEPTED, job_ids=tuple(job_ids), hooks=hooks
    )


async def _insert(
    connection: Connection, values: dict[str, Any], made: Sequence[NewJob], job_ids: list[str]
) -> bool:
    """Run the insert with these jobs (none: the caller inserts them); True if accepted."""
    listed = [
        {"id": job_id, "hook": job.hook, "status": job.status,
         "max_attempts": job.max_attempts, "error": job.error, "ref": job.ref,
         "paths_filter": job.paths_filter}
        for job_id, job in zip(job_ids, made, strict=True)
    ]  # fmt: skip
    cursor = await connection.execute(
        q.RECORD.sql(POSTGRESQL), {**values, "jobs": orjson.dumps(listed).decode()}
    )
    row = await cursor.fetchone()
    return bool(row and row["accepted"])


def _duplicate(
    delivery: Delivery,
    received_at: datetime,
    remote_addr: str | None,
    guard: ReplayGuard | None,
    config: str | None,
) -> Steps[Recorded | None]:
    """The first delivery of `delivery`: with its forge id (a duplicate row is recorded, with
    the configuration that decided it), or (with `guard`) its body under another id (nothing
    is); None when there is none (any more)."""
    original = yield from deliveries.first_with_id(delivery)
    if original is not None:
        return (
            yield from deliveries.insert_duplicate(
                delivery, received_at, remote_addr, original, config
            )
        )
    if guard is None:
        return None
    since = received_at - guard.window
    return (yield from deliveries.first_with_body(delivery.endpoint, guard.sha256, since))
