-- User administration: disabled users, session epochs, invitations.
-- Unique index names are part of the code (src/error.rs), as in the first
-- migration.

-- Existing users stay enabled, and their tokens (epoch 0) keep working.
ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1));
ALTER TABLE users ADD COLUMN session_epoch INTEGER NOT NULL DEFAULT 0
    CHECK (session_epoch BETWEEN 0 AND 4294967295);

-- Pending invitations, oldest first by `seq`. `created_by` is informational
-- (the inviting admin may be deleted later), so it has no foreign key.
CREATE TABLE invitations (
    seq        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL,
    email      TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    token_hash TEXT NOT NULL,
    created_by TEXT,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX invitations_id_key ON invitations (id);
CREATE UNIQUE INDEX invitations_email_key ON invitations (email);
CREATE UNIQUE INDEX invitations_token_hash_key ON invitations (token_hash);
