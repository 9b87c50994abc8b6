"""Every statement the store runs, each written once and named, for both backends.

Parameters are `:name`; `{token}`s are the words SQLite and PostgreSQL spell differently
(`hookd.store.dialect`). A statement only one backend runs says so (`only=`): PostgreSQL
records a delivery in one statement and locks concurrency groups across processes; SQLite
writes a large body in place. Connection set-up (PRAGMAs, BEGIN/COMMIT) is not here.
"""

from __future__ import annotations

from dataclasses import dataclass

from hookd.store.dialect import DIALECTS, POSTGRESQL, SQLITE, Dialect, Statement


@dataclass(frozen=True, slots=True)
class Query:
    name: str
    template: str
    texts: dict[str, Statement]

    def statement(self, dialect: Dialect) -> Statement:
        return self.texts[dialect.name]

    def sql(self, dialect: Dialect) -> str:
        return self.texts[dialect.name].text


def query(name: str, template: str, *, only: Dialect | None = None) -> Query:
    dialects = [only] if only is not None else list(DIALECTS.values())
    return Query(name, template, {d.name: d.render(template) for d in dialects})


# -- Jobs -------------------------------------------------------------------------------

JOB_COLUMNS = """id, delivery_id, hook, status, attempts, max_attempts, exit_code, error, result,
concurrency_group, queued_at, run_after, started_at, finished_at, log_size, cancel_requested,
ref, paths_filter"""

# Claimable: queued and due, or running under a lapsed lease (its worker died). A job in a
# concurrency group waits while another job of the group runs under a live lease.
_FREE_OF_ITS_GROUP = """(j.concurrency_group IS NULL OR NOT EXISTS (
    SELECT 1 FROM jobs o
    WHERE o.concurrency_group = j.concurrency_group AND o.status = 'running'
      AND o.id <> j.id AND o.lease_until >= :now))"""

# Each kind is found by walking jobs_claimable (status, run_after, id) in order up to the
# first job that may run; the earlier of the two wins. One query with an OR of the two
# collected and sorted every queued job, which under a backlog took milliseconds a claim.
CLAIM = query(
    "claim",
    f"""
WITH due AS (
    SELECT j.id, j.run_after FROM jobs j
    WHERE j.status = 'queued' AND j.run_after <= :now AND {_FREE_OF_ITS_GROUP}
    ORDER BY j.run_after, j.id LIMIT 1
    {{skip_locked}}
), lapsed AS (
    SELECT j.id, j.run_after FROM jobs j
    WHERE j.status = 'running' AND j.lease_until < :now AND {_FREE_OF_ITS_GROUP}
    ORDER BY j.run_after, j.id LIMIT 1
    {{skip_locked}}
)
UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_owner = :worker,
    lease_until = :until, started_at = :now, finished_at = NULL
WHERE id = (
    SELECT id FROM (SELECT * FROM due UNION ALL SELECT * FROM lapsed) candidates
    ORDER BY run_after, id
    LIMIT 1)
  {{take_group}}
RETURNING {JOB_COLUMNS}
""",
)

# Run after a claim in a group, holding the group's lock: a claim by another process that
# committed after the claim statement's snapshot was taken shows here.
GROUP_BUSY = query(
    "group_busy",
    """
SELECT 1 AS busy FROM jobs WHERE concurrency_group = :group AND status = 'running'
    AND id <> :id AND lease_until >= :now LIMIT 1
""",
    only=POSTGRESQL,
)

RENEW = query(
    "renew",
    "UPDATE jobs SET lease_until = :until WHERE id = :id AND lease_owner = :worker "
    "AND status = 'running' RETURNING cancel_requested",
)

RETRY_LATER = query(
    "retry_later",
    "UPDATE jobs SET status = 'queued', run_after = :run_after, exit_code = :exit_code, "
    "error = :error, attempts = {greatest}(attempts - :given_back, 0), lease_owner = NULL, "
    "lease_until = NULL WHERE id = :id AND lease_owner = :worker AND status = 'running'",
)

FINISH = query(
    "finish",
    "UPDATE jobs SET status = :status, exit_code = :exit_code, error = :error, "
    "result = :result, finished_at = :now, lease_owner = NULL, lease_until = NULL "
    "WHERE id = :id AND lease_owner = :worker AND status = 'running'",
)

RELEASE = query(
    "release",
    "UPDATE jobs SET status = 'queued', run_after = :now, "
    "attempts = {greatest}(attempts - 1, 0), lease_owner = NULL, lease_until = NULL "
    "WHERE id = :id AND lease_owner = :worker AND status = 'running'",
)

CANCEL_QUEUED = query(
    "cancel_queued",
    "UPDATE jobs SET status = 'cancelled', finished_at = :now, error = 'cancelled' "
    "WHERE id = :id AND status = 'queued'",
)

CANCEL_HOOK_QUEUED = query(
    "cancel_hook_queued",
    "UPDATE jobs SET status = 'cancelled', finished_at = :now, error = :reason "
    "WHERE hook = :hook AND status = 'queued'",
)

ASK_TO_STOP = query(
    "ask_to_stop",
    "UPDATE jobs SET cancel_requested = {true} WHERE id = :id AND status = 'running'",
)

REQUEUE = query(
    "requeue",
    "UPDATE jobs SET status = 'queued', run_after = :now, attempts = 0, exit_code = NULL, "
    "error = NULL, result = NULL, finished_at = NULL, started_at = NULL, "
    "cancel_requested = {false} WHERE id = :id",
)

GET_JOB = query("get_job", f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = :id")

GET_JOB_LOCKED = query(
    "get_job_locked", f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = :id {{lock_row}}"
)

LIST_JOBS = f"SELECT {JOB_COLUMNS} FROM jobs {{where}} ORDER BY id DESC LIMIT :limit"
"""A template: `hookd.store.jobs` fills in the filters (`hookd.store.filters`)."""

COUNT_JOBS = "SELECT status, count(*) AS jobs FROM jobs WHERE status IN ({marks}) GROUP BY status"
"""A template: one parameter per status asked for."""

# A new queued job replaces the older one still queued in its concurrency group, and with
# cancel-in-progress asks the running one to stop (GitHub Actions' concurrency rule).
REPLACE_IN_GROUP = query(
    "replace_in_group",
    "UPDATE jobs SET status = 'cancelled', finished_at = :at, "
    "error = 'replaced by a newer job in its concurrency group (' || :id || ')' "
    "WHERE concurrency_group = :group AND status = 'queued'",
)

STOP_IN_GROUP = query(
    "stop_in_group",
    "UPDATE jobs SET cancel_requested = {true} "
    "WHERE concurrency_group = :group AND status = 'running'",
)

INSERT_JOB = query(
    "insert_job",
    """
INSERT INTO jobs (id, delivery_id, hook, status, max_attempts, error, concurrency_group,
    queued_at, run_after, finished_at, ref, paths_filter)
VALUES (:id, :delivery_id, :hook, :status, :max_attempts, :error, :group, :at, :at, :finished,
    :ref, :paths_filter)
""",
)

# Taken by receivers before they replace a group's queued jobs, as claims try it: one
# transaction at a time decides what a group runs next, in any process.
LOCK_GROUP = query(
    "lock_group", "SELECT pg_advisory_xact_lock(hashtextextended(:group, 0))", only=POSTGRESQL
)

# -- Job logs and processes ---------------------------------------------------------------

LOG_STATE = query("log_state", "SELECT log_size, log_truncated FROM jobs WHERE id = :id {lock_row}")

APPEND_CHUNK = query(
    "append_chunk",
    "INSERT INTO job_logs (job_id, seq, chunk) VALUES "
    "(:id, (SELECT coalesce(max(seq), 0) + 1 FROM job_logs WHERE job_id = :id), :chunk)",
)

GROW_LOG = query(
    "grow_log",
    "UPDATE jobs SET log_size = log_size + :kept, log_truncated = :truncated WHERE id = :id",
)

# The chunks from the one byte `offset` falls in to the last, each with the bytes from its
# start to the log's end (`behind`) and the log's size, in one statement (one snapshot). The
# first chunk is found from the chunks' sizes alone: the length of a stored chunk is read
# without its bytes, so no chunk before it is read.
READ_LOG = query(
    "read_log",
    """
WITH size AS (SELECT log_size FROM jobs WHERE id = :id),
first AS (
    SELECT seq, behind FROM (
        SELECT seq, sum({octet_length}(chunk)) OVER (ORDER BY seq DESC) AS behind
        FROM job_logs WHERE job_id = :id
    ) back
    WHERE behind >= (SELECT log_size FROM size) - :offset
    ORDER BY seq DESC LIMIT 1
)
SELECT l.chunk, f.behind, (SELECT log_size FROM size) AS log_size
FROM first f JOIN job_logs l ON l.job_id = :id AND l.seq >= f.seq
ORDER BY l.seq
""",
)

RECORD_PROCESS = query(
    "record_process",
    "INSERT INTO job_processes (job_id, attempt, machine, tag, pid, started) "
    "VALUES (:id, :attempt, :machine, :tag, :pid, :started) ON CONFLICT DO NOTHING",
)

PROCESSES = query(
    "processes",
    "SELECT attempt, machine, tag, pid, started FROM job_processes WHERE job_id = :id "
    "ORDER BY attempt, started, pid",
)

FORGET_PROCESSES = query("forget_processes", "DELETE FROM job_processes WHERE job_id = :id")

# A delivery's changed files, kept once (hookd.changed_files): the first kept stays.
KEEP_FILES = query(
    "keep_files",
    "INSERT INTO delivery_files (delivery_id, ref, source, files, reason, fetched_at) "
    "VALUES (:id, :ref, :source, :files, :reason, :at) ON CONFLICT DO NOTHING",
)

KEPT_FILES = query(
    "kept_files",
    "SELECT source, files, reason FROM delivery_files WHERE delivery_id = :id AND ref = :ref",
)

# -- Deliveries ---------------------------------------------------------------------------

DELIVERY_COLUMNS = """
d.id, d.delivery, d.endpoint, d.forge, d.event, d.action, d.repository, d.received_at,
d.status, d.reason, d.hooks, d.size, d.remote_addr, d.replay_of, d.duplicate_of,
{job_ids} AS jobs,
(SELECT c.config FROM delivery_configs c WHERE c.delivery_id = d.id) AS config
"""

LIST_DELIVERIES = (
    f"SELECT {DELIVERY_COLUMNS} FROM deliveries d {{where}} ORDER BY d.id DESC LIMIT :limit"
)
"""A template: `hookd.store.deliveries` fills in the filters (`hookd.store.filters`)."""

# How a hook's deliveries are found: a delivery matched a hook exactly when it has a job
# for it (one per matched hook, made in its transaction).
HOOK_IN_INDEX = "d.id IN (SELECT j.delivery_id FROM jobs j WHERE j.hook = :hook)"
HOOK_PER_ROW = "EXISTS (SELECT 1 FROM jobs j WHERE j.delivery_id = d.id AND j.hook = :hook)"

HOOK_SEEN = query(
    "hook_seen",
    "SELECT count(*) AS seen FROM (SELECT 1 FROM jobs WHERE hook = :hook LIMIT :most) probe",
    only=SQLITE,
)

# A large body is read in pieces after the row: selected whole, the driver would hold a
# copy of all of it while Python made its own. `most` is the most bytes selected with it.
GET_DELIVERY = query(
    "get_delivery",
    f"""
SELECT {DELIVERY_COLUMNS}, d.content_type, d.headers,
    CASE WHEN {{octet_length}}(d.body) <= :most THEN d.body END AS body,
    d.trace, d.forge_event, {{octet_length}}(d.body) AS body_size
FROM deliveries d WHERE d.id = :id
""",
)

BODY_ROWID = query("body_rowid", "SELECT rowid FROM deliveries WHERE id = :id", only=SQLITE)

BODY_PIECE = query(
    "body_piece",
    "SELECT substring(body FROM :start FOR :length) AS piece FROM deliveries WHERE id = :id",
    only=POSTGRESQL,
)

# SQLite's record of a delivery: the row (a large body written in place after it), then
# its jobs and its body's digest, each its own statement in the writer's transaction.
INSERT_DELIVERY = query(
    "insert_delivery",
    """
INSERT INTO deliveries (id, delivery, endpoint, forge, event, forge_event, action, repository,
    ref, sha, received_at, status, http_status, remote_addr, size, content_type, headers, body,
    hooks, trace, replay_of)
VALUES (:id, :delivery, :endpoint, :forge, :event, :forge_event, :action, :repository, :ref,
    :sha, :at, 'accepted', :http_status, :remote_addr, :size, :content_type, :headers, :body,
    :hooks, :trace, :replay_of)
ON CONFLICT DO NOTHING
""",
    only=SQLITE,
)

# Which configuration decided it (0013), in the same transaction: on SQLite for an accepted
# delivery (PostgreSQL's RECORD holds its own), on both for a duplicate's row.
INSERT_DELIVERY_CONFIG = query(
    "insert_delivery_config",
    "INSERT INTO delivery_configs (delivery_id, config) VALUES (:id, :config)",
)

# Sized by an UPDATE, not in the INSERT: with foreign keys on, SQLite builds an inserted
# row's zeroblob out in memory.
SIZE_BODY = query(
    "size_body", "UPDATE deliveries SET body = zeroblob(:size) WHERE rowid = :rowid", only=SQLITE
)

# SQLite's body digests: an append-only log, read into the writer's memory
# (hookd.store.replay_index, 0011_body_digest_log.sql), a row confirmed by its seq.
APPEND_BODY_DIGEST = query(
    "append_body_digest",
    "INSERT INTO body_digests (endpoint, sha256, delivery_id, received_at) "
    "VALUES (:endpoint, :sha256, :delivery_id, :at)",
    only=SQLITE,
)
LAST_BODY_DIGEST = query(
    "last_body_digest", "SELECT coalesce(max(seq), 0) AS seq FROM body_digests", only=SQLITE
)
# Without an index on the time (0015): the index reads this when it loads, and rows are
# appended in time order, so a prune looks at the oldest rows alone.
BODY_DIGESTS_SINCE = query(
    "body_digests_since",
    "SELECT seq, endpoint, sha256, received_at FROM body_digests WHERE received_at >= :since "
    "ORDER BY seq",
    only=SQLITE,
)
# Changes when another connection (another receiver, a worker) commits to the file: until
# then, no other process appended a digest the index has not read.
DATA_VERSION = query("data_version", "PRAGMA data_version", only=SQLITE)
BODY_DIGESTS_AFTER = query(
    "body_digests_after",
    "SELECT seq, endpoint, sha256, received_at FROM body_digests WHERE seq > :seq ORDER BY seq",
    only=SQLITE,
)
BODY_DIGEST_AT = query(
    "body_digest_at",
    "SELECT d.id, d.delivery FROM body_digests b JOIN deliveries d ON d.id = b.delivery_id "
    "WHERE b.seq = :seq AND b.endpoint = :endpoint AND b.sha256 = :sha256 "
    "AND b.received_at >= :since",
    only=SQLITE,
)
PRUNE_BODY_DIGESTS = query(
    "prune_body_digests",
    """
DELETE FROM body_digests WHERE seq IN (
    SELECT seq FROM body_digests WHERE seq < coalesce(
        (SELECT seq FROM body_digests WHERE received_at >= :before ORDER BY seq LIMIT 1),
        (SELECT max(seq) + 1 FROM body_digests))
    ORDER BY seq LIMIT :limit)""",
    only=SQLITE,
)

# PostgreSQL's record of a delivery: one statement (so one round trip, atomic without
# BEGIN/COMMIT) stores the delivery and, if it was not a duplicate, its jobs. The conflict
# target names the dedupe index, so only a second accepted copy of a forge delivery id
# counts as a duplicate, whichever receiver it reached; any other violation is an error.
# With a body digest (`sha256`), a body that its endpoint accepted since `since` is a
# duplicate too, and an accepted one claims the digest's row: the insert, without ON
# CONFLICT, fails the whole statement when another receiver claimed it first (or a row
# whose window has passed still holds it).
RECORD = query(
    "record",
    """
WITH delivery AS (
    INSERT INTO deliveries (id, delivery, endpoint, forge, event, forge_event, action,
        repository, ref, sha, received_at, status, http_status, remote_addr, size,
        content_type, headers, body, hooks, trace, replay_of)
    SELECT :id, :delivery, :endpoint, :forge, :event, :forge_event,
        :action, :repository, :ref, :sha, :at, 'accepted', :http_status,
        :remote_addr, :size, :content_type, :headers::jsonb,
        coalesce(:body::bytea, lo_get(:body_object::oid)),
        :hooks::jsonb, :trace::jsonb, :replay_of
    WHERE :sha256::bytea IS NULL OR NOT EXISTS (
        SELECT 1 FROM body_digests b WHERE b.endpoint = :endpoint
            AND b.sha256 = :sha256::bytea AND b.received_at >= :since::timestamptz)
    ON CONFLICT (endpoint, delivery)
        WHERE status = 'accepted' AND replay_of IS NULL AND delivery IS NOT NULL
    DO NOTHING
    RETURNING id
), config AS (
    INSERT INTO delivery_configs (delivery_id, config)
    SELECT delivery.id, :config FROM delivery WHERE :config::text IS NOT NULL
), claim AS (
    INSERT INTO body_digests (endpoint, sha256, delivery_id, received_at)
    SELECT :endpoint, :sha256::bytea, delivery.id, :at
    FROM delivery WHERE :sha256::bytea IS NOT NULL
), made AS (
    INSERT INTO jobs (id, delivery_id, hook, status, max_attempts, error, queued_at, run_after,
        finished_at, ref, paths_filter)
    SELECT job.id, delivery.id, job.hook, job.status, job.max_attempts, job.error, :at,
        :at, CASE WHEN job.status = 'queued' THEN NULL ELSE :at::timestamptz END, job.ref,
        job.paths_filter
    FROM delivery, jsonb_to_recordset(:jobs::jsonb)
        AS job (id text, hook text, status text, max_attempts integer, error text, ref text,
            paths_filter text)
)
SELECT count(*) AS accepted FROM delivery
""",
    only=POSTGRESQL,
)

# The digest's row outlived its window: the next identical body takes its place.
EXPIRE_DIGEST = query(
    "expire_digest",
    "DELETE FROM body_digests WHERE endpoint = :endpoint AND sha256 = :sha256 "
    "AND received_at < :since",
    only=POSTGRESQL,
)

# A body over a piece goes into a large object first, which RECORD reads on the server.
LO_CREATE = query("lo_create", "SELECT lo_create(0) AS oid", only=POSTGRESQL)
LO_PUT = query("lo_put", "SELECT lo_put(:oid::oid, :start, :piece)", only=POSTGRESQL)
LO_UNLINK = query("lo_unlink", "SELECT lo_unlink(:oid::oid)", only=POSTGRESQL)

FIRST_WITH_ID = query(
    "first_with_id",
    "SELECT id FROM deliveries WHERE endpoint = :endpoint AND delivery = :delivery "
    "AND status = 'accepted' AND replay_of IS NULL",
)

FIRST_WITH_BODY = query(
    "first_with_body",
    "SELECT d.id, d.delivery FROM body_digests b JOIN deliveries d ON d.id = b.delivery_id "
    "WHERE b.endpoint = :endpoint AND b.sha256 = :sha256 AND b.received_at >= :since",
    only=POSTGRESQL,
)

INSERT_DUPLICATE = query(
    "insert_duplicate",
    """
INSERT INTO deliveries (id, delivery, endpoint, forge, event, forge_event, action, repository,
    received_at, status, http_status, remote_addr, size, content_type, duplicate_of)
VALUES (:id, :delivery, :endpoint, :forge, :event, :forge_event, :action, :repository, :at,
    'duplicate', 200, :remote_addr, :size, :content_type, :duplicate_of)
""",
)

INSERT_REJECTED = query(
    "insert_rejected",
    "INSERT INTO deliveries (id, endpoint, received_at, status, reason, http_status, path, "
    "remote_addr, size, event, delivery) VALUES (:id, :endpoint, :at, 'rejected', :reason, "
    ":http_status, :path, :remote_addr, :size, :event, :delivery)",
)

# An endpoint's rejected requests beyond the newest `keep`, a batch at a time, through the
# deliveries_rejected index.
TRIM_REJECTED = query(
    "trim_rejected",
    """
DELETE FROM deliveries WHERE id IN (
    SELECT id FROM deliveries WHERE endpoint = :endpoint AND status = 'rejected'
    ORDER BY id DESC LIMIT :batch OFFSET :keep)
""",
)

# Oldest first through the received_at index; a delivery whose jobs are still queued or
# running is skipped (a worker holds it). Jobs and their logs go by ON DELETE CASCADE.
PRUNE = query(
    "prune",
    """
DELETE FROM deliveries WHERE id IN (
    SELECT d.id FROM deliveries d
    WHERE d.received_at < :before AND NOT EXISTS (
        SELECT 1 FROM jobs j WHERE j.delivery_id = d.id AND j.status IN ('queued', 'running'))
    ORDER BY d.received_at
    LIMIT :limit)
""",
)

# -- Sessions, readiness, schema ----------------------------------------------------------

FORGET_REVOKED = query("forget_revoked", "DELETE FROM revoked_sessions WHERE until <= :now")

REVOKE_SESSION = query(
    "revoke_session",
    "INSERT INTO revoked_sessions (digest, until) VALUES (:digest, :until) "
    "ON CONFLICT (digest) DO UPDATE SET until = excluded.until",
)

SESSION_REVOKED = query(
    "session_revoked",
    "SELECT 1 AS revoked FROM revoked_sessions WHERE digest = :digest AND until > :now",
)

PROBE = query(
    "probe",
    "INSERT INTO readiness (id, probed_at) VALUES (1, :at) "
    "ON CONFLICT (id) DO UPDATE SET probed_at = excluded.probed_at",
)

CREATE_MIGRATIONS = query(
    "create_migrations",
    "CREATE TABLE IF NOT EXISTS schema_migrations "
    "(version {integer} PRIMARY KEY, name {text} NOT NULL, applied_at {moment} NOT NULL)",
)

APPLIED = query("applied", "SELECT version FROM schema_migrations")

MARK_APPLIED = query(
    "mark_applied",
    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (:version, :name, :at)",
)

SCHEMA_VERSION = query(
    "schema_version", "SELECT coalesce(max(version), 0) AS version FROM schema_migrations"
)

# The session advisory lock that serializes migrations across processes (the two-integer
# form, whose keys never meet the one-integer keys of concurrency groups).
MIGRATION_LOCK = query("migration_lock", "SELECT pg_advisory_lock(1752133483, 1)", only=POSTGRESQL)

# Waking idle workers (`hookd.store.postgres_listen`).
LISTEN = query("listen", "LISTEN hookd_jobs", only=POSTGRESQL)
NOTIFY = query("notify", "NOTIFY hookd_jobs", only=POSTGRESQL)


# -- Catch-up (hookd.catch_up) ------------------------------------------------------------

CATCH_UP_HOOKS = query(
    "catch_up_hooks",
    "SELECT hook, seen_at, caught_up_at, gone_at FROM catch_up_hooks "
    "WHERE endpoint = :endpoint ORDER BY hook",
)
SAVE_CATCH_UP_HOOK = query(
    "save_catch_up_hook",
    "INSERT INTO catch_up_hooks (endpoint, hook, seen_at, caught_up_at, gone_at) "
    "VALUES (:endpoint, :hook, :seen_at, :caught_up_at, :gone_at) "
    "ON CONFLICT (endpoint, hook) DO UPDATE SET "
    "caught_up_at = excluded.caught_up_at, gone_at = excluded.gone_at",
)
CATCH_UP_SCANNED = query(
    "catch_up_scanned",
    "SELECT scanned_through FROM catch_up_scans WHERE endpoint = :endpoint",
)
SAVE_CATCH_UP_SCANNED = query(
    "save_catch_up_scanned",
    "INSERT INTO catch_up_scans (endpoint, scanned_through) VALUES (:endpoint, :through) "
    "ON CONFLICT (endpoint) DO UPDATE SET scanned_through = excluded.scanned_through",
)
CATCH_UP_NEW_DELIVERIES = query(
    "catch_up_new_deliveries",
    "SELECT id, headers, repository FROM deliveries "
    "WHERE endpoint = :endpoint AND status = 'accepted' AND id > :after ORDER BY id LIMIT :limit",
)
# `keys`: a JSON array of forge delivery ids. The conditions are the dedupe index's
# (0001), so it answers.
CATCH_UP_HELD = query(
    "catch_up_held",
    "SELECT delivery FROM deliveries WHERE endpoint = :endpoint AND status = 'accepted' "
    "AND replay_of IS NULL AND delivery IS NOT NULL AND delivery IN ({json_texts})",
)
CATCH_UP_ASKED = query(
    "catch_up_asked",
    "SELECT delivery FROM catch_up_requests WHERE endpoint = :endpoint "
    "AND delivery IN ({json_texts})",
)
CATCH_UP_CLAIM = query(
    "catch_up_claim",
    "INSERT INTO catch_up_requests (id, endpoint, forge, hook, delivery, forge_id, event, "
    "failed_at, failure, requested_at, outcome) VALUES (:id, :endpoint, :forge, :hook, "
    ":delivery, :forge_id, :event, :failed_at, :failure, :requested_at, :outcome) "
    "ON CONFLICT (endpoint, delivery) DO NOTHING",
)
CATCH_UP_FINISH = query(
    "catch_up_finish",
    "UPDATE catch_up_requests SET outcome = :outcome, answer_status = :answer_status, "
    "answer = :answer WHERE id = :id",
)
CATCH_UP_REQUESTS = query(
    "catch_up_requests",
    "SELECT r.id, r.endpoint, r.forge, r.hook, r.delivery, r.forge_id, r.event, r.failed_at, "
    "r.failure, r.requested_at, r.outcome, r.answer_status, r.answer, "
    "EXISTS (SELECT 1 FROM deliveries d WHERE d.endpoint = r.endpoint "
    "AND d.delivery = r.delivery AND d.status = 'accepted' AND d.replay_of IS NULL) AS arrived "
    "FROM catch_up_requests r WHERE r.id < :before ORDER BY r.id DESC LIMIT :limit",
)
# One catch-up at a time across processes: a session lock (two-integer form, as the
# migration lock's; see hookd.store.postgres_connect), released by closing its connection.
CATCH_UP_LOCK = query(
    "catch_up_lock",
    "SELECT pg_try_advisory_lock(1752133483, 10) AS locked",
    only=POSTGRESQL,
)
