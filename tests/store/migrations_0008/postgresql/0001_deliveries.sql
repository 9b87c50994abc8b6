-- Deliveries: accepted ones with their raw body byte for byte; duplicates and rejected
-- requests as metadata only. Ids sort in the "C" collation, so id order is arrival order
-- whatever the database's locale.
CREATE TABLE deliveries (
    id           text COLLATE "C" PRIMARY KEY,
    delivery     text,                      -- the forge's delivery id (dedupe key)
    endpoint     text,
    forge        text,
    event        text,
    forge_event  text,
    action       text,
    repository   text,
    ref          text,
    sha          text,
    received_at  timestamptz NOT NULL,
    status       text NOT NULL,             -- accepted | duplicate | rejected
    reason       text,
    http_status  integer,
    path         text,
    remote_addr  text,
    size         bigint NOT NULL,
    content_type text,
    headers      jsonb,                     -- array of [name, value], secrets removed
    hooks        jsonb NOT NULL DEFAULT '[]',
    trace        jsonb NOT NULL DEFAULT '[]',
    replay_of    text COLLATE "C",
    duplicate_of text COLLATE "C",
    body         bytea                      -- last, as in SQLite: one column order for both
);

-- A forge delivery id is accepted once per endpoint; replays are copies with their own id.
-- Concurrent receivers meet here: INSERT ... ON CONFLICT DO NOTHING names this index.
CREATE UNIQUE INDEX deliveries_dedupe ON deliveries (endpoint, delivery)
    WHERE status = 'accepted' AND replay_of IS NULL AND delivery IS NOT NULL;
CREATE INDEX deliveries_endpoint ON deliveries (endpoint, id);
CREATE INDEX deliveries_event ON deliveries (event, id);
CREATE INDEX deliveries_status ON deliveries (status, id);
CREATE INDEX deliveries_repository ON deliveries (repository, id);
CREATE INDEX deliveries_received ON deliveries (received_at);
