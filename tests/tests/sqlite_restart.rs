//! The README's start: `slipway-server` with no database or secret flags in
//! an empty working directory keeps everything in `./slipway.db`, with the
//! instance secret it generated in `./slipway.db.secret` (mode 0600). A
//! user, a project and a sealed credential (a deploy key) survive a restart,
//! and tokens issued before it stay valid.
//!
//! Runs in the SQLite pass (`SLIPWAY_TEST_STORE=sqlite`), on the adapter
//! under test.

use crate::sqlite_support;

use crate::keys;

use serde_json::json;
use slipway_sqlite::testing::TempDb;
use sqlite_support::{get, signin, signup, Server};

const CHILD: &str = "sqlite_restart::sqlite_restart_child_server";

/// In the child: the server. A no-op in a normal run.
#[tokio::test]
async fn sqlite_restart_child_server() {
    if sqlite_support::is_child() {
        sqlite_support::child_main().await;
    }
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_server_keeps_users_projects_and_credentials_across_a_restart() {
    if sqlite_support::is_child() {
        return;
    }
    if slipway_tests::store_kind() != "sqlite" {
        eprintln!("skipped: runs in the SQLite pass (SLIPWAY_TEST_STORE=sqlite)");
        return;
    }
    let cwd = TempDb::new().unwrap();
    let http = reqwest::Client::new();
    let (_, key, public_key, fingerprint) = keys::KEYS[0];

    let server = Server::start(CHILD, cwd.dir(), &[]);
    let base = server.url();
    let token = signup(&http, &base, "ada").await;
    let project = http
        .post(format!("{base}/project"))
        .bearer_auth(&token)
        .json(&json!({"name": "blog", "sourceId": "src-1", "vmId": "vm-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(project.status().as_u16(), 201);
    let project: serde_json::Value = project.json().await.unwrap();
    let auth = http
        .post(format!("{base}/authorization"))
        .bearer_auth(&token)
        .json(&json!({"type": "deploy_key", "name": "deploy", "data": {"key": key}}))
        .send()
        .await
        .unwrap();
    assert_eq!(auth.status().as_u16(), 201);
    let auth: serde_json::Value = auth.json().await.unwrap();
    assert_eq!(auth["fingerprint"], fingerprint);

    let database = cwd.dir().join("slipway.db");
    let secret_file = cwd.dir().join("slipway.db.secret");
    assert!(database.is_file(), "the default database is ./slipway.db");
    assert_eq!(mode(&secret_file), 0o600, "the generated secret is private");
    let secret = std::fs::read(&secret_file).unwrap();
    assert!(server.signal_and_wait("TERM").await, "a clean stop exits 0");
    // A clean stop leaves everything in slipway.db itself (an empty WAL).
    let wal = std::fs::metadata(cwd.dir().join("slipway.db-wal")).map_or(0, |m| m.len());
    assert_eq!(wal, 0, "the WAL is checkpointed on shutdown");

    // The key is sealed at rest: its material is nowhere in the files.
    let material: Vec<&str> = key
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() > 20)
        .collect();
    assert!(!material.is_empty());
    for name in ["slipway.db", "slipway.db-wal"] {
        let Ok(bytes) = std::fs::read(cwd.dir().join(name)) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        for line in &material {
            assert!(!text.contains(line), "key material in {name} in clear");
        }
    }

    let server = Server::start(CHILD, cwd.dir(), &[]);
    let base = server.url();
    assert_eq!(std::fs::read(&secret_file).unwrap(), secret, "same secret");
    assert_eq!(mode(&secret_file), 0o600);
    let (status, me) = get(&http, &base, "/auth/me", &token).await;
    assert_eq!(status, 200, "a token from before the restart still works");
    assert_eq!(me["email"], "ada@example.com");
    assert_eq!(me["role"], "admin");
    let token = signin(&http, &base, "ada").await;
    let (status, projects) = get(&http, &base, "/project", &token).await;
    assert_eq!(status, 200);
    assert_eq!(projects, json!([project]));
    let (status, stored) = get(
        &http,
        &base,
        &format!("/authorization/{}", auth["id"].as_str().unwrap()),
        &token,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(stored, auth, "the same record as created");
    assert_eq!(stored["publicKey"], public_key);
    assert!(server.signal_and_wait("TERM").await, "a clean stop exits 0");
}
