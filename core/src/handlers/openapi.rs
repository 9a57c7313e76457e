//! `GET /openapi.json`: the OpenAPI 3.1 document, generated from the code.

use http::StatusCode;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::ApiError;
use crate::http::{json_response, ApiRequest, Response};
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
        super::health::health,
    ),
    components(schemas(crate::error::ErrorBody)),
    modifiers(&BearerAuth),
)]
pub(crate) struct ApiDoc;

/// The OpenAPI document as JSON.
pub(crate) fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

pub(crate) async fn openapi_json(
    _slipway: Slipway,
    _req: ApiRequest,
) -> Result<Response, ApiError> {
    Ok(json_response(StatusCode::OK, &document()))
}
