-- Pruning the event log by index, whatever size the log had when a
-- connection's plans were cached.
--
-- slipway_assign_event_ids() pruned with `DELETE FROM events WHERE id <= cutoff`.
-- PL/pgSQL caches a generic plan for each statement after a few calls. One
-- cached while the log was small is a sequential scan (cheapest then), and
-- it stayed one as the log grew: every write's assignment then read the
-- whole retained log (10,000 events by default), about 0.5 ms and 116
-- buffers per write under load, the largest cost of a write's event after
-- the project count. The DELETE is now planned on every call (EXECUTE), as
-- a range from the oldest event to the cutoff: an index scan of
-- events_id_key over exactly the rows it deletes once the log is large.
-- Nothing else changes: same arguments, same locking, same result.
CREATE OR REPLACE FUNCTION slipway_assign_event_ids(retention BIGINT, wait BOOLEAN)
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
        EXECUTE 'DELETE FROM events WHERE id BETWEEN (SELECT min(id) FROM events) AND $1'
            USING newest - GREATEST(retention, 1);
        RETURN newest;
    END IF;
    SELECT last_id INTO newest FROM event_counter;
    RETURN newest;
END
$$;
