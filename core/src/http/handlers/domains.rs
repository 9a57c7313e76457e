//! `POST /domains` (admin), `GET /domains`, `GET|DELETE /domains/{id}`,
//! `POST /domains/{id}/verify` (admin).
//!
//! Domains are instance-wide: admins write them, every signed-in user reads
//! them. A domain becomes `linked` only through verification: its challenge
//! must be published as a TXT record at `_slipway-challenge.<domain>`.
//! Linking is sticky: a later check that does not find the record leaves a
//! linked domain linked (ownership was proven once; networks depend on it).

use http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::http::{json_response, no_content, ApiError, ApiRequest, ErrorBody, Response};
use crate::model::Domain;
use crate::services::{challenge_name, NewDomain};
use crate::Slipway;

/// Body of `POST /domains`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateDomain {
    /// Domain name (lowercased, trailing dot removed), unique.
    #[schema(
        example = "example.com",
        max_length = 254,
        pattern = "^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.?$"
    )]
    domain: String,
    /// TXT challenge value, 1-255 visible ASCII characters; 32 random
    /// characters from a CSPRNG when absent.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 255, pattern = "^[!-~]+$")]
    challenge: Option<String>,
    /// Whether this is the instance's main domain (at most one).
    main: bool,
    /// Must be `false` or absent: only verification links a domain.
    #[serde(default)]
    linked: Option<bool>,
}

/// The DNS record that proves ownership of a domain.
#[derive(Serialize, Deserialize, ToSchema)]
pub(crate) struct ChallengeRecord {
    /// Record name: `_slipway-challenge.<domain>`.
    #[schema(example = "_slipway-challenge.example.com")]
    name: String,
    /// Always `TXT`.
    #[serde(rename = "type")]
    #[schema(example = "TXT")]
    kind: String,
    /// Record value: the challenge.
    value: String,
}

/// A registered domain.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DomainView {
    /// Domain id.
    id: String,
    /// Domain name.
    #[schema(
        example = "example.com",
        max_length = 253,
        pattern = "^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
    )]
    domain: String,
    /// The TXT challenge value.
    challenge: String,
    /// Whether this is the main domain.
    main: bool,
    /// Whether ownership was verified through DNS.
    linked: bool,
    /// The TXT record to publish for verification.
    challenge_record: ChallengeRecord,
    /// Creation time.
    #[serde(serialize_with = "crate::model::rfc3339::serialize")]
    created_at: chrono::DateTime<chrono::Utc>,
}

impl From<Domain> for DomainView {
    fn from(d: Domain) -> Self {
        DomainView {
            challenge_record: ChallengeRecord {
                name: challenge_name(&d.domain),
                kind: "TXT".to_string(),
                value: d.challenge.clone(),
            },
            id: d.id.into_string(),
            domain: d.domain,
            challenge: d.challenge,
            main: d.main,
            linked: d.linked,
            created_at: d.created_at,
        }
    }
}

#[utoipa::path(
    post, path = "/domains", tag = "domains", operation_id = "createDomain",
    security(("bearer" = [])),
    request_body = CreateDomain,
    responses(
        (status = 201, description = "Registered (not linked yet)", body = DomainView),
        (status = 400, description = "Invalid input, or linked: true", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Only admins register domains", body = ErrorBody),
        (status = 409, description = "The domain is registered already, or a main domain exists", body = ErrorBody),
    )
)]
pub(crate) async fn create(slipway: Slipway, req: ApiRequest) -> Result<Response, ApiError> {
    let actor = req.principal(&slipway).await?;
    let body: CreateDomain = req.json()?;
    let input = NewDomain {
        domain: body.domain,
        challenge: body.challenge,
        main: body.main,
        linked: body.linked,
    };
    let domain = slipway.domains().create(&actor, input).await?;
    Ok(json_response(
        StatusCode::CREATED,
        &DomainView::from(domain),
    ))
}

#[utoipa::path(
    get, path = "/domains", tag = "domains", operation_id = "listDomains",
    security(("bearer" = [])),
    params(crate::http::handlers::PageParams),
    responses(
        (status = 200, description = "All registered domains, oldest first", body = [DomainView],
            headers(("Link" = String, description = "`<domains?limit=N&after=ID>; rel=\"next\"` when more items follow"))),
        (status = 400, description = "`limit` is not 1-1000, or `after` names no domain of the list", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
    )
)]
pub(crate) async fn list(slipway: Slipway, req: ApiRequest) -> Result<Response, ApiError> {
    let actor = req.principal(&slipway).await?;
    let page = req.page()?;
    let domains = slipway.domains().list_page(&actor, &page).await?;
    let views: Vec<DomainView> = domains.items.into_iter().map(DomainView::from).collect();
    Ok(req.page_response(&page, &views, domains.next_after.as_deref()))
}

#[utoipa::path(
    get, path = "/domains/{id}", tag = "domains", operation_id = "getDomain",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Domain id")),
    responses(
        (status = 200, description = "The domain", body = DomainView),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such domain", body = ErrorBody),
    )
)]
pub(crate) async fn get(slipway: Slipway, mut req: ApiRequest) -> Result<Response, ApiError> {
    let actor = req.principal(&slipway).await?;
    let domain = slipway.domains().get(&actor, &req.id("id")).await?;
    Ok(json_response(StatusCode::OK, &DomainView::from(domain)))
}

#[utoipa::path(
    delete, path = "/domains/{id}", tag = "domains", operation_id = "deleteDomain",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Domain id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Only admins delete domains", body = ErrorBody),
        (status = 404, description = "No such domain", body = ErrorBody),
        (status = 409, description = "Network connections still use the domain", body = ErrorBody),
    )
)]
pub(crate) async fn delete(slipway: Slipway, mut req: ApiRequest) -> Result<Response, ApiError> {
    let actor = req.principal(&slipway).await?;
    slipway.domains().delete(&actor, &req.id("id")).await?;
    Ok(no_content())
}

#[utoipa::path(
    post, path = "/domains/{id}/verify", tag = "domains", operation_id = "verifyDomain",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Domain id")),
    responses(
        (status = 200, description = "Checked: `linked` is true when the TXT record holds the \
            challenge; a missing record or another value leaves it as it was (false for a new domain)", body = DomainView),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Only admins verify domains", body = ErrorBody),
        (status = 404, description = "No such domain", body = ErrorBody),
        (status = 502, description = "The DNS lookup failed", body = ErrorBody),
        (status = 504, description = "The DNS servers did not answer in time", body = ErrorBody),
    )
)]
pub(crate) async fn verify(slipway: Slipway, mut req: ApiRequest) -> Result<Response, ApiError> {
    let actor = req.principal(&slipway).await?;
    let checked = slipway.domains().verify(&actor, &req.id("id")).await?;
    Ok(json_response(
        StatusCode::OK,
        &DomainView::from(checked.domain),
    ))
}
