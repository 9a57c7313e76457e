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

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{Key, Label, Level, Metadata};

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

/// Where Slipway's metrics are registered from (what `counter!` would give).
static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// The statuses the API answers, with their static label values: these
/// cost no allocation to record, and [`RouteLabels`] keeps theirs.
const STATUSES: [(u16, &str); 18] = [
    (200, "200"),
    (201, "201"),
    (204, "204"),
    (301, "301"),
    (304, "304"),
    (400, "400"),
    (401, "401"),
    (403, "403"),
    (404, "404"),
    (405, "405"),
    (409, "409"),
    (413, "413"),
    (415, "415"),
    (422, "422"),
    (429, "429"),
    (500, "500"),
    (502, "502"),
    (503, "503"),
];

/// Where `status` is in [`STATUSES`].
fn status_index(status: u16) -> Option<usize> {
    STATUSES.iter().position(|(s, _)| *s == status)
}

/// The labels of one route's request metrics, made once per process and
/// status (so recording a request allocates nothing for its labels).
pub(crate) struct RouteLabels {
    method: &'static str,
    route: &'static str,
    duration: [Label; 2],
    by_status: [OnceLock<Box<[Label; 3]>>; STATUSES.len()],
}

impl RouteLabels {
    /// The labels of `route` answered for `method`.
    pub(crate) fn new(method: &http::Method, route: &'static str) -> Self {
        let method = method_label(method);
        RouteLabels {
            method,
            route,
            duration: [
                Label::from_static_parts("method", method),
                Label::from_static_parts("route", route),
            ],
            by_status: std::array::from_fn(|_| OnceLock::new()),
        }
    }
}

/// [`http_request`] for a route with its labels made once: no allocation
/// for the labels of the usual statuses.
pub(crate) fn http_request_labeled(labels: &'static RouteLabels, status: u16, took: Duration) {
    let Some(i) = status_index(status) else {
        return http_request_parts(labels.method, labels.route, status, took);
    };
    let counter = labels.by_status[i].get_or_init(|| {
        Box::new([
            Label::from_static_parts("method", labels.method),
            Label::from_static_parts("route", labels.route),
            Label::from_static_parts("status", STATUSES[i].1),
        ])
    });
    let key = Key::from_static_parts(HTTP_REQUESTS, &counter[..]);
    metrics::with_recorder(|r| r.register_counter(&key, &METADATA)).increment(1);
    let key = Key::from_static_parts(HTTP_DURATION, &labels.duration);
    metrics::with_recorder(|r| r.register_histogram(&key, &METADATA)).record(took.as_secs_f64());
}

/// The labels an answer is recorded under, decided before it runs.
#[derive(Clone, Copy)]
pub(crate) enum Recorded {
    /// A route's own labels (made once).
    Route(&'static RouteLabels),
    /// The method asked for (its label) on a route template, or on
    /// [`UNMATCHED_ROUTE`].
    Other(&'static str, &'static str),
}

impl Recorded {
    /// `Other` with `method`'s label.
    pub(crate) fn other(method: &http::Method, route: &'static str) -> Self {
        Recorded::Other(method_label(method), route)
    }

    /// Records an answer with `status` that took `took`.
    pub(crate) fn record(self, status: u16, took: Duration) {
        match self {
            Recorded::Route(labels) => http_request_labeled(labels, status, took),
            Recorded::Other(method, route) => http_request_parts(method, route, status, took),
        }
    }
}

/// Records one answered request (core's endpoints do; adapters call it for
/// the answers they make themselves, such as their fallback).
pub fn http_request(method: &http::Method, route: &'static str, status: u16, took: Duration) {
    http_request_parts(method_label(method), route, status, took);
}

fn http_request_parts(method: &'static str, route: &'static str, status: u16, took: Duration) {
    metrics::counter!(HTTP_REQUESTS, "method" => method, "route" => route, "status" => status_label(status))
        .increment(1);
    metrics::histogram!(HTTP_DURATION, "method" => method, "route" => route)
        .record(took.as_secs_f64());
}

/// A status as its label: static for the statuses the API answers
/// ([`STATUSES`]), any other as its number.
fn status_label(status: u16) -> metrics::SharedString {
    match status_index(status) {
        Some(i) => STATUSES[i].1.into(),
        None => status.to_string().into(),
    }
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

/// A store operation: its name and its `op` label, made once (a static per
/// call site, `store_op!`): timing a call allocates
/// nothing for its label.
pub(crate) struct StoreOp {
    name: &'static str,
    labels: [Label; 1],
}

impl StoreOp {
    /// The operation `name` (`get_project`, ...).
    pub(crate) const fn new(name: &'static str) -> Self {
        StoreOp {
            name,
            labels: [Label::from_static_parts("op", name)],
        }
    }
}

/// A `&'static StoreOp` named by a literal.
macro_rules! store_op {
    ($name:literal) => {{
        static OP: $crate::metrics::StoreOp = $crate::metrics::StoreOp::new($name);
        &OP
    }};
}
pub(crate) use store_op;

pub(crate) fn store_call(op: &'static StoreOp, took: Duration, error: Option<&'static str>) {
    let key = Key::from_static_parts(STORE_DURATION, &op.labels);
    metrics::with_recorder(|r| r.register_histogram(&key, &METADATA)).record(took.as_secs_f64());
    if let Some(kind) = error {
        metrics::counter!(STORE_ERRORS, "op" => op.name, "kind" => kind).increment(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics::{Counter, Gauge, Histogram, KeyName, Recorder, SharedString, Unit};
    use std::sync::Mutex;

    /// Keeps the key of every metric registered (as `name{k=v,...}`).
    #[derive(Default)]
    struct Keys(Mutex<Vec<String>>);

    impl Keys {
        fn note(&self, key: &Key) {
            let labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            let text = format!("{}{{{}}}", key.name(), labels.join(","));
            self.0.lock().unwrap().push(text);
        }
        fn taken(&self) -> Vec<String> {
            std::mem::take(&mut *self.0.lock().unwrap())
        }
    }

    impl Recorder for Keys {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            self.note(key);
            Counter::noop()
        }
        fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
            self.note(key);
            Gauge::noop()
        }
        fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
            self.note(key);
            Histogram::noop()
        }
    }

    #[test]
    fn labels_made_once_are_the_labels_made_per_call() {
        let keys = Keys::default();
        let labels: &'static RouteLabels = Box::leak(Box::new(RouteLabels::new(
            &http::Method::GET,
            "/project/{id}",
        )));
        let took = Duration::from_millis(1);
        metrics::with_local_recorder(&keys, || {
            for status in [200, 404, 418] {
                Recorded::Route(labels).record(status, took);
                http_request(&http::Method::GET, "/project/{id}", status, took);
            }
            Recorded::other(&http::Method::PUT, "/project/{id}").record(405, took);
            http_request(&http::Method::PUT, "/project/{id}", 405, took);
            store_call(crate::metrics::store_op!("get_project"), took, None);
            metrics::histogram!(STORE_DURATION, "op" => "get_project").record(0.0);
        });
        let seen = keys.taken();
        // Each pair (made once, made per call) registered the same keys.
        assert_eq!(seen.len(), 18, "{seen:#?}");
        for pair in seen.chunks(4).take(4) {
            assert_eq!(pair[0], pair[2], "{seen:#?}");
            assert_eq!(pair[1], pair[3], "{seen:#?}");
        }
        assert_eq!(seen[16], seen[17]);
        assert_eq!(
            seen[0],
            "slipway_http_requests_total{method=GET,route=/project/{id},status=200}"
        );
        assert_eq!(
            seen[1],
            "slipway_http_request_duration_seconds{method=GET,route=/project/{id}}"
        );
        assert!(seen.contains(
            &"slipway_http_requests_total{method=GET,route=/project/{id},status=418}".to_string()
        ));
        assert!(seen.contains(
            &"slipway_http_requests_total{method=PUT,route=/project/{id},status=405}".to_string()
        ));
        assert_eq!(
            seen[16],
            "slipway_store_call_duration_seconds{op=get_project}"
        );
    }
}
