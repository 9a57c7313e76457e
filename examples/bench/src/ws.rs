//! WebSocket scenarios: fan-out of one write to many subscribed sockets, and
//! the memory cost of idle authenticated sockets.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::StatusCode;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};

use crate::load::{histogram, Conn};
use crate::report::Row;
use crate::scenarios::{create_project, signup, Ctx};
use crate::servers::Host;

/// An open WebSocket, read as raw bytes: the load generator only needs to
/// know when a frame arrives, so it skips frame parsing (server frames are
/// unmasked, so their JSON is plain in the byte stream). This keeps the
/// client's share of the two CPUs small.
type Ws = TcpStream;

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Opens `/ws?token=`, checks the 101 answer and waits for the `connect` frame.
pub(crate) async fn open(addr: SocketAddr, token: &str) -> anyhow::Result<Ws> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let req = format!(
        "GET /ws?token={token} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(req.as_bytes()).await?;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            anyhow::bail!(
                "the socket closed before the connect frame: {}",
                String::from_utf8_lossy(&buf)
            );
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() >= 12 && !buf.starts_with(b"HTTP/1.1 101") {
            anyhow::bail!("/ws refused the upgrade: {}", String::from_utf8_lossy(&buf));
        }
        if contains(&buf, b"\"connect\"") {
            return Ok(stream);
        }
    }
}

/// Opens `n` sockets, at most 200 handshakes at a time; returns them with
/// the connect latencies (µs).
pub(crate) async fn open_many(
    addr: SocketAddr,
    token: &str,
    n: usize,
) -> anyhow::Result<(Vec<Ws>, hdrhistogram::Histogram<u64>)> {
    let gate = Arc::new(Semaphore::new(200));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let gate = gate.clone();
            let token = token.to_string();
            tokio::spawn(async move {
                let _permit = gate.acquire_owned().await?;
                let t0 = Instant::now();
                let ws = open(addr, &token).await?;
                anyhow::Ok((ws, t0.elapsed()))
            })
        })
        .collect();
    let mut socks = Vec::with_capacity(n);
    let mut h = histogram();
    for t in tasks {
        let (ws, d) = t.await??;
        h.saturating_record(d.as_micros().max(1) as u64);
        socks.push(ws);
    }
    Ok((socks, h))
}

/// Does this server serve `/ws`? (A refused upgrade without a token is 401.)
pub(crate) async fn has_ws(addr: SocketAddr) -> anyhow::Result<bool> {
    let mut conn = Conn::open(addr).await?;
    let (status, _) = conn
        .send(crate::load::request(http::Method::GET, "/ws", None, None))
        .await?;
    Ok(status == StatusCode::UNAUTHORIZED)
}

impl Ctx {
    /// One `POST /project` delivered to `sockets` subscribed sockets of its
    /// owner, `rounds` times: time from sending the write to the last delivery.
    pub(crate) async fn ws_fanout(
        &self,
        db: &str,
        store: &str,
        sockets: usize,
        rounds: usize,
    ) -> anyhow::Result<Option<Row>> {
        let server = self.start(db).await?;
        let addr = server.addr();
        if !has_ws(addr).await? {
            server.stop().await;
            return Ok(None);
        }
        let mut conn = Conn::open(addr).await?;
        let account = signup(&mut conn).await?;
        let (socks, _) = open_many(addr, &account.token, sockets).await?;
        let before = server.rss_kib();
        let (tx, mut rx) = mpsc::unbounded_channel::<Instant>();
        let readers: Vec<_> = socks
            .into_iter()
            .map(|mut ws| {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = ws.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        // One write is one small frame: one read per delivery.
                        if contains(&buf[..n], b"project.update") {
                            let _ = tx.send(Instant::now());
                        }
                    }
                })
            })
            .collect();
        drop(tx);
        let mut last = histogram();
        let mut each = histogram();
        let mut missing = 0u64;
        for _ in 0..rounds {
            let t0 = Instant::now();
            if create_project(&mut conn, &account.token).await?.is_none() {
                anyhow::bail!("the server has /ws but no POST /project");
            }
            let mut got = 0;
            let mut latest = Duration::ZERO;
            while got < sockets {
                match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
                    Ok(Some(at)) => {
                        let d = at.saturating_duration_since(t0);
                        each.saturating_record(d.as_micros().max(1) as u64);
                        latest = latest.max(d);
                        got += 1;
                    }
                    _ => break,
                }
            }
            missing += (sockets - got) as u64;
            last.saturating_record(latest.as_micros().max(1) as u64);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut row = Row {
            scenario: format!("WS fan-out: 1 write → {sockets} sockets (time to last delivery)"),
            store: store.to_string(),
            connections: sockets,
            errors: missing,
            rss_before_kib: before,
            rss_after_kib: server.rss_kib(),
            target: Some("last delivery p99 <= 50 ms".into()),
            ..Row::default()
        };
        row.set_percentiles(&last);
        row.met = row.p99_ms.map(|p| p <= 50.0);
        row.add_note(format!(
            "{rounds} writes; per-delivery p50 {:.2} ms, p99 {:.2} ms; errors = deliveries missing after 5 s",
            each.value_at_quantile(0.5) as f64 / 1000.0,
            each.value_at_quantile(0.99) as f64 / 1000.0
        ));
        for r in readers {
            r.abort();
        }
        server.stop().await;
        Ok(Some(row))
    }

    /// Server memory per idle authenticated WebSocket, over `sockets` sockets,
    /// with Slipway served by `host`.
    pub(crate) async fn ws_idle(
        &self,
        db: &str,
        store: &str,
        sockets: usize,
        host: Host,
    ) -> anyhow::Result<Option<Row>> {
        let server = self.start_on(db, host).await?;
        let addr = server.addr();
        if !has_ws(addr).await? {
            server.stop().await;
            return Ok(None);
        }
        let mut conn = Conn::open(addr).await?;
        let account = signup(&mut conn).await?;
        // Warm up the server's allocator and tables with a few sockets first.
        let (warm, _) = open_many(addr, &account.token, 10).await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let before = server.rss_kib();
        let started = Instant::now();
        let (socks, connect) = open_many(addr, &account.token, sockets).await?;
        let took = started.elapsed();
        // Idle: nothing is read or written (the server pings only every 30 s).
        tokio::time::sleep(Duration::from_secs(1)).await;
        let after = server.rss_kib();
        let mut row = Row {
            scenario: match host {
                Host::Axum => format!("{sockets} idle authenticated WebSockets (server memory)"),
                Host::Warp => {
                    format!("{sockets} idle authenticated WebSockets (server memory), warp host")
                }
            },
            store: store.to_string(),
            connections: sockets,
            rps: Some(sockets as f64 / took.as_secs_f64()),
            rss_before_kib: before,
            rss_after_kib: after,
            target: Some("<= 20 KiB per socket".into()),
            ..Row::default()
        };
        row.set_percentiles(&connect);
        if let (Some(b), Some(a)) = (before, after) {
            let per = a.saturating_sub(b) as f64 / sockets as f64;
            row.met = Some(per <= 20.0);
            row.add_note(format!(
                "{per:.1} KiB of server RSS per socket; ops/s and latencies are of the connect + upgrade + connect frame"
            ));
        }
        drop(socks);
        drop(warm);
        server.stop().await;
        Ok(Some(row))
    }
}
