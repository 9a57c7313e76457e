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

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine as _;
use serde_json::{json, Value};

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

/// Counts the hit and applies a configured failure, if any.
async fn gate(state: &Shared, endpoint: Endpoint) -> Option<Response> {
    let failure = {
        let mut st = state.lock().unwrap();
        *st.hits.entry(endpoint).or_default() += 1;
        st.failures.get(&endpoint).copied()
    };
    match failure? {
        Failure::ServerError => Some(
            (
                StatusCode::BAD_GATEWAY,
                [(header::CONTENT_TYPE, "text/html")],
                "<html><body><h1>502 Bad Gateway</h1></body></html>",
            )
                .into_response(),
        ),
        Failure::Hang => {
            std::future::pending::<()>().await;
            None
        }
        Failure::Malformed => Some(
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
                r#"{"access_token": "gho_trunc"#,
            )
                .into_response(),
        ),
    }
}

fn oauth_error(name: &str, description: &str, anchor: &str, as_json: bool) -> Response {
    let uri = format!(
        "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#{anchor}"
    );
    if as_json {
        axum::Json(json!({"error": name, "error_description": description, "error_uri": uri}))
            .into_response()
    } else {
        let body = url_form(&[
            ("error", name),
            ("error_description", description),
            ("error_uri", &uri),
        ]);
        (
            [(header::CONTENT_TYPE, "application/x-www-form-urlencoded")],
            body,
        )
            .into_response()
    }
}

fn url_form(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// Client credentials from the form, or from HTTP Basic auth.
fn credentials(headers: &HeaderMap, form: &HashMap<String, String>) -> (String, String) {
    if let Some(basic) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    {
        if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(basic) {
            let text = String::from_utf8_lossy(&bytes).to_string();
            if let Some((id, secret)) = text.split_once(':') {
                let dec = |s: &str| {
                    url::form_urlencoded::parse(format!("x={s}").as_bytes())
                        .next()
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default()
                };
                return (dec(id), dec(secret));
            }
        }
    }
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    (get("client_id"), get("client_secret"))
}

async fn token(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(r) = gate(&state, Endpoint::Token).await {
        return r;
    }
    let as_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let (client_id, client_secret) = credentials(&headers, &form);
    let mut st = state.lock().unwrap();
    if st.apps.get(&client_id) != Some(&client_secret) || client_secret.is_empty() {
        return oauth_error(
            "incorrect_client_credentials",
            "The client_id and/or client_secret passed are incorrect.",
            "incorrect-client-credentials",
            as_json,
        );
    }
    let code = form.get("code").cloned().unwrap_or_default();
    let grant = match st.codes.get(&code) {
        Some((owner, _)) if *owner == client_id => st.codes.remove(&code).map(|(_, g)| g),
        _ => None,
    };
    let Some(grant) = grant else {
        return oauth_error(
            "bad_verification_code",
            "The code passed is incorrect or expired.",
            "bad-verification-code",
            as_json,
        );
    };
    let access_token = random("gho_", 36);
    let scope = grant.scopes.clone().unwrap_or_default().join(",");
    st.tokens.insert(access_token.clone(), grant);
    st.secrets.insert(access_token.clone());
    if as_json {
        axum::Json(json!({"access_token": access_token, "token_type": "bearer", "scope": scope}))
            .into_response()
    } else {
        let body = url_form(&[
            ("access_token", &access_token),
            ("scope", &scope),
            ("token_type", "bearer"),
        ]);
        (
            [(header::CONTENT_TYPE, "application/x-www-form-urlencoded")],
            body,
        )
            .into_response()
    }
}

fn api_error(status: StatusCode, message: &str) -> Response {
    let mut r = (
        status,
        axum::Json(json!({
            "message": message,
            "documentation_url": "https://docs.github.com/rest",
            "status": status.as_u16().to_string(),
        })),
    )
        .into_response();
    common_headers(r.headers_mut());
    r
}

fn common_headers(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    h.insert(
        "x-github-media-type",
        HeaderValue::from_static("github.v3; format=json"),
    );
    h.insert(
        "x-github-api-version-selected",
        HeaderValue::from_static("2022-11-28"),
    );
    h.insert("x-ratelimit-limit", HeaderValue::from_static("5000"));
    h.insert("x-ratelimit-remaining", HeaderValue::from_static("4999"));
}

/// The grant and user behind the request's token, or the 401 to answer.
fn authenticate(st: &FakeState, headers: &HeaderMap) -> Result<(Grant, FakeUser), Box<Response>> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("token "))
        })
        .unwrap_or("");
    let grant = st
        .tokens
        .get(token)
        .cloned()
        .ok_or_else(|| Box::new(api_error(StatusCode::UNAUTHORIZED, "Bad credentials")))?;
    let user = st
        .users
        .get(&grant.user_id)
        .cloned()
        .ok_or_else(|| Box::new(api_error(StatusCode::UNAUTHORIZED, "Bad credentials")))?;
    Ok((grant, user))
}

fn with_scopes(mut r: Response, grant: &Grant) -> Response {
    common_headers(r.headers_mut());
    if let Some(scopes) = &grant.scopes {
        let v = HeaderValue::from_str(&scopes.join(", ")).unwrap();
        r.headers_mut().insert("x-oauth-scopes", v);
        r.headers_mut()
            .insert("x-accepted-oauth-scopes", HeaderValue::from_static(""));
    }
    r
}

async fn user(State(state): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(r) = gate(&state, Endpoint::User).await {
        return r;
    }
    let st = state.lock().unwrap();
    let (grant, u) = match authenticate(&st, &headers) {
        Ok(found) => found,
        Err(r) => return *r,
    };
    let public_email: Value = u
        .emails
        .iter()
        .find(|e| e.1)
        .map(|e| json!(e.0))
        .unwrap_or(Value::Null);
    let body = json!({
        "login": u.login,
        "id": u.id,
        "node_id": format!("MDQ6VXNlcj{}", u.id),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{}?v=4", u.id),
        "gravatar_id": "",
        "url": format!("https://api.github.com/users/{}", u.login),
        "html_url": format!("https://github.com/{}", u.login),
        "type": "User",
        "site_admin": false,
        "name": u.name,
        "company": null,
        "blog": "",
        "location": null,
        "email": public_email,
        "hireable": null,
        "bio": null,
        "twitter_username": null,
        "public_repos": 2,
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "created_at": "2011-01-25T18:44:36Z",
        "updated_at": "2024-01-22T12:00:00Z"
    });
    with_scopes(axum::Json(body).into_response(), &grant)
}

async fn emails(State(state): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(r) = gate(&state, Endpoint::Emails).await {
        return r;
    }
    let st = state.lock().unwrap();
    let (grant, u) = match authenticate(&st, &headers) {
        Ok(found) => found,
        Err(r) => return *r,
    };
    if let Some(scopes) = &grant.scopes {
        if !scopes.iter().any(|s| s == "user:email" || s == "user") {
            return with_scopes(api_error(StatusCode::NOT_FOUND, "Not Found"), &grant);
        }
    }
    let list: Vec<Value> = u
        .emails
        .iter()
        .map(|(email, primary, verified)| {
            json!({
                "email": email,
                "primary": primary,
                "verified": verified,
                "visibility": if *primary { json!("public") } else { Value::Null },
            })
        })
        .collect();
    with_scopes(axum::Json(Value::Array(list)).into_response(), &grant)
}
