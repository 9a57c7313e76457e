//! `GET /audit`: the audit log, newest first.

use crate::http::{ApiError, ApiRequest, ErrorBody, Response};
use crate::model::{AuditEntry, UserId};
use crate::services::{AuditFilter, PageRequest, AUDIT_DEFAULT_LIMIT};
use crate::Slipway;

#[utoipa::path(
    get, path = "/audit", tag = "audit", operation_id = "listAuditEntries",
    security(("bearer" = [])),
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "At most this many entries (default 100)"),
        ("after" = Option<String>, Query, pattern = "^[0-9a-f]{32}$", description = "Answer the entries older than this one (the last of the previous page)"),
        ("actor" = Option<String>, Query, description = "Only entries of this acting user id"),
        ("action" = Option<String>, Query, description = "Only entries of this action (`project.create`, `auth.signin.failure`, ...)"),
    ),
    responses(
        (status = 200, description = "Entries, newest first. Admins see every entry; members only those where they are the actor", body = [AuditEntry],
            headers(("Link" = String, description = "`<audit?...&limit=N&after=ID>; rel=\"next\"` when older entries follow"))),
        (status = 400, description = "limit outside 1-1000, after not an entry id, or an unknown action", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Called with an API token", body = ErrorBody),
    )
)]
pub(crate) async fn list(slipway: Slipway, req: ApiRequest) -> Result<Response, ApiError> {
    let actor = req.principal(&slipway).await?;
    let limit = req.page()?.limit().unwrap_or(AUDIT_DEFAULT_LIMIT);
    let filter = AuditFilter {
        limit: Some(limit),
        after: req.query("after"),
        actor: req.query("actor").map(UserId::from),
        action: req.query("action"),
    };
    let page = slipway.audit().list(&actor, filter).await?;
    let page_req = PageRequest::new(Some(limit), None)?;
    Ok(req.page_response(&page_req, &page.items, page.next_after.as_deref()))
}
