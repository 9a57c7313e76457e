//! `--metrics-listen`: the `slipway-server` binary serves Prometheus metrics
//! on a listener of its own, and the values move with traffic (scrape, send
//! requests, scrape again). The API listener has no `/metrics`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Guards against a hang (reported as a failure); never about speed.
const HANG: Duration = Duration::from_secs(60);

struct Server {
    child: Child,
    api: SocketAddr,
    metrics: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(adapter: &str) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_slipway-server"))
        .args(["--listen", "127.0.0.1:0", "--database-url", "memory:"])
        .args(["--metrics-listen", "127.0.0.1:0", "--log-format", "json"])
        .args(["--adapter", adapter])
        .env("RUST_LOG", "info")
        .env_remove("SLIPWAY_DATABASE_URL")
        .env_remove("SLIPWAY_LISTEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("slipway-server starts");
    let stdout = child.stdout.take().expect("piped");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let addr_of = |needle: &str| -> SocketAddr {
        loop {
            let line = lines.recv_timeout(HANG).expect("a log line");
            if line.contains(needle) {
                let v: serde_json::Value = serde_json::from_str(&line).unwrap();
                return v["fields"]["addr"].as_str().unwrap().parse().unwrap();
            }
        }
    };
    let metrics = addr_of("metrics listening");
    let api = addr_of("slipway-server listening");
    Server {
        child,
        api,
        metrics,
    }
}

/// Sends one request; returns (status, body).
fn request(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    request_as(addr, None, method, path, body)
}

/// [`request`] with a bearer token.
fn request_as(
    addr: SocketAddr,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, String) {
    let mut tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(HANG)).unwrap();
    let body = body.unwrap_or("");
    let auth = token
        .map(|t| format!("authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        tcp,
        "{method} {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n{auth}\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

/// Every sample of a scrape: `name{labels}` → value.
fn scrape(addr: SocketAddr) -> HashMap<String, f64> {
    let (status, text) = request(addr, "GET", "/metrics", None);
    assert_eq!(status, 200, "{text}");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

fn value(s: &HashMap<String, f64>, key: &str) -> f64 {
    s.get(key).copied().unwrap_or(0.0)
}

/// The sum of every sample of `name` whose labels contain all of `labels`.
fn sum(s: &HashMap<String, f64>, name: &str, labels: &[&str]) -> f64 {
    s.iter()
        .filter(|(k, _)| k.split('{').next() == Some(name) && labels.iter().all(|l| k.contains(l)))
        .map(|(_, v)| v)
        .sum()
}

#[test]
fn metrics_move_with_traffic_on_their_own_listener() {
    let mut adapters = vec!["axum"];
    if cfg!(feature = "warp") {
        adapters.push("warp");
    }
    for adapter in adapters {
        let server = start(adapter);
        assert_ne!(server.api, server.metrics);
        // Not on the API listener.
        let (status, _) = request(server.api, "GET", "/metrics", None);
        assert_eq!(status, 404, "{adapter}: /metrics on the API listener");

        let before = scrape(server.metrics);
        let health = r#"slipway_http_requests_total{method="GET",route="/health",status="200"}"#;
        for _ in 0..3 {
            assert_eq!(request(server.api, "GET", "/health", None).0, 200);
        }
        let signup = r#"{"name":"Ada","email":"ada@example.com","password":"correct horse"}"#;
        let (status, body) = request(server.api, "POST", "/auth/signup", Some(signup));
        assert_eq!(status, 201, "{body}");
        let token: serde_json::Value = serde_json::from_str(&body).unwrap();
        let token = token["accessToken"].as_str().unwrap().to_string();
        let project = r#"{"name":"Blog","sourceId":"src-1","vmId":"vm-1"}"#;
        let (status, body) =
            request_as(server.api, Some(&token), "POST", "/project", Some(project));
        assert_eq!(status, 201, "{body}");
        let wrong = r#"{"email":"ada@example.com","password":"wrong password"}"#;
        assert_eq!(
            request(server.api, "POST", "/auth/signin", Some(wrong)).0,
            401
        );
        let (status, _) = request(server.api, "GET", "/project/x", None);
        assert_eq!(status, 401);

        let after = scrape(server.metrics);
        assert_eq!(
            value(&after, health) - value(&before, health),
            3.0,
            "{adapter}"
        );
        let by_template =
            r#"slipway_http_requests_total{method="GET",route="/project/{id}",status="401"}"#;
        assert_eq!(
            value(&after, by_template) - value(&before, by_template),
            1.0,
            "{adapter}: {after:#?}"
        );
        let count = r#"slipway_http_request_duration_seconds_count{method="GET",route="/health"}"#;
        assert_eq!(
            value(&after, count) - value(&before, count),
            3.0,
            "{adapter}"
        );
        assert!(
            sum(
                &after,
                "slipway_http_request_duration_seconds_bucket",
                &[r#"route="/health""#, r#"le="+Inf""#]
            ) >= 3.0,
            "{adapter}: a histogram with buckets"
        );
        assert_eq!(
            value(&after, "slipway_signin_failures_total")
                - value(&before, "slipway_signin_failures_total"),
            1.0,
            "{adapter}"
        );
        assert!(
            sum(
                &after,
                "slipway_store_call_duration_seconds_count",
                &[r#"op="create_user""#]
            ) >= 1.0,
            "{adapter}: store calls are timed"
        );
        assert!(
            after.contains_key("slipway_password_hash_queue_depth"),
            "{adapter}"
        );
        let created = r#"slipway_events_appended_total{type="CREATE"}"#;
        assert_eq!(
            value(&after, created) - value(&before, created),
            1.0,
            "{adapter}"
        );
    }
}
