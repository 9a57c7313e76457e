//! The HTTP scenarios and the baselines they are compared with.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use serde_json::json;
use slipway_core::Slipway;

use crate::load::{self, request, Conn, LoadResult, MakeRequest};
use crate::paired::{Pair, Paired};
use crate::report::Row;
use crate::servers::{Host, Mode, Server, BASELINE_PATH};
use crate::stack;

/// Settings shared by every scenario.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    /// How servers are started.
    pub(crate) mode: Mode,
    /// An external Slipway server instead of starting one.
    pub(crate) external: Option<SocketAddr>,
    /// The instance secret given to every server started here.
    pub(crate) secret: String,
    /// Concurrent connections.
    pub(crate) connections: usize,
    /// Unmeasured time at the start of each scenario.
    pub(crate) warmup: Duration,
    /// Measured time of each scenario.
    pub(crate) duration: Duration,
    /// Whether the same-store baselines (g) and (h) make the reads core
    /// makes before the store call (the user).
    pub(crate) core_reads: bool,
}

/// The stores that get same-store handler baselines.
pub(crate) fn has_store_baseline(store: &str) -> bool {
    matches!(store, "postgres" | "sqlite" | "redis")
}

/// The name of baseline (a)'s row.
pub(crate) const BASELINE_A: &str = "baseline (a): axum + JWT verify";

static UNIQUE: AtomicU64 = AtomicU64::new(0);

/// A value unique to this run (for emails, source ids), also across runs
/// against the same database.
pub(crate) fn unique() -> String {
    static RUN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let run = RUN.get_or_init(|| slipway_core::crypto::random_token(8).to_lowercase());
    format!("{run}-{}", UNIQUE.fetch_add(1, Ordering::Relaxed))
}

/// A signed-up user of a server under test.
pub(crate) struct Account {
    /// The email.
    pub(crate) email: String,
    /// The password.
    pub(crate) password: String,
    /// An access token.
    pub(crate) token: String,
}

/// Signs a new user up.
pub(crate) async fn signup(conn: &mut Conn) -> anyhow::Result<Account> {
    let email = format!("bench-{}@example.com", unique());
    let password = "correct horse battery staple".to_string();
    let body = json!({"name": "Bench", "email": email, "password": password});
    let v = conn
        .json(
            request(
                Method::POST,
                "/auth/signup",
                None,
                Some(body.to_string().into_bytes()),
            ),
            StatusCode::CREATED,
        )
        .await?;
    let token = v["accessToken"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("signup answered no accessToken: {v}"))?
        .to_string();
    Ok(Account {
        email,
        password,
        token,
    })
}

/// The body of a `POST /project` with sources unique to `tag`.
pub(crate) fn project_body(tag: &str) -> Vec<u8> {
    json!({
        "name": format!("bench {tag}"),
        "description": "a project created by slipway-bench",
        "sourceId": format!("src-{tag}"),
        "vmId": format!("vm-{tag}"),
    })
    .to_string()
    .into_bytes()
}

/// Creates a project; `None` when this server has no `POST /project` yet.
pub(crate) async fn create_project(conn: &mut Conn, token: &str) -> anyhow::Result<Option<String>> {
    let tag = unique();
    let (status, body) = conn
        .send(request(
            Method::POST,
            "/project",
            Some(token),
            Some(project_body(&tag)),
        ))
        .await?;
    match status {
        StatusCode::CREATED => {
            let v: serde_json::Value = serde_json::from_slice(&body)?;
            Ok(v["id"].as_str().map(str::to_string))
        }
        StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => Ok(None),
        other => anyhow::bail!(
            "POST /project answered {other}: {}",
            String::from_utf8_lossy(&body)
        ),
    }
}

/// `database_url` with `{unique}` replaced by a value unique to this run:
/// SQLite URLs name a fresh file per server that way (one server per file).
pub(crate) fn resolve(database_url: &str) -> String {
    if database_url.contains("{unique}") {
        database_url.replace("{unique}", &unique())
    } else {
        database_url.to_string()
    }
}

impl Ctx {
    /// Starts a fresh Slipway server on `database_url` (see [`resolve`]), or
    /// uses the external one.
    pub(crate) async fn start(&self, database_url: &str) -> anyhow::Result<Server> {
        self.start_on(database_url, Host::Axum).await
    }

    /// [`Ctx::start`] with Slipway served by `host` (an external server is
    /// served by whatever it runs).
    pub(crate) async fn start_on(&self, database_url: &str, host: Host) -> anyhow::Result<Server> {
        match self.external {
            Some(addr) => Ok(Server::External { addr }),
            None => Server::slipway_on(self.mode, &self.secret, &resolve(database_url), host).await,
        }
    }

    /// Runs one load against `server`, with RSS before and after.
    async fn measure(
        &self,
        server: &Server,
        name: &str,
        store: &str,
        make: MakeRequest,
        expect: StatusCode,
    ) -> Row {
        let before = server.rss_kib();
        let r = load::run(
            server.addr(),
            self.connections,
            self.warmup,
            self.duration,
            make,
            expect,
        )
        .await;
        let mut row = Row::from_load(name, store, self.connections, &r);
        row.rss_before_kib = before;
        row.rss_after_kib = server.rss_kib();
        row
    }

    /// Requests for baseline (a): a token minted with the same key and claims
    /// as Slipway's.
    pub(crate) fn baseline_requests(&self) -> anyhow::Result<MakeRequest> {
        let slipway = Slipway::builder()
            .secret(self.secret.as_bytes().to_vec())
            .store(slipway_core::MemoryStore::new())
            .build()?;
        let user = slipway_core::model::User {
            id: "0b6c3c1e-6a4e-4f0e-9d1e-2f1f5d7b9a10".into(),
            name: "Bench".into(),
            email: "bench@example.com".into(),
            role: slipway_core::model::Role::Member,
            password_hash: None,
            github_id: None,
            created_at: chrono::Utc::now(),
            disabled: false,
            session_epoch: 0,
        };
        let token = slipway.issue_token(&user, None);
        Ok(Arc::new(move |_, _| {
            request(Method::GET, BASELINE_PATH, Some(&token), None)
        }))
    }

    /// Baseline (a): the bare axum server verifying the same JWT.
    pub(crate) async fn baseline_jwt(&self) -> anyhow::Result<Row> {
        let server = Server::baseline(self.mode, &self.secret).await?;
        let make = self.baseline_requests()?;
        let row = self
            .measure(&server, BASELINE_A, "-", make, StatusCode::OK)
            .await;
        server.stop().await;
        Ok(row)
    }

    /// Authenticated read: `GET /project/{id}`, or `GET /auth/me` while this
    /// server has no projects, measured interleaved with its baselines: (c)
    /// on PostgreSQL, (d) on SQLite (the SELECT of the same project), (a)
    /// elsewhere; and on PostgreSQL, SQLite and Redis also (f), the same
    /// request to a handler doing the store's work.
    pub(crate) async fn authenticated_read(&self, db: &str, store: &str) -> anyhow::Result<Paired> {
        let db = &resolve(db);
        let server = self.start(db).await?;
        let mut conn = Conn::open(server.addr()).await?;
        let account = signup(&mut conn).await?;
        let token = account.token.clone();
        let project = create_project(&mut conn, &token).await?;
        let (name, make): (&str, MakeRequest) = match project.clone() {
            Some(id) => {
                let path = format!("/project/{id}");
                (
                    "GET /project/{id}",
                    Arc::new(move |_, _| request(Method::GET, &path, Some(&token), None)),
                )
            }
            None => (
                "GET /auth/me",
                Arc::new(move |_, _| request(Method::GET, "/auth/me", Some(&token), None)),
            ),
        };
        drop(conn);
        let mut pairs = match (&project, store) {
            (Some(project_id), "postgres") => vec![Pair::Select { db, project_id }],
            (Some(project_id), "sqlite") => vec![Pair::SqliteSelect { db, project_id }],
            _ => vec![Pair::JwtServer],
        };
        if project.is_some() && has_store_baseline(store) && self.external.is_none() {
            pairs.push(Pair::SameStore {
                db,
                store,
                request: stack::Request::Read,
            });
        }
        let mut paired = self
            .paired_with(&server, name, store, (make, StatusCode::OK), pairs)
            .await?;
        if name == "GET /auth/me" {
            paired.rows[0].add_note(
                "no POST /project on this server yet: the authenticated read is GET /auth/me",
            );
        }
        server.stop().await;
        Ok(paired)
    }

    /// `GET /project` listing 50 projects (`None` without project endpoints);
    /// on PostgreSQL, SQLite and Redis measured interleaved with baseline
    /// (g), the same request to a handler doing the store's work.
    pub(crate) async fn list_projects(
        &self,
        db: &str,
        store: &str,
    ) -> anyhow::Result<Option<Paired>> {
        let db = &resolve(db);
        let server = self.start(db).await?;
        let mut conn = Conn::open(server.addr()).await?;
        let account = signup(&mut conn).await?;
        for _ in 0..50 {
            if create_project(&mut conn, &account.token).await?.is_none() {
                server.stop().await;
                return Ok(None);
            }
        }
        let listed = conn
            .json(
                request(Method::GET, "/project", Some(&account.token), None),
                StatusCode::OK,
            )
            .await?;
        let n = listed.as_array().map(Vec::len).unwrap_or(0);
        drop(conn);
        let token = account.token.clone();
        let make: MakeRequest =
            Arc::new(move |_, _| request(Method::GET, "/project", Some(&token), None));
        let name = "GET /project (50 projects)";
        let mut paired = if has_store_baseline(store) && self.external.is_none() {
            let pair = Pair::SameStore {
                db,
                store,
                request: stack::Request::List,
            };
            self.paired_with(&server, name, store, (make, StatusCode::OK), vec![pair])
                .await?
        } else {
            let row = self
                .measure(&server, name, store, make, StatusCode::OK)
                .await;
            Paired {
                rows: vec![row],
                bases: Vec::new(),
            }
        };
        if n != 50 {
            paired.rows[0].add_note(format!("the listing held {n} projects, not 50"));
        }
        server.stop().await;
        Ok(Some(paired))
    }

    /// `POST /project`, each with unique ids (`None` without the endpoint);
    /// on SQLite measured interleaved with baseline (e), the same insert by
    /// sqlx on the same file, and on PostgreSQL, SQLite and Redis with
    /// baseline (h), the same requests to a handler doing the store's work.
    pub(crate) async fn create_projects(
        &self,
        db: &str,
        store: &str,
    ) -> anyhow::Result<Option<Paired>> {
        let db = &resolve(db);
        let server = self.start(db).await?;
        let mut conn = Conn::open(server.addr()).await?;
        let account = signup(&mut conn).await?;
        if create_project(&mut conn, &account.token).await?.is_none() {
            server.stop().await;
            return Ok(None);
        }
        let me = conn
            .json(
                request(Method::GET, "/auth/me", Some(&account.token), None),
                StatusCode::OK,
            )
            .await?;
        let owner_id = me["id"].as_str().unwrap_or_default().to_string();
        drop(conn);
        let token = account.token.clone();
        let run = unique();
        // Unique across loads: a paired measurement runs several, and the
        // same-store baseline sends these very requests.
        let n = Arc::new(AtomicU64::new(0));
        let make: MakeRequest = Arc::new(move |_, _| {
            let tag = format!("{run}-{}", n.fetch_add(1, Ordering::Relaxed));
            request(
                Method::POST,
                "/project",
                Some(&token),
                Some(project_body(&tag)),
            )
        });
        let mut pairs = Vec::new();
        if store == "sqlite" {
            pairs.push(Pair::SqliteInsert {
                db,
                owner_id: &owner_id,
            });
        }
        if has_store_baseline(store) && self.external.is_none() {
            pairs.push(Pair::SameStore {
                db,
                store,
                request: stack::Request::Create,
            });
        }
        let paired = if pairs.is_empty() {
            let row = self
                .measure(&server, "POST /project", store, make, StatusCode::CREATED)
                .await;
            Paired {
                rows: vec![row],
                bases: Vec::new(),
            }
        } else {
            self.paired_with(
                &server,
                "POST /project",
                store,
                (make, StatusCode::CREATED),
                pairs,
            )
            .await?
        };
        server.stop().await;
        Ok(Some(paired))
    }

    /// Sign-ins with the right password, connection `i` signing in as
    /// `accounts[i % len]`.
    fn signin_request(accounts: &[Account]) -> MakeRequest {
        let bodies: Vec<Vec<u8>> = accounts
            .iter()
            .map(|a| {
                json!({"email": a.email, "password": a.password})
                    .to_string()
                    .into_bytes()
            })
            .collect();
        Arc::new(move |conn, _| {
            let body = bodies[conn % bodies.len()].clone();
            request(Method::POST, "/auth/signin", None, Some(body))
        })
    }

    /// One account per connection (up to 32): users signing in at once.
    /// Concurrent sign-ins of one account are capped by design (at most
    /// `signin_max_failures` in flight per email and address, the rest wait
    /// their turn), which would measure the limiter, not the server.
    async fn signin_accounts(&self, addr: std::net::SocketAddr) -> anyhow::Result<Vec<Account>> {
        let mut conn = Conn::open(addr).await?;
        let mut accounts = Vec::new();
        for _ in 0..self.connections.clamp(1, 32) {
            accounts.push(signup(&mut conn).await?);
        }
        Ok(accounts)
    }

    /// `POST /auth/signin` with the right password, back to back, measured
    /// interleaved with baseline (b). Returns the row and baseline (b)'s row.
    pub(crate) async fn signin(&self, db: &str, store: &str) -> anyhow::Result<(Row, Row)> {
        let server = self.start(db).await?;
        let accounts = self.signin_accounts(server.addr()).await?;
        let make = Self::signin_request(&accounts);
        let paired = self
            .paired_with(
                &server,
                "POST /auth/signin",
                store,
                (make, StatusCode::OK),
                vec![Pair::Hashes],
            )
            .await;
        server.stop().await;
        let mut paired = paired?;
        Ok((paired.rows.remove(0), paired.bases.remove(0)))
    }

    /// `GET /health` on one connection while sign-ins on every other
    /// connection saturate the CPUs; the row holds the health latencies.
    pub(crate) async fn health_under_signin(&self, db: &str, store: &str) -> anyhow::Result<Row> {
        let server = self.start(db).await?;
        let accounts = self.signin_accounts(server.addr()).await?;
        let before = server.rss_kib();
        let addr = server.addr();
        let signins = load::run(
            addr,
            self.connections,
            self.warmup,
            self.duration,
            Self::signin_request(&accounts),
            StatusCode::OK,
        );
        let health: MakeRequest = Arc::new(|_, _| request(Method::GET, "/health", None, None));
        let health = load::run(addr, 1, self.warmup, self.duration, health, StatusCode::OK);
        let (signins, health) = tokio::join!(signins, health);
        let mut row = Row::from_load("GET /health under sign-in load", store, 1, &health);
        row.rss_before_kib = before;
        row.rss_after_kib = server.rss_kib();
        row.target = Some("p99 < 10 ms".into());
        row.met = row.p99_ms.map(|p| p < 10.0);
        row.add_note(format!(
            "meanwhile {} connections signed in at {:.1}/s ({} errors)",
            self.connections,
            signins.rps(),
            signins.errors
        ));
        server.stop().await;
        Ok(row)
    }
}

/// The name of baseline (b)'s row.
pub(crate) const BASELINE_B: &str = "baseline (b): argon2id hashes";

/// Baseline (b): raw argon2id hashes with Slipway's parameters, one blocking
/// thread per CPU hashing back to back until `duration` has passed. The
/// window is the time until the last hash finished.
pub(crate) async fn argon2_hashes(duration: Duration) -> anyhow::Result<LoadResult> {
    let params = slipway_core::Argon2Params::default();
    let until = Instant::now() + duration;
    let mut tasks = Vec::new();
    for _ in 0..cpus() {
        tasks.push(tokio::task::spawn_blocking(
            move || -> anyhow::Result<Vec<Duration>> {
                use argon2::password_hash::{PasswordHasher as _, SaltString};
                let p = argon2::Params::new(
                    params.memory_kib,
                    params.iterations,
                    params.parallelism,
                    None,
                )
                .map_err(|e| anyhow::anyhow!("{e}"))?;
                let argon =
                    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, p);
                let mut times = Vec::new();
                while Instant::now() < until {
                    let t0 = Instant::now();
                    let salt = SaltString::generate(&mut rand::rngs::OsRng);
                    argon
                        .hash_password(b"correct horse battery staple", &salt)
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    times.push(t0.elapsed());
                }
                Ok(times)
            },
        ));
    }
    let started = Instant::now();
    let mut out = LoadResult::empty(Duration::ZERO);
    for t in tasks {
        for d in t.await?? {
            out.latencies.saturating_record(d.as_micros().max(1) as u64);
        }
    }
    out.window = started.elapsed();
    Ok(out)
}

/// CPUs of this machine (one baseline (b) thread each).
pub(crate) fn cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Baseline (b)'s row from its hashes.
pub(crate) fn baseline_b_row(r: &LoadResult) -> Row {
    let params = slipway_core::Argon2Params::default();
    let cpus = cpus();
    let mut row = Row::from_load(BASELINE_B, "-", cpus, r);
    row.add_note(format!(
        "m={} KiB, t={}, p={}, {cpus} blocking threads",
        params.memory_kib, params.iterations, params.parallelism
    ));
    row
}
