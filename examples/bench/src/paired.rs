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
use crate::stack;

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
    /// Baselines (f), (g), (h): the scenario's own requests, answered by a
    /// minimal axum handler doing the store's work on this database.
    SameStore {
        /// Database URL (the server under test's).
        db: &'a str,
        /// The store's name (`postgres`, `sqlite`, `redis`).
        store: &'a str,
        /// Which request it is.
        request: stack::Request,
    },
}

/// A scenario measured interleaved with one or more baselines.
pub(crate) struct Paired {
    /// The scenario's row compared with each baseline, in the order they
    /// were given; the first carries the server's RSS, the others are the
    /// same measurement compared with another baseline.
    pub(crate) rows: Vec<Row>,
    /// Each baseline's own row, in the same order.
    pub(crate) bases: Vec<Row>,
}

impl Ctx {
    /// Runs `make` against `server` and each baseline of `with` in turn,
    /// alternating slices of `duration / 6`, so load from other work on the
    /// machine falls on all alike (for sign-ins this is also the only way:
    /// both use every CPU). Returns the scenario's row compared with each
    /// baseline measured alongside it, and the baselines' own rows.
    pub(crate) async fn paired_with(
        &self,
        server: &Server,
        name: &str,
        store: &str,
        (make, expect): (MakeRequest, StatusCode),
        with: Vec<Pair<'_>>,
    ) -> anyhow::Result<Paired> {
        let conns = self.connections;
        let before = server.rss_kib();
        let mut bases = Vec::new();
        let mut settle = Duration::from_millis(50);
        for pair in with {
            let base = match pair {
                Pair::JwtServer => Baseline::Server(
                    Server::baseline(self.mode, &self.secret).await?,
                    self.baseline_requests()?,
                    StatusCode::OK,
                    None,
                ),
                Pair::Select { db, project_id } => {
                    Baseline::Select(SelectLoad::connect(db, project_id).await?)
                }
                // A sign-in waits for ~conns / (hashes per second): let the
                // first round of a slice's requests finish before measuring.
                Pair::Hashes => {
                    settle = settle.max(Duration::from_millis(300));
                    Baseline::Argon2
                }
                Pair::SqliteSelect { db, project_id } => {
                    Baseline::Sqlite(SqliteLoad::select(db, project_id).await?, BASELINE_D)
                }
                Pair::SqliteInsert { db, owner_id } => {
                    Baseline::Sqlite(SqliteLoad::insert(db, owner_id).await?, BASELINE_E)
                }
                Pair::SameStore { db, store, request } => Baseline::Server(
                    Server::store_baseline(self.mode, &self.secret, db, self.core_reads).await?,
                    make.clone(),
                    expect,
                    Some((request, request.describe(store, self.core_reads))),
                ),
            };
            bases.push(base);
        }
        let (mine, theirs) = self
            .interleave(server, (&make, expect), settle, &bases)
            .await?;
        let mut row = Row::from_load(name, store, conns, &mine);
        row.rss_before_kib = before;
        row.rss_after_kib = server.rss_kib();
        let mut out = Paired {
            rows: Vec::new(),
            bases: Vec::new(),
        };
        let others: Vec<&str> = bases.iter().map(Baseline::label).collect();
        for (i, (base, theirs)) in bases.into_iter().zip(theirs).enumerate() {
            let (label, unit) = (base.label(), base.unit());
            let mut base_row = match &base {
                Baseline::Server(_, _, _, None) => Row::from_load(BASELINE_A, "-", conns, &theirs),
                Baseline::Server(_, _, _, Some((request, how))) => {
                    let mut r = Row::from_load(request.baseline(), store, conns, &theirs);
                    r.add_note(how);
                    r
                }
                Baseline::Select(s) => {
                    let mut r = Row::from_load(BASELINE_C, "postgres", conns, &theirs);
                    r.add_note(s.describe(conns));
                    r
                }
                Baseline::Argon2 => scenarios::baseline_b_row(&theirs),
                Baseline::Sqlite(s, scenario) => {
                    let mut r = Row::from_load(scenario, "sqlite", conns, &theirs);
                    r.add_note(s.describe(conns));
                    r
                }
            };
            base.stop().await;
            let mut mine = row.clone();
            if i > 0 {
                mine.rss_before_kib = None;
                mine.rss_after_kib = None;
                mine.note = None;
                mine.add_note(format!(
                    "the same measurement as the row compared with baseline {}",
                    others[0]
                ));
            }
            mine.against(&base_row);
            let with_others = if others.len() > 1 && i == 0 {
                format!(" (and with {})", others[1..].join(", "))
            } else {
                String::new()
            };
            mine.add_note(format!(
                "interleaved with baseline {label}{with_others} in {SLICES} slices each; \
                 {label} ran at {:.0} {unit} (p99 {:.2} ms) alongside",
                base_row.rps.unwrap_or(0.0),
                base_row.p99_ms.unwrap_or(0.0)
            ));
            base_row.add_note(format!("measured interleaved with {name} ({store})"));
            out.rows.push(mine);
            out.bases.push(base_row);
        }
        Ok(out)
    }
}

impl Ctx {
    /// Warms `server` (with `make`) and each baseline up, unmeasured, then
    /// runs them in turns of `duration / 6`, each slice after `settle` of
    /// unmeasured load; returns the scenario's merged results and each
    /// baseline's.
    async fn interleave(
        &self,
        server: &Server,
        (make, expect): (&MakeRequest, StatusCode),
        settle: Duration,
        bases: &[Baseline],
    ) -> anyhow::Result<(LoadResult, Vec<LoadResult>)> {
        let conns = self.connections;
        let slice = self.duration / SLICES;
        let run = |warmup, duration| {
            load::run(server.addr(), conns, warmup, duration, make.clone(), expect)
        };
        run(self.warmup, Duration::ZERO).await;
        for base in bases {
            base.run(conns, self.warmup, Duration::ZERO).await?;
        }
        let mut mine: Option<LoadResult> = None;
        let mut theirs: Vec<Option<LoadResult>> = bases.iter().map(|_| None).collect();
        for _ in 0..SLICES {
            merge(&mut mine, run(settle, slice).await);
            for (base, total) in bases.iter().zip(theirs.iter_mut()) {
                merge(total, base.run(conns, settle, slice).await?);
            }
        }
        Ok((
            mine.expect("at least one slice"),
            theirs
                .into_iter()
                .map(|t| t.expect("at least one slice"))
                .collect(),
        ))
    }
}

/// A running baseline.
enum Baseline {
    /// A server answering `MakeRequest` with this status: baseline (a), or
    /// with the request it stands for, a same-store baseline and how it
    /// works.
    Server(
        Server,
        MakeRequest,
        StatusCode,
        Option<(stack::Request, String)>,
    ),
    Select(SelectLoad),
    /// Raw argon2id hashes in this process (it needs no settling).
    Argon2,
    /// Raw sqlx on a SQLite file, and the name of its row.
    Sqlite(SqliteLoad, &'static str),
}

impl Baseline {
    /// `(a)`, `(c)`, ...
    fn label(&self) -> &'static str {
        match self {
            Baseline::Server(_, _, _, None) => "(a)",
            Baseline::Server(_, _, _, Some((stack::Request::Read, _))) => "(f)",
            Baseline::Server(_, _, _, Some((stack::Request::List, _))) => "(g)",
            Baseline::Server(_, _, _, Some((stack::Request::Create, _))) => "(h)",
            Baseline::Select(_) => "(c)",
            Baseline::Argon2 => "(b)",
            Baseline::Sqlite(_, scenario) if *scenario == BASELINE_D => "(d)",
            Baseline::Sqlite(..) => "(e)",
        }
    }

    /// What its throughput counts.
    fn unit(&self) -> &'static str {
        match self {
            Baseline::Server(..) => "req/s",
            Baseline::Select(_) => "SELECTs/s",
            Baseline::Argon2 => "hashes/s",
            Baseline::Sqlite(_, scenario) if *scenario == BASELINE_D => "SELECTs/s",
            Baseline::Sqlite(..) => "transactions/s",
        }
    }

    async fn run(
        &self,
        conns: usize,
        warmup: Duration,
        duration: Duration,
    ) -> anyhow::Result<LoadResult> {
        match self {
            Baseline::Server(server, make, expect, _) => Ok(load::run(
                server.addr(),
                conns,
                warmup,
                duration,
                make.clone(),
                *expect,
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
            Baseline::Server(server, ..) => server.stop().await,
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
