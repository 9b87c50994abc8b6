-- Catch-up (hookd.catch_up): the forge's webhooks that deliver to each endpoint, and every
-- redelivery hookd asked a forge for. One request per forge delivery per endpoint: the
-- unique index is the claim, so two processes never ask twice for the same delivery.
CREATE TABLE catch_up_hooks (
    endpoint     TEXT NOT NULL,
    hook         TEXT NOT NULL,             -- the API path of the hook, e.g. /repos/o/r/hooks/1
    seen_at      TEXT NOT NULL,
    caught_up_at TEXT,                      -- when the last catch-up of this hook started
    gone_at      TEXT,                      -- the forge answered 404: no longer asked
    PRIMARY KEY (endpoint, hook)
);

-- How far each endpoint's stored deliveries were read for the hooks they came from.
CREATE TABLE catch_up_scans (
    endpoint        TEXT PRIMARY KEY,
    scanned_through TEXT NOT NULL          -- the newest delivery id read
);

CREATE TABLE catch_up_requests (
    id            TEXT PRIMARY KEY,         -- time-ordered, as deliveries' ids
    endpoint      TEXT NOT NULL,
    forge         TEXT NOT NULL,
    hook          TEXT NOT NULL,
    delivery      TEXT NOT NULL,            -- the forge's delivery GUID / idempotency key
    forge_id      TEXT NOT NULL,            -- the forge's id of the failed attempt asked for
    event         TEXT,
    failed_at     TEXT,                     -- when the forge's last attempt failed
    failure       TEXT,                     -- what the forge recorded of it
    requested_at  TEXT NOT NULL,
    outcome       TEXT NOT NULL,            -- asking | requested | refused | gone | failed
    answer_status INTEGER,
    answer        TEXT
);
CREATE UNIQUE INDEX catch_up_requests_once ON catch_up_requests (endpoint, delivery);
