//! Authorizations: credentials owned by one user (GitHub OAuth tokens,
//! personal access tokens, SSH deploy keys). Secrets are sealed before they
//! reach the store and never leave the services.

use super::page::{Page, PageRequest};
use serde_json::Value;

use super::github::{for_code, upstream};
use super::{issued, new_id, validate, Core, Error, Principal, Resource, Result};
use crate::crypto::SecretString;
use crate::github::{GitHubError, GitHubUser, TokenScopes};
use crate::model::{Authorization, AuthorizationType, Sealed};

/// The scope a classic personal access token must carry.
const REQUIRED_SCOPE: &str = "repo";

/// An authorization to store.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NewAuthorization {
    /// The kind's wire name: `oauth`, `personal_access_token` or `deploy_key`.
    pub kind: String,
    /// Name, 1-100 characters.
    pub name: String,
    /// `{"code"}` for `oauth`, `{"token"}` for `personal_access_token`,
    /// `{"key"}` for `deploy_key`.
    pub data: Value,
}

impl NewAuthorization {
    /// An authorization of `kind` named `name` with its `data`.
    pub fn new(kind: impl Into<String>, name: impl Into<String>, data: Value) -> Self {
        NewAuthorization {
            kind: kind.into(),
            name: name.into(),
            data,
        }
    }
}

impl Core {
    /// Seals a user's credential with the instance key.
    pub(crate) fn seal_credential(&self, user_id: &str, secret: &SecretString) -> Sealed {
        self.keyring
            .seal(&seal_context(user_id), secret.expose().as_bytes())
    }
}

/// The associated data a user's credentials are sealed with.
fn seal_context(user_id: &str) -> String {
    format!("authorization:{user_id}")
}

/// The facts shown about a GitHub token (never the token).
pub(crate) fn github_token_info(user: &GitHubUser, scopes: &TokenScopes) -> Value {
    serde_json::json!({
        "login": user.login,
        "githubId": user.id,
        "scopes": scopes.to_json(),
        "tokenType": match scopes {
            TokenScopes::Classic(_) => "classic",
            TokenScopes::FineGrained => "fine_grained",
        },
        "verified": true,
    })
}

fn data_string<'a>(data: &'a Value, field: &str) -> Result<&'a str> {
    let name = format!("data.{field}");
    match data.get(field) {
        None | Some(Value::Null) => Err(Error::invalid(&name, format!("{name} is required"))),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
        Some(Value::String(_)) => Err(Error::invalid(&name, format!("{name} must not be empty"))),
        Some(_) => Err(Error::invalid(&name, format!("{name} must be a string"))),
    }
}

fn secret_field(data: &Value, name: &str) -> Result<SecretString> {
    let field = format!("data.{name}");
    let obj = data
        .as_object()
        .ok_or_else(|| Error::invalid("data", "data must be a JSON object"))?;
    match obj.get(name) {
        None | Some(Value::Null) => Err(Error::invalid(&field, format!("{field} is required"))),
        Some(Value::String(s)) => {
            if s.is_empty() || s.len() > 1024 {
                return Err(Error::invalid(
                    &field,
                    format!("{field} must be between 1 and 1024 characters long"),
                ));
            }
            if !s.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(Error::invalid(
                    &field,
                    format!("{field} may only contain printable ASCII characters without spaces"),
                ));
            }
            Ok(SecretString::new(s.as_str()))
        }
        Some(_) => Err(Error::invalid(
            &field,
            format!("{field} is invalid: expected a string"),
        )),
    }
}

/// The authorization operations; see
/// [`Slipway::authorizations`](crate::Slipway::authorizations).
pub struct Authorizations<'a> {
    pub(crate) core: &'a Core,
}

impl Authorizations<'_> {
    /// Checks and stores a credential of the principal, sealed. GitHub
    /// credentials are checked with GitHub; a deploy key must parse as an
    /// unencrypted private key, and its public key and fingerprint are kept.
    pub async fn create(
        &self,
        actor: &Principal,
        input: NewAuthorization,
    ) -> Result<Authorization> {
        let user = self.core.user_of(actor).await?;
        let kind = AuthorizationType::parse(&input.kind).ok_or_else(|| {
            Error::invalid(
                "type",
                "type must be one of oauth, personal_access_token, deploy_key",
            )
        })?;
        validate::text("name", &input.name, 1, 100)?;
        if !input.data.is_object() {
            return Err(Error::invalid("data", "data must be a JSON object"));
        }
        let (secret, info) = match kind {
            AuthorizationType::DeployKey => {
                let key = crate::deploy_key::parse(data_string(&input.data, "key")?)
                    .map_err(|e| Error::invalid("data.key", e.to_string()))?;
                let info = serde_json::json!({
                    "publicKey": key.public_key,
                    "fingerprint": key.fingerprint,
                });
                (key.private, info)
            }
            AuthorizationType::Oauth => self.oauth(&user.id, &input.data).await?,
            AuthorizationType::PersonalAccessToken => {
                self.personal_access_token(&user.id, &input.data).await?
            }
        };
        let sealed = self.core.seal_credential(&user.id, &secret);
        drop(secret);
        let auth = Authorization {
            id: new_id(),
            user_id: user.id,
            name: input.name,
            kind,
            secret: sealed,
            info,
            created_at: chrono::Utc::now(),
        };
        self.core
            .store
            .create_authorization(auth)
            .await
            .map_err(|e| Error::store(Resource::Authorization, e))
    }

    async fn oauth(&self, user_id: &str, data: &Value) -> Result<(SecretString, Value)> {
        let code = secret_field(data, "code")?;
        let app = self.core.require_github_app().await?;
        let gh = &self.core.github;
        let token = gh
            .exchange_code(&app, &code)
            .await
            .map_err(|e| for_code(e, "data.code"))?;
        let (gh_user, scopes) = gh.user(&token).await.map_err(upstream)?;
        tracing::info!(user_id = %user_id, github_id = gh_user.id, "GitHub OAuth code exchanged for an authorization");
        Ok((token, github_token_info(&gh_user, &scopes)))
    }

    async fn personal_access_token(
        &self,
        user_id: &str,
        data: &Value,
    ) -> Result<(SecretString, Value)> {
        let token = secret_field(data, "token")?;
        if !self.core.config.verify_personal_access_tokens {
            return Ok((token, serde_json::json!({ "verified": false })));
        }
        let (gh_user, scopes) =
            match self.core.github.user(&token).await {
                Ok(found) => found,
                Err(GitHubError::BadToken) => return Err(Error::invalid(
                    "data.token",
                    "data.token was rejected by GitHub (Bad credentials): it is wrong, expired \
                     or revoked",
                )),
                Err(e) => return Err(upstream(e)),
            };
        if let TokenScopes::Classic(list) = &scopes {
            if !list.iter().any(|s| s == REQUIRED_SCOPE) {
                return Err(Error::invalid(
                    "data.token",
                    format!(
                        "data.token is a classic personal access token without the \
                         `{REQUIRED_SCOPE}` scope; create one with the `{REQUIRED_SCOPE}` \
                         scope, or use a fine-grained token"
                    ),
                ));
            }
        }
        tracing::info!(user_id = %user_id, github_id = gh_user.id, "personal access token checked with GitHub");
        Ok((token, github_token_info(&gh_user, &scopes)))
    }

    /// Re-seals every user's stored secret under the current instance key
    /// (system principal only): each one is opened with the key that sealed
    /// it (the current one or a `previous_secret`) and sealed again with the
    /// current one. Answers how many were re-sealed; secrets already under
    /// the current key are left alone. A secret no key opens is an error
    /// naming the authorization (nothing after it is re-sealed then).
    pub async fn reseal_all(&self, actor: &Principal) -> Result<usize> {
        if !actor.is_system() {
            return Err(Error::Forbidden(
                "Re-sealing every stored secret is for the system principal".into(),
            ));
        }
        let store = &self.core.store;
        let keyring = &self.core.keyring;
        let all = store
            .all_authorizations()
            .await
            .map_err(|e| Error::store(Resource::Authorization, e))?;
        let mut resealed = 0;
        for auth in all {
            if keyring.is_current(&auth.secret) {
                continue;
            }
            let context = seal_context(&auth.user_id);
            let secret = keyring.open(&context, &auth.secret).map_err(|e| {
                Error::internal(format!(
                    "the secret of authorization {} cannot be opened ({e}): pass the secret it \
                     was sealed with as the previous secret",
                    auth.id
                ))
            })?;
            let sealed = keyring.seal(&context, secret.expose().as_bytes());
            if store
                .reseal_authorization(&auth.user_id, &auth.id, &auth.secret, sealed)
                .await
                .map_err(|e| Error::store(Resource::Authorization, e))?
            {
                resealed += 1;
            }
        }
        Ok(resealed)
    }

    /// The principal's authorizations, oldest first (without secrets).
    pub async fn list(&self, actor: &Principal) -> Result<Vec<Authorization>> {
        let user = self.core.user_of(actor).await?;
        self.core
            .store
            .list_authorizations(&user.id)
            .await
            .map_err(|e| Error::store(Resource::Authorization, e))
    }

    /// One page of the principal's authorizations, oldest first
    /// ([`PageRequest`]).
    pub async fn list_page(
        &self,
        actor: &Principal,
        page: &PageRequest,
    ) -> Result<Page<Authorization>> {
        page.apply(self.list(actor).await?, |a| a.id.as_str())
    }

    /// One of the principal's authorizations.
    pub async fn get(&self, actor: &Principal, id: &str) -> Result<Authorization> {
        let user = self.core.user_of(actor).await?;
        let id = issued(id, Resource::Authorization)?;
        self.core
            .store
            .get_authorization(&user.id, id)
            .await
            .map_err(|e| Error::store(Resource::Authorization, e))
    }

    /// Opens the secret of one of the principal's authorizations, for host
    /// code that deploys with it. Never put it in a response or a log.
    pub async fn reveal(&self, actor: &Principal, id: &str) -> Result<SecretString> {
        let auth = self.get(actor, id).await?;
        self.core
            .keyring
            .open(&seal_context(&auth.user_id), &auth.secret)
            .map_err(|e| Error::internal(format!("the credential cannot be opened: {e}")))
    }

    /// Deletes one of the principal's authorizations.
    pub async fn delete(&self, actor: &Principal, id: &str) -> Result<()> {
        let user = self.core.user_of(actor).await?;
        let id = issued(id, Resource::Authorization)?;
        self.core
            .store
            .delete_authorization(&user.id, id)
            .await
            .map_err(|e| Error::store(Resource::Authorization, e))
    }
}
