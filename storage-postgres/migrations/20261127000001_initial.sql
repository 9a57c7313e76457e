-- Slipway's schema. Constraint names are part of the code: src/error.rs maps
-- them to the API field a conflict is about, so rename them only together.

CREATE TABLE users (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY,
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    email         TEXT NOT NULL CONSTRAINT users_email_key UNIQUE,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    password_hash TEXT,
    github_id     BIGINT CONSTRAINT users_github_id_key UNIQUE,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX users_seq_idx ON users (seq);

CREATE TABLE authorizations (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY,
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL
               CONSTRAINT authorizations_user_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    secret     BYTEA NOT NULL,
    info       JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX authorizations_user_idx ON authorizations (user_id, seq);

CREATE TABLE projects (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY,
    id          TEXT PRIMARY KEY,
    owner_id    TEXT NOT NULL
                CONSTRAINT projects_owner_id_fkey REFERENCES users (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT,
    path        TEXT,
    source_id   TEXT NOT NULL CONSTRAINT projects_source_id_key UNIQUE,
    vm_id       TEXT NOT NULL CONSTRAINT projects_vm_id_key UNIQUE,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX projects_path_key ON projects (path) WHERE path IS NOT NULL;
CREATE INDEX projects_owner_idx ON projects (owner_id, seq);

CREATE TABLE domains (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY,
    id         TEXT PRIMARY KEY,
    domain     TEXT NOT NULL CONSTRAINT domains_domain_key UNIQUE,
    challenge  TEXT NOT NULL,
    main       BOOLEAN NOT NULL,
    linked     BOOLEAN NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
-- At most one main domain.
CREATE UNIQUE INDEX domains_main_key ON domains (main) WHERE main;

CREATE TABLE networks (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY,
    id         TEXT PRIMARY KEY,
    domain     TEXT NOT NULL CONSTRAINT networks_domain_key UNIQUE,
    port       INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
    project_id TEXT NOT NULL
               CONSTRAINT networks_project_id_fkey REFERENCES projects (id) ON DELETE CASCADE,
    domain_id  TEXT NOT NULL
               CONSTRAINT networks_domain_id_fkey REFERENCES domains (id) ON DELETE RESTRICT,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX networks_project_idx ON networks (project_id, seq);
CREATE INDEX networks_domain_id_idx ON networks (domain_id);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value JSONB NOT NULL
);

-- The event log. Ids come from event_counter, not from a sequence: the
-- counter row is updated inside the writing transaction, so its row lock
-- makes event-writing transactions take ids one after the other and commit
-- in id order, and a rolled-back write gives its id back. Ids are therefore
-- dense and never become visible out of order, which lets readers follow the
-- log with `WHERE id > cursor` and treat any gap as "pruned by retention".
CREATE TABLE event_counter (
    singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    last_id   BIGINT NOT NULL
);
INSERT INTO event_counter (singleton, last_id) VALUES (TRUE, 0);

CREATE TABLE events (
    id         BIGINT PRIMARY KEY,
    owner_id   TEXT NOT NULL,
    project_id TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('CREATE', 'UPDATE', 'DELETE')),
    data       JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
