-- Deliveries: accepted ones with their raw body byte for byte; duplicates and rejected
-- requests as metadata only. Ids sort in the "C" collation on PostgreSQL, so id order is
-- arrival order whatever the database's locale.
CREATE TABLE deliveries (
    id           {id} PRIMARY KEY,          -- time-ordered, so id order is arrival order
    delivery     {text},                      -- the forge's delivery id (dedupe key)
    endpoint     {text},
    forge        {text},
    event        {text},
    forge_event  {text},
    action       {text},
    repository   {text},
    ref          {text},
    sha          {text},
    received_at  {moment} NOT NULL,
    status       {text} NOT NULL,             -- accepted | duplicate | rejected
    reason       {text},
    http_status  {integer},
    path         {text},
    remote_addr  {text},
    size         {bigint} NOT NULL,
    content_type {text},
    headers      {json},                      -- array of [name, value], secrets removed
    hooks        {json} NOT NULL DEFAULT '[]',
    trace        {json} NOT NULL DEFAULT '[]',
    replay_of    {id},
    duplicate_of {id},
    -- Last, so a large body can be sized with zeroblob() and written in pieces without
    -- SQLite building the whole row in memory.
    body         {bytes}
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
