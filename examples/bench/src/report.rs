//! Result rows, the printed table and the JSON file.

use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::load::LoadResult;

/// One line of the results.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Row {
    /// Scenario name.
    pub(crate) scenario: String,
    /// Store (`memory`, `postgres`, ...), or `-` for baselines without one.
    pub(crate) store: String,
    /// Concurrent connections (or sockets).
    pub(crate) connections: usize,
    /// Operations per second.
    pub(crate) rps: Option<f64>,
    /// Latency percentiles in milliseconds.
    pub(crate) p50_ms: Option<f64>,
    /// 99th percentile, ms.
    pub(crate) p99_ms: Option<f64>,
    /// 99.9th percentile, ms.
    pub(crate) p999_ms: Option<f64>,
    /// Failed operations.
    pub(crate) errors: u64,
    /// Server RSS before the scenario, KiB.
    pub(crate) rss_before_kib: Option<u64>,
    /// Server RSS after the scenario, KiB.
    pub(crate) rss_after_kib: Option<u64>,
    /// The baseline row this one is compared with.
    pub(crate) baseline: Option<String>,
    /// This figure divided by the baseline's.
    pub(crate) ratio: Option<f64>,
    /// The target from the issue.
    pub(crate) target: Option<String>,
    /// Whether the target was met.
    pub(crate) met: Option<bool>,
    /// Anything else worth knowing.
    pub(crate) note: Option<String>,
}

impl Row {
    /// A row from a load run.
    pub(crate) fn from_load(
        scenario: &str,
        store: &str,
        connections: usize,
        r: &LoadResult,
    ) -> Self {
        let mut row = Row {
            scenario: scenario.to_string(),
            store: store.to_string(),
            connections,
            rps: Some(r.rps()),
            errors: r.errors,
            note: r
                .first_error
                .as_ref()
                .map(|e| format!("first error: {}", truncate(e, 120))),
            ..Row::default()
        };
        row.set_percentiles(&r.latencies);
        row
    }

    /// Fills p50/p99/p99.9 from a histogram in microseconds.
    pub(crate) fn set_percentiles(&mut self, h: &Histogram<u64>) {
        if h.is_empty() {
            return;
        }
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        self.p50_ms = Some(ms(0.50));
        self.p99_ms = Some(ms(0.99));
        self.p999_ms = Some(ms(0.999));
    }

    /// Compares throughput with a baseline row.
    pub(crate) fn against(&mut self, baseline: &Row) {
        // "baseline (a): ..." → "baseline (a)"
        let label = match baseline.scenario.split_once(':') {
            Some((short, _)) => short.to_string(),
            None => baseline.scenario.clone(),
        };
        self.baseline = Some(label);
        if let (Some(a), Some(b)) = (self.rps, baseline.rps) {
            if b > 0.0 {
                self.ratio = Some(a / b);
            }
        }
    }

    /// Sets a throughput-ratio target (`ratio >= min`).
    pub(crate) fn ratio_target(&mut self, min: f64) {
        self.target = Some(format!(
            ">= {:.0}% of {}",
            min * 100.0,
            self.baseline.as_deref().unwrap_or("baseline")
        ));
        self.met = self.ratio.map(|r| r >= min);
    }

    /// Appends to the note.
    pub(crate) fn add_note(&mut self, note: impl AsRef<str>) {
        self.note = Some(match self.note.take() {
            Some(n) => format!("{}; {n}", note.as_ref()),
            None => note.as_ref().to_string(),
        });
    }
}

/// Prints a row's table line (progress) and keeps it.
pub(crate) fn push(rows: &mut Vec<Row>, row: Row) {
    eprintln!(
        "{}",
        table(std::slice::from_ref(&row))
            .lines()
            .nth(2)
            .unwrap_or("")
    );
    rows.push(row);
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map(|x| format!("{x:.digits$}"))
        .unwrap_or_else(|| "-".into())
}

fn mib(v: Option<u64>) -> String {
    v.map(|k| format!("{:.1}", k as f64 / 1024.0))
        .unwrap_or_else(|| "-".into())
}

/// The results as a Markdown table (printed, and pasted into BENCHMARKS.md).
pub(crate) fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| scenario | store | conns | ops/s | p50 ms | p99 ms | p99.9 ms | errors | RSS MiB before → after | vs baseline | ratio | target | met |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---|---|---:|---|---|\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} → {} | {} | {} | {} | {} |\n",
            r.scenario,
            r.store,
            r.connections,
            opt(r.rps, 0),
            opt(r.p50_ms, 2),
            opt(r.p99_ms, 2),
            opt(r.p999_ms, 2),
            r.errors,
            mib(r.rss_before_kib),
            mib(r.rss_after_kib),
            r.baseline.as_deref().unwrap_or("-"),
            r.ratio
                .map(|x| format!("{:.0}%", x * 100.0))
                .unwrap_or_else(|| "-".into()),
            r.target.as_deref().unwrap_or("-"),
            match r.met {
                Some(true) => "met",
                Some(false) => "**missed**",
                None => "-",
            },
        ));
    }
    let notes: Vec<_> = rows
        .iter()
        .filter_map(|r| {
            r.note
                .as_ref()
                .map(|n| format!("- {} ({}): {n}\n", r.scenario, r.store))
        })
        .collect();
    if !notes.is_empty() {
        out.push_str("\nNotes:\n");
        for n in notes {
            out.push_str(&n);
        }
    }
    out
}

/// The machine the run happened on.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Machine {
    /// CPUs available to this process.
    pub(crate) cpus: usize,
    /// `model name` from /proc/cpuinfo.
    pub(crate) cpu_model: String,
    /// `MemTotal` from /proc/meminfo, MiB.
    pub(crate) memory_mib: u64,
    /// The 1/5/15-minute load averages when the run started (other work on
    /// the machine skews every figure).
    pub(crate) load_average: String,
}

impl Machine {
    /// Reads /proc.
    pub(crate) fn detect() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_mib = meminfo
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map(|kib| kib / 1024)
            .unwrap_or(0);
        let load_average = std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ");
        Machine {
            load_average,
            cpus: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            cpu_model,
            memory_mib,
        }
    }

    /// One line for the table header.
    pub(crate) fn describe(&self) -> String {
        format!(
            "{} CPUs ({}), {} MiB memory, load average {} at start",
            self.cpus, self.cpu_model, self.memory_mib, self.load_average
        )
    }
}

/// The JSON file.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Report<'a> {
    /// When the run started (RFC 3339).
    pub(crate) started_at: String,
    /// The machine.
    pub(crate) machine: &'a Machine,
    /// The settings of the run.
    pub(crate) settings: serde_json::Value,
    /// Every row.
    pub(crate) results: &'a [Row],
}

/// Writes `report` to `<dir>/<timestamp>.json`.
pub(crate) fn write_json(dir: &Path, stamp: &str, report: &Report<'_>) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{stamp}.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(report)?)?;
    Ok(path)
}
