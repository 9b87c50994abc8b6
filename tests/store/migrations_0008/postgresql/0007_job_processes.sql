-- The processes each attempt of a job started, so the next attempt can end whatever an
-- earlier one left running when its hookd died (kill -9, a crash): the machine's boot id,
-- the attempt's tag (in each process's environment), and the pid and start time (clock
-- ticks after boot, from /proc/PID/stat) of each process hookd started itself.
CREATE TABLE job_processes (
    job_id   text COLLATE "C" NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt  integer NOT NULL,
    machine  text NOT NULL,
    tag      text NOT NULL,
    pid      integer NOT NULL,
    started  bigint NOT NULL,
    PRIMARY KEY (job_id, attempt, pid, started)
);
