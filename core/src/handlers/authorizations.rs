//! `POST /authorization`, `GET /authorization`, `GET|DELETE /authorization/{id}`.
//!
//! Authorizations are credentials a user keeps for the platform to act with:
//! GitHub OAuth tokens, personal access tokens and SSH deploy keys. They are
//! owned by their creator (another user's is a 404). The secret part is sealed
//! with the instance keyring (XChaCha20-Poly1305, key derived from the
//! instance secret) bound to the context [`seal_context`] of the owner, and
//! never appears in a response, a log line or an event; responses show only
//! the non-secret facts kept in `Authorization.info` (`publicKey`,
//! `fingerprint` for deploy keys; what the GitHub checks record for tokens).

use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::http::{json_response, no_content, ApiRequest, Response};
use crate::model::{Authorization, AuthorizationType};
use crate::{deploy_key, validate, Slipway};

/// The AEAD context an authorization's secret is sealed with: it binds the
/// ciphertext to its owner, so it cannot be moved to another user's record.
pub(crate) fn seal_context(user_id: &str) -> String {
    format!("authorization:{user_id}")
}

/// Body of `POST /authorization`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateAuthorization {
    /// `oauth`, `personal_access_token` or `deploy_key`.
    #[serde(rename = "type")]
    #[schema(value_type = AuthorizationType)]
    kind: String,
    /// A name for it, 1-100 characters.
    #[schema(min_length = 1, max_length = 100, example = "deploy key of the blog")]
    name: String,
    /// `{code}` for `oauth`, `{token}` for `personal_access_token`, `{key}`
    /// (an unencrypted OpenSSH or PEM private key) for `deploy_key`.
    #[schema(value_type = Object)]
    data: Value,
}

/// An authorization as its owner sees it: never the secret.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AuthorizationView {
    /// Authorization id.
    id: String,
    /// Its name.
    name: String,
    /// Its kind.
    #[serde(rename = "type")]
    kind: AuthorizationType,
    /// Creation time.
    created_at: chrono::DateTime<chrono::Utc>,
    /// Deploy keys: the OpenSSH public key to register on the Git host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI...")]
    public_key: Option<String>,
    /// Deploy keys: the `SHA256:` fingerprint of the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "SHA256:uN4bXl3ChmOiREB/iTdtmCJzUYWM4xqEz4zJ8gXDf3I")]
    fingerprint: Option<String>,
}

/// The JSON view: the fixed fields plus the non-secret `info` facts.
fn view(a: &Authorization) -> Value {
    let mut out = Map::new();
    if let Value::Object(info) = &a.info {
        for (k, v) in info {
            out.insert(k.clone(), v.clone());
        }
    }
    out.insert("id".into(), Value::String(a.id.clone()));
    out.insert("name".into(), Value::String(a.name.clone()));
    out.insert("type".into(), Value::String(a.kind.as_str().into()));
    out.insert(
        "createdAt".into(),
        serde_json::to_value(a.created_at).unwrap_or(Value::Null),
    );
    Value::Object(out)
}

fn data_string<'a>(data: &'a Value, field: &str) -> Result<&'a str, ApiError> {
    match data.get(field) {
        None | Some(Value::Null) => Err(ApiError::bad_request(format!("data.{field} is required"))),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
        Some(Value::String(_)) => Err(ApiError::bad_request(format!(
            "data.{field} must not be empty"
        ))),
        Some(_) => Err(ApiError::bad_request(format!(
            "data.{field} must be a string"
        ))),
    }
}

#[utoipa::path(
    post, path = "/authorization", tag = "authorizations",
    security(("bearer" = [])),
    request_body = CreateAuthorization,
    responses(
        (status = 201, description = "Stored; the secret is sealed and never returned", body = AuthorizationView),
        (status = 400, description = "Invalid input (unknown type, bad or encrypted key, \
            rejected token), or GitHub is not configured", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 502, description = "GitHub answered badly", body = ErrorBody),
        (status = 504, description = "GitHub did not answer in time", body = ErrorBody),
    )
)]
pub(crate) async fn create(slipway: Slipway, req: ApiRequest) -> Result<Response, ApiError> {
    let user = super::current_user(&slipway, &req).await?;
    let body: CreateAuthorization = req.json()?;
    let kind = AuthorizationType::parse(&body.kind).ok_or_else(|| {
        ApiError::bad_request("type must be one of oauth, personal_access_token, deploy_key")
    })?;
    validate::text("name", &body.name, 1, 100)?;
    if !body.data.is_object() {
        return Err(ApiError::bad_request("data must be a JSON object"));
    }
    let (secret, info) = match kind {
        AuthorizationType::DeployKey => {
            let key = deploy_key::parse(data_string(&body.data, "key")?)?;
            let info = serde_json::json!({
                "publicKey": key.public_key,
                "fingerprint": key.fingerprint,
            });
            (key.private, info)
        }
        AuthorizationType::Oauth | AuthorizationType::PersonalAccessToken => {
            super::authorizations_github::prepare(&slipway, &user, kind, &body.data).await?
        }
    };
    let sealed = slipway
        .inner
        .keyring
        .seal(&seal_context(&user.id), secret.expose().as_bytes());
    drop(secret);
    let auth = Authorization {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: user.id.clone(),
        name: body.name,
        kind,
        secret: sealed,
        info,
        created_at: chrono::Utc::now(),
    };
    let auth = slipway
        .store()
        .create_authorization(auth)
        .await
        .map_err(|e| ApiError::from_store(e, "Authorization"))?;
    Ok(json_response(StatusCode::CREATED, &view(&auth)))
}

#[utoipa::path(
    get, path = "/authorization", tag = "authorizations",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's authorizations, oldest first", body = [AuthorizationView]),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
    )
)]
pub(crate) async fn list(slipway: Slipway, req: ApiRequest) -> Result<Response, ApiError> {
    let user = super::current_user(&slipway, &req).await?;
    let auths = slipway
        .store()
        .list_authorizations(&user.id)
        .await
        .map_err(|e| ApiError::from_store(e, "Authorization"))?;
    let views: Vec<Value> = auths.iter().map(view).collect();
    Ok(json_response(StatusCode::OK, &views))
}

#[utoipa::path(
    get, path = "/authorization/{id}", tag = "authorizations",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Authorization id")),
    responses(
        (status = 200, description = "The authorization (without its secret)", body = AuthorizationView),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such authorization of the caller", body = ErrorBody),
    )
)]
pub(crate) async fn get(slipway: Slipway, req: ApiRequest) -> Result<Response, ApiError> {
    let user = super::current_user(&slipway, &req).await?;
    let auth = slipway
        .store()
        .get_authorization(&user.id, req.param("id"))
        .await
        .map_err(|e| ApiError::from_store(e, "Authorization"))?;
    Ok(json_response(StatusCode::OK, &view(&auth)))
}

#[utoipa::path(
    delete, path = "/authorization/{id}", tag = "authorizations",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Authorization id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such authorization of the caller", body = ErrorBody),
    )
)]
pub(crate) async fn delete(slipway: Slipway, req: ApiRequest) -> Result<Response, ApiError> {
    let user = super::current_user(&slipway, &req).await?;
    slipway
        .store()
        .delete_authorization(&user.id, req.param("id"))
        .await
        .map_err(|e| ApiError::from_store(e, "Authorization"))?;
    Ok(no_content())
}
