//! Authorizations: credentials owned by one user (GitHub OAuth tokens,
//! personal access tokens, SSH deploy keys). Secrets are sealed before they
//! reach the store and never leave the services.

use super::page::{Page, PageRequest};
use crate::model::AuthorizationId;
use serde_json::Value;

use super::github::{for_code, upstream};
use super::{issued, new_id, validate, Core, Error, Principal, Resource, Result};
use crate::crypto::SecretString;
use crate::github::{GitHubError, GitHubUser, TokenScopes};
use crate::model::{AuditAction, Authorization, AuthorizationType, Scope, Sealed};
use crate::StoreError;

/// The scope a classic personal access token must carry.
const REQUIRED_SCOPE: &str = "repo";

/// An authorization to store. Its `Debug` shows the keys of `data`, never
/// their values (the token, code or private key).
#[derive(Clone)]
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

impl std::fmt::Debug for NewAuthorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<&str> = match &self.data {
            Value::Object(map) => map.keys().map(String::as_str).collect(),
            _ => Vec::new(),
        };
        f.debug_struct("NewAuthorization")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("data_keys", &keys)
            .finish()
    }
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
    /// Seals a credential of record `id` (of `kind`, owned by `user_id`)
    /// with the instance key; all three are bound in the associated data,
    /// so the ciphertext opens for that record only.
    pub(crate) fn seal_credential(
        &self,
        user_id: &str,
        kind: AuthorizationType,
        id: &str,
        secret: &SecretString,
    ) -> Sealed {
        self.keyring
            .seal(&seal_context(user_id, kind, id), secret.expose().as_bytes())
    }

    /// Opens a stored credential: bound to its owner, kind and record id;
    /// records sealed before that binding (owner only) still open.
    pub(crate) fn open_credential(&self, auth: &Authorization) -> Result<SecretString> {
        let bound = seal_context(&auth.user_id, auth.kind, &auth.id);
        self.keyring
            .open(&bound, &auth.secret)
            .or_else(|_| {
                self.keyring
                    .open(&legacy_seal_context(&auth.user_id), &auth.secret)
            })
            .map_err(|e| Error::internal(format!("the credential cannot be opened: {e}")))
    }

    /// Stores `auth` with [`Store::upsert_authorization`](crate::store::Store::upsert_authorization)
    /// and `secret` sealed for the record that ends up holding it: an
    /// existing record of the same kind and name keeps its id, so the
    /// secret is sealed for that id (and sealed again if a concurrent
    /// upsert created the record meanwhile).
    pub(crate) async fn upsert_credential(
        &self,
        mut auth: Authorization,
        secret: &SecretString,
        actor: &Principal,
    ) -> Result<Authorization> {
        let store_error = |e| Error::store(Resource::Authorization, e);
        if let Some(existing) = self
            .store
            .list_authorizations(&auth.user_id)
            .await
            .map_err(store_error)?
            .into_iter()
            .find(|a| a.kind == auth.kind && a.name == auth.name)
        {
            auth.id = existing.id;
        }
        for _ in 0..3 {
            auth.secret = self.seal_credential(&auth.user_id, auth.kind, &auth.id, secret);
            let audit = self
                .audit(actor, AuditAction::AuthorizationCreate)
                .target("authorization", &auth.id);
            let stored = self
                .store
                .upsert_authorization(auth.clone(), &audit)
                .await
                .map_err(store_error)?;
            if stored.id == auth.id {
                return Ok(stored);
            }
            auth.id = stored.id;
        }
        Err(Error::internal(
            "the authorization kept changing while it was stored",
        ))
    }
}

/// The associated data a credential is sealed with: owner, kind and record
/// id, so a sealed value copied into another record (of the same user or
/// not) does not open.
fn seal_context(user_id: &str, kind: AuthorizationType, id: &str) -> String {
    format!("authorization:v2:{user_id}:{}:{id}", kind.as_str())
}

/// The associated data of credentials sealed before the record binding
/// (owner only); still accepted when opening.
fn legacy_seal_context(user_id: &str) -> String {
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

/// The 403 of a user who keeps `max` authorizations already.
fn limit_reached(max: usize) -> Error {
    Error::Forbidden(format!(
        "Authorization limit reached: a user may keep at most {max} authorizations \
         (max_authorizations_per_user); delete one first"
    ))
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
        self.core.require_scope(actor, Scope::AuthorizationsWrite)?;
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
        let max = self.core.config.max_authorizations_per_user;
        let kept = self
            .core
            .store
            .list_authorizations(&user.id)
            .await
            .map_err(|e| Error::store(Resource::Authorization, e))?
            .len();
        if kept >= max {
            // Checked before GitHub is asked, and by the store in the write.
            return Err(limit_reached(max));
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
        let id: AuthorizationId = new_id();
        let sealed = self.core.seal_credential(&user.id, kind, &id, &secret);
        drop(secret);
        let auth = Authorization {
            id,
            user_id: user.id,
            name: input.name,
            kind,
            secret: sealed,
            info,
            created_at: chrono::Utc::now(),
        };
        let audit = self
            .core
            .audit(actor, AuditAction::AuthorizationCreate)
            .target("authorization", &auth.id);
        // Counted again in the write (exact where the store's writes are
        // serialized; see `Store::create_authorization`).
        self.core
            .store
            .create_authorization(auth, max, &audit)
            .await
            .map_err(|e| match e {
                StoreError::Refused => limit_reached(max),
                e => Error::store(Resource::Authorization, e),
            })
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
            let secret = self.core.open_credential(&auth).map_err(|e| {
                Error::internal(format!(
                    "the secret of authorization {} cannot be opened ({e}): pass the secret it \
                     was sealed with as the previous secret",
                    auth.id
                ))
            })?;
            let sealed = self
                .core
                .seal_credential(&auth.user_id, auth.kind, &auth.id, &secret);
            let audit = self
                .core
                .audit(actor, AuditAction::AuthorizationReseal)
                .target("authorization", &auth.id);
            if store
                .reseal_authorization(&auth.user_id, &auth.id, &auth.secret, sealed, &audit)
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
        self.core.require_scope(actor, Scope::AuthorizationsRead)?;
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
    pub async fn get(&self, actor: &Principal, id: &AuthorizationId) -> Result<Authorization> {
        self.core.require_scope(actor, Scope::AuthorizationsRead)?;
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
    pub async fn reveal(&self, actor: &Principal, id: &AuthorizationId) -> Result<SecretString> {
        let auth = self.get(actor, id).await?;
        self.core.open_credential(&auth)
    }

    /// Deletes one of the principal's authorizations.
    pub async fn delete(&self, actor: &Principal, id: &AuthorizationId) -> Result<()> {
        self.core.require_scope(actor, Scope::AuthorizationsWrite)?;
        let user = self.core.user_of(actor).await?;
        let id = issued(id, Resource::Authorization)?;
        let audit = self
            .core
            .audit(actor, AuditAction::AuthorizationDelete)
            .target("authorization", id);
        self.core
            .store
            .delete_authorization(&user.id, id, &audit)
            .await
            .map_err(|e| Error::store(Resource::Authorization, e))
    }
}

#[cfg(all(test, feature = "memory"))]
mod sealing_tests {
    use super::*;
    use crate::services::NewAccount;
    use crate::{MemoryStore, Slipway};

    fn record(
        user_id: &crate::model::UserId,
        kind: AuthorizationType,
        name: &str,
    ) -> Authorization {
        Authorization {
            id: new_id(),
            user_id: user_id.clone(),
            name: name.to_string(),
            kind,
            secret: Sealed(Vec::new()),
            info: serde_json::json!({}),
            created_at: chrono::Utc::now(),
        }
    }

    /// A sealed credential opens only in the record it was sealed for: moved
    /// into another record of the same owner and kind, or of another kind, it
    /// does not open. Records sealed the old way (owner only) still open.
    #[tokio::test]
    async fn credentials_are_bound_to_owner_kind_and_record() {
        let slipway = Slipway::builder()
            .secret(b"an instance secret of at least 32 bytes!".to_vec())
            .store(MemoryStore::new())
            .build()
            .unwrap();
        let core = &slipway.inner.core;
        let ada = slipway
            .accounts()
            .find_or_create(NewAccount::new("Ada", "ada@example.com"))
            .await
            .unwrap();
        let secret = SecretString::new("ghp_first-secret-value");
        let mut a = record(&ada.id, AuthorizationType::PersonalAccessToken, "a");
        a.secret = core.seal_credential(&ada.id, a.kind, &a.id, &secret);
        assert_eq!(core.open_credential(&a).unwrap().expose(), secret.expose());

        // The same bytes in another record of the same owner and kind.
        let mut b = record(&ada.id, AuthorizationType::PersonalAccessToken, "b");
        b.secret = a.secret.clone();
        assert!(core.open_credential(&b).is_err(), "bound to the record id");
        // The same record id under another kind.
        let mut c = a.clone();
        c.kind = AuthorizationType::DeployKey;
        assert!(core.open_credential(&c).is_err(), "bound to the kind");
        // The same record under another owner.
        let mut d = a.clone();
        d.user_id = new_id();
        assert!(core.open_credential(&d).is_err(), "bound to the owner");

        // Sealed the old way: still readable.
        let mut legacy = record(&ada.id, AuthorizationType::Oauth, "legacy");
        legacy.secret = core
            .keyring
            .seal(&legacy_seal_context(&ada.id), b"gho_legacy-token");
        let stored = core
            .store
            .create_authorization(
                legacy,
                usize::MAX,
                &core.audit(&Principal::system(), AuditAction::AuthorizationCreate),
            )
            .await
            .unwrap();
        let principal = Principal::user(ada.clone());
        let opened = slipway
            .authorizations()
            .reveal(&principal, &stored.id)
            .await
            .unwrap();
        assert_eq!(opened.expose(), "gho_legacy-token");
    }

    /// An upsert that replaces an existing record's secret seals it for that
    /// record's id, so it opens.
    #[tokio::test]
    async fn upserted_credentials_open_under_the_kept_id() {
        let slipway = Slipway::builder()
            .secret(b"an instance secret of at least 32 bytes!".to_vec())
            .store(MemoryStore::new())
            .build()
            .unwrap();
        let core = &slipway.inner.core;
        let ada = slipway
            .accounts()
            .find_or_create(NewAccount::new("Ada", "ada@example.com"))
            .await
            .unwrap();
        let first = core
            .upsert_credential(
                record(&ada.id, AuthorizationType::Oauth, "octo"),
                &SecretString::new("gho_first"),
                &Principal::user(ada.clone()),
            )
            .await
            .unwrap();
        let second = core
            .upsert_credential(
                record(&ada.id, AuthorizationType::Oauth, "octo"),
                &SecretString::new("gho_second"),
                &Principal::user(ada.clone()),
            )
            .await
            .unwrap();
        assert_eq!(first.id, second.id);
        let principal = Principal::user(ada);
        let opened = slipway
            .authorizations()
            .reveal(&principal, &second.id)
            .await
            .unwrap();
        assert_eq!(opened.expose(), "gho_second");
    }
}

#[cfg(test)]
mod tests {
    use super::NewAuthorization;

    #[test]
    fn debug_shows_the_data_keys_never_the_credential() {
        let input = NewAuthorization::new(
            "personal_access_token",
            "ci",
            serde_json::json!({"token": "ghp_secretsecretsecret"}),
        );
        for shown in [format!("{input:?}"), format!("{input:#?}")] {
            assert!(!shown.contains("ghp_secret"), "{shown}");
            assert!(shown.contains("token"), "{shown}");
            assert!(shown.contains("personal_access_token"), "{shown}");
        }
    }
}
