//! `POST /auth/github`: creating, finding and linking users.

use serde_json::json;
use slipway_core::model::AuthorizationType;
use slipway_tests::fake_github::Endpoint;

use crate::Gh;

#[tokio::test]
async fn signin_without_configuration_says_what_to_configure() {
    let gh = Gh::start().await;
    let msg = gh
        .post(
            "/auth/github",
            None,
            json!({"code": "abcdef0123456789abcd"}),
        )
        .await
        .expect_error(400);
    assert!(msg.contains("not configured"), "{msg}");
    assert!(msg.contains("/configuration/github"), "{msg}");
    assert_eq!(gh.fake.hits(Endpoint::Token), 0);
    gh.finish();
}

#[tokio::test]
async fn signin_creates_a_member_and_keeps_the_token_as_oauth_authorization() {
    let gh = Gh::start().await;
    let (_admin, client_id) = gh.admin_with_app().await;
    let octo = gh.fake.add_user("octocat", "The.Octocat@Example.com", true);
    let a = gh.signin(&client_id, octo).await;
    let token = a.expect(200)["accessToken"].as_str().unwrap().to_string();
    assert_eq!(a.headers.get("cache-control").unwrap(), "no-store");
    let me = gh.me(&token).await;
    assert_eq!(me["email"], json!("the.octocat@example.com"));
    assert_eq!(me["name"], json!("octocat (GitHub)"));
    assert_eq!(me["role"], json!("member"));

    let store = gh.s.running.slipway.store();
    let user = store.find_user_by_github_id(octo).await.unwrap().unwrap();
    assert_eq!(json!(user.id), me["id"]);
    assert!(user.password_hash.is_none());
    let auths = store.list_authorizations(&user.id).await.unwrap();
    assert_eq!(auths.len(), 1);
    assert_eq!(auths[0].kind, AuthorizationType::Oauth);
    assert_eq!(auths[0].name, "octocat");
    assert_eq!(auths[0].info["login"], json!("octocat"));
    let listed = gh.get("/authorization", Some(&token)).await;
    let listed = listed.expect(200).as_array().unwrap().clone();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["type"], json!("oauth"));
    assert_eq!(listed[0]["name"], json!("octocat"));
    // The stored secret is sealed: no issued token appears in its bytes.
    for secret in gh.fake.secrets() {
        let raw = String::from_utf8_lossy(&auths[0].secret.0).into_owned();
        assert!(!raw.contains(&secret));
    }
    gh.finish();
}

#[tokio::test]
async fn repeated_signin_finds_the_same_user_without_duplicating_the_token() {
    let gh = Gh::start().await;
    let (_admin, client_id) = gh.admin_with_app().await;
    let octo = gh.fake.add_user("octo", "octo@example.com", true);
    let first = gh.signin(&client_id, octo).await.expect(200).clone();
    let store = gh.s.running.slipway.store();
    let user = store.find_user_by_github_id(octo).await.unwrap().unwrap();
    let before = store.list_authorizations(&user.id).await.unwrap();
    let second = gh.signin(&client_id, octo).await.expect(200).clone();
    let me1 = gh.me(first["accessToken"].as_str().unwrap()).await;
    let me2 = gh.me(second["accessToken"].as_str().unwrap()).await;
    assert_eq!(me1["id"], me2["id"]);
    let after = store.list_authorizations(&user.id).await.unwrap();
    assert_eq!(after.len(), 1, "one oauth authorization per GitHub login");
    assert_eq!(after[0].id, before[0].id);
    assert_ne!(
        after[0].secret, before[0].secret,
        "the new token replaced the old"
    );
    gh.finish();
}

#[tokio::test]
async fn signin_links_an_existing_account_through_its_verified_primary_email() {
    let gh = Gh::start().await;
    let (_admin, client_id) = gh.admin_with_app().await;
    let carol = gh.s.signup("carol").await;
    let carol_id = gh.me(&carol).await["id"].clone();
    let gid = gh.fake.add_user("carol-gh", "Carol@Example.com", true);
    let a = gh.signin(&client_id, gid).await;
    let me = gh.me(a.expect(200)["accessToken"].as_str().unwrap()).await;
    assert_eq!(me["id"], carol_id, "the same account");
    assert_eq!(me["role"], json!("member"));
    let store = gh.s.running.slipway.store();
    let linked = store.find_user_by_github_id(gid).await.unwrap().unwrap();
    assert_eq!(json!(linked.id), carol_id);
    // The password still works.
    gh.post(
        "/auth/signin",
        None,
        json!({"email": "carol@example.com", "password": "password-carol"}),
    )
    .await
    .expect(200);
    gh.finish();
}

#[tokio::test]
async fn an_unverified_primary_email_never_links_nor_creates() {
    let gh = Gh::start().await;
    let (_admin, client_id) = gh.admin_with_app().await;
    let dave = gh.s.signup("dave").await;
    let gid = gh.fake.add_user("mallory", "dave@example.com", false);
    // Even a verified secondary address is not used: only the primary counts.
    gh.fake.add_email(gid, "mallory@example.com", true);
    let msg = gh.signin(&client_id, gid).await.expect_error(400);
    assert!(msg.contains("not verified"), "{msg}");
    let store = gh.s.running.slipway.store();
    assert!(store.find_user_by_github_id(gid).await.unwrap().is_none());
    assert!(store
        .find_user_by_email("mallory@example.com")
        .await
        .unwrap()
        .is_none());
    let dave_user = store
        .find_user_by_email("dave@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(dave_user.github_id, None);
    assert_eq!(json!(dave_user.id), gh.me(&dave).await["id"]);
    gh.finish();
}

#[tokio::test]
async fn a_code_works_once() {
    let gh = Gh::start().await;
    let (_admin, client_id) = gh.admin_with_app().await;
    let u = gh.fake.add_user("once", "once@example.com", true);
    let code = gh.fake.issue_code(&client_id, u, &["user:email"]);
    gh.post("/auth/github", None, json!({ "code": code }))
        .await
        .expect(200);
    let msg = gh
        .post("/auth/github", None, json!({ "code": code }))
        .await
        .expect_error(400);
    assert!(msg.contains("bad_verification_code"), "{msg}");
    assert!(msg.starts_with("code "), "names the field: {msg}");
    let msg = gh
        .post(
            "/auth/github",
            None,
            json!({"code": "deadbeefdeadbeefdead"}),
        )
        .await
        .expect_error(400);
    assert!(msg.contains("bad_verification_code"), "{msg}");
    gh.finish();
}

#[tokio::test]
async fn signin_input_is_validated() {
    let gh = Gh::start().await;
    let (_admin, _client_id) = gh.admin_with_app().await;
    let hits = gh.fake.hits(Endpoint::Token);
    for body in [
        json!({}),
        json!({"code": 5}),
        json!({"code": ""}),
        json!({"code": "a b"}),
    ] {
        let msg = gh
            .post("/auth/github", None, body.clone())
            .await
            .expect_error(400);
        assert!(msg.contains("code"), "{body}: {msg}");
    }
    assert_eq!(
        gh.fake.hits(Endpoint::Token),
        hits,
        "nothing sent to GitHub"
    );
    gh.finish();
}

#[tokio::test]
async fn signin_without_the_email_scope_is_refused_clearly() {
    let gh = Gh::start().await;
    let (_admin, client_id) = gh.admin_with_app().await;
    let u = gh.fake.add_user("noscope", "noscope@example.com", true);
    let code = gh.fake.issue_code(&client_id, u, &["repo"]);
    let msg = gh
        .post("/auth/github", None, json!({ "code": code }))
        .await
        .expect_error(400);
    assert!(msg.contains("user:email"), "{msg}");
    gh.finish();
}

#[tokio::test]
async fn signup_policy_applies_to_new_github_users() {
    let gh = Gh::start_with(|a| a.signup = slipway_core::SignupPolicy::FirstUserOnly).await;
    let (_admin, client_id) = gh.admin_with_app().await;
    let u = gh.fake.add_user("late", "late@example.com", true);
    let msg = gh.signin(&client_id, u).await.expect_error(403);
    assert!(msg.contains("Sign-up is closed"), "{msg}");
    // An existing account may still link and sign in.
    let admin_gh = gh.fake.add_user("admin-gh", "admin@example.com", true);
    gh.signin(&client_id, admin_gh).await.expect(200);
    gh.finish();
}

#[tokio::test]
async fn the_first_user_signing_in_with_github_becomes_admin() {
    let gh = Gh::start().await;
    let (admin, client_id) = gh.admin_with_app().await;
    // Leave the instance without users but with GitHub configured.
    let admin_id = gh.me(&admin).await["id"].as_str().unwrap().to_string();
    let store = gh.s.running.slipway.store();
    store.delete_user(&admin_id).await.unwrap();
    let u = gh.fake.add_user("founder", "founder@example.com", true);
    let token = gh.signin(&client_id, u).await.expect(200)["accessToken"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(gh.me(&token).await["role"], json!("admin"));
    gh.finish();
}
