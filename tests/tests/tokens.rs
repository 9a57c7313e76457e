//! API tokens (`POST|GET /tokens`, `DELETE /tokens/{id}`): shown once and
//! stored hashed, scopes on every endpoint, project restrictions, revocation
//! and expiry — on the store and adapter under test, with a real WebSocket
//! client for the feed.

use std::time::Duration;

use futures::StreamExt;
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use slipway_tests::{Answer, TestServer};
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;

const ALL: [&str; 9] = [
    "projects:read",
    "projects:write",
    "networks:read",
    "networks:write",
    "domains:read",
    "domains:write",
    "authorizations:read",
    "authorizations:write",
    "events:read",
];

/// A server on a fresh database whose URL the test keeps (to look inside).
async fn server() -> (TestServer, String, Option<slipway_sqlite::testing::TempDb>) {
    let (url, db) = slipway_tests::fresh_database().await;
    let u = url.clone();
    let s = TestServer::start_with(move |a| a.database_url = u, |b| b).await;
    (s, url, db)
}

async fn new_token(s: &TestServer, user: &str, body: Value) -> Value {
    let a = s.post("/tokens", Some(user), body).await;
    assert_eq!(a.headers.get("cache-control").unwrap(), "no-store");
    a.expect(201).clone()
}

fn secret(t: &Value) -> String {
    t["token"].as_str().unwrap().to_string()
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

#[tokio::test]
async fn a_token_is_shown_once_stored_hashed_and_records_its_use() {
    let (s, url, _db) = server().await;
    let ada = s.signup("ada").await;
    let t = new_token(
        &s,
        &ada,
        json!({"name": "ci", "scopes": ["projects:read", "projects:write", "projects:read"], "expiresIn": 3600}),
    )
    .await;
    let token = secret(&t);
    assert!(token.starts_with("slw_"), "{token}");
    assert_eq!(token.len(), 4 + 43, "256 bits, base64url");
    assert_eq!(t["name"], "ci");
    assert_eq!(t["scopes"], json!(["projects:read", "projects:write"]));
    assert_eq!(t["projectIds"], Value::Null);
    assert_eq!(t["lastUsedAt"], Value::Null);
    assert!(t["expiresAt"].as_str().unwrap().contains('T'));
    // Used like an access token.
    let p = project(&s, &token).await;
    assert_eq!(
        s.get(
            &format!("/project/{}", p["id"].as_str().unwrap()),
            Some(&token)
        )
        .await
        .expect(200)["id"],
        p["id"]
    );
    let list = s.get("/tokens", Some(&ada)).await;
    let list = list.expect(200).as_array().unwrap().clone();
    assert_eq!(list.len(), 1);
    assert!(list[0].get("token").is_none());
    assert!(!list[0].to_string().contains(&token));
    assert!(list[0]["lastUsedAt"].as_str().unwrap().contains('T'));
    // The store keeps its SHA-256, never the token.
    if let Some(text) = slipway_tests::stored_text(&url, "api_tokens").await {
        let hash = hex(&Sha256::digest(token.as_bytes()));
        assert!(text.contains(&hash), "the hash is stored");
        assert!(!text.contains(&token), "the token itself is not");
        assert!(!text.contains(&token[4..]), "nor its random part");
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_frame(ws: &mut Ws) -> Value {
    loop {
        match tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return serde_json::from_str(t.as_str()).unwrap(),
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
            other => panic!("{other:?}"),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn bad_token_requests_are_refused() {
    let s = TestServer::start().await;
    let ada = s.signup("ada").await;
    let bob = s.signup("bob").await;
    let bobs = project(&s, &bob).await;
    for body in [
        json!({"name": "x", "scopes": ["projects:admin"]}),
        json!({"name": "x", "scopes": []}),
        json!({"name": "x", "scopes": "projects:read"}),
        json!({"name": "", "scopes": ["projects:read"]}),
        json!({"name": "x", "scopes": ["projects:read"], "expiresIn": 0}),
        json!({"name": "x", "scopes": ["projects:read"], "expiresIn": -5}),
        json!({"name": "x", "scopes": ["projects:read"], "expiresIn": "1h"}),
        json!({"name": "x", "scopes": ["projects:read"], "projectIds": [bobs["id"]]}),
        json!({"name": "x", "scopes": ["projects:read"], "projectIds": ["nope"]}),
        json!({"name": "x"}),
    ] {
        let e = s
            .post("/tokens", Some(&ada), body.clone())
            .await
            .expect_error(400);
        assert!(!e.is_empty(), "{body}");
    }
    let e = s
        .post(
            "/tokens",
            Some(&ada),
            json!({"name": "x", "scopes": ["projects:admin"]}),
        )
        .await
        .expect_error(400);
    assert!(
        e.contains("projects:admin") && e.contains("projects:read"),
        "{e}"
    );
    s.post(
        "/tokens",
        None,
        json!({"name": "x", "scopes": ["projects:read"]}),
    )
    .await
    .expect_error(401);
    // Unknown, malformed and another user's token ids.
    s.delete(&format!("/tokens/{}", uuid::Uuid::new_v4()), Some(&ada))
        .await
        .expect_error(404);
    let bobs_token = new_token(&s, &bob, json!({"name": "b", "scopes": ["projects:read"]})).await;
    s.delete(
        &format!("/tokens/{}", bobs_token["id"].as_str().unwrap()),
        Some(&ada),
    )
    .await
    .expect_error(404);
    s.get("/project", Some(&secret(&bobs_token)))
        .await
        .expect(200);
    // A made-up slw_ token.
    s.get(
        "/project",
        Some("slw_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
    )
    .await
    .expect_error(401);
}

/// One request per endpoint, each with the scope it needs.
fn calls(ids: &Value) -> Vec<(Method, String, Option<Value>, &'static str)> {
    let id = |k: &str| ids[k].as_str().unwrap().to_string();
    let n = uuid::Uuid::new_v4().simple().to_string();
    vec![
        (Method::GET, "/project".into(), None, "projects:read"),
        (
            Method::GET,
            format!("/project/{}", id("project")),
            None,
            "projects:read",
        ),
        (
            Method::POST,
            "/project".into(),
            Some(json!({"name": "n", "sourceId": format!("s-{n}"), "vmId": format!("v-{n}")})),
            "projects:write",
        ),
        (
            Method::PATCH,
            format!("/project/{}", id("project")),
            Some(json!({"name": "renamed"})),
            "projects:write",
        ),
        (
            Method::DELETE,
            format!("/project/{}", id("spare")),
            None,
            "projects:write",
        ),
        (Method::GET, "/networks".into(), None, "networks:read"),
        (
            Method::GET,
            format!("/networks/{}", id("network")),
            None,
            "networks:read",
        ),
        (
            Method::POST,
            "/networks".into(),
            Some(
                json!({"domain": format!("n{n}.example.com"), "port": 80, "projectId": id("project")}),
            ),
            "networks:write",
        ),
        (
            Method::PATCH,
            format!("/networks/{}", id("network")),
            Some(json!({"port": 81})),
            "networks:write",
        ),
        (
            Method::DELETE,
            format!("/networks/{}", id("network")),
            None,
            "networks:write",
        ),
        (Method::GET, "/domains".into(), None, "domains:read"),
        (
            Method::GET,
            format!("/domains/{}", id("domain")),
            None,
            "domains:read",
        ),
        (
            Method::POST,
            "/domains".into(),
            Some(json!({"domain": format!("d{n}.example.org"), "main": false})),
            "domains:write",
        ),
        (
            Method::POST,
            format!("/domains/{}/verify", id("domain")),
            None,
            "domains:write",
        ),
        (
            Method::DELETE,
            format!("/domains/{}", id("spare_domain")),
            None,
            "domains:write",
        ),
        (
            Method::GET,
            "/authorization".into(),
            None,
            "authorizations:read",
        ),
        (
            Method::GET,
            format!("/authorization/{}", id("authorization")),
            None,
            "authorizations:read",
        ),
        (
            Method::POST,
            "/authorization".into(),
            Some(json!({"type": "personal_access_token", "name": "n", "data": {"token": "ghp_x"}})),
            "authorizations:write",
        ),
        (
            Method::DELETE,
            format!("/authorization/{}", id("authorization")),
            None,
            "authorizations:write",
        ),
    ]
}

async fn ws_status(s: &TestServer, token: &str) -> u16 {
    let url = format!("ws://{}/ws?token={token}", s.running.addr);
    match connect_async(url).await {
        Ok((_, resp)) => resp.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test]
async fn every_endpoint_needs_its_scope_and_tokens_never_exceed_their_user() {
    let s = TestServer::start_with(|a| a.github_verify_tokens = false, |b| b).await;
    let admin = s.signup("root").await;
    let p = project(&s, &admin).await;
    let spare = project(&s, &admin).await;
    let domain = s
        .post(
            "/domains",
            Some(&admin),
            json!({"domain": "example.com", "main": true}),
        )
        .await
        .expect(201)
        .clone();
    let spare_domain = s
        .post(
            "/domains",
            Some(&admin),
            json!({"domain": "spare.example.net", "main": false}),
        )
        .await
        .expect(201)
        .clone();
    let network = s
        .post(
            "/networks",
            Some(&admin),
            json!({"domain": "app.example.com", "port": 8080, "projectId": p["id"]}),
        )
        .await
        .expect(201)
        .clone();
    let authorization = s
        .post(
            "/authorization",
            Some(&admin),
            json!({"type": "personal_access_token", "name": "gh", "data": {"token": "ghp_abc"}}),
        )
        .await
        .expect(201)
        .clone();
    let ids = json!({
        "project": p["id"], "spare": spare["id"], "domain": domain["id"],
        "spare_domain": spare_domain["id"], "network": network["id"],
        "authorization": authorization["id"],
    });
    // A token without each scope in turn: every endpoint needing it is a 403
    // naming it, and nothing is written.
    for missing in ALL {
        let scopes: Vec<&str> = ALL.iter().copied().filter(|s| *s != missing).collect();
        let t = new_token(&s, &admin, json!({"name": missing, "scopes": scopes})).await;
        let token = secret(&t);
        for (method, path, body, scope) in calls(&ids) {
            if scope != missing {
                continue;
            }
            let a = s.call(method.clone(), &path, Some(&token), body).await;
            let e = a.expect_error(403);
            assert!(e.contains(missing), "{method} {path}: {e}");
        }
        if missing == "events:read" {
            assert_eq!(ws_status(&s, &token).await, 403);
        }
    }
    // Nothing was deleted or changed by the refused calls.
    assert_eq!(
        s.get(
            &format!("/project/{}", p["id"].as_str().unwrap()),
            Some(&admin)
        )
        .await
        .expect(200)["name"],
        "p"
    );
    s.get(
        &format!("/project/{}", spare["id"].as_str().unwrap()),
        Some(&admin),
    )
    .await
    .expect(200);
    // With every scope each endpoint answers as for the user.
    let all = secret(&new_token(&s, &admin, json!({"name": "all", "scopes": ALL})).await);
    for (method, path, body, _) in calls(&ids) {
        let a = s.call(method.clone(), &path, Some(&all), body).await;
        if path.ends_with("/verify") {
            // Verification asks DNS (unreachable here): anything but a refusal.
            assert!(
                ![401, 403].contains(&a.status.as_u16()),
                "{path}: {}",
                a.status
            );
        } else {
            assert!(
                a.status.is_success(),
                "{method} {path}: {} {}",
                a.status,
                a.body
            );
        }
    }
    assert_eq!(ws_status(&s, &all).await, 101);

    // A member's token with domains:write is still a member.
    let member = s.signup("m").await;
    let mt = secret(
        &new_token(
            &s,
            &member,
            json!({"name": "m", "scopes": ["domains:write", "domains:read"]}),
        )
        .await,
    );
    s.post(
        "/domains",
        Some(&mt),
        json!({"domain": "x.example.io", "main": false}),
    )
    .await
    .expect_error(403);
    s.get("/domains", Some(&mt)).await.expect(200);
}

#[tokio::test]
async fn tokens_cannot_manage_accounts_or_tokens() {
    let s = TestServer::start().await;
    let admin = s.signup("root").await;
    let t = secret(&new_token(&s, &admin, json!({"name": "all", "scopes": ALL})).await);
    let id = uuid::Uuid::new_v4().to_string();
    let account_calls: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/auth/me".into(), None),
        (Method::PATCH, "/auth/me".into(), Some(json!({"name": "x"}))),
        (
            Method::POST,
            "/auth/password".into(),
            Some(json!({"currentPassword": "password-root", "newPassword": "another-one"})),
        ),
        (Method::POST, "/auth/signout-all".into(), None),
        (
            Method::POST,
            "/auth/github/link".into(),
            Some(json!({"code": "abc"})),
        ),
        (Method::GET, "/tokens".into(), None),
        (
            Method::POST,
            "/tokens".into(),
            Some(json!({"name": "x", "scopes": ["projects:read"]})),
        ),
        (Method::DELETE, format!("/tokens/{id}"), None),
        (Method::GET, "/users".into(), None),
        (Method::GET, format!("/users/{id}"), None),
        (
            Method::PATCH,
            format!("/users/{id}"),
            Some(json!({"role": "member"})),
        ),
        (Method::DELETE, format!("/users/{id}"), None),
        (Method::GET, "/invitations".into(), None),
        (
            Method::POST,
            "/invitations".into(),
            Some(json!({"email": "a@example.com", "role": "member"})),
        ),
        (Method::DELETE, format!("/invitations/{id}"), None),
        (
            Method::POST,
            "/configuration/github".into(),
            Some(json!({"client_id": "x", "client_secret": "y"})),
        ),
    ];
    for (method, path, body) in account_calls {
        let a: Answer = s.call(method.clone(), &path, Some(&t), body).await;
        let e = a.expect_error(403);
        assert!(e.contains("API token"), "{method} {path}: {e}");
    }
    // The user's own session still works, and the password is unchanged.
    s.get("/auth/me", Some(&admin)).await.expect(200);
    s.post(
        "/auth/signin",
        None,
        json!({"email": "root@example.com", "password": "password-root"}),
    )
    .await
    .expect(200);
}

#[tokio::test]
async fn project_ids_restrict_projects_networks_and_events() {
    let s = TestServer::start().await;
    let admin = s.signup("root").await;
    s.post(
        "/domains",
        Some(&admin),
        json!({"domain": "example.com", "main": true}),
    )
    .await
    .expect(201);
    let a = project(&s, &admin).await;
    let b = project(&s, &admin).await;
    let (aid, bid) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    let nb = s
        .post(
            "/networks",
            Some(&admin),
            json!({"domain": "b.example.com", "port": 80, "projectId": bid}),
        )
        .await
        .expect(201)
        .clone();
    let t = new_token(
        &s,
        &admin,
        json!({"name": "a only", "scopes": ALL, "projectIds": [aid]}),
    )
    .await;
    assert_eq!(t["projectIds"], json!([aid]));
    let t = secret(&t);
    let list = s.get("/project", Some(&t)).await;
    let ids: Vec<&Value> = list
        .expect(200)
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["id"])
        .collect();
    assert_eq!(ids, vec![&a["id"]]);
    s.get(&format!("/project/{bid}"), Some(&t))
        .await
        .expect_error(404);
    s.patch(&format!("/project/{bid}"), Some(&t), json!({"name": "x"}))
        .await
        .expect_error(404);
    s.delete(&format!("/project/{bid}"), Some(&t))
        .await
        .expect_error(404);
    let n = uuid::Uuid::new_v4().simple().to_string();
    let e = s
        .post(
            "/project",
            Some(&t),
            json!({"name": "n", "sourceId": format!("s-{n}"), "vmId": format!("v-{n}")}),
        )
        .await
        .expect_error(403);
    assert!(e.contains("projectIds"), "{e}");
    // Networks of the other project are out of reach.
    s.post(
        "/networks",
        Some(&t),
        json!({"domain": "c.example.com", "port": 80, "projectId": bid}),
    )
    .await
    .expect_error(404);
    let nid = nb["id"].as_str().unwrap();
    s.get(&format!("/networks/{nid}"), Some(&t))
        .await
        .expect_error(404);
    s.patch(&format!("/networks/{nid}"), Some(&t), json!({"port": 81}))
        .await
        .expect_error(404);
    s.delete(&format!("/networks/{nid}"), Some(&t))
        .await
        .expect_error(404);
    s.get(&format!("/networks?projectId={bid}"), Some(&t))
        .await
        .expect_error(404);
    assert_eq!(s.get("/networks", Some(&t)).await.expect(200), &json!([]));
    s.post(
        "/networks",
        Some(&t),
        json!({"domain": "a.example.com", "port": 80, "projectId": aid}),
    )
    .await
    .expect(201);
    // The feed carries project A's events only.
    let url = format!("ws://{}/ws?token={t}", s.running.addr);
    let (mut ws, _) = connect_async(url).await.unwrap();
    assert_eq!(next_frame(&mut ws).await["event"], "connect");
    s.patch(
        &format!("/project/{bid}"),
        Some(&admin),
        json!({"name": "b2"}),
    )
    .await
    .expect(200);
    s.patch(
        &format!("/project/{aid}"),
        Some(&admin),
        json!({"name": "a2"}),
    )
    .await
    .expect(200);
    let f = next_frame(&mut ws).await;
    assert_eq!(f["data"]["projectId"], a["id"], "{f}");
    assert_eq!(f["data"]["data"]["name"], "a2");
}

#[tokio::test]
async fn revoked_expired_and_disabled_tokens_answer_401() {
    let s = TestServer::start().await;
    let admin = s.signup("root").await;
    let ada = s.signup("ada").await;
    let t = new_token(&s, &ada, json!({"name": "x", "scopes": ALL})).await;
    let token = secret(&t);
    s.get("/project", Some(&token)).await.expect(200);
    let url = format!("ws://{}/ws?token={token}", s.running.addr);
    let (mut ws, _) = connect_async(url).await.unwrap();
    let a = s
        .delete(
            &format!("/tokens/{}", t["id"].as_str().unwrap()),
            Some(&ada),
        )
        .await;
    assert_eq!(a.status.as_u16(), 204);
    s.get("/project", Some(&token)).await.expect_error(401);
    // The socket opened with it closes.
    loop {
        match tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
            Ok(Some(Ok(Message::Close(Some(c))))) => {
                assert_eq!(u16::from(c.code), 4001);
                break;
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
    // Expired.
    let short = secret(
        &new_token(
            &s,
            &ada,
            json!({"name": "s", "scopes": ALL, "expiresIn": 1}),
        )
        .await,
    );
    s.get("/project", Some(&short)).await.expect(200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let e = s.get("/project", Some(&short)).await.expect_error(401);
    assert!(e.contains("expired"), "{e}");
    // A disabled user's tokens stop working; re-enabled, they work again.
    let t2 = secret(&new_token(&s, &ada, json!({"name": "y", "scopes": ALL})).await);
    let ada_id = s.get("/auth/me", Some(&ada)).await.expect(200)["id"]
        .as_str()
        .unwrap()
        .to_string();
    s.patch(
        &format!("/users/{ada_id}"),
        Some(&admin),
        json!({"disabled": true}),
    )
    .await
    .expect(200);
    s.get("/project", Some(&t2)).await.expect_error(401);
    s.patch(
        &format!("/users/{ada_id}"),
        Some(&admin),
        json!({"disabled": false}),
    )
    .await
    .expect(200);
    s.get("/project", Some(&t2)).await.expect(200);
}

/// Two nodes on the store under test (PostgreSQL, Redis): a token revoked on
/// one stops working on the other at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_revoked_on_one_node_fails_on_the_other_at_once() {
    let Some((a, b)) =
        TestServer::two_nodes("a_token_revoked_on_one_node_fails_on_the_other_at_once").await
    else {
        return;
    };
    let ada = a.signup("ada").await;
    let t = new_token(&a, &ada, json!({"name": "x", "scopes": ["projects:read"]})).await;
    let token = secret(&t);
    b.get("/project", Some(&token)).await.expect(200);
    a.delete(
        &format!("/tokens/{}", t["id"].as_str().unwrap()),
        Some(&ada),
    )
    .await;
    b.get("/project", Some(&token)).await.expect_error(401);
}
