//! Request parsing and field validation with messages that name the field.

use http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Parses a JSON object body into `T`.
///
/// 415 when the content type is not JSON, 400 for malformed JSON, a body that
/// is not an object, a missing field or a field of the wrong type.
pub(crate) fn parse_json<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime != "application/json" && !(mime.starts_with("application/") && mime.ends_with("+json"))
    {
        if body.is_empty() && ct.is_empty() {
            return Err(ApiError::bad_request(
                "Request body is required: send a JSON object with Content-Type: application/json",
            ));
        }
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        ));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "Request body is required: send a JSON object",
        ));
    }
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("Request body is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::bad_request("Request body must be a JSON object"));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        if let Some(field) = inner
            .strip_prefix("missing field `")
            .and_then(|r| r.strip_suffix('`'))
        {
            let full = if path == "." || path.is_empty() {
                field.to_string()
            } else {
                format!("{path}.{field}")
            };
            ApiError::bad_request(format!("{full} is required"))
        } else {
            ApiError::bad_request(format!("{path} is invalid: {inner}"))
        }
    })
}

/// A string field of 1..=max characters that is not blank.
pub(crate) fn text(field: &str, value: &str, min: usize, max: usize) -> Result<(), ApiError> {
    let n = value.chars().count();
    if n < min || n > max {
        return Err(ApiError::bad_request(format!(
            "{field} must be between {min} and {max} characters long (got {n})"
        )));
    }
    if min > 0 && value.trim().is_empty() {
        return Err(ApiError::bad_request(format!("{field} must not be blank")));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(ApiError::bad_request(format!(
            "{field} must not contain control characters"
        )));
    }
    Ok(())
}

/// Normalizes and validates an email address; returns it lowercased.
pub(crate) fn email(value: &str) -> Result<String, ApiError> {
    let bad =
        || ApiError::bad_request("email must be a valid email address, like name@example.com");
    let v = value.trim().to_lowercase();
    if v.len() > 254 || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = v.rsplit_once('@').ok_or_else(bad)?;
    if local.is_empty() || local.len() > 64 || local.contains('@') {
        return Err(bad());
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(bad());
    }
    if !domain.contains('.') || hostname(domain).is_err() {
        return Err(bad());
    }
    Ok(v)
}

/// Validates a hostname: labels of 1-63 letters, digits and hyphens (not at
/// either end), 253 characters in all. Returns it lowercased, without a
/// trailing dot.
pub(crate) fn hostname(value: &str) -> Result<String, &'static str> {
    let v = value
        .strip_suffix('.')
        .unwrap_or(value)
        .to_ascii_lowercase();
    if v.is_empty() {
        return Err("must not be empty");
    }
    if v.len() > 253 {
        return Err("must be at most 253 characters long");
    }
    for label in v.split('.') {
        if label.is_empty() {
            return Err("must not contain empty labels");
        }
        if label.len() > 63 {
            return Err("must have labels of at most 63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err("may only contain letters, digits, hyphens and dots");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("must not have labels that start or end with a hyphen");
        }
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(email(" Ada@Example.COM ").unwrap(), "ada@example.com");
        for bad in [
            "", "a", "a@", "@b.c", "a@b", "a b@c.d", "a@-b.c", "a..b@c.d",
        ] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hostnames() {
        assert_eq!(hostname("App.Example.com.").unwrap(), "app.example.com");
        for bad in [
            "",
            ".",
            "a..b",
            "-a.b",
            "a-.b",
            "a_b.c",
            &"a".repeat(64),
            "a b",
        ] {
            assert!(hostname(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn json_errors_name_the_field() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct T {
            name: String,
        }
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        let e = parse_json::<T>(&h, b"{}").unwrap_err();
        assert_eq!(e.message(), "name is required");
        let e = parse_json::<T>(&h, br#"{"name": 5}"#).unwrap_err();
        assert!(
            e.message().starts_with("name is invalid"),
            "{}",
            e.message()
        );
        let e = parse_json::<T>(&h, b"{").unwrap_err();
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        let e = parse_json::<T>(&h, b"[]").unwrap_err();
        assert_eq!(e.message(), "Request body must be a JSON object");
        h.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        let e = parse_json::<T>(&h, br#"{"name":"x"}"#).unwrap_err();
        assert_eq!(e.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
}
