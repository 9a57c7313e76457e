//! What the conformance suite cannot show: the file outlives the store, one
//! store per file, racing writers followed without gap or duplicate, URLs.

use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt;
use slipway_core::model::{Authorization, AuthorizationType, FeedItem, RoleGate, Sealed};
use slipway_core::store::EventStream;
use slipway_core::testing::cases::{new_domain, new_network, new_project, new_user};
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
        .create_project(
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
        .create_network(
            &user.id,
            new_network(&project.id, "app.example.com", &domain),
            &slipway_core::testing::cases::audit(),
        )
        .await
        .unwrap();
    let auth = Authorization {
        id: uuid_like("auth"),
        user_id: user.id.clone(),
        name: "key".into(),
        kind: AuthorizationType::DeployKey,
        secret: Sealed(vec![1, 2, 3, 0, 255]),
        info: serde_json::json!({"fingerprint": "SHA256:abc"}),
        created_at: chrono::Utc::now(),
    };
    let auth = store
        .create_authorization(auth, &slipway_core::testing::cases::audit())
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
        .create_project(
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
        .create_project(dup, &slipway_core::testing::cases::audit())
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
                    .create_project(new_project(&owner), &slipway_core::testing::cases::audit())
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
    let u1 = store.get_user("u1").await.unwrap();
    assert!(!u1.disabled);
    assert_eq!(u1.session_epoch, 0);
    assert_eq!(store.list_users(None, 10).await.unwrap(), vec![u1]);
}
