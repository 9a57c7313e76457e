//! Interleaved measurement: a scenario and its baseline take turns in short
//! slices, so load from other work on the machine falls on both alike.

use std::time::Duration;

use http::StatusCode;

use crate::lite::{SqliteLoad, BASELINE_D, BASELINE_E};
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
    /// Baseline (b), raw argon2id hashes in this process (for sign-ins).
    Hashes,
    /// Baseline (d), sqlx's primary-key SELECT on this SQLite file and project.
    SqliteSelect {
        /// Database URL (`sqlite://…`).
        db: &'a str,
        /// The project to SELECT.
        project_id: &'a str,
    },
    /// Baseline (e), sqlx inserting projects of this owner with their
    /// events into this SQLite file.
    SqliteInsert {
        /// Database URL (`sqlite://…`).
        db: &'a str,
        /// The owner of the inserted projects.
        owner_id: &'a str,
    },
}

impl Ctx {
    /// Runs `make` against `server` and the baseline `with`, alternating
    /// slices of `duration / 6`, so load from other work on the machine
    /// falls on both alike (for sign-ins this is also the only way: both use
    /// every CPU). Returns the scenario's row compared with the baseline
    /// measured alongside it, and the baseline's own row.
    pub(crate) async fn paired_with(
        &self,
        server: &Server,
        name: &str,
        store: &str,
        (make, expect): (MakeRequest, StatusCode),
        with: Pair<'_>,
    ) -> anyhow::Result<(Row, Row)> {
        let conns = self.connections;
        let before = server.rss_kib();
        let (base, settle) = match with {
            Pair::JwtServer => (
                Baseline::Server(
                    Server::baseline(self.mode, &self.secret).await?,
                    self.baseline_requests()?,
                ),
                Duration::from_millis(50),
            ),
            Pair::Select { db, project_id } => (
                Baseline::Select(SelectLoad::connect(db, project_id).await?),
                Duration::from_millis(50),
            ),
            // A sign-in waits for ~conns / (hashes per second): let the
            // first round of a slice's requests finish before measuring.
            Pair::Hashes => (Baseline::Argon2, Duration::from_millis(300)),
            Pair::SqliteSelect { db, project_id } => (
                Baseline::Sqlite(SqliteLoad::select(db, project_id).await?, BASELINE_D),
                Duration::from_millis(50),
            ),
            Pair::SqliteInsert { db, owner_id } => (
                Baseline::Sqlite(SqliteLoad::insert(db, owner_id).await?, BASELINE_E),
                Duration::from_millis(50),
            ),
        };
        let (mine, theirs) = self
            .interleave(server, (&make, expect), settle, &base)
            .await?;
        let mut row = Row::from_load(name, store, conns, &mine);
        row.rss_before_kib = before;
        row.rss_after_kib = server.rss_kib();
        let (label, unit, mut base_row) = match &base {
            Baseline::Server(..) => (
                "(a)",
                "req/s",
                Row::from_load(BASELINE_A, "-", conns, &theirs),
            ),
            Baseline::Select(s) => {
                let mut r = Row::from_load(BASELINE_C, "postgres", conns, &theirs);
                r.add_note(s.describe(conns));
                ("(c)", "SELECTs/s", r)
            }
            Baseline::Argon2 => ("(b)", "hashes/s", scenarios::baseline_b_row(&theirs)),
            Baseline::Sqlite(s, scenario) => {
                let mut r = Row::from_load(scenario, "sqlite", conns, &theirs);
                r.add_note(s.describe(conns));
                let (label, unit) = if *scenario == BASELINE_D {
                    ("(d)", "SELECTs/s")
                } else {
                    ("(e)", "transactions/s")
                };
                (label, unit, r)
            }
        };
        base.stop().await;
        row.against(&base_row);
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
    /// Warms `server` (with `make`) and `base` up, unmeasured, then runs
    /// them in turns of `duration / 6`, each scenario slice after `settle`
    /// of unmeasured load; returns both sides' merged results.
    async fn interleave(
        &self,
        server: &Server,
        (make, expect): (&MakeRequest, StatusCode),
        settle: Duration,
        base: &Baseline,
    ) -> anyhow::Result<(LoadResult, LoadResult)> {
        let conns = self.connections;
        let slice = self.duration / SLICES;
        let run = |warmup, duration| {
            load::run(server.addr(), conns, warmup, duration, make.clone(), expect)
        };
        run(self.warmup, Duration::ZERO).await;
        base.run(conns, self.warmup, Duration::ZERO).await?;
        let mut mine: Option<LoadResult> = None;
        let mut theirs: Option<LoadResult> = None;
        for _ in 0..SLICES {
            merge(&mut mine, run(settle, slice).await);
            merge(&mut theirs, base.run(conns, settle, slice).await?);
        }
        Ok((
            mine.expect("at least one slice"),
            theirs.expect("at least one slice"),
        ))
    }
}

/// A running baseline.
enum Baseline {
    Server(Server, MakeRequest),
    Select(SelectLoad),
    /// Raw argon2id hashes in this process (it needs no settling).
    Argon2,
    /// Raw sqlx on a SQLite file, and the name of its row.
    Sqlite(SqliteLoad, &'static str),
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
            Baseline::Argon2 if duration.is_zero() => {
                scenarios::argon2_hashes(warmup).await?;
                Ok(LoadResult::empty(Duration::ZERO))
            }
            Baseline::Argon2 => scenarios::argon2_hashes(duration).await,
            Baseline::Sqlite(load, _) => load.run(conns, warmup, duration).await,
        }
    }

    async fn stop(self) {
        match self {
            Baseline::Server(server, _) => server.stop().await,
            Baseline::Select(select) => select.close().await,
            Baseline::Argon2 => {}
            Baseline::Sqlite(load, _) => load.close().await,
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
