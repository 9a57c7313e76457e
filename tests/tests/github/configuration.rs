//! `GET /configuration` and `POST /configuration/github`.

use serde_json::json;
use slipway_tests::fake_github::Endpoint;

use crate::Gh;

#[tokio::test]
async fn configuration_is_public_and_github_disabled_at_first() {
    let gh = Gh::start().await;
    let a = gh.get("/configuration", None).await;
    let body = a.expect(200);
    assert_eq!(body["github"]["enabled"], json!(false));
    assert_eq!(body["github"]["clientId"], json!(null));
    assert_eq!(
        body["github"]["authorizeUrl"],
        json!(format!("{}/login/oauth/authorize", gh.fake.url()))
    );
    gh.finish();
}

#[tokio::test]
async fn admin_configures_github_and_can_replace_it() {
    let gh = Gh::start().await;
    let admin = gh.s.signup("admin").await;
    let (id, secret) = gh.fake.add_app();
    let a = gh
        .post(
            "/configuration/github",
            Some(&admin),
            json!({"client_id": id, "client_secret": secret}),
        )
        .await;
    let body = a.expect(200).clone();
    assert_eq!(body["github"]["enabled"], json!(true));
    assert_eq!(body["github"]["clientId"], json!(id));
    assert_eq!(gh.fake.hits(Endpoint::Token), 1, "credentials were checked");
    let public = gh.get("/configuration", None).await.expect(200).clone();
    assert_eq!(public, body);

    // A later call replaces the app: codes of the new app work, of the old not.
    let (id2, secret2) = gh.fake.add_app();
    gh.post(
        "/configuration/github",
        Some(&admin),
        json!({"client_id": id2, "client_secret": secret2}),
    )
    .await
    .expect(200);
    assert_eq!(
        gh.get("/configuration", None).await.expect(200)["github"]["clientId"],
        json!(id2)
    );
    let u = gh.fake.add_user("newapp", "newapp@example.com", true);
    gh.signin(&id2, u).await.expect(200);
    let old = gh.signin(&id, u).await.expect_error(400);
    assert!(old.contains("bad_verification_code"), "{old}");
    gh.finish();
}

#[tokio::test]
async fn members_and_anonymous_cannot_configure_github() {
    let gh = Gh::start().await;
    let _admin = gh.s.signup("admin").await;
    let member = gh.s.signup("member").await;
    let (id, secret) = gh.fake.add_app();
    let body = json!({"client_id": id, "client_secret": secret});
    gh.post("/configuration/github", Some(&member), body.clone())
        .await
        .expect_error(403);
    let a = gh.post("/configuration/github", None, body).await;
    a.expect_error(401);
    assert_eq!(a.headers.get("www-authenticate").unwrap(), "Bearer");
    assert_eq!(gh.fake.hits(Endpoint::Token), 0, "nothing sent to GitHub");
    assert_eq!(
        gh.get("/configuration", None).await.expect(200)["github"]["enabled"],
        json!(false)
    );
    gh.finish();
}

#[tokio::test]
async fn credentials_github_rejects_are_refused_and_not_stored() {
    let gh = Gh::start().await;
    let admin = gh.s.signup("admin").await;
    let (id, _secret) = gh.fake.add_app();
    let wrong = "0123456789abcdef0123456789abcdef01234567";
    gh.secret(wrong);
    let msg = gh
        .post(
            "/configuration/github",
            Some(&admin),
            json!({"client_id": id, "client_secret": wrong}),
        )
        .await
        .expect_error(400);
    assert!(msg.contains("incorrect_client_credentials"), "{msg}");
    assert!(msg.contains("client_id and client_secret"), "{msg}");
    let msg = gh
        .post(
            "/configuration/github",
            Some(&admin),
            json!({"client_id": "Ov23liUnknownApp0000", "client_secret": wrong}),
        )
        .await
        .expect_error(400);
    assert!(msg.contains("rejected by GitHub"), "{msg}");
    assert_eq!(
        gh.get("/configuration", None).await.expect(200)["github"]["enabled"],
        json!(false)
    );
    gh.finish();
}

#[tokio::test]
async fn configuration_input_is_validated_naming_the_field() {
    let gh = Gh::start().await;
    let admin = gh.s.signup("admin").await;
    let cases = [
        (json!({"client_secret": "abcdefgh12345678"}), "client_id"),
        (json!({"client_id": "Ov23liAbc"}), "client_secret"),
        (
            json!({"client_id": 5, "client_secret": "abcdefgh12345678"}),
            "client_id",
        ),
        (
            json!({"client_id": "", "client_secret": "abcdefgh12345678"}),
            "client_id",
        ),
        (
            json!({"client_id": "Ov23liAbc", "client_secret": "has spaces in it"}),
            "client_secret",
        ),
        (
            json!({"client_id": "x".repeat(101), "client_secret": "abcdefgh12345678"}),
            "client_id",
        ),
    ];
    for (body, field) in cases {
        let msg = gh
            .post("/configuration/github", Some(&admin), body.clone())
            .await
            .expect_error(400);
        assert!(msg.contains(field), "{body}: {msg}");
    }
    assert_eq!(gh.fake.hits(Endpoint::Token), 0);
    gh.finish();
}
