//! Crash recovery on SQLite: the real server process is SIGKILLed under a
//! stream of creates and started again on the same file with the same
//! secret file. Every create answered 2xx is present afterwards, nothing
//! else appeared, and tokens issued before the crash still work. While it
//! runs, the file is its own: another store cannot open it, across
//! processes.
//!
//! Runs in the SQLite pass (`SLIPWAY_TEST_STORE=sqlite`), on the adapter
//! under test.

use crate::sqlite_support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use slipway_sqlite::testing::TempDb;
use slipway_sqlite::{OpenError, SqliteOptions, SqliteStore};
use sqlite_support::{get, signin, signup, Server};

const CHILD: &str = "sqlite_fault::sqlite_fault_child_server";

/// In the child: the server. A no-op in a normal run.
#[tokio::test]
async fn sqlite_fault_child_server() {
    if sqlite_support::is_child() {
        sqlite_support::child_main().await;
    }
}

/// Each create sent: its vmId and HTTP status (`None`: no answer).
type Outcomes = Mutex<Vec<(String, Option<u16>)>>;

/// Acknowledged creates (2xx) wanted before the kill.
const BEFORE_KILL: usize = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_creates_survive_a_sigkill_of_the_server() {
    if sqlite_support::is_child() {
        return;
    }
    if slipway_tests::store_kind() != "sqlite" {
        eprintln!("skipped: runs in the SQLite pass (SLIPWAY_TEST_STORE=sqlite)");
        return;
    }
    let dir = TempDb::new().unwrap();
    let secret_file = dir.dir().join("secret");
    std::fs::write(&secret_file, format!("{}\n", slipway_tests::SECRET)).unwrap();
    let url = dir.url();
    let env = [
        ("SLIPWAY_DATABASE_URL", url.as_str()),
        ("SLIPWAY_SECRET_FILE", secret_file.to_str().unwrap()),
    ];
    let server = Server::start(CHILD, dir.dir(), &env);
    let base = server.url();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let token = signup(&http, &base, "ada").await;

    // The file belongs to that process: a second store is refused.
    match SqliteStore::open(&url, SqliteOptions::default()).await {
        Err(OpenError::Locked { .. }) => {}
        other => panic!("a second store on the file must be refused, got {other:?}"),
    }

    // Writers create projects until the server dies under them.
    let outcomes: Arc<Outcomes> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (http, base, token) = (http.clone(), base.clone(), token.clone());
            let (outcomes, stop) = (outcomes.clone(), stop.clone());
            tokio::spawn(async move {
                for n in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let vm = format!("vm-{w}-{n}");
                    let sent = http
                        .post(format!("{base}/project"))
                        .bearer_auth(&token)
                        .json(&json!({"name": "p", "sourceId": format!("src-{w}-{n}"), "vmId": vm}))
                        .send()
                        .await;
                    let status = sent.as_ref().ok().map(|r| r.status().as_u16());
                    outcomes.lock().unwrap().push((vm, status));
                    if status.is_none() {
                        // The server is gone.
                        return;
                    }
                }
            })
        })
        .collect();
    let acknowledged = |o: &Outcomes| {
        o.lock()
            .unwrap()
            .iter()
            .filter(|(_, s)| matches!(s, Some(200..=299)))
            .count()
    };
    let mut waited = 0;
    while acknowledged(&outcomes) < BEFORE_KILL {
        waited += 1;
        assert!(waited < 1200, "the writers made no progress");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    assert!(
        !server.signal_and_wait("KILL").await,
        "SIGKILL ends the process"
    );
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let outcomes = outcomes.lock().unwrap().clone();
    let acked: Vec<&String> = outcomes
        .iter()
        .filter(|(_, s)| matches!(s, Some(200..=299)))
        .map(|(vm, _)| vm)
        .collect();
    assert!(acked.len() >= BEFORE_KILL);
    eprintln!(
        "{} creates acknowledged, {} without an answer at the kill",
        acked.len(),
        outcomes.iter().filter(|(_, s)| s.is_none()).count()
    );
    let unexpected: Vec<_> = outcomes
        .iter()
        .filter(|(_, s)| s.is_some_and(|s| !(200..=299).contains(&s)))
        .collect();
    assert!(unexpected.is_empty(), "non-2xx answers: {unexpected:?}");

    // Started again on the same file with the same secret file.
    let server = Server::start(CHILD, dir.dir(), &env);
    let base = server.url();
    let (status, _) = get(&http, &base, "/auth/me", &token).await;
    assert_eq!(status, 200, "a token from before the crash still works");
    let token = signin(&http, &base, "ada").await;
    let (status, list) = get(&http, &base, "/project", &token).await;
    assert_eq!(status, 200);
    let present: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["vmId"].as_str().unwrap().to_string())
        .collect();
    let present_set: HashSet<&String> = present.iter().collect();
    assert_eq!(present_set.len(), present.len(), "no duplicates");
    let lost: Vec<_> = acked
        .iter()
        .filter(|vm| !present_set.contains(*vm))
        .collect();
    assert!(lost.is_empty(), "acknowledged creates lost: {lost:?}");
    let attempted: HashSet<&String> = outcomes.iter().map(|(vm, _)| vm).collect();
    assert!(
        present.iter().all(|vm| attempted.contains(vm)),
        "only what was sent exists"
    );
    // And the restarted server takes writes.
    let created = http
        .post(format!("{base}/project"))
        .bearer_auth(&token)
        .json(&json!({"name": "after", "sourceId": "src-after", "vmId": "vm-after"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    assert!(server.signal_and_wait("TERM").await, "a clean stop exits 0");
}
