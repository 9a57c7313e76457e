//! `/ws` through warp under a prefix: core refuses before the upgrade, then
//! core's protocol runs over the connection the filter upgraded.

use futures::StreamExt;
use serde_json::{json, Value};
use slipway_core::{Argon2Params, MemoryStore, Slipway};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use warp::Filter;

/// A memory-store instance with cheap password hashing.
fn slipway() -> Slipway {
    Slipway::builder()
        .secret(b"a test secret of at least 32 bytes long".to_vec())
        .store(MemoryStore::new())
        .argon2(Argon2Params {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        })
        .build()
        .unwrap()
}

/// Serves `/api` → Slipway on 127.0.0.1:0; returns the address and a token.
async fn start() -> (std::net::SocketAddr, String) {
    let app = warp::path("api").and(slipway_warp::routes(slipway()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(warp::serve(app).incoming(listener).run());
    let signup: Value = reqwest::Client::new()
        .post(format!("http://{addr}/api/auth/signup"))
        .json(&json!({"name": "Ada", "email": "ada@example.com", "password": "correct horse"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (addr, signup["accessToken"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn ws_bad_token_is_slipways_401_without_upgrade() {
    let (addr, _) = start().await;
    let err = tokio_tungstenite::connect_async(format!("ws://{addr}/api/ws?token=nope"))
        .await
        .expect_err("refused");
    let WsError::Http(resp) = err else {
        panic!("expected an HTTP refusal, got {err}")
    };
    assert_eq!(resp.status().as_u16(), 401);
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    let body: Value = serde_json::from_slice(resp.body().as_deref().unwrap()).unwrap();
    assert_eq!(body["statusCode"], 401);
}

#[tokio::test]
async fn ws_good_token_upgrades_and_gets_the_connect_frame() {
    let (addr, token) = start().await;
    let (mut ws, resp) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/api/ws?token={token}"))
            .await
            .expect("upgraded");
    assert_eq!(resp.status().as_u16(), 101);
    let first = loop {
        match ws.next().await.expect("open").expect("a message") {
            Message::Text(t) => break serde_json::from_str::<Value>(t.as_str()).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(first["event"], "connect");
    assert!(first["data"]["userId"].is_string());
}

#[tokio::test]
async fn ws_without_upgrade_headers_is_a_json_error_after_auth() {
    let (addr, token) = start().await;
    let c = reqwest::Client::new();
    // No token: core's 401 comes first.
    let resp = c.get(format!("http://{addr}/api/ws")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    // A good token but a plain GET: JSON 426, not a warp rejection.
    let resp = c
        .get(format!("http://{addr}/api/ws?token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 426);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["statusCode"], 426);
    // Other methods are core's 404/405 like any path.
    let resp = c
        .post(format!("http://{addr}/api/ws"))
        .send()
        .await
        .unwrap();
    assert!(matches!(resp.status().as_u16(), 404 | 405));
    assert_eq!(resp.headers()["content-type"], "application/json");
}

/// Sends `GET /api/ws?token=…` with `headers` over a raw connection and
/// returns the response head.
async fn raw_get(addr: std::net::SocketAddr, token: &str, headers: &[(&str, &str)]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut req = format!("GET /api/ws?token={token} HTTP/1.1\r\nHost: {addr}\r\n");
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    req.push_str("\r\n");
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = conn.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before the response head");
        head.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&head).to_ascii_lowercase()
}

#[tokio::test]
async fn ws_upgrade_checks_every_handshake_header() {
    let (addr, token) = start().await;
    // The RFC 6455 example key and its accept value.
    let key = ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
    let version = ("Sec-WebSocket-Version", "13");
    let upgrade = ("Upgrade", "WebSocket");
    // `Connection` is a list; the token is matched whole, in any case.
    let connection = ("Connection", "keep-alive, Upgrade");
    let head = raw_get(addr, &token, &[connection, upgrade, version, key]).await;
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(
        head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{head}"
    );
    assert!(head.contains("upgrade: websocket"), "{head}");

    let refused = [
        vec![connection, upgrade, version],
        vec![connection, upgrade, ("Sec-WebSocket-Version", "8"), key],
        vec![connection, ("Upgrade", "h2c"), version, key],
        vec![
            ("Connection", "keep-alive, upgraded"),
            upgrade,
            version,
            key,
        ],
        vec![upgrade, version, key],
    ];
    for headers in refused {
        let head = raw_get(addr, &token, &headers).await;
        assert!(head.starts_with("http/1.1 426"), "{headers:?}: {head}");
        assert!(head.contains("content-type: application/json"), "{head}");
    }
}

/// A request that carries no upgrade handle (built by hand and passed to the
/// filter as a service, as a host without hyper's upgrades would) gets a JSON
/// 500, not a 101 that nothing follows.
#[tokio::test]
async fn ws_upgrade_without_an_upgrade_handle_is_a_json_500() {
    use http_body_util::{BodyExt, Full};
    use tower::ServiceExt;

    let service = warp::service(slipway_warp::routes(slipway()));
    let signup = http::Request::post("/auth/signup")
        .header("content-type", "application/json")
        .body(Full::new(bytes::Bytes::from(
            json!({"name": "Ada", "email": "ada@example.com", "password": "correct horse"})
                .to_string(),
        )))
        .unwrap();
    let resp = service.clone().oneshot(signup).await.unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let body: Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    let token = body["accessToken"].as_str().unwrap();

    let upgrade = http::Request::get(format!("/ws?token={token}"))
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .body(Full::new(bytes::Bytes::new()))
        .unwrap();
    let resp = service.oneshot(upgrade).await.unwrap();
    assert_eq!(resp.status().as_u16(), 500);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let body: Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["statusCode"], 500);
    assert!(body["message"].as_str().unwrap().contains("cannot upgrade"));
}
