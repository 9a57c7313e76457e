-- Slipway's schema on SQLite. Unique index names are part of the code:
-- src/error.rs maps them to the API field a conflict is about (SQLite does
-- not report which index failed, so the store finds the colliding row with
-- one probe per index of the table it wrote). Rename them only together.
--
-- `seq` (the rowid) orders records oldest first; `id` is the public id.
-- Timestamps are RFC 3339 text (UTC, nanoseconds kept), JSON is text.

CREATE TABLE users (
    seq           INTEGER PRIMARY KEY,
    id            TEXT NOT NULL,
    name          TEXT NOT NULL,
    email         TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    password_hash TEXT,
    github_id     INTEGER,
    created_at    TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX users_id_key ON users (id);
CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE UNIQUE INDEX users_github_id_key ON users (github_id);

CREATE TABLE authorizations (
    seq        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    secret     BLOB NOT NULL,
    info       TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX authorizations_id_key ON authorizations (id);
CREATE INDEX authorizations_user_idx ON authorizations (user_id, seq);

CREATE TABLE projects (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL,
    owner_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT,
    path        TEXT,
    source_id   TEXT NOT NULL,
    vm_id       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX projects_id_key ON projects (id);
CREATE UNIQUE INDEX projects_source_id_key ON projects (source_id);
CREATE UNIQUE INDEX projects_vm_id_key ON projects (vm_id);
CREATE UNIQUE INDEX projects_path_key ON projects (path) WHERE path IS NOT NULL;
CREATE INDEX projects_owner_idx ON projects (owner_id, seq);

CREATE TABLE domains (
    seq        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL,
    domain     TEXT NOT NULL,
    challenge  TEXT NOT NULL,
    main       INTEGER NOT NULL CHECK (main IN (0, 1)),
    linked     INTEGER NOT NULL CHECK (linked IN (0, 1)),
    created_at TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX domains_id_key ON domains (id);
CREATE UNIQUE INDEX domains_domain_key ON domains (domain);
-- At most one main domain.
CREATE UNIQUE INDEX domains_main_key ON domains (main) WHERE main = 1;

CREATE TABLE networks (
    seq        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL,
    domain     TEXT NOT NULL,
    port       INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    -- NO ACTION (checked at the end of the statement) rather than RESTRICT:
    -- SQLite reports RESTRICT as a trigger failure, not a foreign key one.
    domain_id  TEXT NOT NULL REFERENCES domains (id) ON DELETE NO ACTION,
    created_at TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX networks_id_key ON networks (id);
CREATE UNIQUE INDEX networks_domain_key ON networks (domain);
CREATE INDEX networks_project_idx ON networks (project_id, seq);
CREATE INDEX networks_domain_id_idx ON networks (domain_id);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- The event log. Ids come from event_counter (updated in the writing
-- transaction), so they are dense, never reused after pruning, and a
-- rolled-back write gives its id back; one writer at a time commits them in
-- id order. A gap in `events` therefore only means "pruned by retention".
CREATE TABLE event_counter (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    last_id   INTEGER NOT NULL
) STRICT;
INSERT INTO event_counter (singleton, last_id) VALUES (1, 0);

CREATE TABLE events (
    id         INTEGER PRIMARY KEY,
    owner_id   TEXT NOT NULL,
    project_id TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('CREATE', 'UPDATE', 'DELETE')),
    data       TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
