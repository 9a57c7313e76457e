//! Account lifecycle: changing one's details and password, signing out
//! everywhere, user administration, invitations — on the store and adapter
//! under test, with a real WebSocket client for the sockets that must close.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};
use slipway_core::SignupPolicy;
use slipway_tests::TestServer;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Guards against a hang (a failure, reported as such).
const HANG: Duration = Duration::from_secs(60);

async fn connect(s: &TestServer, token: &str) -> Ws {
    let url = format!("ws://{}/ws?token={token}", s.running.addr);
    let (mut ws, resp) = tokio::time::timeout(HANG, connect_async(url))
        .await
        .expect("handshake finished")
        .expect("upgraded");
    assert_eq!(resp.status().as_u16(), 101);
    match tokio::time::timeout(HANG, ws.next()).await {
        Ok(Some(Ok(Message::Text(t)))) => {
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            assert_eq!(v["event"], "connect");
        }
        other => panic!("expected the connect frame, got {other:?}"),
    }
    ws
}

/// Reads until the server's close frame; its code and reason.
async fn closed_with(ws: &mut Ws) -> (u16, String) {
    loop {
        match tokio::time::timeout(HANG, ws.next()).await {
            Ok(Some(Ok(Message::Close(Some(c))))) => {
                return (u16::from(c.code), c.reason.as_str().to_string())
            }
            // Pings, and events written just before (a deleted user's
            // projects' DELETE events) may come first.
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Text(_)))) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

async fn me(s: &TestServer, token: &str) -> Value {
    s.get("/auth/me", Some(token)).await.expect(200).clone()
}

async fn signin(s: &TestServer, email: &str, password: &str) -> slipway_tests::Answer {
    s.post(
        "/auth/signin",
        None,
        json!({"email": email, "password": password}),
    )
    .await
}

fn token_of(a: &slipway_tests::Answer) -> String {
    a.body["accessToken"]
        .as_str()
        .expect("accessToken")
        .to_string()
}

async fn new_project(s: &TestServer, token: &str) -> Value {
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
async fn patch_me_changes_name_and_email() {
    let s = TestServer::start().await;
    let ada = s.signup("ada").await;
    s.signup("bob").await;
    let a = s
        .patch(
            "/auth/me",
            Some(&ada),
            json!({"name": "Ada Lovelace", "email": "Ada.L@Example.com"}),
        )
        .await;
    let v = a.expect(200);
    assert_eq!(v["name"], "Ada Lovelace");
    assert_eq!(v["email"], "ada.l@example.com");
    assert!(v.get("passwordHash").is_none());
    // The token keeps working; the new email signs in, the old one does not.
    assert_eq!(me(&s, &ada).await["email"], "ada.l@example.com");
    signin(&s, "ada.l@example.com", "password-ada")
        .await
        .expect(200);
    signin(&s, "ada@example.com", "password-ada")
        .await
        .expect(401);
    // Taken email, bad input.
    s.patch("/auth/me", Some(&ada), json!({"email": "bob@example.com"}))
        .await
        .expect_error(409);
    for body in [
        json!({"name": ""}),
        json!({"name": "x".repeat(101)}),
        json!({"email": "not-an-email"}),
        json!({"name": null}),
        json!({"name": 5}),
        json!({"role": "admin"}),
    ] {
        s.patch("/auth/me", Some(&ada), body.clone())
            .await
            .expect_error(400);
    }
    assert_eq!(me(&s, &ada).await["name"], "Ada Lovelace");
    s.patch("/auth/me", None, json!({"name": "x"}))
        .await
        .expect_error(401);
}

#[tokio::test]
async fn password_change_ends_older_tokens_and_sockets() {
    let s = TestServer::start().await;
    let old = s.signup("ada").await;
    let other_session = token_of(&signin(&s, "ada@example.com", "password-ada").await);
    let mut ws = connect(&s, &other_session).await;
    let a = s
        .post(
            "/auth/password",
            Some(&old),
            json!({"currentPassword": "password-ada", "newPassword": "a new password"}),
        )
        .await;
    a.expect(200);
    assert_eq!(a.headers.get("cache-control").unwrap(), "no-store");
    let fresh = token_of(&a);
    // Every token issued before the change is refused; the fresh one works.
    s.get("/auth/me", Some(&old)).await.expect_error(401);
    s.get("/auth/me", Some(&other_session))
        .await
        .expect_error(401);
    assert_eq!(me(&s, &fresh).await["email"], "ada@example.com");
    // The other session's socket closes.
    assert_eq!(closed_with(&mut ws).await, (4001, "token revoked".into()));
    // An old token cannot open a new socket.
    let url = format!("ws://{}/ws?token={old}", s.running.addr);
    assert!(connect_async(url).await.is_err());
    // The old password no longer signs in, the new one does.
    signin(&s, "ada@example.com", "password-ada")
        .await
        .expect_error(401);
    signin(&s, "ada@example.com", "a new password")
        .await
        .expect(200);
}

#[tokio::test]
async fn password_change_checks_the_current_password_with_the_signin_limiter() {
    let s = TestServer::start().await;
    let ada = s.signup("ada").await;
    let wrong = json!({"currentPassword": "not my password", "newPassword": "whatever-123"});
    for _ in 0..5 {
        let e = s
            .post("/auth/password", Some(&ada), wrong.clone())
            .await
            .expect_error(401);
        assert!(e.contains("currentPassword"), "{e}");
    }
    // The failures count like failed sign-ins: now limited, even with the
    // right current password, and sign-in too.
    let right = json!({"currentPassword": "password-ada", "newPassword": "whatever-123"});
    let a = s.post("/auth/password", Some(&ada), right.clone()).await;
    a.expect_error(429);
    assert!(a.headers.get("retry-after").is_some());
    signin(&s, "ada@example.com", "password-ada")
        .await
        .expect_error(429);
    // Nothing changed: the token still works.
    me(&s, &ada).await;
    for body in [
        json!({"currentPassword": "password-ada", "newPassword": "short"}),
        json!({"currentPassword": "", "newPassword": "long enough"}),
        json!({"newPassword": "long enough"}),
    ] {
        s.post("/auth/password", Some(&ada), body)
            .await
            .expect_error(400);
    }
    s.post("/auth/password", None, right)
        .await
        .expect_error(401);
}

#[tokio::test]
async fn signout_all_ends_every_older_token() {
    let s = TestServer::start().await;
    let a = s.signup("ada").await;
    let b = token_of(&signin(&s, "ada@example.com", "password-ada").await);
    let mut ws = connect(&s, &b).await;
    let bob = s.signup("bob").await;
    let answer = s
        .call(reqwest::Method::POST, "/auth/signout-all", Some(&a), None)
        .await;
    assert_eq!(answer.status.as_u16(), 204);
    s.get("/auth/me", Some(&a)).await.expect_error(401);
    s.get("/auth/me", Some(&b)).await.expect_error(401);
    assert_eq!(closed_with(&mut ws).await.0, 4001);
    // Other users are not affected; signing in again works.
    me(&s, &bob).await;
    let c = token_of(&signin(&s, "ada@example.com", "password-ada").await);
    me(&s, &c).await;
    s.call(reqwest::Method::POST, "/auth/signout-all", None, None)
        .await
        .expect_error(401);
}

#[tokio::test]
async fn admins_list_and_read_users_in_pages_members_cannot() {
    let s = TestServer::start().await;
    let admin = s.signup("root").await;
    let member = s.signup("m0").await;
    for i in 1..7 {
        s.signup(&format!("m{i}")).await;
    }
    s.get("/users", Some(&member)).await.expect_error(403);
    s.get("/users", None).await.expect_error(401);
    let all = s.get("/users", Some(&admin)).await;
    let all = all.expect(200).as_array().unwrap().clone();
    assert_eq!(all.len(), 8);
    assert_eq!(all[0]["email"], "root@example.com");
    assert_eq!(all[0]["role"], "admin");
    assert_eq!(all[1]["role"], "member");
    for u in &all {
        assert_eq!(u["disabled"], false);
        assert_eq!(u["hasPassword"], true);
        for secret in ["passwordHash", "password", "sessionEpoch"] {
            assert!(u.get(secret).is_none(), "{u}");
        }
    }
    // Pages of 3: every user once, in order, with a Link to the next page.
    let mut seen = Vec::new();
    let mut path = "/users?limit=3".to_string();
    loop {
        let page = s.get(&path, Some(&admin)).await;
        let items = page.expect(200).as_array().unwrap().clone();
        assert!(items.len() <= 3);
        seen.extend(items.iter().map(|u| u["id"].clone()));
        match page.headers.get("link") {
            Some(link) => {
                let link = link.to_str().unwrap();
                assert!(link.ends_with("; rel=\"next\""), "{link}");
                // A reference relative to the list's URL.
                let target = &link[link.find('<').unwrap() + 1..link.find('>').unwrap()];
                assert!(target.starts_with("users?"), "{link}");
                path = format!("/{target}");
            }
            None => break,
        }
    }
    let ids: Vec<Value> = all.iter().map(|u| u["id"].clone()).collect();
    assert_eq!(seen, ids);
    for bad in ["0", "1001", "-1", "x", ""] {
        s.get(&format!("/users?limit={bad}"), Some(&admin))
            .await
            .expect_error(400);
    }
    let one = s
        .get(
            &format!("/users/{}", all[3]["id"].as_str().unwrap()),
            Some(&admin),
        )
        .await;
    assert_eq!(one.expect(200), &all[3]);
    s.get(&format!("/users/{}", uuid::Uuid::new_v4()), Some(&admin))
        .await
        .expect_error(404);
    s.get("/users/not-an-id", Some(&admin))
        .await
        .expect_error(404);
}

#[tokio::test]
async fn role_changes_and_disabling_end_tokens_and_the_last_admin_stays() {
    let s = TestServer::start().await;
    let root = s.signup("root").await;
    let root_id = me(&s, &root).await["id"].as_str().unwrap().to_string();
    let bob = s.signup("bob").await;
    let bob_id = me(&s, &bob).await["id"].as_str().unwrap().to_string();
    let user = |id: &str| format!("/users/{id}");

    // The last admin cannot be demoted, disabled or deleted.
    for body in [json!({"role": "member"}), json!({"disabled": true})] {
        let e = s
            .patch(&user(&root_id), Some(&root), body)
            .await
            .expect_error(409);
        assert!(e.contains("last active admin"), "{e}");
    }
    s.delete(&user(&root_id), Some(&root))
        .await
        .expect_error(409);
    // Members may not administer.
    s.patch(&user(&root_id), Some(&bob), json!({"role": "member"}))
        .await
        .expect_error(403);
    s.delete(&user(&root_id), Some(&bob))
        .await
        .expect_error(403);
    for body in [
        json!({"role": "owner"}),
        json!({"role": null}),
        json!({"disabled": "yes"}),
        json!({"name": "x"}),
    ] {
        s.patch(&user(&bob_id), Some(&root), body)
            .await
            .expect_error(400);
    }

    // Promoting bob ends his older token; a fresh one is admin.
    let v = s
        .patch(&user(&bob_id), Some(&root), json!({"role": "admin"}))
        .await;
    assert_eq!(v.expect(200)["role"], "admin");
    s.get("/auth/me", Some(&bob)).await.expect_error(401);
    let bob = token_of(&signin(&s, "bob@example.com", "password-bob").await);
    assert_eq!(me(&s, &bob).await["role"], "admin");
    // With two admins, one may be demoted.
    let v = s
        .patch(&user(&root_id), Some(&bob), json!({"role": "member"}))
        .await;
    assert_eq!(v.expect(200)["role"], "member");
    s.get("/users", Some(&root)).await.expect_error(401);

    // Disabling: tokens and sockets end; sign-in answers 403 with the same
    // words for right and wrong passwords.
    let carol = s.signup("carol").await;
    let carol_id = me(&s, &carol).await["id"].as_str().unwrap().to_string();
    let mut ws = connect(&s, &carol).await;
    let v = s
        .patch(&user(&carol_id), Some(&bob), json!({"disabled": true}))
        .await;
    assert_eq!(v.expect(200)["disabled"], true);
    s.get("/auth/me", Some(&carol)).await.expect_error(401);
    assert_eq!(closed_with(&mut ws).await.0, 4001);
    let right = signin(&s, "carol@example.com", "password-carol")
        .await
        .expect_error(403);
    let wrong = signin(&s, "carol@example.com", "not her password")
        .await
        .expect_error(403);
    assert_eq!(right, wrong);
    // Re-enabled, she signs in again.
    s.patch(&user(&carol_id), Some(&bob), json!({"disabled": false}))
        .await
        .expect(200);
    let carol = token_of(&signin(&s, "carol@example.com", "password-carol").await);
    me(&s, &carol).await;
}

#[tokio::test]
async fn deleting_a_user_removes_what_they_own_and_closes_their_sockets() {
    let s = TestServer::start().await;
    let root = s.signup("root").await;
    let bob = s.signup("bob").await;
    let bob_id = me(&s, &bob).await["id"].as_str().unwrap().to_string();
    let p = new_project(&s, &bob).await;
    let mut ws = connect(&s, &bob).await;
    // The admin watches nothing of bob's; bob's socket closes.
    let a = s.delete(&format!("/users/{bob_id}"), Some(&root)).await;
    assert_eq!(a.status.as_u16(), 204);
    let (code, _) = closed_with(&mut ws).await;
    assert_eq!(code, 4001);
    s.get("/auth/me", Some(&bob)).await.expect_error(401);
    s.get(&format!("/users/{bob_id}"), Some(&root))
        .await
        .expect_error(404);
    s.delete(&format!("/users/{bob_id}"), Some(&root))
        .await
        .expect_error(404);
    // The email is free again and the project is gone.
    let bob2 = s.signup("bob").await;
    s.get(
        &format!("/project/{}", p["id"].as_str().unwrap()),
        Some(&bob2),
    )
    .await
    .expect_error(404);
    assert_eq!(s.get("/project", Some(&bob2)).await.expect(200), &json!([]));
}

async fn invite(s: &TestServer, admin: &str, email: &str, role: &str) -> Value {
    let a = s
        .post(
            "/invitations",
            Some(admin),
            json!({"email": email, "role": role}),
        )
        .await;
    assert_eq!(a.headers.get("cache-control").unwrap(), "no-store");
    a.expect(201).clone()
}

fn signup_body(name: &str, email: &str, token: Option<&str>) -> Value {
    let mut b = json!({"name": name, "email": email, "password": format!("password-{name}")});
    if let Some(t) = token {
        b["invitationToken"] = json!(t);
    }
    b
}

#[tokio::test]
async fn invitations_admit_under_every_policy_once_and_only_for_their_email() {
    for policy in [
        SignupPolicy::Open,
        SignupPolicy::FirstUserOnly,
        SignupPolicy::Closed,
    ] {
        let s = TestServer::start_with(|a| a.signup = policy, |b| b).await;
        // The first admin: by sign-up where the policy lets them, else by
        // the operator's command (here, the admin service).
        let root = if policy == SignupPolicy::Closed {
            let users = s.running.slipway.users();
            users
                .create(
                    &slipway_core::services::Principal::system(),
                    slipway_core::services::NewAccount::new("root", "root@example.com")
                        .role(slipway_core::model::Role::Admin)
                        .password("password-root"),
                )
                .await
                .unwrap();
            token_of(&signin(&s, "root@example.com", "password-root").await)
        } else {
            s.signup("root").await
        };
        let grace = invite(&s, &root, "Grace@Example.com", "admin").await;
        let token = grace["token"].as_str().unwrap().to_string();
        assert!(token.starts_with("slwi_"), "{token}");
        assert_eq!(grace["email"], "grace@example.com");
        assert_eq!(grace["role"], "admin");
        let listed = s.get("/invitations", Some(&root)).await;
        let listed = listed.expect(200).as_array().unwrap().clone();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0]["id"], grace["id"]);
        assert!(listed[0].get("token").is_none());
        assert!(!listed.iter().any(|i| i.to_string().contains(&token)));
        // Uninvited sign-up follows the policy.
        let uninvited = s
            .post(
                "/auth/signup",
                None,
                signup_body("eve", "eve@example.com", None),
            )
            .await;
        match policy {
            SignupPolicy::Open => assert_eq!(uninvited.status.as_u16(), 201),
            _ => assert_eq!(uninvited.status.as_u16(), 403),
        }
        // Only for its email.
        s.post(
            "/auth/signup",
            None,
            signup_body("mallory", "mallory@example.com", Some(&token)),
        )
        .await
        .expect_error(400);
        // The invited person gets the invited role, whatever the policy.
        let a = s
            .post(
                "/auth/signup",
                None,
                signup_body("grace", "grace@example.com", Some(&token)),
            )
            .await;
        let g = token_of(&a);
        assert_eq!(a.status.as_u16(), 201, "{policy:?}");
        assert_eq!(me(&s, &g).await["role"], "admin");
        // Once.
        s.post(
            "/auth/signup",
            None,
            signup_body("grace2", "grace2@example.com", Some(&token)),
        )
        .await
        .expect_error(400);
        assert_eq!(
            s.get("/invitations", Some(&root)).await.expect(200),
            &json!([])
        );
        // A garbage token is refused the same way.
        s.post(
            "/auth/signup",
            None,
            signup_body("x", "x@example.com", Some("slwi_nope")),
        )
        .await
        .expect_error(400);
    }
}

#[tokio::test]
async fn invitations_are_for_admins_unique_revocable_and_expire() {
    let s = TestServer::start_with(
        |a| a.signup = SignupPolicy::Closed,
        |b| b.invitation_ttl(Duration::from_secs(1)),
    )
    .await;
    let users = s.running.slipway.users();
    users
        .create(
            &slipway_core::services::Principal::system(),
            slipway_core::services::NewAccount::new("root", "root@example.com")
                .role(slipway_core::model::Role::Admin)
                .password("password-root"),
        )
        .await
        .unwrap();
    let root = token_of(&signin(&s, "root@example.com", "password-root").await);
    let m = invite(&s, &root, "m@example.com", "member").await;
    // Members cannot invite or list.
    let member = token_of(
        &s.post(
            "/auth/signup",
            None,
            signup_body("m", "m@example.com", m["token"].as_str()),
        )
        .await,
    );
    assert_eq!(me(&s, &member).await["role"], "member");
    s.post(
        "/invitations",
        Some(&member),
        json!({"email": "z@example.com", "role": "member"}),
    )
    .await
    .expect_error(403);
    s.get("/invitations", Some(&member)).await.expect_error(403);
    // One pending invitation per email; none for an existing account.
    invite(&s, &root, "dup@example.com", "member").await;
    s.post(
        "/invitations",
        Some(&root),
        json!({"email": "dup@example.com", "role": "admin"}),
    )
    .await
    .expect_error(409);
    s.post(
        "/invitations",
        Some(&root),
        json!({"email": "m@example.com", "role": "admin"}),
    )
    .await
    .expect_error(409);
    for body in [
        json!({"email": "bad", "role": "member"}),
        json!({"email": "ok@example.com", "role": "owner"}),
        json!({"email": "ok@example.com"}),
    ] {
        s.post("/invitations", Some(&root), body)
            .await
            .expect_error(400);
    }
    // Revoked: the token no longer works.
    let r = invite(&s, &root, "r@example.com", "member").await;
    let id = r["id"].as_str().unwrap();
    let a = s.delete(&format!("/invitations/{id}"), Some(&root)).await;
    assert_eq!(a.status.as_u16(), 204);
    s.delete(&format!("/invitations/{id}"), Some(&root))
        .await
        .expect_error(404);
    s.post(
        "/auth/signup",
        None,
        signup_body("r", "r@example.com", r["token"].as_str()),
    )
    .await
    .expect_error(400);
    // Expired (the lifetime is 1 s here).
    let e = invite(&s, &root, "late@example.com", "member").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    s.post(
        "/auth/signup",
        None,
        signup_body("late", "late@example.com", e["token"].as_str()),
    )
    .await
    .expect_error(400);
}

/// Two nodes sharing the store under test (PostgreSQL, Redis): a password
/// change on one ends the old token on the other (within the session check
/// interval).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_on_one_node_ends_old_tokens_on_the_other() {
    let Some((a, b)) =
        TestServer::two_nodes("a_password_change_on_one_node_ends_old_tokens_on_the_other").await
    else {
        return;
    };
    let old = a.signup("ada").await;
    let mut ws = connect(&b, &old).await;
    me(&b, &old).await;
    a.post(
        "/auth/password",
        Some(&old),
        json!({"currentPassword": "password-ada", "newPassword": "a new password"}),
    )
    .await
    .expect(200);
    // Node b reads the user again within its session check interval (2 s).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let status = b.get("/auth/me", Some(&old)).await.status.as_u16();
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            tokio::time::Instant::now() < deadline,
            "old token still works on node b"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(closed_with(&mut ws).await.0, 4001);
    // Sign-out everywhere, too.
    let fresh = token_of(&signin(&b, "ada@example.com", "a new password").await);
    a.call(
        reqwest::Method::POST,
        "/auth/signout-all",
        Some(&fresh),
        None,
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while b.get("/auth/me", Some(&fresh)).await.status.as_u16() != 401 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "token still works on node b"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
