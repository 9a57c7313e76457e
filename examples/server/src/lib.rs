//! The standalone Slipway server, as a library so tests start it in-process.
//!
//! `main.rs` parses [`Args`] (flags with environment fallbacks) and either
//! runs an admin [`Command`] ([`admin::execute`]) or builds the instance with
//! [`build`] and serves it with [`serve`] until SIGINT/SIGTERM.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use slipway_core::{SignupPolicy, Slipway, SlipwayBuilder};
use tokio::net::TcpListener;

pub mod admin;
pub mod commands;
mod conn;
#[cfg(feature = "warp")]
pub mod host_warp;
pub mod layers;
pub mod metrics;
mod secret;
mod stores;

pub use admin::{AdminCommand, Command, SecretCommand};
pub use layers::HttpOptions;
pub use secret::secret_file_beside;

/// The database URL used when none is given: `sqlite://slipway.db` (in the
/// working directory) with the `sqlite` feature, else `memory:`.
pub const DEFAULT_DATABASE_URL: &str = if cfg!(feature = "sqlite") {
    "sqlite://slipway.db"
} else {
    "memory:"
};

/// The host framework serving the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Adapter {
    /// axum (feature `axum`, the default).
    Axum,
    /// warp (feature `warp`).
    Warp,
}

impl Adapter {
    /// The adapter used when none is chosen: axum when compiled in.
    pub const DEFAULT: Adapter = if cfg!(feature = "axum") {
        Adapter::Axum
    } else {
        Adapter::Warp
    };

    /// Parses `axum` or `warp`.
    pub fn parse(name: &str) -> anyhow::Result<Self> {
        <Self as clap::ValueEnum>::from_str(name, true)
            .map_err(|_| anyhow::anyhow!("unknown adapter `{name}`: use axum or warp"))
    }

    /// Fails clearly when this build does not include the adapter.
    pub fn ensure_compiled(self) -> anyhow::Result<()> {
        let (compiled, name) = match self {
            Adapter::Axum => (cfg!(feature = "axum"), "axum"),
            Adapter::Warp => (cfg!(feature = "warp"), "warp"),
        };
        if compiled {
            Ok(())
        } else {
            anyhow::bail!(
                "adapter `{name}` is not compiled into this slipway-server; rebuild with \
                 `--features {name}`"
            )
        }
    }
}

/// The format of the log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event (the default).
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Installs the process's log subscriber: `RUST_LOG` filters (default
/// `info`), lines go to standard output in `format`, and text carries ANSI
/// colours only when standard output is a terminal (never in a file or
/// pipe).
pub fn init_logging(format: LogFormat) {
    use std::io::IsTerminal as _;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Command-line flags, each with an environment fallback.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "slipway-server",
    version,
    about = "Standalone Slipway control-plane API server"
)]
pub struct Args {
    /// Address to bind.
    #[arg(long, env = "SLIPWAY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Address of the Prometheus metrics listener (`GET /metrics`); off
    /// when not given. Never the API listener.
    #[arg(long, env = "SLIPWAY_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// Log format: `text` or `json` (one JSON object per line).
    #[arg(long, env = "SLIPWAY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Host framework: `axum` or `warp` (each needs its cargo feature).
    #[arg(long, env = "SLIPWAY_ADAPTER", value_enum, default_value_t = Adapter::DEFAULT)]
    pub adapter: Adapter,

    /// Instance secret (at least 32 bytes). When neither this nor a secret
    /// file is given: kept in `<database>.secret` beside a SQLite database
    /// (generated on the first start), generated for the run with `memory:`,
    /// required with PostgreSQL and Redis.
    #[arg(long, env = "SLIPWAY_SECRET", hide_env_values = true, global = true)]
    pub secret: Option<String>,

    /// File holding the instance secret (one trailing newline is ignored).
    #[arg(long, env = "SLIPWAY_SECRET_FILE", global = true)]
    pub secret_file: Option<PathBuf>,

    /// File holding the previous instance secret, during a rotation:
    /// credentials sealed under it stay readable (`secret rotate` re-seals
    /// them under the current one).
    #[arg(long, env = "SLIPWAY_PREVIOUS_SECRET_FILE", global = true)]
    pub previous_secret_file: Option<PathBuf>,

    /// Do not apply the store's migrations on start (deployments that run
    /// `slipway-server migrate` separately); the server refuses to start on
    /// a schema that is not migrated.
    #[arg(long, env = "SLIPWAY_NO_MIGRATE", global = true)]
    pub no_migrate: bool,

    /// `sqlite://<path>`, `memory:`, `postgres://...` or `redis://...`.
    #[arg(
        long,
        env = "SLIPWAY_DATABASE_URL",
        default_value = DEFAULT_DATABASE_URL,
        hide_env_values = true,
        global = true
    )]
    pub database_url: String,

    /// `open`, `first-user-only` or `closed`.
    #[arg(long, env = "SLIPWAY_SIGNUP", default_value = "open")]
    pub signup: SignupPolicy,

    /// Access token lifetime (`15m`, `24h`).
    #[arg(long, env = "SLIPWAY_TOKEN_TTL", default_value = "24h", value_parser = humantime::parse_duration)]
    pub token_ttl: Duration,

    /// GitHub web base URL.
    #[arg(long, env = "SLIPWAY_GITHUB_URL", default_value = "https://github.com")]
    pub github_url: String,

    /// GitHub API base URL.
    #[arg(
        long,
        env = "SLIPWAY_GITHUB_API_URL",
        default_value = "https://api.github.com"
    )]
    pub github_api_url: String,

    /// How long one GitHub call may take before the request answers 504.
    #[arg(long, env = "SLIPWAY_GITHUB_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub github_timeout: Duration,

    /// Check personal access tokens with GitHub (`true`/`false`); turn off
    /// for installs that cannot reach GitHub.
    #[arg(long, env = "SLIPWAY_GITHUB_VERIFY_TOKENS", default_value_t = true, action = clap::ArgAction::Set)]
    pub github_verify_tokens: bool,

    /// Let webhooks call loopback, private and other non-public addresses
    /// (`true`/`false`; off by default: a user could otherwise reach
    /// services inside your network).
    #[arg(long, env = "SLIPWAY_WEBHOOK_ALLOW_PRIVATE")]
    pub webhook_allow_private: bool,

    /// How many days audit entries are kept (at least 1); older ones are
    /// deleted hourly.
    #[arg(long, env = "SLIPWAY_AUDIT_RETENTION_DAYS", default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..=36600))]
    pub audit_retention_days: u32,

    /// DNS resolvers for domain checks, `ip:port,...` (default: the system's).
    #[arg(long, env = "SLIPWAY_DNS_SERVERS", value_delimiter = ',')]
    pub dns_servers: Vec<SocketAddr>,

    /// Grace period for in-flight requests on shutdown.
    #[arg(long, env = "SLIPWAY_SHUTDOWN_GRACE", default_value = "10s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,

    /// Longest time one request may take before it answers 503.
    #[arg(long, env = "SLIPWAY_REQUEST_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,

    /// Longest time a client may take to send a request's line and headers
    /// (and longest idle time of a keep-alive connection); the connection is
    /// closed after it.
    #[arg(long, env = "SLIPWAY_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub header_read_timeout: Duration,

    /// Most connections served at once; at the cap new connections wait in
    /// the listen backlog until one closes.
    #[arg(long, env = "SLIPWAY_MAX_CONNECTIONS", default_value_t = 10_000, value_parser = parse_max_connections)]
    pub max_connections: usize,

    /// CORS origins, `https://app.example.com,...` or `*`; empty: CORS off
    /// (default).
    #[arg(long, env = "SLIPWAY_CORS_ORIGINS", value_delimiter = ',', value_parser = layers::parse_origin)]
    pub cors_origins: Vec<String>,

    /// Largest request body in bytes (413 above).
    #[arg(long, env = "SLIPWAY_BODY_LIMIT", default_value_t = 64 * 1024)]
    pub body_limit: usize,

    /// Largest total size of the request headers in bytes (431 above).
    #[arg(long, env = "SLIPWAY_MAX_HEADER_BYTES", default_value_t = 16 * 1024)]
    pub max_header_bytes: usize,

    /// Deepest nesting of arrays and objects in a JSON body (400 above; at most 128).
    #[arg(long, env = "SLIPWAY_JSON_MAX_DEPTH", default_value_t = 32)]
    pub json_max_depth: usize,

    /// Longest JSON string in a body, in characters (400 above).
    #[arg(long, env = "SLIPWAY_JSON_MAX_STRING_LENGTH", default_value_t = 8192)]
    pub json_max_string_length: usize,

    /// Most elements of one JSON array in a body (400 above).
    #[arg(long, env = "SLIPWAY_JSON_MAX_ARRAY_LENGTH", default_value_t = 1000)]
    pub json_max_array_length: usize,

    /// Failed sign-ins per email and client address before 429.
    #[arg(long, env = "SLIPWAY_SIGNIN_MAX_FAILURES", default_value_t = 5)]
    pub signin_max_failures: u32,

    /// Failed sign-ins per email from all addresses together before 429.
    #[arg(
        long,
        env = "SLIPWAY_SIGNIN_MAX_FAILURES_PER_EMAIL",
        default_value_t = 100
    )]
    pub signin_max_failures_per_email: u32,

    /// Most password hashes queued or running at once; beyond it sign-in
    /// and sign-up answer 503 with Retry-After.
    #[arg(long, env = "SLIPWAY_MAX_QUEUED_HASHES", default_value_t = 64)]
    pub max_queued_hashes: usize,

    /// Sign-ups per client address per hour before 429.
    #[arg(long, env = "SLIPWAY_SIGNUP_MAX_PER_ADDR", default_value_t = 10)]
    pub signup_max_per_addr: u32,

    /// `POST /auth/github` calls per client address per minute before 429.
    #[arg(long, env = "SLIPWAY_GITHUB_SIGNIN_MAX_PER_ADDR", default_value_t = 10)]
    pub github_signin_max_per_addr: u32,

    /// WebSocket connections one user may open per minute before 429.
    #[arg(long, env = "SLIPWAY_WS_CONNECTS_PER_MINUTE", default_value_t = 60)]
    pub ws_connects_per_minute: u32,

    /// Most projects one user may own (403 beyond).
    #[arg(long, env = "SLIPWAY_MAX_PROJECTS_PER_USER", default_value_t = 1000)]
    pub max_projects_per_user: usize,

    /// Most network connections of one project (403 beyond).
    #[arg(long, env = "SLIPWAY_MAX_NETWORKS_PER_PROJECT", default_value_t = 100)]
    pub max_networks_per_project: usize,

    /// Most authorizations one user may keep (403 beyond).
    #[arg(
        long,
        env = "SLIPWAY_MAX_AUTHORIZATIONS_PER_USER",
        default_value_t = 100
    )]
    pub max_authorizations_per_user: usize,

    /// Most API tokens one user may keep (403 beyond).
    #[arg(long, env = "SLIPWAY_MAX_API_TOKENS_PER_USER", default_value_t = 100)]
    pub max_api_tokens_per_user: usize,

    /// Failed sign-ins per client address before 429.
    #[arg(
        long,
        env = "SLIPWAY_SIGNIN_MAX_FAILURES_PER_ADDR",
        default_value_t = 50
    )]
    pub signin_max_failures_per_addr: u32,

    /// Window the sign-in failures are counted in.
    #[arg(long, env = "SLIPWAY_SIGNIN_WINDOW", default_value = "15m", value_parser = humantime::parse_duration)]
    pub signin_window: Duration,

    /// Largest WebSocket message a client may send, in bytes (closed with 1009 above).
    #[arg(long, env = "SLIPWAY_WS_MAX_MESSAGE_SIZE", default_value_t = 16 * 1024)]
    pub ws_max_message_size: usize,

    /// Most WebSocket connections of one user on this node (429 above).
    #[arg(
        long,
        env = "SLIPWAY_WS_MAX_CONNECTIONS_PER_USER",
        default_value_t = 16
    )]
    pub ws_max_connections_per_user: usize,

    /// Serve the interactive API reference at `GET /docs` (`true`/`false`;
    /// default on).
    #[arg(long, env = "SLIPWAY_DOCS", default_value_t = true, action = clap::ArgAction::Set)]
    pub docs: bool,

    /// Do not serve `GET /docs` (the same as `--docs false`).
    #[arg(long)]
    pub no_docs: bool,

    /// What to do; none: serve.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Parses `--max-connections`: 1 to 4294967295.
fn parse_max_connections(s: &str) -> Result<usize, String> {
    match s.trim().parse::<u32>() {
        Ok(n) if n >= 1 => Ok(n as usize),
        _ => Err(format!(
            "`{s}` is not a number of connections from 1 to 4294967295"
        )),
    }
}

impl Args {
    /// Defaults for every flag, as if none were given (no environment read).
    pub fn defaults() -> Self {
        Args::parse_from(["slipway-server"])
    }

    /// The HTTP host settings (time limits, connection cap, CORS) these
    /// flags ask for.
    pub fn http_options(&self) -> HttpOptions {
        HttpOptions {
            request_timeout: self.request_timeout,
            cors_origins: self.cors_origins.clone(),
            header_read_timeout: self.header_read_timeout,
            max_connections: self.max_connections,
        }
    }
}

/// Builds the instance: opens the store named by the database URL and
/// applies every setting. `customize` may adjust the builder (tests use it).
pub async fn build(
    args: &Args,
    customize: impl FnOnce(SlipwayBuilder) -> SlipwayBuilder,
) -> anyhow::Result<Slipway> {
    // Settle the secret before touching a database: a misconfigured start
    // fails without connecting or migrating anything.
    let secret = secret::settle(args)?;
    let previous = args
        .previous_secret_file
        .as_deref()
        .map(|file| secret::read_secret_file(file, "SLIPWAY_PREVIOUS_SECRET_FILE"))
        .transpose()?;
    let store = stores::open(&args.database_url, !args.no_migrate).await?;
    if args.no_migrate {
        // Deployments that migrate separately: refuse a schema that is not.
        store.ready().await.map_err(|e| {
            anyhow::anyhow!(
                "{e} (started with --no-migrate / SLIPWAY_NO_MIGRATE: run `slipway-server \
                 migrate` first)"
            )
        })?;
    }
    let mut builder = Slipway::builder().secret(secret);
    if let Some(previous) = previous {
        builder = builder.previous_secret(previous);
    }
    let builder = builder
        .shared_store(store)
        .signup(args.signup)
        .token_ttl(args.token_ttl)
        .dns_servers(args.dns_servers.clone())
        .github_url(args.github_url.clone())
        .github_api_url(args.github_api_url.clone())
        .github_timeout(args.github_timeout)
        .verify_personal_access_tokens(args.github_verify_tokens)
        .webhook_allow_private(args.webhook_allow_private)
        .audit_retention(Duration::from_secs(
            u64::from(args.audit_retention_days) * 24 * 3600,
        ))
        .docs(args.docs && !args.no_docs)
        .configure(|c| {
            c.body_limit = args.body_limit;
            c.max_header_bytes = args.max_header_bytes;
            c.json_max_depth = args.json_max_depth;
            c.json_max_string_length = args.json_max_string_length;
            c.json_max_array_length = args.json_max_array_length;
            c.signin_max_failures = args.signin_max_failures;
            c.signin_max_failures_per_email = args.signin_max_failures_per_email;
            c.max_queued_hashes = args.max_queued_hashes;
            c.signup_max_per_addr = args.signup_max_per_addr;
            c.github_signin_max_per_addr = args.github_signin_max_per_addr;
            c.ws_connects_per_minute = args.ws_connects_per_minute;
            c.max_projects_per_user = args.max_projects_per_user;
            c.max_networks_per_project = args.max_networks_per_project;
            c.max_authorizations_per_user = args.max_authorizations_per_user;
            c.max_api_tokens_per_user = args.max_api_tokens_per_user;
            c.signin_max_failures_per_addr = args.signin_max_failures_per_addr;
            c.signin_window = args.signin_window;
            c.ws_max_message_size = args.ws_max_message_size;
            c.ws_max_connections_per_user = args.ws_max_connections_per_user;
        });
    customize(builder).build().context("invalid configuration")
}

/// The HTTP application: Slipway's API and `/ws` with request logging.
#[cfg(feature = "axum")]
pub fn app<B>(slipway: Slipway) -> impl AppService<B>
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    app_with(slipway, &HttpOptions::default())
}

/// What [`app`] and [`app_with`] return: a tower service answering
/// requests with body `B`.
#[cfg(feature = "axum")]
pub trait AppService<B>:
    tower::Service<
        http::Request<B>,
        Response = axum::response::Response,
        Error = std::convert::Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + Sync
    + 'static
{
}

#[cfg(feature = "axum")]
impl<B, S> AppService<B> for S where
    S: tower::Service<
            http::Request<B>,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
            Future: Send + 'static,
        > + Clone
        + Send
        + Sync
        + 'static
{
}

/// [`app`] with the given time limit and CORS settings.
///
/// The host's layers (request id, the request log, CORS, the time limit and
/// its JSON answer) wrap [`slipway_axum::service`]: core routes the API
/// itself, so no axum router matches, boxes or annotates a request first.
#[cfg(feature = "axum")]
pub fn app_with<B>(slipway: Slipway, opts: &HttpOptions) -> impl AppService<B>
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    use tower::ServiceBuilder;
    let limit = opts.request_timeout;
    ServiceBuilder::new()
        .map_response(|resp: http::Response<_>| resp.map(axum::body::Body::new))
        .layer(layers::RequestIdLayer)
        .layer(layers::RequestLogLayer)
        .option_layer(layers::cors(&opts.cors_origins))
        // A plain function on the response: no future is boxed for it.
        .map_response(move |resp: axum::response::Response| layers::timeout_as_json(resp, limit))
        .layer(layers::timeout(limit))
        .service(slipway_axum::service(slipway))
}

/// A request's latency in milliseconds, to the microsecond: logs show
/// `latency_ms=0.381`, not `0.38119000000000003`.
pub(crate) fn latency_ms(latency: Duration) -> f64 {
    // Whole microseconds divided once: the nearest double to the decimal
    // value, which prints with at most three decimals.
    latency.as_micros() as f64 / 1000.0
}

/// Serves `slipway` on `listener` until `shutdown` resolves, then lets
/// in-flight requests finish.
#[cfg(feature = "axum")]
pub async fn serve(
    listener: TcpListener,
    slipway: Slipway,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, slipway, &HttpOptions::default(), shutdown).await
}

/// [`serve`] with the given options (time limits, connection cap, CORS).
/// When `shutdown` resolves it stops accepting, closes WebSockets with 1001,
/// and returns once in-flight requests and WebSockets are done and the
/// instance's background tasks have ended ([`Slipway::shutdown`]): the
/// store is then held only by the host's handles.
///
/// Each connection's requests carry its peer address as
/// `ConnectInfo<SocketAddr>`, as with axum's
/// `into_make_service_with_connect_info::<SocketAddr>()`.
#[cfg(feature = "axum")]
pub async fn serve_with(
    listener: TcpListener,
    slipway: Slipway,
    opts: &HttpOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use tower::ServiceExt as _;
    let app = app_with(slipway.clone(), opts);
    let _anchor = layers::TimerAnchor::spawn();
    let make = move |peer: SocketAddr| {
        app.clone()
            .map_request(move |mut req: http::Request<hyper::body::Incoming>| {
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                req
            })
    };
    let stop = close_websockets_on(slipway.clone(), shutdown);
    conn::serve(listener, opts.conn_limits(), make, stop).await?;
    slipway.shutdown().await;
    Ok(())
}

/// Resolves with `shutdown`, after telling WebSockets to go away (upgraded
/// connections are not waited for by the HTTP server's graceful shutdown).
pub(crate) async fn close_websockets_on(
    slipway: Slipway,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    shutdown.await;
    // Tell sockets and the webhook worker now; the future holds no handle
    // of the instance, so nothing keeps the store open once serving ends.
    tokio::spawn(slipway.shutdown_websockets());
}

/// A server running in the background (for tests and embedding).
#[derive(Debug)]
pub struct Running {
    /// The bound address.
    pub addr: SocketAddr,
    /// The served instance.
    pub slipway: Slipway,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, waits for in-flight requests, closes WebSockets and
    /// returns once the instance's background tasks have ended
    /// ([`Slipway::shutdown`]): dropping this value's [`Running::slipway`]
    /// (and the caller's own handles) then frees the store at once.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        (&mut self.task).await.unwrap_or(Ok(()))
    }
}

/// Binds `addr` and serves `slipway` in a background task.
#[cfg(feature = "axum")]
pub async fn spawn(addr: SocketAddr, slipway: Slipway) -> std::io::Result<Running> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, slipway.clone(), async move {
        let _ = rx.await;
    }));
    Ok(Running {
        addr,
        slipway,
        stop: Some(tx),
        task,
    })
}

/// Serves `slipway` on `listener` with the chosen adapter until `shutdown`
/// resolves, then lets in-flight requests finish.
pub async fn serve_on(
    adapter: Adapter,
    listener: TcpListener,
    slipway: Slipway,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_on_with(
        adapter,
        listener,
        slipway,
        &HttpOptions::default(),
        shutdown,
    )
    .await
}

/// [`serve_on`] with the given HTTP options.
pub async fn serve_on_with(
    adapter: Adapter,
    listener: TcpListener,
    slipway: Slipway,
    opts: &HttpOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    adapter.ensure_compiled().map_err(std::io::Error::other)?;
    match adapter {
        #[cfg(feature = "axum")]
        Adapter::Axum => serve_with(listener, slipway, opts, shutdown).await,
        #[cfg(feature = "warp")]
        Adapter::Warp => {
            let stop = close_websockets_on(slipway.clone(), shutdown);
            host_warp::serve_with(listener, slipway.clone(), opts, stop).await?;
            slipway.shutdown().await;
            Ok(())
        }
        #[allow(unreachable_patterns)]
        _ => Ok(()), // not compiled in: refused above
    }
}

/// Binds `addr` and serves `slipway` on the named adapter (`axum`, `warp`)
/// in a background task; fails when this build does not include it.
pub async fn spawn_adapter(
    adapter: &str,
    addr: SocketAddr,
    slipway: Slipway,
) -> anyhow::Result<Running> {
    spawn_adapter_with(adapter, addr, slipway, HttpOptions::default()).await
}

/// [`spawn_adapter`] with the given HTTP options.
pub async fn spawn_adapter_with(
    adapter: &str,
    addr: SocketAddr,
    slipway: Slipway,
    opts: HttpOptions,
) -> anyhow::Result<Running> {
    let adapter = Adapter::parse(adapter)?;
    adapter.ensure_compiled()?;
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let served = slipway.clone();
    let task = tokio::spawn(async move {
        let stop = async move {
            let _ = rx.await;
        };
        serve_on_with(adapter, listener, served, &opts, stop).await
    });
    Ok(Running {
        addr,
        slipway,
        stop: Some(tx),
        task,
    })
}

/// The whole server, as `main` runs it: builds the instance, serves it on
/// `args.listen` until SIGINT/SIGTERM, then stops accepting, lets in-flight
/// requests finish, closes WebSockets with 1001 and returns — at the latest
/// after `args.shutdown_grace`. `ready` gets the bound address.
pub async fn run(args: Args, ready: impl FnOnce(SocketAddr)) -> anyhow::Result<()> {
    args.adapter.ensure_compiled()?;
    let slipway = build(&args, |b| b).await?;
    if args.signup != SignupPolicy::Closed {
        if let Ok(false) = slipway.store().has_users().await {
            tracing::warn!("{}", commands::first_user_warning());
        }
    }
    let listener = TcpListener::bind(args.listen).await?;
    let addr = listener.local_addr()?;
    let (metrics_stop_tx, metrics_stop_rx) = tokio::sync::oneshot::channel::<()>();
    if let Some(metrics_addr) = args.metrics_listen {
        let metrics_listener = TcpListener::bind(metrics_addr)
            .await
            .with_context(|| format!("cannot listen for metrics on {metrics_addr}"))?;
        let bound = metrics_listener.local_addr()?;
        tracing::info!(addr = %bound, "metrics listening (GET /metrics)");
        tokio::spawn(async move {
            let stop = async move {
                let _ = metrics_stop_rx.await;
            };
            if let Err(e) = metrics::serve(metrics_listener, stop).await {
                tracing::error!(error = %e, "the metrics listener failed");
            }
        });
    }
    tracing::info!(%addr, adapter = ?args.adapter, "slipway-server listening");
    ready(addr);
    let grace = args.shutdown_grace;
    let opts = args.http_options();
    let (stopped_tx, stopped_rx) = tokio::sync::oneshot::channel::<()>();
    let mut server = tokio::spawn(async move {
        let stop = async move {
            shutdown_signal().await;
            tracing::info!("shutting down: finishing in-flight requests, closing WebSockets");
            let _ = stopped_tx.send(());
        };
        serve_on_with(args.adapter, listener, slipway, &opts, stop).await
    });
    tokio::select! {
        res = &mut server => { res??; }
        _ = async { let _ = stopped_rx.await; tokio::time::sleep(grace).await; } => {
            tracing::warn!("grace period over; exiting with requests still in flight");
        }
    }
    let _ = metrics_stop_tx.send(());
    stores::after_stop(&args.database_url).await;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

#[cfg(not(any(feature = "axum", feature = "warp")))]
compile_error!(
    "slipway-server needs a host framework: enable the `axum` (default) or `warp` feature"
);
