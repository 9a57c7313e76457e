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

use std::sync::Arc;

use crate::auth::{limiter::Limiter, password::Hasher, token::Tokens};
use crate::config::Config;
use crate::crypto::Keyring;
use crate::model::{Role, User};
use crate::store::Store;

mod accounts;
mod authorizations;
mod domains;
mod error;
mod events;
mod github;
mod networks;
mod page;
mod principal;
mod projects;
mod validate;

pub use accounts::{Accounts, NewAccount, SignedIn, Signin, Signup};
pub use authorizations::{Authorizations, NewAuthorization};
pub use domains::{challenge_name, DomainVerification, Domains, NewDomain};
pub use error::{Error, Resource, Result, SignupClosed, Unique, Upstream};
pub use events::{Delivered, Events, Subscription};
pub(crate) use events::{Hub, Item};
pub use github::{GitHubConfiguration, GitHubSettings, PublicConfiguration};
pub use networks::{NetworkChanges, Networks, NewNetwork};
pub use page::{Page, PageRequest, MAX_PAGE_LIMIT};
pub use principal::Principal;
pub use projects::{NewProject, ProjectChanges, Projects};

/// What every service reads: configuration, store, keys and clients.
pub(crate) struct Core {
    pub(crate) config: Config,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) tokens: Tokens,
    pub(crate) keyring: Keyring,
    pub(crate) hasher: Hasher,
    pub(crate) signin_limiter: Limiter,
    pub(crate) signin_addr_limiter: Limiter,
    pub(crate) github: Arc<dyn crate::github::GitHubClient>,
    pub(crate) dns: Arc<dyn crate::dns::DnsResolver>,
    /// The node's event hub.
    pub(crate) hub: Arc<Hub>,
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
    pub(crate) fn owner_of<'a>(&self, actor: &'a Principal) -> Result<&'a str> {
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

    /// Passes any authenticated principal whose user still exists.
    pub(crate) async fn require_signed_in(&self, actor: &Principal) -> Result<()> {
        if actor.is_system() {
            return Ok(());
        }
        self.user_of(actor).await.map(|_| ())
    }
}

/// A new random id for a record.
pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
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
pub(crate) fn issued(id: &str, resource: Resource) -> Result<&str> {
    if is_issued_id(id) {
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
        let id = new_id();
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
