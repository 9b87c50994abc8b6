-- Deliveries: accepted ones with their raw body byte for byte; duplicates and rejected
-- requests as metadata only.
CREATE TABLE deliveries (
    id           TEXT PRIMARY KEY,          -- time-ordered, so id order is arrival order
    delivery     TEXT,                      -- the forge's delivery id (dedupe key)
    endpoint     TEXT,
    forge        TEXT,
    event        TEXT,
    forge_event  TEXT,
    action       TEXT,
    repository   TEXT,
    ref          TEXT,
    sha          TEXT,
    received_at  TEXT NOT NULL,
    status       TEXT NOT NULL,             -- accepted | duplicate | rejected
    reason       TEXT,
    http_status  INTEGER,
    path         TEXT,
    remote_addr  TEXT,
    size         INTEGER NOT NULL,
    content_type TEXT,
    headers      TEXT,                      -- JSON array of [name, value], secrets removed
    hooks        TEXT NOT NULL DEFAULT '[]',
    trace        TEXT NOT NULL DEFAULT '[]',
    replay_of    TEXT,
    duplicate_of TEXT,
    -- Last, so a large body can be sized with zeroblob() and written in pieces without
    -- SQLite building the whole row in memory.
    body         BLOB
);

-- A forge delivery id is accepted once per endpoint; replays are copies with their own id.
CREATE UNIQUE INDEX deliveries_dedupe ON deliveries (endpoint, delivery)
    WHERE status = 'accepted' AND replay_of IS NULL AND delivery IS NOT NULL;
CREATE INDEX deliveries_endpoint ON deliveries (endpoint, id);
CREATE INDEX deliveries_event ON deliveries (event, id);
CREATE INDEX deliveries_status ON deliveries (status, id);
CREATE INDEX deliveries_repository ON deliveries (repository, id);
CREATE INDEX deliveries_received ON deliveries (received_at);
