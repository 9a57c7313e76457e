//! Graceful shutdown of the real server process: on SIGTERM it stops
//! accepting, finishes the request in flight, closes WebSockets with 1001 and
//! exits 0.
//!
//! The server runs in a child process — this test binary started again with
//! `SLIPWAY_SHUTDOWN_CHILD=1`, running `slipway_server::run`, exactly what the
//! `slipway-server` binary's `main` runs — so the signal handling is real.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

const CHILD_VAR: &str = "SLIPWAY_SHUTDOWN_CHILD";
/// Guards against a hang (reported as a failure); never about speed.
const HANG: Duration = Duration::from_secs(60);

/// In the child: the server, until SIGTERM. A no-op in a normal run.
#[tokio::test]
async fn shutdown_child_server() {
    if std::env::var(CHILD_VAR).is_err() {
        return;
    }
    let mut args = slipway_server::Args::defaults();
    args.listen = "127.0.0.1:0".parse().unwrap();
    args.database_url = "memory:".into();
    args.secret = Some(slipway_tests::SECRET.into());
    args.shutdown_grace = Duration::from_secs(30);
    args.adapter = slipway_server::Adapter::parse(&slipway_tests::adapter_kind()).unwrap();
    let result = slipway_server::run(args, |addr| println!("LISTENING {addr}")).await;
    std::process::exit(if result.is_ok() { 0 } else { 1 });
}

#[tokio::test]
async fn sigterm_finishes_in_flight_requests_closes_websockets_and_exits_0() {
    if std::env::var(CHILD_VAR).is_ok() {
        return;
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "shutdown::shutdown_child_server", "--nocapture"])
        .env(CHILD_VAR, "1")
        .stdout(Stdio::piped())
        .spawn()
        .expect("child started");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let addr: std::net::SocketAddr = stdout
        .lines()
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("LISTENING ").map(|a| a.parse().unwrap()))
        .expect("the child reports its address");
    let url = format!("http://{addr}");
    let http = reqwest::Client::new();
    let signup = |name: &str| {
        json!({"name": name, "email": format!("{name}@example.com"),
               "password": format!("password-{name}")})
    };
    let token = http
        .post(format!("{url}/auth/signup"))
        .json(&signup("ada"))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["accessToken"]
        .as_str()
        .unwrap()
        .to_string();

    // An open WebSocket.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws?token={token}"))
        .await
        .expect("upgraded");
    let first = tokio::time::timeout(HANG, ws.next()).await.unwrap();
    assert!(matches!(first, Some(Ok(Message::Text(_)))), "{first:?}");

    // A request in flight: headers and half of the body sent.
    let body = signup("bob").to_string();
    let (head, tail) = body.split_at(body.len() / 2);
    let mut in_flight = TcpStream::connect(addr).await.unwrap();
    // `Expect: 100-continue`: the server answers `100 Continue` once the
    // request is being handled (its body read), so SIGTERM comes only after
    // the request is in flight, not while it still waits in the backlog.
    let request = format!(
        "POST /auth/signup HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nexpect: 100-continue\r\nconnection: close\r\n\r\n{head}",
        body.len()
    );
    in_flight.write_all(request.as_bytes()).await.unwrap();
    const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
    let mut continued = vec![0u8; CONTINUE.len()];
    tokio::time::timeout(HANG, in_flight.read_exact(&mut continued))
        .await
        .expect("100 Continue")
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&continued),
        String::from_utf8_lossy(CONTINUE)
    );

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());

    // The WebSocket is told the server is going away.
    let close = loop {
        match tokio::time::timeout(HANG, ws.next())
            .await
            .expect("no hang")
        {
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => break other,
        }
    };
    match close {
        Some(Ok(Message::Close(Some(frame)))) => {
            assert_eq!(u16::from(frame.code), 1001, "{frame:?}");
        }
        other => panic!("expected close 1001, got {other:?}"),
    }
    // Drive the closing handshake to its end.
    while let Ok(Some(Ok(_))) = tokio::time::timeout(HANG, ws.next()).await {}

    // New connections are refused once the server stopped accepting.
    let mut refused = false;
    for _ in 0..600 {
        if TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        refused,
        "the server kept accepting connections after SIGTERM"
    );

    // The in-flight request still completes, successfully.
    in_flight.write_all(tail.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(HANG, in_flight.read_to_end(&mut answer))
        .await
        .expect("answered")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 201"),
        "in-flight request: {answer}"
    );
    assert!(answer.contains("accessToken"), "{answer}");

    // And the process exits 0.
    let code = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(code.success(), "exit status {code:?}");
}
