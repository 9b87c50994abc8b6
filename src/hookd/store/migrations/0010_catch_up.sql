-- Catch-up (hookd.catch_up): the forge's webhooks that deliver to each endpoint, and every
-- redelivery hookd asked a forge for. One request per forge delivery per endpoint: the
-- unique index is the claim, so two processes never ask twice for the same delivery.
CREATE TABLE catch_up_hooks (
    endpoint     {text} NOT NULL,
    hook         {text} NOT NULL,  -- the API path of the hook, e.g. /repos/o/r/hooks/1
    seen_at      {moment} NOT NULL,
    caught_up_at {moment},  -- when the last catch-up of this hook started
    gone_at      {moment},  -- the forge answered 404: no longer asked
    PRIMARY KEY (endpoint, hook)
);

-- How far each endpoint's stored deliveries were read for the hooks they came from.
CREATE TABLE catch_up_scans (
    endpoint        {text} PRIMARY KEY,
    scanned_through {id} NOT NULL  -- the newest delivery id read
);

CREATE TABLE catch_up_requests (
    id            {id} PRIMARY KEY,  -- time-ordered, as deliveries' ids
    endpoint      {text} NOT NULL,
    forge         {text} NOT NULL,
    hook          {text} NOT NULL,
    delivery      {text} NOT NULL,  -- the forge's delivery GUID / idempotency key
    forge_id      {text} NOT NULL,  -- the forge's id of the failed attempt asked for
    event         {text},
    failed_at     {moment},  -- when the forge's last attempt failed
    failure       {text},  -- what the forge recorded of it
    requested_at  {moment} NOT NULL,
    outcome       {text} NOT NULL,  -- asking | requested | refused | gone | failed
    answer_status {integer},
    answer        {text}
);
CREATE UNIQUE INDEX catch_up_requests_once ON catch_up_requests (endpoint, delivery);
