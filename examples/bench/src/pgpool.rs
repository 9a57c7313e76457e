//! Creates against the PostgreSQL pool size: `POST /project` on two Slipway
//! servers (child processes) sharing one database, one whose PgStore has a
//! pool of 1 connection and one with a pool of 32, each loaded by the same
//! number of HTTP connections, measured interleaved (alternating slices) in
//! one run. With an instance-wide write lock the two come out alike (every
//! write waits for the one before it); without one, the larger pool writes
//! several transactions at once and PostgreSQL's group commit flushes them
//! together. Target (issue #18): the pool of 32 at least 3x the pool of 1.
//! Baseline (h), the same transaction through the driver without Slipway,
//! runs on the same two pool sizes in the same slices: its ratio is what
//! this machine allows the transaction itself.

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
/// The name of baseline (h)'s pool-of-1 row.
const H_ONE: &str = "baseline (h), pool of 1: the same-store create handler, max_connections = 1";
/// The name of baseline (h)'s pool-of-32 row.
const H_MANY: &str = "baseline (h), pool of 32";

impl Ctx {
    /// `POST /project` on a server with a pool of 1 and one with a pool of
    /// 32 on database `db`, and on baseline (h) with the same two pools,
    /// interleaved; the pool-of-32 row is compared with the pool-of-1 row
    /// (target ≥ 3x), and (h)'s two rows show what the same transaction
    /// gains from the larger pool without Slipway.
    pub(crate) async fn creates_by_pool(&self, db: &str) -> anyhow::Result<Vec<Row>> {
        let db = scenarios::resolve(db);
        let small = Server::slipway_with_pool(self.mode, &self.secret, &db, Some(SMALL)).await?;
        let large = Server::slipway_with_pool(self.mode, &self.secret, &db, Some(LARGE)).await?;
        let h_server = |pool| {
            Server::store_baseline_with_pool(
                self.mode,
                &self.secret,
                &db,
                self.core_reads,
                Some(pool),
            )
        };
        let (h_small, h_large) = (h_server(SMALL).await?, h_server(LARGE).await?);
        // One user for Slipway's two servers and another for (h)'s (the
        // servers share the database and the secret, so a token works on
        // all four): each create counts its owner's projects, and that
        // count grows with the owner's projects only, as in the other create
        // scenario, whichever pair made more.
        let mut conn = Conn::open(large.addr()).await?;
        let (account, h_account) = (
            scenarios::signup(&mut conn).await?,
            scenarios::signup(&mut conn).await?,
        );
        drop(conn);
        let run = scenarios::unique();
        let n = Arc::new(AtomicU64::new(0));
        let make_for = |token: String| -> MakeRequest {
            let n = n.clone();
            let run = run.clone();
            Arc::new(move |_, _| {
                let tag = format!("{run}-{}", n.fetch_add(1, Ordering::Relaxed));
                request(
                    Method::POST,
                    "/project",
                    Some(&token),
                    Some(scenarios::project_body(&tag)),
                )
            })
        };
        let (make, h_make) = (make_for(account.token), make_for(h_account.token));
        let conns = self.connections;
        let load = |server: &Server, make: &MakeRequest, warmup, duration| {
            load::run(
                server.addr(),
                conns,
                warmup,
                duration,
                make.clone(),
                StatusCode::CREATED,
            )
        };
        // Slipway's two servers, then (h)'s, in turn within every slice.
        let sides = [&small, &large, &h_small, &h_large];
        let makes = [&make, &make, &h_make, &h_make];
        let rss_before = sides.map(|s| s.rss_kib());
        for (side, make) in sides.iter().zip(makes) {
            load(side, make, self.warmup, Duration::ZERO).await;
        }
        let slice = self.duration / SLICES;
        let settle = Duration::from_millis(50);
        let mut results: [Option<LoadResult>; 4] = Default::default();
        // How busy the whole machine was during each side's slices.
        let mut busy = [MachineCpu::default(); 4];
        for _ in 0..SLICES {
            for (i, (side, make)) in sides.iter().zip(makes).enumerate() {
                let start = MachineCpu::now();
                merge(&mut results[i], load(side, make, settle, slice).await);
                busy[i].add(start, MachineCpu::now());
            }
        }
        let [one, many, h_one, h_many] = results.map(|r| r.expect("at least one slice"));
        let row = |name: &str, result: &LoadResult, i: usize| {
            let mut row = Row::from_load(name, "postgres", conns, result);
            row.rss_before_kib = rss_before[i];
            row.rss_after_kib = sides[i].rss_kib();
            row
        };
        let interleaved = format!(
            "Slipway's and baseline (h)'s pools of {SMALL} and {LARGE} interleaved, {SLICES} \
             slices each"
        );
        let mut one_row = row(ONE, &one, 0);
        one_row.add_note(format!(
            "{conns} HTTP connections to a server whose PgStore pool has {SMALL} connection; \
             {interleaved}"
        ));
        let mut h_one_row = row(H_ONE, &h_one, 2);
        h_one_row.add_note(format!(
            "{conns} HTTP connections to baseline (h) (the same transaction through the driver, \
             no Slipway) with a pool of {SMALL} connection; {interleaved}"
        ));
        let mut h_many_row = row(H_MANY, &h_many, 3);
        h_many_row.against(&h_one_row);
        h_many_row.add_note(format!(
            "{conns} HTTP connections to baseline (h) with a pool of {LARGE} connections: what \
             the same transaction gains from the larger pool on this machine without Slipway \
             (no target); {interleaved}"
        ));
        let mut many_row = row(MANY, &many, 1);
        many_row.against(&one_row);
        many_row.ratio_target(3.0);
        many_row.add_note(format!(
            "{conns} HTTP connections to a server whose PgStore pool has {LARGE} connections, \
             on the same database; {interleaved} ({:.0} req/s, p99 {:.2} ms alongside)",
            one_row.rps.unwrap_or(0.0),
            one_row.p99_ms.unwrap_or(0.0)
        ));
        if let Some(r) = h_many_row.ratio {
            many_row.add_note(format!(
                "baseline (h) with the same two pools: {:.0} % (pool of {LARGE} against pool of \
                 {SMALL})",
                r * 100.0
            ));
        }
        if let (Some(b1), Some(b32), Some(r1), Some(r32)) = (
            busy[0].fraction(),
            busy[1].fraction(),
            one_row.rps,
            many_row.rps,
        ) {
            // CPU time of the whole machine per create (all processes:
            // PostgreSQL, the servers, the load generator).
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
        if let (Some(b1), Some(b32)) = (busy[2].fraction(), busy[3].fraction()) {
            h_many_row.add_note(format!(
                "the machine's CPUs were {:.0} % busy during its pool of {SMALL}'s slices and \
                 {:.0} % during its pool of {LARGE}'s",
                b1 * 100.0,
                b32 * 100.0
            ));
        }
        for server in [small, large, h_small, h_large] {
            server.stop().await;
        }
        Ok(vec![one_row, many_row, h_one_row, h_many_row])
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
