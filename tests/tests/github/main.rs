//! GitHub: OAuth app configuration, sign-in with GitHub, oauth and personal
//! access token authorizations, every failure of GitHub, against a fake
//! GitHub on loopback.
//!
//! Every test runs through [`Gh`], which records each response body, and ends
//! with [`Gh::finish`], which checks that no client secret, code or token any
//! test submitted appears in any response body or in any log line captured so
//! far (a TRACE subscriber for the slipway crates writes into a shared buffer).

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use serde_json::{json, Value};
use slipway_server::Args;
use slipway_tests::fake_github::FakeGitHub;
use slipway_tests::{Answer, TestServer};

mod authorizations;
mod configuration;
mod failures;
mod signin;

fn captured_log() -> String {
    slipway_tests::logs::captured()
}

/// Secrets submitted by any test of this binary, and every response body.
fn secrets() -> &'static Mutex<HashSet<String>> {
    static S: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    S.get_or_init(Default::default)
}
fn bodies() -> &'static Mutex<Vec<String>> {
    static B: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    B.get_or_init(Default::default)
}

/// A Slipway server wired to a fake GitHub.
pub(crate) struct Gh {
    pub(crate) s: TestServer,
    pub(crate) fake: FakeGitHub,
}

impl Gh {
    /// Server and fake with default settings.
    pub(crate) async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Server pointed at a fresh fake, then `adjust`ed.
    pub(crate) async fn start_with(adjust: impl FnOnce(&mut Args)) -> Self {
        slipway_tests::logs::install();
        let fake = FakeGitHub::start().await;
        let url = fake.url();
        let s = TestServer::start_with(
            |args| {
                args.github_url = url.clone();
                args.github_api_url = url;
                adjust(args);
            },
            |b| b,
        )
        .await;
        Self { s, fake }
    }

    fn record(a: &Answer) {
        let mut text = a.body.to_string();
        for (name, value) in &a.headers {
            text.push_str(&format!("\n{name}: {}", value.to_str().unwrap_or("")));
        }
        bodies().lock().unwrap().push(text);
    }

    pub(crate) async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        let a = self.s.post(path, token, body).await;
        Self::record(&a);
        a
    }

    pub(crate) async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        let a = self.s.get(path, token).await;
        Self::record(&a);
        a
    }

    /// Marks a value this test submits as secret.
    pub(crate) fn secret(&self, value: &str) {
        secrets().lock().unwrap().insert(value.to_string());
    }

    /// Signs up the first user (admin) and configures a fresh OAuth app.
    /// Returns (admin token, client id).
    pub(crate) async fn admin_with_app(&self) -> (String, String) {
        let admin = self.s.signup("admin").await;
        let (id, secret) = self.fake.add_app();
        self.post(
            "/configuration/github",
            Some(&admin),
            json!({"client_id": id, "client_secret": secret}),
        )
        .await
        .expect(200);
        (admin, id)
    }

    /// Signs in with a code for `user` of the fake.
    pub(crate) async fn signin(&self, client_id: &str, user: i64) -> Answer {
        let code = self
            .fake
            .issue_code(client_id, user, &["repo", "user:email"]);
        self.post("/auth/github", None, json!({ "code": code }))
            .await
    }

    /// The current user of a token.
    pub(crate) async fn me(&self, token: &str) -> Value {
        self.get("/auth/me", Some(token)).await.expect(200).clone()
    }

    /// Ends a test: nothing secret in any response or log line seen so far.
    pub(crate) fn finish(self) {
        {
            let mut all = secrets().lock().unwrap();
            all.extend(self.fake.secrets());
        }
        assert_no_leak();
    }
}

fn assert_no_leak() {
    let log = captured_log();
    let all = secrets().lock().unwrap().clone();
    let bodies = bodies().lock().unwrap().clone();
    for secret in all.iter().filter(|s| s.len() >= 8) {
        assert!(
            !log.contains(secret.as_str()),
            "a submitted secret appears in the log"
        );
        for body in &bodies {
            assert!(
                !body.contains(secret.as_str()),
                "a submitted secret appears in a response: {body}"
            );
        }
    }
}

/// The check itself sees what it must: log lines of the slipway crates are
/// captured (so a leak would be found), and a planted secret is found.
#[tokio::test]
async fn leak_check_sees_logs_and_responses() {
    let gh = Gh::start().await;
    let (admin, client_id) = gh.admin_with_app().await;
    let octo = gh.fake.add_user("octo", "octo@example.com", true);
    gh.signin(&client_id, octo).await.expect(200);
    let me = gh.me(&admin).await;
    let log = captured_log();
    assert!(
        log.contains("GitHub OAuth app configured") && log.contains(me["id"].as_str().unwrap()),
        "slipway's log lines are captured"
    );
    assert!(log.contains("signed in with GitHub"));
    // A value that does appear would be reported.
    let planted = client_id.clone();
    assert!(bodies()
        .lock()
        .unwrap()
        .iter()
        .any(|b| b.contains(&planted)));
    gh.finish();
}

/// Waits no longer than the fake's hang; used only as a configured timeout.
pub(crate) const SHORT_TIMEOUT: Duration = Duration::from_millis(400);
