"""The SQL of the PostgreSQL backend for jobs and their logs. Writes run inside the caller's
transaction; several processes run these at once, so every claim is one locking statement."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from hookd.errors import NotFound
from hookd.store.filters import job_filters, where_clause
from hookd.store.postgres_connect import Connection
from hookd.store.records import (
    JobOutcome,
    JobProcess,
    JobQuery,
    JobRecord,
    Lease,
    capped_log_chunk,
)

_COLUMNS = """id, delivery_id, hook, status, attempts, max_attempts, exit_code, error, result,
concurrency_group, queued_at, run_after, started_at, finished_at, log_size, cancel_requested"""

# Claimable: queued and due, or running under a lapsed lease (its worker died). A job in a
# concurrency group waits while another job of the group runs under a live lease, and is
# taken only by the transaction that gets the group's lock, tried for the chosen job alone.
# SKIP LOCKED lets concurrent workers pass over each other's candidates instead of queueing
# behind them.
_FREE_OF_ITS_GROUP = """(j.concurrency_group IS NULL OR NOT EXISTS (
    SELECT 1 FROM jobs o
    WHERE o.concurrency_group = j.concurrency_group AND o.status = 'running'
      AND o.id <> j.id AND o.lease_until >= %(now)s))"""

# Each kind is found by walking jobs_claimable (status, run_after, id) in order up to the
# first job that may run; the earlier of the two wins. One query with an OR of the two
# read and sorted every queued job, which under a backlog took milliseconds a claim.
_CLAIM = f"""
WITH due AS (
    SELECT j.id, j.run_after FROM jobs j
    WHERE j.status = 'queued' AND j.run_after <= %(now)s AND {_FREE_OF_ITS_GROUP}
    ORDER BY j.run_after, j.id LIMIT 1
    FOR UPDATE SKIP LOCKED
), lapsed AS (
    SELECT j.id, j.run_after FROM jobs j
    WHERE j.status = 'running' AND j.lease_until < %(now)s AND {_FREE_OF_ITS_GROUP}
    ORDER BY j.run_after, j.id LIMIT 1
    FOR UPDATE SKIP LOCKED
)
UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_owner = %(worker)s,
    lease_until = %(until)s, started_at = %(now)s, finished_at = NULL
WHERE id = (
    SELECT id FROM (SELECT * FROM due UNION ALL SELECT * FROM lapsed) candidates
    ORDER BY run_after, id
    LIMIT 1)
  AND (concurrency_group IS NULL
       OR pg_try_advisory_xact_lock(hashtextextended(concurrency_group, 0)))
RETURNING {_COLUMNS}
"""

# Run after a claim in a group, holding the group's lock: a claim by another worker that
# committed after the claim statement's snapshot was taken shows here.
_GROUP_BUSY = """
SELECT 1 FROM jobs WHERE concurrency_group = %s AND status = 'running' AND id <> %s
    AND lease_until >= %s LIMIT 1
"""


def _utc(moment: datetime | None) -> datetime | None:
    return moment.astimezone(UTC) if moment is not None else None


def job_record(row: tuple[Any, ...]) -> JobRecord:
    return JobRecord(
        id=row[0], delivery_id=row[1], hook=row[2], status=row[3], attempts=row[4],
        max_attempts=row[5], exit_code=row[6], error=row[7], result=row[8],
        concurrency_group=row[9], queued_at=row[10].astimezone(UTC),
        run_after=row[11].astimezone(UTC), started_at=_utc(row[12]),
        finished_at=_utc(row[13]), log_size=row[14], cancel_requested=row[15],
    )  # fmt: skip


async def claim(
    connection: Connection, worker: str, now: datetime, lease_seconds: float
) -> JobRecord | None:
    """Claim the next job in one transaction; None if there is none, or if another worker
    started a job of the same group at the same moment (the caller simply asks again)."""
    until = now + timedelta(seconds=lease_seconds)
    async with connection.transaction():
        cursor = await connection.execute(_CLAIM, {"worker": worker, "now": now, "until": until})
        row = await cursor.fetchone()
        if row is None:
            return None
        job = job_record(row)
        if job.concurrency_group is not None:
            busy = await connection.execute(_GROUP_BUSY, (job.concurrency_group, job.id, now))
            if await busy.fetchone() is not None:
                raise psycopg.Rollback()
        return job
    return None


async def renew(connection: Connection, job_id: str, worker: str, until: datetime) -> Lease:
    cursor = await connection.execute(
        "UPDATE jobs SET lease_until = %s WHERE id = %s AND lease_owner = %s "
        "AND status = 'running' RETURNING cancel_requested",
        (until, job_id, worker),
    )
    row = await cursor.fetchone()
    if row is None:
        return Lease(held=False, cancel_requested=False)
    return Lease(held=True, cancel_requested=bool(row[0]))


async def finish(
    connection: Connection, job_id: str, worker: str, outcome: JobOutcome, now: datetime
) -> bool:
    if outcome.retry_at is not None:
        cursor = await connection.execute(
            "UPDATE jobs SET status = 'queued', run_after = %s, exit_code = %s, error = %s, "
            "attempts = greatest(attempts - %s, 0), lease_owner = NULL, lease_until = NULL "
            "WHERE id = %s AND lease_owner = %s AND status = 'running'",
            (
                outcome.retry_at, outcome.exit_code, outcome.error,
                0 if outcome.count_attempt else 1, job_id, worker,
            ),
        )  # fmt: skip
    else:
        cursor = await connection.execute(
            "UPDATE jobs SET status = %s, exit_code = %s, error = %s, result = %s, "
            "finished_at = %s, lease_owner = NULL, lease_until = NULL "
            "WHERE id = %s AND lease_owner = %s AND status = 'running'",
            (
                outcome.status, outcome.exit_code, outcome.error, outcome.result, now, job_id,
                worker,
            ),
        )  # fmt: skip
    return cursor.rowcount == 1


async def release(connection: Connection, job_id: str, worker: str, now: datetime) -> None:
    """Hand a job back unfinished (shutdown): queued again at once, the attempt not counted."""
    await connection.execute(
        "UPDATE jobs SET status = 'queued', run_after = %s, attempts = greatest(attempts - 1, 0), "
        "lease_owner = NULL, lease_until = NULL WHERE id = %s AND lease_owner = %s "
        "AND status = 'running'",
        (now, job_id, worker),
    )


async def cancel(connection: Connection, job_id: str, now: datetime) -> JobRecord:
    """Cancel a queued job now; ask a running one to stop. Finished jobs stay as they are."""
    await connection.execute(
        "UPDATE jobs SET status = 'cancelled', finished_at = %s, error = 'cancelled' "
        "WHERE id = %s AND status = 'queued'",
        (now, job_id),
    )
    await connection.execute(
        "UPDATE jobs SET cancel_requested = true WHERE id = %s AND status = 'running'", (job_id,)
    )
    return await get(connection, job_id)


async def requeue(connection: Connection, job_id: str, now: datetime) -> JobRecord:
    """Run a finished job again (`retry`): queued now with a fresh attempt budget."""
    job = await get(connection, job_id, lock=True)
    if job.status in ("queued", "running"):
        return job
    await connection.execute(
        "UPDATE jobs SET status = 'queued', run_after = %s, attempts = 0, exit_code = NULL, "
        "error = NULL, result = NULL, finished_at = NULL, started_at = NULL, "
        "cancel_requested = false WHERE id = %s",
        (now, job_id),
    )
    return await get(connection, job_id)


async def append_log(connection: Connection, job_id: str, chunk: bytes, cap: int) -> int:
    """Append output, keeping at most `cap` bytes and a note where it was cut.
    Returns how many bytes of `chunk` were kept."""
    cursor = await connection.execute(
        "SELECT log_size, log_truncated FROM jobs WHERE id = %s FOR NO KEY UPDATE", (job_id,)
    )
    row = await cursor.fetchone()
    if row is None or row[1]:
        return 0
    kept, truncated = capped_log_chunk(chunk, row[0], cap)
    await connection.execute(
        "INSERT INTO job_logs (job_id, seq, chunk) VALUES "
        "(%s, (SELECT coalesce(max(seq), 0) + 1 FROM job_logs WHERE job_id = %s), %s)",
        (job_id, job_id, kept),
    )
    await connection.execute(
        "UPDATE jobs SET log_size = log_size + %s, log_truncated = %s WHERE id = %s",
        (len(kept), truncated, job_id),
    )
    return len(kept)


# The chunks from the one byte `offset` falls in to the last, each with the bytes from its
# start to the log's end (`behind`) and the log's size, in one statement (one snapshot). The
# first chunk is found from the chunks' sizes alone: octet_length reads a stored (TOASTed)
# chunk's length without fetching its bytes, so no chunk before it is read.
_READ_LOG = """
WITH size AS (SELECT log_size FROM jobs WHERE id = %(job)s),
first AS (
    SELECT seq, behind FROM (
        SELECT seq, sum(octet_length(chunk)) OVER (ORDER BY seq DESC) AS behind
        FROM job_logs WHERE job_id = %(job)s
    ) back
    WHERE behind >= (SELECT log_size FROM size) - %(offset)s
    ORDER BY seq DESC LIMIT 1
)
SELECT l.chunk, f.behind, (SELECT log_size FROM size)
FROM first f JOIN job_logs l ON l.job_id = %(job)s AND l.seq >= f.seq
ORDER BY l.seq
"""


async def read_log(connection: Connection, job_id: str, offset: int) -> bytes:
    """The log from byte `offset` on, reading only the chunks that hold it."""
    job = await get(connection, job_id)
    if offset >= job.log_size:
        return b""
    cursor = await connection.execute(_READ_LOG, {"job": job_id, "offset": offset})
    rows = await cursor.fetchall()
    if not rows:
        return b""
    _, behind, size = rows[0]
    return b"".join(chunk for chunk, _, _ in rows)[int(offset - (size - behind)) :]


async def get(connection: Connection, job_id: str, *, lock: bool = False) -> JobRecord:
    locking = " FOR NO KEY UPDATE" if lock else ""
    cursor = await connection.execute(
        f"SELECT {_COLUMNS} FROM jobs WHERE id = %s{locking}", (job_id,)
    )
    row = await cursor.fetchone()
    if row is None:
        raise NotFound(f"no job {job_id}")
    return job_record(row)


async def select(connection: Connection, query: JobQuery) -> list[JobRecord]:
    where, params = job_filters(query, "%s")
    cursor = await connection.execute(
        f"SELECT {_COLUMNS} FROM jobs {where_clause(where)} ORDER BY id DESC LIMIT %s",
        (*params, query.limit),
    )
    return [job_record(row) for row in await cursor.fetchall()]


async def count(connection: Connection, statuses: Sequence[str]) -> dict[str, int]:
    counts = dict.fromkeys(statuses, 0)
    cursor = await connection.execute(
        "SELECT status, count(*) FROM jobs WHERE status = ANY(%s) GROUP BY status",
        (list(statuses),),
    )
    counts.update({status: number for status, number in await cursor.fetchall()})
    return counts


async def record_process(connection: Connection, job_id: str, process: JobProcess) -> None:
    await connection.execute(
        "INSERT INTO job_processes (job_id, attempt, machine, tag, pid, started) "
        "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
        (job_id, process.attempt, process.machine, process.tag, process.pid, process.started),
    )


async def processes(connection: Connection, job_id: str) -> list[JobProcess]:
    cursor = await connection.execute(
        "SELECT attempt, machine, tag, pid, started FROM job_processes WHERE job_id = %s "
        "ORDER BY attempt, started, pid",
        (job_id,),
    )
    return [JobProcess(*row) for row in await cursor.fetchall()]


async def forget_processes(connection: Connection, job_id: str) -> None:
    await connection.execute("DELETE FROM job_processes WHERE job_id = %s", (job_id,))
