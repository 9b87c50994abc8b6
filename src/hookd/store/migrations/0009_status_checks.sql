-- The states a delivery or a job can be in, as hookd.core.vocabulary names them: a write
-- of any other word is refused. SQLite adds a CHECK to an existing table only with a new
-- column: a virtual one, stored nowhere (see hookd.store.dialect.Dialect.check).
{deliveries_status_check}
{jobs_status_check}
