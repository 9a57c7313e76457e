//! Settling the instance secret: `--secret`, `--secret-file`, the secret
//! file kept beside a SQLite database, or one generated for a `memory:` run.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use slipway_core::InstanceSecret;

use crate::Args;

/// The secret file kept beside a SQLite database: `<database>.secret`.
pub fn secret_file_beside(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".secret");
    PathBuf::from(name)
}

/// The instance secret the flags ask for, checked (at least 32 bytes).
///
/// - `--secret` / `SLIPWAY_SECRET`, or `--secret-file` / `SLIPWAY_SECRET_FILE`
///   (its content, one trailing newline trimmed); not both.
/// - Neither, with a SQLite database: the secret file beside it
///   (`<database>.secret`), generated (random, mode 0600) on the first
///   start and read on later ones.
/// - Neither, with `memory:`: a random secret for this run.
/// - Neither, with PostgreSQL or Redis: refused.
///
/// Nothing touches the database here, so a misconfigured start fails before
/// connecting or migrating anything.
pub(crate) fn settle(args: &Args) -> anyhow::Result<Vec<u8>> {
    match (&args.secret, &args.secret_file) {
        (Some(_), Some(_)) => anyhow::bail!(
            "give the instance secret once: SLIPWAY_SECRET (--secret) or SLIPWAY_SECRET_FILE \
             (--secret-file), not both"
        ),
        (Some(s), None) => {
            InstanceSecret::new(s.as_bytes().to_vec()).context("SLIPWAY_SECRET is invalid")?;
            Ok(s.as_bytes().to_vec())
        }
        (None, Some(file)) => read_secret_file(file, "SLIPWAY_SECRET_FILE"),
        (None, None) => settle_default(&args.database_url),
    }
}

/// Reads a secret file: its bytes without one trailing `\n` or `\r\n`.
pub(crate) fn read_secret_file(file: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    let mut bytes = std::fs::read(file)
        .with_context(|| format!("cannot read the secret file {} ({what})", file.display()))?;
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
    InstanceSecret::new(bytes.clone())
        .with_context(|| format!("the secret file {} ({what}) is invalid", file.display()))?;
    Ok(bytes)
}

fn settle_default(database_url: &str) -> anyhow::Result<Vec<u8>> {
    let scheme = database_url.split(':').next().unwrap_or("");
    match scheme {
        "memory" => {
            tracing::warn!(
                "no SLIPWAY_SECRET given: generated a random one for this run; tokens will not \
                 survive a restart"
            );
            Ok(generate())
        }
        "sqlite" => sqlite_secret(database_url),
        _ => anyhow::bail!(
            "SLIPWAY_SECRET (--secret) or SLIPWAY_SECRET_FILE (--secret-file) is required with \
             a persistent store: tokens and stored credentials must survive a restart"
        ),
    }
}

/// 32 random bytes from the OS, hex-encoded (64 characters).
fn generate() -> Vec<u8> {
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    hex::encode(bytes).into_bytes()
}

#[cfg(not(feature = "sqlite"))]
fn sqlite_secret(_database_url: &str) -> anyhow::Result<Vec<u8>> {
    anyhow::bail!(
        "this slipway-server was built without SQLite support; rebuild with `--features sqlite` \
         to use sqlite:// URLs"
    )
}

/// The secret of a SQLite database: read from `<database>.secret`, or
/// generated there on the first start.
#[cfg(feature = "sqlite")]
fn sqlite_secret(database_url: &str) -> anyhow::Result<Vec<u8>> {
    let database = slipway_sqlite::path_from_url(database_url)?;
    let file = secret_file_beside(&database);
    if file.exists() {
        check_private(&file)?;
        return read_secret_file(&file, "the secret file beside the database");
    }
    anyhow::ensure!(
        !database.exists(),
        "the SQLite database {} exists but its secret file {} does not: start with the secret \
         the database was created with (SLIPWAY_SECRET or SLIPWAY_SECRET_FILE); a new secret \
         would invalidate every token and make stored credentials unreadable",
        database.display(),
        file.display()
    );
    let secret = generate();
    write_private(&file, &secret)?;
    tracing::info!(
        file = %file.display(),
        "generated the instance secret and stored it beside the database (mode 0600); back it \
         up with the database"
    );
    Ok(secret)
}

/// Refuses a secret file that others than its owner may read or write.
#[cfg(all(feature = "sqlite", unix))]
fn check_private(file: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(file)
        .with_context(|| format!("cannot read {}", file.display()))?
        .permissions()
        .mode();
    anyhow::ensure!(
        mode & 0o077 == 0,
        "the secret file {} is readable or writable by others (mode {:o}): run `chmod 600 {}`",
        file.display(),
        mode & 0o777,
        file.display()
    );
    Ok(())
}

#[cfg(all(feature = "sqlite", not(unix)))]
fn check_private(_file: &Path) -> anyhow::Result<()> {
    Ok(())
}

/// Creates `file` (it must not exist) readable and writable by its owner
/// only, writes `secret` and a newline, and syncs it to disk.
#[cfg(feature = "sqlite")]
fn write_private(file: &Path, secret: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options
        .open(file)
        .with_context(|| format!("cannot create the secret file {}", file.display()))?;
    f.write_all(secret)
        .and_then(|()| f.write_all(b"\n"))
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write the secret file {}", file.display()))?;
    Ok(())
}
