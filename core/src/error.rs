//! [`StoreError`]: what a storage backend answers instead of a result.

/// The error every [`Store`](crate::store::Store) method returns.
///
/// Backends keep their own typed errors and convert once into one of these
/// variants; core maps them to HTTP statuses (404, 409, 503, 500).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The record does not exist, or it belongs to someone else.
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was violated.
    #[error("conflict on {}", .0.field())]
    Conflict(Unique),
    /// A gate refused the write: [`RoleGate::FirstUserOnly`](crate::model::RoleGate)
    /// with users present, or a quota the write was given (the owner's
    /// projects in [`Store::create_project`](crate::store::Store::create_project)).
    #[error("refused by the gate")]
    Refused,
    /// The record is still referenced (a domain that network connections use).
    #[error("still in use")]
    InUse,
    /// A compare-and-swap write lost: the record no longer holds the state
    /// the write was computed from (see [`Store::update_project`](crate::store::Store::update_project)).
    /// Nothing was written; read again and recompute.
    #[error("the record changed since it was read")]
    Stale,
    /// The backend cannot be reached right now (connection refused, timeout).
    #[error("store unavailable: {0}")]
    Unavailable(#[source] BoxError),
    /// Anything else: a bug or an unexpected backend answer.
    #[error("store error: {0}")]
    Other(#[source] BoxError),
}

/// Boxed error used as the source of [`StoreError`] variants.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

impl StoreError {
    /// Shorthand for [`StoreError::Conflict`].
    pub fn conflict(unique: Unique) -> Self {
        StoreError::Conflict(unique)
    }

    /// Wraps any error as [`StoreError::Other`].
    pub fn other(err: impl Into<BoxError>) -> Self {
        StoreError::Other(err.into())
    }

    /// Wraps any error as [`StoreError::Unavailable`].
    pub fn unavailable(err: impl Into<BoxError>) -> Self {
        StoreError::Unavailable(err.into())
    }
}

/// A uniqueness rule of the instance: what a [`StoreError::Conflict`] (and
/// the services' `Error::Conflict`) collided with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Unique {
    /// A user's email.
    Email,
    /// A user's linked GitHub account.
    GitHubId,
    /// A project's `sourceId`.
    SourceId,
    /// A project's `vmId`.
    VmId,
    /// A project's `path`.
    ProjectPath,
    /// A network connection's hostname.
    NetworkHostname,
    /// A registered domain's name.
    DomainName,
    /// The instance's one main domain.
    MainDomain,
    /// A record id (ids are random: a clash means a bug or a replayed write).
    Id,
    /// The email of a pending invitation.
    InvitationEmail,
}

impl Unique {
    /// The API field the rule is about.
    pub fn field(self) -> &'static str {
        match self {
            Unique::Email => "email",
            Unique::GitHubId => "githubId",
            Unique::SourceId => "sourceId",
            Unique::VmId => "vmId",
            Unique::ProjectPath => "path",
            Unique::NetworkHostname | Unique::DomainName => "domain",
            Unique::MainDomain => "main",
            Unique::Id => "id",
            Unique::InvitationEmail => "email",
        }
    }

    /// A sentence a person can act on.
    pub fn message(self) -> &'static str {
        match self {
            Unique::Email => "email is already registered; sign in instead",
            Unique::GitHubId => "This GitHub account is already linked to another Slipway account",
            Unique::SourceId => "sourceId is already in use; choose another sourceId",
            Unique::VmId => "vmId is already in use; choose another vmId",
            Unique::ProjectPath => "path is already in use; choose another path",
            Unique::NetworkHostname => {
                "domain is already used by another network connection (or its registered domain \
                 was just removed); choose another domain"
            }
            Unique::DomainName => "domain is already registered",
            Unique::MainDomain => {
                "main: another domain is already the main domain; only one may be"
            }
            Unique::Id => "id is already in use; try again",
            Unique::InvitationEmail => {
                "an invitation for this email is pending; delete it before inviting again"
            }
        }
    }
}
