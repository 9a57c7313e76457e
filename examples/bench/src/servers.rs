//! The servers under test: Slipway, the bare axum JWT baseline and the
//! same-store handler baseline (`stack.rs`), each run as a child process of
//! this binary (so its RSS is its own), in-process, or (Slipway only) an
//! external server given by URL.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::{HeaderMap, StatusCode};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Serialize;
use slipway_core::{Claims, Slipway};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, ChildStdin, Command};

/// The web framework serving Slipway in a child or in-process server: the
/// standalone server's axum host (every scenario), or its warp host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Host {
    /// `slipway_server::serve`.
    Axum,
    /// `slipway_server::host_warp::serve`.
    Warp,
}

impl Host {
    /// Serves `slipway` on `listener` with this host, in a task, until
    /// `shutdown` resolves.
    fn spawn(
        self,
        listener: TcpListener,
        slipway: Slipway,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        match self {
            Host::Axum => tokio::spawn(slipway_server::serve(listener, slipway, shutdown)),
            Host::Warp => tokio::spawn(slipway_server::host_warp::serve(
                listener, slipway, shutdown,
            )),
        };
    }
}

/// How the servers are started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// A child process of this binary (`slipway-bench serve ...`).
    Child,
    /// A task in this process (RSS then includes the load generator).
    InProcess,
}

/// A running server the load generator talks to.
pub(crate) enum Server {
    /// A child process.
    Child {
        /// The process.
        child: Box<Child>,
        /// Its stdin: closing it tells it to exit.
        stdin: Option<ChildStdin>,
        /// Where it listens.
        addr: SocketAddr,
    },
    /// A task of this process.
    InProcess {
        /// Where it listens.
        addr: SocketAddr,
        /// Stops it.
        stop: tokio::sync::oneshot::Sender<()>,
    },
    /// A server started by someone else.
    External {
        /// Where it listens.
        addr: SocketAddr,
    },
}

impl Server {
    /// Starts Slipway on the store `database_url`, served by `host`.
    pub(crate) async fn slipway_on(
        mode: Mode,
        secret: &str,
        database_url: &str,
        host: Host,
    ) -> anyhow::Result<Self> {
        Self::slipway_opts(mode, secret, database_url, None, None, host).await
    }

    /// Starts Slipway on the store `database_url`; on PostgreSQL with a
    /// pool of `pg_pool` connections (`None`: PgStore's default).
    pub(crate) async fn slipway_with_pool(
        mode: Mode,
        secret: &str,
        database_url: &str,
        pg_pool: Option<u32>,
    ) -> anyhow::Result<Self> {
        Self::slipway_opts(mode, secret, database_url, pg_pool, None, Host::Axum).await
    }

    /// Starts Slipway on the store `database_url` with the flat scenario's
    /// setup (`crate::flat::Setup` as JSON): seeded before it listens.
    pub(crate) async fn slipway_flat(
        mode: Mode,
        secret: &str,
        database_url: &str,
        flat: Option<&str>,
    ) -> anyhow::Result<Self> {
        Self::slipway_opts(mode, secret, database_url, None, flat, Host::Axum).await
    }

    async fn slipway_opts(
        mode: Mode,
        secret: &str,
        database_url: &str,
        pg_pool: Option<u32>,
        flat: Option<&str>,
        host: Host,
    ) -> anyhow::Result<Self> {
        match mode {
            Mode::Child => {
                let pool = pg_pool.map(|n| n.to_string());
                let mut args = vec!["serve", "--secret", secret, "--database-url", database_url];
                if host == Host::Warp {
                    args.extend(["--host", "warp"]);
                }
                if let Some(pool) = &pool {
                    args.extend(["--pg-max-connections", pool.as_str()]);
                }
                if let Some(flat) = flat {
                    args.extend(["--flat", flat]);
                }
                Self::child(&args).await
            }
            Mode::InProcess => {
                let slipway = build_slipway(secret, database_url, pg_pool, flat).await?;
                let listener = TcpListener::bind("127.0.0.1:0").await?;
                let addr = listener.local_addr()?;
                let (stop, rx) = tokio::sync::oneshot::channel::<()>();
                host.spawn(listener, slipway, async move {
                    let _ = rx.await;
                });
                Ok(Server::InProcess { addr, stop })
            }
        }
    }

    /// Starts the bare axum server that verifies the same JWT (baseline a).
    pub(crate) async fn baseline(mode: Mode, secret: &str) -> anyhow::Result<Self> {
        match mode {
            Mode::Child => Self::child(&["serve-baseline", "--secret", secret]).await,
            Mode::InProcess => Self::in_process(baseline_app(secret)?).await,
        }
    }

    /// Starts the same-store handler baseline (f, g, h) on `database_url`
    /// (the database of the Slipway server under test).
    pub(crate) async fn store_baseline(
        mode: Mode,
        secret: &str,
        database_url: &str,
        core_reads: bool,
    ) -> anyhow::Result<Self> {
        Self::store_baseline_with_pool(mode, secret, database_url, core_reads, None).await
    }

    /// [`Server::store_baseline`] whose PostgreSQL pool has `pg_pool`
    /// connections (`None`: PgStore's default).
    pub(crate) async fn store_baseline_with_pool(
        mode: Mode,
        secret: &str,
        database_url: &str,
        core_reads: bool,
        pg_pool: Option<u32>,
    ) -> anyhow::Result<Self> {
        match mode {
            Mode::Child => {
                let pool = pg_pool.map(|n| n.to_string());
                let mut args = vec![
                    "serve-store-baseline",
                    "--secret",
                    secret,
                    "--database-url",
                    database_url,
                ];
                if !core_reads {
                    args.push("--no-core-reads");
                }
                if let Some(pool) = &pool {
                    args.extend(["--pg-max-connections", pool.as_str()]);
                }
                Self::child(&args).await
            }
            Mode::InProcess => {
                let app = crate::stack::app(secret, database_url, core_reads, pg_pool).await?;
                Self::in_process(app).await
            }
        }
    }

    async fn in_process(app: axum::Router) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await
        });
        Ok(Server::InProcess { addr, stop })
    }

    async fn child(args: &[&str]) -> anyhow::Result<Self> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting the server child process")?;
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = lines
            .next_line()
            .await?
            .context("the server child exited before listening")?;
        let addr = line
            .strip_prefix("LISTENING ")
            .with_context(|| format!("unexpected first line from the server child: {line}"))?
            .parse()?;
        // Keep draining its stdout so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let stdin = child.stdin.take();
        Ok(Server::Child {
            child: Box::new(child),
            stdin,
            addr,
        })
    }

    /// Where the server listens.
    pub(crate) fn addr(&self) -> SocketAddr {
        match self {
            Server::Child { addr, .. }
            | Server::InProcess { addr, .. }
            | Server::External { addr } => *addr,
        }
    }

    /// The child process's id (`None` for a server in this process or an
    /// external one).
    pub(crate) fn pid(&self) -> Option<u32> {
        match self {
            Server::Child { child, .. } => child.id(),
            _ => None,
        }
    }

    /// The server's resident set size in KiB, when it can be read.
    pub(crate) fn rss_kib(&self) -> Option<u64> {
        match self {
            Server::Child { child, .. } => rss_kib(&format!("/proc/{}/status", child.id()?)),
            Server::InProcess { .. } => rss_kib("/proc/self/status"),
            Server::External { .. } => None,
        }
    }

    /// Stops the server (children exit when their stdin closes).
    pub(crate) async fn stop(self) {
        match self {
            Server::Child {
                mut child, stdin, ..
            } => {
                drop(stdin);
                let waited =
                    tokio::time::timeout(std::time::Duration::from_secs(5), child.wait()).await;
                if waited.is_err() {
                    let _ = child.kill().await;
                }
            }
            Server::InProcess { stop, .. } => {
                let _ = stop.send(());
            }
            Server::External { .. } => {}
        }
    }
}

/// `VmRSS` of a `/proc/<pid>/status` file, in KiB.
fn rss_kib(path: &str) -> Option<u64> {
    let status = std::fs::read_to_string(path).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The key prefix of the Redis store under test.
pub(crate) const REDIS_PREFIX: &str = "slipway-bench";

/// Builds the Slipway instance the standalone server would build. PostgreSQL
/// and Redis stores are opened here with their default options, so the bench
/// does not depend on which store features slipway-server was built with.
async fn build_slipway(
    secret: &str,
    database_url: &str,
    pg_pool: Option<u32>,
    flat: Option<&str>,
) -> anyhow::Result<Slipway> {
    let flat = flat.map(crate::flat::Setup::parse).transpose()?;
    let slipway = build_store(
        secret,
        database_url,
        pg_pool,
        flat.as_ref().and_then(|f| f.redis_prefix.as_deref()),
    )
    .await?;
    if let Some(seed) = flat.and_then(|f| f.seed) {
        seed.through_store(slipway.store()).await?;
    }
    Ok(slipway)
}

async fn build_store(
    secret: &str,
    database_url: &str,
    pg_pool: Option<u32>,
    redis_prefix: Option<&str>,
) -> anyhow::Result<Slipway> {
    let scheme = database_url.split(':').next().unwrap_or("");
    let mut pg_options = slipway_postgres::PgOptions::default();
    if let Some(n) = pg_pool {
        pg_options = pg_options.max_connections(n);
    }
    let store: Arc<dyn slipway_core::Store> = match scheme {
        "postgres" | "postgresql" => Arc::new(
            slipway_postgres::PgStore::connect(database_url, pg_options)
                .await
                .map_err(|e| anyhow::anyhow!("cannot open the PostgreSQL store: {e}"))?,
        ),
        "redis" | "rediss" => Arc::new(
            slipway_redis::RedisStore::connect(
                database_url,
                slipway_redis::RedisOptions {
                    prefix: redis_prefix.unwrap_or(REDIS_PREFIX).into(),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("cannot open the Redis store: {e}"))?,
        ),
        _ => {
            let mut args = slipway_server::Args::defaults();
            args.secret = Some(secret.to_string());
            args.database_url = database_url.to_string();
            return slipway_server::build(&args, bench_settings).await;
        }
    };
    Ok(bench_settings(
        Slipway::builder()
            .secret(secret.as_bytes().to_vec())
            .shared_store(store),
    )
    .build()?)
}

/// The one setting the bench changes: the fan-out and idle-socket scenarios
/// open thousands of sockets of one user, past the default per-user cap.
fn bench_settings(b: slipway_core::SlipwayBuilder) -> slipway_core::SlipwayBuilder {
    // The load generator signs up, signs in and connects from one address
    // as fast as it can: the per-address and per-user rate limits (and the
    // hash queue bound) would measure themselves, not the server.
    b.configure(|c| {
        c.ws_max_connections_per_user = 1_000_000;
        c.ws_connects_per_minute = u32::MAX;
        c.signup_max_per_addr = u32::MAX;
        c.signin_max_failures_per_addr = u32::MAX;
        c.max_queued_hashes = usize::MAX;
        // Raised, not lifted: every create still checks it, as in production.
        c.max_projects_per_user = crate::stack::MAX_PROJECTS;
    })
}

/// Waits until stdin is closed (the parent stopped or died).
async fn stdin_closed() {
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 64];
    while let Ok(n) = stdin.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
}

/// `slipway-bench serve`: Slipway as the standalone server serves it (without
/// request logging: no subscriber is installed), until stdin closes.
pub(crate) async fn serve_child(
    secret: &str,
    database_url: &str,
    pg_pool: Option<u32>,
    flat: Option<&str>,
    host: Host,
) -> anyhow::Result<()> {
    let slipway = build_slipway(secret, database_url, pg_pool, flat).await?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    println!("LISTENING {}", listener.local_addr()?);
    host.spawn(listener, slipway, std::future::pending());
    stdin_closed().await;
    // Open WebSockets would hold a graceful shutdown: just leave.
    std::process::exit(0);
}

/// `slipway-bench serve-baseline`: the bare axum JWT server, until stdin closes.
pub(crate) async fn serve_baseline_child(secret: &str) -> anyhow::Result<()> {
    let app = baseline_app(secret)?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    println!("LISTENING {}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    stdin_closed().await;
    std::process::exit(0);
}

/// `slipway-bench serve-store-baseline`: the same-store handler baseline,
/// until stdin closes.
pub(crate) async fn serve_store_baseline_child(
    secret: &str,
    database_url: &str,
    core_reads: bool,
    pg_pool: Option<u32>,
) -> anyhow::Result<()> {
    let app = crate::stack::app(secret, database_url, core_reads, pg_pool).await?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    println!("LISTENING {}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    stdin_closed().await;
    std::process::exit(0);
}

/// The path the baseline server answers on (any path works).
pub(crate) const BASELINE_PATH: &str = "/baseline";

/// Verifies Slipway's access tokens as Slipway does: the same HS256 key
/// (derived from the same secret), algorithm, issuer, required claims and
/// no leeway. Baseline (a) and the same-store baselines use it.
pub(crate) struct Verifier {
    key: DecodingKey,
    validation: Validation,
}

impl Verifier {
    /// The verifier of the tokens a Slipway with `secret` issues.
    pub(crate) fn new(secret: &str) -> anyhow::Result<Self> {
        // Build a Slipway with the same secret only to read the derived JWT key.
        let slipway = Slipway::builder()
            .secret(secret.as_bytes().to_vec())
            .store(slipway_core::MemoryStore::new())
            .build()?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_issuer(&[slipway.config().issuer.as_str()]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss"]);
        Ok(Verifier {
            key: DecodingKey::from_secret(&slipway.testing_jwt_key()),
            validation,
        })
    }

    /// The claims of the `Authorization: Bearer` token, when it verifies.
    pub(crate) fn verify(&self, headers: &HeaderMap) -> Option<Claims> {
        headers
            .get(http::header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "))
            .and_then(|t| jsonwebtoken::decode::<Claims>(t, &self.key, &self.validation).ok())
            .map(|data| data.claims)
    }
}

/// A fixed object shaped like a project, serialized per request.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Fixed {
    id: &'static str,
    name: &'static str,
    description: &'static str,
    path: Option<&'static str>,
    source_id: &'static str,
    vm_id: &'static str,
    networks: [u8; 0],
    created_at: &'static str,
    updated_at: &'static str,
}

const FIXED: Fixed = Fixed {
    id: "0b6c3c1e-6a4e-4f0e-9d1e-2f1f5d7b9a10",
    name: "bench project",
    description: "a fixed object",
    path: None,
    source_id: "bench-source",
    vm_id: "bench-vm",
    networks: [],
    created_at: "2026-01-01T00:00:00Z",
    updated_at: "2026-01-01T00:00:00Z",
};

/// Baseline (a): verifies the same HS256 JWT as Slipway (same key, algorithm,
/// issuer, required claims, no leeway) and answers a fixed JSON object.
fn baseline_app(secret: &str) -> anyhow::Result<axum::Router> {
    Ok(axum::Router::new()
        .fallback(baseline_handler)
        .with_state(Arc::new(Verifier::new(secret)?)))
}

async fn baseline_handler(State(v): State<Arc<Verifier>>, headers: HeaderMap) -> Response {
    match v.verify(&headers) {
        Some(_) => Json(FIXED).into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}
