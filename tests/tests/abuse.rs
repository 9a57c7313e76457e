//! Security review (issue #15): limits that hold under concurrency and
//! across nodes, bounded work for anonymous callers, per-user quotas,
//! normalised project paths, WebSocket connects per minute.
//!
//! Runs on every store and adapter; the two-node tests need a shared store
//! (PostgreSQL, Redis) and say so otherwise.

use std::time::Duration;

use serde_json::{json, Value};
use slipway_tests::TestServer;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Error as WsError;

/// Guards against a hang (reported as a failure); never about speed.
const HANG: Duration = Duration::from_secs(60);

fn wrong_password() -> Value {
    json!({"email": "ada@example.com", "password": "wrong-password"})
}

/// Sends `n` sign-ins with `body` at once (each its own connection) and
/// returns the statuses.
async fn parallel_signins(url: &str, body: &Value, n: usize) -> Vec<u16> {
    let calls = (0..n).map(|_| {
        let client = reqwest::Client::builder()
            .timeout(HANG)
            .build()
            .expect("client");
        let url = format!("{url}/auth/signin");
        let body = body.clone();
        tokio::spawn(async move {
            let r = client.post(url).json(&body).send().await.expect("sent");
            let status = r.status().as_u16();
            if status == 429 {
                assert!(r.headers().contains_key("retry-after"));
            }
            if status != 401 && status != 429 {
                // Shown with the statuses when the test fails.
                let body = r.text().await.unwrap_or_default();
                eprintln!("unexpected sign-in answer {status}: {body}");
            }
            status
        })
    });
    let mut statuses = Vec::new();
    for c in calls.collect::<Vec<_>>() {
        statuses.push(c.await.expect("task"));
    }
    statuses
}

/// 30 wrong passwords for one email from one address, all at once: the
/// attempts are counted before any password is checked, so at most 5 (the
/// default `SLIPWAY_SIGNIN_MAX_FAILURES`) are checked (401) and the rest
/// answer 429.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_wrong_passwords_get_at_most_the_limit_checked() {
    let s = TestServer::start().await;
    s.signup("ada").await;
    let statuses = parallel_signins(&s.url, &wrong_password(), 30).await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(checked + limited, 30, "{statuses:?}");
    assert!(checked <= 5, "{checked} passwords checked: {statuses:?}");
    assert!(checked >= 1, "{statuses:?}");
    // The right password waits too (the limit is per email and address).
    s.post(
        "/auth/signin",
        None,
        json!({"email": "ada@example.com", "password": "password-ada"}),
    )
    .await
    .expect_error(429);
}

/// A successful sign-in gives its attempt back: successes never lock an
/// account out.
#[tokio::test]
async fn successful_signins_do_not_count() {
    let s = TestServer::start_with(|a| a.signin_max_failures = 2, |b| b).await;
    s.signup("ada").await;
    let good = json!({"email": "ada@example.com", "password": "password-ada"});
    for _ in 0..5 {
        s.post("/auth/signin", None, good.clone()).await.expect(200);
    }
    s.post("/auth/signin", None, wrong_password())
        .await
        .expect_error(401);
    s.post("/auth/signin", None, good.clone()).await.expect(200);
    s.post("/auth/signin", None, wrong_password())
        .await
        .expect_error(401);
    s.post("/auth/signin", None, good).await.expect_error(429);
}

/// Failures per email from all addresses have their own limit
/// (`SLIPWAY_SIGNIN_MAX_FAILURES_PER_EMAIL`).
#[tokio::test]
async fn failures_per_email_from_all_addresses_are_limited() {
    let s = TestServer::start_with(
        |a| {
            a.signin_max_failures = 10;
            a.signin_max_failures_per_email = 2;
        },
        |b| b,
    )
    .await;
    s.signup("ada").await;
    for _ in 0..2 {
        s.post("/auth/signin", None, wrong_password())
            .await
            .expect_error(401);
    }
    let msg = s
        .post("/auth/signin", None, wrong_password())
        .await
        .expect_error(429);
    assert!(msg.contains("for this email"), "{msg}");
}

/// Two nodes sharing a PostgreSQL or Redis store share the sign-in counter:
/// failures on one node count on the other, so N nodes do not allow N times
/// the guesses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_the_signin_counter() {
    let kind = slipway_tests::store_kind();
    if kind == "memory" || kind == "sqlite" {
        eprintln!("skipped two_nodes_share_the_signin_counter: {kind} serves one node");
        return;
    }
    let url = slipway_tests::fresh_database_url().await;
    let node = |url: String| TestServer::start_with(move |args| args.database_url = url, |b| b);
    let a = node(url.clone()).await;
    let b = node(url).await;
    a.signup("ada").await;
    for _ in 0..3 {
        a.post("/auth/signin", None, wrong_password())
            .await
            .expect_error(401);
    }
    for _ in 0..2 {
        b.post("/auth/signin", None, wrong_password())
            .await
            .expect_error(401);
    }
    b.post("/auth/signin", None, wrong_password())
        .await
        .expect_error(429);
    a.post("/auth/signin", None, wrong_password())
        .await
        .expect_error(429);
    // And at once on both nodes: still no more than the limit is checked.
    let c = node_pair_fresh().await;
    let (a, b) = c;
    a.signup("ada").await;
    let wrong = wrong_password();
    let (x, y) = tokio::join!(
        parallel_signins(&a.url, &wrong, 15),
        parallel_signins(&b.url, &wrong, 15)
    );
    let checked = x.iter().chain(&y).filter(|s| **s == 401).count();
    assert!(
        checked <= 5,
        "{checked} checked across two nodes: {x:?} {y:?}"
    );
}

async fn node_pair_fresh() -> (TestServer, TestServer) {
    let url = slipway_tests::fresh_database_url().await;
    let node = |url: String| TestServer::start_with(move |args| args.database_url = url, |b| b);
    (node(url.clone()).await, node(url).await)
}

/// Sign-ups are limited per client address (`SLIPWAY_SIGNUP_MAX_PER_ADDR`).
#[tokio::test]
async fn signups_per_address_are_limited() {
    let s = TestServer::start_with(|a| a.signup_max_per_addr = 2, |b| b).await;
    s.signup("ada").await;
    s.signup("bob").await;
    let a = s
        .post(
            "/auth/signup",
            None,
            json!({"name": "cy", "email": "cy@example.com", "password": "password-cy"}),
        )
        .await;
    let msg = a.expect_error(429);
    assert!(msg.contains("sign-ups from this address"), "{msg}");
    assert!(a.headers.contains_key("retry-after"));
    let store = s.running.slipway.store();
    assert!(store
        .find_user_by_email("cy@example.com")
        .await
        .unwrap()
        .is_none());
}

/// `first-user-only` with a user present refuses sign-up (403) before the
/// per-address counter and before any hashing.
#[tokio::test]
async fn first_user_only_refuses_before_counting() {
    let s = TestServer::start_with(
        |a| {
            a.signup = slipway_core::SignupPolicy::FirstUserOnly;
            a.signup_max_per_addr = 2;
        },
        |b| b,
    )
    .await;
    s.signup("ada").await;
    for n in 0..3 {
        let msg = s
            .post(
                "/auth/signup",
                None,
                json!({"name": "x", "email": format!("x{n}@example.com"), "password": "password-x"}),
            )
            .await
            .expect_error(403);
        assert!(msg.contains("Sign-up is closed"), "{msg}");
    }
}

/// Project paths are absolute and normalised; `.`/`..` segments are
/// refused; uniqueness holds after normalisation.
#[tokio::test]
async fn project_paths_are_normalised() {
    let s = TestServer::start().await;
    let t = s.signup("ada").await;
    let project = |path: &str, n: u32| json!({"name": "p", "path": path, "sourceId": format!("src-{n}"), "vmId": format!("vm-{n}")});
    for (n, bad) in ["srv/a", "./srv", "/srv/./a", "/srv/../etc", "/srv/a/.."]
        .iter()
        .enumerate()
    {
        let msg = s
            .post("/project", Some(&t), project(bad, n as u32))
            .await
            .expect_error(400);
        assert!(msg.contains("path"), "{bad}: {msg}");
    }
    let created = s.post("/project", Some(&t), project("//srv//a/", 10)).await;
    assert_eq!(created.expect(201)["path"], "/srv/a");
    for (n, same) in ["/srv/a", "/srv/a/", "/srv///a"].iter().enumerate() {
        let msg = s
            .post("/project", Some(&t), project(same, 20 + n as u32))
            .await
            .expect_error(409);
        assert!(msg.contains("path"), "{same}: {msg}");
    }
    // PATCH normalises too, and refuses the same way.
    let other = s.post("/project", Some(&t), project("/srv/b", 30)).await;
    let id = other.expect(201)["id"].as_str().unwrap().to_string();
    s.patch(
        &format!("/project/{id}"),
        Some(&t),
        json!({"path": "/srv/a/"}),
    )
    .await
    .expect_error(409);
    s.patch(
        &format!("/project/{id}"),
        Some(&t),
        json!({"path": "/srv/../b"}),
    )
    .await
    .expect_error(400);
    let p = s
        .patch(
            &format!("/project/{id}"),
            Some(&t),
            json!({"path": "/srv/c//"}),
        )
        .await;
    assert_eq!(p.expect(200)["path"], "/srv/c");
}

/// Projects per user are limited (`SLIPWAY_MAX_PROJECTS_PER_USER`): 403
/// naming the limit; another user is not affected.
#[tokio::test]
async fn projects_per_user_are_limited() {
    let s = TestServer::start_with(|a| a.max_projects_per_user = 2, |b| b).await;
    let ada = s.signup("ada").await;
    let bob = s.signup("bob").await;
    let project =
        |n: u32| json!({"name": "p", "sourceId": format!("src-{n}"), "vmId": format!("vm-{n}")});
    for n in 0..2 {
        s.post("/project", Some(&ada), project(n)).await.expect(201);
    }
    let msg = s
        .post("/project", Some(&ada), project(2))
        .await
        .expect_error(403);
    assert!(
        msg.contains("at most 2 projects") && msg.contains("max_projects_per_user"),
        "{msg}"
    );
    s.post("/project", Some(&bob), project(3)).await.expect(201);
    let listed = s.get("/project", Some(&ada)).await;
    assert_eq!(listed.expect(200).as_array().unwrap().len(), 2);
}

/// Network connections per project are limited
/// (`SLIPWAY_MAX_NETWORKS_PER_PROJECT`).
#[tokio::test]
async fn networks_per_project_are_limited() {
    let s = TestServer::start_with(|a| a.max_networks_per_project = 1, |b| b).await;
    let admin = s.signup("admin").await;
    s.post(
        "/domains",
        Some(&admin),
        json!({"domain": "example.com", "main": true}),
    )
    .await
    .expect(201);
    let p = s
        .post(
            "/project",
            Some(&admin),
            json!({"name": "p", "sourceId": "src-1", "vmId": "vm-1"}),
        )
        .await;
    let pid = p.expect(201)["id"].as_str().unwrap().to_string();
    s.post(
        "/networks",
        Some(&admin),
        json!({"domain": "a.example.com", "port": 80, "projectId": pid}),
    )
    .await
    .expect(201);
    let msg = s
        .post(
            "/networks",
            Some(&admin),
            json!({"domain": "b.example.com", "port": 80, "projectId": pid}),
        )
        .await
        .expect_error(403);
    assert!(
        msg.contains("at most 1 network") && msg.contains("max_networks_per_project"),
        "{msg}"
    );
}

/// Authorizations per user are limited
/// (`SLIPWAY_MAX_AUTHORIZATIONS_PER_USER`).
#[tokio::test]
async fn authorizations_per_user_are_limited() {
    let s = TestServer::start_with(
        |a| {
            a.max_authorizations_per_user = 1;
            a.github_verify_tokens = false;
        },
        |b| b,
    )
    .await;
    let ada = s.signup("ada").await;
    let pat = |name: &str| {
        json!({"type": "personal_access_token", "name": name,
               "data": {"token": "ghp_0123456789abcdefghijklmnopqrstuvwxyz"}})
    };
    s.post("/authorization", Some(&ada), pat("one"))
        .await
        .expect(201);
    let msg = s
        .post("/authorization", Some(&ada), pat("two"))
        .await
        .expect_error(403);
    assert!(
        msg.contains("at most 1 authorization") && msg.contains("max_authorizations_per_user"),
        "{msg}"
    );
}

/// API tokens per user are limited (`SLIPWAY_MAX_API_TOKENS_PER_USER`):
/// 403 naming the limit; another user is not affected; revoking one makes
/// room again.
#[tokio::test]
async fn api_tokens_per_user_are_limited() {
    let s = TestServer::start_with(|a| a.max_api_tokens_per_user = 2, |b| b).await;
    let ada = s.signup("ada").await;
    let bob = s.signup("bob").await;
    let token = |name: &str| json!({"name": name, "scopes": ["projects:read"]});
    let first = s.post("/tokens", Some(&ada), token("one")).await;
    let first_id = first.expect(201)["id"].as_str().unwrap().to_string();
    s.post("/tokens", Some(&ada), token("two"))
        .await
        .expect(201);
    let msg = s
        .post("/tokens", Some(&ada), token("three"))
        .await
        .expect_error(403);
    assert!(
        msg.contains("at most 2 API tokens") && msg.contains("max_api_tokens_per_user"),
        "{msg}"
    );
    let listed = s.get("/tokens", Some(&ada)).await;
    assert_eq!(listed.expect(200).as_array().unwrap().len(), 2);
    s.post("/tokens", Some(&bob), token("bobs"))
        .await
        .expect(201);
    s.delete(&format!("/tokens/{first_id}"), Some(&ada))
        .await
        .expect(204);
    s.post("/tokens", Some(&ada), token("three"))
        .await
        .expect(201);
}

/// Webhooks per user are capped at 20 (400 on `url`), checked before the
/// URL's host is resolved: at the cap, a host that cannot resolve gets the
/// cap's answer, not the resolver's.
#[tokio::test]
async fn webhooks_per_user_are_capped_before_the_url_is_resolved() {
    let s = TestServer::start_with(|a| a.webhook_allow_private = true, |b| b).await;
    let ada = s.signup("ada").await;
    let hook = |url: &str| json!({"url": url, "events": ["project.update"]});
    let unresolvable = "http://no-such-host.invalid/hook";
    let msg = s
        .post("/webhooks", Some(&ada), hook(unresolvable))
        .await
        .expect_error(400);
    assert!(msg.contains("does not resolve"), "{msg}");
    for i in 0..20 {
        s.post(
            "/webhooks",
            Some(&ada),
            hook(&format!("http://127.0.0.1:9/hook-{i}")),
        )
        .await
        .expect(201);
    }
    for url in ["http://127.0.0.1:9/hook-20", unresolvable] {
        let msg = s
            .post("/webhooks", Some(&ada), hook(url))
            .await
            .expect_error(400);
        assert!(msg.contains("at most 20 webhooks"), "{url}: {msg}");
    }
    let listed = s.get("/webhooks", Some(&ada)).await;
    assert_eq!(listed.expect(200).as_array().unwrap().len(), 20);
}

/// WebSocket connects per user per minute are limited
/// (`SLIPWAY_WS_CONNECTS_PER_MINUTE`): 429 on the upgrade request, before
/// the upgrade; another user is not affected.
#[tokio::test]
async fn websocket_connects_per_minute_are_limited() {
    let s = TestServer::start_with(|a| a.ws_connects_per_minute = 2, |b| b).await;
    let ada = s.signup("ada").await;
    let bob = s.signup("bob").await;
    let url = |t: &str| format!("ws://{}/ws?token={t}", s.running.addr);
    for _ in 0..2 {
        let (ws, _) = tokio::time::timeout(HANG, connect_async(url(&ada)))
            .await
            .expect("no hang")
            .expect("connects");
        drop(ws);
    }
    match tokio::time::timeout(HANG, connect_async(url(&ada)))
        .await
        .expect("no hang")
    {
        Err(WsError::Http(resp)) => {
            assert_eq!(resp.status().as_u16(), 429);
            assert!(resp.headers().contains_key("retry-after"));
            let body: Value = serde_json::from_slice(resp.body().as_deref().unwrap()).unwrap();
            assert!(
                body["message"].as_str().unwrap().contains("last minute"),
                "{body}"
            );
        }
        Ok(_) => panic!("a third connect within the minute was accepted"),
        Err(other) => panic!("expected 429, got {other}"),
    }
    tokio::time::timeout(HANG, connect_async(url(&bob)))
        .await
        .expect("no hang")
        .expect("bob connects");
}
