//! # slipway-warp
//!
//! Mounts the Slipway API into a [warp](https://docs.rs/warp) application.
//! [`routes`] is one filter serving every Slipway route; combine it with
//! your own filters with `.or(...)` and mount it under any prefix:
//!
//! ```rust
//! use slipway_core::{MemoryStore, Slipway};
//! use warp::Filter;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let slipway = Slipway::builder()
//!     .secret(std::env::var("SLIPWAY_SECRET")?.into_bytes()) // at least 32 bytes
//!     .store(MemoryStore::new())
//!     .build()?;
//!
//! let home = warp::path::end().map(|| "my own page");
//! let api = warp::path("api").and(slipway_warp::routes(slipway)); // Slipway under /api
//! let app = home.or(api);
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! warp::serve(app).incoming(listener).run().await;
//! # Ok(())
//! # }
//! ```
//!
//! Warp cannot host a tower `Service`, so the filter rebuilds an
//! `http::Request` (method, the path left after your prefix, query, headers,
//! and the body as a stream) and hands it to [`Slipway::service`], core's
//! router. Everything else happens in core: body limits, unknown paths (404),
//! wrong methods (405 with `Allow`) and malformed input all answer Slipway's
//! JSON errors, never a warp rejection.
//!
//! `GET /ws` (the live project feed) is checked by core before the filter
//! upgrades it — a bad token gets core's 401 and no upgrade — and then core's
//! protocol runs over the upgraded connection. The filter upgrades it itself
//! (hyper's upgrade and tokio-tungstenite, as `warp::ws()` does) so that each
//! socket reads through a 4 KiB buffer instead of tungstenite's 128 KiB; the
//! host's server must hand over upgraded connections (`warp::serve` does; a
//! hyper loop of your own needs `with_upgrades()`).
//!
//! The filter answers **every** request that reaches it, like a nested
//! router: mount it under a prefix, or put your own filters first
//! (`yours.or(slipway_warp::routes(s))`) when mounting it at the root.

use bytes::{Buf, Bytes};
use futures::{Stream, TryStreamExt};
use http::uri::PathAndQuery;
use http::{HeaderMap, Method, Uri};
use http_body_util::{BodyExt, StreamBody};
use slipway_core::http::ClientAddr;
use slipway_core::{Slipway, SlipwayService};
use std::net::SocketAddr;
use tower::ServiceExt;
use warp::filters::path::Tail;
use warp::{Filter, Rejection, Reply};

mod ws;

/// A filter serving every Slipway route and the `/ws` live feed. Mount it
/// under any prefix with `warp::path("api").and(slipway_warp::routes(slipway))`.
pub fn routes(slipway: Slipway) -> impl Filter<Extract = (impl Reply,), Error = Rejection> + Clone {
    let service = slipway.service();
    let http = warp::method()
        .and(warp::path::tail())
        .and(raw_query())
        .and(warp::header::headers_cloned())
        .and(warp::body::stream())
        .and(client_addr())
        .then(
            move |method, tail: Tail, query, headers, body, client: Option<ClientAddr>| {
                let service = service.clone();
                async move {
                    call(service, method, tail.as_str(), query, headers, body, client)
                        .await
                        .into_response()
                }
            },
        );
    ws::route(slipway).or(http).unify()
}

/// The client's address: core's [`ClientAddr`] when the host put one in the
/// request's extensions (a host serving the filter with its own hyper loop,
/// through `warp::service`), else the peer address warp's server knows.
fn client_addr(
) -> impl Filter<Extract = (Option<ClientAddr>,), Error = std::convert::Infallible> + Clone {
    warp::ext::optional::<ClientAddr>()
        .and(warp::addr::remote())
        .map(|given: Option<ClientAddr>, peer: Option<SocketAddr>| {
            given.or(peer.map(|p| ClientAddr(p.ip())))
        })
}

/// The raw query string, `None` when the request has none (warp's own
/// `query::raw` rejects then).
pub(crate) fn raw_query(
) -> impl Filter<Extract = (Option<String>,), Error = std::convert::Infallible> + Clone {
    warp::query::raw()
        .map(Some)
        .or(warp::any().map(|| None))
        .unify()
}

/// Rebuilds the request relative to the mount point, lets core answer it and
/// converts the answer to a warp reply.
async fn call<S, B>(
    service: SlipwayService,
    method: Method,
    tail: &str,
    query: Option<String>,
    headers: HeaderMap,
    body: S,
    client: Option<ClientAddr>,
) -> http::Response<Bytes>
where
    S: Stream<Item = Result<B, warp::Error>> + Send + 'static,
    B: Buf,
{
    let path = format!("/{tail}");
    let target = match &query {
        Some(q) => format!("{path}?{q}"),
        None => path.clone(),
    };
    // The tail and query come from a URI hyper already parsed, so this holds.
    let Ok(path_and_query) = PathAndQuery::try_from(target) else {
        return into_reply(SlipwayService::fallback_response(&method, &path)).await;
    };
    let body = StreamBody::new(
        body.map_ok(|mut buf| http_body::Frame::data(buf.copy_to_bytes(buf.remaining()))),
    );
    let mut req = http::Request::new(body);
    *req.method_mut() = method;
    *req.uri_mut() = Uri::from(path_and_query);
    *req.headers_mut() = headers;
    if let Some(client) = client {
        // Core limits failed sign-ins per client address.
        req.extensions_mut().insert(client);
    }
    let resp = match service.oneshot(req).await {
        Ok(resp) => resp,
        Err(never) => match never {},
    };
    into_reply(resp).await
}

pub(crate) async fn into_reply(resp: slipway_core::http::Response) -> http::Response<Bytes> {
    let (parts, body) = resp.into_parts();
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(never) => match never {},
    };
    http::Response::from_parts(parts, bytes)
}
