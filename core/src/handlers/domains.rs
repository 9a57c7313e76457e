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

use crate::dns::{self, Lookup};
use crate::error::{ApiError, ErrorBody, StoreError};
use crate::http::{json_response, no_content, ApiRequest, Response};
use crate::model::Domain;
use crate::{crypto, validate, Slipway};

/// Body of `POST /domains`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateDomain {
    /// Domain name (lowercased, trailing dot removed), unique.
    #[schema(example = "example.com")]
    domain: String,
    /// TXT challenge value, 1-255 visible ASCII characters; 32 random
    /// characters from a CSPRNG when absent.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 255)]
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
    #[schema(example = "example.com")]
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
                name: dns::challenge_name(&d.domain),
                kind: "TXT".to_string(),
                value: d.challenge.clone(),
            },
            id: d.id,
            domain: d.domain,
            challenge: d.challenge,
            main: d.main,
            linked: d.linked,
            created_at: d.created_at,
        }
    }
}

fn check_challenge(c: &str) -> Result<(), ApiError> {
    if !(1..=255).contains(&c.len()) || !c.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::bad_request(
            "challenge must be 1-255 visible ASCII characters without spaces \
             (omit it to get a random one)",
        ));
    }
    Ok(())
}

#[utoipa::path(
    post, path = "/domains", tag = "domains",
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
    super::current_admin(&slipway, &req).await?;
    let body: CreateDomain = req.json()?;
    let name = validate::domain_name("domain", &body.domain)?;
    if body.linked == Some(true) {
        return Err(ApiError::bad_request(
            "linked cannot be true on creation: a domain becomes linked only through \
             POST /domains/{id}/verify",
        ));
    }
    let challenge = match body.challenge {
        Some(c) => {
            check_challenge(&c)?;
            c
        }
        None => crypto::random_token(32),
    };
    let domain = Domain {
        id: uuid::Uuid::new_v4().to_string(),
        domain: name,
        challenge,
        main: body.main,
        linked: false,
        created_at: chrono::Utc::now(),
    };
    let domain = match slipway.store().create_domain(domain).await {
        Ok(d) => d,
        Err(StoreError::Conflict { field }) if field == "main" => {
            return Err(ApiError::conflict(
                "main: another domain is already the main domain; only one may be",
            ))
        }
        Err(StoreError::Conflict { field }) if field == "domain" => {
            return Err(ApiError::conflict("domain is already registered"))
        }
        Err(e) => return Err(ApiError::from_store(e, "Domain")),
    };
    Ok(json_response(
        StatusCode::CREATED,
        &DomainView::from(domain),
    ))
}

#[utoipa::path(
    get, path = "/domains", tag = "domains",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "All registered domains, oldest first", body = [DomainView]),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
    )
)]
pub(crate) async fn list(slipway: Slipway, req: ApiRequest) -> Result<Response, ApiError> {
    super::current_user(&slipway, &req).await?;
    let domains = slipway
        .store()
        .list_domains()
        .await
        .map_err(|e| ApiError::from_store(e, "Domain"))?;
    let views: Vec<DomainView> = domains.into_iter().map(DomainView::from).collect();
    Ok(json_response(StatusCode::OK, &views))
}

#[utoipa::path(
    get, path = "/domains/{id}", tag = "domains",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Domain id")),
    responses(
        (status = 200, description = "The domain", body = DomainView),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such domain", body = ErrorBody),
    )
)]
pub(crate) async fn get(slipway: Slipway, req: ApiRequest) -> Result<Response, ApiError> {
    super::current_user(&slipway, &req).await?;
    let domain = slipway
        .store()
        .get_domain(req.param("id"))
        .await
        .map_err(|e| ApiError::from_store(e, "Domain"))?;
    Ok(json_response(StatusCode::OK, &DomainView::from(domain)))
}

#[utoipa::path(
    delete, path = "/domains/{id}", tag = "domains",
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
pub(crate) async fn delete(slipway: Slipway, req: ApiRequest) -> Result<Response, ApiError> {
    super::current_admin(&slipway, &req).await?;
    match slipway.store().delete_domain(req.param("id")).await {
        Ok(()) => Ok(no_content()),
        Err(StoreError::Conflict { .. }) => Err(ApiError::conflict(
            "The domain is still used by network connections; delete those connections first",
        )),
        Err(e) => Err(ApiError::from_store(e, "Domain")),
    }
}

#[utoipa::path(
    post, path = "/domains/{id}/verify", tag = "domains",
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
pub(crate) async fn verify(slipway: Slipway, req: ApiRequest) -> Result<Response, ApiError> {
    super::current_admin(&slipway, &req).await?;
    let id = req.param("id");
    let domain = slipway
        .store()
        .get_domain(id)
        .await
        .map_err(|e| ApiError::from_store(e, "Domain"))?;
    let name = dns::challenge_name(&domain.domain);
    let found = match dns::lookup_txt(slipway.config(), &name).await? {
        Lookup::Found(values) => values.iter().any(|v| v.trim() == domain.challenge),
        Lookup::Missing => false,
    };
    let domain = if found && !domain.linked {
        slipway
            .store()
            .set_domain_linked(id, true)
            .await
            .map_err(|e| ApiError::from_store(e, "Domain"))?
    } else {
        domain
    };
    tracing::info!(domain = %domain.domain, found, linked = domain.linked, "domain verified");
    Ok(json_response(StatusCode::OK, &DomainView::from(domain)))
}
