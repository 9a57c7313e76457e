//! The services' typed error: what went wrong, in domain terms.
//!
//! Every service operation answers `Result<T, Error>`. The HTTP layer maps
//! each variant to a status once (`http::error`); host code that calls the
//! services directly matches on the variants.

use std::time::Duration;

pub use crate::error::Unique;
use crate::error::{BoxError, StoreError};

/// A kind of record, as named in messages ("Project not found").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Resource {
    /// A user account.
    User,
    /// A project.
    Project,
    /// A network connection.
    Network,
    /// A registered domain.
    Domain,
    /// A stored credential.
    Authorization,
    /// An instance setting.
    Setting,
    /// An event of the log.
    Event,
    /// An invitation to sign up.
    Invitation,
    /// An API token.
    ApiToken,
    /// A webhook.
    Webhook,
    /// An entry of the audit log.
    Audit,
}

impl Resource {
    /// The name used in messages.
    pub fn name(self) -> &'static str {
        match self {
            Resource::User => "User",
            Resource::Project => "Project",
            Resource::Network => "Network connection",
            Resource::Domain => "Domain",
            Resource::Authorization => "Authorization",
            Resource::Setting => "Setting",
            Resource::Event => "Event",
            Resource::Invitation => "Invitation",
            Resource::ApiToken => "API token",
            Resource::Webhook => "Webhook",
            Resource::Audit => "Audit entry",
        }
    }
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why sign-up was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignupClosed {
    /// The policy is `closed`.
    Closed,
    /// The policy is `first-user-only` and the instance has its first user.
    HasFirstUser,
}

/// Which outside service failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Upstream {
    /// GitHub (OAuth or REST).
    GitHub,
    /// DNS, for domain verification.
    Dns,
}

/// What a service operation can answer instead of its result.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The record does not exist or is not the principal's to see.
    #[error("{0} not found")]
    NotFound(Resource),
    /// A uniqueness rule would be broken.
    #[error("{}", .0.message())]
    Conflict(Unique),
    /// The record is still used by others (a domain by network connections).
    #[error("{message}")]
    InUse {
        /// What is in use.
        resource: Resource,
        /// What to do about it.
        message: String,
    },
    /// An input is invalid; `field` names it (`data.token`, `port`, ...).
    #[error("{message}")]
    Invalid {
        /// The API name of the field at fault (empty when none applies).
        field: String,
        /// A sentence saying what is wrong and how to fix it.
        message: String,
    },
    /// No principal, or the credentials are not (or no longer) valid.
    #[error("{0}")]
    Unauthenticated(String),
    /// The principal may not do this (role, policy).
    #[error("{0}")]
    Forbidden(String),
    /// Sign-up is not open.
    #[error("{}", match .0 { SignupClosed::Closed => "Sign-up is closed on this instance", SignupClosed::HasFirstUser => "Sign-up is closed on this instance: it already has its first user" })]
    SignupClosed(SignupClosed),
    /// Too many attempts; try again after `retry_after`.
    #[error("{message}")]
    TooManyAttempts {
        /// What was limited.
        message: String,
        /// When to try again.
        retry_after: Duration,
    },
    /// The instance is saturated (the password-hash queue is full); try
    /// again after `retry_after`. Nothing was done.
    #[error("{message}")]
    Busy {
        /// What is saturated.
        message: String,
        /// When to try again.
        retry_after: Duration,
    },
    /// An outside service failed or answered badly.
    #[error("{message}")]
    Upstream {
        /// Which service.
        service: Upstream,
        /// Whether it did not answer in time (rather than answering badly).
        timed_out: bool,
        /// What happened, without secrets.
        message: String,
    },
    /// The store cannot be reached right now; try again shortly.
    #[error("store unavailable: {0}")]
    Unavailable(#[source] BoxError),
    /// A bug or an unexpected backend answer.
    #[error("internal error: {0}")]
    Internal(#[source] BoxError),
}

impl From<crate::auth::password::HashError> for Error {
    fn from(e: crate::auth::password::HashError) -> Self {
        if e.is_busy() {
            return Error::Busy {
                message: "Too many password checks are waiting; try again in a moment".into(),
                retry_after: Duration::from_secs(1),
            };
        }
        Error::Internal(Box::new(e))
    }
}

/// Result alias of the services.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An invalid input naming its field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
    /// A bug or an unexpected answer.
    pub fn internal(source: impl Into<BoxError>) -> Self {
        Error::Internal(source.into())
    }
    /// An upstream failure (502).
    pub(crate) fn upstream(service: Upstream, message: impl Into<String>) -> Self {
        Error::Upstream {
            service,
            timed_out: false,
            message: message.into(),
        }
    }
    /// An upstream time-out (504).
    pub(crate) fn upstream_timeout(service: Upstream, message: impl Into<String>) -> Self {
        Error::Upstream {
            service,
            timed_out: true,
            message: message.into(),
        }
    }
    /// The answer for a store error while handling `resource`.
    pub(crate) fn store(resource: Resource, err: StoreError) -> Self {
        match err {
            StoreError::NotFound => Error::NotFound(resource),
            StoreError::Conflict(unique) => Error::Conflict(unique),
            StoreError::Refused => Error::SignupClosed(SignupClosed::HasFirstUser),
            StoreError::InUse => Error::InUse {
                resource,
                message: match resource {
                    Resource::Domain => {
                        "The domain is still used by network connections; delete those \
                         connections first"
                    }
                    _ => "The record is still used by others; delete those first",
                }
                .into(),
            },
            // A caller that retries stale writes maps the last one here:
            // the record keeps changing under it, which is worth a retry.
            StoreError::Stale => {
                Error::Unavailable("too many concurrent changes to one record; try again".into())
            }
            StoreError::Unavailable(e) => Error::Unavailable(e),
            StoreError::Other(e) => Error::Internal(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A full hash queue is `Busy` (503 with `Retry-After`), never a 500.
    #[test]
    fn a_full_hash_queue_is_busy() {
        let e = Error::from(crate::auth::password::HashError::busy());
        assert!(matches!(e, Error::Busy { .. }), "{e:?}");
    }
}
