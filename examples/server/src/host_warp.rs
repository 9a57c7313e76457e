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
    warp::serve(app(slipway))
        .incoming(listener)
        .graceful(shutdown)
        .run()
        .await;
    Ok(())
}
