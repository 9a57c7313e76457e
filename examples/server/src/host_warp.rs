//! Hosting on warp (feature `warp`).

use std::future::Future;

use slipway_core::Slipway;
use tokio::net::TcpListener;
use warp::Filter;

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
            latency_ms = info.elapsed().as_secs_f64() * 1000.0,
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
    serve_with(listener, slipway, &crate::HttpOptions::default(), shutdown).await
}

/// [`serve`] with CORS when `opts` lists origins (warp's `cors` filter: a
/// request from another origin is refused with 403). The request time limit
/// is not applied on warp.
pub async fn serve_with(
    listener: TcpListener,
    slipway: Slipway,
    opts: &crate::HttpOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let origins = &opts.cors_origins;
    if origins.is_empty() {
        warp::serve(app(slipway))
            .incoming(listener)
            .graceful(shutdown)
            .run()
            .await;
        return Ok(());
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
    warp::serve(app(slipway).with(cors))
        .incoming(listener)
        .graceful(shutdown)
        .run()
        .await;
    Ok(())
}
