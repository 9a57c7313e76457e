//! The HTTP load generator: N keep-alive HTTP/1.1 connections, one task each,
//! issuing requests back to back for a set time and recording latencies.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Builds the request a connection sends next, from the connection index and
/// its per-connection sequence number (for unique bodies).
pub(crate) type MakeRequest = Arc<dyn Fn(usize, u64) -> Request<Full<Bytes>> + Send + Sync>;

/// A request builder for a fixed method, path, optional bearer token and body.
pub(crate) fn request(
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Vec<u8>>,
) -> Request<Full<Bytes>> {
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, "127.0.0.1");
    if let Some(t) = token {
        b = b.header(http::header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let body = match body {
        Some(bytes) => {
            b = b.header(http::header::CONTENT_TYPE, "application/json");
            Full::new(Bytes::from(bytes))
        }
        None => Full::new(Bytes::new()),
    };
    b.body(body).expect("a valid request")
}

/// A new latency histogram in microseconds, 1 µs to 60 s, 3 significant digits.
pub(crate) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// What one load run measured (only the part after the warm-up).
#[derive(Debug)]
pub(crate) struct LoadResult {
    /// Latencies in microseconds of the requests that got the expected status.
    pub(crate) latencies: Histogram<u64>,
    /// Requests with another status, or transport failures.
    pub(crate) errors: u64,
    /// Length of the measured window.
    pub(crate) window: Duration,
    /// The first unexpected status seen, to explain errors.
    pub(crate) first_error: Option<String>,
}

impl LoadResult {
    /// Nothing measured yet, over a window of `window`.
    pub(crate) fn empty(window: Duration) -> Self {
        Self {
            latencies: histogram(),
            errors: 0,
            window,
            first_error: None,
        }
    }

    /// Adds the latencies and errors of a run over the same window (another
    /// connection of the same load).
    pub(crate) fn absorb(&mut self, part: LoadResult) {
        self.latencies
            .add(&part.latencies)
            .expect("same histogram bounds");
        self.errors += part.errors;
        if self.first_error.is_none() {
            self.first_error = part.first_error;
        }
    }

    /// Successful requests per second over the measured window.
    pub(crate) fn rps(&self) -> f64 {
        self.latencies.len() as f64 / self.window.as_secs_f64()
    }
}

/// One open keep-alive HTTP/1.1 connection.
pub(crate) struct Conn {
    sender: SendRequest<Full<Bytes>>,
}

impl Conn {
    /// Connects and performs the HTTP/1.1 handshake.
    pub(crate) async fn open(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Self { sender })
    }

    /// Sends one request and reads the whole answer.
    pub(crate) async fn send(
        &mut self,
        req: Request<Full<Bytes>>,
    ) -> anyhow::Result<(StatusCode, Bytes)> {
        self.sender.ready().await?;
        let resp = self.sender.send_request(req).await?;
        let status = resp.status();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }

    /// Sends a request and parses a JSON answer that must have `expect` status.
    pub(crate) async fn json(
        &mut self,
        req: Request<Full<Bytes>>,
        expect: StatusCode,
    ) -> anyhow::Result<serde_json::Value> {
        let what = format!("{} {}", req.method(), req.uri());
        let (status, body) = self.send(req).await?;
        if status != expect {
            anyhow::bail!(
                "{what} answered {status} (expected {expect}): {}",
                String::from_utf8_lossy(&body)
            );
        }
        Ok(serde_json::from_slice(&body)?)
    }
}

/// Runs `connections` keep-alive connections against `addr` for
/// `warmup + duration`, each sending `make(conn, seq)` back to back; only the
/// requests that start after the warm-up are measured.
pub(crate) async fn run(
    addr: SocketAddr,
    connections: usize,
    warmup: Duration,
    duration: Duration,
    make: MakeRequest,
    expect: StatusCode,
) -> LoadResult {
    let start = Instant::now();
    let measure_from = start + warmup;
    let until = measure_from + duration;
    let tasks: Vec<_> = (0..connections)
        .map(|i| {
            let make = make.clone();
            tokio::spawn(connection(addr, i, measure_from, until, make, expect))
        })
        .collect();
    let mut total = LoadResult::empty(duration);
    for t in tasks {
        match t.await {
            Ok(part) => total.absorb(part),
            Err(e) => {
                total.errors += 1;
                total.first_error.get_or_insert(format!("task failed: {e}"));
            }
        }
    }
    total
}

async fn connection(
    addr: SocketAddr,
    index: usize,
    measure_from: Instant,
    until: Instant,
    make: MakeRequest,
    expect: StatusCode,
) -> LoadResult {
    let mut out = LoadResult {
        latencies: histogram(),
        errors: 0,
        window: until - measure_from,
        first_error: None,
    };
    let mut conn: Option<Conn> = None;
    let mut seq = 0u64;
    while Instant::now() < until {
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match Conn::open(addr).await {
                Ok(c) => conn.insert(c),
                Err(e) => {
                    out.errors += 1;
                    out.first_error.get_or_insert(format!("connect: {e}"));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let req = make(index, seq);
        seq += 1;
        let t0 = Instant::now();
        let result = c.send(req).await;
        let elapsed = t0.elapsed();
        let measured = t0 >= measure_from && t0 < until;
        match result {
            Ok((status, _)) if status == expect => {
                if measured {
                    let us = elapsed.as_micros().max(1) as u64;
                    out.latencies.saturating_record(us);
                }
            }
            Ok((status, body)) => {
                if measured {
                    out.errors += 1;
                }
                out.first_error
                    .get_or_insert_with(|| format!("{status}: {}", String::from_utf8_lossy(&body)));
            }
            Err(e) => {
                if measured {
                    out.errors += 1;
                }
                out.first_error.get_or_insert(format!("{e}"));
                conn = None;
            }
        }
    }
    out
}
