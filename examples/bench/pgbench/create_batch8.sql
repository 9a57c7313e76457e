-- create.sql with eight creates in one transaction (the same statements, each create's
-- ids made distinct), then one NOTIFY: what batching concurrent creates would save.
-- Same setup as create.sql.
\set r random(1, 1000000000)
BEGIN;
SELECT count(*) FROM projects WHERE owner_id = 'u1';
INSERT INTO projects (id, owner_id, name, description, path, source_id, vm_id, created_at, updated_at) VALUES ('p-' || :client_id || '-' || :r || '-' || txid_current() || '-0', 'u1', 'n', 'd', NULL, 's-' || :client_id || '-' || :r || '-' || txid_current() || '-0', 'v-' || :client_id || '-' || :r || '-' || txid_current() || '-0', now(), now());
INSERT INTO audit_log (id, at, actor_id, action, entry) VALUES ('a-' || :client_id || '-' || :r || '-' || txid_current() || '-0', now(), 'u1', 'project.create', '{"x":1}') ON CONFLICT (id) DO NOTHING;
SELECT slipway_append_event('u1', 'p', 'CREATE', '{"id":"p","name":"n"}', 10000);
SELECT count(*) FROM projects WHERE owner_id = 'u1';
INSERT INTO projects (id, owner_id, name, description, path, source_id, vm_id, created_at, updated_at) VALUES ('p-' || :client_id || '-' || :r || '-' || txid_current() || '-1', 'u1', 'n', 'd', NULL, 's-' || :client_id || '-' || :r || '-' || txid_current() || '-1', 'v-' || :client_id || '-' || :r || '-' || txid_current() || '-1', now(), now());
INSERT INTO audit_log (id, at, actor_id, action, entry) VALUES ('a-' || :client_id || '-' || :r || '-' || txid_current() || '-1', now(), 'u1', 'project.create', '{"x":1}') ON CONFLICT (id) DO NOTHING;
SELECT slipway_append_event('u1', 'p', 'CREATE', '{"id":"p","name":"n"}', 10000);
SELECT count(*) FROM projects WHERE owner_id = 'u1';
INSERT INTO projects (id, owner_id, name, description, path, source_id, vm_id, created_at, updated_at) VALUES ('p-' || :client_id || '-' || :r || '-' || txid_current() || '-2', 'u1', 'n', 'd', NULL, 's-' || :client_id || '-' || :r || '-' || txid_current() || '-2', 'v-' || :client_id || '-' || :r || '-' || txid_current() || '-2', now(), now());
INSERT INTO audit_log (id, at, actor_id, action, entry) VALUES ('a-' || :client_id || '-' || :r || '-' || txid_current() || '-2', now(), 'u1', 'project.create', '{"x":1}') ON CONFLICT (id) DO NOTHING;
SELECT slipway_append_event('u1', 'p', 'CREATE', '{"id":"p","name":"n"}', 10000);
SELECT count(*) FROM projects WHERE owner_id = 'u1';
INSERT INTO projects (id, owner_id, name, description, path, source_id, vm_id, created_at, updated_at) VALUES ('p-' || :client_id || '-' || :r || '-' || txid_current() || '-3', 'u1', 'n', 'd', NULL, 's-' || :client_id || '-' || :r || '-' || txid_current() || '-3', 'v-' || :client_id || '-' || :r || '-' || txid_current() || '-3', now(), now());
INSERT INTO audit_log (id, at, actor_id, action, entry) VALUES ('a-' || :client_id || '-' || :r || '-' || txid_current() || '-3', now(), 'u1', 'project.create', '{"x":1}') ON CONFLICT (id) DO NOTHING;
SELECT slipway_append_event('u1', 'p', 'CREATE', '{"id":"p","name":"n"}', 10000);
SELECT count(*) FROM projects WHERE owner_id = 'u1';
INSERT INTO projects (id, owner_id, name, description, path, source_id, vm_id, created_at, updated_at) VALUES ('p-' || :client_id || '-' || :r || '-' || txid_current() || '-4', 'u1', 'n', 'd', NULL, 's-' || :client_id || '-' || :r || '-' || txid_current() || '-4', 'v-' || :client_id || '-' || :r || '-' || txid_current() || '-4', now(), now());
INSERT INTO audit_log (id, at, actor_id, action, entry) VALUES ('a-' || :client_id || '-' || :r || '-' || txid_current() || '-4', now(), 'u1', 'project.create', '{"x":1}') ON CONFLICT (id) DO NOTHING;
SELECT slipway_append_event('u1', 'p', 'CREATE', '{"id":"p","name":"n"}', 10000);
SELECT count(*) FROM projects WHERE owner_id = 'u1';
INSERT INTO projects (id, owner_id, name, description, path, source_id, vm_id, created_at, updated_at) VALUES ('p-' || :client_id || '-' || :r || '-' || txid_current() || '-5', 'u1', 'n', 'd', NULL, 's-' || :client_id || '-' || :r || '-' || txid_current() || '-5', 'v-' || :client_id || '-' || :r || '-' || txid_current() || '-5', now(), now());
INSERT INTO audit_log (id, at, actor_id, action, entry) VALUES ('a-' || :client_id || '-' || :r || '-' || txid_current() || '-5', now(), 'u1', 'project.create', '{"x":1}') ON CONFLICT (id) DO NOTHING;
SELECT slipway_append_event('u1', 'p', 'CREATE', '{"id":"p","name":"n"}', 10000);
SELECT count(*) FROM projects WHERE owner_id = 'u1';
INSERT INTO projects (id, owner_id, name, description, path, source_id, vm_id, created_at, updated_at) VALUES ('p-' || :client_id || '-' || :r || '-' || txid_current() || '-6', 'u1', 'n', 'd', NULL, 's-' || :client_id || '-' || :r || '-' || txid_current() || '-6', 'v-' || :client_id || '-' || :r || '-' || txid_current() || '-6', now(), now());
INSERT INTO audit_log (id, at, actor_id, action, entry) VALUES ('a-' || :client_id || '-' || :r || '-' || txid_current() || '-6', now(), 'u1', 'project.create', '{"x":1}') ON CONFLICT (id) DO NOTHING;
SELECT slipway_append_event('u1', 'p', 'CREATE', '{"id":"p","name":"n"}', 10000);
SELECT count(*) FROM projects WHERE owner_id = 'u1';
INSERT INTO projects (id, owner_id, name, description, path, source_id, vm_id, created_at, updated_at) VALUES ('p-' || :client_id || '-' || :r || '-' || txid_current() || '-7', 'u1', 'n', 'd', NULL, 's-' || :client_id || '-' || :r || '-' || txid_current() || '-7', 'v-' || :client_id || '-' || :r || '-' || txid_current() || '-7', now(), now());
INSERT INTO audit_log (id, at, actor_id, action, entry) VALUES ('a-' || :client_id || '-' || :r || '-' || txid_current() || '-7', now(), 'u1', 'project.create', '{"x":1}') ON CONFLICT (id) DO NOTHING;
SELECT slipway_append_event('u1', 'p', 'CREATE', '{"id":"p","name":"n"}', 10000);
COMMIT;
SELECT set_config('synchronous_commit', 'off', TRUE), pg_notify('slipway_events', '');
