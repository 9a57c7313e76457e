//! Request ids: every answer carries `X-Request-Id` (the client's when sane,
//! else a generated one), and every error body repeats it as `requestId`.

use reqwest::Method;
use serde_json::{json, Value};
use slipway_tests::{Answer, TestServer};

async fn call_with_id(s: &TestServer, method: Method, path: &str, id: Option<&str>) -> Answer {
    let mut req = s.client.request(method, format!("{}{path}", s.url));
    if let Some(id) = id {
        req = req.header("x-request-id", id);
    }
    if path == "/project" {
        req = req.json(&json!({}));
    }
    TestServer::answer(req.send().await.expect("request sent")).await
}

fn header_id(a: &Answer) -> String {
    a.headers
        .get("x-request-id")
        .unwrap_or_else(|| panic!("no X-Request-Id on {a:?}"))
        .to_str()
        .unwrap()
        .to_string()
}

fn generated(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

#[tokio::test]
async fn every_answer_carries_a_request_id() {
    let s = TestServer::start().await;
    // Successes, core's errors, unknown routes and wrong methods alike.
    for (method, path, status) in [
        (Method::GET, "/health", 200),
        (Method::GET, "/auth/me", 401),
        (Method::POST, "/project", 401),
        (Method::GET, "/no/such/route", 404),
    ] {
        let a = call_with_id(&s, method.clone(), path, None).await;
        assert_eq!(a.status.as_u16(), status, "{method} {path}: {a:?}");
        let id = header_id(&a);
        assert!(generated(&id), "{method} {path}: {id}");
        if status >= 400 {
            a.expect_error(status);
            assert_eq!(a.body["requestId"], json!(id), "{method} {path}: {a:?}");
        }
    }
    // A wrong method (not an operation of the document: read directly).
    let resp = s
        .client
        .put(format!("{}/project", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 405);
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(generated(&id), "{id}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["requestId"], json!(id), "{body}");
    // Two requests, two ids.
    let a = header_id(&call_with_id(&s, Method::GET, "/health", None).await);
    let b = header_id(&call_with_id(&s, Method::GET, "/health", None).await);
    assert_ne!(a, b);
}

#[tokio::test]
async fn a_sane_client_id_is_echoed_in_the_header_and_the_error_body() {
    let s = TestServer::start().await;
    let long = "x".repeat(128);
    for id in ["abc-123", "trace:0a.1_b-2", long.as_str()] {
        let a = call_with_id(&s, Method::GET, "/health", Some(id)).await;
        assert_eq!(header_id(&a), id);
        let a = call_with_id(&s, Method::GET, "/project/nope", Some(id)).await;
        assert_eq!(a.status.as_u16(), 401, "{a:?}");
        assert_eq!(header_id(&a), id);
        assert_eq!(a.body["requestId"], json!(id), "{a:?}");
        let a = call_with_id(&s, Method::GET, "/no/such/route", Some(id)).await;
        a.expect_error(404);
        assert_eq!(header_id(&a), id);
        assert_eq!(a.body["requestId"], json!(id), "{a:?}");
    }
}

#[tokio::test]
async fn an_insane_client_id_is_replaced() {
    let s = TestServer::start().await;
    let long = "x".repeat(129);
    for id in [
        "has space",
        "semi;colon",
        "quote\"",
        "slash/",
        long.as_str(),
    ] {
        let a = call_with_id(&s, Method::GET, "/auth/me", Some(id)).await;
        a.expect_error(401);
        let got = header_id(&a);
        assert_ne!(got, id);
        assert!(generated(&got), "{id:?} replaced by {got}");
        assert_eq!(a.body["requestId"], json!(got), "{a:?}");
    }
}

#[tokio::test]
async fn a_refused_websocket_carries_the_request_id() {
    let s = TestServer::start().await;
    let resp = s
        .client
        .get(format!("{}/ws?token=not-a-jwt", s.url))
        .header("x-request-id", "ws-refusal-1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert_eq!(resp.headers()["x-request-id"], "ws-refusal-1");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["requestId"], "ws-refusal-1", "{body}");
}
