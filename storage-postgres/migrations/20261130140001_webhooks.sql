-- Signed webhooks of a user and their recent deliveries. The signing secret
-- is sealed by core (opaque bytes here). Constraint names are part of the
-- code (src/error.rs).
CREATE TABLE webhooks (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY,
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL
        CONSTRAINT webhooks_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    url           TEXT NOT NULL,
    events        TEXT[] NOT NULL,
    -- NULL: every project of the user.
    project_ids   TEXT[],
    secret        BYTEA NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    -- The last event delivered or given up on.
    last_event_id BIGINT NOT NULL,
    -- The delivery lease: which node, until when.
    lease_node    TEXT,
    lease_until   TIMESTAMPTZ
);
CREATE INDEX webhooks_user_id_seq_idx ON webhooks (user_id, seq);

CREATE TABLE webhook_deliveries (
    webhook_id       TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id         BIGINT NOT NULL,
    delivered        BOOLEAN NOT NULL,
    status_code      INTEGER,
    last_error       TEXT,
    attempts         INTEGER NOT NULL,
    first_attempt_at TIMESTAMPTZ NOT NULL,
    last_attempt_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (webhook_id, event_id)
);
