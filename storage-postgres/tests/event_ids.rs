//! Event ids without an instance-wide write lock: writers insert their
//! event with a sequence number and no id, and ids are given afterwards in
//! the order events become visible (src/events.rs). These cases show what
//! core's feed relies on still holds when transactions commit out of
//! sequence order, across two stores ("nodes") on one database, with a
//! rolled-back write, with many concurrent writers, after a restart and
//! after an upgrade from the schema with the counter lock.
//!
//! Needs `SLIPWAY_TEST_POSTGRES_URL` (read at run time); skips without it
//! unless `SLIPWAY_REQUIRE_BACKENDS=1`.

use std::collections::HashSet;
use std::time::Duration;

use futures::StreamExt;
use slipway_core::model::{Event, EventKind, FeedItem, NewEvent, RoleGate};
use slipway_core::store::EventStream;
use slipway_core::testing::cases::{audit, new_project, new_user};
use slipway_core::testing::CoreProjectWrites;
use slipway_core::Store;
use slipway_postgres::sqlx::{self, Connection as _, PgConnection};
use slipway_postgres::{testing, PgOptions, PgStore};

async fn fresh_url() -> Option<String> {
    let admin = testing::admin_url()?;
    Some(
        testing::fresh_database(&admin)
            .await
            .expect("a fresh database"),
    )
}

/// A store whose feed only wakes on notifications (no safety-net poll), so
/// a missing wake-up shows as a timeout.
async fn node(url: &str) -> PgStore {
    PgStore::connect(
        url,
        PgOptions::default().poll_interval(Duration::from_secs(3600)),
    )
    .await
    .unwrap()
}

/// The next event of `feed` (a `Resync` fails the test).
async fn next_event(feed: &mut EventStream) -> Event {
    match tokio::time::timeout(Duration::from_secs(10), feed.next())
        .await
        .expect("an event within 10 s")
        .expect("the stream goes on")
        .expect("no store error")
    {
        FeedItem::Event(e) => e,
        FeedItem::Resync => panic!("unexpected resync"),
    }
}

/// Nothing more arrives on `feed` for a while.
async fn quiet(feed: &mut EventStream) {
    let extra = tokio::time::timeout(Duration::from_millis(300), feed.next()).await;
    assert!(extra.is_err(), "no duplicate or extra event: {extra:?}");
}

/// Opens a writer's transaction the way the store writes an event (its
/// `slipway_append_event` call) and leaves it open; returns the connection
/// and the event's sequence number.
async fn open_writer(url: &str, project_id: &str) -> (PgConnection, i64) {
    let mut conn = PgConnection::connect(url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
    let event = NewEvent::deleted(&"u-held".into(), &project_id.into());
    let seq = append(&mut conn, event, 10_000).await;
    (conn, seq)
}

/// One `slipway_append_event` call, as a write makes it; the event's
/// sequence number.
async fn append(conn: &mut PgConnection, event: NewEvent, retention: i64) -> i64 {
    sqlx::query_scalar("SELECT slipway_append_event($1, $2, $3, $4, $5)")
        .bind(event.owner_id)
        .bind(event.project_id)
        .bind(event.kind.as_str())
        .bind(event.data)
        .bind(retention)
        .fetch_one(conn)
        .await
        .unwrap()
}

/// What the store does after a commit (`events::notify`).
async fn written(conn: &mut PgConnection) {
    sqlx::query("SELECT pg_notify('slipway_events', '')")
        .execute(conn)
        .await
        .unwrap();
}

async fn unassigned(store: &PgStore) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE id IS NULL")
        .fetch_one(store.pool())
        .await
        .unwrap()
}

/// A transaction that took its sequence number first but commits last gets
/// the later id: both nodes' subscribers see the other write first, then
/// this one, each once, with no resync; while it is open the log ends
/// before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_late_commit_gets_the_next_id_on_every_node() {
    let Some(url) = fresh_url().await else { return };
    let (a, b) = (node(&url).await, node(&url).await);
    let owner = a
        .create_user(new_user("a"), RoleGate::FirstUserAdmin, &audit())
        .await
        .unwrap();
    let mut feed_a = a.events(Some(0)).await.unwrap();
    let mut feed_b = b.events(Some(0)).await.unwrap();

    let (mut held, held_seq) = open_writer(&url, "p-held").await;
    let p = a
        .core_create_project(new_project(&owner.id), &audit())
        .await
        .unwrap();
    let seq_p: i64 = sqlx::query_scalar("SELECT seq FROM events WHERE project_id = $1")
        .bind(&p.id)
        .fetch_one(a.pool())
        .await
        .unwrap();
    assert!(held_seq < seq_p, "the held writer took its number first");

    // While the first writer is open, the log is the second write alone.
    for feed in [&mut feed_a, &mut feed_b] {
        let e = next_event(feed).await;
        assert_eq!((e.id, e.project_id.as_str()), (1, p.id.as_str()));
        quiet(feed).await;
    }
    assert_eq!(b.last_event_id().await.unwrap(), 1);
    assert_eq!(b.read_events(0, 10).await.unwrap().len(), 1);

    sqlx::query("COMMIT").execute(&mut held).await.unwrap();
    written(&mut held).await;
    for feed in [&mut feed_a, &mut feed_b] {
        let e = next_event(feed).await;
        assert_eq!((e.id, e.project_id.as_str()), (2, "p-held"));
        assert_eq!(e.kind, EventKind::Delete);
        quiet(feed).await;
    }
    for store in [&a, &b] {
        assert_eq!(store.last_event_id().await.unwrap(), 2);
        let ids: Vec<(u64, String)> = store
            .read_events(0, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.id, e.project_id.into_string()))
            .collect();
        assert_eq!(ids, [(1, p.id.to_string()), (2, "p-held".to_string())]);
    }
}

/// A committed event is found by a reader even when its writer never got
/// to its after-commit call (a crash between the two): the reader assigns
/// it. Here the wake-up comes from a later write on the other node.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reader_assigns_what_a_writer_left_without_id() {
    let Some(url) = fresh_url().await else { return };
    let (a, b) = (node(&url).await, node(&url).await);
    let owner = a
        .create_user(new_user("a"), RoleGate::FirstUserAdmin, &audit())
        .await
        .unwrap();
    let mut feed = a.events(Some(0)).await.unwrap();
    // The feed's first read (of an empty log) is done before the orphan
    // commits; otherwise that read, if late, would assign it first.
    quiet(&mut feed).await;
    let (mut held, _) = open_writer(&url, "p-orphan").await;
    sqlx::query("COMMIT").execute(&mut held).await.unwrap();
    assert_eq!(unassigned(&a).await, 1);
    // A reader gives it its id before answering.
    assert_eq!(b.last_event_id().await.unwrap(), 1);
    assert_eq!(unassigned(&a).await, 0);
    let p = b
        .core_create_project(new_project(&owner.id), &audit())
        .await
        .unwrap();
    assert_eq!(next_event(&mut feed).await.project_id, "p-orphan");
    let e = next_event(&mut feed).await;
    assert_eq!((e.id, e.project_id), (2, p.id));
    quiet(&mut feed).await;
}

/// A rolled-back write leaves no event and no gap in the ids (its sequence
/// number is simply never seen), and a store write that fails leaves none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_write_leaves_no_event_and_no_gap() {
    let Some(url) = fresh_url().await else { return };
    let store = node(&url).await;
    let owner = store
        .create_user(new_user("a"), RoleGate::FirstUserAdmin, &audit())
        .await
        .unwrap();
    let mut feed = store.events(Some(0)).await.unwrap();
    let (mut held, _) = open_writer(&url, "p-rolled-back").await;
    let first = store
        .core_create_project(new_project(&owner.id), &audit())
        .await
        .unwrap();
    sqlx::query("ROLLBACK").execute(&mut held).await.unwrap();
    written(&mut held).await;
    // A store write refused by the database (a taken source id).
    let mut dup = new_project(&owner.id);
    dup.source_id = first.source_id.clone();
    store.core_create_project(dup, &audit()).await.unwrap_err();
    let second = store
        .core_create_project(new_project(&owner.id), &audit())
        .await
        .unwrap();
    let e1 = next_event(&mut feed).await;
    let e2 = next_event(&mut feed).await;
    assert_eq!((e1.id, e1.project_id), (1, first.id));
    assert_eq!((e2.id, e2.project_id), (2, second.id));
    quiet(&mut feed).await;
    assert_eq!(store.last_event_id().await.unwrap(), 2);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(rows, 2);
}

/// 32 tasks x 50 creates split over two nodes: ids 1..=1600, dense, every
/// create delivered exactly once, in the same order on both nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_writers_on_two_nodes_give_dense_ids_delivered_once() {
    const TASKS: usize = 32;
    const EACH: usize = 50;
    let Some(url) = fresh_url().await else { return };
    let (a, b) = (node(&url).await, node(&url).await);
    let owner = a
        .create_user(new_user("a"), RoleGate::FirstUserAdmin, &audit())
        .await
        .unwrap();
    let mut feed_a = a.events(Some(0)).await.unwrap();
    let mut feed_b = b.events(Some(0)).await.unwrap();
    let writers = (0..TASKS).map(|i| {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let owner = owner.id.clone();
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for _ in 0..EACH {
                let p = store
                    .core_create_project(new_project(&owner), &audit())
                    .await;
                ids.push(p.unwrap().id);
            }
            ids
        })
    });
    let mut created = HashSet::new();
    for w in futures::future::join_all(writers).await {
        created.extend(w.unwrap());
    }
    let total = TASKS * EACH;
    assert_eq!(created.len(), total);
    let mut orders = Vec::new();
    for feed in [&mut feed_a, &mut feed_b] {
        let mut order = Vec::with_capacity(total);
        for expected in 1..=total as u64 {
            let e = next_event(feed).await;
            assert_eq!(e.id, expected, "dense ids in order");
            order.push(e.project_id);
        }
        quiet(feed).await;
        orders.push(order);
    }
    assert_eq!(orders[0], orders[1], "one order on every node");
    let delivered: HashSet<_> = orders[0].iter().cloned().collect();
    assert_eq!(delivered, created, "every create delivered exactly once");
    assert_eq!(a.last_event_id().await.unwrap(), total as u64);
    assert_eq!(unassigned(&a).await, 0);
}

/// A subscriber resumes after its cursor on a restarted node (a new store
/// on the same database), with the events written while nobody followed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_after_a_cursor_across_a_restart() {
    let Some(url) = fresh_url().await else { return };
    let first = node(&url).await;
    let owner = first
        .create_user(new_user("a"), RoleGate::FirstUserAdmin, &audit())
        .await
        .unwrap();
    let mut feed = first.events(Some(0)).await.unwrap();
    let mut order = Vec::new();
    for _ in 0..10 {
        order.push(
            first
                .core_create_project(new_project(&owner.id), &audit())
                .await
                .unwrap()
                .id,
        );
    }
    for expected in 1..=5 {
        assert_eq!(next_event(&mut feed).await.id, expected);
    }
    drop(feed);
    drop(first);

    let second = node(&url).await;
    for _ in 0..3 {
        order.push(
            second
                .core_create_project(new_project(&owner.id), &audit())
                .await
                .unwrap()
                .id,
        );
    }
    let mut feed = second.events(Some(5)).await.unwrap();
    for (i, expected) in order.iter().enumerate().skip(5) {
        let e = next_event(&mut feed).await;
        assert_eq!((e.id, &e.project_id), (i as u64 + 1, expected));
    }
    quiet(&mut feed).await;
}

/// Retention holds without any reader: writers assign (the events
/// committed before theirs) and prune as they append.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_alone_keep_the_log_within_retention() {
    let Some(url) = fresh_url().await else { return };
    let store = PgStore::connect(&url, PgOptions::default().event_retention(10))
        .await
        .unwrap();
    let owner = store
        .create_user(new_user("a"), RoleGate::FirstUserAdmin, &audit())
        .await
        .unwrap();
    for _ in 0..30 {
        store
            .core_create_project(new_project(&owner.id), &audit())
            .await
            .unwrap();
    }
    let (rows, oldest, unassigned): (i64, Option<i64>, i64) =
        sqlx::query_as("SELECT count(*), min(id), count(*) FILTER (WHERE id IS NULL) FROM events")
            .fetch_one(store.pool())
            .await
            .unwrap();
    // Each write assigned the one before it: ids 20..=29 retained (10),
    // and the newest waits for the next write or reader.
    assert_eq!((rows, oldest, unassigned), (11, Some(20), 1));
    assert_eq!(store.last_event_id().await.unwrap(), 30);
}

/// A database written by the version with the counter lock: opening it
/// keeps every event's id, and new events continue after them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_keeps_the_ids_of_existing_events() {
    let Some(url) = fresh_url().await else { return };
    let mut before = sqlx::migrate!("./migrations");
    before.migrations = std::borrow::Cow::Owned(
        before
            .migrations
            .iter()
            .filter(|m| m.version < 20261130185001)
            .cloned()
            .collect(),
    );
    let mut conn = PgConnection::connect(&url).await.unwrap();
    before.run(&mut conn).await.unwrap();
    // What the old events::append left: ids 3..=5 (1 and 2 pruned).
    sqlx::raw_sql(
        "UPDATE event_counter SET last_id = 5; \
         INSERT INTO events (id, owner_id, project_id, kind, data) \
           VALUES (3, 'u1', 'p3', 'DELETE', '{}'), (4, 'u1', 'p4', 'DELETE', '{}'), \
                  (5, 'u1', 'p5', 'DELETE', '{}');",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();

    let store = node(&url).await;
    let owner = store
        .create_user(new_user("a"), RoleGate::FirstUserAdmin, &audit())
        .await
        .unwrap();
    let p = store
        .core_create_project(new_project(&owner.id), &audit())
        .await
        .unwrap();
    let log: Vec<(u64, String)> = store
        .read_events(0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.id, e.project_id.into_string()))
        .collect();
    assert_eq!(
        log,
        [
            (3, "p3".to_string()),
            (4, "p4".to_string()),
            (5, "p5".to_string()),
            (6, p.id.into_string())
        ]
    );
    let mut feed = store.events(Some(4)).await.unwrap();
    assert_eq!(next_event(&mut feed).await.id, 5);
    assert_eq!(next_event(&mut feed).await.id, 6);
}

/// Sequential scans of `events` by the current transaction.
async fn seq_scans(conn: &mut PgConnection) -> i64 {
    sqlx::query_scalar("SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = 'events'")
        .fetch_one(conn)
        .await
        .unwrap()
}

/// Pruning reads only what it deletes, however the table has grown since
/// the connection's plans were cached: PL/pgSQL caches a generic plan per
/// statement after a few calls, and one made while the log was small (a
/// sequential scan is then cheapest) would otherwise scan the whole
/// retained log on every write once it is large. Counted with
/// `pg_stat_xact_user_tables` in one transaction on one connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruning_does_not_scan_the_retained_log() {
    let Some(url) = fresh_url().await else { return };
    // Migrations and the events table.
    drop(node(&url).await);
    let mut conn = PgConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
    // While the log is small, each call assigns the one before it and
    // prunes past a retention of 2: plans get cached at this size.
    for _ in 0..12 {
        append(&mut conn, NewEvent::deleted(&"u1".into(), &"p1".into()), 2).await;
    }
    // The log grows to 20,000 retained events.
    sqlx::raw_sql(
        "INSERT INTO events (id, owner_id, project_id, kind, data) \
           SELECT 1000 + g, 'u1', 'p1', 'DELETE', '{}' FROM generate_series(1, 20000) g; \
         UPDATE event_counter SET last_id = 21000;",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let before = seq_scans(&mut conn).await;
    for _ in 0..12 {
        append(
            &mut conn,
            NewEvent::deleted(&"u1".into(), &"p1".into()),
            20_000,
        )
        .await;
    }
    let (oldest, newest): (i64, i64) =
        sqlx::query_as("SELECT min(id), max(id) FROM events WHERE id IS NOT NULL")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(newest - oldest + 1, 20_000, "pruned down to the retention");
    assert_eq!(
        seq_scans(&mut conn).await - before,
        0,
        "no sequential scan of events while pruning"
    );
    sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
}
