//! Converts sqlx errors into [`StoreError`] once, by SQLite result code; a
//! unique violation is named by the index it hit.
//!
//! SQLite reports *that* a unique index or a foreign key failed (the
//! extended result code) but not *which* one, except inside its English
//! message, which we never parse. So a write that fails with a unique
//! violation asks, on the same connection and before anything else can
//! write (there is one writer), which of its table's unique indexes holds
//! the value it tried to store: one [`Probe`] per index, each naming the
//! index. Foreign key failures carry no name at all; each write knows which
//! of its references can fail and maps them itself.

use slipway_core::error::Unique;
use slipway_core::StoreError;
use sqlx::SqliteConnection;

/// `SQLITE_CONSTRAINT_UNIQUE`.
const CONSTRAINT_UNIQUE: i32 = 2067;
/// `SQLITE_CONSTRAINT_PRIMARYKEY`.
const CONSTRAINT_PRIMARYKEY: i32 = 1555;
/// `SQLITE_CONSTRAINT_FOREIGNKEY`.
const CONSTRAINT_FOREIGNKEY: i32 = 787;

/// The API field a unique index protects.
pub(crate) fn unique_rule(index: &str) -> Option<Unique> {
    Some(match index {
        "users_email_key" => Unique::Email,
        "users_github_id_key" => Unique::GitHubId,
        "projects_source_id_key" => Unique::SourceId,
        "projects_vm_id_key" => Unique::VmId,
        "projects_path_key" => Unique::ProjectPath,
        "networks_domain_key" => Unique::NetworkHostname,
        "domains_domain_key" => Unique::DomainName,
        "domains_main_key" => Unique::MainDomain,
        "invitations_email_key" => Unique::InvitationEmail,
        // Token hashes come from random tokens: a clash is like an id's.
        "invitations_token_hash_key" | "api_tokens_token_hash_key" => Unique::Id,
        // Record ids are generated UUIDs: a collision is a bug or a replay.
        "users_id_key"
        | "authorizations_id_key"
        | "projects_id_key"
        | "domains_id_key"
        | "networks_id_key"
        | "invitations_id_key"
        | "api_tokens_id_key" => Unique::Id,
        _ => return None,
    })
}

/// The extended SQLite result code of a database error.
fn code(err: &sqlx::Error) -> Option<i32> {
    match err {
        sqlx::Error::Database(db) => db.code().and_then(|c| c.parse().ok()),
        _ => None,
    }
}

/// Whether `err` is a unique (or primary key) violation.
pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(code(err), Some(CONSTRAINT_UNIQUE | CONSTRAINT_PRIMARYKEY))
}

/// Whether `err` is a foreign key violation.
pub(crate) fn is_fk_violation(err: &sqlx::Error) -> bool {
    code(err) == Some(CONSTRAINT_FOREIGNKEY)
}

/// Whether a result code means "the database cannot serve right now"
/// rather than "this request is wrong".
fn transient(code: i32) -> bool {
    matches!(
        code & 0xff,
        5 // SQLITE_BUSY (a lock held too long)
        | 6 // SQLITE_LOCKED
        | 7 // SQLITE_NOMEM
        | 10 // SQLITE_IOERR
        | 13 // SQLITE_FULL (disk full)
        | 14 // SQLITE_CANTOPEN
        | 15 // SQLITE_PROTOCOL
    )
}

/// Maps an sqlx error to the store error core understands.
pub(crate) fn map(err: sqlx::Error) -> StoreError {
    match &err {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(_) => match code(&err) {
            Some(c) if transient(c) => StoreError::unavailable(err),
            _ => StoreError::other(err),
        },
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreError::unavailable(err),
        _ => StoreError::other(err),
    }
}

/// A value a probe looks for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Value<'a> {
    /// A text column.
    Text(Option<&'a str>),
    /// An integer column.
    Int(Option<i64>),
}

/// One unique index of the schema: `sql` answers a row when a record other
/// than `?2` (the id being written) holds `?1`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Probe<'a> {
    /// The index name (see [`unique_rule`]).
    pub(crate) index: &'static str,
    /// `SELECT 1 FROM <table> WHERE <column> = ?1 AND id <> ?2`.
    pub(crate) sql: &'static str,
    /// The value the failed write tried to store.
    pub(crate) value: Value<'a>,
}

/// Maps a failed write: a unique violation becomes the conflict of the
/// index that holds the value (found with `probes`, on the writer
/// connection `conn`, so no other write can have intervened); `fk` is what
/// a foreign key violation means for this write; anything else goes
/// through [`map`].
pub(crate) async fn write_failed(
    conn: &mut SqliteConnection,
    err: sqlx::Error,
    id: &str,
    probes: &[Probe<'_>],
    fk: impl FnOnce() -> StoreError,
) -> StoreError {
    if is_fk_violation(&err) {
        return fk();
    }
    if !is_unique_violation(&err) {
        return map(err);
    }
    for probe in probes {
        let query = sqlx::query_scalar::<_, i64>(probe.sql);
        let query = match probe.value {
            Value::Text(v) => query.bind(v),
            Value::Int(v) => query.bind(v),
        };
        match query.bind(id).fetch_optional(&mut *conn).await {
            Ok(Some(_)) => {
                return match unique_rule(probe.index) {
                    Some(unique) => StoreError::conflict(unique),
                    None => StoreError::other(err),
                }
            }
            Ok(None) => {}
            Err(e) => return map(e),
        }
    }
    // An index no probe covers (a generated id collided): a bug.
    StoreError::other(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unique_index_of_the_schema_has_a_field() {
        let schema = [
            include_str!("../migrations/20261130000001_initial.sql"),
            include_str!("../migrations/20261130000002_accounts.sql"),
            include_str!("../migrations/20261130000003_api_tokens.sql"),
        ];
        let mut seen = 0;
        for line in schema.iter().flat_map(|s| s.lines()) {
            let Some(rest) = line.strip_prefix("CREATE UNIQUE INDEX ") else {
                continue;
            };
            let name = rest.split_whitespace().next().unwrap_or("");
            assert!(unique_rule(name).is_some(), "{name} is not mapped");
            seen += 1;
        }
        assert!(seen >= 15, "found only {seen} unique indexes");
    }

    #[test]
    fn transport_failures_are_unavailable() {
        assert!(matches!(
            map(sqlx::Error::PoolTimedOut),
            StoreError::Unavailable(_)
        ));
        let io = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        assert!(matches!(map(io.into()), StoreError::Unavailable(_)));
        assert!(matches!(
            map(sqlx::Error::RowNotFound),
            StoreError::NotFound
        ));
        assert!(transient(5)); // SQLITE_BUSY
        assert!(transient(517)); // SQLITE_BUSY_SNAPSHOT
        assert!(transient(3338)); // SQLITE_IOERR_FSYNC
        assert!(!transient(CONSTRAINT_UNIQUE));
        assert!(!transient(CONSTRAINT_FOREIGNKEY));
    }
}
