//! Slow clients cannot hold connections, on both adapters: a client that
//! sends part of a request head (or nothing) is disconnected after the header
//! read timeout, the number of connections served at once is capped, and a
//! request over the time limit answers Slipway's JSON 503.
//!
//! Each test runs against axum and warp in turn, whatever
//! `SLIPWAY_TEST_ADAPTER` says: these are the hosts' own controls.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Guards against a hang (reported as a failure); never about speed.
const HANG: Duration = Duration::from_secs(60);

const ADAPTERS: [&str; 2] = ["axum", "warp"];

/// A server on `adapter` with the given HTTP options.
async fn start(adapter: &str, opts: slipway_server::HttpOptions) -> slipway_server::Running {
    let mut args = slipway_server::Args::defaults();
    args.secret = Some(slipway_tests::SECRET.into());
    // Never the default `sqlite://slipway.db` in the working directory: the
    // tests run at once, and one server holds a database file.
    args.database_url = "memory:".into();
    let slipway = slipway_server::build(&args, |b| b.argon2(slipway_tests::fast_argon2()))
        .await
        .unwrap();
    slipway_server::spawn_adapter_with(adapter, "127.0.0.1:0".parse().unwrap(), slipway, opts)
        .await
        .unwrap()
}

const HEALTH: &[u8] = b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n";

/// Reads one response (head and `content-length` body) from a keep-alive
/// connection; `None` when the server closed the connection first.
async fn read_response(tcp: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().unwrap())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return Some(String::from_utf8_lossy(&buf[..end + 4 + len]).into_owned());
            }
        }
        match tcp.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Reads until the server closes the connection; returns what it sent.
async fn read_until_closed(tcp: &mut TcpStream, what: &str) -> String {
    let mut out = Vec::new();
    let read = tokio::time::timeout(HANG, async {
        let mut chunk = [0u8; 1024];
        loop {
            match tcp.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "{what}: the server kept the connection open");
    String::from_utf8_lossy(&out).into_owned()
}

async fn health_ok(addr: SocketAddr) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(HEALTH).await.unwrap();
    let answer = tokio::time::timeout(HANG, read_response(&mut tcp))
        .await
        .expect("answered")
        .expect("a response");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_client_sending_half_a_request_line_is_disconnected() {
    for adapter in ADAPTERS {
        let running = start(
            adapter,
            slipway_server::HttpOptions {
                header_read_timeout: Duration::from_millis(300),
                ..Default::default()
            },
        )
        .await;
        // Half a request line, then nothing.
        let mut slow = TcpStream::connect(running.addr).await.unwrap();
        slow.write_all(b"GET /heal").await.unwrap();
        // Nothing at all.
        let mut silent = TcpStream::connect(running.addr).await.unwrap();
        // A normal request on another connection is served meanwhile.
        health_ok(running.addr).await;

        let sent = read_until_closed(&mut slow, adapter).await;
        assert!(!sent.contains("200 OK"), "{adapter}: {sent}");
        let sent = read_until_closed(&mut silent, adapter).await;
        assert!(!sent.contains("200 OK"), "{adapter}: {sent}");
        // A keep-alive connection is served, then closed once idle.
        let mut idle = TcpStream::connect(running.addr).await.unwrap();
        idle.write_all(HEALTH).await.unwrap();
        let answer = read_response(&mut idle).await.expect("a response");
        assert!(answer.starts_with("HTTP/1.1 200"), "{adapter}: {answer}");
        read_until_closed(&mut idle, adapter).await;

        health_ok(running.addr).await;
        running.stop().await.unwrap();
    }
}

#[tokio::test]
async fn the_connection_cap_holds_new_connections_until_one_closes() {
    for adapter in ADAPTERS {
        let running = start(
            adapter,
            slipway_server::HttpOptions {
                max_connections: 2,
                // Long enough that the held connections stay open throughout.
                header_read_timeout: Duration::from_secs(600),
                ..Default::default()
            },
        )
        .await;
        // Two keep-alive connections, each served once and left open.
        let mut first = TcpStream::connect(running.addr).await.unwrap();
        first.write_all(HEALTH).await.unwrap();
        let a = read_response(&mut first).await.expect("first served");
        assert!(a.starts_with("HTTP/1.1 200"), "{adapter}: {a}");
        let mut second = TcpStream::connect(running.addr).await.unwrap();
        second.write_all(HEALTH).await.unwrap();
        let b = read_response(&mut second).await.expect("second served");
        assert!(b.starts_with("HTTP/1.1 200"), "{adapter}: {b}");

        // A third connection's request waits: the server does not accept it.
        let mut third = TcpStream::connect(running.addr).await.unwrap();
        third.write_all(HEALTH).await.unwrap();
        let early =
            tokio::time::timeout(Duration::from_millis(500), read_response(&mut third)).await;
        assert!(
            early.is_err(),
            "{adapter}: a third connection was served at a cap of 2: {early:?}"
        );
        // The held connections still work.
        second.write_all(HEALTH).await.unwrap();
        let b = read_response(&mut second)
            .await
            .expect("second served again");
        assert!(b.starts_with("HTTP/1.1 200"), "{adapter}: {b}");

        // Once one closes, the third is accepted and answered.
        drop(first);
        let c = tokio::time::timeout(HANG, read_response(&mut third))
            .await
            .expect("the third connection is served once one closes")
            .expect("a response");
        assert!(c.starts_with("HTTP/1.1 200"), "{adapter}: {c}");
        drop(second);
        drop(third);
        running.stop().await.unwrap();
    }
}

#[tokio::test]
async fn a_request_over_the_time_limit_answers_json_503_on_both_adapters() {
    for adapter in ADAPTERS {
        let running = start(
            adapter,
            slipway_server::HttpOptions {
                request_timeout: Duration::from_millis(300),
                ..Default::default()
            },
        )
        .await;
        // Headers and half of a body; the rest never comes.
        let mut tcp = TcpStream::connect(running.addr).await.unwrap();
        tcp.write_all(
            b"POST /auth/signin HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
              content-length: 100\r\nconnection: close\r\n\r\n{\"email\":",
        )
        .await
        .unwrap();
        let text = read_until_closed(&mut tcp, adapter).await;
        assert!(text.starts_with("HTTP/1.1 503"), "{adapter}: {text}");
        assert!(
            text.contains("content-type: application/json"),
            "{adapter}: {text}"
        );
        // The body: Slipway's error, with the request id of the answer.
        let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
        let id = text
            .lines()
            .find_map(|l| l.strip_prefix("x-request-id: "))
            .unwrap_or_else(|| panic!("{adapter}: no x-request-id in {text}"));
        assert_eq!(
            body,
            format!(
                r#"{{"statusCode":503,"message":"The request took longer than the limit of 300ms; try again","error":"Service Unavailable","requestId":"{id}"}}"#
            ),
            "{adapter}: {text}"
        );
        // A request within the limit is unaffected.
        health_ok(running.addr).await;
        running.stop().await.unwrap();
    }
}
