//! Slipway mounted under `/api` next to a host's own warp routes, served on a
//! real TCP listener.

use std::net::SocketAddr;

use serde_json::{json, Value};
use slipway_core::{Argon2Params, MemoryStore, Slipway};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use warp::Filter;

const LIMIT: usize = 1024;

/// Starts `host routes .or(/api → Slipway)` on 127.0.0.1:0.
async fn start() -> SocketAddr {
    let slipway = Slipway::builder()
        .secret(b"a test secret of at least 32 bytes long".to_vec())
        .store(MemoryStore::new())
        .body_limit(LIMIT)
        .argon2(Argon2Params {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        })
        .build()
        .unwrap();
    let hello = warp::path!("hello").map(|| "hello from the host");
    let api = warp::path("api").and(slipway_warp::routes(slipway));
    let app = hello.or(api);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(warp::serve(app).incoming(listener).run());
    addr
}

/// Status, `content-type`, `allow` and body of a response.
async fn read(resp: reqwest::Response) -> (u16, String, Option<String>, String) {
    let status = resp.status().as_u16();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    let ctype = header("content-type").unwrap_or_default();
    let allow = header("allow");
    (status, ctype, allow, resp.text().await.unwrap())
}

/// Asserts Slipway's JSON error body; returns its message.
fn slipway_error(status: u16, ctype: &str, body: &str, expected: u16) -> String {
    assert_eq!(status, expected, "{body}");
    assert_eq!(ctype, "application/json", "{body}");
    let v: Value = serde_json::from_str(body).expect("a JSON error body");
    assert_eq!(v["statusCode"], json!(expected), "{body}");
    assert!(v["error"].is_string(), "{body}");
    v["message"].as_str().expect("a message").to_string()
}

#[tokio::test]
async fn host_route_and_slipway_under_prefix_both_answer() {
    let addr = start().await;
    let c = reqwest::Client::new();

    let (status, _, _, body) =
        read(c.get(format!("http://{addr}/hello")).send().await.unwrap()).await;
    assert_eq!((status, body.as_str()), (200, "hello from the host"));

    let (status, ctype, _, body) = read(
        c.get(format!("http://{addr}/api/health"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ctype, "application/json");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["status"],
        "ok"
    );

    // Body and headers pass through both ways.
    let signup = c
        .post(format!("http://{addr}/api/auth/signup"))
        .json(&json!({"name": "Ada", "email": "ada@example.com", "password": "correct horse"}))
        .send()
        .await
        .unwrap();
    let (status, _, _, body) = read(signup).await;
    assert_eq!(status, 201, "{body}");
    let token = serde_json::from_str::<Value>(&body).unwrap()["accessToken"]
        .as_str()
        .unwrap()
        .to_string();
    let me = c
        .get(format!("http://{addr}/api/auth/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let (status, _, _, body) = read(me).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["email"],
        "ada@example.com"
    );

    // Slipway's routes exist only under the prefix.
    let (status, _, _, _) =
        read(c.get(format!("http://{addr}/health")).send().await.unwrap()).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn unknown_path_under_prefix_is_slipways_json_404() {
    let addr = start().await;
    let resp = reqwest::get(format!("http://{addr}/api/no/such/route?x=1"))
        .await
        .unwrap();
    let (status, ctype, _, body) = read(resp).await;
    let msg = slipway_error(status, &ctype, &body, 404);
    // Core sees the path relative to the mount point, and never the query.
    assert!(msg.contains("/no/such/route"), "{msg}");
    assert!(!msg.contains("/api") && !msg.contains("x=1"), "{msg}");
}

#[tokio::test]
async fn wrong_method_under_prefix_is_slipways_json_405() {
    let addr = start().await;
    let resp = reqwest::Client::new()
        .delete(format!("http://{addr}/api/health"))
        .send()
        .await
        .unwrap();
    let (status, ctype, allow, body) = read(resp).await;
    slipway_error(status, &ctype, &body, 405);
    assert_eq!(allow.as_deref(), Some("GET"));
}

#[tokio::test]
async fn oversized_body_under_prefix_is_slipways_json_413() {
    let addr = start().await;
    let big = json!({"name": "x".repeat(LIMIT), "email": "a@example.com", "password": "password"});
    let resp = reqwest::Client::new()
        .post(format!("http://{addr}/api/auth/signup"))
        .json(&big)
        .send()
        .await
        .unwrap();
    let (status, ctype, _, body) = read(resp).await;
    slipway_error(status, &ctype, &body, 413);
}

#[tokio::test]
async fn oversized_chunked_body_is_limited_by_core_too() {
    // No content-length: only reading the stream can find the body too big.
    let addr = start().await;
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let chunk = "a".repeat(LIMIT + 1);
    let req = format!(
        "POST /api/auth/signup HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\nconnection: close\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
        chunk.len()
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut raw = String::new();
    tcp.read_to_string(&mut raw).await.unwrap();
    assert!(raw.starts_with("HTTP/1.1 413"), "{raw}");
    assert!(raw.contains("\"statusCode\":413"), "{raw}");
}

#[tokio::test]
async fn malformed_json_under_prefix_is_slipways_json_400() {
    let addr = start().await;
    let resp = reqwest::Client::new()
        .post(format!("http://{addr}/api/auth/signup"))
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    let (status, ctype, _, body) = read(resp).await;
    slipway_error(status, &ctype, &body, 400);
}
