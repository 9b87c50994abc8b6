-- Replay protection: the body digest of each verified delivery an endpoint accepted, while
-- it counts. An identical body on the same endpoint within the endpoint's replay window is
-- a duplicate of the delivery named here. The primary key is the check: one row per body
-- per endpoint, so two receivers can never both accept an identical body (the second
-- one's insert waits for the first's commit, then fails, and its whole statement with it).
CREATE TABLE body_digests (
    endpoint     text NOT NULL,
    sha256       bytea NOT NULL,
    delivery_id  text COLLATE "C" NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    received_at  timestamptz NOT NULL,
    PRIMARY KEY (endpoint, sha256)
);
CREATE INDEX body_digests_delivery ON body_digests (delivery_id);

-- Rejected requests are a sample, the newest per endpoint: this index finds where an
-- endpoint's sample ends without walking its accepted deliveries.
CREATE INDEX deliveries_rejected ON deliveries (endpoint, id) WHERE status = 'rejected';
