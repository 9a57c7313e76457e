//! `/ws` through warp under a prefix: core refuses before the upgrade, then
//! core's protocol runs over warp's socket.

use futures::StreamExt;
use serde_json::{json, Value};
use slipway_core::{Argon2Params, MemoryStore, Slipway};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use warp::Filter;

/// Serves `/api` → Slipway on 127.0.0.1:0; returns the address and a token.
async fn start() -> (std::net::SocketAddr, String) {
    let slipway = Slipway::builder()
        .secret(b"a test secret of at least 32 bytes long".to_vec())
        .store(MemoryStore::new())
        .argon2(Argon2Params {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        })
        .build()
        .unwrap();
    let app = warp::path("api").and(slipway_warp::routes(slipway));
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
