//! What the conformance suite cannot show: the file outlives the store, one
//! store per file, racing writers followed without gap or duplicate, URLs.

use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt;
use slipway_core::model::{Authorization, AuthorizationType, FeedItem, RoleGate, Sealed};
use slipway_core::store::EventStream;
use slipway_core::testing::cases::{new_domain, new_network, new_project, new_user};
use slipway_core::testing::CoreProjectWrites;
use slipway_core::Store;
use slipway_sqlite::testing::TempDb;
use slipway_sqlite::{path_from_url, OpenError, SqliteOptions, SqliteStore};

async fn open(db: &TempDb) -> SqliteStore {
    SqliteStore::open(&db.url(), SqliteOptions::default())
        .await
        .expect("open the database file")
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_survives_closing_and_reopening_the_file() {
    let db = TempDb::new().unwrap();
    let store = open(&db).await;
    let user = store
        .create_user(
            new_user("ada"),
            RoleGate::FirstUserAdmin,
            &slipway_core::testing::cases::audit(),
        )
        .await
        .unwrap();
    let project = store
        .core_create_project(
            new_project(&user.id),
            &slipway_core::testing::cases::audit(),
        )
        .await
        .unwrap();
    let mut domain = new_domain("example.com");
    domain.main = true;
    let domain = store
        .create_domain(domain, &slipway_core::testing::cases::audit())
        .await
        .unwrap();
    let network = store
        .core_create_network(
            &user.id,
            new_network(&project.id, "app.example.com", &domain),
            &slipway_core::testing::cases::audit(),
        )
        .await
        .unwrap();
    let auth = Authorization {
        id: uuid_like("auth").into(),
        user_id: user.id.clone(),
        name: "key".into(),
        kind: AuthorizationType::DeployKey,
        secret: Sealed(vec![1, 2, 3, 0, 255]),
        info: serde_json::json!({"fingerprint": "SHA256:abc"}),
        created_at: chrono::Utc::now(),
    };
    let auth = store
        .create_authorization(auth, usize::MAX, &slipway_core::testing::cases::audit())
        .await
        .unwrap();
    store
        .put_setting(
            "github",
            serde_json::json!({"clientId": "x"}),
            &slipway_core::testing::cases::audit(),
        )
        .await
        .unwrap();
    let last = store.last_event_id().await.unwrap();
    assert_eq!(last, 2, "a CREATE and a network UPDATE");
    store.close().await;
    drop(store);

    let store = open(&db).await;
    assert_eq!(store.get_user(&user.id).await.unwrap(), user);
    let read = store.get_project(&user.id, &project.id).await.unwrap();
    assert_eq!(read.networks, vec![network.clone()]);
    assert_eq!(read.name, project.name);
    assert_eq!(read.created_at, project.created_at);
    assert_eq!(store.get_domain(&domain.id).await.unwrap(), domain);
    let read_auth = store.get_authorization(&user.id, &auth.id).await.unwrap();
    assert_eq!(read_auth.secret.0, auth.secret.0);
    assert_eq!(read_auth.info, auth.info);
    assert_eq!(
        store.get_setting("github").await.unwrap(),
        Some(serde_json::json!({"clientId": "x"}))
    );
    // The event log and its ids carry on.
    assert_eq!(store.last_event_id().await.unwrap(), last);
    let mut replay = store.events(Some(0)).await.unwrap();
    assert_eq!(next_id(&mut replay).await, 1);
    assert_eq!(next_id(&mut replay).await, 2);
    store
        .core_create_project(
            new_project(&user.id),
            &slipway_core::testing::cases::audit(),
        )
        .await
        .unwrap();
    assert_eq!(next_id(&mut replay).await, 3);
    // The unique indexes hold across the reopen.
    let mut dup = new_project(&user.id);
    dup.vm_id = project.vm_id.clone();
    match store
        .core_create_project(dup, &slipway_core::testing::cases::audit())
        .await
    {
        Err(slipway_core::StoreError::Conflict(rule)) => {
            assert_eq!(rule, slipway_core::error::Unique::VmId)
        }
        other => panic!("expected a vmId conflict, got {other:?}"),
    }
}

fn uuid_like(stem: &str) -> String {
    format!("{stem}-{}", std::process::id())
}

#[tokio::test]
async fn a_second_open_of_the_same_file_is_refused_clearly() {
    let db = TempDb::new().unwrap();
    let store = open(&db).await;
    let err = SqliteStore::open(&db.url(), SqliteOptions::default())
        .await
        .expect_err("the file is in use");
    assert!(matches!(err, OpenError::Locked { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("already in use"), "{message}");
    assert!(
        message.contains(&db.path().display().to_string()),
        "{message}"
    );
    assert!(
        message.contains("one server per database file"),
        "{message}"
    );
    // The first store is unaffected.
    store.ping().await.unwrap();
    store
        .create_user(
            new_user("a"),
            RoleGate::FirstUserAdmin,
            &slipway_core::testing::cases::audit(),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn the_lock_is_released_when_the_store_is_dropped() {
    let db = TempDb::new().unwrap();
    let store = open(&db).await;
    let clone = store.clone();
    drop(store);
    // A clone still holds it.
    assert!(SqliteStore::open(&db.url(), SqliteOptions::default())
        .await
        .is_err());
    drop(clone);
    let again = open(&db).await;
    again.ping().await.unwrap();
}

/// Many racing writers: a follower sees every event once, ids dense and in
/// order (the safety-net poll is off, so the wake-ups alone deliver them).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_writers_are_followed_without_gap_or_duplicate() {
    let db = TempDb::new().unwrap();
    let store = SqliteStore::open(
        &db.url(),
        SqliteOptions::default()
            .poll_interval(Duration::from_secs(3600))
            .synchronous(slipway_sqlite::SqliteSynchronous::Normal),
    )
    .await
    .unwrap();
    let owner = store
        .create_user(
            new_user("a"),
            RoleGate::FirstUserAdmin,
            &slipway_core::testing::cases::audit(),
        )
        .await
        .unwrap();
    let mut feed = store.events(Some(0)).await.unwrap();
    let mut live = store.events(None).await.unwrap();
    let writers = (0..8).map(|_| {
        let store = store.clone();
        let owner = owner.id.clone();
        tokio::spawn(async move {
            for _ in 0..25 {
                store
                    .core_create_project(
                        new_project(&owner),
                        &slipway_core::testing::cases::audit(),
                    )
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
        assert_eq!(next_id(&mut live).await, expected);
    }
    assert_eq!(store.last_event_id().await.unwrap(), 200);
    let extra = tokio::time::timeout(Duration::from_millis(300), feed.next()).await;
    assert!(extra.is_err(), "no duplicate or extra event: {extra:?}");
}

/// The database holds password hashes and sealed credentials: a new file
/// (and its WAL) is readable by its owner only.
#[cfg(unix)]
#[tokio::test]
async fn a_new_database_file_is_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let db = TempDb::new().unwrap();
    let store = open(&db).await;
    store
        .create_user(
            new_user("a"),
            RoleGate::FirstUserAdmin,
            &slipway_core::testing::cases::audit(),
        )
        .await
        .unwrap();
    let mode = |name: &str| {
        std::fs::metadata(db.dir().join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("slipway.db"), 0o600);
    assert_eq!(mode("slipway.db-wal"), 0o600);
    assert_eq!(mode("slipway.db.lock"), 0o600);
}

#[test]
fn urls_name_a_file() {
    assert_eq!(
        path_from_url("sqlite://slipway.db").unwrap(),
        PathBuf::from("slipway.db")
    );
    assert_eq!(
        path_from_url("sqlite:data/slipway.db").unwrap(),
        PathBuf::from("data/slipway.db")
    );
    assert_eq!(
        path_from_url("sqlite:///var/lib/slipway/slipway.db").unwrap(),
        PathBuf::from("/var/lib/slipway/slipway.db")
    );
    for bad in [
        "sqlite://",
        "sqlite::memory:",
        "sqlite://a.db?mode=ro",
        "postgres://x",
    ] {
        assert!(
            matches!(path_from_url(bad), Err(OpenError::InvalidUrl(_))),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn a_missing_directory_is_a_clear_error() {
    let db = TempDb::new().unwrap();
    let url = format!(
        "sqlite://{}",
        db.dir().join("no/such/dir/slipway.db").display()
    );
    let err = SqliteStore::open(&url, SqliteOptions::default())
        .await
        .expect_err("the directory does not exist");
    assert!(err.to_string().contains("no/such/dir"), "{err}");
}

/// A file made before users could be disabled (only the first migration
/// applied, a user stored): opening it with this version adds the columns,
/// and the user is enabled, at session epoch 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_keeps_existing_users_enabled() {
    use slipway_sqlite::sqlx::{self, Connection as _};
    let db = TempDb::new().unwrap();
    let mut first = sqlx::migrate!("./migrations");
    first.migrations = std::borrow::Cow::Owned(first.migrations[..1].to_vec());
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db.path())
        .create_if_missing(true);
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap();
    first.run(&mut conn).await.unwrap();
    sqlx::query(
        "INSERT INTO users (id, name, email, role, created_at) \
         VALUES ('u1', 'U', 'u@example.com', 'admin', '2026-11-27T10:00:00Z')",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();

    let store = open(&db).await;
    let u1 = store.get_user(&"u1".into()).await.unwrap();
    assert!(!u1.disabled);
    assert_eq!(u1.session_epoch, 0);
    assert_eq!(store.list_users(None, 10).await.unwrap(), vec![u1]);
}

/// Every entry (in its exact JSON form), newest first.
async fn all_audit(store: &SqliteStore) -> Vec<slipway_core::model::AuditEntry> {
    store
        .list_audit(&slipway_core::model::AuditQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
}

/// Audit entries have no foreign key: deleting the user they name keeps
/// them, and they read back as written after the file is reopened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_entries_outlive_their_user_and_a_reopen() {
    use slipway_core::model::{AuditAction, AuditActor, AuditEntry};
    let db = TempDb::new().unwrap();
    let store = open(&db).await;
    let admin = store
        .create_user(
            new_user("admin"),
            RoleGate::FirstUserAdmin,
            &slipway_core::testing::cases::audit(),
        )
        .await
        .unwrap();
    let mut signup = AuditEntry::new(AuditAction::Signup, chrono::Utc::now());
    let gone = store
        .create_user(new_user("gone"), RoleGate::FirstUserAdmin, &signup)
        .await
        .unwrap();
    signup.actor = Some(AuditActor {
        user_id: gone.id.clone(),
        token_id: None,
    });
    signup = signup.target("user", &gone.id);
    store.append_audit(&signup).await.unwrap();
    let mut deleted =
        AuditEntry::new(AuditAction::UserDelete, chrono::Utc::now()).target("user", &gone.id);
    deleted.actor = Some(AuditActor {
        user_id: admin.id.clone(),
        token_id: None,
    });
    deleted.ip = Some("2001:db8::1".into());
    deleted.request_id = Some("req-1".into());
    store.core_delete_user(&gone.id, &deleted).await.unwrap();
    let before = all_audit(&store).await;
    assert_eq!(before.len(), 3);
    assert_eq!(before[0], deleted);
    assert_eq!(before[1], signup);
    let by_gone = store
        .list_audit(&slipway_core::model::AuditQuery {
            actor: Some(gone.id.clone()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_gone, vec![signup.clone()]);
    store.close().await;
    drop(store);

    let store = open(&db).await;
    assert_eq!(all_audit(&store).await, before);
}

/// A write whose entry cannot be stored does not happen: the change, its
/// event and its event id are rolled back with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_whose_entry_fails_is_rolled_back() {
    use slipway_sqlite::sqlx::{self, Connection as _};
    let db = TempDb::new().unwrap();
    let store = open(&db).await;
    let user = store
        .create_user(
            new_user("a"),
            RoleGate::FirstUserAdmin,
            &slipway_core::testing::cases::audit(),
        )
        .await
        .unwrap();
    store.close().await;
    drop(store);
    // The file is closed: refuse every new entry from now on.
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(db.path());
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap();
    sqlx::query(
        "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log \
         BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();

    let store = open(&db).await;
    let entries = all_audit(&store).await;
    assert!(store
        .core_create_project(
            new_project(&user.id),
            &slipway_core::testing::cases::audit()
        )
        .await
        .is_err());
    assert!(store.list_projects(&user.id).await.unwrap().is_empty());
    assert_eq!(
        store.last_event_id().await.unwrap(),
        0,
        "the id is given back"
    );
    assert!(store
        .put_setting(
            "github",
            serde_json::json!({"clientId": "x"}),
            &slipway_core::testing::cases::audit()
        )
        .await
        .is_err());
    assert_eq!(store.get_setting("github").await.unwrap(), None);
    assert!(store
        .core_delete_user(&user.id, &slipway_core::testing::cases::audit())
        .await
        .is_err());
    assert_eq!(store.get_user(&user.id).await.unwrap(), user);
    assert_eq!(all_audit(&store).await, entries);
}

/// The purge cut-off is exact to the nanosecond, across second boundaries
/// (the `at` column is fixed-width text, so its order is time order).
/// Entries keep their time to the microsecond, as core's `AuditEntry::new`
/// does; the cut-off itself keeps nanoseconds.
#[tokio::test]
async fn audit_purge_cuts_at_the_exact_time() {
    use slipway_core::model::{AuditAction, AuditEntry};
    let db = TempDb::new().unwrap();
    let store = open(&db).await;
    let t = |s: &str| {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .with_timezone(&chrono::Utc)
    };
    for at in [
        "2026-01-01T00:00:09Z",
        "2026-01-01T00:00:09.5Z",
        "2026-01-01T00:00:10Z",
        "2026-01-01T00:00:10.000001Z",
    ] {
        let e = AuditEntry::new(AuditAction::SigninSuccess, t(at));
        assert_eq!(e.at, t(at), "kept as given (microseconds)");
        store.append_audit(&e).await.unwrap();
    }
    assert_eq!(
        store.purge_audit(t("2026-01-01T00:00:09Z")).await.unwrap(),
        0
    );
    assert_eq!(
        store.purge_audit(t("2026-01-01T00:00:10Z")).await.unwrap(),
        2
    );
    assert_eq!(
        store
            .purge_audit(t("2026-01-01T00:00:10.000000001Z"))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .purge_audit(t("2026-01-01T00:00:10.000001Z"))
            .await
            .unwrap(),
        0,
        "not older than itself"
    );
    let left = all_audit(&store).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].at, t("2026-01-01T00:00:10.000001Z"));
}

/// A purge larger than one batch deletes every old entry and counts them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_audit_purge_deletes_every_old_entry() {
    use slipway_core::model::{AuditAction, AuditEntry};
    let db = TempDb::new().unwrap();
    let store = SqliteStore::open(
        &db.url(),
        SqliteOptions::default().synchronous(slipway_sqlite::SqliteSynchronous::Normal),
    )
    .await
    .unwrap();
    let old = chrono::Utc::now() - chrono::Duration::days(100);
    for i in 0..2500 {
        let at = old + chrono::Duration::milliseconds(i);
        store
            .append_audit(&AuditEntry::new(AuditAction::SigninFailure, at))
            .await
            .unwrap();
    }
    let recent = AuditEntry::new(AuditAction::SigninSuccess, chrono::Utc::now());
    store.append_audit(&recent).await.unwrap();
    let cut = chrono::Utc::now() - chrono::Duration::days(90);
    assert_eq!(store.purge_audit(cut).await.unwrap(), 2500);
    assert_eq!(all_audit(&store).await, vec![recent]);
}

/// A file migrated before the audit log is not ready until migrated;
/// opening it with migrations adds the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_migration_is_required_and_applied() {
    use slipway_sqlite::sqlx::{self, Connection as _};
    let db = TempDb::new().unwrap();
    let mut before_audit = sqlx::migrate!("./migrations");
    let known = before_audit.migrations.len();
    before_audit.migrations = std::borrow::Cow::Owned(
        before_audit
            .migrations
            .iter()
            .filter(|m| m.description != "audit log")
            .cloned()
            .collect(),
    );
    assert_eq!(before_audit.migrations.len(), known - 1);
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db.path())
        .create_if_missing(true);
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap();
    before_audit.run(&mut conn).await.unwrap();
    conn.close().await.unwrap();

    let store = SqliteStore::open(&db.url(), SqliteOptions::default().migrate(false))
        .await
        .unwrap();
    match store.ready().await {
        Err(slipway_core::StoreError::Unavailable(e)) => {
            let message = e.to_string();
            assert!(message.contains("1 of"), "{message}")
        }
        other => panic!("expected not ready, got {other:?}"),
    }
    drop(store);

    let store = open(&db).await;
    store.ready().await.unwrap();
    store
        .create_user(
            new_user("a"),
            RoleGate::FirstUserAdmin,
            &slipway_core::testing::cases::audit(),
        )
        .await
        .unwrap();
    assert_eq!(all_audit(&store).await.len(), 1);
}

/// A backlog of expired rate-limit counters is swept in bounded batches:
/// the attempt that sweeps holds the writer for one batch (2,000 rows) at
/// most, and the backlog goes over later sweeps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_counters_are_swept_in_bounded_batches() {
    use slipway_core::store::CounterLimit;
    use slipway_sqlite::sqlx::{self, Connection as _};
    let db = TempDb::new().unwrap();
    let store = open(&db).await;
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db.path())
        .busy_timeout(Duration::from_secs(5));
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap();
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) \
         INSERT INTO rate_limits (key, count, pending, expires_ms) \
         SELECT 'old-' || i, 1, 0, 1000 FROM n",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let counter = [CounterLimit {
        key: "live",
        window: Duration::from_secs(60),
        limit: u32::MAX,
    }];
    let mut left = vec![5000_i64];
    // One attempt in 256 (of this process) sweeps; other tests' attempts
    // may take some of the turns, hence the wide bound.
    for _ in 0..10_000 {
        store.hit_counters(&counter).await.unwrap();
        let now: i64 =
            sqlx::query_scalar("SELECT count(*) FROM rate_limits WHERE key LIKE 'old-%'")
                .fetch_one(&mut conn)
                .await
                .unwrap();
        if now != *left.last().unwrap() {
            left.push(now);
        }
        if now == 0 {
            break;
        }
    }
    conn.close().await.unwrap();
    assert_eq!(
        left,
        vec![5000, 3000, 1000, 0],
        "rows left after each sweep"
    );
}
