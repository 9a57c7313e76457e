//! `POST /authorization` of type `oauth` and `personal_access_token`.

use serde_json::{json, Value};
use slipway_tests::fake_github::Endpoint;

use crate::Gh;

fn pat(token: &str) -> Value {
    json!({"type": "personal_access_token", "name": "ci token", "data": {"token": token}})
}

#[tokio::test]
async fn oauth_authorization_exchanges_the_code_with_the_configured_app() {
    let gh = Gh::start().await;
    let (admin, client_id) = gh.admin_with_app().await;
    let u = gh.fake.add_user("deployer", "deployer@example.com", true);
    let code = gh.fake.issue_code(&client_id, u, &["repo", "read:org"]);
    let a = gh
        .post(
            "/authorization",
            Some(&admin),
            json!({"type": "oauth", "name": "my GitHub", "data": {"code": code}}),
        )
        .await;
    let body = a.expect(201);
    assert_eq!(body["type"], json!("oauth"));
    assert_eq!(body["name"], json!("my GitHub"));
    assert_eq!(body["login"], json!("deployer"));
    assert_eq!(body["scopes"], json!(["repo", "read:org"]));
    // The code was used up.
    let msg = gh
        .post(
            "/authorization",
            Some(&admin),
            json!({"type": "oauth", "name": "again", "data": {"code": code}}),
        )
        .await
        .expect_error(400);
    assert!(
        msg.contains("data.code") && msg.contains("bad_verification_code"),
        "{msg}"
    );
    gh.finish();
}

#[tokio::test]
async fn oauth_authorization_needs_github_configured_and_a_code() {
    let gh = Gh::start().await;
    let user = gh.s.signup("admin").await;
    let msg = gh
        .post(
            "/authorization",
            Some(&user),
            json!({"type": "oauth", "name": "gh", "data": {"code": "abcdef0123456789abcd"}}),
        )
        .await
        .expect_error(400);
    assert!(msg.contains("not configured"), "{msg}");
    let msg = gh
        .post(
            "/authorization",
            Some(&user),
            json!({"type": "oauth", "name": "gh", "data": {}}),
        )
        .await
        .expect_error(400);
    assert!(msg.contains("data.code"), "{msg}");
    assert_eq!(gh.fake.hits(Endpoint::Token), 0);
    gh.finish();
}

#[tokio::test]
async fn classic_token_with_repo_scope_is_accepted() {
    let gh = Gh::start().await;
    let user = gh.s.signup("alice").await;
    let u = gh.fake.add_user("alice-gh", "alice@example.com", true);
    let token = gh.fake.issue_token(u, Some(&["repo", "workflow"]));
    let a = gh.post("/authorization", Some(&user), pat(&token)).await;
    let body = a.expect(201);
    assert_eq!(body["type"], json!("personal_access_token"));
    assert_eq!(body["login"], json!("alice-gh"));
    assert_eq!(body["scopes"], json!(["repo", "workflow"]));
    assert_eq!(body["tokenType"], json!("classic"));
    gh.finish();
}

#[tokio::test]
async fn classic_token_without_repo_scope_is_refused_naming_it() {
    let gh = Gh::start().await;
    let user = gh.s.signup("bob").await;
    let u = gh.fake.add_user("bob-gh", "bob@example.com", true);
    for scopes in [&["read:org", "gist"][..], &[][..]] {
        let token = gh.fake.issue_token(u, Some(scopes));
        let msg = gh
            .post("/authorization", Some(&user), pat(&token))
            .await
            .expect_error(400);
        assert!(
            msg.contains("data.token") && msg.contains("`repo`"),
            "{msg}"
        );
    }
    let listed = gh.get("/authorization", Some(&user)).await;
    assert_eq!(listed.expect(200), &json!([]), "nothing stored");
    gh.finish();
}

#[tokio::test]
async fn fine_grained_token_without_scope_header_is_accepted() {
    let gh = Gh::start().await;
    let user = gh.s.signup("carol").await;
    let u = gh.fake.add_user("carol-gh", "carol@example.com", true);
    let token = gh.fake.issue_token(u, None);
    assert!(token.starts_with("github_pat_"));
    let body = gh
        .post("/authorization", Some(&user), pat(&token))
        .await
        .expect(201)
        .clone();
    assert_eq!(body["tokenType"], json!("fine_grained"));
    assert_eq!(body["scopes"], json!(null));
    assert_eq!(body["login"], json!("carol-gh"));
    gh.finish();
}

#[tokio::test]
async fn unknown_token_is_refused_as_bad_credentials() {
    let gh = Gh::start().await;
    let user = gh.s.signup("dave").await;
    let token = "ghp_NotKnownToGitHubAtAll0123456789abcd";
    gh.secret(token);
    let msg = gh
        .post("/authorization", Some(&user), pat(token))
        .await
        .expect_error(400);
    assert!(
        msg.contains("data.token") && msg.contains("Bad credentials"),
        "{msg}"
    );
    for data in [json!({}), json!({"token": 5}), json!({"token": ""})] {
        let body = json!({"type": "personal_access_token", "name": "x", "data": data});
        let msg = gh
            .post("/authorization", Some(&user), body)
            .await
            .expect_error(400);
        assert!(msg.contains("data.token"), "{msg}");
    }
    gh.finish();
}

#[tokio::test]
async fn token_check_can_be_switched_off() {
    let gh = Gh::start_with(|a| a.github_verify_tokens = false).await;
    let user = gh.s.signup("erin").await;
    let token = "ghp_OfflineInstallToken0123456789abcdef";
    gh.secret(token);
    let body = gh
        .post("/authorization", Some(&user), pat(token))
        .await
        .expect(201)
        .clone();
    assert_eq!(body["verified"], json!(false));
    assert_eq!(gh.fake.hits(Endpoint::User), 0, "GitHub was not asked");
    gh.finish();
}
