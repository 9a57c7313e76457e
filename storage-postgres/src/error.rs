//! Converts sqlx errors into [`StoreError`] once, by SQLSTATE and constraint name.

use slipway_core::error::Unique;
use slipway_core::StoreError;

/// SQLSTATE of a unique violation.
const UNIQUE_VIOLATION: &str = "23505";
/// SQLSTATE of a foreign key violation.
const FOREIGN_KEY_VIOLATION: &str = "23503";

/// The rule a unique constraint enforces.
fn unique_rule(constraint: &str) -> Option<Unique> {
    Some(match constraint {
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
        "webhooks_pkey"
        | "users_pkey"
        | "projects_pkey"
        | "networks_pkey"
        | "domains_pkey"
        | "authorizations_pkey"
        | "invitations_pkey"
        | "api_tokens_pkey" => Unique::Id,
        _ => return None,
    })
}

/// Whether a database error means "the database cannot serve right now"
/// rather than "this request is wrong".
fn transient_sqlstate(code: &str) -> bool {
    code.starts_with("08") // connection exception
        || code.starts_with("53") // insufficient resources (too many connections, ...)
        || code.starts_with("57P") // admin / crash shutdown, cannot connect now
        || code == "57014" // query canceled: statement_timeout
        || code == "55P03" // lock not available
        || code == "40001" // serialization failure
        || code == "40P01" // deadlock detected
}

/// Maps an sqlx error to the store error core understands.
pub(crate) fn map(err: sqlx::Error) -> StoreError {
    match &err {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            let constraint = db.constraint().unwrap_or("");
            match code.as_str() {
                UNIQUE_VIOLATION => match unique_rule(constraint) {
                    Some(unique) => StoreError::conflict(unique),
                    None => StoreError::other(err),
                },
                FOREIGN_KEY_VIOLATION => match constraint {
                    // The covering registered domain is gone.
                    "networks_domain_id_fkey" => StoreError::conflict(Unique::NetworkHostname),
                    // The owner, user or project referred to is gone.
                    "networks_project_id_fkey"
                    | "projects_owner_id_fkey"
                    | "authorizations_user_id_fkey"
                    | "api_tokens_user_id_fkey"
                    | "webhooks_user_id_fkey" => StoreError::NotFound,
                    _ => StoreError::other(err),
                },
                c if transient_sqlstate(c) => StoreError::unavailable(err),
                _ => StoreError::other(err),
            }
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreError::unavailable(err),
        _ => StoreError::other(err),
    }
}

/// Whether `err` is a unique violation of `constraint`.
pub(crate) fn is_unique_violation(err: &sqlx::Error, constraint: &str) -> bool {
    match err {
        sqlx::Error::Database(db) => {
            db.code().as_deref() == Some(UNIQUE_VIOLATION) && db.constraint() == Some(constraint)
        }
        _ => false,
    }
}

/// Whether `err` is a foreign key violation of `constraint`.
pub(crate) fn is_fk_violation(err: &sqlx::Error, constraint: &str) -> bool {
    match err {
        sqlx::Error::Database(db) => {
            db.code().as_deref() == Some(FOREIGN_KEY_VIOLATION)
                && db.constraint() == Some(constraint)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unique_constraint_of_the_schema_has_a_rule() {
        let schema = [
            include_str!("../migrations/20261127000001_initial.sql"),
            include_str!("../migrations/20261130000001_accounts.sql"),
            include_str!("../migrations/20261130000002_api_tokens.sql"),
        ];
        for line in schema.iter().flat_map(|s| s.lines()) {
            let Some(pos) = line.find("_key") else {
                continue;
            };
            let start = line[..pos]
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(0, |i| i + 1);
            let name = &line[start..pos + 4];
            assert!(unique_rule(name).is_some(), "{name} is not mapped");
        }
    }

    #[test]
    fn transport_failures_are_unavailable() {
        assert!(matches!(
            map(sqlx::Error::PoolTimedOut),
            StoreError::Unavailable(_)
        ));
        let io = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(matches!(map(io.into()), StoreError::Unavailable(_)));
        assert!(matches!(
            map(sqlx::Error::RowNotFound),
            StoreError::NotFound
        ));
        assert!(transient_sqlstate("57P01"));
        assert!(transient_sqlstate("08006"));
        assert!(!transient_sqlstate("23505"));
    }
}
