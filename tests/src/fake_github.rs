//! A fake GitHub on 127.0.0.1:0 for the black-box suite: the OAuth token
//! endpoint, `GET /user` and `GET /user/emails`, with GitHub's response
//! shapes and headers, and switches to make each endpoint fail.
//!
//! As on the real GitHub:
//! - `POST /login/oauth/access_token` answers **200** even for errors, with
//!   `{"error": "incorrect_client_credentials" | "bad_verification_code", ...}`;
//!   JSON when asked with `Accept: application/json`, a form otherwise;
//!   every code works once.
//! - `GET /user` answers 401 `Bad credentials` for unknown tokens and carries
//!   `X-OAuth-Scopes` for classic tokens only (fine-grained tokens get none).
//! - `GET /user/emails` needs the `user:email` (or `user`) scope on classic
//!   tokens, else 404.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::routing::{get, post};
use axum::Router;

mod handlers;
use handlers::{emails, token, user};

/// An endpoint of the fake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST /login/oauth/access_token`.
    Token,
    /// `GET /user`.
    User,
    /// `GET /user/emails`.
    Emails,
}

/// How an endpoint misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Answers 502 with an HTML error page.
    ServerError,
    /// Never answers (longer than any configured timeout).
    Hang,
    /// Answers 200 `application/json` with a truncated JSON body.
    Malformed,
    /// Answers as usual, but with 2 MiB of whitespace before the JSON, sent
    /// in chunks with no `Content-Length`.
    Huge,
}

#[derive(Debug, Clone)]
struct FakeUser {
    id: i64,
    login: String,
    name: Option<String>,
    /// (email, primary, verified)
    emails: Vec<(String, bool, bool)>,
}

#[derive(Debug, Clone)]
struct Grant {
    user_id: i64,
    /// `None` for a fine-grained token.
    scopes: Option<Vec<String>>,
}

#[derive(Default)]
struct FakeState {
    apps: HashMap<String, String>,
    users: HashMap<i64, FakeUser>,
    codes: HashMap<String, (String, Grant)>,
    tokens: HashMap<String, Grant>,
    failures: HashMap<Endpoint, Failure>,
    hits: HashMap<Endpoint, usize>,
    secrets: HashSet<String>,
    next_id: i64,
}

type Shared = Arc<Mutex<FakeState>>;

/// A running fake GitHub; stops when dropped.
pub struct FakeGitHub {
    addr: SocketAddr,
    state: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn random(prefix: &str, n: usize) -> String {
    use rand::distributions::{Alphanumeric, Distribution};
    let s: String = Alphanumeric
        .sample_iter(rand::thread_rng())
        .take(n)
        .map(char::from)
        .collect();
    format!("{prefix}{s}")
}

impl FakeGitHub {
    /// Starts the fake on 127.0.0.1 with a free port.
    pub async fn start() -> Self {
        let state: Shared = Arc::new(Mutex::new(FakeState {
            next_id: 1000,
            ..FakeState::default()
        }));
        let app = Router::new()
            .route("/login/oauth/access_token", post(token))
            .route("/user", get(user))
            .route("/user/emails", get(emails))
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                handlers::pad_huge,
            ))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake GitHub");
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, state, task }
    }

    /// `http://127.0.0.1:<port>`: both the web and the API base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn st(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.state.lock().unwrap()
    }

    /// Registers an OAuth app; returns `(client_id, client_secret)`.
    pub fn add_app(&self) -> (String, String) {
        let id = random("Ov23li", 14);
        let secret = random("", 40);
        let mut st = self.st();
        st.apps.insert(id.clone(), secret.clone());
        st.secrets.insert(secret.clone());
        (id, secret)
    }

    /// Deletes an OAuth app (its credentials then answer
    /// `incorrect_client_credentials`).
    pub fn remove_app(&self, client_id: &str) {
        self.st().apps.remove(client_id);
    }

    /// Adds a GitHub user with one primary email; returns its account id.
    pub fn add_user(&self, login: &str, email: &str, verified: bool) -> i64 {
        let mut st = self.st();
        st.next_id += 1;
        let id = st.next_id;
        st.users.insert(
            id,
            FakeUser {
                id,
                login: login.to_string(),
                name: Some(format!("{login} (GitHub)")),
                emails: vec![(email.to_string(), true, verified)],
            },
        );
        id
    }

    /// Adds a further (non-primary) email to a user.
    pub fn add_email(&self, user_id: i64, email: &str, verified: bool) {
        let mut st = self.st();
        let u = st.users.get_mut(&user_id).expect("known fake user");
        u.emails.push((email.to_string(), false, verified));
    }

    /// Issues a one-time code for `client_id` that yields a classic token
    /// with `scopes` for the user.
    pub fn issue_code(&self, client_id: &str, user_id: i64, scopes: &[&str]) -> String {
        let code = random("", 20).to_lowercase();
        let grant = Grant {
            user_id,
            scopes: Some(scopes.iter().map(|s| s.to_string()).collect()),
        };
        let mut st = self.st();
        st.codes
            .insert(code.clone(), (client_id.to_string(), grant));
        st.secrets.insert(code.clone());
        code
    }

    /// Creates a personal access token: classic with `scopes`, or
    /// fine-grained (`None`).
    pub fn issue_token(&self, user_id: i64, scopes: Option<&[&str]>) -> String {
        let token = match scopes {
            Some(_) => random("ghp_", 36),
            None => random("github_pat_", 82),
        };
        let grant = Grant {
            user_id,
            scopes: scopes.map(|s| s.iter().map(|s| s.to_string()).collect()),
        };
        let mut st = self.st();
        st.tokens.insert(token.clone(), grant);
        st.secrets.insert(token.clone());
        token
    }

    /// Makes `endpoint` misbehave until [`FakeGitHub::heal`].
    pub fn fail(&self, endpoint: Endpoint, failure: Failure) {
        self.st().failures.insert(endpoint, failure);
    }

    /// Stops every failure.
    pub fn heal(&self) {
        self.st().failures.clear();
    }

    /// How many requests `endpoint` received.
    pub fn hits(&self, endpoint: Endpoint) -> usize {
        self.st().hits.get(&endpoint).copied().unwrap_or(0)
    }

    /// Every client secret, code and token this fake handed out.
    pub fn secrets(&self) -> Vec<String> {
        self.st().secrets.iter().cloned().collect()
    }

    /// A loopback URL where nothing listens (for "unreachable").
    pub async fn closed_url() -> String {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        format!("http://{addr}")
    }
}
