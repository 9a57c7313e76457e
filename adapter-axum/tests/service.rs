//! `slipway_axum::service` (core routes) answers every request exactly as
//! `slipway_axum::router` (axum routes) does: the black-box suite runs the
//! standalone server, which serves `service`, so this keeps `router` to the
//! same contract. Both are nested under `/api` and asked the same requests
//! of one instance; status, body and the headers a client reads must agree.

use axum::body::Body;
use axum::Router;
use http::{header, Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use slipway_core::services::{NewAccount, NewProject, Principal};
use slipway_core::{MemoryStore, Slipway};
use tower::ServiceExt as _;

/// Status, the headers a client reads, and the body of one answer.
#[derive(Debug, PartialEq)]
struct Answer {
    status: StatusCode,
    headers: Vec<(String, String)>,
    body: String,
}

async fn ask(app: &Router, method: &Method, path: &str, token: Option<&str>, body: &str) -> Answer {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        // The same id both times: error bodies name it.
        .header("x-request-id", "same-id-for-both");
    if let Some(token) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    if !body.is_empty() {
        req = req.header(header::CONTENT_TYPE, "application/json");
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::from(body.to_owned())).expect("request"))
        .await
        .expect("answers");
    let status = resp.status();
    let headers = [
        header::CONTENT_TYPE,
        header::ALLOW,
        header::WWW_AUTHENTICATE,
        header::LINK,
        header::HeaderName::from_static("x-request-id"),
    ]
    .iter()
    .filter_map(|name| {
        let value = resp.headers().get(name)?.to_str().ok()?.to_owned();
        Some((name.to_string(), value))
    })
    .collect();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

#[tokio::test]
async fn service_and_router_answer_alike() {
    let slipway = Slipway::builder()
        .secret(b"a router-and-service test secret of 32+ bytes".to_vec())
        .store(MemoryStore::new())
        .build()
        .expect("builds");
    let ada = slipway
        .accounts()
        .find_or_create(NewAccount::new("Ada", "ada@example.com"))
        .await
        .expect("account");
    let project = slipway
        .projects()
        .create(
            &Principal::user(ada.clone()),
            NewProject::new("Blog", "src-1", "vm-1"),
        )
        .await
        .expect("project");
    let token = slipway.issue_token(&ada, None);
    let routed = Router::new().nest("/api", slipway_axum::router(slipway.clone()));
    let served = Router::new().nest_service("/api", slipway_axum::service(slipway.clone()));

    let own = format!("/api/project/{}", project.id);
    let cases: Vec<(Method, String, Option<&str>, &str)> = vec![
        (Method::GET, own.clone(), Some(&token), ""),
        (Method::GET, own.clone(), None, ""),
        (Method::GET, own.clone(), Some("not-a-token"), ""),
        (Method::HEAD, own.clone(), Some(&token), ""),
        (Method::PUT, own.clone(), Some(&token), ""),
        (Method::PATCH, own.clone(), Some(&token), "{"),
        (Method::PATCH, own.clone(), Some(&token), r#"{"name": 7}"#),
        (
            Method::GET,
            "/api/project/no-such-id".into(),
            Some(&token),
            "",
        ),
        (Method::GET, "/api/project/a%20b".into(), Some(&token), ""),
        (Method::GET, "/api/project?limit=1".into(), Some(&token), ""),
        (Method::GET, "/api/project?limit=0".into(), Some(&token), ""),
        (Method::POST, "/api/project".into(), Some(&token), "[]"),
        (Method::GET, "/api/project/".into(), Some(&token), ""),
        (Method::GET, "/api/nope".into(), Some(&token), ""),
        (Method::DELETE, "/api/health".into(), None, ""),
        (Method::GET, "/api/auth/me".into(), Some(&token), ""),
        (Method::GET, "/api/openapi.json".into(), None, ""),
        (
            Method::POST,
            "/api/auth/signin".into(),
            None,
            r#"{"email": 1}"#,
        ),
        // `/ws` without an upgrade, with a bad token, with another method.
        (Method::GET, "/api/ws".into(), Some(&token), ""),
        (Method::GET, "/api/ws?token=nope".into(), None, ""),
        (Method::POST, "/api/ws".into(), Some(&token), ""),
    ];
    let mut answered = Vec::new();
    for (method, path, token, body) in &cases {
        let by_router = ask(&routed, method, path, *token, body).await;
        let by_service = ask(&served, method, path, *token, body).await;
        if *method == Method::HEAD {
            // axum hands `HEAD` to the `GET` route, whose endpoint refuses it
            // naming only `GET`; core names every method of the path. Both
            // refuse, and a server sends neither body to a `HEAD`.
            assert_eq!(by_service.status, StatusCode::METHOD_NOT_ALLOWED);
            assert_eq!(by_router.status, StatusCode::METHOD_NOT_ALLOWED);
        } else {
            assert_eq!(by_service, by_router, "{method} {path}");
        }
        answered.push(by_router.status);
    }
    // The cases reach real answers, not one fallback for everything.
    for status in [
        StatusCode::OK,
        StatusCode::BAD_REQUEST,
        StatusCode::UNAUTHORIZED,
        StatusCode::NOT_FOUND,
        StatusCode::METHOD_NOT_ALLOWED,
    ] {
        assert!(answered.contains(&status), "no {status} among {answered:?}");
    }
}
