-- Event ids without an instance-wide write lock.
--
-- Until now every event-writing transaction updated the event_counter row
-- and held its lock until it committed, so the whole cluster wrote events
-- one transaction at a time. From here on writers insert their event with
-- a `seq` from a sequence and no id, taking no shared lock; dense ids are
-- given out afterwards, in the order events become visible, by
-- slipway_assign_event_ids() (below), which readers of the log call before
-- they read it and writers call after they commit. Existing rows keep
-- their ids, and event_counter.last_id remains the newest id given out.
ALTER TABLE events DROP CONSTRAINT events_pkey;
ALTER TABLE events ALTER COLUMN id DROP NOT NULL;
ALTER TABLE events ADD COLUMN seq BIGINT GENERATED ALWAYS AS IDENTITY;
CREATE UNIQUE INDEX events_id_key ON events (id);
-- The events still waiting for an id (usually none, or a handful).
CREATE INDEX events_unassigned_idx ON events (seq) WHERE id IS NULL;

-- Gives every committed event without an id the next ids, in seq order,
-- advances event_counter.last_id past them and prunes events more than
-- `retention` ids old; returns the newest id. One assigner at a time, under
-- a transaction-level advisory lock held only for this call (namespace
-- "SLPW", key 3): `wait` waits for it, otherwise a call finding it taken
-- returns at once (whoever holds it, or the next reader, assigns).
--
-- Call it in its own READ COMMITTED transaction (never inside a write's):
-- each statement of a VOLATILE function takes a fresh snapshot, so the
-- statements after the lock see every assignment committed before it and
-- only events whose writers have committed. An event whose transaction
-- commits later gets a later id, so ids become visible densely and in
-- order, and no reader's cursor passes an event that appears afterwards.
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

-- What a writer calls right after its transaction committed, in a
-- transaction of its own: assigns ids if no one else is assigning (the
-- event usually gets its id here, and retention is enforced even when no
-- one reads the log), then wakes every node's LISTEN. The NOTIFY is no
-- longer sent from the writing transaction: PostgreSQL serializes the
-- commits of notifying transactions (a cluster-wide lock held through the
-- commit's WAL flush), which would put writers back in single file. When
-- this call assigned nothing it commits asynchronously (it wrote nothing
-- worth an fsync: a lost wake-up is caught by the readers' poll), so the
-- notify lock is not held across a flush.
CREATE FUNCTION slipway_events_written(retention BIGINT, channel TEXT)
RETURNS VOID LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    before BIGINT;
    after BIGINT;
BEGIN
    IF pg_try_advisory_xact_lock(1397510231, 3) THEN
        SELECT last_id INTO before FROM event_counter;
        after := slipway_assign_event_ids(retention, TRUE);
    END IF;
    IF after IS NULL OR after = before THEN
        PERFORM set_config('synchronous_commit', 'off', TRUE);
    END IF;
    PERFORM pg_notify(channel, '');
END
$$;
