-- The audit log: one row per entry, written in the same transaction as the
-- change it records. `entry` is the entry itself (its JSON API form, read
-- back as is); the other columns only serve filtering, ordering and the
-- retention purge. No foreign keys: entries outlive the users they name.
-- Ids are 32 lowercase hex digits ordered by time; the "C" collation makes
-- their order (and a cursor's `id < $1`) plain byte order.
CREATE TABLE audit_log (
    id       TEXT COLLATE "C" PRIMARY KEY,
    at       TIMESTAMPTZ NOT NULL,
    -- The acting user's id, NULL for an anonymous caller or the host.
    actor_id TEXT COLLATE "C",
    action   TEXT NOT NULL,
    entry    JSONB NOT NULL
);
-- Newest first: the primary key, read backwards. Filtered by actor or by
-- action, newest first:
CREATE INDEX audit_log_actor_id_id_idx ON audit_log (actor_id, id);
CREATE INDEX audit_log_action_id_idx ON audit_log (action, id);
-- The retention purge.
CREATE INDEX audit_log_at_idx ON audit_log (at);
