-- API tokens: long-lived, scoped credentials of one user. Only the SHA-256
-- of a token is stored. Constraint names are part of the code
-- (src/error.rs), as in the first migration.
CREATE TABLE api_tokens (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY,
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL
        CONSTRAINT api_tokens_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    -- Scope names (`projects:read`, ...).
    scopes       TEXT[] NOT NULL,
    -- NULL: every project; otherwise the only projects it reaches.
    project_ids  TEXT[],
    token_hash   TEXT NOT NULL CONSTRAINT api_tokens_token_hash_key UNIQUE,
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ
);
CREATE INDEX api_tokens_user_id_seq_idx ON api_tokens (user_id, seq);
