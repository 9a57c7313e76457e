//! What the conformance suite cannot show: concurrent writers and commit
//! order, a listener connection that dies, nodes migrating at once.
//!
//! Needs `SLIPWAY_TEST_POSTGRES_URL` (read at run time); skips without it
//! unless `SLIPWAY_REQUIRE_BACKENDS=1`.

use std::time::Duration;

use futures::StreamExt;
use slipway_core::model::{AuditActor, AuditEntry, AuditQuery, FeedItem, Project, RoleGate};
use slipway_core::store::EventStream;
use slipway_core::testing::cases::{audit, new_project, new_user};
use slipway_core::testing::CoreProjectWrites;
use slipway_core::Store;
use slipway_postgres::{testing, PgOptions, PgStore};

async fn fresh_url() -> Option<String> {
    let admin = testing::admin_url()?;
    Some(
        testing::fresh_database(&admin)
            .await
            .expect("a fresh database"),
    )
}

async fn next_id(feed: &mut EventStream) -> u64 {
    match tokio::time::timeout(Duration::from_secs(10), feed.next())
        .await
        .expect("an event within 10 s")
        .expect("the stream goes on")
        .expect("no store error")
    {
        FeedItem::Event(e) => e.id,
        FeedItem::Resync => panic!("unexpected resync"),
    }
}

/// Many racing writers: a follower sees every event once, ids dense and in
/// order (ids are given in the order events become visible, so reading
/// "after N" never skips one; more in tests/event_ids.rs).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_writers_are_followed_without_gap_or_duplicate() {
    let Some(url) = fresh_url().await else { return };
    let store = PgStore::connect(
        &url,
        PgOptions::default().poll_interval(Duration::from_secs(3600)),
    )
    .await
    .unwrap();
    let owner = store
        .create_user(new_user("a"), RoleGate::FirstUserAdmin, &audit())
        .await
        .unwrap();
    let mut feed = store.events(Some(0)).await.unwrap();
    let writers = (0..8).map(|_| {
        let store = store.clone();
        let owner = owner.id.clone();
        tokio::spawn(async move {
            for _ in 0..25 {
                store
                    .core_create_project(new_project(&owner), &audit())
                    .await
                    .unwrap();
            }
        })
    });
    for w in futures::future::join_all(writers).await {
        w.unwrap();
    }
    for expected in 1..=200 {
        assert_eq!(next_id(&mut feed).await, expected);
    }
    assert_eq!(store.last_event_id().await.unwrap(), 200);
    let extra = tokio::time::timeout(Duration::from_millis(300), feed.next()).await;
    assert!(extra.is_err(), "no duplicate or extra event: {extra:?}");
}

/// The listener's connection is killed: the feed goes on after the
/// reconnect with nothing lost or repeated (the safety-net poll is off).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_survives_a_killed_listener_connection() {
    let Some(url) = fresh_url().await else { return };
    let store = PgStore::connect(
        &url,
        PgOptions::default().poll_interval(Duration::from_secs(3600)),
    )
    .await
    .unwrap();
    let owner = store
        .create_user(new_user("a"), RoleGate::FirstUserAdmin, &audit())
        .await
        .unwrap();
    let mut feed = store.events(None).await.unwrap();
    let create = |store: &PgStore| {
        let p: Project = new_project(&owner.id);
        let store = store.clone();
        async move { store.core_create_project(p, &audit()).await.unwrap() }
    };
    create(&store).await;
    assert_eq!(next_id(&mut feed).await, 1);

    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(killed, vec![true], "exactly the listener was terminated");
    for _ in 0..3 {
        create(&store).await;
    }
    for expected in 2..=4 {
        assert_eq!(next_id(&mut feed).await, expected);
    }
    // A second subscriber started after the reconnect sees live events too.
    let mut late = store.events(None).await.unwrap();
    create(&store).await;
    assert_eq!(next_id(&mut late).await, 5);
    assert_eq!(next_id(&mut feed).await, 5);
}

/// Nodes starting at once on an empty database: migrations run once, both
/// nodes work, and the first user is admin only once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_at_once_migrate_safely() {
    let Some(url) = fresh_url().await else { return };
    let (a, b, c) = tokio::join!(
        PgStore::connect(&url, PgOptions::default()),
        PgStore::connect(&url, PgOptions::default()),
        PgStore::connect(&url, PgOptions::default()),
    );
    let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
    let entries = [audit(), audit(), audit()];
    let users = futures::future::join_all(
        [&a, &b, &c]
            .into_iter()
            .zip(&entries)
            .map(|(s, e)| s.create_user(new_user("n"), RoleGate::FirstUserAdmin, e)),
    )
    .await;
    let admins = users
        .iter()
        .filter(|u| u.as_ref().unwrap().role == slipway_core::model::Role::Admin)
        .count();
    assert_eq!(admins, 1);
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(a.pool())
        .await
        .unwrap();
    // Each embedded migration applied exactly once.
    let embedded = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension() == Some("sql".as_ref()))
        .count() as i64;
    assert!(embedded >= 2);
    assert_eq!(applied, embedded);
}

/// A loopback TCP proxy in front of PostgreSQL that can be cut and restored.
struct Proxy {
    port: u16,
    tasks: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(port: u16, target: String) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("proxy port");
        let port = listener.local_addr().unwrap().port();
        let tasks = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let conns = tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let conn = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                conns.lock().unwrap().push(conn);
            }
        });
        tasks.lock().unwrap().push(accept);
        Self { port, tasks }
    }

    /// Closes the port and every proxied connection.
    fn cut(&self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

/// The database goes away (connections reset, port refused): calls answer
/// `Unavailable` within the timeouts, never `Other`; when it is back the
/// same store serves again by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_database_is_unavailable_then_recovers() {
    let Some(url) = fresh_url().await else { return };
    let parsed = url::Url::parse(&url).unwrap();
    let target = format!(
        "{}:{}",
        parsed.host_str().unwrap(),
        parsed.port().unwrap_or(5432)
    );
    let proxy = Proxy::start(0, target.clone()).await;
    let mut via = parsed.clone();
    via.set_port(Some(proxy.port)).unwrap();
    let options = PgOptions::default()
        .acquire_timeout(Duration::from_millis(500))
        .max_connections(2);
    let store = PgStore::connect(via.as_str(), options).await.unwrap();
    let user = store
        .create_user(new_user("a"), RoleGate::FirstUserAdmin, &audit())
        .await
        .unwrap();
    let mut feed = store.events(None).await.unwrap();

    proxy.cut();
    for _ in 0..3 {
        let err = store.get_user(&user.id).await.unwrap_err();
        assert!(
            matches!(err, slipway_core::StoreError::Unavailable(_)),
            "{err:?}"
        );
    }
    let err = store
        .core_create_project(new_project(&user.id), &audit())
        .await
        .unwrap_err();
    assert!(
        matches!(err, slipway_core::StoreError::Unavailable(_)),
        "{err:?}"
    );
    assert!(matches!(
        store.ping().await,
        Err(slipway_core::StoreError::Unavailable(_))
    ));

    let back = Proxy::start(proxy.port, target).await;
    assert_eq!(store.get_user(&user.id).await.unwrap(), user);
    store
        .core_create_project(new_project(&user.id), &audit())
        .await
        .unwrap();
    // The feed that lived through the outage goes on.
    assert_eq!(next_id(&mut feed).await, 1);
    back.cut();
}

/// Every pooled connection carries the configured statement timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_connections_carry_the_statement_timeout() {
    let Some(url) = fresh_url().await else { return };
    let options = PgOptions::default().statement_timeout(Duration::from_millis(1500));
    let store = PgStore::connect(&url, options).await.unwrap();
    let setting: String = sqlx::query_scalar("SELECT current_setting('statement_timeout')")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(setting, "1500ms");
    let idle: String =
        sqlx::query_scalar("SELECT current_setting('idle_in_transaction_session_timeout')")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(idle, "3s");
}

/// Racing network creates on one project: the last event describes the
/// project with every network (writes to one project take turns).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_network_writes_leave_a_complete_last_event() {
    use slipway_core::testing::cases::{new_domain, new_network};
    let Some(url) = fresh_url().await else { return };
    let store = PgStore::connect(&url, PgOptions::default()).await.unwrap();
    let owner = store
        .create_user(new_user("a"), RoleGate::FirstUserAdmin, &audit())
        .await
        .unwrap();
    let domain = store
        .create_domain(new_domain("example.com"), &audit())
        .await
        .unwrap();
    let project = store
        .core_create_project(new_project(&owner.id), &audit())
        .await
        .unwrap();
    let mut feed = store.events(None).await.unwrap();
    let writes = (0..8).map(|i| {
        let (store, owner, project, domain) = (
            store.clone(),
            owner.id.clone(),
            project.id.clone(),
            domain.clone(),
        );
        tokio::spawn(async move {
            let host = format!("n{i}.example.com");
            store
                .core_create_network(&owner, new_network(&project, &host, &domain), &audit())
                .await
                .unwrap();
        })
    });
    for w in futures::future::join_all(writes).await {
        w.unwrap();
    }
    let mut last = None;
    for _ in 0..8 {
        let item = tokio::time::timeout(Duration::from_secs(10), feed.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        match item {
            FeedItem::Event(e) => last = Some(e),
            FeedItem::Resync => panic!("unexpected resync"),
        }
    }
    let last = last.unwrap();
    assert_eq!(
        last.data["networks"].as_array().unwrap().len(),
        8,
        "{}",
        last.data
    );
}

/// A database made before `projects.networks` existed (only the first
/// migration applied, networks already stored): opening it with this
/// version adds the column and copies every project's networks into it,
/// oldest first, so reads lose nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_copies_existing_networks_onto_projects() {
    use slipway_postgres::sqlx::{self, Connection as _};
    let Some(url) = fresh_url().await else { return };
    let mut first = sqlx::migrate!("./migrations");
    first.migrations = std::borrow::Cow::Owned(first.migrations[..1].to_vec());
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    first.run(&mut conn).await.unwrap();
    sqlx::raw_sql(
        "INSERT INTO users (id, name, email, role, created_at) \
           VALUES ('u1', 'U', 'u@example.com', 'admin', now()); \
         INSERT INTO domains (id, domain, challenge, main, linked, created_at) \
           VALUES ('d1', 'example.com', 'c', false, true, now()); \
         INSERT INTO projects (id, owner_id, name, source_id, vm_id, created_at, updated_at) \
           VALUES ('p1', 'u1', 'One', 's1', 'v1', now(), now()), \
                  ('p2', 'u1', 'Two', 's2', 'v2', now(), now()); \
         INSERT INTO networks (id, domain, port, project_id, domain_id, created_at) \
           VALUES ('n1', 'b.example.com', 80, 'p1', 'd1', now()), \
                  ('n2', 'a.example.com', 443, 'p1', 'd1', now());",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();

    let store = PgStore::connect(&url, PgOptions::default()).await.unwrap();
    // Users made before `disabled` and `session_epoch` existed are enabled,
    // at epoch 0.
    let u1 = store.get_user(&"u1".into()).await.unwrap();
    assert!(!u1.disabled);
    assert_eq!(u1.session_epoch, 0);
    let p1 = store.get_project(&"u1".into(), &"p1".into()).await.unwrap();
    assert_eq!(
        p1.networks
            .iter()
            .map(|n| (
                n.id.as_str(),
                n.domain.as_str(),
                n.port,
                n.domain_id.as_str()
            ))
            .collect::<Vec<_>>(),
        [
            ("n1", "b.example.com", 80, "d1"),
            ("n2", "a.example.com", 443, "d1")
        ]
    );
    assert!(p1.networks.iter().all(|n| n.project_id == "p1"));
    assert_eq!(
        p1.networks,
        store
            .list_networks(&"u1".into(), Some(&"p1".into()))
            .await
            .unwrap()
    );
    assert!(store
        .get_project(&"u1".into(), &"p2".into())
        .await
        .unwrap()
        .networks
        .is_empty());
    let listed = store.list_projects(&"u1".into()).await.unwrap();
    assert_eq!(listed[0].networks, p1.networks);
    // Existing projects get their owner's quota slots in creation order.
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let slots: Vec<Option<i32>> =
        sqlx::query_scalar("SELECT slot FROM projects WHERE owner_id = 'u1' ORDER BY seq")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(slots, [Some(0), Some(1)]);
}

/// A database restored from an older backup has a log that ends before the
/// subscribers' cursors: they get `Resync` (within the poll interval), then
/// every new event, instead of waiting for ids they already passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_that_went_back_resyncs_its_subscribers() {
    let Some(url) = fresh_url().await else { return };
    let store = PgStore::connect(
        &url,
        PgOptions::default().poll_interval(Duration::from_millis(200)),
    )
    .await
    .unwrap();
    let owner = store
        .create_user(new_user("a"), RoleGate::FirstUserAdmin, &audit())
        .await
        .unwrap();
    let mut feed = store.events(None).await.unwrap();
    for _ in 0..4 {
        store
            .core_create_project(new_project(&owner.id), &audit())
            .await
            .unwrap();
        next_id(&mut feed).await;
    }
    // "Restore" a backup taken before those events.
    sqlx::query("DELETE FROM events")
        .execute(store.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE event_counter SET last_id = 1")
        .execute(store.pool())
        .await
        .unwrap();
    let item = tokio::time::timeout(Duration::from_secs(10), feed.next())
        .await
        .expect("an item within 10 s")
        .expect("the stream goes on")
        .expect("no store error");
    assert_eq!(item, FeedItem::Resync);
    let p = store
        .core_create_project(new_project(&owner.id), &audit())
        .await
        .unwrap();
    assert_eq!(next_id(&mut feed).await, 2);
    assert_eq!(store.get_project(&owner.id, &p.id).await.unwrap().id, p.id);
}

/// An entry naming `actor` as who acted.
fn audit_by(actor: &str, action: slipway_core::model::AuditAction) -> AuditEntry {
    let mut e = AuditEntry::new(action, chrono::Utc::now());
    e.actor = Some(AuditActor {
        user_id: actor.to_string().into(),
        token_id: None,
    });
    e
}

/// Every entry, newest first.
async fn all_audit(store: &PgStore, actor: Option<&str>) -> Vec<AuditEntry> {
    store
        .list_audit(&AuditQuery {
            actor: actor.map(str::to_owned).map(Into::into),
            limit: 10_000,
            ..AuditQuery::default()
        })
        .await
        .unwrap()
}

/// Deleting a user keeps the audit entries that name them (no foreign key
/// from the log to users), their own deletion's entry included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_entries_outlive_their_user() {
    use slipway_core::model::{AuditAction, UserUpdate};
    let Some(url) = fresh_url().await else { return };
    let store = PgStore::connect(&url, PgOptions::default()).await.unwrap();
    let admin = store
        .create_user(new_user("a"), RoleGate::FirstUserAdmin, &audit())
        .await
        .unwrap();
    let bob = store
        .create_user(new_user("b"), RoleGate::FirstUserAdmin, &audit())
        .await
        .unwrap();
    let mut update = UserUpdate::default();
    update.name = Some("Bob".into());
    let renamed = audit_by(&bob.id, AuditAction::MeUpdate).target("user", &bob.id);
    store.update_user(&bob.id, update, &renamed).await.unwrap();
    let project = audit_by(&bob.id, AuditAction::ProjectCreate);
    store
        .core_create_project(new_project(&bob.id), &project)
        .await
        .unwrap();
    let deleted = audit_by(&admin.id, AuditAction::UserDelete).target("user", &bob.id);
    store.core_delete_user(&bob.id, &deleted).await.unwrap();

    assert_eq!(
        all_audit(&store, Some(&bob.id)).await,
        vec![project, renamed]
    );
    assert_eq!(all_audit(&store, Some(&admin.id)).await, vec![deleted]);
    assert_eq!(all_audit(&store, None).await.len(), 5);
}

/// Racing writers each store their entry once, with their change.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_writers_each_store_their_entry() {
    let Some(url) = fresh_url().await else { return };
    let store = PgStore::connect(&url, PgOptions::default()).await.unwrap();
    let owner = store
        .create_user(new_user("a"), RoleGate::FirstUserAdmin, &audit())
        .await
        .unwrap();
    let writers = (0..8).map(|_| {
        let store = store.clone();
        let owner = owner.id.clone();
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for _ in 0..10 {
                let entry = audit();
                store
                    .core_create_project(new_project(&owner), &entry)
                    .await
                    .unwrap();
                ids.push(entry.id);
            }
            ids
        })
    });
    let mut written: Vec<String> = Vec::new();
    for w in futures::future::join_all(writers).await {
        written.extend(w.unwrap());
    }
    assert_eq!(store.count_projects(&owner.id).await.unwrap(), 80);
    let mut stored: Vec<String> = all_audit(&store, None)
        .await
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(stored.len(), 81, "the user's entry and one per project");
    stored.retain(|id| written.contains(id));
    assert_eq!(stored.len(), 80);
}

/// An entry id already stored is kept as first written: appending it again
/// succeeds without a second entry, and so does a write given it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audit_id_is_stored_once() {
    let Some(url) = fresh_url().await else { return };
    let store = PgStore::connect(&url, PgOptions::default()).await.unwrap();
    let entry = audit();
    store.append_audit(&entry).await.unwrap();
    store.append_audit(&entry).await.unwrap();
    store
        .create_user(new_user("a"), RoleGate::FirstUserAdmin, &entry)
        .await
        .unwrap();
    assert_eq!(all_audit(&store, None).await, vec![entry]);
}

/// A purge larger than one delete batch deletes every old entry and counts
/// them all; recent entries stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_purge_goes_in_batches() {
    let Some(url) = fresh_url().await else { return };
    let store = PgStore::connect(&url, PgOptions::default()).await.unwrap();
    sqlx::query(
        "INSERT INTO audit_log (id, at, actor_id, action, entry) \
         SELECT lpad(to_hex(i), 32, '0'), now() - interval '100 days', NULL, \
                'auth.signin.success', '{}'::jsonb \
         FROM generate_series(1, 12345) AS i",
    )
    .execute(store.pool())
    .await
    .unwrap();
    let recent = audit();
    store.append_audit(&recent).await.unwrap();
    let cut = chrono::Utc::now() - chrono::Duration::days(90);
    assert_eq!(store.purge_audit(cut).await.unwrap(), 12345);
    assert_eq!(all_audit(&store, None).await, vec![recent]);
}

/// A backlog of expired rate-limit counters is swept in bounded batches:
/// the attempt that sweeps deletes at most one batch (2,000 rows), and the
/// backlog goes over later sweeps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_counters_are_swept_in_bounded_batches() {
    use slipway_core::store::CounterLimit;
    let Some(url) = fresh_url().await else { return };
    let store = PgStore::connect(&url, PgOptions::default()).await.unwrap();
    sqlx::query(
        "INSERT INTO rate_limits (key, count, pending, expires_at) \
         SELECT 'old-' || i, 1, 0, now() - interval '1 hour' \
         FROM generate_series(1, 5000) AS i",
    )
    .execute(store.pool())
    .await
    .unwrap();
    let expired = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM rate_limits WHERE key LIKE 'old-%'")
            .fetch_one(store.pool())
            .await
            .unwrap()
    };
    let counter = [CounterLimit {
        key: "live",
        window: Duration::from_secs(60),
        limit: u32::MAX,
    }];
    let mut left = vec![5000];
    // One attempt in 256 (of this process) sweeps; other tests' attempts
    // may take some of the turns, hence the wide bound.
    for _ in 0..10_000 {
        store.hit_counters(&counter).await.unwrap();
        let now = expired().await;
        if now != *left.last().unwrap() {
            left.push(now);
        }
        if now == 0 {
            break;
        }
    }
    assert_eq!(
        left,
        vec![5000, 3000, 1000, 0],
        "rows left after each sweep"
    );
}

/// Project quotas are exact through slots (migration `project_slots`):
/// many racing creates of one owner, with a quota large enough that the
/// first half draw their slots without a lock, make exactly the quota; an
/// owner whose projects predate the slots (no slot: the migration's
/// backfill missed them, or the quota was off) is counted under a lock, and
/// racing creates fill exactly the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_project_creates_make_exactly_the_quota() {
    use slipway_core::model::{EventKind, NewEvent};
    use slipway_core::StoreError;
    use slipway_postgres::sqlx::{self, Connection as _};
    let Some(url) = fresh_url().await else { return };
    let store = PgStore::connect(&url, PgOptions::default().max_connections(32))
        .await
        .unwrap();
    let race = |owner: slipway_core::model::UserId, n: usize, max: usize| {
        let store = store.clone();
        async move {
            let creates = (0..n).map(|_| {
                let store = store.clone();
                let project = new_project(&owner);
                tokio::spawn(async move {
                    let event = NewEvent::for_project(EventKind::Create, &project);
                    store.create_project(project, max, event, &audit()).await
                })
            });
            let mut made = 0;
            for result in futures::future::join_all(creates).await {
                match result.unwrap() {
                    Ok(_) => made += 1,
                    Err(StoreError::Refused) => {}
                    Err(e) => panic!("a create failed otherwise: {e:?}"),
                }
            }
            made
        }
    };

    let a = store
        .create_user(new_user("a"), RoleGate::FirstUserAdmin, &audit())
        .await
        .unwrap();
    assert_eq!(race(a.id.clone(), 96, 40).await, 40);
    assert_eq!(store.count_projects(&a.id).await.unwrap(), 40);

    let b = store
        .create_user(new_user("b"), RoleGate::FirstUserAdmin, &audit())
        .await
        .unwrap();
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    for i in 0..5 {
        sqlx::query(
            "INSERT INTO projects (id, owner_id, name, source_id, vm_id, created_at, updated_at) \
             VALUES ($1, $2, 'old', $1, $1, now(), now())",
        )
        .bind(format!("legacy-{i}"))
        .bind(&b.id)
        .execute(&mut conn)
        .await
        .unwrap();
    }
    conn.close().await.unwrap();
    assert_eq!(race(b.id.clone(), 32, 12).await, 7);
    assert_eq!(store.count_projects(&b.id).await.unwrap(), 12);
    // Without a quota no slot is needed, and nothing is refused.
    assert_eq!(race(b.id.clone(), 8, usize::MAX).await, 8);
}
