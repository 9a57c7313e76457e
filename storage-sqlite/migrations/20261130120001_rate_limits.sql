-- Rate-limit counters (Store::hit_counter): one row per key (an opaque hash
-- chosen by core) with the attempts of a fixed window that ends at
-- expires_ms (Unix milliseconds), and how many of them are still running.
-- Expired rows are reused by the next hit and swept now and then.
CREATE TABLE rate_limits (
    key        TEXT PRIMARY KEY,
    count      INTEGER NOT NULL,
    pending    INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX rate_limits_expires_ms ON rate_limits (expires_ms);
