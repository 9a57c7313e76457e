#![cfg(feature = "axum")]
//! Heap allocations per authenticated read (`GET /project/{id}` on the memory
//! store), through the standalone server's whole stack (`app_with`: request
//! id, request log, time limit, core's routing and endpoint), counted by dhat's global allocator
//! (`DHAT_SITES=1` also writes where they come from to `dhat-heap.json`).
//!
//! Throughput on this shared machine is noisy; an allocation count is not.
//! The benchmark harness shows the request rate (BENCHMARKS.md); this test
//! keeps the read path from growing allocations again unnoticed.

use http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use slipway_core::services::{NewAccount, NewProject, Principal};
use slipway_core::{MemoryStore, Slipway};
use slipway_server::HttpOptions;
use tower::ServiceExt;

/// dhat's allocator counts every allocation of the process (and, with
/// `DHAT_SITES=1`, writes where they come from to `dhat-heap.json`).
#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

/// (allocations, bytes) made so far by the process.
fn allocated() -> (u64, u64) {
    let stats = dhat::HeapStats::get();
    (stats.total_blocks, stats.total_bytes)
}

/// The most allocations one authenticated read may make in the server's
/// stack (hyper's own parsing and writing excluded). 25 were measured
/// (BENCHMARKS.md, sixteenth run), 24 since the request log replaced
/// tower-http's trace layer (twenty-third run): the time-limit layer, core's
/// boxed endpoint and handler futures, the `Authenticator` and store calls
/// (boxed by `async_trait`), the project read out of the memory store, the
/// JSON body and the response headers. Before core routed the server's
/// requests itself, axum's router added 14 more. Raise it only with a
/// measurement that says why.
const READ_ALLOCATIONS_AT_MOST: u64 = 27;

#[tokio::test(flavor = "current_thread")]
async fn an_authenticated_read_allocates_a_bounded_number_of_times() {
    // Profiling mode writes each allocation site to dhat-heap.json (for
    // finding them); testing mode only counts.
    let _profiler = if std::env::var_os("DHAT_SITES").is_some() {
        dhat::Profiler::builder().build()
    } else {
        dhat::Profiler::builder().testing().build()
    };
    let slipway = Slipway::builder()
        .secret(b"an allocation-count test secret of 32+ bytes".to_vec())
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
    let app = slipway_server::app_with(slipway.clone(), &HttpOptions::default());
    let path = format!("/project/{}", project.id);
    let bearer = format!("Bearer {token}");
    let request = || {
        Request::get(&path)
            .header(header::AUTHORIZATION, &bearer)
            .body(axum::body::Body::empty())
            .expect("request")
    };

    // Warm-up: the session cache, lazily built statics, the timer.
    for _ in 0..20 {
        let resp = app.clone().oneshot(request()).await.expect("answers");
        assert_eq!(resp.status(), StatusCode::OK);
        resp.into_body().collect().await.expect("body");
    }

    // Many more reads when profiling, so the per-read sites stand out from
    // the setup's.
    let n: u64 = if std::env::var_os("DHAT_SITES").is_some() {
        5_000
    } else {
        200
    };
    let mut total = 0;
    let mut total_bytes = 0;
    for _ in 0..n {
        let req = request();
        let service = app.clone();
        let (n0, bytes0) = allocated();
        let resp = service.oneshot(req).await.expect("answers");
        assert_eq!(resp.status(), StatusCode::OK);
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        let (n1, bytes1) = allocated();
        assert!(body.starts_with(b"{\"id\":\""), "a project: {body:?}");
        total += n1 - n0;
        total_bytes += bytes1 - bytes0;
    }
    let per_read = total / n;
    println!(
        "allocations per authenticated read: {per_read} ({} bytes)",
        total_bytes / n
    );
    assert!(
        per_read <= READ_ALLOCATIONS_AT_MOST,
        "an authenticated read makes {per_read} allocations (at most {READ_ALLOCATIONS_AT_MOST})"
    );
}
