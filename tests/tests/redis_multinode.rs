//! Two slipway-server nodes on one Redis (one key prefix): what one node
//! writes, the other serves and streams.
//!
//! Needs `SLIPWAY_TEST_REDIS_URL` (skips without it, fails without it under
//! `SLIPWAY_REQUIRE_BACKENDS=1`). Runs whatever `SLIPWAY_TEST_STORE` says:
//! both nodes always use RedisStore.

mod redis_support;

use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use slipway_core::model::{EventKind, FeedItem};
use slipway_core::store::EventStream;
use slipway_tests::TestServer;

async fn node(url: &str) -> TestServer {
    let url = url.to_string();
    TestServer::start_with(move |args| args.database_url = url, |b| b).await
}

async fn next_event(feed: &mut EventStream) -> slipway_core::model::Event {
    let item = tokio::time::timeout(Duration::from_secs(10), feed.next())
        .await
        .expect("an event within 10 s")
        .expect("the feed goes on")
        .expect("no store error");
    match item {
        FeedItem::Event(e) => e,
        FeedItem::Resync => panic!("unexpected resync"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_on_one_node_reach_the_other() {
    let Some(base) = redis_support::redis_url("writes_on_one_node_reach_the_other") else {
        return;
    };
    let url = redis_support::with_fresh_prefix(&base, "slipway-multinode");
    let a = node(&url).await;
    let b = node(&url).await;

    // Users and tokens are shared: a signup on A is known to B.
    let token = a.signup("ada").await;
    let me = b.get("/auth/me", Some(&token)).await;
    assert_eq!(me.expect(200)["email"], "ada@example.com");

    // B follows the log; A writes.
    let mut feed_b = b.running.slipway.store().events(None).await.unwrap();
    let mut feed_a = a.running.slipway.store().events(None).await.unwrap();
    let created = a
        .post(
            "/project",
            Some(&token),
            json!({"name": "web", "sourceId": "src-1", "vmId": "vm-1"}),
        )
        .await;
    let project = created.expect(201).clone();
    let pid = project["id"].as_str().unwrap().to_string();
    let ev = next_event(&mut feed_b).await;
    assert_eq!(
        (ev.kind, ev.project_id.as_str()),
        (EventKind::Create, pid.as_str())
    );
    assert_eq!(ev.data["vmId"], "vm-1");
    assert_eq!(ev.data["networks"], json!([]));

    // B serves A's project, enforces uniqueness against it, and its writes
    // reach A's feed (and its own) in the same order.
    assert_eq!(
        b.get(&format!("/project/{pid}"), Some(&token))
            .await
            .expect(200)["name"],
        "web"
    );
    b.post(
        "/project",
        Some(&token),
        json!({"name": "clash", "sourceId": "src-2", "vmId": "vm-1"}),
    )
    .await
    .expect_error(409);
    b.patch(
        &format!("/project/{pid}"),
        Some(&token),
        json!({"name": "renamed"}),
    )
    .await
    .expect(200);
    let create_on_a = next_event(&mut feed_a).await;
    let update_on_a = next_event(&mut feed_a).await;
    assert_eq!(create_on_a.id, ev.id);
    assert_eq!(update_on_a.kind, EventKind::Update);
    assert_eq!(update_on_a.data["name"], "renamed");
    assert!(update_on_a.id > create_on_a.id);
    let update_on_b = next_event(&mut feed_b).await;
    assert_eq!(update_on_b, update_on_a);

    // A delete on A: B no longer serves it, and B's feed says so.
    a.delete(&format!("/project/{pid}"), Some(&token))
        .await
        .expect(204);
    b.get(&format!("/project/{pid}"), Some(&token))
        .await
        .expect_error(404);
    let deleted = next_event(&mut feed_b).await;
    assert_eq!(deleted.kind, EventKind::Delete);
    assert_eq!(deleted.data, json!({"id": pid}));
}
