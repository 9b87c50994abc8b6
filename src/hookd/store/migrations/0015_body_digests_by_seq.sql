-- SQLite's body digest log (0011) is appended in time order: a prune deletes its oldest rows
-- by seq, and the replay index reads it whole when it loads, so the index on the time cost
-- every delivery a B-tree insert for nothing. PostgreSQL's keyed table is unchanged.
{body_digests_by_seq}
