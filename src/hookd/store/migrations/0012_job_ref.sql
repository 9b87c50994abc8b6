-- The ref a job runs for, when its delivery moved several (a Bitbucket push's changes[]):
-- each matching ref gets a job of its own. NULL for a delivery of one ref or none.
ALTER TABLE jobs ADD COLUMN ref {text};
