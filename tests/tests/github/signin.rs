//! `POST /auth/github`: creating, finding and linking users.

use serde_json::json;
use slipway_core::model::AuthorizationType;
use slipway_core::testing::CoreProjectWrites as _;
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

/// Issue #15: a GitHub account holding the verified email of a password
/// account is not linked into it (that would hand the account to whoever
/// controls the address on GitHub): 409, and nothing changes.
#[tokio::test]
async fn signin_never_links_into_a_password_account() {
    let gh = Gh::start().await;
    let (_admin, client_id) = gh.admin_with_app().await;
    let carol = gh.s.signup("carol").await;
    let carol_id = gh.me(&carol).await["id"].clone();
    let gid = gh.fake.add_user("carol-gh", "Carol@Example.com", true);
    let msg = gh.signin(&client_id, gid).await.expect_error(409);
    assert_eq!(
        msg,
        "an account with this email exists: sign in with your password, then link GitHub"
    );
    let store = gh.s.running.slipway.store();
    assert!(store.find_user_by_github_id(gid).await.unwrap().is_none());
    let carol_user = store
        .find_user_by_email("carol@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(json!(carol_user.id), carol_id);
    assert_eq!(carol_user.github_id, None);
    assert!(
        store
            .list_authorizations(&carol_user.id)
            .await
            .unwrap()
            .is_empty(),
        "no GitHub token kept for the password account"
    );
    gh.finish();
}

/// A signed-in user links GitHub explicitly; GitHub sign-in then finds
/// the account by GitHub id, and the password keeps working.
#[tokio::test]
async fn a_signed_in_user_links_github_explicitly() {
    let gh = Gh::start().await;
    let (_admin, client_id) = gh.admin_with_app().await;
    let carol = gh.s.signup("carol").await;
    let carol_id = gh.me(&carol).await["id"].clone();
    let gid = gh.fake.add_user("carol-gh", "carol@example.com", true);
    let code = gh.fake.issue_code(&client_id, gid, &["repo", "user:email"]);
    // Not signed in: 401.
    gh.post("/auth/github/link", None, json!({ "code": code }))
        .await
        .expect_error(401);
    let linked = gh
        .post("/auth/github/link", Some(&carol), json!({ "code": code }))
        .await;
    let view = linked.expect(200).clone();
    assert_eq!(view["id"], carol_id);
    assert_eq!(view["email"], json!("carol@example.com"));
    let store = gh.s.running.slipway.store();
    let user = store.find_user_by_github_id(gid).await.unwrap().unwrap();
    assert_eq!(json!(user.id), carol_id);
    let auths = store.list_authorizations(&user.id).await.unwrap();
    assert_eq!(
        auths.len(),
        1,
        "the GitHub token is kept as an oauth authorization"
    );
    assert_eq!(auths[0].kind, AuthorizationType::Oauth);
    // Sign-in with GitHub now finds the account.
    let a = gh.signin(&client_id, gid).await;
    let me = gh.me(a.expect(200)["accessToken"].as_str().unwrap()).await;
    assert_eq!(me["id"], carol_id);
    // The password still works.
    gh.post(
        "/auth/signin",
        None,
        json!({"email": "carol@example.com", "password": "password-carol"}),
    )
    .await
    .expect(200);
    // Linking the same GitHub account again is harmless.
    let code = gh.fake.issue_code(&client_id, gid, &["user:email"]);
    gh.post("/auth/github/link", Some(&carol), json!({ "code": code }))
        .await
        .expect(200);
    gh.finish();
}

/// Linking never overwrites: a GitHub account linked to another user is a
/// 409, and so is a second GitHub account for an already linked user.
#[tokio::test]
async fn linking_never_takes_over_or_replaces_a_link() {
    let gh = Gh::start().await;
    let (_admin, client_id) = gh.admin_with_app().await;
    let carol = gh.s.signup("carol").await;
    let dave = gh.s.signup("dave").await;
    let gid = gh.fake.add_user("carol-gh", "carol-gh@example.com", true);
    let code = gh.fake.issue_code(&client_id, gid, &["user:email"]);
    gh.post("/auth/github/link", Some(&carol), json!({ "code": code }))
        .await
        .expect(200);
    // Dave cannot take Carol's GitHub account.
    let code = gh.fake.issue_code(&client_id, gid, &["user:email"]);
    let msg = gh
        .post("/auth/github/link", Some(&dave), json!({ "code": code }))
        .await
        .expect_error(409);
    assert!(msg.contains("linked to another"), "{msg}");
    // Carol cannot swap hers for another.
    let other = gh.fake.add_user("carol-2", "carol2@example.com", true);
    let code = gh.fake.issue_code(&client_id, other, &["user:email"]);
    let msg = gh
        .post("/auth/github/link", Some(&carol), json!({ "code": code }))
        .await
        .expect_error(409);
    assert!(msg.contains("already linked"), "{msg}");
    let store = gh.s.running.slipway.store();
    let holder = store.find_user_by_github_id(gid).await.unwrap().unwrap();
    assert_eq!(json!(holder.id), gh.me(&carol).await["id"]);
    assert!(store.find_user_by_github_id(other).await.unwrap().is_none());
    let dave_user = store
        .find_user_by_email("dave@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(dave_user.github_id, None);
    gh.finish();
}

/// An account the host created without a password (its own login) is still
/// linked through the GitHub account's verified primary email.
#[tokio::test]
async fn a_passwordless_host_account_links_through_its_verified_email() {
    let gh = Gh::start().await;
    let (_admin, client_id) = gh.admin_with_app().await;
    let host_user =
        gh.s.running
            .slipway
            .accounts()
            .find_or_create(slipway_core::services::NewAccount::new(
                "Erin",
                "erin@example.com",
            ))
            .await
            .unwrap();
    let gid = gh.fake.add_user("erin-gh", "erin@example.com", true);
    let a = gh.signin(&client_id, gid).await;
    let me = gh.me(a.expect(200)["accessToken"].as_str().unwrap()).await;
    assert_eq!(me["id"], json!(host_user.id));
    gh.finish();
}

/// `POST /auth/github` reaches GitHub at most `github_signin_max_per_addr`
/// times per minute per client address; beyond it 429 before any GitHub
/// call.
#[tokio::test]
async fn github_signins_per_address_are_limited() {
    let gh = Gh::start_with(|a| a.github_signin_max_per_addr = 2).await;
    let (_admin, client_id) = gh.admin_with_app().await;
    let u = gh.fake.add_user("octo", "octo@example.com", true);
    gh.signin(&client_id, u).await.expect(200);
    gh.post(
        "/auth/github",
        None,
        json!({"code": "deadbeefdeadbeefdead"}),
    )
    .await
    .expect_error(400);
    let hits = gh.fake.hits(Endpoint::Token);
    let a = gh.signin(&client_id, u).await;
    let msg = a.expect_error(429);
    assert!(msg.contains("GitHub sign-ins from this address"), "{msg}");
    assert!(a.headers.contains_key("retry-after"));
    assert_eq!(gh.fake.hits(Endpoint::Token), hits, "GitHub was not called");
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
    // An existing account may still link (explicitly, being a password
    // account) and then sign in.
    let admin = gh
        .post(
            "/auth/signin",
            None,
            json!({"email": "admin@example.com", "password": "password-admin"}),
        )
        .await
        .expect(200)["accessToken"]
        .as_str()
        .unwrap()
        .to_string();
    let admin_gh = gh.fake.add_user("admin-gh", "admin@example.com", true);
    let code = gh.fake.issue_code(&client_id, admin_gh, &["user:email"]);
    gh.post("/auth/github/link", Some(&admin), json!({ "code": code }))
        .await
        .expect(200);
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
    store
        .core_delete_user(&admin_id.into(), &slipway_core::testing::cases::audit())
        .await
        .unwrap();
    let u = gh.fake.add_user("founder", "founder@example.com", true);
    let token = gh.signin(&client_id, u).await.expect(200)["accessToken"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(gh.me(&token).await["role"], json!("admin"));
    gh.finish();
}
