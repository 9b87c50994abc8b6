"""The SQL of the SQLite backend for deliveries. Each function runs on a connection handed
to it (the writer's inside its transaction, or a reader's)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from hookd.core.delivery import Body, Delivery
from hookd.errors import NotFound, StoreError
from hookd.store.filters import delivery_filters, where_clause
from hookd.store.ids import new_id
from hookd.store.records import (
    REJECTIONS_KEPT,
    DeliveryDetail,
    DeliveryQuery,
    DeliveryRecord,
    NewJob,
    Recorded,
    RejectedRequest,
    ReplayGuard,
    iso,
    parse_iso,
)
from hookd.store.replay_index import ReplayIndex
from hookd.store.replay_index import Row as IndexRow

_INSERT_DELIVERY = """
INSERT INTO deliveries (id, delivery, endpoint, forge, event, forge_event, action, repository,
    ref, sha, received_at, status, http_status, remote_addr, size, content_type, headers, body,
    hooks, trace, replay_of)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'accepted', ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING
"""

BLOB_PIECE = 1024 * 1024

_INSERT_JOB = """
INSERT INTO jobs (id, delivery_id, hook, status, max_attempts, error, concurrency_group,
    queued_at, run_after, finished_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


def schema_version(connection: sqlite3.Connection) -> int:
    row = connection.execute("SELECT max(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0)


def insert_delivery(
    connection: sqlite3.Connection,
    delivery: Delivery,
    received_at: datetime,
    remote_addr: str | None,
    trace_json: str,
    jobs: Sequence[NewJob],
    replay_of: str | None,
    guarded: Guarded | None = None,
) -> Recorded:
    """Store a delivery and its jobs; or a duplicate row if its endpoint accepted its forge
    id before; or nothing if (with a guard) it accepted its body within the guard's window
    under another id. The writer's transaction holds the write lock throughout, so the
    checks cannot race."""
    guarded = guarded if replay_of is None else None
    if guarded is not None:
        first = _first_with_body(connection, delivery.endpoint, guarded, received_at)
        if first is not None:  # a redelivery, if its id was seen too: that is recorded
            original = _first_with_id(connection, delivery)
            if original is None:
                return first
            return _insert_duplicate(connection, delivery, received_at, remote_addr, original)
    recorded = _insert(connection, delivery, received_at, remote_addr, trace_json, jobs, replay_of)
    if guarded is not None and recorded.status == "accepted":
        sha256 = guarded.guard.sha256
        cursor = connection.execute(
            "INSERT INTO body_digests (endpoint, sha256, delivery_id, received_at) "
            "VALUES (?, ?, ?, ?)",
            (delivery.endpoint, sha256, recorded.id, iso(received_at)),
        )
        assert cursor.lastrowid is not None
        guarded.index.add(delivery.endpoint, sha256, cursor.lastrowid, received_at.timestamp())
    return recorded


def _insert(
    connection: sqlite3.Connection,
    delivery: Delivery,
    received_at: datetime,
    remote_addr: str | None,
    trace_json: str,
    jobs: Sequence[NewJob],
    replay_of: str | None,
) -> Recorded:
    delivery_id = new_id()
    received = iso(received_at)  # the delivery's, and its jobs' queued_at
    hooks = tuple(job.hook for job in jobs)
    status = 200 if delivery.is_ping else 202
    size = len(delivery.body)
    # A large body is written in pieces after the row: binding it whole would make SQLite
    # copy all of it at once.
    bound = delivery.body if size <= BLOB_PIECE else None
    cursor = connection.execute(
        _INSERT_DELIVERY,
        (
            delivery_id, delivery.delivery_id, delivery.endpoint, delivery.forge, delivery.event,
            delivery.forge_event, delivery.action, delivery.repository, delivery.ref,
            delivery.sha, received, status, remote_addr, len(delivery.body),
            delivery.content_type, orjson.dumps(delivery.headers).decode(), bound,
            orjson.dumps(hooks).decode(), trace_json, replay_of,
        ),
    )  # fmt: skip
    if cursor.rowcount == 0:
        original = _first_with_id(connection, delivery)
        if original is None:
            raise StoreError(f"delivery {delivery.delivery_id} conflicted with no original")
        return _insert_duplicate(connection, delivery, received_at, remote_addr, original)
    if bound is None and cursor.lastrowid is not None:
        _write_blob(connection, cursor.lastrowid, delivery.body)
    job_ids = tuple(insert_job(connection, delivery_id, job, received) for job in jobs)
    return Recorded(id=delivery_id, status="accepted", job_ids=job_ids, hooks=hooks)


def _write_blob(connection: sqlite3.Connection, rowid: int, body: Body) -> None:
    # Sized by an UPDATE, not in the INSERT: with foreign keys on, SQLite builds an inserted
    # row's zeroblob out in memory.
    connection.execute(
        "UPDATE deliveries SET body = zeroblob(?) WHERE rowid = ?", (len(body), rowid)
    )
    view = memoryview(body)
    with connection.blobopen("deliveries", "body", rowid) as blob:
        for start in range(0, len(view), BLOB_PIECE):
            blob.write(view[start : start + BLOB_PIECE])


def _first_with_id(connection: sqlite3.Connection, delivery: Delivery) -> Recorded | None:
    """The delivery the endpoint accepted first with this forge delivery id, if any."""
    if delivery.delivery_id is None:
        return None
    row = connection.execute(
        "SELECT id FROM deliveries WHERE endpoint = ? AND delivery = ? AND status = 'accepted' "
        "AND replay_of IS NULL",
        (delivery.endpoint, delivery.delivery_id),
    ).fetchone()
    return None if row is None else Recorded(row[0], "duplicate", delivery=delivery.delivery_id)


@dataclass(frozen=True, slots=True)
class Guarded:
    """A delivery's replay guard, with the writer's index of the bodies accepted lately."""

    guard: ReplayGuard
    index: ReplayIndex


def _first_with_body(
    connection: sqlite3.Connection, endpoint: str, guarded: Guarded, received_at: datetime
) -> Recorded | None:
    """The delivery the endpoint accepted with this body within the guard's window."""
    guard, index = guarded.guard, guarded.index
    since = received_at - guard.window
    if index.needs_load(since.timestamp()):
        last = connection.execute("SELECT coalesce(max(seq), 0) FROM body_digests").fetchone()
        rows = connection.execute(_DIGESTS_SINCE, (iso(since),))
        index.load(_index_rows(rows), since.timestamp(), last[0])
    else:
        index.extend(_index_rows(connection.execute(_DIGESTS_AFTER, (index.read_to(),))))
    index.keep(guard.window.total_seconds())
    seq = index.find(endpoint, guard.sha256)
    if seq is None:
        return None
    row = connection.execute(
        "SELECT d.id, d.delivery FROM body_digests b JOIN deliveries d ON d.id = b.delivery_id "
        "WHERE b.seq = ? AND b.endpoint = ? AND b.sha256 = ? AND b.received_at >= ?",
        (seq, endpoint, guard.sha256, iso(since)),
    ).fetchone()
    if row is None:
        return None
    return Recorded(row[0], "duplicate", delivery=row[1], same_body=True)


_DIGESTS_SINCE = (
    "SELECT seq, endpoint, sha256, received_at FROM body_digests WHERE received_at >= ? "
    "ORDER BY seq"
)
_DIGESTS_AFTER = (
    "SELECT seq, endpoint, sha256, received_at FROM body_digests WHERE seq > ? ORDER BY seq"
)


def _index_rows(rows: Iterable[tuple[int, str, bytes, str]]) -> Iterator[IndexRow]:
    for seq, endpoint, sha256, received in rows:
        yield seq, endpoint, sha256, _epoch(received)


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def _insert_duplicate(
    connection: sqlite3.Connection,
    delivery: Delivery,
    received_at: datetime,
    remote_addr: str | None,
    original: Recorded,
) -> Recorded:
    connection.execute(
        "INSERT INTO deliveries (id, delivery, endpoint, forge, event, forge_event, action, "
        "repository, received_at, status, http_status, remote_addr, size, content_type, "
        "duplicate_of) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'duplicate', 200, ?, ?, ?, ?)",
        (
            new_id(), delivery.delivery_id, delivery.endpoint, delivery.forge, delivery.event,
            delivery.forge_event, delivery.action, delivery.repository, iso(received_at),
            remote_addr, len(delivery.body), delivery.content_type, original.id,
        ),
    )  # fmt: skip
    return original


def insert_job(connection: sqlite3.Connection, delivery_id: str, job: NewJob, at: str) -> str:
    """Create a job queued at `at` (ISO text, as its delivery's `received_at`). A queued job
    replaces any older job still queued in its concurrency group, and with
    `cancel_in_progress` asks the running one to stop (GitHub Actions' concurrency rule)."""
    job_id = new_id()
    finished = at if job.status != "queued" else None
    if job.concurrency_group is not None and job.status == "queued":
        connection.execute(
            "UPDATE jobs SET status = 'cancelled', finished_at = ?, "
            "error = 'replaced by a newer job in its concurrency group (' || ? || ')' "
            "WHERE concurrency_group = ? AND status = 'queued'",
            (at, job_id, job.concurrency_group),
        )
        if job.cancel_in_progress:
            connection.execute(
                "UPDATE jobs SET cancel_requested = 1 "
                "WHERE concurrency_group = ? AND status = 'running'",
                (job.concurrency_group,),
            )
    connection.execute(
        _INSERT_JOB,
        (
            job_id, delivery_id, job.hook, job.status, job.max_attempts, job.error,
            job.concurrency_group, at, at, finished,
        ),
    )  # fmt: skip
    return job_id


# An endpoint's rejected requests beyond the newest `keep`, oldest last, a batch at a time,
# through the deliveries_rejected index.
_TRIM_REJECTED = """
DELETE FROM deliveries WHERE id IN (
    SELECT id FROM deliveries WHERE endpoint = ? AND status = 'rejected'
    ORDER BY id DESC LIMIT ? OFFSET ?)
"""

TRIM_BATCH = 2 * REJECTIONS_KEPT
"""Rejected requests of an endpoint one call drops at most: more than a batch adds, so the
sample stays bounded, and a backlog from before it was goes over a few calls instead of
holding the writer for long once."""


def insert_rejections(
    connection: sqlite3.Connection, rejected: Sequence[RejectedRequest], keep: int
) -> list[str]:
    ids = [new_id() for _ in rejected]
    connection.executemany(
        "INSERT INTO deliveries (id, endpoint, received_at, status, reason, http_status, path, "
        "remote_addr, size, event, delivery) VALUES (?, ?, ?, 'rejected', ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                rejection_id, one.endpoint, iso(one.received_at), one.reason, one.status,
                one.path, one.remote_addr, one.size, one.event, one.delivery,
            )
            for rejection_id, one in zip(ids, rejected, strict=True)
        ],
    )  # fmt: skip
    for endpoint in {one.endpoint for one in rejected if one.endpoint is not None}:
        connection.execute(_TRIM_REJECTED, (endpoint, TRIM_BATCH, keep))
    return ids


_LIST_COLUMNS = """
d.id, d.delivery, d.endpoint, d.forge, d.event, d.action, d.repository, d.received_at,
d.status, d.reason, d.hooks, d.size, d.remote_addr, d.replay_of, d.duplicate_of,
(SELECT json_group_array(j.id) FROM jobs j WHERE j.delivery_id = d.id)
"""


def select_deliveries(connection: sqlite3.Connection, query: DeliveryQuery) -> list[DeliveryRecord]:
    where, params = delivery_filters(query, "?", iso)
    if query.hook is not None:
        where.append(_hook_filter(connection, query.hook))
        params.append(query.hook)
    rows = connection.execute(
        f"SELECT {_LIST_COLUMNS} FROM deliveries d {where_clause(where)} "
        "ORDER BY d.id DESC LIMIT ?",
        (*params, query.limit),
    ).fetchall()
    return [_record(row) for row in rows]


# A delivery matched a hook exactly when it has a job for it (one per matched hook, made in
# its transaction). A rare hook's few deliveries are read straight from the jobs index; for
# a common one each row of the newest-first scan is checked, and a page fills early. The
# probe decides which in at most HOOK_PROBE index steps, so neither case reads far.
HOOK_PROBE = 5000


def _hook_filter(connection: sqlite3.Connection, hook: str) -> str:
    (seen,) = connection.execute(
        "SELECT count(*) FROM (SELECT 1 FROM jobs WHERE hook = ? LIMIT ?)", (hook, HOOK_PROBE)
    ).fetchone()
    if seen < HOOK_PROBE:
        return "d.id IN (SELECT j.delivery_id FROM jobs j WHERE j.hook = ?)"
    return "EXISTS (SELECT 1 FROM jobs j WHERE j.delivery_id = d.id AND j.hook = ?)"


def _record(row: sqlite3.Row | tuple[Any, ...]) -> DeliveryRecord:
    received = parse_iso(row[7]) or datetime.now(UTC)
    return DeliveryRecord(
        id=row[0], delivery=row[1], endpoint=row[2], forge=row[3], event=row[4], action=row[5],
        repository=row[6], received_at=received, status=row[8], reason=row[9],
        hooks=tuple(orjson.loads(row[10] or "[]")), jobs=tuple(orjson.loads(row[15] or "[]")),
        size=row[11], remote_addr=row[12], replay_of=row[13], duplicate_of=row[14],
    )  # fmt: skip


# A large body is read in pieces after the row: selected whole, SQLite would hold a copy of
# all of it while Python made its own. The parameter is the most bytes selected with the row.
_SELECT_DELIVERY = f"""
SELECT {_LIST_COLUMNS}, d.content_type, d.headers,
    CASE WHEN length(d.body) <= ? THEN d.body END,
    d.trace, d.forge_event, length(d.body), d.rowid
FROM deliveries d WHERE d.id = ?
"""


def select_delivery(connection: sqlite3.Connection, delivery_id: str) -> DeliveryDetail:
    row = _delivery_row(connection, delivery_id, BLOB_PIECE)
    size = row[21]
    body = row[18] if row[18] is not None or size is None else _read_blob(connection, row[22], size)
    return _detail(row, body)


def select_small_delivery(
    connection: sqlite3.Connection, delivery_id: str, most: int
) -> DeliveryDetail | None:
    """The delivery if its body is at most `most` bytes, else None (read it with
    `select_delivery`, where a long read holds up nothing)."""
    row = _delivery_row(connection, delivery_id, most)
    return None if row[18] is None and row[21] is not None else _detail(row, row[18])


def _delivery_row(connection: sqlite3.Connection, delivery_id: str, most: int) -> Any:
    row = connection.execute(_SELECT_DELIVERY, (most, delivery_id)).fetchone()
    if row is None:
        raise NotFound(f"no delivery {delivery_id}")
    return row


def _detail(row: Any, body: Body) -> DeliveryDetail:
    return DeliveryDetail(
        record=_record(row),
        content_type=row[16],
        headers=tuple(tuple(pair) for pair in orjson.loads(row[17] or "[]")),
        body=body,
        trace=tuple(orjson.loads(row[19] or "[]")),
        forge_event=row[20],
    )


def _read_blob(connection: sqlite3.Connection, rowid: int, size: int) -> bytearray:
    body = bytearray(size)
    with connection.blobopen("deliveries", "body", rowid, readonly=True) as blob:
        for start in range(0, size, BLOB_PIECE):
            body[start : start + BLOB_PIECE] = blob.read(BLOB_PIECE)
    return body


# Oldest first through the received_at index; a delivery whose jobs are still queued or
# running is skipped (a worker holds it). Jobs and their logs go by ON DELETE CASCADE.
_PRUNE = """
DELETE FROM deliveries WHERE id IN (
    SELECT d.id FROM deliveries d
    WHERE d.received_at < ? AND NOT EXISTS (
        SELECT 1 FROM jobs j WHERE j.delivery_id = d.id AND j.status IN ('queued', 'running'))
    ORDER BY d.received_at
    LIMIT ?)
"""


_PRUNE_DIGESTS = """
DELETE FROM body_digests WHERE seq IN (
    SELECT seq FROM body_digests WHERE received_at < ? ORDER BY received_at LIMIT ?)
"""


def prune_batch(connection: sqlite3.Connection, before: datetime, limit: int) -> int:
    """Delete at most `limit` deliveries received before `before`, and as many body digests
    (see 0011_body_digest_log.sql); return how many deliveries went."""
    connection.execute(_PRUNE_DIGESTS, (iso(before), limit))
    return connection.execute(_PRUNE, (iso(before), limit)).rowcount


def count_jobs(connection: sqlite3.Connection, statuses: Sequence[str]) -> dict[str, int]:
    counts = dict.fromkeys(statuses, 0)
    marks = ", ".join("?" for _ in statuses)
    rows = connection.execute(
        f"SELECT status, count(*) FROM jobs WHERE status IN ({marks}) GROUP BY status",
        tuple(statuses),
    ).fetchall()
    counts.update({status: count for status, count in rows})
    return counts
