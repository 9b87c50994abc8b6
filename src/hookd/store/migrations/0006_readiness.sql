-- One row the readiness probe writes (and syncs, or the commit flushes) the way a
-- delivery is written, so that /readyz answers 503 when a delivery could not be committed.
CREATE TABLE readiness (
    id {integer} PRIMARY KEY CHECK (id = 1),
    probed_at {moment} NOT NULL
);
