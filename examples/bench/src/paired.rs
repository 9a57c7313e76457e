//! Interleaved measurement: a scenario and its baseline take turns in short
//! slices, so load from other work on the machine falls on both alike.

use std::time::Duration;

use http::StatusCode;

use crate::load::{self, LoadResult, MakeRequest};
use crate::pg::{SelectLoad, BASELINE_C};
use crate::report::Row;
use crate::scenarios::{self, Ctx, BASELINE_A};
use crate::servers::Server;

/// How many slices each side gets.
const SLICES: u32 = 6;

/// The baseline a scenario takes turns with.
pub(crate) enum Pair<'a> {
    /// Baseline (a), on a fresh bare axum server.
    JwtServer,
    /// Baseline (c), sqlx's primary-key SELECT on this database and project.
    Select {
        /// Database URL.
        db: &'a str,
        /// The project to SELECT.
        project_id: &'a str,
    },
}

impl Ctx {
    /// Runs `make` against `server` and the baseline `with`, alternating
    /// slices of `duration / 6`; returns the scenario's row compared with the
    /// baseline measured alongside it, and the baseline's own row.
    pub(crate) async fn paired_with(
        &self,
        server: &Server,
        name: &str,
        store: &str,
        make: MakeRequest,
        with: Pair<'_>,
    ) -> anyhow::Result<(Row, Row)> {
        let conns = self.connections;
        let slice = self.duration / SLICES;
        let settle = Duration::from_millis(50);
        let before = server.rss_kib();
        let base = match with {
            Pair::JwtServer => Baseline::Server(
                Server::baseline(self.mode, &self.secret).await?,
                self.baseline_requests()?,
            ),
            Pair::Select { db, project_id } => {
                Baseline::Select(SelectLoad::connect(db, project_id).await?)
            }
        };
        // Warm both up (the warm-up is not measured).
        load::run(
            server.addr(),
            conns,
            self.warmup,
            Duration::ZERO,
            make.clone(),
            StatusCode::OK,
        )
        .await;
        base.run(conns, self.warmup, Duration::ZERO).await?;
        let mut mine: Option<LoadResult> = None;
        let mut theirs: Option<LoadResult> = None;
        for _ in 0..SLICES {
            let r = load::run(
                server.addr(),
                conns,
                settle,
                slice,
                make.clone(),
                StatusCode::OK,
            )
            .await;
            merge(&mut mine, r);
            merge(&mut theirs, base.run(conns, settle, slice).await?);
        }
        let mine = mine.expect("at least one slice");
        let theirs = theirs.expect("at least one slice");
        let mut row = Row::from_load(name, store, conns, &mine);
        row.rss_before_kib = before;
        row.rss_after_kib = server.rss_kib();
        let (label, mut base_row) = match &base {
            Baseline::Server(..) => ("(a)", Row::from_load(BASELINE_A, "-", conns, &theirs)),
            Baseline::Select(s) => {
                let mut r = Row::from_load(BASELINE_C, "postgres", conns, &theirs);
                r.add_note(s.describe(conns));
                ("(c)", r)
            }
        };
        base.stop().await;
        row.against(&base_row);
        let unit = if label == "(a)" { "req/s" } else { "SELECTs/s" };
        row.add_note(format!(
            "interleaved with baseline {label} in {SLICES} slices each; {label} ran at {:.0} \
             {unit} (p99 {:.2} ms) alongside",
            base_row.rps.unwrap_or(0.0),
            base_row.p99_ms.unwrap_or(0.0)
        ));
        base_row.add_note(format!("measured interleaved with {name} ({store})"));
        Ok((row, base_row))
    }
}

impl Ctx {
    /// Runs the sign-ins `make` against `server` and baseline (b) (raw
    /// argon2id hashes in this process), alternating slices of
    /// `duration / 6`: both use every CPU, so they cannot run at once, and
    /// taking turns lets other work on the machine weigh on both alike.
    /// Returns the sign-in row compared with (b), and (b)'s row.
    pub(crate) async fn paired_with_argon2(
        &self,
        server: &Server,
        store: &str,
        make: MakeRequest,
    ) -> anyhow::Result<(Row, Row)> {
        let conns = self.connections;
        let slice = self.duration / SLICES;
        // A sign-in takes ~conns / (hashes per second): let the first round
        // of requests of a slice finish before measuring.
        let settle = Duration::from_millis(300);
        let before = server.rss_kib();
        load::run(
            server.addr(),
            conns,
            self.warmup,
            Duration::ZERO,
            make.clone(),
            StatusCode::OK,
        )
        .await;
        scenarios::argon2_hashes(self.warmup).await?;
        let mut mine: Option<LoadResult> = None;
        let mut theirs: Option<LoadResult> = None;
        for _ in 0..SLICES {
            let r = load::run(
                server.addr(),
                conns,
                settle,
                slice,
                make.clone(),
                StatusCode::OK,
            )
            .await;
            merge(&mut mine, r);
            merge(&mut theirs, scenarios::argon2_hashes(slice).await?);
        }
        let mine = mine.expect("at least one slice");
        let theirs = theirs.expect("at least one slice");
        let mut row = Row::from_load("POST /auth/signin", store, conns, &mine);
        row.rss_before_kib = before;
        row.rss_after_kib = server.rss_kib();
        let mut base_row = scenarios::baseline_b_row(&theirs);
        row.against(&base_row);
        row.add_note(format!(
            "interleaved with baseline (b) in {SLICES} slices each; (b) ran at {:.0} \
             hashes/s alongside",
            base_row.rps.unwrap_or(0.0)
        ));
        base_row.add_note(format!(
            "measured interleaved with POST /auth/signin ({store})"
        ));
        Ok((row, base_row))
    }
}

/// A running baseline.
enum Baseline {
    Server(Server, MakeRequest),
    Select(SelectLoad),
}

impl Baseline {
    async fn run(
        &self,
        conns: usize,
        warmup: Duration,
        duration: Duration,
    ) -> anyhow::Result<LoadResult> {
        match self {
            Baseline::Server(server, make) => Ok(load::run(
                server.addr(),
                conns,
                warmup,
                duration,
                make.clone(),
                StatusCode::OK,
            )
            .await),
            Baseline::Select(select) => select.run(conns, warmup, duration).await,
        }
    }

    async fn stop(self) {
        match self {
            Baseline::Server(server, _) => server.stop().await,
            Baseline::Select(select) => select.close().await,
        }
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
