//! The instance's GitHub OAuth app, kept as the `github` setting with its
//! client secret sealed by the keyring.
//!
//! Stored JSON: `{"clientId": "...", "clientSecret": "<base64 of the sealed
//! bytes>", "updatedAt": "...", "updatedBy": "<user id>"}`.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::crypto::SecretString;
use crate::error::ApiError;
use crate::model::Sealed;
use crate::Slipway;

/// The setting key.
pub(crate) const SETTING: &str = "github";
/// The sealing context of the client secret.
const SEAL_CONTEXT: &str = "setting:github:client_secret";

/// A configured OAuth app.
#[derive(Debug, Clone)]
pub(crate) struct GitHubApp {
    /// The app's client id (public).
    pub(crate) client_id: String,
    /// The app's client secret.
    pub(crate) client_secret: SecretString,
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

async fn read(slipway: &Slipway) -> Result<Option<Stored>, ApiError> {
    let value = slipway
        .store()
        .get_setting(SETTING)
        .await
        .map_err(|e| ApiError::from_store(e, "Setting"))?;
    match value {
        None => Ok(None),
        Some(v) => serde_json::from_value(v)
            .map(Some)
            .map_err(|e| ApiError::internal(format!("the stored GitHub setting is invalid: {e}"))),
    }
}

/// The configured client id, if any (no decryption).
pub(crate) async fn client_id(slipway: &Slipway) -> Result<Option<String>, ApiError> {
    Ok(read(slipway).await?.map(|s| s.client_id))
}

/// The configured app with its secret opened, if any.
pub(crate) async fn load(slipway: &Slipway) -> Result<Option<GitHubApp>, ApiError> {
    let Some(stored) = read(slipway).await? else {
        return Ok(None);
    };
    let sealed = b64()
        .decode(stored.client_secret.as_bytes())
        .map_err(|_| ApiError::internal("the stored GitHub client secret is not base64"))?;
    let secret = slipway
        .inner
        .keyring
        .open(SEAL_CONTEXT, &Sealed(sealed))
        .map_err(|e| {
            tracing::error!(error = %e, "the GitHub client secret cannot be opened");
            ApiError::bad_request(
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

/// Stores (replaces) the app, sealing its secret.
pub(crate) async fn save(
    slipway: &Slipway,
    app: &GitHubApp,
    updated_by: &str,
) -> Result<(), ApiError> {
    let sealed = slipway
        .inner
        .keyring
        .seal(SEAL_CONTEXT, app.client_secret.expose().as_bytes());
    let stored = Stored {
        client_id: app.client_id.clone(),
        client_secret: b64().encode(&sealed.0),
        updated_at: Some(chrono::Utc::now()),
        updated_by: Some(updated_by.to_string()),
    };
    let value = serde_json::to_value(&stored).map_err(ApiError::internal)?;
    slipway
        .store()
        .put_setting(SETTING, value)
        .await
        .map_err(|e| ApiError::from_store(e, "Setting"))
}
