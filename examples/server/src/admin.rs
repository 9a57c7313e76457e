//! `slipway-server admin ...`: commands that act on the configured store and
//! exit.

use std::path::{Path, PathBuf};

use slipway_core::crypto::SecretString;
use slipway_core::model::Role;
use slipway_core::services::{self, NewAccount, PageRequest, Principal, UserChanges};
use slipway_core::Slipway;

use crate::Args;

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
    /// Creates an account (a member, or an admin with --admin) whatever the
    /// sign-up policy: the way to make the first admin before the server is
    /// exposed. The password is read from standard input (never a flag).
    CreateUser {
        /// The account's email.
        #[arg(long)]
        email: String,
        /// The account's display name.
        #[arg(long)]
        name: String,
        /// Make the account an admin.
        #[arg(long)]
        admin: bool,
    },
    /// Sets a user's password (read from standard input); their older
    /// tokens stop working.
    ResetPassword {
        /// The user's email.
        #[arg(long)]
        email: String,
    },
    /// Sets a user's role; their older tokens stop working. The last active
    /// admin cannot be demoted.
    SetRole {
        /// The user's email.
        #[arg(long)]
        email: String,
        /// `admin` or `member`.
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
    /// Deletes a user with everything they own (their projects get DELETE
    /// events; servers close their WebSockets when they next check, within
    /// seconds). The last active admin cannot be deleted.
    DeleteUser {
        /// The user's email.
        #[arg(long)]
        email: String,
    },
    /// Lists users: id, email, role, state, name.
    ListUsers,
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| format!("`{s}` is not a role: use admin or member"))
}

/// Runs `command` against the store `args` configure.
pub async fn execute(args: &Args, command: &Command) -> anyhow::Result<()> {
    match command {
        Command::Migrate | Command::Check | Command::Secret(_) => anyhow::bail!(
            "`{command:?}` is not an admin command: run it through `slipway_server::commands`"
        ),
        Command::Admin(AdminCommand::Backup { file }) => {
            let database_url = &args.database_url;
            backup(database_url, file).await?;
            println!("backed up {database_url} to {}", file.display());
            Ok(())
        }
        Command::Admin(users) => {
            let slipway = crate::build(args, |b| b).await?;
            let result = user_command(&slipway, users).await;
            crate::stores::after_stop(&args.database_url).await;
            result
        }
    }
}

/// Reads a password from standard input: without echo from a terminal, else
/// the first line (`printf '%s\n' "$PASSWORD" | slipway-server admin ...`).
fn read_password() -> anyhow::Result<String> {
    use std::io::IsTerminal as _;
    let password = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Password: ")?
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        line.trim_end_matches(['\n', '\r']).to_string()
    };
    anyhow::ensure!(
        !password.is_empty(),
        "no password on standard input: pipe one in, or run the command in a terminal"
    );
    Ok(password)
}

/// A service error as a message for the operator.
fn failed(e: services::Error) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

async fn user_command(slipway: &Slipway, command: &AdminCommand) -> anyhow::Result<()> {
    let system = Principal::system();
    let users = slipway.users();
    match command {
        AdminCommand::CreateUser { email, name, admin } => {
            let password = read_password()?;
            let role = if *admin { Role::Admin } else { Role::Member };
            let user = users
                .create(
                    &system,
                    NewAccount::new(name.clone(), email.clone())
                        .role(role)
                        .password(password),
                )
                .await
                .map_err(failed)?;
            println!(
                "created {} ({}) with id {}",
                user.email,
                user.role.as_str(),
                user.id
            );
        }
        AdminCommand::ResetPassword { email } => {
            let user = users.find_by_email(&system, email).await.map_err(failed)?;
            let password = read_password()?;
            users
                .reset_password(&system, &user.id, &SecretString::new(password))
                .await
                .map_err(failed)?;
            println!(
                "password of {} reset; their older tokens no longer work",
                user.email
            );
        }
        AdminCommand::SetRole { email, role } => {
            let user = users.find_by_email(&system, email).await.map_err(failed)?;
            let user = users
                .update(&system, &user.id, UserChanges::default().role(*role))
                .await
                .map_err(failed)?;
            println!("{} is now {}", user.email, user.role.as_str());
        }
        AdminCommand::DeleteUser { email } => {
            let user = users.find_by_email(&system, email).await.map_err(failed)?;
            users.delete(&system, &user.id).await.map_err(failed)?;
            println!("deleted {} and everything they owned", user.email);
        }
        AdminCommand::ListUsers => {
            let page = users
                .list(&system, PageRequest::all())
                .await
                .map_err(failed)?;
            for u in page.items {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    u.id,
                    u.email,
                    u.role.as_str(),
                    if u.disabled { "disabled" } else { "active" },
                    u.name
                );
            }
        }
        AdminCommand::Backup { .. } => unreachable!("handled by execute"),
    }
    Ok(())
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
