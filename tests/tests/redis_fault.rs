//! Crash recovery on Redis: under a stream of creates, the test's own
//! redis-server (AOF, `appendfsync always`) is SIGKILLed and restarted from
//! its data directory. Every create answered 2xx is present afterwards,
//! requests during the outage answer 503 (never 500, never a hang), and the
//! same server serves again without a restart.
//!
//! Needs `redis-server` on PATH (skips without it, fails without it under
//! `SLIPWAY_REQUIRE_BACKENDS=1`). Runs when the store under test is Redis
//! (`SLIPWAY_TEST_STORE=redis`), on the adapter under test.

use crate::redis_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis_support::RedisServer;
use serde_json::{json, Value};
use slipway_tests::TestServer;

/// What one create got.
#[derive(Debug, Clone)]
struct Outcome {
    /// Which phase the request was sent in.
    phase: Phase,
    /// HTTP status, or `None` when the request failed (e.g. client timeout).
    status: Option<u16>,
    vm_id: String,
    body: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Before,
    Down,
    After,
}

struct Shared {
    phase: Phase,
    outcomes: Vec<Outcome>,
    stop: bool,
    /// Asked by the test: send nothing until it is cleared.
    pause: bool,
    /// Set by the writer once it is paused (no request in flight).
    paused: bool,
}

fn count(shared: &Mutex<Shared>, phase: Phase, status: u16) -> usize {
    shared
        .lock()
        .unwrap()
        .outcomes
        .iter()
        .filter(|o| o.phase == phase && o.status == Some(status))
        .count()
}

/// Waits (bounded) until `cond` holds, polling the writer's progress; on
/// giving up, says what the creates got so far.
async fn wait_for(shared: &Mutex<Shared>, what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..600 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let s = shared.lock().unwrap();
    let last: Vec<&Outcome> = s.outcomes.iter().rev().take(3).collect();
    panic!(
        "gave up waiting for {what}; outcomes by phase and status: {:?}; the last: {last:?}",
        tally(&s.outcomes)
    );
}

/// How many creates got each status, by phase (`None`: no answer).
fn tally(outcomes: &[Outcome]) -> std::collections::BTreeMap<String, usize> {
    let mut tally = std::collections::BTreeMap::new();
    for o in outcomes {
        *tally
            .entry(format!("{:?} {:?}", o.phase, o.status))
            .or_insert(0) += 1;
    }
    tally
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_creates_survive_a_redis_crash_and_outage_answers_503() {
    if slipway_tests::store_kind() != "redis" {
        eprintln!("skipped: runs in the Redis pass (SLIPWAY_TEST_STORE=redis)");
        return;
    }
    if !RedisServer::available() {
        assert!(
            !redis_support::backends_required(),
            "redis-server is not installed but SLIPWAY_REQUIRE_BACKENDS=1"
        );
        eprintln!("skipped: redis-server is not installed");
        return;
    }
    let mut redis = RedisServer::start_fresh();
    let url = format!("{}?prefix=fault", redis.url());
    let server = TestServer::start_with(move |a| a.database_url = url, |b| b).await;
    let token = server.signup("ada").await;
    // A bounded client: a request hanging through the outage fails the test.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    let shared = Arc::new(Mutex::new(Shared {
        phase: Phase::Before,
        outcomes: Vec::new(),
        stop: false,
        pause: false,
        paused: false,
    }));
    let writer = {
        let shared = shared.clone();
        let (client, url, token) = (client.clone(), server.url.clone(), token.clone());
        tokio::spawn(async move {
            // Bounded: at most 5000 creates.
            for i in 0..5000 {
                let phase = loop {
                    {
                        let mut s = shared.lock().unwrap();
                        if s.stop {
                            return;
                        }
                        s.paused = s.pause;
                        if !s.pause {
                            break s.phase;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                };
                let vm_id = format!("vm-{i}");
                let resp = client
                    .post(format!("{url}/project"))
                    .bearer_auth(&token)
                    .json(&json!({"name": format!("p{i}"), "sourceId": format!("src-{i}"), "vmId": vm_id}))
                    .send()
                    .await;
                let (status, body) = match resp {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        (Some(status), r.json::<Value>().await.unwrap_or(Value::Null))
                    }
                    Err(e) => (None, Value::String(e.to_string())),
                };
                shared.lock().unwrap().outcomes.push(Outcome {
                    phase,
                    status,
                    vm_id,
                    body,
                });
            }
        })
    };

    wait_for(&shared, "creates before the crash", || {
        count(&shared, Phase::Before, 201) >= 20
    })
    .await;
    // Requests in flight at the kill may get either answer; every request
    // SENT after it (phase Down) must get 503.
    redis.kill();
    shared.lock().unwrap().phase = Phase::Down;
    wait_for(&shared, "503s during the outage", || {
        count(&shared, Phase::Down, 503) >= 3
    })
    .await;
    let health = server.get("/health", None).await;
    assert_eq!(
        health.status.as_u16(),
        503,
        "health during the outage: {health:?}"
    );

    // Pause the writer so that no phase-Down request is in flight at the
    // restart, then restart on the same port and directory (AOF reload).
    shared.lock().unwrap().pause = true;
    wait_for(&shared, "the writer to pause", || {
        shared.lock().unwrap().paused
    })
    .await;
    let (dir, port) = (redis.dir.clone(), redis.port);
    let redis = RedisServer::start_on(&dir, port);
    {
        let mut s = shared.lock().unwrap();
        s.phase = Phase::After;
        s.pause = false;
    }
    wait_for(&shared, "creates after the restart", || {
        count(&shared, Phase::After, 201) >= 20
    })
    .await;
    shared.lock().unwrap().stop = true;
    writer.await.unwrap();

    let outcomes = shared.lock().unwrap().outcomes.clone();
    eprintln!("outcomes by phase and status: {:?}", tally(&outcomes));
    for o in &outcomes {
        assert!(
            matches!(o.status, Some(201) | Some(503)),
            "every create answers 201 or 503, never 500 or a hang: {o:?}"
        );
        if o.status == Some(503) {
            assert_eq!(o.body["statusCode"], 503, "{o:?}");
        }
    }
    for o in outcomes.iter().filter(|o| o.phase == Phase::Down) {
        assert_eq!(o.status, Some(503), "sent while Redis was down: {o:?}");
    }

    // Every acknowledged create is there, read through the same server.
    server.get("/health", None).await.expect(200);
    let list = server.get("/project", Some(&token)).await;
    let stored: std::collections::HashSet<String> = list
        .expect(200)
        .as_array()
        .expect("a list")
        .iter()
        .map(|p| p["vmId"].as_str().unwrap().to_string())
        .collect();
    let acknowledged: Vec<&Outcome> = outcomes.iter().filter(|o| o.status == Some(201)).collect();
    for o in &acknowledged {
        assert!(stored.contains(&o.vm_id), "acknowledged create lost: {o:?}");
        assert_eq!(o.body["vmId"], o.vm_id.as_str());
    }
    // Nothing appears that was never requested.
    let requested: std::collections::HashSet<&str> =
        outcomes.iter().map(|o| o.vm_id.as_str()).collect();
    assert!(stored.iter().all(|v| requested.contains(v.as_str())));
    drop(redis);
    let _ = std::fs::remove_dir_all(&dir);
}
