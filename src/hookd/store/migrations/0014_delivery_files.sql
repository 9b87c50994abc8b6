-- A delivery's changed files as a forge's API listed them, fetched once, when the first
-- job whose paths filter waits on them starts (hookd.changed_files): every job of the
-- delivery then decides on the same list. `ref` is the job's ref of a delivery that moved
-- several ('' otherwise). `files` is a JSON array, NULL when the diff was too large to
-- list (`reason` says so). Goes with its delivery (ON DELETE CASCADE, as retention prunes).
CREATE TABLE delivery_files (
    delivery_id {id} NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    ref         {text} NOT NULL,
    source      {text} NOT NULL,
    files       {text},
    reason      {text},
    fetched_at  {moment} NOT NULL,
    PRIMARY KEY (delivery_id, ref)
){without_rowid};

-- A job whose paths filter is decided when it starts, on the files the forge's API lists:
-- the filter, as JSON (core.rules.PendingPaths). NULL for every other job.
ALTER TABLE jobs ADD COLUMN paths_filter {text};
