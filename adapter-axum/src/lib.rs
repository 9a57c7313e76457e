//! # slipway-axum
//!
//! Mounts the Slipway API into an [`axum::Router`]. Every route is mounted
//! natively (so the host's middleware and nesting apply); unknown paths and
//! wrong methods answer Slipway's JSON errors.
//!
//! ```rust
//! use axum::{routing::get, Router};
//! use slipway_core::{MemoryStore, Slipway};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let slipway = Slipway::builder()
//!     .secret(std::env::var("SLIPWAY_SECRET")?.into_bytes()) // at least 32 bytes
//!     .store(MemoryStore::new())
//!     .build()?;
//!
//! let app = Router::new()
//!     .route("/", get(|| async { "my own page" }))
//!     .nest("/api", slipway_axum::router(slipway)); // Slipway under /api
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(
//!     listener,
//!     app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
//! )
//! .await?;
//! # Ok(())
//! # }
//! ```
//!
//! This example is also the README's; a test keeps the two copies identical.
//! It serves with `into_make_service_with_connect_info::<SocketAddr>()`, which
//! lets Slipway count failed sign-ins per client address too.

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Request};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, on_service, MethodFilter, MethodRouter};
use axum::Router;
use futures::{future, SinkExt, StreamExt};
use http::{HeaderMap, Uri};
use slipway_core::http::{with_request_id, ClientAddr};
use slipway_core::ws::WsMessage;
use slipway_core::{Slipway, SlipwayService};
use std::net::SocketAddr;
use tower::ServiceExt;

/// A router serving every Slipway route and the `/ws` live feed. Nest it
/// under any prefix.
pub fn router(slipway: Slipway) -> Router {
    let mut by_path: Vec<(&'static str, MethodRouter)> = Vec::new();
    for route in slipway.routes() {
        let Ok(filter) = MethodFilter::try_from(route.method.clone()) else {
            continue;
        };
        // tower's `MapRequest` adds no allocation per request (an axum
        // `middleware::map_request` layer boxes a future and clones the
        // routed service on every request).
        let mr = on_service(filter, route.service.map_request(client_addr));
        match by_path.iter_mut().find(|(p, _)| *p == route.path) {
            Some((_, existing)) => *existing = std::mem::take(existing).merge(mr),
            None => by_path.push((route.path, mr)),
        }
    }
    let mut router = Router::new();
    for (path, mr) in by_path {
        router = router.route(path, mr.fallback(fallback));
    }
    router.route("/ws", ws_route(slipway)).fallback(fallback)
}

/// The whole API and `/ws` as one service, routed by core itself: for hosts
/// that serve Slipway on its own listener or under one prefix
/// (`Router::nest_service("/api", slipway_axum::service(slipway))`) and do
/// not need axum to know each route.
///
/// It answers as [`router`] does (the same statuses, bodies and headers;
/// only a refused `HEAD` names every method of its path in `Allow`, where
/// the router names `GET`), with less work per request: axum does not match
/// the path, box the route or insert its path extensions before core
/// matches the path again. The trade-off is that axum's
/// per-route features (`MatchedPath`, `route_layer`) do not see Slipway's
/// routes; use [`router`] for those. The standalone server serves this.
///
/// ```rust
/// use axum::Router;
/// use slipway_core::{MemoryStore, Slipway};
///
/// # fn doc() -> Result<(), Box<dyn std::error::Error>> {
/// let slipway = Slipway::builder()
///     .secret(vec![7; 32])
///     .store(MemoryStore::new())
///     .build()?;
/// let app: Router = Router::new().nest_service("/api", slipway_axum::service(slipway));
/// # let _ = app;
/// # Ok(())
/// # }
/// ```
pub fn service(slipway: Slipway) -> ApiService {
    ApiService {
        core: slipway.service(),
        ws: Router::new().route("/ws", ws_route(slipway.clone())),
    }
}

/// `GET /ws` (the live feed), Slipway's JSON errors for other methods.
fn ws_route(slipway: Slipway) -> MethodRouter {
    get(move |h: HeaderMap, u: Uri, up| ws(slipway.clone(), h, u, up)).fallback(fallback)
}

/// The service [`service`] returns.
#[derive(Clone, Debug)]
pub struct ApiService {
    core: SlipwayService,
    ws: Router,
}

/// The future of [`ApiService`]. The `/ws` upgrade's future is boxed: it
/// is ten times the size of the API's, and every layer a host wraps around
/// the service moves the future it returns.
pub type ApiFuture = future::Either<
    futures::future::MapOk<
        <SlipwayService as tower::Service<Request>>::Future,
        fn(slipway_core::http::Response) -> Response,
    >,
    std::pin::Pin<Box<<Router as tower::Service<Request>>::Future>>,
>;

impl<B> tower::Service<http::Request<B>> for ApiService
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = ApiFuture;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        use futures::TryFutureExt as _;
        if req.uri().path() == "/ws" {
            return future::Either::Right(Box::pin(tower::Service::call(&mut self.ws, req)));
        }
        let into: fn(slipway_core::http::Response) -> Response = IntoResponse::into_response;
        future::Either::Left(tower::Service::call(&mut self.core, client_addr(req)).map_ok(into))
    }
}

/// Copies the peer address from `ConnectInfo` (present when the host serves
/// with `into_make_service_with_connect_info::<SocketAddr>()`) into core's
/// [`ClientAddr`], which limits failed sign-ins per address.
fn client_addr<B>(mut req: http::Request<B>) -> http::Request<B> {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    if let Some(ip) = peer {
        req.extensions_mut().insert(ClientAddr(ip));
    }
    req
}

/// Read buffer of each WebSocket (see `ws`).
const WS_READ_BUFFER: usize = 4 * 1024;

/// `GET /ws`: authenticates before upgrading, then runs the core protocol
/// over the socket, converting axum's messages to and from [`WsMessage`].
async fn ws(
    slipway: Slipway,
    headers: HeaderMap,
    uri: Uri,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let scoped = headers.clone();
    with_request_id(&scoped, ws_answer(slipway, headers, uri, upgrade)).await
}

async fn ws_answer(
    slipway: Slipway,
    headers: HeaderMap,
    uri: Uri,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let session = match slipway.ws_accept(&headers, uri.query()).await {
        Ok(session) => session,
        Err(refusal) => return refusal.into_response(),
    };
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(_) => return slipway_core::ws::upgrade_required().into_response(),
    };
    // Clients only send pongs and close frames: a small read buffer (it
    // still grows for a larger frame) instead of tungstenite's 128 KiB,
    // which it zero-fills, so every idle socket would cost 128 KiB of RSS.
    // The transport cuts off messages over twice the limit; core closes
    // those over the limit with 1009.
    let max = slipway.config().ws_max_message_size.saturating_mul(2);
    let upgrade = upgrade
        .read_buffer_size(WS_READ_BUFFER)
        .max_message_size(max)
        .max_frame_size(max);
    upgrade.on_upgrade(move |socket| {
        let socket = socket.map(|m| m.map(from_axum)).with(|m: WsMessage| {
            future::ready(Ok::<_, axum::Error>(match m {
                WsMessage::Text(t) => Message::Text(t.into()),
                WsMessage::Binary(b) => Message::Binary(b.into()),
                WsMessage::Ping(p) => Message::Ping(p.into()),
                WsMessage::Pong(p) => Message::Pong(p.into()),
                WsMessage::Close(c) => Message::Close(c.map(|(code, reason)| CloseFrame {
                    code,
                    reason: reason.into(),
                })),
            }))
        });
        session.run(socket)
    })
}

fn from_axum(m: Message) -> WsMessage {
    match m {
        Message::Text(t) => WsMessage::Text(t.as_str().to_owned()),
        Message::Binary(b) => WsMessage::Binary(b.to_vec()),
        Message::Ping(p) => WsMessage::Ping(p.to_vec()),
        Message::Pong(p) => WsMessage::Pong(p.to_vec()),
        Message::Close(c) => WsMessage::Close(c.map(|f| (f.code, f.reason.as_str().to_owned()))),
    }
}

async fn fallback(method: http::Method, uri: Uri, headers: HeaderMap) -> impl IntoResponse {
    let started = std::time::Instant::now();
    let resp = with_request_id(&headers, async {
        SlipwayService::fallback_response(&method, uri.path())
    })
    .await;
    slipway_core::metrics::http_request(
        &method,
        slipway_core::metrics::UNMATCHED_ROUTE,
        resp.status().as_u16(),
        started.elapsed(),
    );
    resp
}
