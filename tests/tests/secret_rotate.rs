//! `slipway-server secret rotate`: every stored credential and the GitHub
//! app secret, sealed under the old instance secret, are re-sealed under the
//! new one, so a server that knows only the new secret opens them all.

use serde_json::json;
use slipway_server::Args;
use slipway_tests::fake_github::FakeGitHub;
use slipway_tests::TestServer;

use crate::keys;

const OLD: &str = "the-old-instance-secret-of-32-bytes-or-more";
const NEW: &str = "the-new-instance-secret-of-32-bytes-or-more";

async fn server(url: &str, secret: &str, github: &str) -> TestServer {
    let (url, secret, github) = (url.to_string(), secret.to_string(), github.to_string());
    TestServer::start_with(
        move |a| {
            a.database_url = url;
            a.secret = Some(secret);
            a.github_url = github.clone();
            a.github_api_url = github;
        },
        |b| b,
    )
    .await
}

async fn signin(s: &TestServer) -> String {
    let a = s
        .post(
            "/auth/signin",
            None,
            json!({"email": "admin@example.com", "password": "password-admin"}),
        )
        .await;
    a.expect(200)["accessToken"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn rotated_credentials_open_under_the_new_secret_only() {
    // A store that outlives one server: SQLite in place of `memory:`.
    let sqlite = slipway_sqlite::testing::TempDb::new().unwrap();
    let url = if slipway_tests::store_kind() == "memory" {
        sqlite.url()
    } else {
        slipway_tests::fresh_database_url().await
    };
    let fake = FakeGitHub::start().await;
    let gh = fake.url();

    let before = server(&url, OLD, &gh).await;
    let admin = before.signup("admin").await;
    let (client_id, client_secret) = fake.add_app();
    before
        .post(
            "/configuration/github",
            Some(&admin),
            json!({"client_id": client_id, "client_secret": client_secret}),
        )
        .await
        .expect(200);
    let key = keys::KEYS[0].1;
    let created = before
        .post(
            "/authorization",
            Some(&admin),
            json!({"type": "deploy_key", "name": "blog", "data": {"key": key}}),
        )
        .await;
    let auth_id = created.expect(201)["id"].as_str().unwrap().to_string();
    before.running.stop().await.unwrap();

    let dir = std::env::temp_dir().join(slipway_tests::unique_name("slipway-rotate"));
    std::fs::create_dir_all(&dir).unwrap();
    let old_file = dir.join("old.secret");
    std::fs::write(&old_file, format!("{OLD}\n")).unwrap();
    let mut args = Args::defaults();
    args.database_url = url.clone();
    args.secret = Some(NEW.to_string());
    args.github_url = gh.clone();
    args.github_api_url = gh.clone();

    // While serving, --previous-secret-file keeps old credentials readable.
    let during = {
        let (url, gh, old_file) = (url.clone(), gh.clone(), old_file.clone());
        TestServer::start_with(
            move |a| {
                a.database_url = url;
                a.secret = Some(NEW.to_string());
                a.previous_secret_file = Some(old_file);
                a.github_url = gh.clone();
                a.github_api_url = gh;
            },
            |b| b,
        )
        .await
    };
    let token = signin(&during).await;
    let slipway = &during.running.slipway;
    let principal = slipway.accounts().verify_token(&token).await.unwrap();
    let secret = slipway
        .authorizations()
        .reveal(&principal, &auth_id.as_str().into())
        .await;
    assert_eq!(
        secret.expect("opens with the previous secret").expose(),
        key
    );
    during.running.stop().await.unwrap();

    // The old secret is required.
    let refused = slipway_server::commands::rotate_secret(&args).await;
    assert!(format!("{:#}", refused.unwrap_err()).contains("--previous-secret-file"));

    args.previous_secret_file = Some(old_file.clone());
    let report = slipway_server::commands::rotate_secret(&args)
        .await
        .unwrap();
    assert!(
        report.contains("re-sealed 1 stored credential(s) and 1 GitHub app secret"),
        "{report}"
    );
    // Everything is under the new key now: nothing left to re-seal.
    let report = slipway_server::commands::rotate_secret(&args)
        .await
        .unwrap();
    assert!(
        report.contains("re-sealed 0 stored credential(s) and 0 GitHub app secret"),
        "{report}"
    );
    std::fs::remove_dir_all(&dir).unwrap();

    // A server with only the new secret opens both.
    let after = server(&url, NEW, &gh).await;
    let signin = after
        .post(
            "/auth/signin",
            None,
            json!({"email": "admin@example.com", "password": "password-admin"}),
        )
        .await;
    let token = signin.expect(200)["accessToken"]
        .as_str()
        .unwrap()
        .to_string();
    let slipway = &after.running.slipway;
    let principal = slipway.accounts().verify_token(&token).await.unwrap();
    let secret = slipway
        .authorizations()
        .reveal(&principal, &auth_id.as_str().into())
        .await
        .expect("the deploy key opens under the new secret");
    assert_eq!(secret.expose(), key);
    let user = fake.add_user("octo", "octo@example.com", true);
    let code = fake.issue_code(&client_id, user, &["repo", "user:email"]);
    after
        .post("/auth/github", None, json!({ "code": code }))
        .await
        .expect(200);
}
