//! The JSON text frames the server sends.

use serde_json::json;

use crate::model::Event;

/// `{"event":"connect","data":{"userId","lastEventId"}}`.
pub(super) fn connect(user_id: &str, last_event_id: u64) -> String {
    json!({
        "event": "connect",
        "data": { "userId": user_id, "lastEventId": last_event_id.to_string() },
    })
    .to_string()
}

/// `{"event":"project.update","id":"<id>","data":{"projectId","type","data"}}`.
pub(super) fn project_update(event: &Event) -> String {
    json!({
        "event": "project.update",
        "id": event.id.to_string(),
        "data": {
            "projectId": event.project_id,
            "type": event.kind.as_str(),
            "data": event.data,
        },
    })
    .to_string()
}

/// `{"event":"resync"}`.
pub(super) fn resync() -> String {
    json!({ "event": "resync" }).to_string()
}
