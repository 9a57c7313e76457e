//! Every way GitHub can fail gets a clear answer: 502 for unreachable, 5xx
//! or malformed replies, 504 when it is slower than the configured timeout,
//! never a 500; and nothing is stored.

use serde_json::json;
use slipway_tests::fake_github::{Endpoint, Failure, FakeGitHub};

use crate::{Gh, SHORT_TIMEOUT};

fn expected(failure: Failure) -> u16 {
    match failure {
        Failure::ServerError | Failure::Malformed | Failure::Huge => 502,
        Failure::Hang => 504,
    }
}

/// Sign-in with `failure` on each endpoint it uses, in turn.
async fn signin_fails(failure: Failure) {
    let gh = Gh::start_with(|a| a.github_timeout = SHORT_TIMEOUT).await;
    let (_admin, client_id) = gh.admin_with_app().await;
    for (i, endpoint) in [Endpoint::Token, Endpoint::User, Endpoint::Emails]
        .into_iter()
        .enumerate()
    {
        let u = gh
            .fake
            .add_user(&format!("u{i}"), &format!("u{i}@example.com"), true);
        gh.fake.fail(endpoint, failure);
        let before = gh.fake.hits(endpoint);
        let msg = gh
            .signin(&client_id, u)
            .await
            .expect_error(expected(failure));
        assert!(msg.contains("GitHub"), "{endpoint:?}: {msg}");
        if failure == Failure::Hang {
            assert!(msg.contains("did not answer within 400 ms"), "{msg}");
        }
        assert_eq!(gh.fake.hits(endpoint), before + 1, "{endpoint:?} was asked");
        gh.fake.heal();
        let store = gh.s.running.slipway.store();
        assert!(store.find_user_by_github_id(u).await.unwrap().is_none());
        assert!(store
            .find_user_by_email(&format!("u{i}@example.com"))
            .await
            .unwrap()
            .is_none());
    }
    gh.finish();
}

#[tokio::test]
async fn signin_when_github_answers_5xx_is_502() {
    signin_fails(Failure::ServerError).await;
}

#[tokio::test]
async fn signin_when_github_is_too_slow_is_504() {
    signin_fails(Failure::Hang).await;
}

#[tokio::test]
async fn signin_when_github_replies_malformed_json_is_502() {
    signin_fails(Failure::Malformed).await;
}

#[tokio::test]
async fn signin_when_github_replies_too_much_is_502() {
    signin_fails(Failure::Huge).await;
}

#[tokio::test]
async fn configuration_when_github_fails_is_502_or_504_and_not_stored() {
    let gh = Gh::start_with(|a| a.github_timeout = SHORT_TIMEOUT).await;
    let admin = gh.s.signup("admin").await;
    let (id, secret) = gh.fake.add_app();
    for failure in [Failure::ServerError, Failure::Hang, Failure::Malformed] {
        gh.fake.fail(Endpoint::Token, failure);
        gh.post(
            "/configuration/github",
            Some(&admin),
            json!({"client_id": id, "client_secret": secret}),
        )
        .await
        .expect_error(expected(failure));
        assert_eq!(
            gh.get("/configuration", None).await.expect(200)["github"]["enabled"],
            json!(false),
            "{failure:?}"
        );
    }
    gh.finish();
}

#[tokio::test]
async fn token_checks_when_github_fails_are_502_or_504() {
    let gh = Gh::start_with(|a| a.github_timeout = SHORT_TIMEOUT).await;
    let (admin, client_id) = gh.admin_with_app().await;
    let u = gh.fake.add_user("tok", "tok@example.com", true);
    for failure in [Failure::ServerError, Failure::Hang, Failure::Malformed] {
        gh.fake.fail(Endpoint::User, failure);
        let token = gh.fake.issue_token(u, Some(&["repo"]));
        let body = json!({"type": "personal_access_token", "name": "t", "data": {"token": token}});
        gh.post("/authorization", Some(&admin), body)
            .await
            .expect_error(expected(failure));
        gh.fake.heal();
        gh.fake.fail(Endpoint::Token, failure);
        let code = gh.fake.issue_code(&client_id, u, &["repo"]);
        let body = json!({"type": "oauth", "name": "o", "data": {"code": code}});
        gh.post("/authorization", Some(&admin), body)
            .await
            .expect_error(expected(failure));
        gh.fake.heal();
    }
    assert_eq!(
        gh.get("/authorization", Some(&admin)).await.expect(200),
        &json!([]),
        "nothing stored"
    );
    gh.finish();
}

#[tokio::test]
async fn unreachable_github_is_502() {
    let closed = FakeGitHub::closed_url().await;
    let gh = Gh::start_with(move |a| {
        a.github_url = closed.clone();
        a.github_api_url = closed;
    })
    .await;
    let admin = gh.s.signup("admin").await;
    let (id, secret) = gh.fake.add_app();
    let msg = gh
        .post(
            "/configuration/github",
            Some(&admin),
            json!({"client_id": id, "client_secret": secret}),
        )
        .await
        .expect_error(502);
    assert!(msg.contains("could not be reached"), "{msg}");
    let token = "ghp_UnreachableCheck0123456789abcdefgh";
    gh.secret(token);
    let body = json!({"type": "personal_access_token", "name": "t", "data": {"token": token}});
    gh.post("/authorization", Some(&admin), body)
        .await
        .expect_error(502);
    gh.finish();
}

#[tokio::test]
async fn app_deleted_on_github_is_502_asking_an_admin() {
    let gh = Gh::start().await;
    let (_admin, client_id) = gh.admin_with_app().await;
    let u = gh.fake.add_user("orphan", "orphan@example.com", true);
    let code = gh.fake.issue_code(&client_id, u, &["user:email"]);
    gh.fake.remove_app(&client_id);
    let msg = gh
        .post("/auth/github", None, json!({ "code": code }))
        .await
        .expect_error(502);
    assert!(
        msg.contains("incorrect_client_credentials") && msg.contains("admin"),
        "{msg}"
    );
    gh.finish();
}
