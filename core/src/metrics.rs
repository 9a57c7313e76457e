//! The metrics Slipway records, through the [`metrics`] facade: a host that
//! installs a recorder (`metrics-exporter-prometheus`, as `slipway-server`
//! does with `--metrics-listen`, or any other) gets them; without one they
//! cost next to nothing.
//!
//! | name | kind | labels | what |
//! |---|---|---|---|
//! | `slipway_http_requests_total` | counter | `method`, `route`, `status` | requests answered; `route` is the template (`/project/{id}`), `unmatched` for unknown paths |
//! | `slipway_http_request_duration_seconds` | histogram | `method`, `route` | time to answer (body read included) |
//! | `slipway_signin_failures_total` | counter | | wrong email or password |
//! | `slipway_rate_limited_total` | counter | `limit` | requests refused with 429 (`signin_email_addr`, `signin_email`, `signin_addr`, `signup_addr`, `github_signin_addr`, `ws_connects`, `ws_connections`) |
//! | `slipway_password_hash_queue_depth` | gauge | | password hashes waiting for a hashing thread |
//! | `slipway_websocket_connections` | gauge | | open WebSocket connections |
//! | `slipway_websocket_resyncs_total` | counter | | `resync` frames sent |
//! | `slipway_events_appended_total` | counter | `type` | `project.update` events written by this node (`CREATE`, `UPDATE`, `DELETE`) |
//! | `slipway_store_call_duration_seconds` | histogram | `op` | store calls (`get_project`, …) |
//! | `slipway_store_errors_total` | counter | `op`, `kind` | store calls that failed: `unavailable` or `other` (not found and conflicts are answers, not errors) |

use std::time::Duration;

/// `slipway_http_requests_total`.
pub const HTTP_REQUESTS: &str = "slipway_http_requests_total";
/// `slipway_http_request_duration_seconds`.
pub const HTTP_DURATION: &str = "slipway_http_request_duration_seconds";
/// `slipway_signin_failures_total`.
pub const SIGNIN_FAILURES: &str = "slipway_signin_failures_total";
/// `slipway_rate_limited_total`.
pub const RATE_LIMITED: &str = "slipway_rate_limited_total";
/// `slipway_password_hash_queue_depth`.
pub const HASH_QUEUE_DEPTH: &str = "slipway_password_hash_queue_depth";
/// `slipway_websocket_connections`.
pub const WS_CONNECTIONS: &str = "slipway_websocket_connections";
/// `slipway_websocket_resyncs_total`.
pub const WS_RESYNCS: &str = "slipway_websocket_resyncs_total";
/// `slipway_events_appended_total`.
pub const EVENTS_APPENDED: &str = "slipway_events_appended_total";
/// `slipway_store_call_duration_seconds`.
pub const STORE_DURATION: &str = "slipway_store_call_duration_seconds";
/// `slipway_store_errors_total`.
pub const STORE_ERRORS: &str = "slipway_store_errors_total";

/// The histograms (seconds), for exporters that need buckets.
pub const HISTOGRAMS: &[&str] = &[HTTP_DURATION, STORE_DURATION];

/// The `route` label of a request no route matched.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Records one answered request (core's endpoints do; adapters call it for
/// the answers they make themselves, such as their fallback).
pub fn http_request(method: &http::Method, route: &'static str, status: u16, took: Duration) {
    let method = method_label(method);
    metrics::counter!(HTTP_REQUESTS, "method" => method, "route" => route, "status" => status_label(status))
        .increment(1);
    metrics::histogram!(HTTP_DURATION, "method" => method, "route" => route)
        .record(took.as_secs_f64());
}

/// The statuses the API answers as static labels (no allocation per
/// request); any other as its number.
fn status_label(status: u16) -> metrics::SharedString {
    let known = match status {
        200 => "200",
        201 => "201",
        204 => "204",
        301 => "301",
        304 => "304",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        409 => "409",
        413 => "413",
        415 => "415",
        422 => "422",
        429 => "429",
        500 => "500",
        502 => "502",
        503 => "503",
        _ => return status.to_string().into(),
    };
    known.into()
}

/// Methods as static labels (anything else is `OTHER`: a client must not
/// mint label values).
fn method_label(method: &http::Method) -> &'static str {
    match *method {
        http::Method::GET => "GET",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::PATCH => "PATCH",
        http::Method::DELETE => "DELETE",
        http::Method::HEAD => "HEAD",
        http::Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

pub(crate) fn signin_failed() {
    metrics::counter!(SIGNIN_FAILURES).increment(1);
}

pub(crate) fn rate_limited(limit: &'static str) {
    metrics::counter!(RATE_LIMITED, "limit" => limit).increment(1);
}

pub(crate) fn hash_queued() {
    metrics::gauge!(HASH_QUEUE_DEPTH).increment(1.0);
}

pub(crate) fn hash_dequeued() {
    metrics::gauge!(HASH_QUEUE_DEPTH).decrement(1.0);
}

pub(crate) fn websocket_opened() {
    metrics::gauge!(WS_CONNECTIONS).increment(1.0);
}

pub(crate) fn websocket_closed() {
    metrics::gauge!(WS_CONNECTIONS).decrement(1.0);
}

pub(crate) fn resync_sent() {
    metrics::counter!(WS_RESYNCS).increment(1);
}

pub(crate) fn event_appended(kind: &'static str) {
    metrics::counter!(EVENTS_APPENDED, "type" => kind).increment(1);
}

pub(crate) fn store_call(op: &'static str, took: Duration, error: Option<&'static str>) {
    metrics::histogram!(STORE_DURATION, "op" => op).record(took.as_secs_f64());
    if let Some(kind) = error {
        metrics::counter!(STORE_ERRORS, "op" => op, "kind" => kind).increment(1);
    }
}
