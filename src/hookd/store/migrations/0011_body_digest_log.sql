-- Replay protection on SQLite keeps its lookup in memory (hookd.store.replay_index) and
-- body_digests as an append-only log in rowid order: 0008's key on a random digest cost
-- each delivery a page of WAL. PostgreSQL, shared by several receivers, keeps 0008's
-- table, whose key is what lets them accept an identical body once: this step is SQLite's
-- alone (hookd.store.dialect, `body_digest_log`).
{body_digest_log}
