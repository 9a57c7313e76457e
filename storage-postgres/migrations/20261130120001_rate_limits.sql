-- Rate-limit counters shared by every node (Store::hit_counter): one row per
-- key (an opaque hash chosen by core) with the attempts of a fixed window
-- that ends at expires_at, and how many of them are still running. Expired
-- rows are reused by the next hit and swept now and then.
CREATE TABLE rate_limits (
    key TEXT PRIMARY KEY,
    count BIGINT NOT NULL,
    pending BIGINT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX rate_limits_expires_at ON rate_limits (expires_at);
