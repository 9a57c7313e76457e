-- Signed webhooks of a user, oldest first by `seq`, and their recent
-- deliveries. The signing secret is sealed by core (opaque bytes here).
CREATE TABLE webhooks (
    seq           INTEGER PRIMARY KEY,
    id            TEXT NOT NULL,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    url           TEXT NOT NULL,
    -- JSON array of event names.
    events        TEXT NOT NULL,
    -- NULL: every project of the user; otherwise a JSON array of ids.
    project_ids   TEXT,
    secret        BLOB NOT NULL,
    created_at    TEXT NOT NULL,
    -- The last event delivered or given up on.
    last_event_id INTEGER NOT NULL,
    -- The delivery lease: which node, until when (Unix milliseconds).
    lease_node    TEXT,
    lease_until   INTEGER
) STRICT;
CREATE UNIQUE INDEX webhooks_id_key ON webhooks (id);
CREATE INDEX webhooks_user_idx ON webhooks (user_id, seq);

CREATE TABLE webhook_deliveries (
    webhook_id       TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id         INTEGER NOT NULL,
    delivered        INTEGER NOT NULL,
    status_code      INTEGER,
    last_error       TEXT,
    attempts         INTEGER NOT NULL,
    first_attempt_at TEXT NOT NULL,
    last_attempt_at  TEXT NOT NULL,
    PRIMARY KEY (webhook_id, event_id)
) STRICT;
