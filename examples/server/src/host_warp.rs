//! Hosting on warp (feature `warp`).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::BodyExt as _;
use slipway_core::http::ClientAddr;
use slipway_core::Slipway;
use tokio::net::TcpListener;
use tower::Layer as _;
use tower::ServiceExt as _;
use tracing::Instrument as _;
use warp::{Filter, Reply};

use crate::HttpOptions;

/// The HTTP application on warp: Slipway's routes with request logging.
pub fn app(
    slipway: Slipway,
) -> impl Filter<Extract = (impl warp::Reply,), Error = warp::Rejection> + Clone + Send + Sync + 'static
{
    slipway_warp::routes(slipway).with(warp::log::custom(|info| {
        // Only method and path: query strings may carry tokens (`/ws?token=`).
        tracing::info!(
            method = %info.method(),
            path = %info.path(),
            status = info.status().as_u16(),
            latency_ms = crate::latency_ms(info.elapsed()),
            "served"
        );
    }))
}

/// Serves `slipway` on warp until `shutdown` resolves, then lets in-flight
/// requests finish.
pub async fn serve(
    listener: TcpListener,
    slipway: Slipway,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, slipway, &HttpOptions::default(), shutdown).await
}

/// [`serve`] with the given options: the request time limit (Slipway's JSON
/// 503), the connection limits, and CORS when `opts` lists origins (warp's
/// `cors` filter: a request from another origin is refused with 403).
pub async fn serve_with(
    listener: TcpListener,
    slipway: Slipway,
    opts: &HttpOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let origins = &opts.cors_origins;
    if origins.is_empty() {
        let service = warp::service(app(slipway));
        return serve_service(listener, service, opts, shutdown).await;
    }
    let mut cors = warp::cors()
        .allow_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allow_headers(["authorization", "content-type"])
        .expose_header("retry-after")
        .max_age(600);
    cors = if origins.iter().any(|o| o == "*") {
        cors.allow_any_origin()
    } else {
        // Checked by `layers::parse_origin` (warp panics on an invalid one).
        cors.allow_origins(origins.iter().map(String::as_str))
    };
    let service = warp::service(app(slipway).with(cors));
    serve_service(listener, service, opts, shutdown).await
}

/// Serves a filter (as `warp::service` makes it a tower service) through the
/// shared accept loop, with the request time limit. warp's own server is not
/// used (it sets no header read timeout and accepts without bound), so the
/// client address reaches Slipway as core's [`ClientAddr`] extension, which
/// `slipway_warp::routes` reads when `warp::addr::remote` has none.
async fn serve_service<S>(
    listener: TcpListener,
    service: S,
    opts: &HttpOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    S: tower::Service<
            http::Request<hyper::body::Incoming>,
            Response = warp::reply::Response,
            Error = Infallible,
        > + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    let limit = opts.request_timeout;
    let _anchor = crate::layers::TimerAnchor::spawn();
    let make = move |peer: SocketAddr| {
        let service = service.clone();
        let timed = tower::service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ClientAddr(peer.ip()));
            let span = crate::layers::request_span(&req);
            let answer = service.clone().oneshot(req);
            async move {
                match tokio::time::timeout(limit, answer).await {
                    Ok(answered) => answered,
                    Err(_) => Ok::<_, Infallible>(timeout_reply(limit).await),
                }
            }
            .instrument(span)
        });
        crate::layers::RequestIdLayer.layer(timed)
    };
    crate::conn::serve(listener, opts.conn_limits(), make, shutdown).await
}

/// Slipway's JSON 503 for a request over the time limit, as a warp reply.
async fn timeout_reply(limit: Duration) -> warp::reply::Response {
    let (parts, body) = crate::layers::timeout_error(limit)
        .into_response()
        .into_parts();
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(never) => match never {},
    };
    http::Response::from_parts(parts, bytes).into_response()
}
