-- Which configuration decided each accepted delivery: the short hash of hookd.yaml and the
-- secrets it names (hookd.config.config_version) in force when it was received. Its own
-- table, not a column of deliveries: a column after the body would make SQLite build a
-- large body's zeroblob in memory (see 0001), and the body must stay last.
CREATE TABLE delivery_configs (
    delivery_id {id} PRIMARY KEY REFERENCES deliveries (id) ON DELETE CASCADE,
    config      {text} NOT NULL
){without_rowid};
