//! `GET /openapi.json`: the OpenAPI 3.1 document, generated from the code.

use http::StatusCode;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::http::{json_response, ApiError, ApiRequest, ErrorBody, Response};
use crate::Slipway;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Adds the error answers every operation may give, so the document lists
/// each status the API really sends: 400/413/415 for operations with a body,
/// 401 for authenticated ones, 500 and 503 everywhere.
struct CommonErrors;

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        let error = |description: &str| -> RefOr<utoipa::openapi::Response> {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build(),
            )
        };
        for item in openapi.paths.paths.values_mut() {
            let ops = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for op in ops.into_iter().flatten() {
                let has_body = op.request_body.is_some();
                let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
                let mut add = |status: &str, description: &str| {
                    op_responses(op)
                        .entry(status.to_string())
                        .or_insert_with(|| error(description));
                };
                if has_body {
                    add("400", "Invalid input; the message names the field");
                    add("413", "Request body over the limit");
                    add("415", "Request body is not JSON");
                }
                if secured {
                    add("401", "Missing, invalid or expired token");
                    add(
                        "403",
                        "An API token without the scope this operation needs (the message \
                         names it), or an API token on an account endpoint",
                    );
                }
                add("431", "Request headers over the limit");
                add("500", "Internal error (a bug; details only in the log)");
                add("503", "The store is unavailable");
            }
        }
    }
}

fn op_responses(
    op: &mut utoipa::openapi::path::Operation,
) -> &mut std::collections::BTreeMap<String, utoipa::openapi::RefOr<utoipa::openapi::Response>> {
    &mut op.responses.responses
}

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "Slipway", description = "Control-plane API of a self-hosted deployment platform"),
    paths(
        super::auth::signup,
        super::auth::signin,
        super::auth::me,
        super::auth::update_me,
        super::auth::change_password,
        super::auth::signout_all,
        super::audit::list,
        super::tokens::create,
        super::tokens::list,
        super::tokens::delete,
        super::webhooks::create,
        super::webhooks::list,
        super::webhooks::get,
        super::webhooks::delete,
        super::webhooks::deliveries,
        super::users::list,
        super::users::get,
        super::users::update,
        super::users::delete,
        super::users::create_invitation,
        super::users::list_invitations,
        super::users::delete_invitation,
        super::github_signin::github_signin,
        super::github_signin::github_link,
        super::configuration::get_configuration,
        super::configuration::configure_github,
        super::projects::create,
        super::projects::list,
        super::projects::get,
        super::projects::update,
        super::projects::delete,
        super::networks::create,
        super::networks::list,
        super::networks::get,
        super::networks::update,
        super::networks::delete,
        super::domains::create,
        super::domains::list,
        super::domains::get,
        super::domains::delete,
        super::domains::verify,
        super::authorizations::create,
        super::authorizations::list,
        super::authorizations::get,
        super::authorizations::delete,
        live_feed,
        super::health::health,
        super::health::live,
        super::health::ready,
        openapi_json,
        docs,
    ),
    components(schemas(crate::http::ErrorBody)),
    modifiers(&BearerAuth, &CommonErrors),
)]
pub(crate) struct ApiDoc;

// `GET /ws` is served by the adapters through `Slipway::ws_accept`, not by
// an endpoint of the table: this function only describes it.

/// The live feed of the caller's project changes (WebSocket).
///
/// The token (`?token=` or `Authorization: Bearer`) is checked before the
/// upgrade. Frames: `{"event":"connect","data":{"userId","lastEventId"}}`
/// first, then `{"event":"project.update","id","data":{"projectId","type","data"}}`
/// and `{"event":"resync"}` (refetch `GET /project`). Close codes: 4001 token
/// expired, 4002 ping timeout, 1011 event stream unavailable, 1001 server
/// shutting down, 1009 message too big.
#[utoipa::path(
    get, path = "/ws", tag = "live", operation_id = "openLiveFeed",
    security(("bearer" = [])),
    params(
        ("token" = Option<String>, Query,
            description = "The access token (or an API token, `slw_…`), for clients that cannot set `Authorization` on a WebSocket (browsers); `Authorization: Bearer` works too"),
        ("since" = Option<String>, Query, pattern = "^[0-9]{1,20}$",
            description = "Resume after this event id: the events missed since, then live ones (`resync` first when they are no longer retained)"),
    ),
    responses(
        (status = 101, description = "Switching Protocols: a WebSocket whose server → client text frames are JSON: `connect` first, then `project.update` events and `resync`",
            headers(("Upgrade" = String, description = "`websocket`"), ("Connection" = String, description = "`upgrade`"))),
        (status = 400, description = "`since` is not an event id", body = ErrorBody),
        (status = 401, description = "Missing, invalid, expired or revoked token (checked before the upgrade)", body = ErrorBody),
        (status = 403, description = "An API token without the `events:read` scope", body = ErrorBody),
        (status = 426, description = "A good token but no WebSocket handshake (`Upgrade: websocket`)", body = ErrorBody,
            headers(("Upgrade" = String, description = "`websocket`"))),
        (status = 429, description = "The user holds the most WebSocket connections allowed on this node, or opened too many in the last minute", body = ErrorBody,
            headers(("Retry-After" = u32, description = "Seconds to wait"))),
        (status = 503, description = "The server is shutting down, or the store is unavailable", body = ErrorBody),
    )
)]
#[allow(dead_code)] // never called
pub(crate) async fn live_feed() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_library_serves_no_docs_unless_asked() {
        use tower::ServiceExt as _;
        for (asked, status) in [(false, 404), (true, 200)] {
            let slipway = crate::Slipway::builder()
                .secret(vec![7u8; 32])
                .store(crate::MemoryStore::new())
                .docs(asked)
                .build()
                .unwrap();
            let req = http::Request::get("/docs")
                .body(http_body_util::Empty::<bytes::Bytes>::new())
                .unwrap();
            let resp = slipway.service().oneshot(req).await.unwrap();
            assert_eq!(resp.status().as_u16(), status, "docs({asked})");
            let listed = slipway.routes().iter().any(|r| r.path == "/docs");
            assert_eq!(listed, asked);
        }
        assert!(!crate::Config::default().docs);
    }

    #[test]
    fn every_operation_has_a_unique_operation_id() {
        let doc = serde_json::to_value(openapi_document()).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        let mut count = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let id = op["operationId"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
                assert!(seen.insert(id.to_string()), "{method} {path}: {id} repeats");
                count += 1;
            }
        }
        // Every endpoint of the table, plus `GET /ws`.
        assert_eq!(count, super::super::ENDPOINTS.len() + 1);
        assert!(doc["paths"]["/ws"]["get"]["responses"]["101"].is_object());
    }
}

/// The interactive API reference of this document (an HTML page).
///
/// Served when the instance enables it (`slipway-server`: on unless
/// `--no-docs`; the library: `Slipway::builder().docs(true)`); otherwise the
/// same 404 as an unknown path.
#[utoipa::path(
    get, path = "/docs", tag = "operations", operation_id = "getDocs",
    responses(
        (status = 200, description = "The interactive API reference (Scalar)", content_type = "text/html", body = String),
        (status = 404, description = "The reference is turned off on this instance", body = ErrorBody),
    )
)]
pub(crate) async fn docs(slipway: Slipway, req: ApiRequest) -> Result<Response, ApiError> {
    if !slipway.config().docs {
        let path: String = req.uri.path().chars().take(200).collect();
        return Err(ApiError::not_found(format!("Cannot find route {path}")));
    }
    static HTML: std::sync::OnceLock<bytes::Bytes> = std::sync::OnceLock::new();
    let html = HTML.get_or_init(|| {
        bytes::Bytes::from(
            utoipa_scalar::Scalar::new(openapi_document())
                .to_html()
                .replacen("<title>Scalar</title>", "<title>Slipway API</title>", 1),
        )
    });
    let mut resp = http::Response::new(http_body_util::Full::new(html.clone()));
    let headers = resp.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        http::HeaderValue::from_static("nosniff"),
    );
    Ok(resp)
}

/// The OpenAPI document as JSON.
pub(crate) fn openapi_document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

#[utoipa::path(
    get, path = "/openapi.json", tag = "operations", operation_id = "getOpenApi",
    responses((status = 200, description = "This OpenAPI 3.1 document", body = Object))
)]
pub(crate) async fn openapi_json(
    _slipway: Slipway,
    _req: ApiRequest,
) -> Result<Response, ApiError> {
    Ok(json_response(StatusCode::OK, &openapi_document()))
}
