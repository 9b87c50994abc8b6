"""The SQL of the SQLite backend for jobs and their logs."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

from hookd.errors import NotFound
from hookd.store.filters import job_filters, where_clause
from hookd.store.records import (
    JobOutcome,
    JobProcess,
    JobQuery,
    JobRecord,
    Lease,
    capped_log_chunk,
    iso,
    parse_iso,
)

_COLUMNS = """id, delivery_id, hook, status, attempts, max_attempts, exit_code, error, result,
concurrency_group, queued_at, run_after, started_at, finished_at, log_size, cancel_requested"""

# Claimable: queued and due, or running under a lapsed lease (its worker died). A job in a
# concurrency group waits while another job of the group runs under a live lease.
_FREE_OF_ITS_GROUP = """(j.concurrency_group IS NULL OR NOT EXISTS (
    SELECT 1 FROM jobs o
    WHERE o.concurrency_group = j.concurrency_group AND o.status = 'running'
      AND o.id <> j.id AND o.lease_until >= :now))"""

# Each kind is found by walking jobs_claimable (status, run_after, id) in order up to the
# first job that may run; the earlier of the two wins. One query with an OR of the two
# collected and sorted every queued job, which under a backlog took milliseconds a claim.
_CLAIMABLE = f"""
SELECT id FROM (
    SELECT * FROM (
        SELECT j.id, j.run_after FROM jobs j
        WHERE j.status = 'queued' AND j.run_after <= :now AND {_FREE_OF_ITS_GROUP}
        ORDER BY j.run_after, j.id LIMIT 1)
    UNION ALL
    SELECT * FROM (
        SELECT j.id, j.run_after FROM jobs j
        WHERE j.status = 'running' AND j.lease_until < :now AND {_FREE_OF_ITS_GROUP}
        ORDER BY j.run_after, j.id LIMIT 1)
)
ORDER BY run_after, id
LIMIT 1
"""


def job_record(row: tuple[Any, ...]) -> JobRecord:
    return JobRecord(
        id=row[0], delivery_id=row[1], hook=row[2], status=row[3], attempts=row[4],
        max_attempts=row[5], exit_code=row[6], error=row[7], result=row[8],
        concurrency_group=row[9], queued_at=parse_iso(row[10]) or datetime.now(UTC),
        run_after=parse_iso(row[11]) or datetime.now(UTC), started_at=parse_iso(row[12]),
        finished_at=parse_iso(row[13]), log_size=row[14], cancel_requested=bool(row[15]),
    )  # fmt: skip


def claim(
    connection: sqlite3.Connection, worker: str, now: datetime, lease_seconds: float
) -> JobRecord | None:
    at = iso(now)
    row = connection.execute(_CLAIMABLE, {"now": at}).fetchone()
    if row is None:
        return None
    until = iso(datetime.fromtimestamp(now.timestamp() + lease_seconds, UTC))
    updated = connection.execute(
        "UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_owner = ?, "
        f"lease_until = ?, started_at = ?, finished_at = NULL WHERE id = ? RETURNING {_COLUMNS}",
        (worker, until, at, row[0]),
    ).fetchone()
    return job_record(updated)


def renew(connection: sqlite3.Connection, job_id: str, worker: str, until: datetime) -> Lease:
    row = connection.execute(
        "UPDATE jobs SET lease_until = ? WHERE id = ? AND lease_owner = ? AND status = 'running' "
        "RETURNING cancel_requested",
        (iso(until), job_id, worker),
    ).fetchone()
    if row is None:
        return Lease(held=False, cancel_requested=False)
    return Lease(held=True, cancel_requested=bool(row[0]))


def finish(
    connection: sqlite3.Connection, job_id: str, worker: str, outcome: JobOutcome, now: datetime
) -> bool:
    if outcome.retry_at is not None:
        cursor = connection.execute(
            "UPDATE jobs SET status = 'queued', run_after = ?, exit_code = ?, error = ?, "
            "attempts = max(attempts - ?, 0), lease_owner = NULL, lease_until = NULL "
            "WHERE id = ? AND lease_owner = ? AND status = 'running'",
            (
                iso(outcome.retry_at),
                outcome.exit_code,
                outcome.error,
                0 if outcome.count_attempt else 1,
                job_id,
                worker,
            ),
        )
    else:
        cursor = connection.execute(
            "UPDATE jobs SET status = ?, exit_code = ?, error = ?, result = ?, finished_at = ?, "
            "lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ? "
            "AND status = 'running'",
            (
                outcome.status,
                outcome.exit_code,
                outcome.error,
                outcome.result,
                iso(now),
                job_id,
                worker,
            ),
        )
    return cursor.rowcount == 1


def release(connection: sqlite3.Connection, job_id: str, worker: str, now: datetime) -> None:
    """Hand a job back unfinished (shutdown): queued again at once, the attempt not counted."""
    connection.execute(
        "UPDATE jobs SET status = 'queued', run_after = ?, attempts = max(attempts - 1, 0), "
        "lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ? "
        "AND status = 'running'",
        (iso(now), job_id, worker),
    )


def cancel(connection: sqlite3.Connection, job_id: str, now: datetime) -> JobRecord:
    """Cancel a queued job now; ask a running one to stop. Finished jobs stay as they are."""
    connection.execute(
        "UPDATE jobs SET status = 'cancelled', finished_at = ?, error = 'cancelled' "
        "WHERE id = ? AND status = 'queued'",
        (iso(now), job_id),
    )
    connection.execute(
        "UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND status = 'running'", (job_id,)
    )
    return get(connection, job_id)


def requeue(connection: sqlite3.Connection, job_id: str, now: datetime) -> JobRecord:
    """Run a finished job again (`retry`): queued now with a fresh attempt budget."""
    job = get(connection, job_id)
    if job.status in ("queued", "running"):
        return job
    connection.execute(
        "UPDATE jobs SET status = 'queued', run_after = ?, attempts = 0, exit_code = NULL, "
        "error = NULL, result = NULL, finished_at = NULL, started_at = NULL, "
        "cancel_requested = 0 WHERE id = ?",
        (iso(now), job_id),
    )
    return get(connection, job_id)


def append_log(connection: sqlite3.Connection, job_id: str, chunk: bytes, cap: int) -> int:
    """Append output, keeping at most `cap` bytes and a note where it was cut.
    Returns how many bytes of `chunk` were kept."""
    row = connection.execute(
        "SELECT log_size, log_truncated FROM jobs WHERE id = ?", (job_id,)
    ).fetchone()
    if row is None or row[1]:
        return 0
    kept, truncated = capped_log_chunk(chunk, row[0], cap)
    connection.execute(
        "INSERT INTO job_logs (job_id, seq, chunk) VALUES "
        "(?, (SELECT coalesce(max(seq), 0) + 1 FROM job_logs WHERE job_id = ?), ?)",
        (job_id, job_id, kept),
    )
    connection.execute(
        "UPDATE jobs SET log_size = log_size + ?, log_truncated = ? WHERE id = ?",
        (len(kept), int(truncated), job_id),
    )
    return len(kept)


def read_log(connection: sqlite3.Connection, job_id: str, offset: int) -> bytes:
    """The log from byte `offset` on, reading only the chunks that hold it: from the last
    back to the one `offset` falls in, counted down from the log's size. One read
    transaction, so the size and the chunks agree (both change in one write)."""
    connection.execute("BEGIN")
    try:
        start = get(connection, job_id).log_size
        if offset >= start:
            return b""
        chunks = connection.execute(
            "SELECT chunk FROM job_logs WHERE job_id = ? ORDER BY seq DESC", (job_id,)
        )
        tail: list[bytes] = []
        for (chunk,) in chunks:
            tail.append(chunk)
            start -= len(chunk)
            if start <= offset:
                break
        chunks.close()
        return b"".join(reversed(tail))[offset - start :]
    finally:
        connection.execute("COMMIT")


def get(connection: sqlite3.Connection, job_id: str) -> JobRecord:
    row = connection.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
    if row is None:
        raise NotFound(f"no job {job_id}")
    return job_record(row)


def select(connection: sqlite3.Connection, query: JobQuery) -> list[JobRecord]:
    where, params = job_filters(query, "?")
    rows = connection.execute(
        f"SELECT {_COLUMNS} FROM jobs {where_clause(where)} ORDER BY id DESC LIMIT ?",
        (*params, query.limit),
    ).fetchall()
    return [job_record(row) for row in rows]


def record_process(connection: sqlite3.Connection, job_id: str, process: JobProcess) -> None:
    connection.execute(
        "INSERT OR IGNORE INTO job_processes (job_id, attempt, machine, tag, pid, started) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (job_id, process.attempt, process.machine, process.tag, process.pid, process.started),
    )


def processes(connection: sqlite3.Connection, job_id: str) -> list[JobProcess]:
    rows = connection.execute(
        "SELECT attempt, machine, tag, pid, started FROM job_processes WHERE job_id = ? "
        "ORDER BY attempt, started, pid",
        (job_id,),
    ).fetchall()
    return [JobProcess(*row) for row in rows]


def forget_processes(connection: sqlite3.Connection, job_id: str) -> None:
    connection.execute("DELETE FROM job_processes WHERE job_id = ?", (job_id,))
