BEGIN;
SELECT slipway_append_event('o', 'p', 'CREATE', '{"a":1}', 10000);
COMMIT;
SELECT set_config('synchronous_commit', 'off', TRUE), pg_notify('slipway_events', '');
