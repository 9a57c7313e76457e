//! The audit log (`GET /audit`): an entry for every change and every
//! sign-in, naming the actor (and the API token used), the target, the
//! client's address and the request id, never a secret; members see their
//! own entries, admins every entry; filters and paging — on the store and
//! adapter under test.

use serde_json::{json, Value};
use slipway_tests::dns::FakeDns;
use slipway_tests::fake_github::FakeGitHub;
use slipway_tests::TestServer;

use crate::keys;

/// An expected entry: (action, outcome, how many, actor id, target type,
/// target id); `None` checks nothing.
type Expected<'a> = (
    &'a str,
    &'a str,
    usize,
    Option<&'a str>,
    Option<&'a str>,
    Option<String>,
);

/// A server on a fresh database whose URL the test keeps (to look inside),
/// with a fake DNS and a fake GitHub, allowed to call loopback webhooks.
async fn server(
    dns: &FakeDns,
    github: &str,
) -> (TestServer, String, Option<slipway_sqlite::testing::TempDb>) {
    let (url, db) = slipway_tests::fresh_database().await;
    let (u, gh, addr) = (url.clone(), github.to_string(), dns.addr);
    let s = TestServer::start_with(
        move |a| {
            a.database_url = u;
            a.github_url = gh.clone();
            a.github_api_url = gh;
        },
        move |b| b.dns_servers(vec![addr]).webhook_allow_private(true),
    )
    .await;
    (s, url, db)
}

/// Every audit entry, newest first (as an admin, walking the pages).
async fn all_entries(s: &TestServer, admin: &str) -> Vec<Value> {
    let a = s.get("/audit?limit=1000", Some(admin)).await;
    assert!(a.headers.get("link").is_none(), "fits one page");
    a.expect(200).as_array().unwrap().clone()
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

async fn me(s: &TestServer, token: &str) -> String {
    id(s.get("/auth/me", Some(token)).await.expect(200))
}

async fn signin(s: &TestServer, email: &str, password: &str) -> u16 {
    s.post(
        "/auth/signin",
        None,
        json!({"email": email, "password": password}),
    )
    .await
    .status
    .as_u16()
}

#[tokio::test]
async fn every_change_and_sign_in_is_recorded_without_secrets() {
    let dns = FakeDns::start().await;
    let github = FakeGitHub::start().await;
    let (s, url, _db) = server(&dns, &github.url()).await;
    let mut secrets: Vec<String> = vec!["password-ada".into(), "password-bob".into()];

    let ada = s.signup("ada").await;
    secrets.push(ada.clone());
    let ada_id = me(&s, &ada).await;
    assert_eq!(signin(&s, "ada@example.com", "wrong-password").await, 401);
    assert_eq!(
        signin(&s, "nobody@example.com", "wrong-password").await,
        401
    );
    assert_eq!(signin(&s, "ada@example.com", "password-ada").await, 200);
    s.patch("/auth/me", Some(&ada), json!({"name": "Ada L."}))
        .await
        .expect(200);

    let (client_id, client_secret) = github.add_app();
    secrets.push(client_secret.clone());
    s.post(
        "/configuration/github",
        Some(&ada),
        json!({"client_id": client_id, "client_secret": client_secret}),
    )
    .await
    .expect(200);

    let domain = s
        .post(
            "/domains",
            Some(&ada),
            json!({"domain": "example.com", "main": true}),
        )
        .await
        .expect(201)
        .clone();
    dns.set_txt(
        "_slipway-challenge.example.com",
        &[domain["challenge"].as_str().unwrap()],
    );
    let verified = s
        .post(
            &format!("/domains/{}/verify", id(&domain)),
            Some(&ada),
            json!({}),
        )
        .await;
    assert_eq!(verified.expect(200)["linked"], true);

    let token = s
        .post(
            "/tokens",
            Some(&ada),
            json!({"name": "ci", "scopes": ["projects:write", "projects:read", "networks:write"]}),
        )
        .await
        .expect(201)
        .clone();
    let api = token["token"].as_str().unwrap().to_string();
    secrets.push(api.clone());

    // A project write through the API token, with the client's request id.
    let resp = s
        .client
        .post(format!("{}/project", s.url))
        .bearer_auth(&api)
        .header("x-request-id", "audit-test-1")
        .json(&json!({"name": "blog", "sourceId": "src-1", "vmId": "vm-1"}))
        .send()
        .await
        .unwrap();
    let project = TestServer::answer(resp).await.expect(201).clone();
    let project_url = format!("/project/{}", id(&project));
    s.patch(&project_url, Some(&api), json!({"name": "Blog"}))
        .await
        .expect(200);
    let network = s
        .post(
            "/networks",
            Some(&api),
            json!({"domain": "www.example.com", "port": 8080, "projectId": id(&project)}),
        )
        .await
        .expect(201)
        .clone();
    let network_url = format!("/networks/{}", id(&network));
    s.patch(&network_url, Some(&api), json!({"port": 9090}))
        .await
        .expect(200);
    s.delete(&network_url, Some(&api)).await.expect(204);
    s.delete(&project_url, Some(&api)).await.expect(204);
    s.delete(&format!("/tokens/{}", id(&token)), Some(&ada))
        .await
        .expect(204);

    let key = keys::KEYS[0].1;
    secrets.extend(
        key.lines()
            .filter(|l| !l.starts_with("-----") && l.len() >= 40)
            .map(str::to_owned),
    );
    let auth = s
        .post(
            "/authorization",
            Some(&ada),
            json!({"type": "deploy_key", "name": "deploy", "data": {"key": key}}),
        )
        .await
        .expect(201)
        .clone();
    s.delete(&format!("/authorization/{}", id(&auth)), Some(&ada))
        .await
        .expect(204);

    let hook = s
        .post(
            "/webhooks",
            Some(&ada),
            json!({"url": "http://127.0.0.1:9/hook", "events": ["project.update"]}),
        )
        .await
        .expect(201)
        .clone();
    secrets.push(hook["secret"].as_str().unwrap().to_string());
    s.delete(&format!("/webhooks/{}", id(&hook)), Some(&ada))
        .await
        .expect(204);

    let invitation = s
        .post(
            "/invitations",
            Some(&ada),
            json!({"email": "carol@example.com", "role": "member"}),
        )
        .await
        .expect(201)
        .clone();
    secrets.push(invitation["token"].as_str().unwrap().to_string());
    s.delete(&format!("/invitations/{}", id(&invitation)), Some(&ada))
        .await
        .expect(204);

    let bob = s.signup("bob").await;
    let bob_id = me(&s, &bob).await;
    s.patch(
        &format!("/users/{bob_id}"),
        Some(&ada),
        json!({"role": "admin"}),
    )
    .await
    .expect(200);
    let bob = s
        .post(
            "/auth/signin",
            None,
            json!({"email": "bob@example.com", "password": "password-bob"}),
        )
        .await
        .expect(200)["accessToken"]
        .as_str()
        .unwrap()
        .to_string();
    s.post(
        "/auth/password",
        Some(&bob),
        json!({"currentPassword": "not-bobs-password", "newPassword": "bobs-new-password"}),
    )
    .await
    .expect_error(401);
    let changed = s
        .post(
            "/auth/password",
            Some(&bob),
            json!({"currentPassword": "password-bob", "newPassword": "bobs-new-password"}),
        )
        .await
        .expect(200)
        .clone();
    secrets.push("bobs-new-password".into());
    let bob = changed["accessToken"].as_str().unwrap().to_string();
    s.post("/auth/signout-all", Some(&bob), json!({}))
        .await
        .expect(204);
    s.delete(&format!("/users/{bob_id}"), Some(&ada))
        .await
        .expect(204);
    s.delete(&format!("/domains/{}", id(&domain)), Some(&ada))
        .await
        .expect(204);

    let entries = all_entries(&s, &ada).await;
    let find = |action: &str, outcome: &str| -> Vec<&Value> {
        entries
            .iter()
            .filter(|e| e["action"] == action && e["outcome"] == outcome)
            .collect()
    };
    // (action, outcome, times, actor, target type, target id)
    let expected: Vec<Expected> = vec![
        ("auth.signup", "success", 2, None, Some("user"), None),
        ("auth.signin.failure", "failure", 2, None, None, None),
        (
            "auth.signin.success",
            "success",
            2,
            None,
            Some("user"),
            None,
        ),
        (
            "auth.me.update",
            "success",
            1,
            Some(&ada_id),
            Some("user"),
            Some(ada_id.clone()),
        ),
        (
            "github.configure",
            "success",
            1,
            Some(&ada_id),
            Some("setting"),
            Some("github".into()),
        ),
        (
            "domain.create",
            "success",
            1,
            Some(&ada_id),
            Some("domain"),
            Some(id(&domain)),
        ),
        (
            "domain.verify",
            "success",
            1,
            Some(&ada_id),
            Some("domain"),
            Some(id(&domain)),
        ),
        (
            "domain.delete",
            "success",
            1,
            Some(&ada_id),
            Some("domain"),
            Some(id(&domain)),
        ),
        (
            "token.create",
            "success",
            1,
            Some(&ada_id),
            Some("token"),
            Some(id(&token)),
        ),
        (
            "token.revoke",
            "success",
            1,
            Some(&ada_id),
            Some("token"),
            Some(id(&token)),
        ),
        (
            "project.create",
            "success",
            1,
            Some(&ada_id),
            Some("project"),
            Some(id(&project)),
        ),
        (
            "project.update",
            "success",
            1,
            Some(&ada_id),
            Some("project"),
            Some(id(&project)),
        ),
        (
            "project.delete",
            "success",
            1,
            Some(&ada_id),
            Some("project"),
            Some(id(&project)),
        ),
        (
            "network.create",
            "success",
            1,
            Some(&ada_id),
            Some("network"),
            Some(id(&network)),
        ),
        (
            "network.update",
            "success",
            1,
            Some(&ada_id),
            Some("network"),
            Some(id(&network)),
        ),
        (
            "network.delete",
            "success",
            1,
            Some(&ada_id),
            Some("network"),
            Some(id(&network)),
        ),
        (
            "authorization.create",
            "success",
            1,
            Some(&ada_id),
            Some("authorization"),
            Some(id(&auth)),
        ),
        (
            "authorization.delete",
            "success",
            1,
            Some(&ada_id),
            Some("authorization"),
            Some(id(&auth)),
        ),
        (
            "webhook.create",
            "success",
            1,
            Some(&ada_id),
            Some("webhook"),
            Some(id(&hook)),
        ),
        (
            "webhook.delete",
            "success",
            1,
            Some(&ada_id),
            Some("webhook"),
            Some(id(&hook)),
        ),
        (
            "invitation.create",
            "success",
            1,
            Some(&ada_id),
            Some("invitation"),
            Some(id(&invitation)),
        ),
        (
            "invitation.delete",
            "success",
            1,
            Some(&ada_id),
            Some("invitation"),
            Some(id(&invitation)),
        ),
        (
            "user.update",
            "success",
            1,
            Some(&ada_id),
            Some("user"),
            Some(bob_id.clone()),
        ),
        (
            "auth.password.change",
            "failure",
            1,
            Some(&bob_id),
            Some("user"),
            Some(bob_id.clone()),
        ),
        (
            "auth.password.change",
            "success",
            1,
            Some(&bob_id),
            Some("user"),
            Some(bob_id.clone()),
        ),
        (
            "auth.signout_all",
            "success",
            1,
            Some(&bob_id),
            Some("user"),
            Some(bob_id.clone()),
        ),
        (
            "user.delete",
            "success",
            1,
            Some(&ada_id),
            Some("user"),
            Some(bob_id.clone()),
        ),
    ];
    for (action, outcome, times, actor, kind, target) in &expected {
        let found = find(action, outcome);
        assert_eq!(found.len(), *times, "{action} {outcome}: {entries:#?}");
        for e in found {
            if let Some(actor) = actor {
                assert_eq!(e["actor"]["userId"], *actor, "{e}");
            }
            if let Some(kind) = kind {
                assert_eq!(e["target"]["type"], *kind, "{e}");
            }
            if let Some(target) = target {
                assert_eq!(e["target"]["id"], *target, "{e}");
            }
        }
    }
    // Failed sign-ins name no actor; the known email's names its account.
    let failures = find("auth.signin.failure", "failure");
    assert!(failures.iter().all(|e| e["actor"].is_null()));
    assert!(failures.iter().any(|e| e["target"].is_null()));
    assert!(failures
        .iter()
        .any(|e| e["target"] == json!({"type": "user", "id": ada_id})));
    let signins = find("auth.signin.success", "success");
    assert!(signins
        .iter()
        .any(|e| e["actor"]["userId"] == ada_id.as_str()));
    assert!(signins
        .iter()
        .any(|e| e["actor"]["userId"] == bob_id.as_str()));
    // Every entry has a counterpart above: nothing else was recorded.
    let expected_total: usize = expected.iter().map(|e| e.2).sum();
    assert_eq!(entries.len(), expected_total, "{entries:#?}");

    // Writes through the API token name it; the client's request id is kept.
    for action in ["project.create", "project.update", "network.delete"] {
        assert_eq!(find(action, "success")[0]["actor"]["tokenId"], id(&token));
    }
    assert!(find("token.create", "success")[0]["actor"]
        .get("tokenId")
        .is_none());
    assert_eq!(
        find("project.create", "success")[0]["requestId"],
        "audit-test-1"
    );
    let mut ids = std::collections::HashSet::new();
    for e in &entries {
        assert_eq!(e["ip"], "127.0.0.1", "{e}");
        assert!(!e["requestId"].as_str().unwrap_or("").is_empty(), "{e}");
        assert!(e["at"].as_str().unwrap().ends_with('Z'), "{e}");
        assert!(ids.insert(id(e)), "ids are unique");
    }
    // Newest first.
    let order: Vec<String> = entries.iter().map(id).collect();
    let mut sorted = order.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(order, sorted);
    assert_eq!(entries.last().unwrap()["action"], "auth.signup");

    // No secret in the answers or in what the store keeps.
    let text = serde_json::to_string(&entries).unwrap();
    let stored = slipway_tests::stored_text(&url, "audit_log").await;
    for secret in &secrets {
        assert!(!text.contains(secret.as_str()), "a secret in /audit");
        if let Some(stored) = &stored {
            assert!(!stored.contains(secret.as_str()), "a secret in the store");
        }
    }
    if let Some(stored) = &stored {
        assert!(
            stored.contains("audit-test-1"),
            "the log is where we looked"
        );
    }
}

#[tokio::test]
async fn members_see_their_own_entries_admins_all_with_filters_and_pages() {
    let s = TestServer::start().await;
    let ada = s.signup("ada").await;
    let bob = s.signup("bob").await;
    let (ada_id, bob_id) = (me(&s, &ada).await, me(&s, &bob).await);
    for (i, token) in [&ada, &bob, &bob].into_iter().enumerate() {
        s.post(
            "/project",
            Some(token),
            json!({"name": "p", "sourceId": format!("src-{i}"), "vmId": format!("vm-{i}")}),
        )
        .await
        .expect(201);
    }

    // A member sees exactly their own entries.
    let mine = s.get("/audit", Some(&bob)).await.expect(200).clone();
    let mine = mine.as_array().unwrap();
    assert_eq!(mine.len(), 3, "{mine:#?}");
    assert!(mine.iter().all(|e| e["actor"]["userId"] == bob_id.as_str()));
    let others = s.get(&format!("/audit?actor={ada_id}"), Some(&bob)).await;
    assert_eq!(others.expect(200), &json!([]));

    // An admin sees everyone's, filtered by actor and action.
    let all = all_entries(&s, &ada).await;
    assert_eq!(all.len(), 5, "{all:#?}");
    let bobs = s
        .get(&format!("/audit?actor={bob_id}"), Some(&ada))
        .await
        .expect(200)
        .clone();
    assert_eq!(bobs.as_array().unwrap(), mine);
    let creates = s
        .get("/audit?action=project.create", Some(&ada))
        .await
        .expect(200)
        .clone();
    assert_eq!(creates.as_array().unwrap().len(), 3);
    let bob_creates = s
        .get(
            &format!("/audit?action=project.create&actor={bob_id}"),
            Some(&ada),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(bob_creates.as_array().unwrap().len(), 2);
    // An actor that is no issued id names nobody: an empty page, not an error.
    for actor in [
        format!("{bob_id}:x"),
        "*".to_string(),
        bob_id.to_uppercase(),
    ] {
        let none = s.get(&format!("/audit?actor={actor}"), Some(&ada)).await;
        assert_eq!(none.expect(200), &json!([]), "{actor}");
    }

    // Pages of 4, linked, give every entry once in order.
    let mut seen = Vec::new();
    let mut next = Some("/audit?limit=4".to_string());
    while let Some(path) = next.take() {
        let a = s.get(&path, Some(&ada)).await;
        seen.extend(a.expect(200).as_array().unwrap().iter().cloned());
        if let Some(link) = a.headers.get("link") {
            let link = link.to_str().unwrap();
            let rel = link.split('>').next().unwrap().trim_start_matches('<');
            assert!(rel.starts_with("audit?"), "{link}");
            next = Some(format!("/{rel}"));
        }
    }
    assert_eq!(seen, all);

    // Bad input, anonymous callers and API tokens.
    for bad in [
        "/audit?limit=0",
        "/audit?limit=1001",
        "/audit?after=not-an-id",
        "/audit?action=project.explode",
    ] {
        s.get(bad, Some(&ada)).await.expect_error(400);
    }
    s.get("/audit", None).await.expect_error(401);
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
    s.get("/audit", Some(&token)).await.expect_error(403);
}
