BEGIN;
WITH c AS (UPDATE event_counter SET last_id = last_id + 1 RETURNING last_id), ins AS (INSERT INTO events (id, owner_id, project_id, kind, data) SELECT last_id, 'o', 'p', 'CREATE', '{"a":1}' FROM c RETURNING id), pruned AS (DELETE FROM events WHERE id <= (SELECT last_id FROM c) - 10000) SELECT id FROM ins, LATERAL (SELECT pg_notify('slipway_events', ins.id::text)) n;
COMMIT;
