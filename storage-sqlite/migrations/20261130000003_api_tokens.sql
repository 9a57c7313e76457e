-- API tokens: long-lived, scoped credentials of one user, oldest first by
-- `seq`. Only the SHA-256 of a token is stored. Unique index names are part
-- of the code (src/error.rs), as in the first migration.
CREATE TABLE api_tokens (
    seq          INTEGER PRIMARY KEY,
    id           TEXT NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    -- JSON array of scope names (`projects:read`, ...).
    scopes       TEXT NOT NULL,
    -- NULL: every project; otherwise a JSON array of the only projects it
    -- reaches.
    project_ids  TEXT,
    token_hash   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT,
    last_used_at TEXT
) STRICT;
CREATE UNIQUE INDEX api_tokens_id_key ON api_tokens (id);
CREATE UNIQUE INDEX api_tokens_token_hash_key ON api_tokens (token_hash);
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id, seq);
