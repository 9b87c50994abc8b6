-- Dashboard sessions ended by signing out, until their cookie would have expired anyway:
-- a cookie saved before /logout is refused by every receiver sharing the database. Only
-- a digest of the session's random part is kept.
CREATE TABLE revoked_sessions (
    digest text PRIMARY KEY,
    until timestamptz NOT NULL
);
CREATE INDEX revoked_sessions_until ON revoked_sessions (until);
