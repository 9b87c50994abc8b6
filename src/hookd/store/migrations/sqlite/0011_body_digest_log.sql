-- Replay protection on SQLite keeps its lookup in memory (hookd.store.replay_index) and
-- this table as an append-only log, in rowid order: an index keyed by a random digest cost
-- each delivery a page of WAL. Several rows may hold one body (the newest counts). Pruning
-- deletes rows by age, as it deletes deliveries; a row whose delivery is gone counts for
-- nothing (the lookup joins them). No foreign key: its check and its index cost each
-- delivery more than that. PostgreSQL, shared by several processes, keeps 0008's table.
CREATE TABLE body_digest_log (
    seq          INTEGER PRIMARY KEY,
    endpoint     TEXT NOT NULL,
    sha256       BLOB NOT NULL,
    delivery_id  TEXT NOT NULL,
    received_at  TEXT NOT NULL
);
INSERT INTO body_digest_log (endpoint, sha256, delivery_id, received_at)
    SELECT endpoint, sha256, delivery_id, received_at FROM body_digests ORDER BY received_at;
DROP TABLE body_digests;
ALTER TABLE body_digest_log RENAME TO body_digests;
CREATE INDEX body_digests_received ON body_digests (received_at);
