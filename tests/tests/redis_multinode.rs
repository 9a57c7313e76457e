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

/// The next JSON text frame of a WebSocket (pings are answered by tungstenite).
async fn frame<S>(ws: &mut S) -> serde_json::Value
where
    S: futures::Stream<
            Item = Result<
                tokio_tungstenite::tungstenite::Message,
                tokio_tungstenite::tungstenite::Error,
            >,
        > + Unpin,
{
    use tokio_tungstenite::tungstenite::Message;
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a frame within 10 s")
            .expect("the socket stays open")
            .expect("no socket error");
        match msg {
            Message::Text(t) => return serde_json::from_str(t.as_str()).expect("a JSON frame"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected message {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_node_a_reaches_a_websocket_on_node_b() {
    let Some(base) = redis_support::redis_url("a_write_on_node_a_reaches_a_websocket_on_node_b")
    else {
        return;
    };
    let url = redis_support::with_fresh_prefix(&base, "slipway-multinode-ws");
    let a = node(&url).await;
    let b = node(&url).await;
    let token = a.signup("ada").await;
    let other = a.signup("bob").await;

    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{}/ws?token={token}", b.running.addr))
            .await
            .expect("node B upgrades");
    let hello = frame(&mut ws).await;
    assert_eq!(hello["event"], "connect");

    // Bob's project (written on A) is not Ada's to see; hers is, in order.
    a.post(
        "/project",
        Some(&other),
        json!({"name": "theirs", "sourceId": "src-0", "vmId": "vm-0"}),
    )
    .await
    .expect(201);
    let created = a
        .post(
            "/project",
            Some(&token),
            json!({"name": "web", "sourceId": "src-1", "vmId": "vm-1"}),
        )
        .await;
    let pid = created.expect(201)["id"].as_str().unwrap().to_string();
    let update = frame(&mut ws).await;
    assert_eq!(update["event"], "project.update", "{update}");
    assert_eq!(update["data"]["type"], "CREATE");
    assert_eq!(update["data"]["projectId"], pid.as_str());
    assert_eq!(update["data"]["data"]["vmId"], "vm-1");
    let create_id: u64 = update["id"].as_str().unwrap().parse().unwrap();

    a.patch(
        &format!("/project/{pid}"),
        Some(&token),
        json!({"name": "renamed"}),
    )
    .await
    .expect(200);
    let update = frame(&mut ws).await;
    assert_eq!(update["data"]["type"], "UPDATE");
    assert_eq!(update["data"]["data"]["name"], "renamed");
    let update_id: u64 = update["id"].as_str().unwrap().parse().unwrap();
    assert!(update_id > create_id);

    // A client of node B resuming from before the update gets exactly it.
    let (mut again, _) = tokio_tungstenite::connect_async(format!(
        "ws://{}/ws?token={token}&since={create_id}",
        b.running.addr
    ))
    .await
    .expect("node B upgrades");
    assert_eq!(frame(&mut again).await["event"], "connect");
    let replayed = frame(&mut again).await;
    assert_eq!(replayed["id"], update["id"]);
    assert_eq!(replayed["data"], update["data"]);
}
