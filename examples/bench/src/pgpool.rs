//! Creates against the PostgreSQL pool size: `POST /project` on two Slipway
//! servers (child processes) sharing one database, one whose PgStore has a
//! pool of 1 connection and one with a pool of 32, each loaded by the same
//! number of HTTP connections, measured interleaved (alternating slices) in
//! one run. With an instance-wide write lock the two come out alike (every
//! write waits for the one before it); without one, the larger pool writes
//! several transactions at once and PostgreSQL's group commit flushes them
//! together. Target (issue #18): the pool of 32 at least 3x the pool of 1.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};

use crate::load::{self, request, Conn, LoadResult, MakeRequest};
use crate::report::Row;
use crate::scenarios::{self, Ctx};
use crate::servers::Server;

/// Slices each server gets.
const SLICES: u32 = 6;
/// The pool sizes compared.
const SMALL: u32 = 1;
const LARGE: u32 = 32;

/// The name of the pool-of-1 row (the other row's baseline).
const ONE: &str = "POST /project, pool of 1: PgStore max_connections = 1";
/// The name of the pool-of-32 row.
const MANY: &str = "POST /project, pool of 32";

impl Ctx {
    /// `POST /project` on a server with a pool of 1 and one with a pool of
    /// 32 on database `db`, interleaved; the pool-of-32 row is compared with
    /// the pool-of-1 row (target ≥ 3x).
    pub(crate) async fn creates_by_pool(&self, db: &str) -> anyhow::Result<Vec<Row>> {
        let db = scenarios::resolve(db);
        let small = Server::slipway_with_pool(self.mode, &self.secret, &db, Some(SMALL)).await?;
        let large = Server::slipway_with_pool(self.mode, &self.secret, &db, Some(LARGE)).await?;
        // One user (the servers share the database and the secret, so its
        // token works on both), as in the other create scenario.
        let mut conn = Conn::open(large.addr()).await?;
        let account = scenarios::signup(&mut conn).await?;
        drop(conn);
        let token = account.token.clone();
        let run = scenarios::unique();
        let n = Arc::new(AtomicU64::new(0));
        let make: MakeRequest = Arc::new(move |_, _| {
            let tag = format!("{run}-{}", n.fetch_add(1, Ordering::Relaxed));
            request(
                Method::POST,
                "/project",
                Some(&token),
                Some(scenarios::project_body(&tag)),
            )
        });
        let conns = self.connections;
        let load = |server: &Server, warmup, duration| {
            load::run(
                server.addr(),
                conns,
                warmup,
                duration,
                make.clone(),
                StatusCode::CREATED,
            )
        };
        let rss = |s: &Server| s.rss_kib();
        let (small_before, large_before) = (rss(&small), rss(&large));
        load(&small, self.warmup, Duration::ZERO).await;
        load(&large, self.warmup, Duration::ZERO).await;
        let slice = self.duration / SLICES;
        let settle = Duration::from_millis(50);
        let (mut one, mut many): (Option<LoadResult>, Option<LoadResult>) = (None, None);
        // How busy the whole machine was during each side's slices.
        let (mut busy_one, mut busy_many) = (MachineCpu::default(), MachineCpu::default());
        for _ in 0..SLICES {
            let start = MachineCpu::now();
            merge(&mut one, load(&small, settle, slice).await);
            let middle = MachineCpu::now();
            merge(&mut many, load(&large, settle, slice).await);
            busy_one.add(start, middle);
            busy_many.add(middle, MachineCpu::now());
        }
        let (one, many) = (
            one.expect("at least one slice"),
            many.expect("at least one slice"),
        );
        let mut one_row = Row::from_load(ONE, "postgres", conns, &one);
        one_row.rss_before_kib = small_before;
        one_row.rss_after_kib = small.rss_kib();
        one_row.add_note(format!(
            "{conns} HTTP connections to a server whose PgStore pool has {SMALL} connection; \
             interleaved with the pool of {LARGE} in {SLICES} slices each"
        ));
        let mut many_row = Row::from_load(MANY, "postgres", conns, &many);
        many_row.rss_before_kib = large_before;
        many_row.rss_after_kib = large.rss_kib();
        many_row.against(&one_row);
        many_row.ratio_target(3.0);
        many_row.add_note(format!(
            "{conns} HTTP connections to a server whose PgStore pool has {LARGE} connections, \
             on the same database; interleaved with the pool of {SMALL} ({:.0} req/s, p99 \
             {:.2} ms alongside)",
            one_row.rps.unwrap_or(0.0),
            one_row.p99_ms.unwrap_or(0.0)
        ));
        if let (Some(b1), Some(b32), Some(r1), Some(r32)) = (
            busy_one.fraction(),
            busy_many.fraction(),
            one_row.rps,
            many_row.rps,
        ) {
            // CPU time of the whole machine per create (all processes:
            // PostgreSQL, both servers, the load generator).
            let cpus = scenarios::cpus() as f64;
            let (c1, c32) = (b1 * cpus / r1 * 1e3, b32 * cpus / r32 * 1e3);
            many_row.add_note(format!(
                "the machine's {cpus:.0} CPUs were {:.0} % busy during the pool of {SMALL}'s \
                 slices and {:.0} % during the pool of {LARGE}'s, {c1:.2} and {c32:.2} ms of \
                 CPU per create: at equal CPU per create the pool of {LARGE} could be at most \
                 {:.1}x as fast on this machine",
                b1 * 100.0,
                b32 * 100.0,
                1.0 / b1
            ));
        }
        small.stop().await;
        large.stop().await;
        Ok(vec![one_row, many_row])
    }
}

/// Busy and total CPU time of the whole machine (every CPU), in clock
/// ticks, from the first line of `/proc/stat`; summed over windows.
#[derive(Clone, Copy, Default)]
struct MachineCpu {
    busy: u64,
    total: u64,
}

impl MachineCpu {
    /// The counters so far (zero where `/proc/stat` cannot be read).
    fn now() -> Self {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let ticks: Vec<u64> = stat
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .skip(1)
            .take(8)
            .filter_map(|t| t.parse().ok())
            .collect();
        match ticks[..] {
            // user nice system idle iowait irq softirq steal
            [user, nice, system, idle, iowait, irq, softirq, steal] => {
                let busy = user + nice + system + irq + softirq;
                Self {
                    busy,
                    total: busy + idle + iowait + steal,
                }
            }
            _ => Self::default(),
        }
    }

    /// Adds the window from `start` to `end`.
    fn add(&mut self, start: Self, end: Self) {
        self.busy += end.busy.saturating_sub(start.busy);
        self.total += end.total.saturating_sub(start.total);
    }

    /// The busy share of the windows added, if any was measured.
    fn fraction(&self) -> Option<f64> {
        (self.total > 0 && self.busy > 0).then(|| self.busy as f64 / self.total as f64)
    }
}

/// Adds one slice to the slices so far (their windows add up).
fn merge(total: &mut Option<LoadResult>, part: LoadResult) {
    match total {
        None => *total = Some(part),
        Some(t) => {
            t.window += part.window;
            t.absorb(part);
        }
    }
}
