-- Listing deliveries by hook goes through the jobs (one per matched hook): this index
-- finds a hook's deliveries, and answers "has this delivery a job for that hook?", alone.
CREATE INDEX jobs_hook_delivery ON jobs (hook, delivery_id);
