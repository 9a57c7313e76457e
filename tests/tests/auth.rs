//! Accounts and tokens: signup, signin, /auth/me, token attacks, policies.

use std::time::Duration;

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use slipway_core::testing::CoreProjectWrites as _;
use slipway_core::{Claims, SignupPolicy};
use slipway_tests::TestServer;

fn decode_claims(token: &str) -> (Value, Value) {
    use base64::Engine;
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let dec = |s: &str| -> Value {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    };
    (dec(parts[0]), dec(parts[1]))
}

#[tokio::test]
async fn signup_returns_token_with_documented_claims() {
    let s = TestServer::start().await;
    let a = s
        .post(
            "/auth/signup",
            None,
            json!({"name": "Ada", "email": "Ada@Example.COM", "password": "correct horse"}),
        )
        .await;
    let token = a.expect(201)["accessToken"].as_str().unwrap().to_string();
    assert_eq!(a.headers.get("cache-control").unwrap(), "no-store");
    let (header, claims) = decode_claims(&token);
    assert_eq!(header["alg"], "HS256");
    assert_eq!(claims["email"], "ada@example.com");
    assert_eq!(claims["name"], "Ada");
    assert_eq!(claims["role"], "admin");
    assert_eq!(claims["iss"], "slipway");
    let ttl = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert_eq!(ttl, 24 * 3600);
    let me = s.get("/auth/me", Some(&token)).await;
    let me = me.expect(200);
    assert_eq!(me["email"], "ada@example.com");
    assert_eq!(me["role"], "admin");
    assert_eq!(me["id"], claims["sub"]);
    assert!(me["createdAt"].as_str().unwrap().contains('T'));
    assert!(me.get("passwordHash").is_none() && me.get("password").is_none());
}

#[tokio::test]
async fn first_user_is_admin_later_ones_members() {
    let s = TestServer::start().await;
    let a = s.signup("alice").await;
    let b = s.signup("bob").await;
    assert_eq!(
        s.get("/auth/me", Some(&a)).await.expect(200)["role"],
        "admin"
    );
    assert_eq!(
        s.get("/auth/me", Some(&b)).await.expect(200)["role"],
        "member"
    );
}

#[tokio::test]
async fn signup_validation_rules() {
    let s = TestServer::start().await;
    let ok = json!({"name": "Ada", "email": "ada@example.com", "password": "12345678"});
    let with = |k: &str, v: Value| {
        let mut b = ok.clone();
        b[k] = v;
        b
    };
    let without = |k: &str| {
        let mut b = ok.clone();
        b.as_object_mut().unwrap().remove(k);
        b
    };
    let cases: Vec<(Value, &str)> = vec![
        (without("name"), "name"),
        (without("email"), "email"),
        (without("password"), "password"),
        (with("name", json!("")), "name"),
        (with("name", json!("   ")), "name"),
        (with("name", json!("x".repeat(101))), "name"),
        (with("name", json!(42)), "name"),
        (with("email", json!("not-an-email")), "email"),
        (with("email", json!("a@b")), "email"),
        (with("email", json!(null)), "email"),
        (with("password", json!("1234567")), "password"),
        (with("password", json!("x".repeat(257))), "password"),
        (with("password", json!(12345678)), "password"),
    ];
    for (body, field) in cases {
        let a = s.post("/auth/signup", None, body.clone()).await;
        let msg = a.expect_error(400);
        assert!(
            msg.contains(field),
            "message {msg:?} names {field} for {body}"
        );
    }
    // Boundaries that pass.
    s.post("/auth/signup", None, with("name", json!("x".repeat(100))))
        .await
        .expect(201);
    let long_pw = json!({"name": "B", "email": "b@example.com", "password": "p".repeat(256)});
    s.post("/auth/signup", None, long_pw).await.expect(201);
    // Nothing was created by the refused requests: only two users exist.
    let c = s.signup("carol").await;
    assert_eq!(
        s.get("/auth/me", Some(&c)).await.expect(200)["role"],
        "member"
    );
}

#[tokio::test]
async fn malformed_bodies_get_clear_errors() {
    let s = TestServer::start().await;
    let url = format!("{}/auth/signup", s.url);
    let send = |body: &'static str, ct: &'static str| {
        let c = s.client.clone();
        let url = url.clone();
        async move {
            TestServer::answer(
                c.post(url)
                    .header("content-type", ct)
                    .body(body)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let msg = send("{\"name\": ", "application/json")
        .await
        .expect_error(400);
    assert!(msg.contains("JSON"), "{msg}");
    let msg = send("[1,2]", "application/json").await.expect_error(400);
    assert!(msg.contains("object"), "{msg}");
    send("", "application/json").await.expect_error(400);
    let msg = send("{\"name\":\"a\"}", "text/plain")
        .await
        .expect_error(415);
    assert!(msg.contains("application/json"), "{msg}");
    // Over the 64 KiB default limit.
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(70 * 1024));
    let a = TestServer::answer(
        s.client
            .post(&url)
            .header("content-type", "application/json")
            .body(big)
            .send()
            .await
            .unwrap(),
    )
    .await;
    a.expect_error(413);
}

#[tokio::test]
async fn duplicate_email_conflicts_case_insensitively() {
    let s = TestServer::start().await;
    s.signup("ada").await;
    let a = s
        .post(
            "/auth/signup",
            None,
            json!({"name": "Other", "email": "ADA@example.com", "password": "12345678"}),
        )
        .await;
    let msg = a.expect_error(409);
    assert!(msg.contains("email"), "{msg}");
}

#[tokio::test]
async fn signup_policy_closed_and_first_user_only() {
    let closed = TestServer::start_with(|a| a.signup = SignupPolicy::Closed, |b| b).await;
    let a = closed
        .post(
            "/auth/signup",
            None,
            json!({"name": "A", "email": "a@example.com", "password": "12345678"}),
        )
        .await;
    a.expect_error(403);

    let first = TestServer::start_with(|a| a.signup = SignupPolicy::FirstUserOnly, |b| b).await;
    let t = first.signup("root").await;
    assert_eq!(
        first.get("/auth/me", Some(&t)).await.expect(200)["role"],
        "admin"
    );
    let a = first
        .post(
            "/auth/signup",
            None,
            json!({"name": "B", "email": "b@example.com", "password": "12345678"}),
        )
        .await;
    a.expect_error(403);
}

#[tokio::test]
async fn signin_success_and_uniform_failures() {
    let s = TestServer::start().await;
    s.signup("ada").await;
    let ok = s
        .post(
            "/auth/signin",
            None,
            json!({"email": "ADA@example.com", "password": "password-ada"}),
        )
        .await;
    let token = ok.expect(200)["accessToken"].as_str().unwrap().to_string();
    assert_eq!(ok.headers.get("cache-control").unwrap(), "no-store");
    s.get("/auth/me", Some(&token)).await.expect(200);

    let wrong = s
        .post(
            "/auth/signin",
            None,
            json!({"email": "ada@example.com", "password": "nope-nope"}),
        )
        .await;
    let unknown = s
        .post(
            "/auth/signin",
            None,
            json!({"email": "ghost@example.com", "password": "nope-nope"}),
        )
        .await;
    let m1 = wrong.expect_error(401);
    let m2 = unknown.expect_error(401);
    assert_eq!(m1, m2, "same answer for wrong password and unknown email");
    // The same body but for the request id, which every answer has its own.
    let without_id = |body: &serde_json::Value| {
        let mut body = body.clone();
        body.as_object_mut().unwrap().remove("requestId");
        body
    };
    assert_eq!(without_id(&wrong.body), without_id(&unknown.body));
    s.post("/auth/signin", None, json!({"email": "ada@example.com"}))
        .await
        .expect_error(400);
}

#[tokio::test]
async fn repeated_failed_signins_answer_429_with_retry_after() {
    let s = TestServer::start().await;
    s.signup("ada").await;
    let bad = json!({"email": "ada@example.com", "password": "wrong-password"});
    for _ in 0..5 {
        s.post("/auth/signin", None, bad.clone())
            .await
            .expect_error(401);
    }
    let limited = s.post("/auth/signin", None, bad.clone()).await;
    limited.expect_error(429);
    let retry: u64 = limited
        .headers
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    // Even the right password waits: the lock is per email.
    let good = json!({"email": "ada@example.com", "password": "password-ada"});
    s.post("/auth/signin", None, good).await.expect_error(429);
    // Another email is not affected.
    s.signup("bob").await;
    s.post(
        "/auth/signin",
        None,
        json!({"email": "bob@example.com", "password": "password-bob"}),
    )
    .await
    .expect(200);
}

fn forge(key: &[u8], alg: Algorithm, claims: &Claims) -> String {
    encode(&Header::new(alg), claims, &EncodingKey::from_secret(key)).unwrap()
}

#[tokio::test]
async fn token_attacks_are_refused_with_401_and_www_authenticate() {
    let s = TestServer::start().await;
    let token = s.signup("ada").await;
    let (_, c) = decode_claims(&token);
    let claims: Claims = serde_json::from_value(c).unwrap();
    let key = s.running.slipway.testing_jwt_key();
    let now = chrono::Utc::now().timestamp();

    // Sanity: a token we forge with the right key and algorithm is accepted,
    // so each refusal below is due to the one thing changed.
    let good = forge(&key, Algorithm::HS256, &claims);
    s.get("/auth/me", Some(&good)).await.expect(200);

    let mut expired = claims.clone();
    expired.iat = now - 7200;
    expired.exp = now - 60;
    let mut wrong_iss = claims.clone();
    wrong_iss.iss = "someone-else".into();
    let header_none = {
        use base64::Engine;
        let e = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!(
            "{}.{}.",
            e(&json!({"alg": "none", "typ": "JWT"})),
            e(&serde_json::to_value(&claims).unwrap())
        )
    };
    let attacks = vec![
        (
            "another key",
            forge(
                b"another-secret-of-32-bytes-or-more!!",
                Algorithm::HS256,
                &claims,
            ),
        ),
        ("HS384", forge(&key, Algorithm::HS384, &claims)),
        ("HS512", forge(&key, Algorithm::HS512, &claims)),
        ("alg none", header_none),
        ("expired", forge(&key, Algorithm::HS256, &expired)),
        ("wrong issuer", forge(&key, Algorithm::HS256, &wrong_iss)),
        ("garbage", "not.a.token".to_string()),
    ];
    for (what, t) in attacks {
        let a = s.get("/auth/me", Some(&t)).await;
        a.expect_error(401);
        assert_eq!(
            a.headers.get("www-authenticate").unwrap(),
            "Bearer",
            "{what}"
        );
    }
    let a = s.get("/auth/me", None).await;
    a.expect_error(401);
    assert_eq!(a.headers.get("www-authenticate").unwrap(), "Bearer");
    let raw = TestServer::answer(
        s.client
            .get(format!("{}/auth/me", s.url))
            .header("authorization", format!("Basic {token}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    raw.expect_error(401);
}

#[tokio::test]
async fn deleted_users_token_is_refused() {
    let s = TestServer::start().await;
    let token = s.signup("ada").await;
    let id = s.get("/auth/me", Some(&token)).await.expect(200)["id"]
        .as_str()
        .unwrap()
        .to_string();
    s.running
        .slipway
        .store()
        .core_delete_user(&id.into(), &slipway_core::testing::cases::audit())
        .await
        .unwrap();
    s.get("/auth/me", Some(&token)).await.expect_error(401);
}

#[tokio::test]
async fn short_token_ttl_expires() {
    let s = TestServer::start_with(|a| a.token_ttl = Duration::from_secs(1), |b| b).await;
    let token = s.signup("ada").await;
    s.get("/auth/me", Some(&token)).await.expect(200);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    s.get("/auth/me", Some(&token)).await.expect_error(401);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let s = TestServer::start().await;
    let msg = s.get("/no/such/route", None).await.expect_error(404);
    assert!(msg.contains("/no/such/route"));
    let a = s.delete("/auth/signup", None).await;
    a.expect_error(405);
    assert_eq!(a.headers.get("allow").unwrap(), "POST");
}

#[tokio::test]
async fn health_reports_store() {
    let s = TestServer::start().await;
    let a = s.get("/health", None).await;
    assert_eq!(a.expect(200), &json!({"status": "ok", "store": "ok"}));
}

/// While sign-ins saturate the hashing threads, /health still answers before
/// they are done (ordering, not absolute time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signin_flood_does_not_stall_other_requests() {
    // Real (OWASP) Argon2 parameters, heavier than the test default.
    let s =
        TestServer::start_with(|_| {}, |b| b.argon2(slipway_core::Argon2Params::default())).await;
    s.signup("ada").await;
    let started = std::time::Instant::now();
    let signins = (0..8).map(|_| {
        let c = s.client.clone();
        let url = format!("{}/auth/signin", s.url);
        tokio::spawn(async move {
            let r = c
                .post(url)
                .json(&json!({"email": "ada@example.com", "password": "password-ada"}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            started.elapsed()
        })
    });
    let signins: Vec<_> = signins.collect();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let h = s.get("/health", None).await;
    let health_done = started.elapsed();
    h.expect(200);
    let mut done = Vec::new();
    for t in signins {
        done.push(t.await.unwrap());
    }
    let last = done.iter().max().unwrap();
    assert!(
        health_done < *last,
        "health ({health_done:?}) answered before the last sign-in ({last:?})"
    );
}
