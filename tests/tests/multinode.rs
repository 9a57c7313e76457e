//! Two slipway-server nodes sharing one backend (the store under test:
//! PostgreSQL with LISTEN/NOTIFY, Redis with its event stream): what one node
//! writes, the other serves and streams, over HTTP and WebSocket.
//!
//! Runs when `SLIPWAY_TEST_STORE` names a shared store (`postgres`, `redis`);
//! with the in-memory store there is nothing to share, and SQLite allows one
//! server per database file: the tests say so and return. `scripts/test` runs this file in the PostgreSQL and Redis passes.

use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use slipway_core::model::{EventKind, FeedItem};
use slipway_core::store::EventStream;
use slipway_tests::TestServer;
use tokio_tungstenite::tungstenite::Message;

/// Two nodes on one fresh database (or key prefix); `None` on the memory store.
async fn two_nodes(test: &str) -> Option<(TestServer, TestServer)> {
    if slipway_tests::store_kind() == "memory" {
        eprintln!("skipped {test}: the memory store is not shared between nodes");
        return None;
    }
    if slipway_tests::store_kind() == "sqlite" {
        eprintln!(
            "skipped {test}: SQLite serves one node per database file (a second server on \
             the file is refused; see sqlite_fault.rs)"
        );
        return None;
    }
    let url = slipway_tests::fresh_database_url().await;
    let node = |url: String| TestServer::start_with(move |args| args.database_url = url, |b| b);
    let a = node(url.clone()).await;
    let b = node(url).await;
    Some((a, b))
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
async fn a_user_created_on_one_node_signs_in_on_the_other() {
    let Some((a, b)) = two_nodes("a_user_created_on_one_node_signs_in_on_the_other").await else {
        return;
    };

    let token = a.signup("ada").await;
    let signin = b
        .post(
            "/auth/signin",
            None,
            json!({"email": "ada@example.com", "password": "password-ada"}),
        )
        .await;
    let token_b = signin.expect(200)["accessToken"]
        .as_str()
        .unwrap()
        .to_string();
    let me = b.get("/auth/me", Some(&token)).await;
    assert_eq!(me.expect(200)["email"], "ada@example.com");
    assert_eq!(me.body["role"], "admin");
    // The token B issued works on A too (same secret, same users).
    a.get("/auth/me", Some(&token_b)).await.expect(200);
    // The first user is one across nodes: a signup on B is a member.
    let token_c = b.signup("cy").await;
    let me = a.get("/auth/me", Some(&token_c)).await;
    assert_eq!(me.expect(200)["role"], "member");
    // One email across nodes.
    b.post(
        "/auth/signup",
        None,
        json!({"name": "ada", "email": "ada@example.com", "password": "password-ada"}),
    )
    .await
    .expect_error(409);
}

/// The next JSON text frame of a WebSocket (pings are answered by tungstenite).
async fn frame<S>(ws: &mut S) -> serde_json::Value
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
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
async fn a_project_created_on_one_node_reaches_a_websocket_on_the_other() {
    let Some((a, b)) =
        two_nodes("a_project_created_on_one_node_reaches_a_websocket_on_the_other").await
    else {
        return;
    };
    let token = a.signup("ada").await;
    let other = a.signup("bob").await;

    let ws_url = format!("ws://{}/ws?token={token}", b.running.addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url)
        .await
        .expect("node B upgrades");
    let hello = frame(&mut ws).await;
    assert_eq!(hello["event"], "connect");

    // Another user's project (created on A) is not ours to see; ours is.
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
    let created_frame = update;

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

    // A client of node B resuming from before the update gets exactly it.
    let create_id: u64 = created_frame["id"].as_str().unwrap().parse().unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn project_writes_on_one_node_reach_the_other_nodes_feed() {
    let Some((a, b)) = two_nodes("project_writes_on_one_node_reach_the_other_nodes_feed").await
    else {
        return;
    };
    let token = a.signup("ada").await;

    let mut feed_b = b.running.slipway.store().events(None).await.unwrap();
    let mut feed_a = a.running.slipway.store().events(None).await.unwrap();
    let created = a
        .post(
            "/project",
            Some(&token),
            json!({"name": "web", "sourceId": "src-1", "vmId": "vm-1"}),
        )
        .await;
    let pid = created.expect(201)["id"].as_str().unwrap().to_string();
    let ev = next_event(&mut feed_b).await;
    assert_eq!(
        (ev.kind, ev.project_id.as_str()),
        (EventKind::Create, pid.as_str())
    );
    assert_eq!(ev.data["vmId"], "vm-1");

    // B serves A's project, enforces uniqueness against it, and its writes
    // reach A's feed in the same order as B's.
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
    assert_eq!(create_on_a, ev);
    assert_eq!(update_on_a.kind, EventKind::Update);
    assert_eq!(update_on_a.data["name"], "renamed");
    let update_on_b = next_event(&mut feed_b).await;
    assert_eq!(update_on_b, update_on_a);

    // A replay from B starts where asked, whoever wrote.
    let mut replay = b
        .running
        .slipway
        .store()
        .events(Some(ev.id - 1))
        .await
        .unwrap();
    assert_eq!(next_event(&mut replay).await, ev);
    assert_eq!(next_event(&mut replay).await, update_on_a);

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
