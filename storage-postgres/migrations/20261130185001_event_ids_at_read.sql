-- Event ids without an instance-wide write lock.
--
-- Until now every event-writing transaction updated the event_counter row
-- and held its lock until it committed, so the whole cluster wrote events
-- one transaction at a time. From here on writers insert their event with
-- a `seq` from a sequence and no id, taking no shared lock; dense ids are
-- given out afterwards, in the order events become visible, by
-- slipway_assign_event_ids() (below), which readers of the log call before
-- they read it and writers call (without waiting) as they append. Existing
-- rows keep their ids, and event_counter.last_id remains the newest id
-- given out.
ALTER TABLE events DROP CONSTRAINT events_pkey;
ALTER TABLE events ALTER COLUMN id DROP NOT NULL;
ALTER TABLE events ADD COLUMN seq BIGINT GENERATED ALWAYS AS IDENTITY;
CREATE UNIQUE INDEX events_id_key ON events (id);
-- The events still waiting for an id (usually none, or a handful).
CREATE INDEX events_unassigned_idx ON events (seq) WHERE id IS NULL;

-- Gives every committed event without an id the next ids, in seq order,
-- advances event_counter.last_id past them and prunes events more than
-- `retention` ids old; returns the newest id. One assigner at a time, under
-- a transaction-level advisory lock (namespace "SLPW", key 3) held until
-- the caller's transaction ends: `wait` waits for it (readers, each in a
-- transaction of its own), otherwise a call finding it taken returns at
-- once (writers, see slipway_append_event).
--
-- It relies on READ COMMITTED (the store's pool sets it): each statement of
-- a VOLATILE function takes a fresh snapshot, so the statements after the
-- lock see every assignment committed before it, and only events whose
-- writers have committed (plus, inside a write, the write's own earlier
-- events, which become visible with their ids when it commits, the lock
-- still held). The ids given by one assigner become visible together when
-- it commits, before the next assigner can take the lock. An event whose
-- transaction commits later gets a later id, so ids become visible densely
-- and in order, and no reader's cursor passes an event that appears
-- afterwards.
CREATE FUNCTION slipway_assign_event_ids(retention BIGINT, wait BOOLEAN)
RETURNS BIGINT LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    newest BIGINT;
    assigned BIGINT;
BEGIN
    IF EXISTS (SELECT 1 FROM events WHERE id IS NULL) THEN
        IF wait THEN
            PERFORM pg_advisory_xact_lock(1397510231, 3);
        ELSIF NOT pg_try_advisory_xact_lock(1397510231, 3) THEN
            SELECT last_id INTO newest FROM event_counter;
            RETURN newest;
        END IF;
        SELECT last_id INTO newest FROM event_counter;
        WITH todo AS (
            SELECT ctid AS row_id, newest + row_number() OVER (ORDER BY seq) AS new_id
            FROM events WHERE id IS NULL
        )
        UPDATE events e SET id = todo.new_id FROM todo WHERE e.ctid = todo.row_id;
        GET DIAGNOSTICS assigned = ROW_COUNT;
        newest := newest + assigned;
        UPDATE event_counter SET last_id = newest;
        DELETE FROM events WHERE id <= newest - GREATEST(retention, 1);
        RETURN newest;
    END IF;
    SELECT last_id INTO newest FROM event_counter;
    RETURN newest;
END
$$;

-- What a write calls to append its event, inside its transaction and after
-- its row locks are taken (the event is the write's last statement): if no
-- one else is assigning (it does not wait), it first gives ids to the
-- events other writers committed, so ids keep coming and retention holds
-- even when no one reads the log, at no extra commit (the assignment
-- commits with the write). Then it inserts the event without an id and
-- returns its seq. A write holding the assignment lock only runs its
-- INSERT and its COMMIT before releasing it.
--
-- The write's NOTIFY is sent after its commit, in a statement of its own
-- (see src/events.rs): PostgreSQL serializes the commits of notifying
-- transactions (a cluster-wide lock held through the commit's WAL flush),
-- which would put writers back in single file.
CREATE FUNCTION slipway_append_event(
    p_owner_id TEXT, p_project_id TEXT, p_kind TEXT, p_data JSONB, retention BIGINT)
RETURNS BIGINT LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    new_seq BIGINT;
BEGIN
    PERFORM slipway_assign_event_ids(retention, FALSE);
    INSERT INTO events (owner_id, project_id, kind, data)
    VALUES (p_owner_id, p_project_id, p_kind, p_data)
    RETURNING seq INTO new_seq;
    RETURN new_seq;
END
$$;
