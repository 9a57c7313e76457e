//! `slipway-server admin ...`: commands that act on the configured store and
//! exit.

use std::path::{Path, PathBuf};

/// A top-level subcommand (none: serve).
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Administration of the configured store.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Applies the store's migrations (SQLite, PostgreSQL) and exits.
    Migrate,
    /// Validates the configuration and reaches the store (without
    /// migrating it); exits non-zero with a message when something is wrong.
    Check,
    /// The instance secret.
    #[command(subcommand)]
    Secret(SecretCommand),
}

/// `slipway-server secret <command>`.
#[derive(Debug, Clone, clap::Subcommand)]
#[non_exhaustive]
pub enum SecretCommand {
    /// Re-seals every stored credential (authorizations' secrets and the
    /// GitHub app secret) under the new instance secret (`--secret` /
    /// `--secret-file`), opening them with the old one
    /// (`--previous-secret-file`); prints how many.
    Rotate,
}

/// `slipway-server admin <command>`.
#[derive(Debug, Clone, clap::Subcommand)]
#[non_exhaustive]
pub enum AdminCommand {
    /// Writes a consistent copy of the SQLite database to FILE (`VACUUM
    /// INTO`), also while a server runs on it. FILE must not exist.
    Backup {
        /// Where to write the copy.
        file: PathBuf,
    },
}

/// Runs `command` against the store `database_url` names.
pub async fn execute(database_url: &str, command: &Command) -> anyhow::Result<()> {
    match command {
        Command::Migrate | Command::Check | Command::Secret(_) => anyhow::bail!(
            "`{command:?}` is not an admin command: run it through `slipway_server::commands`"
        ),
        Command::Admin(AdminCommand::Backup { file }) => {
            backup(database_url, file).await?;
            println!("backed up {database_url} to {}", file.display());
            Ok(())
        }
    }
}

/// Copies the SQLite database `database_url` names into `target` (which must
/// not exist) with `VACUUM INTO`: a consistent snapshot, taken on a
/// read-only connection of its own, so it works while a server holds the
/// database (no store is opened: no lock, no migrations).
pub async fn backup(database_url: &str, target: &Path) -> anyhow::Result<()> {
    let scheme = database_url.split(':').next().unwrap_or("");
    match scheme {
        "sqlite" => sqlite_backup(database_url, target).await,
        "postgres" | "postgresql" => {
            anyhow::bail!("`admin backup` is for SQLite databases; back up PostgreSQL with pg_dump")
        }
        "redis" | "rediss" => anyhow::bail!(
            "`admin backup` is for SQLite databases; back up Redis with BGSAVE (redis-cli) or \
             its AOF files"
        ),
        "memory" => anyhow::bail!(
            "`admin backup` is for SQLite databases; the memory: store keeps nothing to back up"
        ),
        _ => anyhow::bail!(
            "`admin backup` is for SQLite databases (sqlite://...), not `{scheme}` URLs"
        ),
    }
}

#[cfg(not(feature = "sqlite"))]
async fn sqlite_backup(_database_url: &str, _target: &Path) -> anyhow::Result<()> {
    anyhow::bail!(
        "this slipway-server was built without SQLite support; rebuild with `--features sqlite`"
    )
}

#[cfg(feature = "sqlite")]
async fn sqlite_backup(database_url: &str, target: &Path) -> anyhow::Result<()> {
    use slipway_sqlite::sqlx::sqlite::SqliteConnectOptions;
    use slipway_sqlite::sqlx::{ConnectOptions as _, Connection as _};

    let source = slipway_sqlite::path_from_url(database_url)?;
    anyhow::ensure!(
        source.is_file(),
        "there is no SQLite database at {}",
        source.display()
    );
    anyhow::ensure!(
        !target.exists(),
        "{} exists already: choose a new file name (a backup never overwrites)",
        target.display()
    );
    let target_name = target.to_str().ok_or_else(|| {
        anyhow::anyhow!(
            "the backup file name {} is not valid UTF-8",
            target.display()
        )
    })?;
    let mut conn = SqliteConnectOptions::new()
        .filename(&source)
        .read_only(true)
        .busy_timeout(std::time::Duration::from_secs(30))
        .connect()
        .await
        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", source.display()))?;
    let result = slipway_sqlite::sqlx::query("VACUUM INTO ?1")
        .bind(target_name)
        .execute(&mut conn)
        .await;
    let _ = conn.close().await;
    result.map_err(|e| anyhow::anyhow!("backup of {} failed: {e}", source.display()))?;
    Ok(())
}
