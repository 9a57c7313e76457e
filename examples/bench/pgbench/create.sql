-- One POST /project on PostgreSQL as PgStore writes it (storage-postgres/src/projects.rs):
-- the owner's count (the quota), the project with a random quota slot (far below the
-- quota, so drawn without a lock), its audit entry and its event in one
-- transaction, then the NOTIFY in a transaction of its own. Needs every migration applied
-- and the owner: INSERT INTO users (id, name, email, role, created_at)
--   VALUES ('u1', 'u', 'u@example.com', 'member', now());
\set r random(1, 1000000000)
\set slot random(0, 999999999)
BEGIN;
SELECT count(*), count(*) FILTER (WHERE slot IS NULL OR slot >= 1000000000) FROM projects WHERE owner_id = 'u1';
INSERT INTO projects (id, owner_id, name, description, path, source_id, vm_id, created_at, updated_at, slot) VALUES ('p-' || :client_id || '-' || :r || '-' || txid_current(), 'u1', 'n', 'd', NULL, 's-' || :client_id || '-' || :r || '-' || txid_current(), 'v-' || :client_id || '-' || :r || '-' || txid_current(), now(), now(), :slot);
INSERT INTO audit_log (id, at, actor_id, action, entry) VALUES ('a-' || :client_id || '-' || :r || '-' || txid_current(), now(), 'u1', 'project.create', '{"x":1}') ON CONFLICT (id) DO NOTHING;
SELECT slipway_append_event('u1', 'p', 'CREATE', '{"id":"p","name":"n"}', 10000);
COMMIT;
SELECT set_config('synchronous_commit', 'off', TRUE), pg_notify('slipway_events', '');
