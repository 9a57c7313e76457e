//! `GET /openapi.json`: the OpenAPI 3.1 document, generated from the code.

use http::StatusCode;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::http::{json_response, ApiError, ApiRequest, Response};
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
        super::github_signin::github_signin,
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
        super::health::health,
        super::health::live,
        super::health::ready,
        openapi_json,
    ),
    components(schemas(crate::http::ErrorBody)),
    modifiers(&BearerAuth, &CommonErrors),
)]
pub(crate) struct ApiDoc;

/// The OpenAPI document as JSON.
pub(crate) fn openapi_document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

#[utoipa::path(
    get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "This OpenAPI 3.1 document", body = Object))
)]
pub(crate) async fn openapi_json(
    _slipway: Slipway,
    _req: ApiRequest,
) -> Result<Response, ApiError> {
    Ok(json_response(StatusCode::OK, &openapi_document()))
}
