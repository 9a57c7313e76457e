//! GitHub-backed authorizations (`oauth`, `personal_access_token`).
//!
//! `prepare` checks the submitted data with GitHub and returns the secret to
//! seal plus the non-secret facts to keep in `Authorization.info`.

use crate::crypto::SecretString;
use crate::error::ApiError;
use crate::model::{AuthorizationType, User};
use crate::Slipway;

/// Checks `data` of an `oauth` or `personal_access_token` authorization and
/// returns the secret to store and the non-secret `info` object.
pub(crate) async fn prepare(
    slipway: &Slipway,
    user: &User,
    kind: AuthorizationType,
    data: &serde_json::Value,
) -> Result<(SecretString, serde_json::Value), ApiError> {
    let _ = (slipway, user, kind, data);
    Err(ApiError::bad_request(
        "GitHub is not configured: an admin must POST /configuration/github first",
    ))
}
