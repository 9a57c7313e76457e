//! `--metrics-listen`: Prometheus metrics on a listener of their own.
//!
//! Core records its metrics through the `metrics` facade; this module
//! installs `metrics-exporter-prometheus` as the process's recorder (once)
//! and serves `GET /metrics` in the Prometheus text format on the given
//! address, never on the API listener.

use std::convert::Infallible;
use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method, StatusCode};
use http_body_util::Full;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

/// Histogram buckets, in seconds (1 ms to 30 s).
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The process's Prometheus recorder, installed on first use. `None` when
/// another recorder was installed first (a host with its own exporter).
pub fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let mut builder = PrometheusBuilder::new();
            for name in slipway_core::metrics::HISTOGRAMS {
                builder = builder
                    .set_buckets_for_metric(Matcher::Full((*name).to_string()), BUCKETS)
                    .ok()?;
            }
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            Some(handle)
        })
        .as_ref()
}

/// Serves `GET /metrics` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let handle = handle().ok_or_else(|| {
        anyhow::anyhow!("cannot export metrics: another metrics recorder is installed")
    })?;
    // Histogram upkeep (the exporter drains its buckets on a timer).
    let upkeep = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            handle.run_upkeep();
        }
    });
    let limits = crate::conn::ConnLimits {
        header_read_timeout: Duration::from_secs(10),
        max_connections: 64,
    };
    let make = move |_peer| {
        tower::service_fn(
            move |req: http::Request<hyper::body::Incoming>| async move {
                Ok::<_, Infallible>(answer(handle, req.method(), req.uri().path()))
            },
        )
    };
    let served = crate::conn::serve(listener, limits, make, shutdown).await;
    upkeep.abort();
    Ok(served?)
}

fn answer(handle: &PrometheusHandle, method: &Method, path: &str) -> http::Response<Full<Bytes>> {
    let (status, content_type, body) = match (method, path) {
        (&Method::GET, "/metrics") => (
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            handle.render(),
        ),
        (_, "/metrics") => (
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            "GET /metrics\n".to_string(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "metrics are at GET /metrics\n".to_string(),
        ),
    };
    let mut resp = http::Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}
