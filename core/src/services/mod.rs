//! The services: every rule of Slipway, written once.
//!
//! Host code, the HTTP endpoints, the WebSocket feed and admin tools all call
//! these operations. Each takes the acting [`Principal`] (resolved once per
//! request) and typed input, and answers typed output or an [`Error`]:
//! validation and normalisation, ownership, roles, the sign-up policy, the
//! covering-domain rule, sealing secrets and which event a write appends are
//! decided here and nowhere else.
//!
//! # Calling Slipway from your code
//!
//! ```rust
//! use async_trait::async_trait;
//! use futures::StreamExt;
//! use slipway_core::http::{AuthRequest, Authenticator, BearerAuthenticator};
//! use slipway_core::model::FeedItem;
//! use slipway_core::services::{Error, NewAccount, NewProject, Principal};
//! use slipway_core::{MemoryStore, Slipway};
//!
//! /// Your own login: a session header (a cookie in a real application) names
//! /// one of your users; Slipway's own tokens keep working besides.
//! struct MySessions;
//!
//! #[async_trait]
//! impl Authenticator for MySessions {
//!     async fn authenticate(
//!         &self,
//!         slipway: &Slipway,
//!         request: &AuthRequest<'_>,
//!     ) -> Result<Option<Principal>, Error> {
//!         let Some(email) = request.headers.get("x-my-session-user") else {
//!             return BearerAuthenticator.authenticate(slipway, request).await;
//!         };
//!         let email = email.to_str().map_err(|_| Error::Unauthenticated("bad session".into()))?;
//!         // Your user as a Slipway account (created as a member on first use).
//!         let user = slipway.accounts().find_or_create(NewAccount::new("Ada", email)).await?;
//!         Ok(Some(Principal::user(user)))
//!     }
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let slipway = Slipway::builder()
//!     .secret(std::env::var("SLIPWAY_SECRET")?.into_bytes()) // at least 32 bytes
//!     .store(MemoryStore::new())
//!     .authenticator(MySessions)
//!     .build()?;
//!
//! // Every event of the instance, as it is written (a user's principal sees
//! // only their own projects' events).
//! let mut events = slipway.events().subscribe(&Principal::system(), None).await?;
//!
//! // Your code calls the services directly: the same rules as over HTTP.
//! let ada = slipway
//!     .accounts()
//!     .find_or_create(NewAccount::new("Ada", "ada@example.com"))
//!     .await?;
//! let project = slipway
//!     .projects()
//!     .create(&Principal::user(ada), NewProject::new("Blog", "src-1", "vm-1"))
//!     .await?;
//!
//! if let Some(Ok(FeedItem::Event(event))) = events.next().await {
//!     assert_eq!(event.project_id, project.id);
//! }
//!
//! // The OpenAPI document, to merge into your own.
//! let doc = slipway.openapi();
//! assert!(doc.paths.paths.contains_key("/project/{id}"));
//! # Ok(())
//! # }
//! ```

use crate::model::{ProjectId, UserId};
use std::sync::Arc;

use crate::auth::{password::Hasher, token::Tokens};
use crate::config::Config;
use crate::crypto::Keyring;
use crate::model::{AuditEntry, Role, Scope, User, UserUpdate};
use crate::store::Store;

mod accounts;
mod audit;
mod authorizations;
mod domains;
mod error;
mod events;
mod github;
mod health;
mod invitations;
mod limits;
mod networks;
mod page;
mod principal;
mod projects;
mod sessions;
mod tokens;
mod users;
mod validate;
mod webhooks;
pub(crate) mod writes;

pub use accounts::{Accounts, MeChanges, NewAccount, PasswordChange, SignedIn, Signin, Signup};
pub use audit::{Audit, AuditFilter, Origin, AUDIT_DEFAULT_LIMIT};
pub use authorizations::{Authorizations, NewAuthorization};
pub use domains::{challenge_name, DomainVerification, Domains, NewDomain};
pub use error::{Error, Resource, Result, SignupClosed, Unique, Upstream};
pub use events::{Delivered, Events, Subscription};
pub(crate) use events::{Hub, Item};
pub use github::{GitHubConfiguration, GitHubSettings, PublicConfiguration};
pub use health::{Health, HEALTH_CHECK_TIMEOUT};
pub use invitations::{Invitations, Invited, NewInvitation};
pub use networks::{NetworkChanges, Networks, NewNetwork};
pub use page::{Page, PageRequest, MAX_PAGE_LIMIT};
pub use principal::{Grant, Principal};
pub use projects::{NewProject, ProjectChanges, Projects};
pub(crate) use sessions::Sessions;
pub use tokens::{ApiTokens, CreatedApiToken, NewApiToken, API_TOKEN_PREFIX};
pub use users::{UserChanges, Users};
pub(crate) use webhooks::resolve_target;
pub use webhooks::{CreatedWebhook, NewWebhook, Webhooks, WEBHOOK_EVENTS, WEBHOOK_SECRET_PREFIX};

/// What every service reads: configuration, store, keys and clients.
pub(crate) struct Core {
    pub(crate) config: Config,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) tokens: Tokens,
    pub(crate) keyring: Keyring,
    pub(crate) hasher: Hasher,
    pub(crate) github: Arc<dyn crate::github::GitHubClient>,
    pub(crate) dns: Arc<dyn crate::dns::DnsResolver>,
    /// The node's event hub.
    pub(crate) hub: Arc<Hub>,
    /// The node's view of users' session state.
    pub(crate) sessions: Sessions,
    /// Wakes the webhook delivery worker (a webhook was created here).
    pub(crate) webhooks_changed: Arc<tokio::sync::Notify>,
    /// Wakes this node's attempts waiting on a full rate-limit counter.
    pub(crate) limit_waiters: Arc<limits::Waiters>,
}

impl Core {
    /// The principal's user record: loaded from the store unless the
    /// principal carries it. A user who no longer exists is unauthenticated.
    pub(crate) async fn user_of(&self, actor: &Principal) -> Result<User> {
        if let Some(user) = actor.loaded_user() {
            return Ok(user.clone());
        }
        let id = self.owner_of(actor)?;
        self.token_user(self.store.get_user(id).await)
    }

    /// The id of the user the principal acts as; the system principal owns
    /// nothing.
    pub(crate) fn owner_of<'a>(&self, actor: &'a Principal) -> Result<&'a UserId> {
        actor.id().ok_or_else(|| {
            Error::Forbidden(
                "This operation acts on a user's own resources: call it with that user's \
                 principal"
                    .into(),
            )
        })
    }

    /// The store's answer for an authenticated principal's user: one who no
    /// longer exists is a 401.
    pub(crate) fn token_user<T>(&self, found: Result<T, crate::StoreError>) -> Result<T> {
        match found {
            Ok(found) => Ok(found),
            Err(crate::StoreError::NotFound) => Err(Error::Unauthenticated(
                "The account this access token belongs to no longer exists".into(),
            )),
            Err(e) => Err(Error::store(Resource::User, e)),
        }
    }

    /// Passes admins (and the system principal); others get 403.
    pub(crate) async fn require_admin(&self, actor: &Principal) -> Result<Option<User>> {
        if actor.is_system() {
            return Ok(None);
        }
        let user = self.user_of(actor).await?;
        if user.role != Role::Admin {
            return Err(Error::Forbidden(
                "Only an administrator may do this; ask an admin of this instance".into(),
            ));
        }
        Ok(Some(user))
    }

    /// Applies a change to a user and records it in the node's session view
    /// (ending older tokens and WebSockets at once when the change does).
    /// Taking away the last active admin is [`Error::InUse`].
    pub(crate) async fn update_user(
        &self,
        id: &UserId,
        update: UserUpdate,
        audit: AuditEntry,
    ) -> Result<User> {
        let ends_sessions = update.revoke_sessions || update.disabled == Some(true);
        let user = self
            .store
            .update_user(id, update, &audit)
            .await
            .map_err(|e| match e {
                crate::StoreError::Refused => last_admin(),
                e => Error::store(Resource::User, e),
            })?;
        if ends_sessions {
            self.sessions.changed(id, Some(&user));
        } else {
            self.sessions.changed_quietly(id, &user);
        }
        Ok(user)
    }

    /// Deletes a user with everything they own; their tokens and WebSockets
    /// end. The last active admin stays ([`Error::InUse`]).
    pub(crate) async fn delete_user(&self, id: &UserId, audit: AuditEntry) -> Result<()> {
        writes::delete_user(self.store.as_ref(), id, &audit)
            .await
            .map_err(|e| match e {
                crate::StoreError::Refused => last_admin(),
                e => Error::store(Resource::User, e),
            })?;
        self.sessions.changed(id, None);
        tracing::info!(user_id = %id, "user deleted");
        Ok(())
    }

    /// Passes principals that are not an API token, or whose token carries
    /// `scope`; others get 403 naming the missing scope.
    pub(crate) fn require_scope(&self, actor: &Principal, scope: Scope) -> Result<()> {
        match actor.grant() {
            Some(grant) if !grant.scopes.contains(&scope) => Err(Error::Forbidden(format!(
                "This API token lacks the {} scope",
                scope.as_str()
            ))),
            _ => Ok(()),
        }
    }

    /// Refuses API tokens: account management (one's account, tokens,
    /// users, invitations, the GitHub app) needs a signed-in user.
    pub(crate) fn refuse_api_token(&self, actor: &Principal) -> Result<()> {
        match actor.grant() {
            Some(_) => Err(Error::Forbidden(
                "API tokens cannot be used for account management; sign in instead".into(),
            )),
            None => Ok(()),
        }
    }

    /// Refuses API tokens restricted to some projects (they cannot create
    /// new ones).
    pub(crate) fn require_unrestricted(&self, actor: &Principal) -> Result<()> {
        match actor.grant() {
            Some(g) if g.project_ids.is_some() => Err(Error::Forbidden(
                "This API token is restricted to specific projects (projectIds): it cannot \
                 create projects"
                    .into(),
            )),
            _ => Ok(()),
        }
    }

    /// Whether the principal reaches project `id` (API tokens with
    /// `projectIds` reach only those).
    pub(crate) fn reaches(&self, actor: &Principal, id: &str) -> bool {
        actor.grant().is_none_or(|g| g.reaches(id))
    }

    /// `id` when the principal reaches that project, else not found.
    pub(crate) fn reached<'a>(
        &self,
        actor: &Principal,
        id: &'a ProjectId,
    ) -> Result<&'a ProjectId> {
        if self.reaches(actor, id) {
            Ok(id)
        } else {
            Err(Error::NotFound(Resource::Project))
        }
    }

    /// `ids` (at most 100, each a project of `user_id`) without repeats, in
    /// order: the `projectIds` of API tokens and webhooks.
    pub(crate) async fn own_project_ids(
        &self,
        user_id: &UserId,
        ids: Vec<ProjectId>,
    ) -> Result<Vec<ProjectId>> {
        if ids.len() > 100 {
            return Err(Error::invalid(
                "projectIds",
                "projectIds may name at most 100 projects",
            ));
        }
        let mut unique: Vec<ProjectId> = Vec::with_capacity(ids.len());
        for id in ids {
            let known = issued(&id, Resource::Project).is_ok()
                && self.store.get_project(user_id, &id).await.is_ok();
            if !known {
                return Err(Error::invalid(
                    "projectIds",
                    "projectIds must name projects of yours",
                ));
            }
            if !unique.contains(&id) {
                unique.push(id);
            }
        }
        Ok(unique)
    }

    /// Passes any authenticated principal whose user still exists.
    pub(crate) async fn require_signed_in(&self, actor: &Principal) -> Result<()> {
        if actor.is_system() {
            return Ok(());
        }
        self.user_of(actor).await.map(|_| ())
    }
}

/// The answer when a change would leave the instance without an active admin.
fn last_admin() -> Error {
    Error::InUse {
        resource: Resource::User,
        message: "This is the last active admin of the instance: make another user admin \
                 before demoting, disabling or deleting this one"
            .into(),
    }
}

/// A fresh id for this node (webhook leases).
pub(crate) fn new_node_id() -> String {
    new_id()
}

/// A new random id for a record (a lowercase hyphenated UUID), of whichever
/// id type the record has.
pub(crate) fn new_id<T: From<String>>() -> T {
    T::from(crate::model::random_uuid().to_string())
}

/// Whether `id` has the form of the ids Slipway issues (a lowercase,
/// hyphenated UUID).
pub(crate) fn is_issued_id(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(c),
        })
}

/// Anything that is not an id Slipway issued names no record: `NotFound`
/// before any store is asked (so no path text ever reaches a store key).
pub(crate) fn issued<T: AsRef<str> + ?Sized>(id: &T, resource: Resource) -> Result<&T> {
    if is_issued_id(id.as_ref()) {
        Ok(id)
    } else {
        Err(Error::NotFound(resource))
    }
}

#[cfg(test)]
mod id_tests {
    use super::*;

    #[test]
    fn only_issued_ids_pass() {
        let id: String = new_id();
        assert!(is_issued_id(&id));
        for bad in [
            "",
            "x",
            &id.to_uppercase(),
            &format!("{id}:ver"),
            &id.replace('-', ""),
            &format!("{{{id}}}"),
            &format!("urn:uuid:{id}"),
            "../../etc/passwd",
            &"a".repeat(36),
        ] {
            assert!(!is_issued_id(bad), "{bad}");
        }
        assert!(matches!(
            issued("p:ver", Resource::Project),
            Err(Error::NotFound(Resource::Project))
        ));
    }
}
