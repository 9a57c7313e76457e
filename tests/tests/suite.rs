//! The black-box suite in one test binary: every file beside this one is a
//! module of it, so the suite links once and runs in one process (each
//! store and adapter pass runs it again). `cargo test -p slipway-tests
//! ws::` runs one file's tests.
//!
//! Two files stay binaries of their own, `github` and `authorizations`:
//! they capture the whole process's logs at TRACE (see
//! `slipway_tests::logs`), which would capture every other test's logs too.

// Shared by several files (declared once: `use crate::...` in each).
#[path = "fixtures/deploy_keys.rs"]
#[allow(dead_code)] // each file uses some of the keys
mod keys;
mod postgres_support;
mod redis_support;
mod sqlite_support;

#[path = "abuse.rs"]
mod abuse;
#[path = "accounts.rs"]
mod accounts;
#[path = "audit.rs"]
mod audit;
#[path = "auth.rs"]
mod auth;
#[path = "connections.rs"]
mod connections;
#[path = "docs.rs"]
mod docs;
#[path = "domains.rs"]
mod domains;
#[path = "ids.rs"]
mod ids;
#[path = "limits.rs"]
mod limits;
#[path = "multinode.rs"]
mod multinode;
#[path = "networks.rs"]
mod networks;
#[path = "paging.rs"]
mod paging;
#[path = "postgres_fault.rs"]
mod postgres_fault;
#[path = "probes.rs"]
mod probes;
#[path = "projects.rs"]
mod projects;
#[path = "readme_examples.rs"]
mod readme_examples;
#[path = "redis_fault.rs"]
mod redis_fault;
#[path = "request_ids.rs"]
mod request_ids;
#[path = "secret_rotate.rs"]
mod secret_rotate;
#[path = "server_config.rs"]
mod server_config;
#[path = "shutdown.rs"]
mod shutdown;
#[path = "sqlite_fault.rs"]
mod sqlite_fault;
#[path = "sqlite_restart.rs"]
mod sqlite_restart;
#[path = "sqlite_server.rs"]
mod sqlite_server;
#[path = "tokens.rs"]
mod tokens;
#[path = "webhooks.rs"]
mod webhooks;
#[path = "ws.rs"]
mod ws;
