"""What only the SQLite backend does with deliveries: record one in the writer's transaction
(a large body written in place, in pieces), and read one back (a large body in pieces).
Each function runs on a connection handed to it (the writer's inside its transaction, or a
reader's); the statements are `hookd.store.queries`'."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hookd.core.delivery import Body, Delivery
from hookd.core.vocabulary import DeliveryStatus
from hookd.errors import NotFound, StoreError
from hookd.store import deliveries, jobs
from hookd.store import queries as q
from hookd.store.dialect import SQLITE, Statement
from hookd.store.ids import new_id
from hookd.store.records import (
    DeliveryDetail,
    DeliveryQuery,
    DeliveryRecord,
    NewJob,
    Recorded,
    ReplayGuard,
    iso,
)
from hookd.store.replay_index import ReplayIndex
from hookd.store.replay_index import Row as IndexRow
from hookd.store.rows import delivery_detail
from hookd.store.steps import Row, run_sqlite

BLOB_PIECE = 1024 * 1024

_INSERT_DELIVERY = q.INSERT_DELIVERY.statement(SQLITE)
_INSERT_DELIVERY_CONFIG = q.INSERT_DELIVERY_CONFIG.statement(SQLITE)
_APPEND_BODY_DIGEST = q.APPEND_BODY_DIGEST.statement(SQLITE)
_BODY_DIGESTS_AFTER = q.BODY_DIGESTS_AFTER.statement(SQLITE)
_DATA_VERSION = q.DATA_VERSION.statement(SQLITE)
_INSERT_JOB = q.INSERT_JOB.statement(SQLITE)


def insert_delivery(
    connection: sqlite3.Connection,
    delivery: Delivery,
    received_at: datetime,
    remote_addr: str | None,
    trace_json: str,
    jobs_to_make: Sequence[NewJob],
    replay_of: str | None,
    guarded: Guarded | None = None,
    config: str | None = None,
) -> Recorded:
    """Store a delivery and its jobs; or a duplicate row if its endpoint accepted its forge
    id before; or nothing if (with a guard) it accepted its body within the guard's window
    under another id. The writer's transaction holds the write lock throughout, so the
    checks cannot race."""
    guarded = guarded if replay_of is None else None
    if guarded is not None:
        first = _first_with_body(connection, delivery.endpoint, guarded, received_at)
        if first is not None:  # a redelivery, if its id was seen too: that is recorded
            original = run_sqlite(connection, deliveries.first_with_id(delivery))
            if original is None:
                return first
            return _duplicate(connection, delivery, received_at, remote_addr, original, config)
    recorded = _insert(
        connection, delivery, received_at, remote_addr, trace_json, jobs_to_make, replay_of,
        config,
    )  # fmt: skip
    if guarded is not None and recorded.status == DeliveryStatus.ACCEPTED:
        digest = _digest(delivery, guarded, recorded.id, iso(received_at))
        cursor = connection.execute(_APPEND_BODY_DIGEST.text, _APPEND_BODY_DIGEST.args(digest))
        assert cursor.lastrowid is not None
        _remember_body(delivery, guarded, cursor.lastrowid, received_at)
    return recorded


def _digest(delivery: Delivery, guarded: Guarded, delivery_id: str, at: str) -> dict[str, Any]:
    """The parameters of an accepted delivery's body digest row (`APPEND_BODY_DIGEST`)."""
    return {
        "endpoint": delivery.endpoint,
        "sha256": guarded.guard.sha256,
        "delivery_id": delivery_id,
        "at": at,
    }


def _remember_body(delivery: Delivery, guarded: Guarded, seq: int, at: datetime) -> None:
    """Tell the replay index of the body digest row `seq` just appended."""
    guarded.index.add(delivery.endpoint, guarded.guard.sha256, seq, at.timestamp())


def _as_duplicate(
    connection: sqlite3.Connection,
    delivery: Delivery,
    received_at: datetime,
    remote_addr: str | None,
    config: str | None,
) -> Recorded:
    """Record a delivery whose insert its forge id made skip: a duplicate of the first."""
    original = run_sqlite(connection, deliveries.first_with_id(delivery))
    if original is None:
        raise StoreError(f"delivery {delivery.delivery_id} conflicted with no original")
    return _duplicate(connection, delivery, received_at, remote_addr, original, config)


@dataclass(frozen=True, slots=True)
class DeliveryWrite:
    """A delivery to record: a writer's operation (`insert_delivery`), which
    `insert_deliveries` runs together with the others of its batch."""

    delivery: Delivery
    received_at: datetime
    remote_addr: str | None
    trace_json: str
    jobs: Sequence[NewJob]
    replay_of: str | None = None
    guarded: Guarded | None = None
    config: str | None = None

    def __call__(self, connection: sqlite3.Connection) -> Recorded:
        return insert_delivery(
            connection, self.delivery, self.received_at, self.remote_addr, self.trace_json,
            self.jobs, self.replay_of, self.guarded, self.config,
        )  # fmt: skip


ROWS_AT_ONCE = (64, 16, 4, 1)
"""How many rows one statement of `insert_deliveries` inserts: a run of plain deliveries
goes in statements of these sizes, largest first, so that a handful of texts stays in
sqlite3's statement cache (a statement of 64 rows takes 1,344 parameters, far below
SQLite's 32,766)."""


def insert_deliveries(
    connection: sqlite3.Connection, writes: Sequence[DeliveryWrite]
) -> list[Recorded]:
    """Record `writes` in order, as `insert_delivery` one after another would, with one
    statement per table for many of them (the deliveries' own rows aside: `_insert_each`):
    each statement costs sqlite3 and SQLite a fixed part, and its B-tree work releases the
    GIL once.

    A delivery goes alone, after those before it, when it cannot simply be inserted: a
    replay, a large body, a job in a concurrency group, a body or a forge id that a
    delivery accepted before may hold (in the file, or earlier in this run). A forge id
    that the file already holds is found by the insert itself, which skips that row: it is
    then recorded as a duplicate."""
    recorded: list[Recorded | None] = [None] * len(writes)
    run: list[int] = []
    ids: set[tuple[str, str]] = set()
    bodies: set[tuple[str, bytes]] = set()
    for number, write in enumerate(writes):
        if not _plain(connection, write, ids, bodies):
            _insert_run(connection, writes, run, recorded)
            run, ids, bodies = [], set(), set()
            recorded[number] = write(connection)
            continue
        run.append(number)
        if write.delivery.delivery_id is not None:
            ids.add((write.delivery.endpoint, write.delivery.delivery_id))
        if write.guarded is not None:
            bodies.add((write.delivery.endpoint, write.guarded.guard.sha256))
    _insert_run(connection, writes, run, recorded)
    return [done for done in recorded if done is not None]


def _plain(
    connection: sqlite3.Connection,
    write: DeliveryWrite,
    ids: set[tuple[str, str]],
    bodies: set[tuple[str, bytes]],
) -> bool:
    """Whether `write` can join the run of deliveries inserted together."""
    delivery = write.delivery
    if write.replay_of is not None or len(delivery.body) > BLOB_PIECE:
        return False
    if any(job.concurrency_group is not None for job in write.jobs):
        return False
    if (delivery.endpoint, delivery.delivery_id) in ids:
        return False
    guarded = write.guarded
    if guarded is None:
        return True
    if (delivery.endpoint, guarded.guard.sha256) in bodies:
        return False
    return _first_with_body(connection, delivery.endpoint, guarded, write.received_at) is None


@dataclass(frozen=True, slots=True)
class _Planned:
    """A delivery of a run, its row and its jobs' rows made, not yet inserted."""

    number: int
    write: DeliveryWrite
    row: dict[str, Any]
    job_rows: list[dict[str, Any]]
    hooks: tuple[str, ...]


def _insert_run(
    connection: sqlite3.Connection,
    writes: Sequence[DeliveryWrite],
    run: Sequence[int],
    recorded: list[Recorded | None],
) -> None:
    """Insert the plain deliveries `run` numbers, a statement each, and their
    configurations, jobs and body digests, a statement per table for up to the largest of
    ROWS_AT_ONCE; then record as duplicates those whose forge id the file held."""
    planned = [_plan(number, writes[number]) for number in run]
    inserted = _insert_each(connection, _INSERT_DELIVERY, [one.row for one in planned])
    kept = [one for one in planned if one.row["id"] in inserted]
    configs = [
        {"id": one.row["id"], "config": one.write.config}
        for one in kept
        if one.write.config is not None
    ]
    _insert_rows(connection, _INSERT_DELIVERY_CONFIG, configs)
    _insert_rows(connection, _INSERT_JOB, [job for one in kept for job in one.job_rows])
    guarded: dict[str, tuple[_Planned, Guarded]] = {}
    for one in kept:
        if one.write.guarded is not None:
            guarded[one.row["id"]] = (one, one.write.guarded)
    digests = [
        _digest(one.write.delivery, guard, delivery_id, one.row["at"])
        for delivery_id, (one, guard) in guarded.items()
    ]
    for appended in _insert_rows(connection, _APPEND_BODY_DIGEST, digests, "seq, delivery_id"):
        one, guard = guarded[appended["delivery_id"]]
        _remember_body(one.write.delivery, guard, appended["seq"], one.write.received_at)
    for one in planned:
        write = one.write
        if one.row["id"] in inserted:
            job_ids = tuple(job["id"] for job in one.job_rows)
            status = DeliveryStatus.ACCEPTED
            recorded[one.number] = Recorded(one.row["id"], status, job_ids, one.hooks)
        else:
            recorded[one.number] = _as_duplicate(
                connection, write.delivery, write.received_at, write.remote_addr, write.config
            )


def _plan(number: int, write: DeliveryWrite) -> _Planned:
    """The rows of a plain delivery and its jobs, with their new ids."""
    delivery_id = new_id()
    received = iso(write.received_at)  # the delivery's, and its jobs' queued_at
    hooks = tuple(job.hook for job in write.jobs)
    row = deliveries.delivery_values(
        delivery_id, write.delivery, received, write.remote_addr, write.trace_json, hooks
    )
    row["replay_of"] = None
    job_rows = [jobs.job_values(new_id(), delivery_id, job, received) for job in write.jobs]
    return _Planned(number, write, row, job_rows, hooks)


def _insert_each(
    connection: sqlite3.Connection, statement: Statement, rows: Sequence[Mapping[str, Any]]
) -> set[str]:
    """Insert `rows` with `statement` (a one-row INSERT that may skip a row), a statement
    each; the ids of the rows inserted. The deliveries' rows, which hold their bodies, go so:
    to learn which rows of a many-row INSERT went in, its RETURNING makes SQLite first copy
    every row of the VALUES list into a temporary table (EXPLAIN: OpenEphemeral), a second
    copy of each body, and that cost more than the statements it saved (rows of 8 KB bodies,
    25 a transaction, alternating: 59.7 µs a row one to a statement, 67.3 many)."""
    inserted = set()
    text, args = statement.text, statement.args
    for row in rows:
        if connection.execute(text, args(row)).rowcount:
            inserted.add(row["id"])
    return inserted


def _insert_rows(
    connection: sqlite3.Connection,
    statement: Statement,
    rows: Sequence[Mapping[str, Any]],
    returning: str = "",
) -> list[Row]:
    """Insert `rows` with `statement` (a one-row INSERT), many to a statement; the
    `returning` columns of the rows inserted, in no particular order."""
    returned: list[Row] = []
    start = 0
    while start < len(rows):
        size = next(size for size in ROWS_AT_ONCE if size <= len(rows) - start)
        chunk = rows[start : start + size]
        cursor = connection.execute(statement.rows(size, returning), statement.rows_args(chunk))
        if returning:
            returned.extend(cursor.fetchall())
        start += size
    return returned


@dataclass(frozen=True, slots=True)
class Guarded:
    """A delivery's replay guard, with the writer's index of the bodies accepted lately."""

    guard: ReplayGuard
    index: ReplayIndex


def _first_with_body(
    connection: sqlite3.Connection, endpoint: str, guarded: Guarded, received_at: datetime
) -> Recorded | None:
    """The delivery the endpoint accepted with this body within the guard's window: found
    in the index (caught up first with the rows another process appended since it last
    read, if one committed since), confirmed by its row."""
    guard, index = guarded.guard, guarded.index
    since = received_at - guard.window
    if index.needs_load(since.timestamp()):
        version = _data_version(connection)
        last = _execute(connection, q.LAST_BODY_DIGEST, {}).fetchone()["seq"]
        rows = _execute(connection, q.BODY_DIGESTS_SINCE, {"since": since})
        index.load(_index_rows(rows), since.timestamp(), last, version)
    elif not index.checked():
        version = _data_version(connection)
        if index.stale(version):
            after = _BODY_DIGESTS_AFTER.args({"seq": index.read_to()})
            rows = connection.execute(_BODY_DIGESTS_AFTER.text, after)
            index.extend(_index_rows(rows), version)
    index.keep(guard.window.total_seconds())
    seq = index.find(endpoint, guard.sha256)
    if seq is None:
        return None
    confirm = {"seq": seq, "endpoint": endpoint, "sha256": guard.sha256, "since": since}
    row = _execute(connection, q.BODY_DIGEST_AT, confirm).fetchone()
    if row is None:
        return None
    return Recorded(row["id"], DeliveryStatus.DUPLICATE, delivery=row["delivery"], same_body=True)


def _data_version(connection: sqlite3.Connection) -> int:
    (version,) = connection.execute(_DATA_VERSION.text).fetchone()
    return int(version)


def _index_rows(rows: Iterable[Row]) -> Iterator[IndexRow]:
    for row in rows:
        received = datetime.fromisoformat(row["received_at"]).timestamp()
        yield row["seq"], row["endpoint"], row["sha256"], received


def prune_batch(connection: sqlite3.Connection, before: datetime, limit: int) -> int:
    """Delete at most `limit` deliveries received before `before`, and as many body digests
    (no foreign key takes them: see 0011_body_digest_log.sql); return how many deliveries
    went."""
    _execute(connection, q.PRUNE_BODY_DIGESTS, {"before": before, "limit": limit})
    return run_sqlite(connection, deliveries.prune_batch(before, limit))


def _execute(
    connection: sqlite3.Connection, query: q.Query, params: Mapping[str, Any]
) -> sqlite3.Cursor:
    statement = query.statement(SQLITE)
    return connection.execute(statement.text, statement.args(params))


def _insert(
    connection: sqlite3.Connection,
    delivery: Delivery,
    received_at: datetime,
    remote_addr: str | None,
    trace_json: str,
    jobs_to_make: Sequence[NewJob],
    replay_of: str | None,
    config: str | None,
) -> Recorded:
    delivery_id = new_id()
    received = iso(received_at)  # the delivery's, and its jobs' queued_at
    hooks = tuple(job.hook for job in jobs_to_make)
    values = deliveries.delivery_values(
        delivery_id, delivery, received, remote_addr, trace_json, hooks
    )
    values["replay_of"] = replay_of
    # A large body is written in pieces after the row: binding it whole would make SQLite
    # copy all of it at once.
    large = len(delivery.body) > BLOB_PIECE
    if large:
        values["body"] = None
    cursor = connection.execute(_INSERT_DELIVERY.text, _INSERT_DELIVERY.args(values))
    if cursor.rowcount == 0:
        return _as_duplicate(connection, delivery, received_at, remote_addr, config)
    if large and cursor.lastrowid is not None:
        _write_blob(connection, cursor.lastrowid, delivery.body)
    if config is not None:
        connection.execute(
            _INSERT_DELIVERY_CONFIG.text,
            _INSERT_DELIVERY_CONFIG.args({"id": delivery_id, "config": config}),
        )
    job_ids = tuple(
        run_sqlite(connection, jobs.insert_job(delivery_id, job, received)) for job in jobs_to_make
    )
    return Recorded(id=delivery_id, status=DeliveryStatus.ACCEPTED, job_ids=job_ids, hooks=hooks)


def _duplicate(
    connection: sqlite3.Connection,
    delivery: Delivery,
    received_at: datetime,
    remote_addr: str | None,
    original: Recorded,
    config: str | None,
) -> Recorded:
    steps = deliveries.insert_duplicate(delivery, received_at, remote_addr, original, config)
    return run_sqlite(connection, steps)


def _write_blob(connection: sqlite3.Connection, rowid: int, body: Body) -> None:
    sizing = q.SIZE_BODY.statement(SQLITE)
    connection.execute(sizing.text, sizing.args({"size": len(body), "rowid": rowid}))
    view = memoryview(body)
    with connection.blobopen("deliveries", "body", rowid) as blob:
        for start in range(0, len(view), BLOB_PIECE):
            blob.write(view[start : start + BLOB_PIECE])


def select_deliveries(connection: sqlite3.Connection, query: DeliveryQuery) -> list[DeliveryRecord]:
    """The store's list of deliveries, on any connection (bench/bench_list_pages.py plans
    it on its own): rows are read by name meanwhile."""
    factory = connection.row_factory
    connection.row_factory = sqlite3.Row
    try:
        return run_sqlite(connection, deliveries.select_deliveries(query, probe_hook=True))
    finally:
        connection.row_factory = factory


def select_delivery(connection: sqlite3.Connection, delivery_id: str) -> DeliveryDetail:
    row = run_sqlite(connection, deliveries.delivery_row(delivery_id, BLOB_PIECE))
    return delivery_detail(row, _body(connection, row, delivery_id))


def select_small_delivery(
    connection: sqlite3.Connection, delivery_id: str, most: int
) -> DeliveryDetail | None:
    """The delivery if its body is at most `most` bytes, else None (read it with
    `select_delivery`, where a long read holds up nothing)."""
    row = run_sqlite(connection, deliveries.delivery_row(delivery_id, most))
    if row["body"] is None and row["body_size"] is not None:
        return None
    return delivery_detail(row, row["body"])


def _body(connection: sqlite3.Connection, row: Row, delivery_id: str) -> Body | None:
    """The body selected with the row, or read in pieces if it was too large for that."""
    size = row["body_size"]
    if row["body"] is not None or size is None:
        body: Body | None = row["body"]
        return body
    rowid = q.BODY_ROWID.statement(SQLITE)
    located = connection.execute(rowid.text, rowid.args({"id": delivery_id})).fetchone()
    if located is None:  # pruned since its row was read
        raise NotFound(f"no delivery {delivery_id}")
    found = bytearray(size)
    with connection.blobopen("deliveries", "body", located["rowid"], readonly=True) as blob:
        for start in range(0, size, BLOB_PIECE):
            found[start : start + BLOB_PIECE] = blob.read(BLOB_PIECE)
    return found
