-- The states a delivery or a job can be in, as hookd.core.vocabulary names them: a write
-- of any other word is refused. On PostgreSQL a CHECK constraint; SQLite cannot add one to
-- an existing table without copying it whole, so there triggers refuse the write.
{deliveries_status_check}
{jobs_status_check}
