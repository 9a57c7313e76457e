//! Black-box test harness: starts a real slipway-server in-process on
//! 127.0.0.1:0 and drives it over HTTP with reqwest.
//!
//! The store and adapter under test come from the environment, so the same
//! suite runs unchanged against every combination (`scripts/test` loops):
//!
//! | variable | values | default |
//! |---|---|---|
//! | `SLIPWAY_TEST_STORE` | `memory`, `sqlite`, `postgres`, `redis` | `memory` |
//! | `SLIPWAY_TEST_ADAPTER` | `axum`, `warp` | `axum` |
//!
//! Every answer read through [`TestServer::call`] (and its shorthands) or
//! [`TestServer::answer`] is checked against the server's own
//! `/openapi.json` (see [`openapi`]): the operation and its status must be
//! documented and the JSON body must match the documented schema. There is
//! no opt-out: a new endpoint, status or field must be documented first.
//! [`dns::FakeDns`] stands in for public DNS in domain verification tests.

pub mod fake_github;

pub mod dns;
pub mod logs;
pub mod openapi;

use std::time::Duration;

use reqwest::{header::HeaderMap, Method, StatusCode};
use serde_json::{json, Value};
use slipway_core::SlipwayBuilder;
use slipway_server::{Args, Running};

/// What the store at `url` (a fresh database of the store under test) keeps,
/// as text, to look for values that must not be there: the whole SQLite file
/// (with its WAL), the rows of the PostgreSQL table `pg_table` as JSON, or
/// every value of every Redis key under the instance's prefix; `None` for
/// the memory store.
pub async fn stored_text(url: &str, pg_table: &str) -> Option<String> {
    match store_kind().as_str() {
        "sqlite" => {
            let path = slipway_sqlite::path_from_url(url).unwrap();
            let mut all = Vec::new();
            for suffix in ["", "-wal"] {
                let mut p = path.clone().into_os_string();
                p.push(suffix);
                if let Ok(bytes) = std::fs::read(&p) {
                    all.extend(bytes);
                }
            }
            Some(String::from_utf8_lossy(&all).into_owned())
        }
        "postgres" => {
            use slipway_postgres::sqlx::{self, Connection as _};
            assert!(
                pg_table
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_'),
                "a table name"
            );
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            let text: String = sqlx::query_scalar(&format!(
                "SELECT coalesce(string_agg(row_to_json(t)::text, ' '), '') FROM {pg_table} t"
            ))
            .fetch_one(&mut conn)
            .await
            .unwrap();
            Some(text)
        }
        "redis" => {
            let base = std::env::var("SLIPWAY_TEST_REDIS_URL").unwrap();
            let prefix = url.split("prefix=").nth(1).unwrap().to_string();
            let client = slipway_redis::redis::Client::open(base).unwrap();
            let mut conn = client.get_multiplexed_async_connection().await.unwrap();
            // Every value under the prefix, whatever its type.
            let text: String = slipway_redis::redis::Script::new(
                r"
                local out = {}
                for _, key in ipairs(redis.call('KEYS', ARGV[1] .. ':*')) do
                  local t = redis.call('TYPE', key).ok
                  local v
                  if t == 'string' then v = {redis.call('GET', key)}
                  elseif t == 'hash' then v = redis.call('HGETALL', key)
                  elseif t == 'zset' then v = redis.call('ZRANGE', key, 0, -1)
                  elseif t == 'set' then v = redis.call('SMEMBERS', key)
                  else v = {} end
                  table.insert(out, key)
                  for _, x in ipairs(v) do table.insert(out, x) end
                end
                return table.concat(out, ' ')
                ",
            )
            .arg(prefix)
            .invoke_async(&mut conn)
            .await
            .unwrap();
            Some(text)
        }
        _ => None,
    }
}

/// The store kind under test.
pub fn store_kind() -> String {
    std::env::var("SLIPWAY_TEST_STORE").unwrap_or_else(|_| "memory".into())
}

/// The adapter under test.
pub fn adapter_kind() -> String {
    std::env::var("SLIPWAY_TEST_ADAPTER").unwrap_or_else(|_| "axum".into())
}

/// A fresh, empty database URL for one test server of the store under test.
///
/// With SQLite the file's directory stays behind (under the system's
/// temporary directory); [`TestServer`] uses [`fresh_database`] instead,
/// which removes it with the server.
pub async fn fresh_database_url() -> String {
    let (url, dir) = fresh_database().await;
    if let Some(dir) = dir {
        dir.keep();
    }
    url
}

/// A fresh, empty database URL for one test server of the store under
/// test, and for SQLite the temporary directory holding the file (removed
/// when dropped).
pub async fn fresh_database() -> (String, Option<slipway_sqlite::testing::TempDb>) {
    if store_kind() == "sqlite" {
        let dir = slipway_sqlite::testing::TempDb::new()
            .unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"));
        return (dir.url(), Some(dir));
    }
    (fresh_database_url_of_server().await, None)
}

/// A fresh database URL on the server-based stores (and `memory:`).
async fn fresh_database_url_of_server() -> String {
    match store_kind().as_str() {
        "memory" => "memory:".to_string(),
        "redis" => {
            let base = std::env::var("SLIPWAY_TEST_REDIS_URL")
                .expect("SLIPWAY_TEST_STORE=redis needs SLIPWAY_TEST_REDIS_URL");
            let sep = if base.contains('?') { '&' } else { '?' };
            format!("{base}{sep}prefix={}", unique_name("slipway-test"))
        }
        "postgres" => {
            let admin = std::env::var(slipway_postgres::testing::URL_VAR).unwrap_or_else(|_| {
                panic!(
                    "SLIPWAY_TEST_STORE=postgres needs {}: the URL of a PostgreSQL server \
                     where the tests may create databases",
                    slipway_postgres::testing::URL_VAR
                )
            });
            slipway_postgres::testing::fresh_database(&admin)
                .await
                .unwrap_or_else(|e| panic!("cannot create a test database on PostgreSQL: {e}"))
        }
        other => panic!("SLIPWAY_TEST_STORE={other} is not supported by this build"),
    }
}

/// A name no other test server of this machine uses: `<stem>-<pid>-<nanos>-<n>`.
pub fn unique_name(stem: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{stem}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A test secret (32+ bytes), fixed so tests can reason about tokens.
pub const SECRET: &str = "test-secret-of-at-least-32-bytes-long!!";

/// Fast Argon2 parameters for tests that create many users.
pub fn fast_argon2() -> slipway_core::Argon2Params {
    slipway_core::Argon2Params {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    }
}

/// An HTTP answer: status, headers, JSON body (`Null` when empty).
#[derive(Debug)]
pub struct Answer {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body as JSON (`Value::String` with the raw text when not JSON).
    pub body: Value,
}

impl Answer {
    /// Asserts the status and Slipway's error body shape; returns the message.
    pub fn expect_error(&self, status: u16) -> String {
        assert_eq!(self.status.as_u16(), status, "unexpected answer: {self:?}");
        assert_eq!(self.body["statusCode"], json!(status), "{self:?}");
        assert_eq!(
            self.body["error"],
            json!(self.status.canonical_reason().unwrap()),
            "{self:?}"
        );
        let msg = self.body["message"].as_str().expect("message is a string");
        assert!(!msg.is_empty());
        assert_eq!(
            self.headers.get("content-type").unwrap(),
            "application/json",
            "errors are JSON"
        );
        msg.to_string()
    }

    /// Asserts the status; returns the body.
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "unexpected answer: {self:?}");
        &self.body
    }
}

/// A running server and a client for it.
pub struct TestServer {
    /// The server.
    pub running: Running,
    /// Base URL (`http://127.0.0.1:port`).
    pub url: String,
    /// HTTP client.
    pub client: reqwest::Client,
    /// The SQLite database's directory, removed after the server (declared
    /// last: dropped last).
    _db: Option<slipway_sqlite::testing::TempDb>,
}

impl TestServer {
    /// A server with default settings (and fast Argon2).
    pub async fn start() -> Self {
        Self::start_with(|_| {}, |b| b).await
    }

    /// A server with adjusted flags and builder.
    pub async fn start_with(
        args: impl FnOnce(&mut Args),
        builder: impl FnOnce(SlipwayBuilder) -> SlipwayBuilder,
    ) -> Self {
        let mut a = Args::defaults();
        a.secret = Some(SECRET.to_string());
        let (database_url, db) = fresh_database().await;
        a.database_url = database_url;
        a.listen = "127.0.0.1:0".parse().unwrap();
        // Never reach the real GitHub from a test: by default point it at a
        // closed loopback port (tests with a fake GitHub override these).
        a.github_url = "http://127.0.0.1:9".into();
        a.github_api_url = "http://127.0.0.1:9".into();
        args(&mut a);
        let slipway = slipway_server::build(&a, |b| builder(b.argon2(fast_argon2())))
            .await
            .expect("server builds");
        let running = slipway_server::spawn_adapter(&adapter_kind(), a.listen, slipway)
            .await
            .expect("server starts");
        let url = running.url();
        openapi::register(&url);
        Self {
            running,
            url,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            _db: db,
        }
    }

    /// Two servers on one fresh database of the store under test, when it
    /// is shared between nodes (PostgreSQL, Redis); `None`, with a notice
    /// naming `test`, on the memory store and SQLite (one server per file).
    pub async fn two_nodes(test: &str) -> Option<(TestServer, TestServer)> {
        let kind = store_kind();
        if kind == "memory" || kind == "sqlite" {
            eprintln!("skipped {test}: the {kind} store is not shared between nodes");
            return None;
        }
        let url = fresh_database_url().await;
        let u = url.clone();
        let a = TestServer::start_with(move |args| args.database_url = u, |b| b).await;
        let b = TestServer::start_with(move |args| args.database_url = url, |b| b).await;
        Some((a, b))
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut req = self
            .client
            .request(method.clone(), format!("{}{}", self.url, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let (url, answer) = Self::read(req.send().await.expect("request sent")).await;
        openapi::validate_answer(&url, Some(&method), answer.status.as_u16(), &answer.body).await;
        answer
    }

    /// Reads a response into an [`Answer`], checking it against the served
    /// OpenAPI document (any method of the path; see [`openapi`]).
    pub async fn answer(resp: reqwest::Response) -> Answer {
        let (url, answer) = Self::read(resp).await;
        openapi::validate_answer(&url, None, answer.status.as_u16(), &answer.body).await;
        answer
    }

    async fn read(resp: reqwest::Response) -> (reqwest::Url, Answer) {
        let url = resp.url().clone();
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body read");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (
            url,
            Answer {
                status,
                headers,
                body,
            },
        )
    }

    /// GET.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        self.call(Method::GET, path, token, None).await
    }
    /// POST with a JSON body.
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        self.call(Method::POST, path, token, Some(body)).await
    }
    /// PATCH with a JSON body.
    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        self.call(Method::PATCH, path, token, Some(body)).await
    }
    /// DELETE.
    pub async fn delete(&self, path: &str, token: Option<&str>) -> Answer {
        self.call(Method::DELETE, path, token, None).await
    }

    /// Signs up a user named `name` (email `<name>@example.com`, password
    /// `password-<name>`); returns the access token.
    pub async fn signup(&self, name: &str) -> String {
        let a = self
            .post(
                "/auth/signup",
                None,
                json!({"name": name, "email": format!("{name}@example.com"), "password": format!("password-{name}")}),
            )
            .await;
        a.expect(201)["accessToken"]
            .as_str()
            .expect("accessToken")
            .to_string()
    }
}
