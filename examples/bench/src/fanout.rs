//! Large and cross-node fan-out: one write delivered to 10,000 sockets of
//! its owner, and one write on node A delivered to 1,000 sockets on node B
//! (two Slipway servers sharing one PostgreSQL database or Redis server).
//!
//! How "last delivery" is measured: the clock starts just before the
//! `POST /project` request is sent; each socket's reader task stamps the
//! moment its read returned the `project.update` frame of that write (the
//! k-th frame a socket receives belongs to the k-th write, so a late frame
//! is never counted for the next write); the write's figure is the latest
//! stamp over all sockets. The row's p50/p99 are over the writes (with 20
//! writes, p99 is the slowest one). Writes are 20 ms apart, one at a time.
//!
//! The client side: one tokio task per socket on the bench's multi-thread
//! runtime (one worker per CPU), reading raw bytes (no frame parsing; server
//! frames are unmasked, so the event name is plain in the byte stream) and
//! recording into preallocated atomics, so a delivery costs the client one
//! `read` and a few atomic operations. Readers answer the server's pings
//! (every 30 s): opening 10,000 sockets on a loaded machine can take longer
//! than that, and an unanswered ping closes the socket 10 s later. The CPU time of the bench process
//! and of the server(s) over the writes is in the row's note, to show which
//! side the machine's two CPUs went to.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::Notify;

use crate::load::{histogram, Conn};
use crate::report::Row;
use crate::scenarios::{create_project, resolve, signup, Ctx};
use crate::servers::Server;
use crate::ws::{has_ws, open};

/// Target of the 10,000-socket fan-out: last delivery p99, ms.
const TARGET_10K_MS: f64 = 200.0;
/// Target of the cross-node fan-out: last delivery p99, ms.
const TARGET_CROSS_MS: f64 = 100.0;
/// How long a write's deliveries are waited for before the missing ones
/// count as errors.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);

/// Delivery stamps of every socket for every write.
struct Board {
    origin: Instant,
    sockets: usize,
    /// `at[write * sockets + socket]`: nanoseconds after `origin` (0: not yet).
    at: Vec<AtomicU64>,
    /// Deliveries of each write so far.
    count: Vec<AtomicUsize>,
    /// Signalled when a write reached every socket.
    done: Notify,
}

impl Board {
    fn new(sockets: usize, writes: usize) -> Self {
        Board {
            origin: Instant::now(),
            sockets,
            at: (0..sockets * writes).map(|_| AtomicU64::new(0)).collect(),
            count: (0..writes).map(|_| AtomicUsize::new(0)).collect(),
            done: Notify::new(),
        }
    }

    fn since_origin(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.origin).as_nanos() as u64
    }

    /// Socket `socket` received the frame of write `write` at `t`.
    fn stamp(&self, write: usize, socket: usize, t: Instant) {
        let Some(count) = self.count.get(write) else {
            return; // a frame nobody asked for
        };
        self.at[write * self.sockets + socket]
            .store(self.since_origin(t).max(1), Ordering::Relaxed);
        if count.fetch_add(1, Ordering::AcqRel) + 1 == self.sockets {
            self.done.notify_one();
        }
    }

    /// Waits until write `write` reached every socket, or `limit` passed.
    async fn wait(&self, write: usize, limit: Duration) {
        let complete = || self.count[write].load(Ordering::Acquire) >= self.sockets;
        let _ = tokio::time::timeout(limit, async {
            while !complete() {
                let notified = self.done.notified();
                if complete() {
                    break;
                }
                notified.await;
            }
        })
        .await;
    }

    /// The delivery times of write `write` after `t0` (µs), one per socket
    /// that got it.
    fn deliveries(&self, write: usize, t0: Instant) -> Vec<u64> {
        let start = self.since_origin(t0);
        self.at[write * self.sockets..(write + 1) * self.sockets]
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .filter(|&ns| ns != 0)
            .map(|ns| ns.saturating_sub(start) / 1000)
            .collect()
    }
}

/// Opens `n` sockets, at most 200 handshakes at a time. A refused upgrade
/// (503 when the store's pool is exhausted by the connects, on a loaded
/// machine) is retried after a second, up to 10 times per socket.
///
/// Each socket's reader starts as soon as it is open, so the server's pings
/// are answered while the others open (that can take minutes on a loaded
/// machine, and an unanswered ping drops a socket after 40 s).
async fn open_all(
    addr: std::net::SocketAddr,
    token: &str,
    board: &Arc<Board>,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let gate = Arc::new(tokio::sync::Semaphore::new(200));
    let tasks: Vec<_> = (0..board.sockets)
        .map(|i| {
            let gate = gate.clone();
            let token = token.to_string();
            let board = board.clone();
            tokio::spawn(async move {
                let mut tries = 0;
                loop {
                    let permit = gate.acquire().await?;
                    match open(addr, &token).await {
                        Ok(ws) => return anyhow::Ok(tokio::spawn(read(ws, i, board))),
                        Err(e) if tries < 10 => {
                            drop(permit);
                            tries += 1;
                            say_retrying(&e, tries);
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                        Err(e) => return Err(e),
                    }
                }
            })
        })
        .collect();
    let mut readers = Vec::with_capacity(tasks.len());
    let mut failed = None;
    for t in tasks {
        match t.await? {
            Ok(reader) => readers.push(reader),
            Err(e) => failed = failed.or(Some(e)),
        }
    }
    match failed {
        None => Ok(readers),
        Some(e) => {
            for r in readers {
                r.abort();
            }
            Err(e)
        }
    }
}

/// Says on stderr (once per run) that opening sockets needed retries.
fn say_retrying(e: &anyhow::Error, tries: usize) {
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        let first = e.to_string();
        let first = first.lines().next().unwrap_or_default();
        eprintln!("note: a WebSocket connect was refused ({first}); retrying (try {tries})");
    });
}

/// A row saying the scenario failed, so the rest of the run goes on.
fn failed(scenario: String, store: &str, sockets: usize, target_ms: f64, e: &anyhow::Error) -> Row {
    let mut row = Row {
        scenario,
        store: store.to_string(),
        connections: sockets,
        target: Some(format!("last delivery p99 <= {target_ms:.0} ms")),
        met: Some(false),
        ..Row::default()
    };
    let e = e.to_string();
    row.add_note(format!(
        "the scenario failed: {}",
        e.lines().next().unwrap_or_default()
    ));
    row
}

/// Reads socket `i` until it closes, stamping each `project.update` frame.
async fn read(mut ws: tokio::net::TcpStream, i: usize, board: Arc<Board>) {
    let mut buf = [0u8; 4096];
    let mut next_write = 0usize;
    while let Ok(n) = ws.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let t = Instant::now();
        // The server pings every 30 s and drops a socket whose pong does
        // not come within 10 s; its pings carry no payload (`89 00`, bytes
        // no text frame of this size holds). Answer with an empty masked pong.
        if buf[..n].windows(2).any(|w| w == [0x89, 0x00])
            && ws.write_all(&[0x8A, 0x80, 0, 0, 0, 0]).await.is_err()
        {
            break;
        }
        // One write is one small frame: one read per delivery (a read
        // holding two frames counts both).
        let mut rest = &buf[..n];
        while let Some(at) = find(rest, b"project.update") {
            board.stamp(next_write, i, t);
            next_write += 1;
            rest = &rest[at + 1..];
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// CPU time (user + system) of a process so far, from `/proc/<pid>/stat`.
fn cpu_time(pid: Option<u32>) -> Option<Duration> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on Linux.
    Some(Duration::from_millis(ticks * 10))
}

/// CPU time of the bench process and of the given servers.
fn cpu_now(servers: &[&Server]) -> Vec<Option<Duration>> {
    let mut v = vec![cpu_time(None)];
    v.extend(
        servers
            .iter()
            .map(|s| s.pid().and_then(|p| cpu_time(Some(p)))),
    );
    v
}

/// What the writes measured.
struct Measured {
    /// Time to the last delivery of each write (µs).
    last: hdrhistogram::Histogram<u64>,
    /// Every delivery (µs).
    each: hdrhistogram::Histogram<u64>,
    /// The `POST /project` response times (µs).
    write: hdrhistogram::Histogram<u64>,
    /// Deliveries that did not arrive within [`DELIVERY_TIMEOUT`].
    missing: u64,
    /// CPU used by the bench process and each server over the writes.
    cpu: Vec<Option<Duration>>,
    /// Wall time of the writes.
    wall: Duration,
}

/// Sends `writes` writes through `conn`, one at a time, each waited for on
/// every socket of `board`.
async fn measure(
    conn: &mut Conn,
    token: &str,
    board: &Board,
    writes: usize,
    servers: &[&Server],
) -> anyhow::Result<Measured> {
    let mut m = Measured {
        last: histogram(),
        each: histogram(),
        write: histogram(),
        missing: 0,
        cpu: Vec::new(),
        wall: Duration::ZERO,
    };
    let cpu_before = cpu_now(servers);
    let started = Instant::now();
    for w in 0..writes {
        let t0 = Instant::now();
        if create_project(conn, token).await?.is_none() {
            anyhow::bail!("the server has /ws but no POST /project");
        }
        m.write
            .saturating_record(t0.elapsed().as_micros().max(1) as u64);
        board.wait(w, DELIVERY_TIMEOUT).await;
        let got = board.deliveries(w, t0);
        m.missing += (board.sockets - got.len()) as u64;
        for &d in &got {
            m.each.saturating_record(d.max(1));
        }
        let latest = got
            .iter()
            .copied()
            .max()
            .unwrap_or(DELIVERY_TIMEOUT.as_micros() as u64);
        m.last.saturating_record(latest.max(1));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    m.wall = started.elapsed();
    m.cpu = cpu_now(servers)
        .into_iter()
        .zip(cpu_before)
        .map(|(after, before)| Some(after?.saturating_sub(before?)))
        .collect();
    Ok(m)
}

impl Measured {
    /// Fills the row's percentiles, target and note.
    fn into_row(self, mut row: Row, target_ms: f64, writes: usize, servers: &[&str]) -> Row {
        row.set_percentiles(&self.last);
        row.errors = self.missing;
        row.target = Some(format!("last delivery p99 <= {target_ms:.0} ms"));
        row.met = row.p99_ms.map(|p| p <= target_ms);
        let ms = |h: &hdrhistogram::Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        let mut cpu = Vec::new();
        let names = std::iter::once("bench").chain(servers.iter().copied());
        for (name, used) in names.zip(&self.cpu) {
            if let Some(used) = used {
                cpu.push(format!(
                    "{name} {:.0} ms ({:.0} % of one CPU)",
                    used.as_secs_f64() * 1000.0,
                    100.0 * used.as_secs_f64() / self.wall.as_secs_f64()
                ));
            }
        }
        row.add_note(format!(
            "{writes} writes, clock from just before each POST /project to the last socket's read; \
             slowest write {:.2} ms; per-delivery p50 {:.2} ms, p99 {:.2} ms; \
             POST /project response p50 {:.2} ms; CPU over the writes ({:.1} s): {}; \
             errors = deliveries missing after {} s",
            self.last.max() as f64 / 1000.0,
            ms(&self.each, 0.5),
            ms(&self.each, 0.99),
            ms(&self.write, 0.5),
            self.wall.as_secs_f64(),
            if cpu.is_empty() { "-".to_string() } else { cpu.join(", ") },
            DELIVERY_TIMEOUT.as_secs(),
        ));
        row
    }
}

impl Ctx {
    /// One `POST /project` delivered to `sockets` (10,000) subscribed
    /// sockets of its owner, `writes` times.
    pub(crate) async fn ws_fanout_large(
        &self,
        db: &str,
        store: &str,
        sockets: usize,
        writes: usize,
    ) -> anyhow::Result<Option<Row>> {
        let server = self.start(db).await?;
        let addr = server.addr();
        if !has_ws(addr).await? {
            server.stop().await;
            return Ok(None);
        }
        let account = signup(&mut Conn::open(addr).await?).await?;
        let board = Arc::new(Board::new(sockets, writes));
        let opening = Instant::now();
        let tasks = match open_all(addr, &account.token, &board).await {
            Ok(tasks) => tasks,
            Err(e) => {
                server.stop().await;
                let name =
                    format!("WS fan-out: 1 write → {sockets} sockets (time to last delivery)");
                return Ok(Some(failed(name, store, sockets, TARGET_10K_MS, &e)));
            }
        };
        let opened_in = opening.elapsed();
        // A fresh connection for the writes: an idle one may have been
        // closed by the server while the sockets were opening.
        let mut conn = Conn::open(addr).await?;
        let before = server.rss_kib();
        let m = measure(&mut conn, &account.token, &board, writes, &[&server]).await;
        for t in tasks {
            t.abort();
        }
        let after = server.rss_kib();
        server.stop().await;
        let row = Row {
            scenario: format!("WS fan-out: 1 write → {sockets} sockets (time to last delivery)"),
            store: store.to_string(),
            connections: sockets,
            rss_before_kib: before,
            rss_after_kib: after,
            ..Row::default()
        };
        let mut row = match m {
            Ok(m) => m.into_row(row, TARGET_10K_MS, writes, &["server"]),
            Err(e) => failed(row.scenario, store, sockets, TARGET_10K_MS, &e),
        };
        row.add_note(format!(
            "sockets opened in {:.1} s",
            opened_in.as_secs_f64()
        ));
        Ok(Some(row))
    }

    /// One `POST /project` on node A delivered to `sockets` subscribed
    /// sockets of its owner on node B, two servers sharing the database
    /// `db`; `None` when this server has no `/ws`.
    pub(crate) async fn ws_fanout_cross_node(
        &self,
        db: &str,
        store: &str,
        sockets: usize,
        writes: usize,
    ) -> anyhow::Result<Option<Row>> {
        let db = resolve(db);
        let a = self.start(&db).await?;
        let b = match self.start(&db).await {
            Ok(b) => b,
            Err(e) => {
                a.stop().await;
                return Err(e);
            }
        };
        let stop = |a: Server, b: Server| async move {
            a.stop().await;
            b.stop().await;
        };
        if !has_ws(b.addr()).await? {
            stop(a, b).await;
            return Ok(None);
        }
        let measured = async {
            let account = signup(&mut Conn::open(a.addr()).await?).await?;
            let board = Arc::new(Board::new(sockets, writes));
            let tasks = open_all(b.addr(), &account.token, &board).await?;
            let mut conn = Conn::open(a.addr()).await?;
            let m = measure(&mut conn, &account.token, &board, writes, &[&a, &b]).await;
            for t in tasks {
                t.abort();
            }
            m
        }
        .await;
        let row = Row {
            scenario: format!(
                "WS fan-out across nodes: 1 write on A → {sockets} sockets on B (time to last delivery)"
            ),
            store: store.to_string(),
            connections: sockets,
            rss_before_kib: None,
            rss_after_kib: b.rss_kib(),
            ..Row::default()
        };
        stop(a, b).await;
        Ok(Some(match measured {
            Ok(m) => m.into_row(row, TARGET_CROSS_MS, writes, &["node A", "node B"]),
            Err(e) => failed(row.scenario, store, sockets, TARGET_CROSS_MS, &e),
        }))
    }
}
