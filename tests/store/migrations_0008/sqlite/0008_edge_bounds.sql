-- Replay protection: the body digest of each verified delivery an endpoint accepted, while
-- it counts. An identical body on the same endpoint within the endpoint's replay window is
-- a duplicate of the delivery named here. The primary key is the check: one row per body
-- per endpoint, so two identical bodies can never both be accepted. Kept out of
-- `deliveries`, whose body column must stay last (see 0001).
CREATE TABLE body_digests (
    endpoint     TEXT NOT NULL,
    sha256       BLOB NOT NULL,
    delivery_id  TEXT NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    received_at  TEXT NOT NULL,
    PRIMARY KEY (endpoint, sha256)
) WITHOUT ROWID;
CREATE INDEX body_digests_delivery ON body_digests (delivery_id);

-- Rejected requests are a sample, the newest per endpoint: this index finds where an
-- endpoint's sample ends without walking its accepted deliveries.
CREATE INDEX deliveries_rejected ON deliveries (endpoint, id) WHERE status = 'rejected';
