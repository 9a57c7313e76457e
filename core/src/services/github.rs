//! GitHub: the instance's OAuth app (admin-only configuration, its secret
//! sealed at rest) and the mapping of GitHub's failures to [`Error`]s.
//!
//! The app is kept as the `github` setting: `{"clientId": "...",
//! "clientSecret": "<base64 of the sealed bytes>", "updatedAt": "...",
//! "updatedBy": "<user id>"}`.

use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::{Core, Error, Principal, Resource, Result, Upstream};
use crate::crypto::SecretString;
use crate::github::{clean, GitHubApp, GitHubError, BAD_CODE, INCORRECT_CREDENTIALS};
use crate::model::{AuditAction, Sealed};

/// The setting key.
const SETTING: &str = "github";
/// The sealing context of the client secret.
const SEAL_CONTEXT: &str = "setting:github:client_secret";
/// The code sent to check an app's credentials: GitHub answers
/// `bad_verification_code` for good credentials.
const PROBE_CODE: &str = "slipway-credential-check";

/// What a sign-in page needs to know (public: no secret in it).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PublicConfiguration {
    /// The configured OAuth app's client id; `None` when GitHub is not
    /// configured.
    pub github_client_id: Option<String>,
    /// Where a front end sends users to sign in with GitHub.
    pub github_authorize_url: String,
}

/// An OAuth app's credentials to store.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GitHubSettings {
    /// The app's client id (1-100 printable characters).
    pub client_id: String,
    /// The app's client secret (1-200 printable characters).
    pub client_secret: SecretString,
}

impl GitHubSettings {
    /// Credentials of an OAuth app.
    pub fn new(client_id: impl Into<String>, client_secret: SecretString) -> Self {
        GitHubSettings {
            client_id: client_id.into(),
            client_secret,
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    client_id: String,
    client_secret: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    updated_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    updated_by: Option<String>,
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

fn credential(field: &str, value: &str, max: usize) -> Result<()> {
    if value.is_empty() || value.len() > max {
        return Err(Error::invalid(
            field,
            format!("{field} must be between 1 and {max} characters long"),
        ));
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::invalid(
            field,
            format!(
                "{field} may only contain printable ASCII characters without spaces; copy it \
                 again from the OAuth app's settings"
            ),
        ));
    }
    Ok(())
}

impl Core {
    async fn stored_app(&self) -> Result<Option<Stored>> {
        let value = self
            .store
            .get_setting(SETTING)
            .await
            .map_err(|e| Error::store(Resource::Setting, e))?;
        match value {
            None => Ok(None),
            Some(v) => serde_json::from_value(v)
                .map(Some)
                .map_err(|e| Error::internal(format!("the stored GitHub setting is invalid: {e}"))),
        }
    }

    /// Re-seals the stored GitHub client secret under the current instance
    /// key `true` when it was re-sealed, `false`
    /// when no app is configured or it is under the current key already.
    pub(crate) async fn reseal_github_secret(&self) -> Result<bool> {
        let Some(mut stored) = self.stored_app().await? else {
            return Ok(false);
        };
        let sealed = Sealed(
            b64()
                .decode(stored.client_secret.as_bytes())
                .map_err(|_| Error::internal("the stored GitHub client secret is not base64"))?,
        );
        if self.keyring.is_current(&sealed) {
            return Ok(false);
        }
        let secret = self.keyring.open(SEAL_CONTEXT, &sealed).map_err(|e| {
            Error::internal(format!(
                "the GitHub client secret cannot be opened ({e}): pass the secret it was sealed \
                 with as the previous secret"
            ))
        })?;
        let resealed = self.keyring.seal(SEAL_CONTEXT, secret.expose().as_bytes());
        stored.client_secret = b64().encode(&resealed.0);
        let value = serde_json::to_value(&stored).map_err(Error::internal)?;
        let audit = self
            .audit(&Principal::system(), AuditAction::GitHubConfigure)
            .target("setting", SETTING);
        self.store
            .put_setting(SETTING, value, &audit)
            .await
            .map_err(|e| Error::store(Resource::Setting, e))?;
        Ok(true)
    }

    /// The configured app with its secret opened, if any.
    pub(crate) async fn github_app(&self) -> Result<Option<GitHubApp>> {
        let Some(stored) = self.stored_app().await? else {
            return Ok(None);
        };
        let sealed = b64()
            .decode(stored.client_secret.as_bytes())
            .map_err(|_| Error::internal("the stored GitHub client secret is not base64"))?;
        let secret = self
            .keyring
            .open(SEAL_CONTEXT, &Sealed(sealed))
            .map_err(|e| {
                tracing::error!(error = %e, "the GitHub client secret cannot be opened");
                Error::invalid(
                    "",
                    "The stored GitHub client secret cannot be decrypted (was the instance secret \
                     changed without --previous-secret?); an admin must set it again with POST \
                     /configuration/github",
                )
            })?;
        Ok(Some(GitHubApp {
            client_id: stored.client_id,
            client_secret: secret,
        }))
    }

    /// The configured app, or the 400 saying how to configure one.
    pub(crate) async fn require_github_app(&self) -> Result<GitHubApp> {
        self.github_app().await?.ok_or_else(not_configured)
    }
}

/// The GitHub configuration operations; see
/// [`Slipway::github`](crate::Slipway::github).
pub struct GitHubConfiguration<'a> {
    pub(crate) core: &'a Core,
}

impl GitHubConfiguration<'_> {
    /// Re-seals the stored GitHub client secret under the current instance
    /// key (system principal only): `true` when it was re-sealed, `false`
    /// when no app is configured or it is under the current key already.
    pub async fn reseal(&self, actor: &Principal) -> Result<bool> {
        if !actor.is_system() {
            return Err(Error::Forbidden(
                "Re-sealing stored secrets is for the system principal".into(),
            ));
        }
        self.core.reseal_github_secret().await
    }

    /// The public configuration (no principal needed).
    pub async fn public(&self) -> Result<PublicConfiguration> {
        Ok(PublicConfiguration {
            github_client_id: self.core.stored_app().await?.map(|s| s.client_id),
            github_authorize_url: self.core.github.authorize_url(),
        })
    }

    /// Checks an OAuth app's credentials with GitHub and stores them, the
    /// secret sealed (admin). Replaces an earlier app.
    pub async fn configure(
        &self,
        actor: &Principal,
        settings: GitHubSettings,
    ) -> Result<PublicConfiguration> {
        self.core.refuse_api_token(actor)?;
        let admin = self.core.require_admin(actor).await?;
        let client_id = settings.client_id.trim().to_string();
        credential("client_id", &client_id, 100)?;
        credential("client_secret", settings.client_secret.expose(), 200)?;
        let app = GitHubApp {
            client_id,
            client_secret: settings.client_secret,
        };
        let probe = SecretString::new(PROBE_CODE);
        match self.core.github.exchange_code(&app, &probe).await {
            Err(GitHubError::Rejected { error, .. }) if error == BAD_CODE => {}
            Ok(_token) => {}
            Err(GitHubError::Rejected { error, .. }) if error == INCORRECT_CREDENTIALS => {
                return Err(Error::invalid(
                    "client_secret",
                    "client_id and client_secret were rejected by GitHub \
                     (incorrect_client_credentials); copy both again from the OAuth app's \
                     settings page",
                ));
            }
            Err(GitHubError::Rejected { error, .. }) => {
                return Err(Error::invalid(
                    "client_id",
                    format!(
                        "GitHub did not accept client_id and client_secret ({}); check the OAuth \
                         app's settings",
                        clean(&error)
                    ),
                ));
            }
            Err(e) => return Err(upstream(e)),
        }
        let updated_by = admin.as_ref().map(|a| a.id.to_string());
        let sealed = self
            .core
            .keyring
            .seal(SEAL_CONTEXT, app.client_secret.expose().as_bytes());
        let stored = Stored {
            client_id: app.client_id.clone(),
            client_secret: b64().encode(&sealed.0),
            updated_at: Some(chrono::Utc::now()),
            updated_by: updated_by.clone(),
        };
        let value = serde_json::to_value(&stored).map_err(Error::internal)?;
        let audit = self
            .core
            .audit(actor, AuditAction::GitHubConfigure)
            .target("setting", SETTING);
        self.core
            .store
            .put_setting(SETTING, value, &audit)
            .await
            .map_err(|e| Error::store(Resource::Setting, e))?;
        tracing::info!(user_id = ?updated_by, client_id = %app.client_id, "GitHub OAuth app configured");
        Ok(PublicConfiguration {
            github_client_id: Some(app.client_id),
            github_authorize_url: self.core.github.authorize_url(),
        })
    }
}

fn humanize(t: Duration) -> String {
    if t.subsec_millis() == 0 {
        format!("{} s", t.as_secs())
    } else {
        format!("{} ms", t.as_millis())
    }
}

/// The 400 when no OAuth app is configured.
fn not_configured() -> Error {
    Error::invalid(
        "",
        "GitHub is not configured on this instance: an admin must register a GitHub OAuth app \
         and send its client_id and client_secret to POST /configuration/github",
    )
}

/// The answer for an upstream failure that the caller cannot fix by changing
/// its input: 502, or 504 on timeout. Logs the cause (no secrets).
pub(crate) fn upstream(e: GitHubError) -> Error {
    tracing::warn!(error = %e, "GitHub request failed");
    let gh = Upstream::GitHub;
    match e {
        GitHubError::Timeout(t) => Error::upstream_timeout(
            gh,
            format!(
                "GitHub did not answer within {}; try again later",
                humanize(t)
            ),
        ),
        GitHubError::Unreachable(_) => Error::upstream(
            gh,
            "GitHub could not be reached; try again later or check the GitHub URL settings",
        ),
        GitHubError::Status(s) => Error::upstream(
            gh,
            format!("GitHub answered with an error (HTTP {s}); try again later"),
        ),
        GitHubError::Malformed(_) => Error::upstream(
            gh,
            "GitHub sent a reply Slipway could not understand; try again later",
        ),
        GitHubError::BadToken => {
            Error::upstream(gh, "GitHub refused the token it had just issued; try again")
        }
        GitHubError::Rejected { error, .. } => Error::upstream(
            gh,
            format!(
                "GitHub refused the request ({}); try again later",
                clean(&error)
            ),
        ),
    }
}

/// The answer when a code submitted in `field` was exchanged: a rejected code
/// is the caller's 400 naming GitHub's error; a rejected app is the admin's
/// problem (502); the rest is [`upstream`].
pub(crate) fn for_code(e: GitHubError, field: &str) -> Error {
    match e {
        GitHubError::Rejected { error, description } if error != INCORRECT_CREDENTIALS => {
            let why = description
                .map(|d| format!(": {}", clean(&d)))
                .unwrap_or_default();
            Error::invalid(
                field,
                format!(
                    "{field} was rejected by GitHub ({}){why}; start the GitHub sign-in again to \
                     get a new code",
                    clean(&error)
                ),
            )
        }
        GitHubError::Rejected { .. } => {
            tracing::warn!("GitHub rejected the configured OAuth app credentials");
            Error::upstream(
                Upstream::GitHub,
                "GitHub rejected this instance's OAuth app credentials \
                 (incorrect_client_credentials); an admin must set them again with \
                 POST /configuration/github",
            )
        }
        other => upstream(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_field_and_error() {
        let e = for_code(
            GitHubError::Rejected {
                error: BAD_CODE.into(),
                description: Some("The code passed is incorrect or expired.".into()),
            },
            "code",
        );
        assert!(matches!(&e, Error::Invalid { field, .. } if field == "code"));
        assert!(e
            .to_string()
            .starts_with("code was rejected by GitHub (bad_verification_code)"));
        let e = for_code(GitHubError::Timeout(Duration::from_millis(300)), "code");
        assert!(matches!(
            e,
            Error::Upstream {
                timed_out: true,
                ..
            }
        ));
        assert!(e.to_string().contains("300 ms"));
        let e = upstream(GitHubError::Status(503));
        assert!(matches!(
            e,
            Error::Upstream {
                service: Upstream::GitHub,
                timed_out: false,
                ..
            }
        ));
    }
}
