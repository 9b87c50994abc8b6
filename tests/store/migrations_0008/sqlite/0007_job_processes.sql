-- The processes each attempt of a job started, so the next attempt can end whatever an
-- earlier one left running when its hookd died (kill -9, a crash): the machine's boot id,
-- the attempt's tag (in each process's environment), and the pid and start time (clock
-- ticks after boot, from /proc/PID/stat) of each process hookd started itself.
CREATE TABLE job_processes (
    job_id   TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt  INTEGER NOT NULL,
    machine  TEXT NOT NULL,
    tag      TEXT NOT NULL,
    pid      INTEGER NOT NULL,
    started  INTEGER NOT NULL,
    PRIMARY KEY (job_id, attempt, pid, started)
);
