//! The endpoint table and what every handler shares (authentication, roles).

use futures::future::BoxFuture;
use http::Method;

use crate::http::{ApiError, ApiRequest, Response};
use crate::Slipway;

pub(crate) mod audit;
pub(crate) mod auth;
pub(crate) mod authorizations;
pub(crate) mod configuration;
pub(crate) mod domains;
pub(crate) mod github_signin;
pub(crate) mod health;
pub(crate) mod networks;
pub(crate) mod openapi;
pub(crate) mod projects;
pub(crate) mod tokens;
pub(crate) mod users;
pub(crate) mod webhooks;

/// The paging parameters of every list (`GET /project`, `/networks`,
/// `/domains`, `/authorization`).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // read by `ApiRequest::page`; here for the document
pub(crate) struct PageParams {
    /// At most this many items (1-1000); without it, the whole list. When
    /// more follow, the answer carries `Link: <...>; rel="next"`.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// The id of the last item of the previous page: answer the items after
    /// it.
    after: Option<String>,
}

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
        method: Method::PATCH,
        path: "/auth/me",
        handler: |s, r| Box::pin(auth::update_me(s, r)),
    },
    Endpoint {
        method: Method::POST,
        path: "/auth/password",
        handler: |s, r| Box::pin(auth::change_password(s, r)),
    },
    Endpoint {
        method: Method::POST,
        path: "/auth/signout-all",
        handler: |s, r| Box::pin(auth::signout_all(s, r)),
    },
    Endpoint {
        method: Method::GET,
        path: "/audit",
        handler: |s, r| Box::pin(audit::list(s, r)),
    },
    Endpoint {
        method: Method::POST,
        path: "/tokens",
        handler: |s, r| Box::pin(tokens::create(s, r)),
    },
    Endpoint {
        method: Method::GET,
        path: "/tokens",
        handler: |s, r| Box::pin(tokens::list(s, r)),
    },
    Endpoint {
        method: Method::DELETE,
        path: "/tokens/{id}",
        handler: |s, r| Box::pin(tokens::delete(s, r)),
    },
    Endpoint {
        method: Method::POST,
        path: "/webhooks",
        handler: |s, r| Box::pin(webhooks::create(s, r)),
    },
    Endpoint {
        method: Method::GET,
        path: "/webhooks",
        handler: |s, r| Box::pin(webhooks::list(s, r)),
    },
    Endpoint {
        method: Method::GET,
        path: "/webhooks/{id}",
        handler: |s, r| Box::pin(webhooks::get(s, r)),
    },
    Endpoint {
        method: Method::DELETE,
        path: "/webhooks/{id}",
        handler: |s, r| Box::pin(webhooks::delete(s, r)),
    },
    Endpoint {
        method: Method::GET,
        path: "/webhooks/{id}/deliveries",
        handler: |s, r| Box::pin(webhooks::deliveries(s, r)),
    },
    Endpoint {
        method: Method::GET,
        path: "/users",
        handler: |s, r| Box::pin(users::list(s, r)),
    },
    Endpoint {
        method: Method::GET,
        path: "/users/{id}",
        handler: |s, r| Box::pin(users::get(s, r)),
    },
    Endpoint {
        method: Method::PATCH,
        path: "/users/{id}",
        handler: |s, r| Box::pin(users::update(s, r)),
    },
    Endpoint {
        method: Method::DELETE,
        path: "/users/{id}",
        handler: |s, r| Box::pin(users::delete(s, r)),
    },
    Endpoint {
        method: Method::POST,
        path: "/invitations",
        handler: |s, r| Box::pin(users::create_invitation(s, r)),
    },
    Endpoint {
        method: Method::GET,
        path: "/invitations",
        handler: |s, r| Box::pin(users::list_invitations(s, r)),
    },
    Endpoint {
        method: Method::DELETE,
        path: "/invitations/{id}",
        handler: |s, r| Box::pin(users::delete_invitation(s, r)),
    },
    Endpoint {
        method: Method::POST,
        path: "/auth/github",
        handler: |s, r| Box::pin(github_signin::github_signin(s, r)),
    },
    Endpoint {
        method: Method::POST,
        path: "/auth/github/link",
        handler: |s, r| Box::pin(github_signin::github_link(s, r)),
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
        path: "/health/live",
        handler: |s, r| Box::pin(health::live(s, r)),
    },
    Endpoint {
        method: Method::GET,
        path: "/health/ready",
        handler: |s, r| Box::pin(health::ready(s, r)),
    },
    Endpoint {
        method: Method::GET,
        path: "/openapi.json",
        handler: |s, r| Box::pin(openapi::openapi_json(s, r)),
    },
    Endpoint {
        method: Method::GET,
        path: "/docs",
        handler: |s, r| Box::pin(openapi::docs(s, r)),
    },
];
