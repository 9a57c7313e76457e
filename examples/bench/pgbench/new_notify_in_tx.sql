BEGIN;
SELECT slipway_append_event('o', 'p', 'CREATE', '{"a":1}', 10000);
SELECT pg_notify('slipway_events', '');
COMMIT;
