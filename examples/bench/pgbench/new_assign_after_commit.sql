BEGIN;
INSERT INTO events (owner_id, project_id, kind, data) VALUES ('o', 'p', 'CREATE', '{"a":1}');
COMMIT;
SELECT slipway_assign_event_ids(10000, FALSE), pg_notify('slipway_events', '');
