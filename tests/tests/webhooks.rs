//! Signed webhooks (`/webhooks`): CRUD with validation and ownership, the
//! private-address rule, signed deliveries in order, retries after failures,
//! delivery resumed by a new server on the same database, a slow receiver
//! delaying no other webhook, and a prompt shutdown — on the store and
//! adapter under test, with a receiving HTTP server on 127.0.0.1.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use slipway_tests::TestServer;
use tokio::sync::mpsc;

/// One request the receiver got.
#[derive(Debug)]
struct Received {
    headers: HeaderMap,
    body: String,
}

/// A receiving server: answers each request with the next status of
/// `script` (200 once it is used up), after `delay`, and hands every
/// request to the test as it arrives.
struct Receiver {
    url: String,
    script: Arc<Mutex<Vec<u16>>>,
    rx: mpsc::UnboundedReceiver<Received>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct Rs {
    tx: mpsc::UnboundedSender<Received>,
    script: Arc<Mutex<Vec<u16>>>,
    delay: Duration,
}

async fn receive(State(rs): State<Rs>, headers: HeaderMap, body: String) -> StatusCode {
    let status = {
        let mut script = rs.script.lock().unwrap();
        if script.is_empty() {
            200
        } else {
            script.remove(0)
        }
    };
    let _ = rs.tx.send(Received { headers, body });
    tokio::time::sleep(rs.delay).await;
    StatusCode::from_u16(status).unwrap()
}

impl Receiver {
    async fn start(script: Vec<u16>) -> Self {
        Self::slow(script, Duration::ZERO).await
    }

    /// A receiver that answers each request after `delay`.
    async fn slow(script: Vec<u16>, delay: Duration) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let script = Arc::new(Mutex::new(script));
        let rs = Rs {
            tx,
            script: script.clone(),
            delay,
        };
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(rs);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver {
            url,
            script,
            rx,
            task,
        }
    }

    /// The next request, waiting generously.
    async fn next(&mut self) -> Received {
        tokio::time::timeout(Duration::from_secs(60), self.rx.recv())
            .await
            .expect("a delivery arrives within 60 s")
            .expect("receiver running")
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A server that may call loopback addresses, retrying quickly.
async fn server_allowing_private() -> TestServer {
    TestServer::start_with(
        |_| {},
        |b| {
            b.webhook_allow_private(true)
                .webhook_retry_base(Duration::from_millis(100))
        },
    )
    .await
}

async fn project(s: &TestServer, token: &str) -> Value {
    let n = uuid::Uuid::new_v4().simple().to_string();
    s.post(
        "/project",
        Some(token),
        json!({"name": "p", "sourceId": format!("src-{n}"), "vmId": format!("vm-{n}")}),
    )
    .await
    .expect(201)
    .clone()
}

/// Creates a webhook of `token`'s user for `project.update` events to
/// `url`; answers the 201 body (with the secret).
async fn webhook(s: &TestServer, token: &str, url: &str) -> Value {
    s.post(
        "/webhooks",
        Some(token),
        json!({"url": url, "events": ["project.update"]}),
    )
    .await
    .expect(201)
    .clone()
}

/// Checks the headers and signature of a delivery; answers its body.
fn verified(r: &Received, secret: &str) -> Value {
    let h = |name: &str| {
        r.headers
            .get(name)
            .unwrap_or_else(|| panic!("header {name}"))
            .to_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(h("content-type"), "application/json");
    assert_eq!(h("x-slipway-event"), "project.update");
    let ts = h("x-slipway-timestamp");
    ts.parse::<i64>().expect("unix seconds");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{ts}.{}", r.body).as_bytes());
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(h("x-slipway-signature"), format!("sha256={expected}"));
    let body: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(h("x-slipway-delivery"), body["id"].as_str().unwrap());
    assert_eq!(body["event"], "project.update");
    chrono::DateTime::parse_from_rfc3339(body["timestamp"].as_str().unwrap()).unwrap();
    body
}

#[tokio::test]
async fn webhooks_crud_validation_and_ownership() {
    let s = server_allowing_private().await;
    let ada = s.signup("ada").await;
    let bob = s.signup("bob").await;
    let p = project(&s, &ada).await;
    let pid = p["id"].as_str().unwrap();
    let bob_p = project(&s, &bob).await;

    let created = s
        .post(
            "/webhooks",
            Some(&ada),
            json!({"url": "http://127.0.0.1:9/hook", "events": ["project.update"], "projectIds": [pid]}),
        )
        .await;
    assert_eq!(created.headers.get("cache-control").unwrap(), "no-store");
    let created = created.expect(201).clone();
    let id = created["id"].as_str().unwrap().to_string();
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_") && secret.len() > 40);
    assert_eq!(created["url"], "http://127.0.0.1:9/hook");
    assert_eq!(created["events"], json!(["project.update"]));
    assert_eq!(created["projectIds"], json!([pid]));
    assert!(created["createdAt"].is_string());

    // Reads never show the secret.
    let list = s.get("/webhooks", Some(&ada)).await.expect(200).clone();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], id.as_str());
    let one = s.get(&format!("/webhooks/{id}"), Some(&ada)).await;
    let one = one.expect(200).clone();
    assert_eq!(one["url"], "http://127.0.0.1:9/hook");
    for text in [list.to_string(), one.to_string()] {
        assert!(!text.contains(&secret));
        assert!(!text.contains("secret"));
    }
    let deliveries = s
        .get(&format!("/webhooks/{id}/deliveries"), Some(&ada))
        .await;
    assert_eq!(deliveries.expect(200), &json!([]));

    // Another user's webhook does not exist for them.
    assert!(s
        .get("/webhooks", Some(&bob))
        .await
        .expect(200)
        .as_array()
        .unwrap()
        .is_empty());
    s.get(&format!("/webhooks/{id}"), Some(&bob))
        .await
        .expect_error(404);
    s.get(&format!("/webhooks/{id}/deliveries"), Some(&bob))
        .await
        .expect_error(404);
    s.delete(&format!("/webhooks/{id}"), Some(&bob))
        .await
        .expect_error(404);
    s.get("/webhooks/not-an-id", Some(&ada))
        .await
        .expect_error(404);

    // Bad input: 400, nothing stored.
    let hook = |body: Value| {
        let s = &s;
        let ada = ada.clone();
        async move { s.post("/webhooks", Some(&ada), body).await }
    };
    let bad_pid = bob_p["id"].as_str().unwrap();
    for body in [
        json!({"url": "http://127.0.0.1:9/", "events": []}),
        json!({"url": "http://127.0.0.1:9/", "events": ["project.create"]}),
        json!({"url": "http://127.0.0.1:9/", "events": "project.update"}),
        json!({"url": "ftp://127.0.0.1/", "events": ["project.update"]}),
        json!({"url": "not a url", "events": ["project.update"]}),
        json!({"url": "http:///nohost", "events": ["project.update"]}),
        json!({"url": "http://127.0.0.1:9/", "events": ["project.update"], "projectIds": [bad_pid]}),
        json!({"events": ["project.update"]}),
    ] {
        let a = hook(body.clone()).await;
        assert_eq!(a.status.as_u16(), 400, "{body}: {:?}", a.body);
    }
    assert_eq!(
        s.get("/webhooks", Some(&ada))
            .await
            .expect(200)
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // API tokens cannot manage webhooks.
    let token = s
        .post(
            "/tokens",
            Some(&ada),
            json!({"name": "ci", "scopes": ["projects:read"]}),
        )
        .await
        .expect(201)["token"]
        .as_str()
        .unwrap()
        .to_string();
    s.get("/webhooks", Some(&token)).await.expect_error(403);
    s.post(
        "/webhooks",
        Some(&token),
        json!({"url": "http://127.0.0.1:9/", "events": ["project.update"]}),
    )
    .await
    .expect_error(403);
    s.get("/webhooks", None).await.expect_error(401);

    s.delete(&format!("/webhooks/{id}"), Some(&ada))
        .await
        .expect(204);
    s.get(&format!("/webhooks/{id}"), Some(&ada))
        .await
        .expect_error(404);
    s.delete(&format!("/webhooks/{id}"), Some(&ada))
        .await
        .expect_error(404);
}

#[tokio::test]
async fn private_addresses_are_refused_unless_allowed() {
    let s = TestServer::start().await;
    let ada = s.signup("ada").await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",
        "http://10.0.0.1/hook",
        "http://192.168.1.1/hook",
        "http://169.254.169.254/latest",
        "http://[::1]:9/hook",
        "http://0.0.0.0/hook",
    ] {
        let m = s
            .post(
                "/webhooks",
                Some(&ada),
                json!({"url": url, "events": ["project.update"]}),
            )
            .await
            .expect_error(400);
        assert!(m.contains("url"), "{url}: {m}");
    }
    // A name that does not resolve and a name that resolves to a private
    // address get the same answer: members cannot probe internal names.
    let mut answers = Vec::new();
    for host in ["no-such-host.invalid", "localhost"] {
        let m = s
            .post(
                "/webhooks",
                Some(&ada),
                json!({"url": format!("http://{host}:9/hook"), "events": ["project.update"]}),
            )
            .await
            .expect_error(400);
        answers.push(m.replace(host, "HOST"));
    }
    assert_eq!(answers[0], answers[1]);
    assert!(answers[0].contains("public addresses"), "{}", answers[0]);
    assert!(s
        .get("/webhooks", Some(&ada))
        .await
        .expect(200)
        .as_array()
        .unwrap()
        .is_empty());

    // The operator's setting (flag / SLIPWAY_WEBHOOK_ALLOW_PRIVATE) allows them.
    let s = TestServer::start_with(|a| a.webhook_allow_private = true, |b| b).await;
    let ada = s.signup("ada").await;
    s.post(
        "/webhooks",
        Some(&ada),
        json!({"url": "http://127.0.0.1:9/hook", "events": ["project.update"]}),
    )
    .await
    .expect(201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_signed_in_order_and_retried() {
    let s = server_allowing_private().await;
    let ada = s.signup("ada").await;
    let bob = s.signup("bob").await;
    // The receiver fails the first two attempts.
    let mut rx = Receiver::start(vec![500, 500]).await;
    let created = webhook(&s, &ada, &rx.url).await;
    let id = created["id"].as_str().unwrap().to_string();
    let secret = created["secret"].as_str().unwrap().to_string();

    // Another user's events are not delivered.
    project(&s, &bob).await;
    let p = project(&s, &ada).await;
    let pid = p["id"].as_str().unwrap();
    s.patch(
        &format!("/project/{pid}"),
        Some(&ada),
        json!({"name": "renamed"}),
    )
    .await
    .expect(200);

    // The first event: twice refused, then accepted, the same delivery id.
    let first = verified(&rx.next().await, &secret);
    assert_eq!(first["data"]["projectId"], pid);
    assert_eq!(first["data"]["type"], "CREATE");
    assert_eq!(first["data"]["data"]["name"], "p");
    let first_id = first["id"].as_str().unwrap().to_string();
    for _ in 0..2 {
        let again = verified(&rx.next().await, &secret);
        assert_eq!(again["id"], first_id.as_str());
        assert_eq!(again["data"], first["data"]);
    }
    // Then the next event, in order.
    let second = verified(&rx.next().await, &secret);
    assert_eq!(second["data"]["type"], "UPDATE");
    assert_eq!(second["data"]["data"]["name"], "renamed");
    assert!(
        second["id"].as_str().unwrap().parse::<u64>().unwrap() > first_id.parse::<u64>().unwrap()
    );
    // The secret never appears in what the API shows.
    let mut history = Value::Null;
    for _ in 0..600 {
        history = s
            .get(&format!("/webhooks/{id}/deliveries"), Some(&ada))
            .await
            .expect(200)
            .clone();
        if history.as_array().unwrap().len() == 2 && history[0]["delivered"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(history[0]["eventId"], second["id"]);
    assert_eq!(history[0]["delivered"], true);
    assert_eq!(history[0]["statusCode"], 200);
    assert_eq!(history[1]["eventId"], first_id.as_str());
    assert_eq!(history[1]["delivered"], true);
    assert_eq!(history[1]["attempts"], 3);
    assert!(!history.to_string().contains(&secret));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_resumes_on_a_new_server_after_a_restart() {
    if slipway_tests::store_kind() == "memory" {
        eprintln!("skipped: needs a persistent store");
        return;
    }
    let (url, _db) = slipway_tests::fresh_database().await;
    let start = |url: String| {
        TestServer::start_with(
            move |a| a.database_url = url,
            |b| {
                b.webhook_allow_private(true)
                    .webhook_retry_base(Duration::from_millis(100))
            },
        )
    };
    // The receiver fails while the first server runs.
    let mut rx = Receiver::start(vec![503; 100_000]).await;
    let s = start(url.clone()).await;
    let ada = s.signup("ada").await;
    let created = webhook(&s, &ada, &rx.url).await;
    let secret = created["secret"].as_str().unwrap().to_string();
    let p = project(&s, &ada).await;
    let missed = verified(&rx.next().await, &secret);
    assert_eq!(missed["data"]["projectId"], p["id"]);
    // Stop the first server; its delivery worker has stopped when
    // `shutdown_websockets` returns.
    s.running.slipway.shutdown_websockets().await;
    let TestServer { running, .. } = s;
    running.stop().await.unwrap();
    while rx.rx.try_recv().is_ok() {}
    rx.script.lock().unwrap().clear();

    // A new server on the same database delivers the missed event.
    let _s2 = start(url).await;
    let got = verified(&rx.next().await, &secret);
    assert_eq!(got["id"], missed["id"]);
    assert_eq!(got["data"], missed["data"]);
}

#[test]
fn the_server_flag_and_variable_allow_private_addresses() {
    use clap::Parser as _;
    let parse = |args: &[&str]| {
        let mut all = vec!["slipway-server"];
        all.extend_from_slice(args);
        slipway_server::Args::try_parse_from(all).unwrap()
    };
    assert!(!parse(&[]).webhook_allow_private);
    assert!(parse(&["--webhook-allow-private"]).webhook_allow_private);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_deliver_each_event_once_in_order() {
    if !matches!(slipway_tests::store_kind().as_str(), "postgres" | "redis") {
        eprintln!("skipped: needs a store shared by two nodes (PostgreSQL, Redis)");
        return;
    }
    let url = slipway_tests::fresh_database_url().await;
    let node = |url: String| {
        TestServer::start_with(
            move |a| a.database_url = url,
            |b| {
                b.webhook_allow_private(true)
                    .webhook_retry_base(Duration::from_millis(100))
            },
        )
    };
    let a = node(url.clone()).await;
    let b = node(url).await;
    let mut rx = Receiver::start(vec![]).await;
    let ada = a.signup("ada").await;
    let created = webhook(&a, &ada, &rx.url).await;
    let secret = created["secret"].as_str().unwrap().to_string();
    // Events written on both nodes; both nodes run a delivery worker.
    for i in 0..6 {
        project(if i % 2 == 0 { &a } else { &b }, &ada).await;
    }
    let mut ids = Vec::new();
    for _ in 0..6 {
        let body = verified(&rx.next().await, &secret);
        ids.push(body["id"].as_str().unwrap().parse::<u64>().unwrap());
    }
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "each event once, in order: {ids:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn project_ids_restrict_deliveries_and_a_redirect_is_a_failure() {
    let s = server_allowing_private().await;
    let ada = s.signup("ada").await;
    let p1 = project(&s, &ada).await;
    let p1 = p1["id"].as_str().unwrap();
    let p2 = project(&s, &ada).await;
    let p2 = p2["id"].as_str().unwrap();
    // The receiver first answers with a redirect: not followed, a failure,
    // retried.
    let mut rx = Receiver::start(vec![302]).await;
    let created = s
        .post(
            "/webhooks",
            Some(&ada),
            json!({"url": rx.url, "events": ["project.update"], "projectIds": [p1]}),
        )
        .await
        .expect(201)
        .clone();
    let id = created["id"].as_str().unwrap().to_string();
    let secret = created["secret"].as_str().unwrap().to_string();
    s.patch(
        &format!("/project/{p2}"),
        Some(&ada),
        json!({"name": "other"}),
    )
    .await
    .expect(200);
    s.patch(
        &format!("/project/{p1}"),
        Some(&ada),
        json!({"name": "mine"}),
    )
    .await
    .expect(200);
    let first = verified(&rx.next().await, &secret);
    assert_eq!(first["data"]["projectId"], p1);
    let again = verified(&rx.next().await, &secret);
    assert_eq!(again["id"], first["id"]);
    let history = s
        .get(&format!("/webhooks/{id}/deliveries"), Some(&ada))
        .await
        .expect(200)
        .clone();
    assert_eq!(history.as_array().unwrap().len(), 1, "{history}");
    assert_eq!(history[0]["eventId"], first["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_receiver_delays_no_other_webhook() {
    let s = server_allowing_private().await;
    let ada = s.signup("ada").await;
    let bob = s.signup("bob").await;
    // Ada's receiver takes 3 s per delivery, with four events queued: 12 s
    // delivered one after the other.
    let mut slow = Receiver::slow(vec![], Duration::from_secs(3)).await;
    webhook(&s, &ada, &slow.url).await;
    for _ in 0..4 {
        project(&s, &ada).await;
    }
    // Her first delivery is under way.
    slow.next().await;

    // Bob's webhook gets his event meanwhile, within 2 s, not after hers.
    let mut fast = Receiver::start(vec![]).await;
    let created = webhook(&s, &bob, &fast.url).await;
    let secret = created["secret"].as_str().unwrap().to_string();
    let p = project(&s, &bob).await;
    let sent = std::time::Instant::now();
    let got = tokio::time::timeout(Duration::from_secs(20), fast.rx.recv())
        .await
        .expect("bob's delivery arrives")
        .expect("receiver running");
    let took = sent.elapsed();
    assert_eq!(verified(&got, &secret)["data"]["projectId"], p["id"]);
    assert!(
        took < Duration::from_secs(2),
        "bob's delivery waited {took:?} for ada's slow receiver"
    );
    // Ada's queue was still being delivered.
    let mut hers = 1;
    while slow.rx.try_recv().is_ok() {
        hers += 1;
    }
    assert!(hers < 4, "ada's {hers} deliveries all arrived first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_abandons_the_attempt_under_way() {
    let s = server_allowing_private().await;
    let ada = s.signup("ada").await;
    // A receiver that does not answer for 30 s.
    let mut rx = Receiver::slow(vec![], Duration::from_secs(30)).await;
    let created = webhook(&s, &ada, &rx.url).await;
    let id = created["id"].as_str().unwrap().to_string();
    project(&s, &ada).await;
    rx.next().await;
    // The worker stops without waiting for the answer (the attempt would
    // time out after 10 s) …
    let started = std::time::Instant::now();
    tokio::time::timeout(
        Duration::from_secs(8),
        s.running.slipway.shutdown_websockets(),
    )
    .await
    .expect("the worker stops promptly");
    assert!(started.elapsed() < Duration::from_secs(5));
    // … and records nothing for it: the event stays due.
    let history = s
        .get(&format!("/webhooks/{id}/deliveries"), Some(&ada))
        .await
        .expect(200)
        .clone();
    assert_eq!(history, json!([]));
}
