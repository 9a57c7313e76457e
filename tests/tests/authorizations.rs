//! Authorizations with deploy keys: OpenSSH and PEM private keys (public key
//! and fingerprint as ssh-keygen computes them), encrypted keys refused,
//! secrets sealed at rest and never returned, ownership (404 for others).
//! The GitHub-backed kinds (`oauth`, `personal_access_token`) have their own
//! suite in `github/`.

use serde_json::{json, Value};
use slipway_tests::TestServer;

#[path = "fixtures/deploy_keys.rs"]
mod keys;
use keys::{ENCRYPTED_OPENSSH, ENCRYPTED_PKCS1, ENCRYPTED_PKCS8, KEYS, PUBLIC_ONLY};

fn deploy_key(name: &str, key: &str) -> Value {
    json!({"type": "deploy_key", "name": name, "data": {"key": key}})
}

/// The base64 body lines of a PEM/OpenSSH key (the key material).
fn material(key: &str) -> Vec<&str> {
    key.lines()
        .filter(|l| !l.starts_with("-----") && !l.contains(':') && l.len() >= 16)
        .collect()
}

/// The body lines that carry private material: not the OpenSSH header and
/// not a line that also occurs in the public key.
fn private_lines<'a>(key: &'a str, public: &str) -> Vec<&'a str> {
    material(key)
        .into_iter()
        .filter(|l| !l.starts_with("b3BlbnNzaC1rZXktdjE") && !public.contains(&l[..16]))
        .collect()
}

fn assert_no_material(text: &str, key: &str, public: &str) {
    let lines = private_lines(key, public);
    assert!(!lines.is_empty());
    for line in lines {
        assert!(!text.contains(&line[..16]), "key material leaked: {text}");
    }
}

async fn user_id(s: &TestServer, token: &str) -> String {
    s.get("/auth/me", Some(token)).await.expect(200)["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn deploy_keys_in_every_format_give_public_key_and_fingerprint() {
    let s = TestServer::start().await;
    let t = s.signup("ada").await;
    for (label, key, public, fingerprint) in KEYS {
        let a = s
            .post("/authorization", Some(&t), deploy_key(label, key))
            .await;
        let body = a.expect(201).clone();
        assert_eq!(body["type"], "deploy_key", "{label}");
        assert_eq!(body["name"], *label);
        assert_eq!(body["publicKey"], *public, "{label}");
        assert_eq!(body["fingerprint"], *fingerprint, "{label}");
        assert!(body["createdAt"].as_str().unwrap().contains('T'));
        assert!(body.get("data").is_none() && body.get("key").is_none());
        assert_no_material(&body.to_string(), key, public);
    }
    // Windows line endings and surrounding blanks are fine.
    let (_, key, _, fingerprint) = KEYS[0];
    let crlf = format!("\n  {}  \n", key.replace('\n', "\r\n"));
    let a = s
        .post("/authorization", Some(&t), deploy_key("crlf", &crlf))
        .await;
    assert_eq!(a.expect(201)["fingerprint"], fingerprint);
}

#[tokio::test]
async fn list_get_and_delete() {
    let s = TestServer::start().await;
    let t = s.signup("ada").await;
    assert_eq!(
        s.get("/authorization", Some(&t)).await.expect(200),
        &json!([])
    );
    let (_, key, public, fingerprint) = KEYS[0];
    let first = s
        .post("/authorization", Some(&t), deploy_key("one", key))
        .await;
    let first = first.expect(201).clone();
    let (_, key2, _, _) = KEYS[1];
    let second = s
        .post("/authorization", Some(&t), deploy_key("two", key2))
        .await;
    let second = second.expect(201).clone();
    let list = s.get("/authorization", Some(&t)).await.expect(200).clone();
    assert_eq!(list, json!([first.clone(), second.clone()]), "oldest first");
    let item = &list[0];
    assert_eq!(item["publicKey"], public);
    assert_eq!(item["fingerprint"], fingerprint);
    let url = format!("/authorization/{}", first["id"].as_str().unwrap());
    assert_eq!(s.get(&url, Some(&t)).await.expect(200), &first);
    assert_eq!(s.delete(&url, Some(&t)).await.expect(204), &Value::Null);
    s.get(&url, Some(&t)).await.expect_error(404);
    s.delete(&url, Some(&t)).await.expect_error(404);
    assert_eq!(
        s.get("/authorization", Some(&t)).await.expect(200),
        &json!([second])
    );
    s.get("/authorization", None).await.expect_error(401);
    s.post("/authorization", None, deploy_key("x", key))
        .await
        .expect_error(401);
}

#[tokio::test]
async fn encrypted_keys_are_refused_saying_so() {
    let s = TestServer::start().await;
    let t = s.signup("ada").await;
    for key in [ENCRYPTED_OPENSSH, ENCRYPTED_PKCS8, ENCRYPTED_PKCS1] {
        let msg = s
            .post("/authorization", Some(&t), deploy_key("enc", key))
            .await
            .expect_error(400);
        assert!(
            msg.contains("encrypted") && msg.contains("data.key"),
            "{msg}"
        );
    }
    assert_eq!(
        s.get("/authorization", Some(&t)).await.expect(200),
        &json!([])
    );
}

#[tokio::test]
async fn invalid_input_is_400_naming_the_field() {
    let s = TestServer::start().await;
    let t = s.signup("ada").await;
    let (_, key, _, _) = KEYS[0];
    // A key with one body character changed no longer parses.
    let mut broken: Vec<String> = key.lines().map(str::to_string).collect();
    broken[2] = broken[2].replacen(|c: char| c.is_ascii_alphabetic(), "0", 3);
    let broken = broken.join("\n");
    let truncated: String = key.lines().take(3).collect::<Vec<_>>().join("\n");
    let cases = [
        (deploy_key("x", "not a key"), "data.key"),
        (deploy_key("x", ""), "data.key"),
        (deploy_key("x", PUBLIC_ONLY), "public key"),
        (deploy_key("x", &broken), "data.key"),
        (deploy_key("x", &truncated), "data.key"),
        (
            json!({"type": "deploy_key", "name": "x", "data": {}}),
            "data.key",
        ),
        (
            json!({"type": "deploy_key", "name": "x", "data": {"key": 5}}),
            "data.key",
        ),
        (
            json!({"type": "deploy_key", "name": "x", "data": "key"}),
            "data",
        ),
        (json!({"type": "deploy_key", "name": "x"}), "data"),
        (
            json!({"type": "ssh", "name": "x", "data": {"key": key}}),
            "type",
        ),
        (json!({"name": "x", "data": {"key": key}}), "type"),
        (deploy_key("", key), "name"),
        (deploy_key(&"n".repeat(101), key), "name"),
        (json!({"type": "deploy_key", "data": {"key": key}}), "name"),
    ];
    for (body, field) in cases {
        let msg = s
            .post("/authorization", Some(&t), body.clone())
            .await
            .expect_error(400);
        assert!(msg.contains(field), "{field}: {msg}");
        assert_no_material(&msg, key, KEYS[0].2);
    }
    assert_eq!(
        s.get("/authorization", Some(&t)).await.expect(200),
        &json!([])
    );
    // OAuth is not accepted silently while GitHub is not set up. (Tokens are
    // checked with GitHub's API: the github suite covers them against its
    // fake GitHub; this suite never contacts anything but loopback.)
    let body = json!({"type": "oauth", "name": "gh", "data": {"code": "abc"}});
    let msg = s
        .post("/authorization", Some(&t), body)
        .await
        .expect_error(400);
    assert!(msg.contains("GitHub"), "{msg}");
    assert_eq!(
        s.get("/authorization", Some(&t)).await.expect(200),
        &json!([])
    );
}

#[tokio::test]
async fn the_key_is_sealed_at_rest() {
    let s = TestServer::start().await;
    let t = s.signup("ada").await;
    let uid = user_id(&s, &t).await;
    for (label, key, _, _) in KEYS {
        let a = s
            .post("/authorization", Some(&t), deploy_key(label, key))
            .await;
        let id = a.expect(201)["id"].as_str().unwrap().to_string();
        let stored = s
            .running
            .slipway
            .store()
            .get_authorization(&uid.as_str().into(), &id.into())
            .await
            .unwrap();
        let raw = &stored.secret.0;
        assert!(
            raw.len() > material(key).concat().len() / 2,
            "{label}: holds the key"
        );
        for line in material(key) {
            let needle = &line.as_bytes()[..16];
            assert!(
                !raw.windows(16).any(|w| w == needle),
                "{label}: stored in clear"
            );
        }
        assert!(
            !raw.windows(11).any(|w| w == b"PRIVATE KEY"),
            "{label}: PEM in clear"
        );
        assert_no_material(
            &stored.info.to_string(),
            key,
            &stored.info["publicKey"].to_string(),
        );
        assert_eq!(
            stored.info["publicKey"]
                .as_str()
                .unwrap()
                .split(' ')
                .count(),
            2
        );
    }
    // Two seals of the same key differ (fresh nonce).
    let (_, key, _, _) = KEYS[0];
    let mut seals = Vec::new();
    for n in ["same-1", "same-2"] {
        let a = s.post("/authorization", Some(&t), deploy_key(n, key)).await;
        let id = a.expect(201)["id"].as_str().unwrap().to_string();
        let stored = s
            .running
            .slipway
            .store()
            .get_authorization(&uid.as_str().into(), &id.into())
            .await;
        seals.push(stored.unwrap().secret.0);
    }
    assert_ne!(seals[0], seals[1]);
}

#[tokio::test]
async fn another_users_authorization_is_404_on_every_verb() {
    let s = TestServer::start().await;
    let a = s.signup("ada").await;
    let b = s.signup("bob").await;
    let (_, key, _, _) = KEYS[0];
    let created = s
        .post("/authorization", Some(&a), deploy_key("mine", key))
        .await;
    let created = created.expect(201).clone();
    let url = format!("/authorization/{}", created["id"].as_str().unwrap());
    let msg = s.get(&url, Some(&b)).await.expect_error(404);
    assert_eq!(msg, "Authorization not found");
    s.delete(&url, Some(&b)).await.expect_error(404);
    assert_eq!(
        s.get("/authorization", Some(&b)).await.expect(200),
        &json!([])
    );
    let unknown = s.get("/authorization/no-such-id", Some(&b)).await;
    assert_eq!(unknown.expect_error(404), msg, "looks like an unknown id");
    assert_eq!(s.get(&url, Some(&a)).await.expect(200), &created);
    let list = s.get("/authorization", Some(&a)).await;
    assert_eq!(list.expect(200), &json!([created]));
}

#[tokio::test]
async fn keys_never_reach_the_log() {
    slipway_tests::logs::install();
    let s = TestServer::start().await;
    let t = s.signup("ada").await;
    for (label, key, _, _) in KEYS {
        s.post("/authorization", Some(&t), deploy_key(label, key))
            .await
            .expect(201);
    }
    for key in [ENCRYPTED_OPENSSH, ENCRYPTED_PKCS8, ENCRYPTED_PKCS1] {
        s.post("/authorization", Some(&t), deploy_key("enc", key))
            .await
            .expect_error(400);
    }
    let text = slipway_tests::logs::captured();
    assert!(
        text.contains("/authorization"),
        "requests are logged, so a leak would be seen: {text}"
    );
    for (_, key, public, _) in KEYS {
        assert_no_material(&text, key, public);
    }
    for key in [ENCRYPTED_OPENSSH, ENCRYPTED_PKCS8, ENCRYPTED_PKCS1] {
        for line in material(key) {
            assert!(!text.contains(&line[..16]), "encrypted key logged");
        }
    }
}
