//! `POST /authorization`, `GET /authorization`, `GET|DELETE /authorization/{id}`.
//!
//! Authorizations are credentials a user keeps for the platform to act with:
//! GitHub OAuth tokens, personal access tokens and SSH deploy keys. They are
//! owned by their creator (another user's is a 404). The secret part is sealed
//! with the instance keyring (XChaCha20-Poly1305, key derived from the
//! instance secret) bound to the owner, and
//! never appears in a response, a log line or an event; responses show only
//! the non-secret facts kept in `Authorization.info` (`publicKey`,
//! `fingerprint` for deploy keys; what the GitHub checks record for tokens).

use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::http::{json_response, no_content, ApiError, ApiRequest, ErrorBody, Response};
use crate::model::{Authorization, AuthorizationType};
use crate::services::NewAuthorization;
use crate::Slipway;

/// The AEAD context an authorization's secret is sealed with: it binds the
/// ciphertext to its owner, so it cannot be moved to another user's record.
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
    out.insert("id".into(), Value::String(a.id.to_string()));
    out.insert("name".into(), Value::String(a.name.clone()));
    out.insert("type".into(), Value::String(a.kind.as_str().into()));
    out.insert(
        "createdAt".into(),
        serde_json::to_value(a.created_at).unwrap_or(Value::Null),
    );
    Value::Object(out)
}

#[utoipa::path(
    post, path = "/authorization", tag = "authorizations", operation_id = "createAuthorization",
    security(("bearer" = [])),
    request_body = CreateAuthorization,
    responses(
        (status = 201, description = "Stored; the secret is sealed and never returned", body = AuthorizationView),
        (status = 400, description = "Invalid input (unknown type, bad or encrypted key, \
            rejected token), or GitHub is not configured", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "The caller keeps max_authorizations_per_user authorizations already (the message names the limit)", body = ErrorBody),
        (status = 502, description = "GitHub answered badly", body = ErrorBody),
        (status = 504, description = "GitHub did not answer in time", body = ErrorBody),
    )
)]
pub(crate) async fn create(slipway: Slipway, req: ApiRequest) -> Result<Response, ApiError> {
    let actor = req.principal(&slipway).await?;
    let body: CreateAuthorization = req.json()?;
    let input = NewAuthorization {
        kind: body.kind,
        name: body.name,
        data: body.data,
    };
    let auth = slipway.authorizations().create(&actor, input).await?;
    Ok(json_response(StatusCode::CREATED, &view(&auth)))
}

#[utoipa::path(
    get, path = "/authorization", tag = "authorizations", operation_id = "listAuthorizations",
    security(("bearer" = [])),
    params(crate::http::handlers::PageParams),
    responses(
        (status = 200, description = "The caller's authorizations, oldest first", body = [AuthorizationView],
            headers(("Link" = String, description = "`<authorization?limit=N&after=ID>; rel=\"next\"` when more items follow"))),
        (status = 400, description = "`limit` is not 1-1000, or `after` names no authorization of the list", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
    )
)]
pub(crate) async fn list(slipway: Slipway, req: ApiRequest) -> Result<Response, ApiError> {
    let actor = req.principal(&slipway).await?;
    let page = req.page()?;
    let auths = slipway.authorizations().list_page(&actor, &page).await?;
    let views: Vec<Value> = auths.items.iter().map(view).collect();
    Ok(req.page_response(&page, &views, auths.next_after.as_deref()))
}

#[utoipa::path(
    get, path = "/authorization/{id}", tag = "authorizations", operation_id = "getAuthorization",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Authorization id")),
    responses(
        (status = 200, description = "The authorization (without its secret)", body = AuthorizationView),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such authorization of the caller", body = ErrorBody),
    )
)]
pub(crate) async fn get(slipway: Slipway, mut req: ApiRequest) -> Result<Response, ApiError> {
    let actor = req.principal(&slipway).await?;
    let auth = slipway.authorizations().get(&actor, &req.id("id")).await?;
    Ok(json_response(StatusCode::OK, &view(&auth)))
}

#[utoipa::path(
    delete, path = "/authorization/{id}", tag = "authorizations", operation_id = "deleteAuthorization",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Authorization id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such authorization of the caller", body = ErrorBody),
    )
)]
pub(crate) async fn delete(slipway: Slipway, mut req: ApiRequest) -> Result<Response, ApiError> {
    let actor = req.principal(&slipway).await?;
    slipway
        .authorizations()
        .delete(&actor, &req.id("id"))
        .await?;
    Ok(no_content())
}
