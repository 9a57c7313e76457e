//! `slipway-server migrate` and `slipway-server check`: commands for
//! deployments, run against the configured store, then exit.

use slipway_core::SignupPolicy;

use crate::{stores, Args};

/// `migrate`: applies the store's embedded migrations and exits. SQLite and
/// PostgreSQL have a schema; `memory:` and Redis have none (nothing to do).
pub async fn migrate(args: &Args) -> anyhow::Result<String> {
    let url = &args.database_url;
    if !stores::has_schema(url) {
        let scheme = url.split(':').next().unwrap_or("");
        return Ok(format!("{scheme}: keeps no schema; nothing to migrate"));
    }
    let store = stores::open(url, true).await?;
    store
        .ready()
        .await
        .map_err(|e| anyhow::anyhow!("migrated, but the store is not ready: {e}"))?;
    Ok("the schema is migrated".to_string())
}

/// `check`: validates the configuration (every flag, the secret) and
/// reaches the store without migrating it. Fails with a message saying what
/// is wrong: a bad setting, an unreachable store, or (with `--no-migrate`) a
/// schema that is not migrated.
pub async fn check(args: &Args) -> anyhow::Result<String> {
    args.adapter.ensure_compiled()?;
    crate::secret::settle(args)?;
    if let Some(file) = &args.previous_secret_file {
        crate::secret::read_secret_file(file, "SLIPWAY_PREVIOUS_SECRET_FILE")?;
    }
    let store = stores::open(&args.database_url, false).await?;
    store
        .ping()
        .await
        .map_err(|e| anyhow::anyhow!("the store does not answer: {e}"))?;
    let mut report = vec![
        format!("configuration is valid (adapter {:?})", args.adapter).to_lowercase(),
        "the store answers".to_string(),
    ];
    match store.ready().await {
        Ok(()) => report.push("the schema is migrated".to_string()),
        Err(e) if args.no_migrate => {
            anyhow::bail!("{e} (with --no-migrate the server would refuse to start)")
        }
        Err(_) => {
            report.push("the schema is not migrated yet: the server migrates it on start".into())
        }
    }
    if let Ok(false) = store.has_users().await {
        if args.signup != SignupPolicy::Closed {
            report.push(first_user_warning().to_string());
        }
    }
    Ok(report.join("\n"))
}

/// `secret rotate`: re-seals every stored credential under the instance
/// secret the flags give (`--secret`, `--secret-file`), opening each with
/// the key that sealed it: that one or `--previous-secret-file`'s. Answers
/// the report to print. Stop the servers first, or run them with both
/// secrets (`--previous-secret-file`) while it runs.
pub async fn rotate_secret(args: &Args) -> anyhow::Result<String> {
    anyhow::ensure!(
        args.previous_secret_file.is_some(),
        "secret rotate needs the old secret: --previous-secret-file (SLIPWAY_PREVIOUS_SECRET_FILE) \
         names its file, and --secret / --secret-file gives the new one"
    );
    let slipway = crate::build(args, |b| b).await?;
    let system = slipway_core::Principal::system();
    let authorizations = slipway.authorizations().reseal_all(&system).await?;
    let github = slipway.github().reseal(&system).await?;
    Ok(format!(
        "re-sealed {authorizations} stored credential(s) and {} GitHub app secret under the new \
         instance secret",
        u8::from(github)
    ))
}

/// The warning for an instance without users whose sign-up is open.
pub(crate) fn first_user_warning() -> &'static str {
    "the store has no user and sign-up is open: the first account to sign up becomes admin; \
     create the admin first with `slipway-server admin create-user`, or start with \
     --signup closed"
}
