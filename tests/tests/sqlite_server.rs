//! The standalone server on SQLite, in-process: the secret file (given or
//! generated beside the database), one server per file, `admin backup`.
//!
//! Uses SQLite files in temporary directories; runs in every pass (it
//! needs no server).

use slipway_core::model::RoleGate;
use slipway_core::testing::cases::new_user;
use slipway_core::Store as _;
use slipway_server::Args;
use slipway_sqlite::testing::TempDb;
use slipway_sqlite::{SqliteOptions, SqliteStore};

fn args_for(url: &str) -> Args {
    let mut args = Args::defaults();
    args.database_url = url.to_string();
    args.secret = None;
    args.secret_file = None;
    args
}

async fn build_error(args: &Args) -> String {
    match slipway_server::build(args, |b| b).await {
        Ok(_) => panic!("the server should refuse this configuration"),
        Err(e) => format!("{e:#}"),
    }
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn secret_file_is_read_without_its_trailing_newline() {
    let dir = TempDb::new().unwrap();
    let file = dir.dir().join("secret");
    std::fs::write(&file, format!("{}\n", slipway_tests::SECRET)).unwrap();
    let mut from_file = args_for("memory:");
    from_file.secret_file = Some(file.clone());
    let a = slipway_server::build(&from_file, |b| b).await.unwrap();
    let mut inline = args_for("memory:");
    inline.secret = Some(slipway_tests::SECRET.into());
    let b = slipway_server::build(&inline, |b| b).await.unwrap();
    assert_eq!(
        a.testing_jwt_key(),
        b.testing_jwt_key(),
        "the file's secret is the same as the inline one"
    );

    std::fs::write(&file, "short\n").unwrap();
    let err = build_error(&from_file).await;
    assert!(err.contains("SLIPWAY_SECRET_FILE"), "{err}");
    from_file.secret_file = Some(dir.dir().join("missing"));
    let err = build_error(&from_file).await;
    assert!(err.contains("cannot read the secret file"), "{err}");
    from_file.secret = Some(slipway_tests::SECRET.into());
    let err = build_error(&from_file).await;
    assert!(err.contains("not both"), "{err}");
}

#[cfg(unix)]
#[tokio::test]
async fn sqlite_without_secret_generates_one_beside_the_database_and_keeps_it() {
    let dir = TempDb::new().unwrap();
    let args = args_for(&dir.url());
    let secret_file = slipway_server::secret_file_beside(&dir.path());
    assert!(!secret_file.exists());
    let first = slipway_server::build(&args, |b| b).await.unwrap();
    let key = first.testing_jwt_key();
    assert_eq!(mode(&secret_file), 0o600, "owner read/write only");
    let content = std::fs::read_to_string(&secret_file).unwrap();
    assert_eq!(
        content.trim_end().len(),
        64,
        "32 random bytes, hex: {content:?}"
    );
    drop(first);

    let again = slipway_server::build(&args, |b| b).await.unwrap();
    assert_eq!(
        again.testing_jwt_key(),
        key,
        "the same secret on the next start"
    );
    drop(again);

    // A secret file others may read is refused.
    std::fs::set_permissions(
        &secret_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let err = build_error(&args).await;
    assert!(err.contains("chmod 600"), "{err}");

    // A database whose secret file is gone is not given a new secret.
    std::fs::remove_file(&secret_file).unwrap();
    let err = build_error(&args).await;
    assert!(err.contains("secret file"), "{err}");
    assert!(!secret_file.exists());
}

#[tokio::test]
async fn a_second_server_on_the_same_file_is_refused() {
    let dir = TempDb::new().unwrap();
    let mut args = args_for(&dir.url());
    args.secret = Some(slipway_tests::SECRET.into());
    let first = slipway_server::build(&args, |b| b).await.unwrap();
    let err = build_error(&args).await;
    assert!(err.contains("already in use"), "{err}");
    assert!(err.contains("one server per database file"), "{err}");
    drop(first);
}

#[tokio::test]
async fn backup_copies_a_database_in_use_and_never_overwrites() {
    let dir = TempDb::new().unwrap();
    let mut args = args_for(&dir.url());
    args.secret = Some(slipway_tests::SECRET.into());
    let running = slipway_server::build(&args, |b| b).await.unwrap();
    let ada = running
        .store()
        .create_user(
            new_user("ada"),
            RoleGate::FirstUserAdmin,
            &slipway_core::testing::cases::audit(),
        )
        .await
        .unwrap();

    // While the server's store holds the file.
    let target = dir.dir().join("backup.db");
    slipway_server::admin::backup(&dir.url(), &target)
        .await
        .expect("backup while the server runs");
    let err = slipway_server::admin::backup(&dir.url(), &target)
        .await
        .expect_err("the target exists");
    assert!(err.to_string().contains("exists already"), "{err}");

    // The copy is a complete database of its own.
    let copy = SqliteStore::open_path(&target, SqliteOptions::default())
        .await
        .unwrap();
    assert_eq!(copy.get_user(&ada.id).await.unwrap(), ada);
    copy.close().await;
    drop(copy);
    drop(running);

    for (url, hint) in [
        ("memory:", "memory"),
        ("postgres://nobody@127.0.0.1:9/none", "pg_dump"),
        ("redis://127.0.0.1:9", "BGSAVE"),
    ] {
        let err = slipway_server::admin::backup(url, &dir.dir().join("x.db"))
            .await
            .expect_err("backup is for SQLite");
        let err = err.to_string();
        assert!(err.contains("for SQLite"), "{url}: {err}");
        assert!(err.contains(hint), "{url}: {err}");
    }
    let err = slipway_server::admin::backup(
        &format!("sqlite://{}", dir.dir().join("none.db").display()),
        &dir.dir().join("y.db"),
    )
    .await
    .expect_err("no database there");
    assert!(err.to_string().contains("no SQLite database"), "{err}");
}

#[tokio::test]
async fn backup_of_a_closed_database() {
    let dir = TempDb::new().unwrap();
    let store = SqliteStore::open(&dir.url(), SqliteOptions::default())
        .await
        .unwrap();
    let ada = store
        .create_user(
            new_user("ada"),
            RoleGate::FirstUserAdmin,
            &slipway_core::testing::cases::audit(),
        )
        .await
        .unwrap();
    // No server holds the file any more (closing normally also checkpoints
    // and removes the WAL).
    store.close().await;
    drop(store);
    let target = dir.dir().join("backup.db");
    slipway_server::admin::backup(&dir.url(), &target)
        .await
        .expect("backup of a closed database");
    let copy = SqliteStore::open_path(&target, SqliteOptions::default())
        .await
        .unwrap();
    assert_eq!(copy.get_user(&ada.id).await.unwrap(), ada);
}

/// `Running::stop` returns once the instance's background tasks (event hub,
/// event feed, webhook worker, audit retention) have ended, so none of them
/// holds the store: after a WebSocket followed the log, the database file is
/// free the moment the server's last handle is dropped, with no wait.
#[tokio::test]
async fn a_stopped_server_frees_its_database_at_once() {
    use futures::StreamExt as _;
    use serde_json::{json, Value};
    use tokio_tungstenite::tungstenite::Message;

    let dir = TempDb::new().unwrap();
    for round in 0..3 {
        let url = dir.url();
        let s = slipway_tests::TestServer::start_with(move |a| a.database_url = url, |b| b).await;
        let token = s.signup(&format!("ada{round}")).await;
        let (mut ws, _) =
            tokio_tungstenite::connect_async(format!("ws://{}/ws?token={token}", s.running.addr))
                .await
                .expect("upgraded");
        let mut frame = async || -> Value {
            loop {
                let next = tokio::time::timeout(std::time::Duration::from_secs(60), ws.next())
                    .await
                    .expect("a frame within a minute");
                match next.expect("socket open").expect("frame") {
                    Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
                    Message::Ping(_) | Message::Pong(_) => continue,
                    other => panic!("unexpected message {other:?}"),
                }
            }
        };
        assert_eq!(frame().await["event"], "connect");
        s.post(
            "/project",
            Some(&token),
            json!({"name": "p", "sourceId": format!("src-{round}"), "vmId": format!("vm-{round}")}),
        )
        .await
        .expect(201);
        assert_eq!(frame().await["event"], "project.update");

        s.running.stop().await.unwrap();
        let _ = ws.close(None).await;
        let reopened = SqliteStore::open(&dir.url(), SqliteOptions::default()).await;
        let store = reopened.unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_eq!(store.list_users(None, 100).await.unwrap().len(), round + 1);
        store.close().await;
        drop(store);
    }
}
