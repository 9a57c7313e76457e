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
//!
//! A panic while answering a request (core catches its handlers' own; this
//! catches the rest: routing, the `/ws` check, adapter code, host layers)
//! answers Slipway's JSON 500 and is logged, and the connection carries on.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt as _;
use http_body_util::BodyExt as _;
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
    B: http_body::Body + From<Bytes> + Send + 'static,
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
        prepare(&stream);
        let service = TowerToHyperService::new(catch_panics(make(peer)));
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

/// `service`, answering a panic with Slipway's JSON 500 instead of letting
/// it drop the connection.
fn catch_panics<S, B>(
    service: S,
) -> impl tower::Service<
    http::Request<Incoming>,
    Response = http::Response<B>,
    Error = Infallible,
    Future = impl Future<Output = Result<http::Response<B>, Infallible>> + Send,
> + Clone
       + Send
where
    S: tower::Service<http::Request<Incoming>, Response = http::Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: From<Bytes> + Send + 'static,
{
    tower::service_fn(move |req: http::Request<Incoming>| {
        let answer = tower::ServiceExt::oneshot(service.clone(), req);
        async move {
            match std::panic::AssertUnwindSafe(answer).catch_unwind().await {
                Ok(answered) => answered,
                Err(panic) => {
                    let what = panic
                        .downcast_ref::<&str>()
                        .copied()
                        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
                        .unwrap_or("a non-string payload");
                    tracing::error!(panic = what, "a request panicked; answered 500");
                    Ok(internal_error().await)
                }
            }
        }
    })
}

/// Slipway's JSON 500, in the host's body type.
async fn internal_error<B: From<Bytes>>() -> http::Response<B> {
    let (parts, body) = slipway_core::ApiError::new(
        http::StatusCode::INTERNAL_SERVER_ERROR,
        "Internal server error",
    )
    .into_response()
    .into_parts();
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(never) => match never {},
    };
    http::Response::from_parts(parts, B::from(bytes))
}

/// Socket options of an accepted connection: `TCP_NODELAY`, so a small
/// write leaves at once. With Nagle's algorithm a WebSocket frame written
/// while the previous one is unacknowledged waits for that acknowledgement:
/// the second event of a burst would reach a distant client a round trip
/// late. Responses are written whole, so they lose nothing by it.
fn prepare(stream: &tokio::net::TcpStream) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "could not set TCP_NODELAY");
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Guards against a hang (reported as a failure); never about speed.
    const HANG: Duration = Duration::from_secs(60);

    #[tokio::test]
    async fn accepted_connections_send_small_writes_at_once() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::net::TcpStream::connect(addr);
        let (accepted, client) = tokio::join!(listener.accept(), client);
        let (stream, _) = accepted.unwrap();
        let _client = client.unwrap();
        assert!(
            !stream.nodelay().unwrap(),
            "a fresh socket starts with Nagle on"
        );
        prepare(&stream);
        assert!(stream.nodelay().unwrap());
    }

    /// Reads one `content-length` response from a keep-alive connection.
    async fn response(tcp: &mut tokio::net::TcpStream) -> String {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        loop {
            let text = String::from_utf8_lossy(&buf).into_owned();
            if let Some(end) = text.find("\r\n\r\n") {
                let len: usize = text[..end]
                    .to_ascii_lowercase()
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().unwrap());
                if buf.len() >= end + 4 + len {
                    return text;
                }
            }
            let n = tokio::time::timeout(HANG, tcp.read(&mut chunk))
                .await
                .expect("no hang")
                .unwrap();
            assert!(n > 0, "the connection was closed; got {text:?}");
            buf.extend_from_slice(&chunk[..n]);
        }
    }

    #[tokio::test]
    async fn a_panic_answers_json_500_and_the_connection_carries_on() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let service = tower::service_fn(|req: http::Request<Incoming>| async move {
            if req.uri().path() == "/boom" {
                panic!("a host bug");
            }
            Ok::<_, Infallible>(http::Response::new(http_body_util::Full::new(
                Bytes::from_static(b"fine"),
            )))
        });
        let limits = ConnLimits {
            header_read_timeout: Duration::from_secs(60),
            max_connections: 4,
        };
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, limits, move |_| service, async {
            let _ = stop_rx.await;
        }));

        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"GET /boom HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let answer = response(&mut tcp).await;
        assert!(answer.starts_with("HTTP/1.1 500"), "{answer}");
        assert!(
            answer.contains("content-type: application/json"),
            "{answer}"
        );
        assert!(
            answer.ends_with(
                r#"{"statusCode":500,"message":"Internal server error","error":"Internal Server Error"}"#
            ),
            "{answer}"
        );
        // The same connection serves the next request.
        tcp.write_all(b"GET /fine HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let answer = response(&mut tcp).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("fine"), "{answer}");

        drop(tcp);
        let _ = stop_tx.send(());
        server.await.unwrap().unwrap();
    }
}
