//! The checker behind every answer of the suite (`slipway_tests::openapi`):
//! it accepts what the served document describes and refuses what it does
//! not, and the document covers every route.

use reqwest::Method;
use serde_json::{json, Value};
use slipway_tests::openapi::validator_for;
use slipway_tests::TestServer;

#[tokio::test]
async fn the_validator_catches_mismatches() {
    let s = TestServer::start().await;
    let v = validator_for(&s.url).await.expect("registered by start");
    let get = Method::GET;
    let post = Method::POST;
    // Real answers pass (and were checked by `call` already).
    let t = s.signup("ada").await;
    let list = s.get("/project", Some(&t)).await;
    assert!(v.check(Some(&get), "/project", 200, &list.body).is_ok());
    let err = json!({"statusCode": 404, "message": "Project not found", "error": "Not Found"});
    assert!(v.check(Some(&get), "/project/abc", 404, &err).is_ok());
    // A body that does not match the documented schema.
    let e = v
        .check(Some(&get), "/project", 200, &json!({"not": "an array"}))
        .unwrap_err();
    assert!(e.contains("does not match"), "{e}");
    let bad_project = json!([{"id": 1, "name": "x"}]);
    assert!(v.check(Some(&get), "/project", 200, &bad_project).is_err());
    let bad_error = json!({"statusCode": "404", "message": "x", "error": "Not Found"});
    assert!(v
        .check(Some(&get), "/project/abc", 404, &bad_error)
        .is_err());
    // An undocumented status, an undocumented operation, a stray body.
    let e = v.check(Some(&get), "/project", 418, &err).unwrap_err();
    assert!(e.contains("not documented"), "{e}");
    assert!(v.check(Some(&post), "/nowhere", 200, &json!({})).is_err());
    assert!(v
        .check(Some(&Method::DELETE), "/project/x", 204, &json!({"x": 1}))
        .is_err());
    assert!(v
        .check(Some(&Method::DELETE), "/project/x", 204, &Value::Null)
        .is_ok());
    // Without a method, some operation of the path must fit.
    assert!(v.check(None, "/project/abc", 404, &err).is_ok());
    assert!(v.check(None, "/project/abc", 201, &json!({})).is_err());
    // Unknown paths may only answer 404/405 with the error body.
    assert!(v.check(Some(&get), "/nowhere", 404, &err).is_ok());
}

#[tokio::test]
async fn every_endpoint_is_documented() {
    let s = TestServer::start().await;
    let v = validator_for(&s.url).await.unwrap();
    for route in s.running.slipway.routes() {
        if route.path == "/ws" {
            continue;
        }
        let op = &v.doc()["paths"][route.path][route.method.as_str().to_ascii_lowercase()];
        assert!(
            op.is_object(),
            "{} {} is not documented",
            route.method,
            route.path
        );
    }
}
