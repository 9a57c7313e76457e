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

mod abuse;
mod accounts;
mod audit;
mod auth;
mod connections;
mod docs;
mod domains;
mod ids;
mod limits;
mod multinode;
mod networks;
mod openapi_validator;
mod paging;
mod postgres_fault;
mod probes;
mod projects;
mod readme_examples;
mod redis_fault;
mod request_ids;
mod secret_rotate;
mod server_config;
mod shutdown;
mod sqlite_fault;
mod sqlite_restart;
mod sqlite_server;
mod tokens;
mod webhooks;
mod ws;
