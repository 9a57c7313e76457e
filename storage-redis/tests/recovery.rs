//! RedisStore when Redis goes away and comes back, and with slow subscribers.
//! Each test runs its own redis-server (AOF, `appendfsync always`).

mod support;

use std::time::Duration;

use futures::StreamExt;
use slipway_core::model::{FeedItem, ProjectPatch, RoleGate, User};
use slipway_core::store::EventStream;
use slipway_core::testing::cases::{new_project, new_user, next_item};
use slipway_core::testing::CoreProjectWrites;
use slipway_core::{Store, StoreError};
use slipway_redis::{RedisOptions, RedisStore};
use support::RedisServer;

fn options() -> RedisOptions {
    RedisOptions {
        prefix: "recovery".into(),
        command_timeout: Duration::from_millis(500),
        connect_timeout: Duration::from_millis(500),
        ..Default::default()
    }
}

async fn next_id(feed: &mut EventStream) -> u64 {
    match next_item(feed).await {
        FeedItem::Event(e) => e.id,
        FeedItem::Resync => panic!("unexpected resync"),
    }
}

/// Retries `op` while it answers `Unavailable` (bounded): the store must
/// recover by itself once Redis is back.
async fn until_available<T, F, Fut>(mut op: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    for _ in 0..100 {
        match op().await {
            Ok(v) => return v,
            Err(StoreError::Unavailable(_)) => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => panic!("expected success or Unavailable, got {e:?}"),
        }
    }
    panic!("the store did not recover");
}

/// A private redis-server, a store on it and its first user (`None` when
/// redis-server is not installed).
async fn store_with_user(test: &str) -> Option<(RedisServer, RedisStore, User)> {
    let redis = support::start_fresh(test)?;
    let store = RedisStore::connect(&redis.url(), options()).await.unwrap();
    let user = store
        .create_user(
            new_user("a"),
            RoleGate::FirstUserAdmin,
            &slipway_core::testing::cases::audit(),
        )
        .await
        .unwrap();
    Some((redis, store, user))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn down_redis_is_unavailable_and_the_event_feed_resumes_without_gap() {
    let Some((mut redis, store, user)) = store_with_user("event_feed_resumes").await else {
        return;
    };
    let project = store
        .core_create_project(
            new_project(&user.id),
            &slipway_core::testing::cases::audit(),
        )
        .await
        .unwrap();
    let mut feed = store.events(None).await.unwrap();
    let rename = |name: &str| ProjectPatch {
        name: Some(name.into()),
        updated_at: chrono::Utc::now(),
        ..Default::default()
    };
    store
        .core_update_project(
            &user.id,
            &project.id,
            rename("one"),
            &slipway_core::testing::cases::audit(),
        )
        .await
        .unwrap();
    let first = next_id(&mut feed).await;

    redis.kill();
    // Every call answers Unavailable (503), none hangs and none is `Other`.
    for _ in 0..3 {
        let r = store
            .core_update_project(
                &user.id,
                &project.id,
                rename("lost"),
                &slipway_core::testing::cases::audit(),
            )
            .await;
        assert!(matches!(r, Err(StoreError::Unavailable(_))), "{r:?}");
    }
    assert!(matches!(
        store.ping().await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        store.events(None).await.err(),
        Some(StoreError::Unavailable(_))
    ));

    let (dir, port) = (redis.dir.clone(), redis.port);
    let _redis = RedisServer::start_on(&dir, port);
    // Another node writes first, then this one: the feed gets both, in order,
    // right after the event it delivered before the crash.
    let other = RedisStore::connect(&format!("redis://127.0.0.1:{port}"), options())
        .await
        .unwrap();
    other
        .core_update_project(
            &user.id,
            &project.id,
            rename("two"),
            &slipway_core::testing::cases::audit(),
        )
        .await
        .unwrap();
    // One change, one entry: every attempt carries the same one.
    let three = slipway_core::testing::cases::audit();
    until_available(|| store.core_update_project(&user.id, &project.id, rename("three"), &three))
        .await;
    let second = next_id(&mut feed).await;
    let third = next_id(&mut feed).await;
    assert_eq!((second, third), (first + 1, first + 2));
    let read = store.get_project(&user.id, &project.id).await.unwrap();
    assert_eq!(read.name, "three");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_falls_behind_the_broadcast_catches_up_from_the_stream() {
    let Some(redis) = support::start_fresh("slow_subscriber_catches_up") else {
        return;
    };
    let store = RedisStore::connect(
        &redis.url(),
        RedisOptions {
            subscriber_buffer: 4,
            ..options()
        },
    )
    .await
    .unwrap();
    let user = store
        .create_user(
            new_user("a"),
            RoleGate::FirstUserAdmin,
            &slipway_core::testing::cases::audit(),
        )
        .await
        .unwrap();
    let mut slow = store.events(None).await.unwrap();
    let mut fast = store.events(None).await.unwrap();
    let first = store.last_event_id().await.unwrap() + 1;
    let mut last = 0;
    for _ in 0..12 {
        store
            .core_create_project(
                new_project(&user.id),
                &slipway_core::testing::cases::audit(),
            )
            .await
            .unwrap();
        last = store.last_event_id().await.unwrap();
    }
    // Once the fast subscriber has the last event, the slow one (which read
    // nothing) is more than the broadcast's 4 events behind.
    loop {
        if let FeedItem::Event(e) = next_item(&mut fast).await {
            if e.id == last {
                break;
            }
        }
    }
    // It loses nothing the stream still holds: every event, in order, no
    // resync.
    for expected in first..=last {
        assert_eq!(next_id(&mut slow).await, expected);
    }
    let extra = tokio::time::timeout(Duration::from_millis(300), slow.next()).await;
    assert!(extra.is_err(), "no duplicate or extra item: {extra:?}");
    let _ = std::fs::remove_dir_all(&redis.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_redis_loses_its_data_subscribers_resync_then_get_every_new_event() {
    let Some(redis) = support::start_fresh("data_loss_resync") else {
        return;
    };
    let store = RedisStore::connect(&redis.url(), options()).await.unwrap();
    let user = store
        .create_user(
            new_user("a"),
            RoleGate::FirstUserAdmin,
            &slipway_core::testing::cases::audit(),
        )
        .await
        .unwrap();
    let mut feed = store.events(None).await.unwrap();
    for _ in 0..5 {
        store
            .core_create_project(
                new_project(&user.id),
                &slipway_core::testing::cases::audit(),
            )
            .await
            .unwrap();
    }
    for _ in 0..5 {
        next_id(&mut feed).await;
    }
    // The data is gone (a flushed or replaced Redis): the event counter starts
    // again from 0, behind every subscriber's cursor.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("FLUSHALL").query_async(&mut conn).await.unwrap();
    let user = store
        .create_user(
            new_user("b"),
            RoleGate::FirstUserAdmin,
            &slipway_core::testing::cases::audit(),
        )
        .await
        .unwrap();
    assert_eq!(next_item(&mut feed).await, FeedItem::Resync);
    let p = store
        .core_create_project(
            new_project(&user.id),
            &slipway_core::testing::cases::audit(),
        )
        .await
        .unwrap();
    let e = loop {
        match next_item(&mut feed).await {
            FeedItem::Event(e) if e.project_id == p.id => break e,
            FeedItem::Event(_) => continue,
            FeedItem::Resync => panic!("one resync only"),
        }
    };
    assert_eq!(e.id, store.last_event_id().await.unwrap());
    let _ = std::fs::remove_dir_all(&redis.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_written_before_anyone_noticed_a_data_loss_do_not_reuse_ids() {
    let Some(redis) = support::start_fresh("no_reused_event_ids") else {
        return;
    };
    let store = RedisStore::connect(&redis.url(), options()).await.unwrap();
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let audit = slipway_core::testing::cases::audit;
    let user = store
        .create_user(new_user("a"), RoleGate::FirstUserAdmin, &audit())
        .await
        .unwrap();
    for _ in 0..5 {
        store
            .core_create_project(new_project(&user.id), &audit())
            .await
            .unwrap();
    }
    // Read, as a subscriber would: the store has seen events 1..=5.
    assert_eq!(store.read_events(0, 10).await.unwrap().len(), 5);

    // Redis loses its data and a write comes before anyone looked: its event
    // does not take id 1 (which a cursor at 5 would never see) but 7, and a
    // cursor at 5 finds the gap: Resync, then the event.
    let _: () = redis::cmd("FLUSHALL").query_async(&mut conn).await.unwrap();
    let user = store
        .create_user(new_user("b"), RoleGate::FirstUserAdmin, &audit())
        .await
        .unwrap();
    let p = store
        .core_create_project(new_project(&user.id), &audit())
        .await
        .unwrap();
    assert_eq!(store.last_event_id().await.unwrap(), 7);
    let mut feed = store.events(Some(5)).await.unwrap();
    assert_eq!(next_item(&mut feed).await, FeedItem::Resync);
    match next_item(&mut feed).await {
        FeedItem::Event(e) => assert_eq!((e.id, e.project_id), (7, p.id)),
        FeedItem::Resync => panic!("one resync only"),
    }
    drop(feed);

    // Once the store has reported the log gone back (the feed resyncs its
    // subscribers to that id), ids continue right after it.
    let _: () = redis::cmd("FLUSHALL").query_async(&mut conn).await.unwrap();
    assert_eq!(store.last_event_id().await.unwrap(), 0);
    let user = store
        .create_user(new_user("c"), RoleGate::FirstUserAdmin, &audit())
        .await
        .unwrap();
    store
        .core_create_project(new_project(&user.id), &audit())
        .await
        .unwrap();
    assert_eq!(store.last_event_id().await.unwrap(), 1);
    let _ = std::fs::remove_dir_all(&redis.dir);
}

/// A failover to a replica that lagged: the counter and the stream go back
/// to an earlier state, and another node (which never saw the lost events)
/// writes the lost ids again until the counter is back where it was. A
/// subscriber of the first node, whose cursor is at the last lost id, would
/// skip those events for good: it gets `Resync` within the poll interval
/// (the node's poll finds another event under the id it read last), then
/// the events after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_failover_to_a_lagging_replica_subscribers_resync() {
    let Some(redis) = support::start_fresh("lagging_replica") else {
        return;
    };
    let audit = slipway_core::testing::cases::audit;
    let a = RedisStore::connect(&redis.url(), options()).await.unwrap();
    let user = a
        .create_user(new_user("a"), RoleGate::FirstUserAdmin, &audit())
        .await
        .unwrap();
    for _ in 0..3 {
        a.core_create_project(new_project(&user.id), &audit())
            .await
            .unwrap();
    }
    // The replica's copy: events 1..=3.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys = ["recovery:eventid", "recovery:events"];
    let mut copies: Vec<Vec<u8>> = Vec::new();
    for key in keys {
        copies.push(
            redis::cmd("DUMP")
                .arg(key)
                .query_async(&mut conn)
                .await
                .unwrap(),
        );
    }
    let mut feed = a.events(None).await.unwrap();
    for _ in 0..3 {
        a.core_create_project(new_project(&user.id), &audit())
            .await
            .unwrap();
    }
    for _ in 0..3 {
        next_id(&mut feed).await;
    }
    assert_eq!(a.last_event_id().await.unwrap(), 6);

    // The failover: events 4..=6 are gone, and node B writes 4..=6 again.
    for (key, copy) in keys.iter().zip(&copies) {
        let _: () = redis::cmd("RESTORE")
            .arg(key)
            .arg(0)
            .arg(copy.as_slice())
            .arg("REPLACE")
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    let b = RedisStore::connect(&redis.url(), options()).await.unwrap();
    let mut written = Vec::new();
    for _ in 0..4 {
        written.push(
            b.core_create_project(new_project(&user.id), &audit())
                .await
                .unwrap()
                .id,
        );
    }
    assert_eq!(b.last_event_id().await.unwrap(), 7);
    // Event 7 may come first (B's write wakes A's feed at once); within A's
    // poll interval comes the `Resync`, then the events after the resync
    // point, B's last among them.
    let mut before = 0;
    while next_item(&mut feed).await != FeedItem::Resync {
        before += 1;
        assert!(before <= 1, "only event 7 may come before the resync");
    }
    let mut seen = Vec::new();
    while seen.last() != written.last() {
        match next_item(&mut feed).await {
            FeedItem::Event(e) => seen.push(e.project_id),
            FeedItem::Resync => panic!("one resync only"),
        }
    }
    let _ = std::fs::remove_dir_all(&redis.dir);
}

/// Reading on from the event read last asks Redis for that entry too (to
/// check it is still the same); when it was trimmed meanwhile, the read
/// still answers at most `limit` events, in order, from the oldest retained.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_on_from_a_trimmed_event_answers_at_most_the_limit() {
    let Some(redis) = support::start_fresh("trimmed_read") else {
        return;
    };
    let audit = slipway_core::testing::cases::audit;
    let options = RedisOptions {
        event_retention: 5,
        ..options()
    };
    let store = RedisStore::connect(&redis.url(), options).await.unwrap();
    let user = store
        .create_user(new_user("a"), RoleGate::FirstUserAdmin, &audit())
        .await
        .unwrap();
    for _ in 0..3 {
        store
            .core_create_project(new_project(&user.id), &audit())
            .await
            .unwrap();
    }
    assert_eq!(store.read_events(0, 10).await.unwrap().len(), 3);
    for _ in 0..10 {
        store
            .core_create_project(new_project(&user.id), &audit())
            .await
            .unwrap();
    }
    let ids: Vec<u64> = store
        .read_events(3, 3)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, [9, 10, 11]);
    let _ = std::fs::remove_dir_all(&redis.dir);
}

/// A peer on Redis's address that does not speak Redis (another service took
/// the port after a crash, or the URL names the wrong service) is a store
/// that cannot serve: `Unavailable` (503), not an internal error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_is_not_redis_is_unavailable() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let Some((mut redis, store, user)) = store_with_user("peer_not_redis").await else {
        return;
    };
    redis.kill();
    slipway_core::testing::ports::release(redis.port);
    let http = tokio::net::TcpListener::bind(("127.0.0.1", redis.port))
        .await
        .expect("bind Redis's port");
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = http.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = conn.read(&mut buf).await;
                let _ = conn
                    .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                    .await;
            });
        }
    });
    for _ in 0..3 {
        let r = store
            .core_create_project(
                new_project(&user.id),
                &slipway_core::testing::cases::audit(),
            )
            .await;
        assert!(matches!(r, Err(StoreError::Unavailable(_))), "{r:?}");
        let r = store.get_user(&user.id).await;
        assert!(matches!(r, Err(StoreError::Unavailable(_))), "{r:?}");
    }
    assert!(matches!(
        store.ping().await,
        Err(StoreError::Unavailable(_))
    ));
    let _ = std::fs::remove_dir_all(&redis.dir);
}
