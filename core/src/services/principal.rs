//! Who is acting: a user (from an access token or the host's own login) or
//! the host itself.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::model::{ApiToken, ApiTokenId, ProjectId, Scope, User, UserId};

/// What an API token lets its principal do: its scopes and, when set, the
/// only projects it reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Grant {
    /// The token's id.
    pub token_id: ApiTokenId,
    /// What it may do.
    pub scopes: BTreeSet<Scope>,
    /// The only projects it reaches (`None`: all of the user's).
    pub project_ids: Option<BTreeSet<ProjectId>>,
    /// Hex SHA-256 of the token (to check it again while a WebSocket runs).
    pub(crate) token_hash: String,
}

impl Grant {
    /// Whether the token reaches project `id`.
    pub fn reaches(&self, id: &str) -> bool {
        self.project_ids.as_ref().is_none_or(|ids| ids.contains(id))
    }
}

/// The acting principal of a service operation, resolved once per request by
/// an [`Authenticator`](crate::http::Authenticator) or built by host code.
#[derive(Debug, Clone)]
pub struct Principal {
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    User {
        id: UserId,
        user: Option<Box<User>>,
        expires_at: Option<i64>,
        /// The session epoch of the access token it came from.
        epoch: Option<u32>,
        /// The API token it came from.
        grant: Option<Arc<Grant>>,
    },
    System,
}

impl Principal {
    /// A user the host has already loaded (for example through
    /// [`Accounts::find_by_email`](super::Accounts::find_by_email)). It does
    /// not expire.
    pub fn user(user: User) -> Self {
        Principal {
            kind: Kind::User {
                id: user.id.clone(),
                user: Some(Box::new(user)),
                expires_at: None,
                epoch: None,
                grant: None,
            },
        }
    }

    /// A user known by id only; the services load the user when they need
    /// it, and answer [`Error::Unauthenticated`](super::Error::Unauthenticated)
    /// when it no longer exists. `expires_at` (seconds since the epoch) ends
    /// live feeds.
    pub fn user_id(id: impl Into<UserId>, expires_at: Option<i64>) -> Self {
        Principal {
            kind: Kind::User {
                id: id.into(),
                user: None,
                expires_at,
                epoch: None,
                grant: None,
            },
        }
    }

    /// The host itself: may do what an admin may, owns no projects.
    pub fn system() -> Self {
        Principal { kind: Kind::System }
    }

    /// The principal of a verified access token.
    pub(crate) fn from_token(token: crate::auth::token::Verified) -> Self {
        Principal {
            kind: Kind::User {
                id: UserId::from(token.sub),
                user: None,
                expires_at: Some(token.exp),
                epoch: Some(token.sev),
                grant: None,
            },
        }
    }

    /// The principal of a verified API token.
    pub(crate) fn from_api_token(token: &ApiToken) -> Self {
        Principal {
            kind: Kind::User {
                id: token.user_id.clone(),
                user: None,
                expires_at: token.expires_at.map(|t| t.timestamp()),
                epoch: None,
                grant: Some(Arc::new(Grant {
                    token_id: token.id.clone(),
                    scopes: token.scopes.iter().copied().collect(),
                    project_ids: token
                        .project_ids
                        .as_ref()
                        .map(|ids| ids.iter().cloned().collect()),
                    token_hash: token.token_hash.clone(),
                })),
            },
        }
    }

    /// The API token's grant, when the principal came from one.
    pub fn grant(&self) -> Option<&Grant> {
        match &self.kind {
            Kind::User { grant, .. } => grant.as_deref(),
            Kind::System => None,
        }
    }

    /// The session epoch of the access token this principal came from
    /// (`None` for principals a host built).
    pub(crate) fn session_epoch(&self) -> Option<u32> {
        match &self.kind {
            Kind::User { epoch, .. } => *epoch,
            Kind::System => None,
        }
    }

    /// The user's id (`None` for the system principal).
    pub fn id(&self) -> Option<&UserId> {
        match &self.kind {
            Kind::User { id, .. } => Some(id),
            Kind::System => None,
        }
    }

    /// When the credentials expire (seconds since the epoch), if they do.
    pub fn expires_at(&self) -> Option<i64> {
        match &self.kind {
            Kind::User { expires_at, .. } => *expires_at,
            Kind::System => None,
        }
    }

    /// Whether this is [`Principal::system`].
    pub fn is_system(&self) -> bool {
        matches!(self.kind, Kind::System)
    }

    pub(crate) fn loaded_user(&self) -> Option<&User> {
        match &self.kind {
            Kind::User { user, .. } => user.as_deref(),
            Kind::System => None,
        }
    }
}
