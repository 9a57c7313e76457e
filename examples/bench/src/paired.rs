//! Interleaved measurement: a scenario and its baseline take turns in short
//! slices, so load from other work on the machine falls on both alike.

use std::time::Duration;

use http::StatusCode;

use crate::load::{self, LoadResult, MakeRequest};
use crate::report::Row;
use crate::scenarios::{Ctx, BASELINE_A};
use crate::servers::Server;

/// How many slices each side gets.
const SLICES: u32 = 6;

impl Ctx {
    /// Runs `make` against `server` and baseline (a) against a fresh baseline
    /// server, alternating slices of `duration / 6`; returns the scenario's row
    /// compared with the baseline measured alongside it.
    pub(crate) async fn paired_with_baseline(
        &self,
        server: &Server,
        name: &str,
        store: &str,
        make: MakeRequest,
    ) -> anyhow::Result<Row> {
        let base = Server::baseline(self.mode, &self.secret).await?;
        let base_make = self.baseline_requests()?;
        let before = server.rss_kib();
        let slice = self.duration / SLICES;
        let settle = Duration::from_millis(50);
        // Warm both up (the warm-up is not measured).
        let conns = self.connections;
        load::run(
            server.addr(),
            conns,
            self.warmup,
            Duration::ZERO,
            make.clone(),
            StatusCode::OK,
        )
        .await;
        load::run(
            base.addr(),
            conns,
            self.warmup,
            Duration::ZERO,
            base_make.clone(),
            StatusCode::OK,
        )
        .await;
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
            let r = load::run(
                base.addr(),
                conns,
                settle,
                slice,
                base_make.clone(),
                StatusCode::OK,
            )
            .await;
            merge(&mut theirs, r);
        }
        base.stop().await;
        let mine = mine.expect("at least one slice");
        let theirs = theirs.expect("at least one slice");
        let mut row = Row::from_load(name, store, conns, &mine);
        row.rss_before_kib = before;
        row.rss_after_kib = server.rss_kib();
        let base_row = Row::from_load(BASELINE_A, "-", conns, &theirs);
        row.against(&base_row);
        row.add_note(format!(
            "interleaved with baseline (a) in {SLICES} slices each; (a) ran at {:.0} req/s \
             (p99 {:.2} ms) alongside",
            base_row.rps.unwrap_or(0.0),
            base_row.p99_ms.unwrap_or(0.0)
        ));
        Ok(row)
    }
}

fn merge(total: &mut Option<LoadResult>, part: LoadResult) {
    match total {
        None => *total = Some(part),
        Some(t) => {
            t.latencies
                .add(&part.latencies)
                .expect("same histogram bounds");
            t.errors += part.errors;
            t.window += part.window;
            if t.first_error.is_none() {
                t.first_error = part.first_error;
            }
        }
    }
}
