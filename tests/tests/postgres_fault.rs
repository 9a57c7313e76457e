//! PostgreSQL dies under load and comes back: the server answers 503 (not
//! 500, not a hang) meanwhile, loses no acknowledged write, and serves
//! again without being restarted.
//!
//! Starts a private PostgreSQL (initdb into a temp dir, a free port) so it
//! can SIGKILL its postmaster. Skips without PostgreSQL's programs, fails
//! without them under `SLIPWAY_REQUIRE_BACKENDS=1`. Runs when the store under
//! test is PostgreSQL (`SLIPWAY_TEST_STORE=postgres`), on the adapter under test.

use crate::postgres_support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use postgres_support::PgInstance;
use serde_json::json;
use slipway_tests::TestServer;
use tokio::sync::mpsc;

/// What one create got.
#[derive(Debug)]
enum Outcome {
    /// 201 with the project id.
    Created(String),
    /// 503 with the JSON error body.
    Unavailable,
    /// Anything else: another status, a malformed answer, a client timeout.
    Other(String),
}

async fn create(client: &reqwest::Client, url: &str, token: &str, i: u64) -> Outcome {
    let sent = client
        .post(format!("{url}/project"))
        .bearer_auth(token)
        .json(&json!({"name": format!("p{i}"), "sourceId": format!("src-{i}"), "vmId": format!("vm-{i}")}))
        .send()
        .await;
    let resp = match sent {
        Ok(r) => r,
        Err(e) => return Outcome::Other(format!("request {i} failed: {e}")),
    };
    let status = resp.status().as_u16();
    let body: serde_json::Value = match resp.json().await {
        Ok(b) => b,
        Err(e) => return Outcome::Other(format!("request {i}: {status} with a bad body: {e}")),
    };
    match status {
        201 => match body["id"].as_str() {
            Some(id) => Outcome::Created(id.to_string()),
            None => Outcome::Other(format!("request {i}: 201 without id: {body}")),
        },
        503 if body["statusCode"] == 503 => Outcome::Unavailable,
        _ => Outcome::Other(format!("request {i}: {status} {body}")),
    }
}

/// Receives outcomes until `done` says so; panics on anything but 201/503
/// and after `limit` outcomes.
async fn until(
    rx: &mut mpsc::UnboundedReceiver<Outcome>,
    created: &mut Vec<String>,
    limit: usize,
    mut done: impl FnMut(&Outcome) -> bool,
) {
    for _ in 0..limit {
        let outcome = tokio::time::timeout(Duration::from_secs(60), rx.recv())
            .await
            .expect("the workers keep answering")
            .expect("the workers run");
        let finished = done(&outcome);
        match outcome {
            Outcome::Created(id) => created.push(id),
            Outcome::Unavailable => {}
            Outcome::Other(what) => panic!("neither 201 nor 503: {what}"),
        }
        if finished {
            return;
        }
    }
    panic!("no end after {limit} requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_creates_survive_a_postgres_crash() {
    if slipway_tests::store_kind() != "postgres" {
        eprintln!("skipped: runs in the PostgreSQL pass (SLIPWAY_TEST_STORE=postgres)");
        return;
    }
    if !PgInstance::available() {
        if slipway_postgres::testing::require_backends() {
            panic!("PostgreSQL programs are missing but SLIPWAY_REQUIRE_BACKENDS=1");
        }
        eprintln!("skipped acknowledged_creates_survive_a_postgres_crash: no PostgreSQL programs");
        return;
    }
    let pg = Arc::new(
        tokio::task::spawn_blocking(PgInstance::start_fresh)
            .await
            .unwrap(),
    );
    let db = postgres_support::fresh_database(&pg.admin_url()).await;
    let server = TestServer::start_with(move |a| a.database_url = db, |b| b).await;
    let token = server.signup("ada").await;

    // Two workers create projects back to back, each request with a client
    // timeout: a hang shows up as an `Other` outcome.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let stop = Arc::new(AtomicBool::new(false));
    let counter = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..2 {
        let (client, url, token, tx) = (
            client.clone(),
            server.url.clone(),
            token.clone(),
            tx.clone(),
        );
        let (stop, counter) = (stop.clone(), counter.clone());
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let i = counter.fetch_add(1, Ordering::SeqCst);
                if tx.send(create(&client, &url, &token, i).await).is_err() {
                    break;
                }
            }
        }));
    }
    drop(tx);

    let mut created = Vec::new();
    // Healthy: ten creates acknowledged.
    let mut n = 0;
    until(&mut rx, &mut created, 1000, |o| {
        n += usize::from(matches!(o, Outcome::Created(_)));
        n >= 10
    })
    .await;

    // Crash: requests now get 503 (three of them, to be sure it is the outage).
    let p = pg.clone();
    tokio::task::spawn_blocking(move || p.kill()).await.unwrap();
    let mut unavailable = 0;
    until(&mut rx, &mut created, 1000, |o| {
        unavailable += usize::from(matches!(o, Outcome::Unavailable));
        unavailable >= 3
    })
    .await;
    let health = server.get("/health", None).await;
    health.expect_error(503);

    // Back on the same data directory and port: creates succeed again.
    let p = pg.clone();
    tokio::task::spawn_blocking(move || p.start())
        .await
        .unwrap();
    let mut after = 0;
    until(&mut rx, &mut created, 1000, |o| {
        after += usize::from(matches!(o, Outcome::Created(_)));
        after >= 10
    })
    .await;

    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.await.unwrap();
    }
    // Whatever was still in flight must be 201 or 503 too.
    while let Some(outcome) = rx.recv().await {
        match outcome {
            Outcome::Created(id) => created.push(id),
            Outcome::Unavailable => {}
            Outcome::Other(what) => panic!("neither 201 nor 503: {what}"),
        }
    }

    // Every acknowledged create is there.
    server.get("/health", None).await.expect(200);
    let list = server.get("/project", Some(&token)).await;
    let listed: std::collections::HashSet<String> = list
        .expect(200)
        .as_array()
        .expect("a list")
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect();
    let missing: Vec<&String> = created.iter().filter(|id| !listed.contains(*id)).collect();
    eprintln!(
        "{} requests: {} acknowledged, {unavailable}+ answered 503 during the outage",
        counter.load(Ordering::SeqCst),
        created.len()
    );
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    assert!(created.len() >= 20);
}
