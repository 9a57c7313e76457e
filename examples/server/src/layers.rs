//! HTTP hardening of the standalone server: a per-request time limit
//! answering Slipway's JSON 503 (on both hosts), CORS (off unless origins are
//! given), and the connection limits (header read timeout, connection cap).

use std::time::Duration;

#[cfg(feature = "axum")]
use axum::response::{IntoResponse, Response};
use futures::FutureExt as _;
use http::HeaderValue;
#[cfg(feature = "axum")]
use http::{header, Method, StatusCode};
use slipway_core::http::RequestId;
use slipway_core::ApiError;
#[cfg(feature = "axum")]
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    timeout::TimeoutLayer,
};

/// Time limits, connection limits and CORS settings of the HTTP host.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Longest time one request (headers to last response byte produced,
    /// body upload included) may take before it answers 503 (default 30 s).
    pub request_timeout: Duration,
    /// Origins allowed by CORS; empty turns CORS off (default), `*` allows
    /// any origin (tokens are sent as headers, never cookies).
    pub cors_origins: Vec<String>,
    /// Longest time a client may take to send one request's line and
    /// headers (and longest idle time of a keep-alive connection) before the
    /// connection is closed (default 10 s).
    pub header_read_timeout: Duration,
    /// Most connections served at once; at the cap new connections wait in
    /// the listen backlog until one closes (default 10000).
    pub max_connections: usize,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            cors_origins: Vec::new(),
            header_read_timeout: Duration::from_secs(10),
            max_connections: 10_000,
        }
    }
}

impl HttpOptions {
    /// The connection limits of the accept loop.
    pub(crate) fn conn_limits(&self) -> crate::conn::ConnLimits {
        crate::conn::ConnLimits {
            header_read_timeout: self.header_read_timeout,
            max_connections: self.max_connections,
        }
    }
}

/// Parses one CORS origin flag value: `*` or `scheme://host[:port]`.
pub fn parse_origin(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s == "*" {
        return Ok(s.to_string());
    }
    let ok = (s.starts_with("http://") || s.starts_with("https://"))
        && !s.ends_with('/')
        && HeaderValue::from_str(s).is_ok();
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "`{s}` is not an origin: use `*` or scheme://host[:port] without a path"
        ))
    }
}

#[cfg(feature = "axum")]
/// The time limit: tower-http's timeout, answering an empty 503 that
/// [`timeout_as_json`] turns into Slipway's JSON error.
pub(crate) fn timeout(limit: Duration) -> TimeoutLayer {
    TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, limit)
}

/// Keeps one timer pending in the runtime while the server runs, so that
/// arming each request's time limit does not wake the runtime's timer
/// driver.
///
/// tokio wakes the thread parked in its timer driver (an `eventfd` write
/// and a cross-thread wake-up) whenever a new timer is due earlier than
/// every timer it knew of when it last looked, which is every time when
/// no timer was pending. Short requests cancel their time limits before
/// they fire, so that was the case for most requests: the benchmark's
/// profile showed ~5 % of the server's CPU in these wake-ups. A timer
/// that is always pending and due within a second is earlier than any
/// request's limit (30 s by default), so arming one wakes nobody. The
/// price is one wake-up per second.
pub(crate) struct TimerAnchor(tokio::task::JoinHandle<()>);

impl TimerAnchor {
    /// Starts the timer task; it stops when the anchor is dropped.
    pub(crate) fn spawn() -> Self {
        Self(tokio::spawn(async {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
            }
        }))
    }
}

impl Drop for TimerAnchor {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(feature = "axum")]
/// The timeout layer answers an empty 503; give it Slipway's JSON body.
pub(crate) fn timeout_as_json(resp: Response, limit: Duration) -> Response {
    if resp.status() != StatusCode::SERVICE_UNAVAILABLE
        || resp.headers().contains_key(header::CONTENT_TYPE)
    {
        return resp;
    }
    timeout_error(limit).into_response().into_response()
}

/// Slipway's JSON 503 for a request over the time limit.
pub(crate) fn timeout_error(limit: Duration) -> ApiError {
    ApiError::new(
        http::StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "The request took longer than the limit of {}; try again",
            humantime::format_duration(limit)
        ),
    )
}

#[cfg(feature = "axum")]
/// CORS for the configured origins; `None` (CORS off) when there are none.
pub(crate) fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .expose_headers([header::RETRY_AFTER])
            .max_age(Duration::from_secs(600)),
    )
}

/// Scopes every request in its request id before anything else sees it:
/// the id (the client's sane `X-Request-Id`, else a generated one) goes into
/// the request's extensions (the request log's span reads it there), error
/// bodies rendered anywhere inside — core's, and the time limit's 503 — carry
/// it as `requestId`, and the response carries it as `X-Request-Id`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RequestIdLayer;

impl<S> tower::Layer<S> for RequestIdLayer {
    type Service = RequestIdService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RequestIdService { inner }
    }
}

/// The service of [`RequestIdLayer`].
#[derive(Debug, Clone)]
pub(crate) struct RequestIdService<S> {
    inner: S,
}

/// The future of [`RequestIdService`]: the inner answer, run with the request
/// id in scope, then given its `X-Request-Id` header (a named future: no box
/// per request).
pub(crate) type RequestIdFuture<F, R, E> = tokio::task::futures::TaskLocalFuture<
    RequestId,
    futures::future::Map<F, fn(Result<http::Response<R>, E>) -> Result<http::Response<R>, E>>,
>;

impl<S, B, R> tower::Service<http::Request<B>> for RequestIdService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = RequestIdFuture<S::Future, R, S::Error>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let id = RequestId::from_headers(req.headers());
        req.extensions_mut().insert(id.clone());
        let with_header: fn(Result<http::Response<R>, S::Error>) -> _ = |answered| {
            answered.map(|mut resp| {
                RequestId::set_header(&mut resp);
                resp
            })
        };
        id.scoped(self.inner.call(req).map(with_header))
    }
}

/// Logs every request: a span `request` (method, path and request id; never
/// the query string, which may carry a token) around its answer, and an
/// event `served` (status and latency) once the response is ready.
///
/// Hand-written instead of tower-http's `TraceLayer`, on a measurement
/// (BENCHMARKS.md, twenty-third run): that layer also wraps the response
/// body, reads the clock at every body frame and at its end, and classifies
/// each answer, on every request, whether or not a subscriber listens. This
/// one reads the clock only when `served` would be recorded, and leaves the
/// body alone; the span and the event are the same as before (target
/// `slipway_server`).
#[cfg(feature = "axum")]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RequestLogLayer;

#[cfg(feature = "axum")]
impl<S> tower::Layer<S> for RequestLogLayer {
    type Service = RequestLog<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RequestLog { inner }
    }
}

/// The service of [`RequestLogLayer`].
#[cfg(feature = "axum")]
#[derive(Debug, Clone)]
pub(crate) struct RequestLog<S> {
    inner: S,
}

#[cfg(feature = "axum")]
impl<S, B, R> tower::Service<http::Request<B>> for RequestLog<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = RequestLogFuture<S::Future>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let span = request_span(&req);
        // The clock is read only when `served` would be recorded.
        let started = served_enabled().then(std::time::Instant::now);
        let inner = span.in_scope(|| self.inner.call(req));
        RequestLogFuture {
            inner,
            span,
            started,
        }
    }
}

/// The span `request` of a request, on both hosts: its method, path and
/// request id (from [`RequestIdLayer`]). Only method and path: query
/// strings may carry tokens (`/ws?token=`).
pub(crate) fn request_span<B>(req: &http::Request<B>) -> tracing::Span {
    tracing::info_span!(
        target: "slipway_server",
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        request_id = req.extensions().get::<RequestId>().map(tracing::field::display),
    )
}

/// Whether a `served` event would be recorded by the current subscriber.
#[cfg(feature = "axum")]
fn served_enabled() -> bool {
    tracing::enabled!(target: "slipway_server", tracing::Level::INFO)
}

#[cfg(feature = "axum")]
pin_project_lite::pin_project! {
    /// The future of [`RequestLog`]: the inner answer, polled inside the
    /// request's span, logged as `served` when ready.
    pub(crate) struct RequestLogFuture<F> {
        #[pin]
        inner: F,
        span: tracing::Span,
        started: Option<std::time::Instant>,
    }
}

#[cfg(feature = "axum")]
impl<F, R, E> std::future::Future for RequestLogFuture<F>
where
    F: std::future::Future<Output = Result<http::Response<R>, E>>,
{
    type Output = F::Output;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let answered = std::task::ready!(this.inner.poll(cx));
        if let (Ok(resp), Some(started)) = (&answered, this.started.take()) {
            tracing::info!(
                target: "slipway_server",
                status = resp.status().as_u16(),
                latency_ms = crate::latency_ms(started.elapsed()),
                "served"
            );
        }
        std::task::Poll::Ready(answered)
    }
}
