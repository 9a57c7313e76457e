//! Every configurable limit: the request just over it is refused with the
//! documented status, the one exactly at it passes.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use slipway_tests::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Guards against a hang (reported as a failure); never about speed.
const HANG: Duration = Duration::from_secs(60);

/// A signup body padded with trailing spaces to exactly `len` bytes.
fn padded_signup(name: &str, len: usize) -> String {
    let body = json!({"name": name, "email": format!("{name}@example.com"),
                      "password": format!("password-{name}")})
    .to_string();
    assert!(body.len() <= len);
    format!("{body}{}", " ".repeat(len - body.len()))
}

async fn post_raw(s: &TestServer, path: &str, body: String) -> (u16, Value) {
    let resp = s
        .client
        .post(format!("{}{path}", s.url))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("sent");
    let a = TestServer::answer(resp).await;
    (a.status.as_u16(), a.body)
}

#[tokio::test]
async fn body_over_the_limit_is_413_at_the_limit_passes() {
    let s = TestServer::start_with(|_| {}, |b| b.body_limit(1000)).await;
    let (status, _) = post_raw(&s, "/auth/signup", padded_signup("at", 1000)).await;
    assert_eq!(status, 201);
    let (status, body) = post_raw(&s, "/auth/signup", padded_signup("over", 1001)).await;
    assert_eq!(status, 413, "{body}");
    assert!(body["message"].as_str().unwrap().contains("1000 bytes"));
}

/// `{"name":…, "x": [[…[1]…]]}` with `arrays` nested arrays: depth 1 + arrays.
fn nested(name: &str, arrays: usize) -> Value {
    let mut x = json!(1);
    for _ in 0..arrays {
        x = json!([x]);
    }
    json!({"name": name, "email": format!("{name}@example.com"),
           "password": format!("password-{name}"), "x": x})
}

#[tokio::test]
async fn json_nesting_over_the_limit_is_400_at_the_limit_passes() {
    let s = TestServer::start().await; // default depth limit: 32
    assert_eq!(s.running.slipway.config().json_max_depth, 32);
    s.post("/auth/signup", None, nested("deep31", 31))
        .await
        .expect(201);
    let msg = s
        .post("/auth/signup", None, nested("deep32", 32))
        .await
        .expect_error(400);
    assert!(msg.starts_with("x[0]"), "{msg}");
    assert!(msg.contains("nested too deeply"), "{msg}");
    // Deeper than serde_json's own recursion limit is still a clean 400.
    let deep = format!("{{\"x\":{}1{}}}", "[".repeat(5000), "]".repeat(5000));
    let (status, _) = post_raw(&s, "/auth/signup", deep).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn strings_and_arrays_over_the_limit_are_400_naming_the_field() {
    let s = TestServer::start_with(
        |_| {},
        |b| {
            b.configure(|c| {
                c.json_max_string_length = 300;
                c.json_max_array_length = 3;
            })
        },
    )
    .await;
    let body = |name: &str, note: usize, tags: usize| {
        json!({"name": name, "email": format!("{name}@example.com"),
               "password": format!("password-{name}"), "note": "é".repeat(note),
               "tags": vec![1; tags]})
    };
    s.post("/auth/signup", None, body("atlimit", 300, 3))
        .await
        .expect(201);
    let msg = s
        .post("/auth/signup", None, body("longnote", 301, 3))
        .await
        .expect_error(400);
    assert!(
        msg.starts_with("note must be at most 300 characters"),
        "{msg}"
    );
    let msg = s
        .post("/auth/signup", None, body("manytags", 3, 4))
        .await
        .expect_error(400);
    assert!(
        msg.starts_with("tags must have at most 3 elements"),
        "{msg}"
    );
}

/// Sends a raw `GET /health` whose headers add up to exactly `total` bytes
/// (name + value + 4 per header); returns the status.
async fn get_with_header_bytes(s: &TestServer, total: usize) -> u16 {
    let fixed = [
        ("host", "x".to_string()),
        ("connection", "close".to_string()),
    ];
    let used: usize = fixed.iter().map(|(k, v)| k.len() + v.len() + 4).sum();
    let pad = total - used - ("x-pad".len() + 4);
    let mut req = String::from("GET /health HTTP/1.1\r\n");
    for (k, v) in &fixed {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("x-pad: {}\r\n\r\n", "p".repeat(pad)));
    let mut tcp = TcpStream::connect(s.running.addr).await.expect("connect");
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(HANG, tcp.read_to_end(&mut out))
        .await
        .expect("answered")
        .unwrap();
    let text = String::from_utf8_lossy(&out);
    let status_line = text.lines().next().expect("status line");
    status_line.split(' ').nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn headers_over_the_limit_are_431_at_the_limit_pass() {
    let s = TestServer::start_with(|_| {}, |b| b.configure(|c| c.max_header_bytes = 2048)).await;
    assert_eq!(get_with_header_bytes(&s, 2048).await, 200);
    assert_eq!(get_with_header_bytes(&s, 2049).await, 431);
}

#[tokio::test]
async fn failed_signins_per_address_are_429_with_retry_after() {
    let s = TestServer::start_with(
        |_| {},
        |b| {
            b.configure(|c| {
                c.signin_max_failures_per_addr = 3;
                c.signin_max_failures = 100;
            })
        },
    )
    .await;
    s.signup("ada").await;
    let good = json!({"email": "ada@example.com", "password": "password-ada"});
    let wrong =
        |n: u32| json!({"email": format!("nobody{n}@example.com"), "password": "wrong-password"});
    // Failures for different emails, all from 127.0.0.1.
    for n in 0..2 {
        s.post("/auth/signin", None, wrong(n))
            .await
            .expect_error(401);
    }
    // Two failures: below the limit, a correct sign-in passes.
    s.post("/auth/signin", None, good.clone()).await.expect(200);
    // The third failure is still checked (401), and reaches the limit.
    s.post("/auth/signin", None, wrong(2))
        .await
        .expect_error(401);
    for body in [good, wrong(3)] {
        let a = s.post("/auth/signin", None, body).await;
        let msg = a.expect_error(429);
        assert!(msg.contains("from this address"), "{msg}");
        let after: u64 = a.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!(after >= 1);
    }
}

async fn ws_connect(s: &TestServer, token: &str) -> Result<Ws, WsError> {
    let url = format!("ws://{}/ws?token={token}", s.running.addr);
    let (mut ws, _) = tokio::time::timeout(HANG, connect_async(url))
        .await
        .expect("handshake finished")?;
    let first = next_text(&mut ws).await;
    assert_eq!(first["event"], "connect");
    Ok(ws)
}

async fn next_message(ws: &mut Ws) -> Option<Message> {
    loop {
        match tokio::time::timeout(HANG, ws.next())
            .await
            .expect("no hang")
        {
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(m)) => return Some(m),
            Some(Err(_)) | None => return None,
        }
    }
}

async fn next_text(ws: &mut Ws) -> Value {
    match next_message(ws).await {
        Some(Message::Text(t)) => serde_json::from_str(t.as_str()).unwrap(),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

/// Creates a project as `token`'s user; its event arrives on `ws`, which is
/// therefore still open.
async fn create_and_see_the_event(s: &TestServer, token: &str, ws: &mut Ws) {
    s.post(
        "/project",
        Some(token),
        json!({"name": "p1", "sourceId": "src-1", "vmId": "vm-1"}),
    )
    .await
    .expect(201);
    assert_eq!(next_text(ws).await["event"], "project.update");
}

#[tokio::test]
async fn websocket_message_over_the_limit_closes_with_1009() {
    let s = TestServer::start_with(|_| {}, |b| b.configure(|c| c.ws_max_message_size = 1024)).await;
    let token = s.signup("ada").await;
    let mut ws = ws_connect(&s, &token).await.expect("upgraded");
    ws.send(Message::text("a".repeat(1024))).await.unwrap();
    // Still open: the next project event arrives.
    create_and_see_the_event(&s, &token, &mut ws).await;
    ws.send(Message::binary(vec![0u8; 1025])).await.unwrap();
    match next_message(&mut ws).await {
        Some(Message::Close(Some(frame))) => {
            assert_eq!(frame.code, CloseCode::Size);
            assert_eq!(u16::from(frame.code), 1009);
        }
        other => panic!("expected close 1009, got {other:?}"),
    }
}

/// The adapters read client frames through a 4 KiB buffer: a message ten
/// times that size (under the limit) is still read whole, and one over the
/// limit still closes with 1009.
#[tokio::test]
async fn websocket_message_larger_than_the_read_buffer_is_read_whole() {
    let limit = 64 * 1024;
    let s =
        TestServer::start_with(|_| {}, |b| b.configure(|c| c.ws_max_message_size = limit)).await;
    let token = s.signup("ada").await;
    let mut ws = ws_connect(&s, &token).await.expect("upgraded");
    ws.send(Message::text("a".repeat(40 * 1024))).await.unwrap();
    ws.send(Message::binary(vec![7u8; limit])).await.unwrap();
    create_and_see_the_event(&s, &token, &mut ws).await;
    ws.send(Message::binary(vec![0u8; limit + 1]))
        .await
        .unwrap();
    match next_message(&mut ws).await {
        Some(Message::Close(Some(frame))) => assert_eq!(u16::from(frame.code), 1009),
        other => panic!("expected close 1009, got {other:?}"),
    }
}

#[tokio::test]
async fn websocket_connections_per_user_are_limited() {
    let s = TestServer::start_with(
        |_| {},
        |b| b.configure(|c| c.ws_max_connections_per_user = 2),
    )
    .await;
    let ada = s.signup("ada").await;
    let bob = s.signup("bob").await;
    let first = ws_connect(&s, &ada).await.expect("first");
    let _second = ws_connect(&s, &ada).await.expect("second");
    match ws_connect(&s, &ada).await {
        Err(WsError::Http(resp)) => {
            assert_eq!(resp.status().as_u16(), 429);
            assert!(resp.headers().contains_key("retry-after"));
            let body: Value = serde_json::from_slice(resp.body().as_deref().unwrap()).unwrap();
            assert!(body["message"].as_str().unwrap().contains("at most 2"));
        }
        Ok(_) => panic!("a third connection was accepted"),
        Err(other) => panic!("expected 429, got {other}"),
    }
    // Another user is not affected.
    let _bob = ws_connect(&s, &bob).await.expect("bob connects");
    // Closing one gives the slot back (released when the server sees the close).
    drop(first);
    let mut attempts = 0;
    let _third = loop {
        attempts += 1;
        match ws_connect(&s, &ada).await {
            Ok(ws) => break ws,
            Err(WsError::Http(resp)) if resp.status().as_u16() == 429 && attempts < 200 => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(other) => panic!("slot not given back: {other}"),
        }
    };
    assert_eq!(s.running.slipway.open_websockets(), 3);
}

#[tokio::test]
async fn every_answer_is_nosniff_and_tokens_are_not_cached() {
    let s = TestServer::start().await;
    let token = s.signup("ada").await;
    let signin = s
        .post(
            "/auth/signin",
            None,
            json!({"email": "ada@example.com", "password": "password-ada"}),
        )
        .await;
    assert_eq!(signin.headers["cache-control"], "no-store");
    let project = s
        .post(
            "/project",
            Some(&token),
            json!({"name": "p", "sourceId": "src-h", "vmId": "vm-h"}),
        )
        .await
        .expect(201)
        .clone();
    let id = project["id"].as_str().unwrap();
    let answers = [
        s.get("/auth/me", Some(&token)).await,                   // 200
        s.get("/auth/me", None).await,                           // 401
        s.delete(&format!("/project/{id}"), Some(&token)).await, // 204
        s.get(&format!("/project/{id}"), Some(&token)).await,    // 404
        s.post("/auth/signup", None, json!({})).await,           // 400
        s.call(reqwest::Method::PUT, "/auth/me", None, None).await, // 405
    ];
    for a in answers {
        assert_eq!(a.headers["x-content-type-options"], "nosniff", "{a:?}");
    }
    let unknown = s
        .client
        .get(format!("{}/nowhere", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status().as_u16(), 404);
    assert_eq!(unknown.headers()["x-content-type-options"], "nosniff");
}

/// A server on the adapter under test with the given HTTP options.
async fn start_with_options(opts: slipway_server::HttpOptions) -> slipway_server::Running {
    let mut args = slipway_server::Args::defaults();
    args.secret = Some(slipway_tests::SECRET.into());
    // Never the default `sqlite://slipway.db` in the working directory.
    args.database_url = "memory:".into();
    let slipway = slipway_server::build(&args, |b| b.argon2(slipway_tests::fast_argon2()))
        .await
        .unwrap();
    slipway_server::spawn_adapter_with(
        &slipway_tests::adapter_kind(),
        "127.0.0.1:0".parse().unwrap(),
        slipway,
        opts,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_request_over_the_time_limit_answers_json_503() {
    let running = start_with_options(slipway_server::HttpOptions {
        request_timeout: Duration::from_millis(300),
        ..Default::default()
    })
    .await;
    // Headers and half of a body; the rest never comes.
    let mut tcp = TcpStream::connect(running.addr).await.unwrap();
    tcp.write_all(
        b"POST /auth/signin HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
          content-length: 100\r\nconnection: close\r\n\r\n{\"email\":",
    )
    .await
    .unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(HANG, tcp.read_to_end(&mut out))
        .await
        .expect("answered")
        .unwrap();
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("content-type: application/json"), "{text}");
    assert!(
        text.contains("took longer than the limit of 300ms"),
        "{text}"
    );
    // A request within the limit is unaffected.
    let ok = reqwest::get(format!("http://{}/health", running.addr))
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
}

#[tokio::test]
async fn cors_is_off_by_default_and_allows_only_configured_origins() {
    let preflight = |addr: std::net::SocketAddr, origin: &'static str| async move {
        reqwest::Client::new()
            .request(reqwest::Method::OPTIONS, format!("http://{addr}/project"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
            .await
            .unwrap()
    };
    let off = start_with_options(Default::default()).await;
    let r = preflight(off.addr, "https://app.example.com").await;
    assert!(!r.headers().contains_key("access-control-allow-origin"));

    let on = start_with_options(slipway_server::HttpOptions {
        cors_origins: vec!["https://app.example.com".into()],
        ..Default::default()
    })
    .await;
    let r = preflight(on.addr, "https://app.example.com").await;
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let r = preflight(on.addr, "https://evil.example.net").await;
    assert!(!r.headers().contains_key("access-control-allow-origin"));
}
