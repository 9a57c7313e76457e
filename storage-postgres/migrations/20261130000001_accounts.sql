-- User administration: disabled users, session epochs, invitations.
-- Constraint names are part of the code (src/error.rs), as in the first
-- migration.

-- Existing users stay enabled, and their tokens (epoch 0) keep working.
ALTER TABLE users ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN session_epoch BIGINT NOT NULL DEFAULT 0
    CHECK (session_epoch BETWEEN 0 AND 4294967295);

-- Pending invitations. `created_by` is informational (the inviting admin
-- may be deleted later), so it has no foreign key.
CREATE TABLE invitations (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY,
    id         TEXT PRIMARY KEY,
    email      TEXT NOT NULL CONSTRAINT invitations_email_key UNIQUE,
    role       TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    token_hash TEXT NOT NULL CONSTRAINT invitations_token_hash_key UNIQUE,
    created_by TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX invitations_seq_idx ON invitations (seq);
