//! `slipway-bench`: a load generator for Slipway. It starts slipway-server
//! (as a child process of this binary by default, so the RSS it reports is
//! the server's alone), runs each scenario for a set time over N keep-alive
//! HTTP/1.1 connections, and compares every figure with a baseline measured
//! in the same run on the same machine. See BENCHMARKS.md.
//!
//! ```sh
//! cargo run --release -p slipway-bench
//! ```

use std::net::{SocketAddr, ToSocketAddrs as _};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

/// The standalone server's allocator (`examples/server/src/main.rs`): this
/// binary serves Slipway with the standalone server's code, so it measures
/// what that server runs. The baselines it serves use it too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod fanout;
mod flat;
mod lite;
mod load;
mod paired;
mod pg;
mod pgpool;
mod report;
mod scenarios;
mod servers;
mod stack;
mod ws;

use report::{Machine, Report, Row};
use scenarios::Ctx;
use servers::{Host, Mode};

/// Benchmarks Slipway against baselines measured in the same run.
#[derive(Debug, Parser)]
#[command(name = "slipway-bench", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// (internal) Serve Slipway on 127.0.0.1:0 until stdin closes.
    Serve {
        /// Instance secret.
        #[arg(long)]
        secret: String,
        /// Store URL.
        #[arg(long, default_value = "memory:")]
        database_url: String,
        /// PostgreSQL pool size (default: PgStore's).
        #[arg(long)]
        pg_max_connections: Option<u32>,
        /// The flat-as-data-grows scenario's setup (JSON): Redis key prefix
        /// and the data to seed through the store before listening.
        #[arg(long, hide = true)]
        flat: Option<String>,
        /// The framework serving it.
        #[arg(long, value_enum, default_value = "axum")]
        host: Host,
    },
    /// (internal) Serve the bare axum JWT baseline until stdin closes.
    ServeBaseline {
        /// Instance secret (the JWT key is derived from it as Slipway does).
        #[arg(long)]
        secret: String,
    },
    /// (internal) Serve the same-store handler baseline (f, g, h) on a
    /// database until stdin closes.
    ServeStoreBaseline {
        /// Instance secret (the JWT key is derived from it as Slipway does).
        #[arg(long)]
        secret: String,
        /// The database of the Slipway server under test.
        #[arg(long)]
        database_url: String,
        /// Skip the user read core makes before the
        /// store call of `GET /project` and `POST /project`.
        #[arg(long)]
        no_core_reads: bool,
        /// PostgreSQL pool size (default: PgStore's).
        #[arg(long)]
        pg_max_connections: Option<u32>,
    },
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Concurrent keep-alive connections per HTTP scenario.
    #[arg(long, short = 'c', default_value_t = 32)]
    connections: usize,
    /// Measured time per scenario.
    #[arg(long, short = 'd', default_value = "3s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Unmeasured warm-up per scenario.
    #[arg(long, default_value = "500ms", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// Benchmark an external slipway-server (`http://host:port`) instead of
    /// starting one; RSS is then not reported. For the WebSocket scenarios,
    /// start it with `--ws-max-connections-per-user 20000`.
    #[arg(long)]
    url: Option<String>,
    /// Run the servers in this process instead of child processes (RSS then
    /// includes the load generator).
    #[arg(long)]
    in_process: bool,
    /// Run only the scenarios whose name contains one of these words
    /// (comma-separated, e.g. `signin,health`).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Subscribed sockets in the WebSocket fan-out scenario.
    #[arg(long, default_value_t = 1000)]
    ws_sockets: usize,
    /// Writes (rounds) in the WebSocket fan-out scenario.
    #[arg(long, default_value_t = 20)]
    ws_rounds: usize,
    /// Sockets of the large fan-out scenario (one user, one node).
    #[arg(long, default_value_t = 10_000)]
    fanout_sockets: usize,
    /// Sockets on node B in the cross-node fan-out scenario (PostgreSQL
    /// and Redis: two servers sharing one database).
    #[arg(long, default_value_t = 1000)]
    cross_node_sockets: usize,
    /// Sockets in the idle WebSocket memory scenario.
    #[arg(long, default_value_t = 10_000)]
    idle_sockets: usize,
    /// Also run the scenarios on this PostgreSQL database (a throwaway one:
    /// the bench creates users and projects), with baseline (c).
    #[arg(long, env = "SLIPWAY_BENCH_POSTGRES_URL", hide_env_values = true)]
    postgres_url: Option<String>,
    /// Also run the scenarios on this Redis server (keys under `slipway-bench:`).
    #[arg(long, env = "SLIPWAY_BENCH_REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,
    /// Same-store baselines (g) and (h) without the reads core makes before
    /// the store call (the user): the store's own
    /// statements only.
    #[arg(long)]
    no_core_reads: bool,
    /// Skip the SQLite scenarios (by default they run on fresh files in a
    /// temporary directory, with baselines (d) and (e)).
    #[arg(long)]
    no_sqlite: bool,
    /// Projects stored in the large data set of the flat-as-data-grows
    /// scenario (`flat`), compared with 1,000 projects.
    #[arg(long, default_value_t = 100_000)]
    flat_projects: usize,
    /// Users the projects of the flat-as-data-grows scenario are spread over
    /// (the same number in both data sets).
    #[arg(long, default_value_t = 1_000)]
    flat_users: usize,
    /// Where the JSON results go.
    #[arg(long, default_value = "bench-results")]
    out_dir: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Some(Command::Serve {
            secret,
            database_url,
            pg_max_connections,
            flat,
            host,
        }) => rt.block_on(servers::serve_child(
            &secret,
            &database_url,
            pg_max_connections,
            flat.as_deref(),
            host,
        )),
        Some(Command::ServeBaseline { secret }) => {
            rt.block_on(servers::serve_baseline_child(&secret))
        }
        Some(Command::ServeStoreBaseline {
            secret,
            database_url,
            no_core_reads,
            pg_max_connections,
        }) => rt.block_on(servers::serve_store_baseline_child(
            &secret,
            &database_url,
            !no_core_reads,
            pg_max_connections,
        )),
        None => rt.block_on(run(cli.run)),
    }
}

fn parse_url(url: &str) -> anyhow::Result<SocketAddr> {
    let rest = url
        .strip_prefix("http://")
        .context("--url must start with http://")?;
    let hostport = rest.split('/').next().unwrap_or(rest);
    hostport
        .to_socket_addrs()?
        .next()
        .with_context(|| format!("{hostport} resolves to no address"))
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    // 10,000 sockets need as many descriptors here and in the server child
    // (which inherits the limit).
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) if (n as usize) < args.idle_sockets.max(args.fanout_sockets) + 1024 => eprintln!(
            "warning: only {n} file descriptors allowed; the 10,000-socket scenarios may fail"
        ),
        Ok(_) => {}
        Err(e) => eprintln!("warning: could not raise RLIMIT_NOFILE: {e}"),
    }
    let machine = Machine::detect();
    let started = chrono::Utc::now();
    let ctx = Ctx {
        mode: if args.in_process {
            Mode::InProcess
        } else {
            Mode::Child
        },
        external: args.url.as_deref().map(parse_url).transpose()?,
        secret: format!(
            "slipway-bench-secret-{}",
            slipway_core::crypto::random_token(32)
        ),
        connections: args.connections,
        warmup: args.warmup,
        duration: args.duration,
        core_reads: !args.no_core_reads,
    };
    let wanted =
        |name: &str| args.only.is_empty() || args.only.iter().any(|w| name.contains(w.as_str()));
    eprintln!(
        "slipway-bench: {}; {} connections, {:?} per scenario (+{:?} warm-up)",
        machine.describe(),
        ctx.connections,
        ctx.duration,
        ctx.warmup
    );

    let mut rows: Vec<Row> = Vec::new();
    let base_a = if wanted("read") || wanted("project") || wanted("baseline") {
        let row = ctx.baseline_jwt().await?;
        report::push(&mut rows, row.clone());
        Some(row)
    } else {
        None
    };
    let baselines = Baselines { a: base_a };

    let first = if ctx.external.is_some() {
        "external"
    } else {
        "memory"
    };
    let mut stores = vec![(first, "memory:".to_string())];
    // SQLite needs no server: one fresh file per scenario server.
    let sqlite_dir = std::env::temp_dir().join(format!("slipway-bench-{}", scenarios::unique()));
    if args.no_sqlite || ctx.external.is_some() {
        eprintln!("SQLite scenarios: skipped");
    } else {
        std::fs::create_dir_all(&sqlite_dir)?;
        let url = format!("sqlite://{}/bench-{{unique}}.db", sqlite_dir.display());
        stores.push(("sqlite", url));
    }
    match &args.postgres_url {
        Some(url) if ctx.external.is_none() => stores.push(("postgres", url.clone())),
        _ => eprintln!(
            "PostgreSQL scenarios: skipped (no --postgres-url / SLIPWAY_BENCH_POSTGRES_URL)"
        ),
    }
    match &args.redis_url {
        Some(url) if ctx.external.is_none() => stores.push(("redis", url.clone())),
        _ => eprintln!("Redis scenarios: skipped (no --redis-url / SLIPWAY_BENCH_REDIS_URL)"),
    }
    for (store, db) in &stores {
        store_scenarios(&mut rows, &ctx, &args, &wanted, &baselines, store, db).await?;
    }
    let _ = std::fs::remove_dir_all(&sqlite_dir);

    let table = report::table(&rows);
    println!("\n{}\n\n{table}", machine.describe());
    let stamp = started.format("%Y%m%dT%H%M%SZ").to_string();
    let settings = serde_json::json!({
        "connections": ctx.connections,
        "durationMs": ctx.duration.as_millis() as u64,
        "warmupMs": ctx.warmup.as_millis() as u64,
        "mode": match (ctx.external, ctx.mode) {
            (Some(_), _) => "external",
            (None, Mode::Child) => "child-process",
            (None, Mode::InProcess) => "in-process",
        },
    });
    let path = report::write_json(
        &args.out_dir,
        &stamp,
        &Report {
            started_at: started.to_rfc3339(),
            machine: &machine,
            settings,
            results: &rows,
        },
    )?;
    println!("results written to {}", path.display());
    Ok(())
}

/// The baselines every store's figures are compared with.
struct Baselines {
    /// (a) bare axum + JWT verify.
    a: Option<Row>,
}

/// The rows of a list or create scenario: its baselines, then the scenario
/// compared with each. A scenario measured interleaved with baseline (e)
/// only is compared with it alone, as before; one measured without any, or
/// with a same-store baseline (g)/(h) only, is compared with (a) first (the
/// row kept from earlier runs), then with its same-store baseline, whose
/// ratio gets `target`.
fn same_store_rows(rows: &mut Vec<Row>, paired: paired::Paired, a: &Option<Row>, target: f64) {
    let paired::Paired { rows: mine, bases } = paired;
    let first_is_same_store = bases
        .first()
        .is_some_and(|b| b.scenario == stack::BASELINE_G || b.scenario == stack::BASELINE_H);
    for b in bases {
        report::push(rows, b);
    }
    // Compared with (a) when measured alone, or interleaved with a
    // same-store baseline only (not when (e) is its first baseline).
    if first_is_same_store || mine.first().is_some_and(|r| r.baseline.is_none()) {
        // Without (a) (`--only` left it out) the row is kept uncompared.
        let mut vs_a = mine[0].clone();
        vs_a.baseline = None;
        vs_a.ratio = None;
        if let Some(a) = a {
            if first_is_same_store {
                vs_a.add_note("baseline (a) was measured at the start of the run, not alongside");
            }
            vs_a.against(a);
        }
        report::push(rows, vs_a);
    }
    for (i, mut row) in mine.into_iter().enumerate() {
        if row.baseline.is_none() {
            continue; // measured alone: its (a) row is above
        }
        if i == 0 && first_is_same_store {
            // The row above holds the server's RSS.
            row.rss_before_kib = None;
            row.rss_after_kib = None;
        }
        if row.baseline.as_deref() == Some("baseline (g)")
            || row.baseline.as_deref() == Some("baseline (h)")
        {
            row.ratio_target(target);
        }
        report::push(rows, row);
    }
}

/// Every scenario on one store.
async fn store_scenarios(
    rows: &mut Vec<Row>,
    ctx: &Ctx,
    args: &RunArgs,
    wanted: &dyn Fn(&str) -> bool,
    base: &Baselines,
    store: &str,
    db: &str,
) -> anyhow::Result<()> {
    if wanted("read") {
        // Compared with the baselines measured interleaved with it: (c) on
        // PostgreSQL, (d) on SQLite, (a) elsewhere; and (f), the same
        // request to a handler doing the store's work, on every persistent
        // store.
        let paired = ctx.authenticated_read(db, store).await?;
        for base in paired.bases {
            if base.scenario != scenarios::BASELINE_A {
                report::push(rows, base);
            }
        }
        for mut row in paired.rows {
            // The second round's targets: memory >= 80 % of (a), every
            // persistent store >= 80 % of its own read baseline (f). The
            // ratio to (c) (a bare SELECT, round one's 50 % target) is kept
            // for comparison, without a target.
            let target = match row.baseline.as_deref() {
                Some("baseline (a)") if store == "memory" => Some(0.80),
                Some("baseline (f)") => Some(0.80),
                _ => None,
            };
            if let Some(t) = target {
                row.ratio_target(t);
            }
            report::push(rows, row);
        }
    }
    if wanted("list") || wanted("project") {
        match ctx.list_projects(db, store).await? {
            Some(paired) => same_store_rows(rows, paired, &base.a, 0.70),
            None => eprintln!("GET /project: skipped, this server has no project endpoints"),
        }
    }
    if wanted("create") || wanted("project") {
        match ctx.create_projects(db, store).await? {
            Some(paired) => same_store_rows(rows, paired, &base.a, 0.70),
            None => eprintln!("POST /project: skipped, this server has no project endpoints"),
        }
    }
    if store == "postgres" && (wanted("create") || wanted("project") || wanted("pool")) {
        for row in ctx.creates_by_pool(db).await? {
            report::push(rows, row);
        }
    }
    if wanted("signin") {
        // Baseline (b) measured interleaved with each store's sign-ins.
        let (mut row, b) = ctx.signin(db, store).await?;
        row.ratio_target(0.90);
        report::push(rows, b);
        report::push(rows, row);
    }
    if wanted("health") {
        report::push(rows, ctx.health_under_signin(db, store).await?);
    }
    if wanted("ws") || wanted("fan-out") {
        match ctx
            .ws_fanout(db, store, args.ws_sockets, args.ws_rounds)
            .await?
        {
            Some(row) => report::push(rows, row),
            None => eprintln!("WebSocket fan-out: skipped, this server has no /ws"),
        }
    }
    if wanted("ws") || wanted("fan-out") || wanted("fanout-10k") {
        match ctx
            .ws_fanout_large(db, store, args.fanout_sockets, args.ws_rounds)
            .await?
        {
            Some(row) => report::push(rows, row),
            None => eprintln!("large WebSocket fan-out: skipped, this server has no /ws"),
        }
    }
    let shared = matches!(store, "postgres" | "redis") && ctx.external.is_none();
    if shared && (wanted("ws") || wanted("fan-out") || wanted("cross-node")) {
        match ctx
            .ws_fanout_cross_node(db, store, args.cross_node_sockets, args.ws_rounds)
            .await?
        {
            Some(row) => report::push(rows, row),
            None => eprintln!("cross-node WebSocket fan-out: skipped, this server has no /ws"),
        }
    }
    if wanted("ws") || wanted("idle") {
        match ctx
            .ws_idle(db, store, args.idle_sockets, Host::Axum)
            .await?
        {
            Some(row) => report::push(rows, row),
            None => eprintln!("idle WebSockets: skipped, this server has no /ws"),
        }
    }
    // The warp host's sockets once, on the memory store: the socket's
    // buffers are the adapter's, whatever the store.
    if store == "memory" && ctx.external.is_none() && (wanted("ws") || wanted("idle")) {
        if let Some(row) = ctx
            .ws_idle(db, store, args.idle_sockets, Host::Warp)
            .await?
        {
            report::push(rows, row);
        }
    }
    if wanted("flat") {
        let sizes = flat::Sizes {
            users: args.flat_users,
            small: flat::SMALL_PROJECTS,
            large: args.flat_projects,
        };
        flat::run(rows, ctx, store, db, sizes).await?;
    }
    Ok(())
}
