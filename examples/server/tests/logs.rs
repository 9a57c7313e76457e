//! The `slipway-server` binary's log lines, read from a pipe: `--log-format
//! json` prints one JSON object per line, text carries no ANSI colour codes
//! when the output is not a terminal, and request latencies print in
//! milliseconds with at most three decimals.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Guards against a hang (reported as a failure); never about speed.
const HANG: Duration = Duration::from_secs(60);

/// The adapters this build of the binary includes.
fn adapters() -> Vec<&'static str> {
    let mut all = vec!["axum"];
    if cfg!(feature = "warp") {
        all.push("warp");
    }
    all
}

/// The binary, started with `args`, its standard output read line by line.
struct Server {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Server {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_slipway-server"))
            // In memory: the default SQLite file would be shared by the
            // tests running at once (and left in the source tree).
            .args(["--listen", "127.0.0.1:0", "--database-url", "memory:"])
            .args(args)
            .env("RUST_LOG", "info")
            .env_remove("SLIPWAY_LOG_FORMAT")
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
        Server {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The next line that contains `needle`.
    fn line_with(&mut self, needle: &str) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(HANG)
                .unwrap_or_else(|_| panic!("no log line with {needle:?}; got {:#?}", self.seen));
            self.seen.push(line.clone());
            if line.contains(needle) {
                return line;
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn get_health(addr: SocketAddr) {
    let mut tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(HANG)).unwrap();
    tcp.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// The number written after `key` in `line`, as text.
fn number_after<'a>(line: &'a str, key: &str) -> &'a str {
    let start = line.find(key).unwrap_or_else(|| panic!("{key} in {line}")) + key.len();
    let rest = &line[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    &rest[..end]
}

fn assert_latency_printed_in_ms(number: &str, line: &str) {
    let ms: f64 = number
        .parse()
        .unwrap_or_else(|_| panic!("latency {number:?} in {line}"));
    assert!(ms >= 0.0, "{line}");
    let decimals = number.split_once('.').map_or(0, |(_, d)| d.len());
    assert!(decimals <= 3, "latency with {decimals} decimals: {line}");
}

#[test]
fn json_log_lines_parse_as_json() {
    for adapter in adapters() {
        let mut server = Server::start(&["--log-format", "json", "--adapter", adapter]);
        let line = server.line_with("slipway-server listening");
        let event: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{adapter}: {e}: {line}"));
        assert_eq!(event["level"], "INFO", "{line}");
        let addr: SocketAddr = event["fields"]["addr"]
            .as_str()
            .unwrap_or_else(|| panic!("an address in {line}"))
            .parse()
            .unwrap();

        get_health(addr);
        let line = server.line_with("\"served\"");
        let event: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{adapter}: {e}: {line}"));
        assert_eq!(event["fields"]["status"], 200, "{line}");
        assert!(event["fields"]["latency_ms"].is_f64(), "{line}");
        assert_latency_printed_in_ms(number_after(&line, "\"latency_ms\":"), &line);
    }
}

#[test]
fn text_logs_in_a_pipe_carry_no_colour_codes() {
    for adapter in adapters() {
        let mut server = Server::start(&["--adapter", adapter]);
        let line = server.line_with("slipway-server listening");
        assert!(!line.contains("\x1b["), "{adapter}: ANSI code in {line:?}");
        let addr: SocketAddr = number_after_addr(&line);
        get_health(addr);
        let line = server.line_with("served");
        assert_latency_printed_in_ms(number_after(&line, "latency_ms="), &line);
        for line in &server.seen {
            assert!(!line.contains("\x1b["), "{adapter}: ANSI code in {line:?}");
        }
    }
}

/// The `addr=...` field of the text line announcing the listener.
fn number_after_addr(line: &str) -> SocketAddr {
    let start = line
        .find("addr=")
        .unwrap_or_else(|| panic!("addr in {line}"))
        + 5;
    line[start..]
        .split_whitespace()
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("an address in {line}"))
}

/// Sends `GET path` with `X-Request-Id: id`; returns the whole answer.
fn get_with_id(addr: SocketAddr, path: &str, id: &str) -> String {
    let mut tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(HANG)).unwrap();
    write!(
        tcp,
        "GET {path} HTTP/1.1\r\nhost: x\r\nx-request-id: {id}\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn request_log_lines_carry_the_request_id() {
    for adapter in adapters() {
        for format in ["text", "json"] {
            let mut server = Server::start(&["--adapter", adapter, "--log-format", format]);
            let line = server.line_with("slipway-server listening");
            let addr = if format == "json" {
                let event: serde_json::Value = serde_json::from_str(&line).unwrap();
                event["fields"]["addr"].as_str().unwrap().parse().unwrap()
            } else {
                number_after_addr(&line)
            };
            let id = format!("log-test-{adapter}-{format}");
            let answer = get_with_id(addr, "/no/such/route", &id);
            assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
            assert!(
                answer
                    .to_ascii_lowercase()
                    .contains(&format!("x-request-id: {id}")),
                "{answer}"
            );
            let line = server.line_with(&id);
            assert!(line.contains("served"), "{adapter} {format}: {line}");
            assert!(line.contains("404"), "{adapter} {format}: {line}");
        }
    }
}
