//! The accept loop both hosts share: hyper's HTTP/1 connection builder with a
//! header read timeout, a cap on open connections and graceful shutdown.
//!
//! `axum::serve` and `warp::serve` leave hyper's header read timeout off (it
//! needs a timer they do not set) and accept without bound, so a client that
//! opens connections and sends a few bytes, or nothing, holds them for ever.
//! Here:
//!
//! - every connection reads each request's head (request line and headers)
//!   within [`ConnLimits::header_read_timeout`], or is closed. The clock
//!   starts when the server waits for a head, so an idle keep-alive
//!   connection is closed after the same time;
//! - at most [`ConnLimits::max_connections`] connections are served at once.
//!   At the cap the loop stops accepting: new connections wait in the
//!   kernel's accept queue (the listen backlog) until one closes, and the
//!   kernel refuses those beyond the backlog. A connection upgraded to a
//!   WebSocket leaves the count when it is upgraded (WebSockets are bounded
//!   per user by `SLIPWAY_WS_MAX_CONNECTIONS_PER_USER`);
//! - when `shutdown` resolves the loop stops accepting (the listener is
//!   closed), tells every connection to finish its request in flight and
//!   close, and returns once they all have.
//!
//! Connections speak HTTP/1.1 only (with upgrades, for `/ws`): hyper's
//! protocol-detecting builder reads the first bytes without any time limit.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Limits on the connections of one listener.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnLimits {
    /// Longest time to receive one request's head.
    pub(crate) header_read_timeout: Duration,
    /// Most connections served at once (at least 1).
    pub(crate) max_connections: usize,
}

/// Serves the connections of `listener`, each with the service `make` builds
/// for its peer address, until `shutdown` resolves; then finishes the
/// requests in flight and returns.
pub(crate) async fn serve<M, S, B>(
    listener: TcpListener,
    limits: ConnLimits,
    mut make: M,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    M: FnMut(SocketAddr) -> S,
    S: tower::Service<http::Request<Incoming>, Response = http::Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    // Tokio semaphores hold at most `usize::MAX >> 3` permits and wait for
    // at most `u32::MAX` at once (the final wait takes them all).
    let max = limits.max_connections.clamp(1, u32::MAX as usize);
    let slots = Arc::new(Semaphore::new(max));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let http = Arc::new(http);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // At the cap, wait for a connection to close before accepting.
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break, // never closed
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(make(peer));
        let http = http.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let conn = http
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            let mut conn = std::pin::pin!(conn);
            let stopping = async move {
                // The guard `wait_for` returns is not `Send`: drop it here.
                let _ = stop.wait_for(|stop| *stop).await.is_ok();
            };
            let done = tokio::select! {
                done = conn.as_mut() => done,
                () = stopping => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = done {
                tracing::debug!(%peer, error = %e, "connection closed with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every connection task holds a permit until its connection is done.
    let _ = slots.acquire_many(max as u32).await;
    Ok(())
}

/// Errors of `accept`: a connection reset before it was accepted is the
/// client's business; anything else (out of file descriptors) is logged and
/// waited out for a moment, as hyper 0.14's server did.
async fn accept_error(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
