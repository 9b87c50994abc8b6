-- One row the readiness probe writes (and syncs) the way a delivery is written, so that
-- /readyz answers 503 when a delivery could not be committed.
CREATE TABLE readiness (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    probed_at TEXT NOT NULL
);
