-- The audit log: who changed what, from where, and every sign-in. Each
-- write inserts its entry in the same transaction as the change it records.
--
-- `entry` is the entry's JSON (its API form), read back as it was written;
-- the other columns only filter, order and purge. `id` is 32 hex digits,
-- time-ordered (string order is time order), so newest first is
-- `ORDER BY id DESC`. `at` is the entry's time as fixed-width UTC text
-- (`YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`), so text order is time order too.
-- `actor_id` (the acting user, NULL for the host or an anonymous caller) has
-- no foreign key: entries outlive the users they name.
CREATE TABLE audit_log (
    id       TEXT PRIMARY KEY,
    at       TEXT NOT NULL,
    actor_id TEXT,
    action   TEXT NOT NULL,
    entry    TEXT NOT NULL
) STRICT;
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, id);
CREATE INDEX audit_log_action_idx ON audit_log (action, id);
CREATE INDEX audit_log_at_idx ON audit_log (at);
