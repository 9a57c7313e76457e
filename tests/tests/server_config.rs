//! The standalone server's start-up checks.

use slipway_server::Args;

async fn build_error(mutate: impl FnOnce(&mut Args)) -> String {
    let mut args = Args::defaults();
    mutate(&mut args);
    match slipway_server::build(&args, |b| b).await {
        Ok(_) => panic!("the server should refuse this configuration"),
        Err(e) => format!("{e:#}"),
    }
}

#[tokio::test]
async fn persistent_store_without_secret_is_refused_before_connecting() {
    // Nothing listens on port 9: had the server tried to connect first, the
    // error would be about the connection, not the missing secret.
    for url in ["postgres://nobody@127.0.0.1:9/none", "redis://127.0.0.1:9"] {
        let err = build_error(|a| {
            a.database_url = url.into();
            a.secret = None;
        })
        .await;
        assert!(err.contains("SLIPWAY_SECRET"), "{url}: {err}");
    }
}

#[tokio::test]
async fn short_secret_and_unknown_scheme_are_refused() {
    let err = build_error(|a| a.secret = Some("too short".into())).await;
    assert!(err.contains("SLIPWAY_SECRET"), "{err}");
    let err = build_error(|a| {
        a.secret = Some("x".repeat(32));
        a.database_url = "mysql://localhost/db".into();
    })
    .await;
    assert!(err.contains("unsupported database URL scheme"), "{err}");
}

#[tokio::test]
async fn memory_store_without_secret_starts_with_a_generated_one() {
    let mut args = Args::defaults();
    assert_eq!(
        args.database_url, "sqlite://slipway.db",
        "the default is a SQLite file in the working directory"
    );
    args.database_url = "memory:".into();
    slipway_server::build(&args, |b| b)
        .await
        .expect("memory store needs no secret");
}

#[test]
fn admin_backup_parses_with_the_database_url_before_or_after_it() {
    use clap::Parser as _;
    use slipway_server::{AdminCommand, Command};
    let serve = Args::try_parse_from(["slipway-server"]).unwrap();
    assert!(serve.command.is_none(), "no subcommand: serve");
    for argv in [
        &[
            "slipway-server",
            "--database-url",
            "sqlite://a.db",
            "admin",
            "backup",
            "b.db",
        ][..],
        &[
            "slipway-server",
            "admin",
            "backup",
            "b.db",
            "--database-url",
            "sqlite://a.db",
        ][..],
    ] {
        let args = Args::try_parse_from(argv).unwrap();
        assert_eq!(args.database_url, "sqlite://a.db", "{argv:?}");
        match args.command {
            Some(Command::Admin(AdminCommand::Backup { file })) => {
                assert_eq!(file, std::path::PathBuf::from("b.db"))
            }
            other => panic!("{argv:?}: {other:?}"),
        }
    }
    assert!(Args::try_parse_from(["slipway-server", "admin", "backup"]).is_err());
    assert!(Args::try_parse_from(["slipway-server", "admin", "frobnicate"]).is_err());
}
