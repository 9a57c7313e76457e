//! The endpoint table and what every handler shares (authentication, roles).

use futures::future::BoxFuture;
use http::{header, Method};

use crate::error::{ApiError, StoreError};
use crate::http::{ApiRequest, Response};
use crate::model::{Role, User};
use crate::{Claims, Slipway};

pub(crate) mod auth;
pub(crate) mod authorizations;
pub(crate) mod authorizations_github;
pub(crate) mod configuration;
pub(crate) mod domains;
pub(crate) mod github_signin;
pub(crate) mod health;
pub(crate) mod networks;
pub(crate) mod openapi;
pub(crate) mod projects;

/// A handler: takes the instance and the read request.
pub(crate) type Handler = fn(Slipway, ApiRequest) -> BoxFuture<'static, Result<Response, ApiError>>;

/// One endpoint: method, path template, handler.
pub(crate) struct Endpoint {
    pub(crate) method: Method,
    pub(crate) path: &'static str,
    pub(crate) handler: Handler,
}

/// Every HTTP endpoint of the API. Keep in step with `openapi::ApiDoc`.
pub(crate) static ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: Method::POST,
        path: "/auth/signup",
        handler: |s, r| Box::pin(auth::signup(s, r)),
    },
    Endpoint {
        method: Method::POST,
        path: "/auth/signin",
        handler: |s, r| Box::pin(auth::signin(s, r)),
    },
    Endpoint {
        method: Method::GET,
        path: "/auth/me",
        handler: |s, r| Box::pin(auth::me(s, r)),
    },
    Endpoint {
        method: Method::POST,
        path: "/auth/github",
        handler: |s, r| Box::pin(github_signin::github_signin(s, r)),
    },
    Endpoint {
        method: Method::GET,
        path: "/configuration",
        handler: |s, r| Box::pin(configuration::get_configuration(s, r)),
    },
    Endpoint {
        method: Method::POST,
        path: "/configuration/github",
        handler: |s, r| Box::pin(configuration::configure_github(s, r)),
    },
    Endpoint {
        method: Method::POST,
        path: "/project",
        handler: |s, r| Box::pin(projects::create(s, r)),
    },
    Endpoint {
        method: Method::GET,
        path: "/project",
        handler: |s, r| Box::pin(projects::list(s, r)),
    },
    Endpoint {
        method: Method::GET,
        path: "/project/{id}",
        handler: |s, r| Box::pin(projects::get(s, r)),
    },
    Endpoint {
        method: Method::PATCH,
        path: "/project/{id}",
        handler: |s, r| Box::pin(projects::update(s, r)),
    },
    Endpoint {
        method: Method::DELETE,
        path: "/project/{id}",
        handler: |s, r| Box::pin(projects::delete(s, r)),
    },
    Endpoint {
        method: Method::POST,
        path: "/networks",
        handler: |s, r| Box::pin(networks::create(s, r)),
    },
    Endpoint {
        method: Method::GET,
        path: "/networks",
        handler: |s, r| Box::pin(networks::list(s, r)),
    },
    Endpoint {
        method: Method::GET,
        path: "/networks/{id}",
        handler: |s, r| Box::pin(networks::get(s, r)),
    },
    Endpoint {
        method: Method::PATCH,
        path: "/networks/{id}",
        handler: |s, r| Box::pin(networks::update(s, r)),
    },
    Endpoint {
        method: Method::DELETE,
        path: "/networks/{id}",
        handler: |s, r| Box::pin(networks::delete(s, r)),
    },
    Endpoint {
        method: Method::POST,
        path: "/domains",
        handler: |s, r| Box::pin(domains::create(s, r)),
    },
    Endpoint {
        method: Method::GET,
        path: "/domains",
        handler: |s, r| Box::pin(domains::list(s, r)),
    },
    Endpoint {
        method: Method::GET,
        path: "/domains/{id}",
        handler: |s, r| Box::pin(domains::get(s, r)),
    },
    Endpoint {
        method: Method::DELETE,
        path: "/domains/{id}",
        handler: |s, r| Box::pin(domains::delete(s, r)),
    },
    Endpoint {
        method: Method::POST,
        path: "/domains/{id}/verify",
        handler: |s, r| Box::pin(domains::verify(s, r)),
    },
    Endpoint {
        method: Method::POST,
        path: "/authorization",
        handler: |s, r| Box::pin(authorizations::create(s, r)),
    },
    Endpoint {
        method: Method::GET,
        path: "/authorization",
        handler: |s, r| Box::pin(authorizations::list(s, r)),
    },
    Endpoint {
        method: Method::GET,
        path: "/authorization/{id}",
        handler: |s, r| Box::pin(authorizations::get(s, r)),
    },
    Endpoint {
        method: Method::DELETE,
        path: "/authorization/{id}",
        handler: |s, r| Box::pin(authorizations::delete(s, r)),
    },
    Endpoint {
        method: Method::GET,
        path: "/health",
        handler: |s, r| Box::pin(health::health(s, r)),
    },
    Endpoint {
        method: Method::GET,
        path: "/openapi.json",
        handler: |s, r| Box::pin(openapi::openapi_json(s, r)),
    },
];

/// The bearer token of a request, from `Authorization: Bearer <token>`.
pub(crate) fn bearer(req: &ApiRequest) -> Option<&str> {
    let value = req.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then_some(token)
}

/// Verifies a token and loads its user; 401 for every failure.
pub(crate) async fn authenticate_token(
    slipway: &Slipway,
    token: &str,
) -> Result<(User, Claims), ApiError> {
    let claims = verify_token(slipway, token)?;
    let user = token_user(slipway.store().get_user(&claims.sub).await)?;
    Ok((user, claims))
}

/// Verifies a token's signature, algorithm, issuer and expiry; 401 otherwise.
fn verify_token(slipway: &Slipway, token: &str) -> Result<Claims, ApiError> {
    slipway.inner.tokens.verify(token).map_err(|_| {
        ApiError::unauthorized("The access token is invalid or has expired; sign in again")
    })
}

/// The store's answer for a verified token's user: a user who no longer
/// exists is a 401.
pub(crate) fn token_user<T>(found: Result<T, StoreError>) -> Result<T, ApiError> {
    match found {
        Ok(found) => Ok(found),
        Err(StoreError::NotFound) => Err(ApiError::unauthorized(
            "The account this access token belongs to no longer exists",
        )),
        Err(e) => Err(ApiError::from_store(e, "User")),
    }
}

/// The verified claims of a request's bearer token; 401 when it is missing
/// or invalid. The caller still loads the user (see [`token_user`]).
pub(crate) fn current_claims(slipway: &Slipway, req: &ApiRequest) -> Result<Claims, ApiError> {
    let token = bearer(req).ok_or_else(|| {
        ApiError::unauthorized("An access token is required: send Authorization: Bearer <token>")
    })?;
    verify_token(slipway, token)
}

/// The signed-in user of a request; 401 when there is none.
pub(crate) async fn current_user(slipway: &Slipway, req: &ApiRequest) -> Result<User, ApiError> {
    let claims = current_claims(slipway, req)?;
    token_user(slipway.store().get_user(&claims.sub).await)
}

/// The signed-in user, who must be an admin (403 otherwise).
#[allow(dead_code)] // used by the admin-only endpoints
pub(crate) async fn current_admin(slipway: &Slipway, req: &ApiRequest) -> Result<User, ApiError> {
    let user = current_user(slipway, req).await?;
    if user.role != Role::Admin {
        return Err(ApiError::forbidden(
            "Only an administrator may do this; ask an admin of this instance",
        ));
    }
    Ok(user)
}
