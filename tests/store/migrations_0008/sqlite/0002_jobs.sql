-- Jobs: one per matched hook, created in the delivery's transaction, claimed by workers
-- under a lease they renew; a lapsed lease means the worker died and the job is claimable.
CREATE TABLE jobs (
    id                 TEXT PRIMARY KEY,
    delivery_id        TEXT NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    hook               TEXT NOT NULL,
    status             TEXT NOT NULL,   -- queued | running | succeeded | failed | timed_out | cancelled
    attempts           INTEGER NOT NULL DEFAULT 0,
    max_attempts       INTEGER NOT NULL,
    exit_code          INTEGER,
    error              TEXT,
    result             TEXT,
    concurrency_group  TEXT,
    queued_at          TEXT NOT NULL,
    run_after          TEXT NOT NULL,
    started_at         TEXT,
    finished_at        TEXT,
    lease_owner        TEXT,
    lease_until        TEXT,
    cancel_requested   INTEGER NOT NULL DEFAULT 0,
    log_size           INTEGER NOT NULL DEFAULT 0,
    log_truncated      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX jobs_claimable ON jobs (status, run_after);
CREATE INDEX jobs_delivery ON jobs (delivery_id);
CREATE INDEX jobs_hook ON jobs (hook, id);
CREATE INDEX jobs_group ON jobs (concurrency_group, status) WHERE concurrency_group IS NOT NULL;

-- A job's output, in the order it was written, in chunks.
CREATE TABLE job_logs (
    job_id  TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,
    chunk   BLOB NOT NULL,
    PRIMARY KEY (job_id, seq)
);
