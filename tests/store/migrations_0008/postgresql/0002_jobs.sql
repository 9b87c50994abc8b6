-- Jobs: one per matched hook, created in the delivery's transaction, claimed by workers
-- under a lease they renew; a lapsed lease means the worker died and the job is claimable.
CREATE TABLE jobs (
    id                 text COLLATE "C" PRIMARY KEY,
    delivery_id        text COLLATE "C" NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    hook               text NOT NULL,
    status             text NOT NULL,   -- queued | running | succeeded | failed | timed_out | cancelled
    attempts           integer NOT NULL DEFAULT 0,
    max_attempts       integer NOT NULL,
    exit_code          integer,
    error              text,
    result             text,
    concurrency_group  text,
    queued_at          timestamptz NOT NULL,
    run_after          timestamptz NOT NULL,
    started_at         timestamptz,
    finished_at        timestamptz,
    lease_owner        text,
    lease_until        timestamptz,
    cancel_requested   boolean NOT NULL DEFAULT false,
    log_size           bigint NOT NULL DEFAULT 0,
    log_truncated      boolean NOT NULL DEFAULT false
);
CREATE INDEX jobs_claimable ON jobs (status, run_after);
CREATE INDEX jobs_delivery ON jobs (delivery_id);
CREATE INDEX jobs_hook ON jobs (hook, id);
CREATE INDEX jobs_group ON jobs (concurrency_group, status) WHERE concurrency_group IS NOT NULL;

-- A job's output, in the order it was written, in chunks.
CREATE TABLE job_logs (
    job_id  text COLLATE "C" NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq     integer NOT NULL,
    chunk   bytea NOT NULL,
    PRIMARY KEY (job_id, seq)
);
