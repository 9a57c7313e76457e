//! API tokens: long-lived, narrow, revocable credentials for scripts and CI.
//!
//! A token is `slw_` and 43 characters of base64url (256 bits from the OS
//! CSPRNG), shown once; only its SHA-256 is stored. It is used like an
//! access token (`Authorization: Bearer slw_…`, `?token=` on `/ws`), carries
//! scopes and optionally a list of projects, never exceeds its user's role,
//! and cannot manage accounts or tokens. It is looked up in the store on
//! every use, so a revoked token stops working at once on every node.

use crate::model::{ApiTokenId, ProjectId};
use std::collections::BTreeSet;
use std::time::Duration;

use super::invitations::token_hash;
use super::{issued, new_id, validate, Core, Error, Principal, Resource, Result};
use crate::model::{ApiToken, AuditAction, Scope};
use crate::StoreError;

/// The prefix of every API token.
pub const API_TOKEN_PREFIX: &str = "slw_";

/// How often `lastUsedAt` is written at most, per token.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// The longest lifetime a token may be given (`expiresIn`): ten years.
const MAX_EXPIRES_IN: u64 = 10 * 366 * 24 * 3600;

/// An API token to create (`POST /tokens`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NewApiToken {
    /// Name, 1-100 characters.
    pub name: String,
    /// Scope names (`projects:read`, ...); at least one.
    pub scopes: Vec<String>,
    /// Lifetime in seconds (`None`: never expires).
    pub expires_in: Option<u64>,
    /// When set, the only projects (of the caller's) it reaches.
    pub project_ids: Option<Vec<ProjectId>>,
}

impl NewApiToken {
    /// A token named `name` with `scopes`, not expiring, for every project.
    pub fn new(name: impl Into<String>, scopes: &[Scope]) -> Self {
        NewApiToken {
            name: name.into(),
            scopes: scopes.iter().map(|s| s.as_str().to_string()).collect(),
            expires_in: None,
            project_ids: None,
        }
    }
    /// Expires after `seconds`.
    pub fn expires_in(mut self, seconds: u64) -> Self {
        self.expires_in = Some(seconds);
        self
    }
    /// Reaches only these projects.
    pub fn projects(mut self, ids: Vec<ProjectId>) -> Self {
        self.project_ids = Some(ids);
        self
    }
}

/// A created API token with its secret, shown this once.
#[derive(Clone)]
#[non_exhaustive]
pub struct CreatedApiToken {
    /// The stored token.
    pub token: ApiToken,
    /// `slw_…`: give it to the script; only its hash is stored.
    pub secret: String,
}

impl std::fmt::Debug for CreatedApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedApiToken")
            .field("token", &self.token)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The API token operations; see [`Slipway::tokens`](crate::Slipway::tokens).
pub struct ApiTokens<'a> {
    pub(crate) core: &'a Core,
}

impl ApiTokens<'_> {
    /// Creates an API token of the principal (not with an API token).
    pub async fn create(&self, actor: &Principal, input: NewApiToken) -> Result<CreatedApiToken> {
        self.core.refuse_api_token(actor)?;
        let user = self.core.user_of(actor).await?;
        validate::text("name", &input.name, 1, 100)?;
        if input.scopes.is_empty() {
            return Err(Error::invalid(
                "scopes",
                "scopes must name at least one scope",
            ));
        }
        let mut scopes = BTreeSet::new();
        for name in &input.scopes {
            let scope = Scope::parse(name).ok_or_else(|| {
                Error::invalid(
                    "scopes",
                    format!(
                        "unknown scope {name:?}; the scopes are {}",
                        Scope::ALL.map(Scope::as_str).join(", ")
                    ),
                )
            })?;
            scopes.insert(scope);
        }
        let now = chrono::Utc::now();
        let expires_at = match input.expires_in {
            None => None,
            Some(s) if (1..=MAX_EXPIRES_IN).contains(&s) => {
                Some(now + chrono::Duration::seconds(s as i64))
            }
            Some(_) => {
                return Err(Error::invalid(
                    "expiresIn",
                    format!("expiresIn must be a number of seconds from 1 to {MAX_EXPIRES_IN}"),
                ))
            }
        };
        let project_ids = match input.project_ids {
            None => None,
            Some(ids) => Some(self.core.own_project_ids(&user.id, ids).await?),
        };
        let secret = crate::crypto::prefixed_secret(API_TOKEN_PREFIX);
        let token = ApiToken {
            id: new_id(),
            user_id: user.id.clone(),
            name: input.name.trim().to_string(),
            scopes: scopes.into_iter().collect(),
            project_ids,
            token_hash: token_hash(&secret),
            created_at: now,
            expires_at,
            last_used_at: None,
        };
        let audit = self
            .core
            .audit(actor, AuditAction::TokenCreate)
            .target("token", &token.id);
        // The store counts the user's tokens in the write itself, exactly
        // on every store (see `Store::create_api_token`).
        let max = self.core.config.max_api_tokens_per_user;
        let token = self
            .core
            .store
            .create_api_token(token, max, &audit)
            .await
            .map_err(|e| match e {
                StoreError::Refused => Error::Forbidden(format!(
                    "API token limit reached: a user may keep at most {max} API tokens \
                     (max_api_tokens_per_user); delete one first"
                )),
                e => Error::store(Resource::ApiToken, e),
            })?;
        tracing::info!(user_id = %user.id, token_id = %token.id, "API token created");
        Ok(CreatedApiToken { token, secret })
    }

    /// The principal's API tokens, oldest first (without secrets).
    pub async fn list(&self, actor: &Principal) -> Result<Vec<ApiToken>> {
        self.core.refuse_api_token(actor)?;
        let user = self.core.user_of(actor).await?;
        self.core
            .store
            .list_api_tokens(&user.id)
            .await
            .map_err(|e| Error::store(Resource::ApiToken, e))
    }

    /// Revokes one of the principal's API tokens: it stops working at once,
    /// on every node.
    pub async fn delete(&self, actor: &Principal, id: &ApiTokenId) -> Result<()> {
        self.core.refuse_api_token(actor)?;
        let user = self.core.user_of(actor).await?;
        let id = issued(id, Resource::ApiToken)?;
        let audit = self
            .core
            .audit(actor, AuditAction::TokenRevoke)
            .target("token", id);
        self.core
            .store
            .delete_api_token(&user.id, id, &audit)
            .await
            .map_err(|e| Error::store(Resource::ApiToken, e))?;
        self.core.sessions.token_revoked();
        tracing::info!(user_id = %user.id, token_id = %id, "API token revoked");
        Ok(())
    }

    /// The principal of an API token (`slw_…`): it must exist (not revoked),
    /// not have expired, and its user must exist and not be disabled.
    pub(crate) async fn verify(&self, secret: &str) -> Result<Principal> {
        let invalid = || {
            Error::Unauthenticated(
                "The API token is invalid or was revoked; create a new one".into(),
            )
        };
        if secret.len() > 256 || !secret.starts_with(API_TOKEN_PREFIX) {
            return Err(invalid());
        }
        let token = self
            .core
            .store
            .find_api_token(&token_hash(secret))
            .await
            .map_err(|e| Error::store(Resource::ApiToken, e))?
            .ok_or_else(invalid)?;
        let now = chrono::Utc::now();
        if token.expires_at.is_some_and(|at| at <= now) {
            return Err(Error::Unauthenticated(
                "The API token has expired; create a new one".into(),
            ));
        }
        self.core
            .sessions
            .check(&*self.core.store, &token.user_id, u32::MAX)
            .await?;
        let stale = token
            .last_used_at
            .is_none_or(|at| (now - at).to_std().unwrap_or_default() >= TOUCH_EVERY);
        if stale {
            if let Err(e) = self.core.store.touch_api_token(&token.id, now).await {
                tracing::warn!(error = %e, token_id = %token.id, "could not record an API token's use");
            }
        }
        Ok(Principal::from_api_token(&token))
    }

    /// Whether the API token with this hash still works (a WebSocket checks
    /// it again while it runs).
    pub(crate) async fn still_valid(&self, token_hash: &str) -> Result<bool> {
        let token = self
            .core
            .store
            .find_api_token(token_hash)
            .await
            .map_err(|e| Error::store(Resource::ApiToken, e))?;
        Ok(token.is_some_and(|t| t.expires_at.is_none_or(|at| at > chrono::Utc::now())))
    }
}
