//! JSON request bodies: shape limits and parsing with messages that name
//! the field.

use http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Shape limits every JSON body is checked against before it is read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JsonLimits {
    /// Deepest nesting of arrays and objects.
    pub(crate) max_depth: usize,
    /// Longest string (and object key), in characters.
    pub(crate) max_string: usize,
    /// Most elements of one array.
    pub(crate) max_array: usize,
}

impl JsonLimits {
    pub(crate) fn from_config(c: &crate::Config) -> Self {
        Self {
            max_depth: c.json_max_depth,
            max_string: c.json_max_string_length,
            max_array: c.json_max_array_length,
        }
    }
}

/// Checks nesting depth, string and array lengths; the 400 names the field.
pub(crate) fn check_shape(value: &serde_json::Value, limits: &JsonLimits) -> Result<(), ApiError> {
    fn walk(
        v: &serde_json::Value,
        path: &str,
        depth: usize,
        l: &JsonLimits,
    ) -> Result<(), ApiError> {
        use serde_json::Value;
        let name = |p: &str| {
            if p.is_empty() {
                "Request body".to_string()
            } else {
                p.to_string()
            }
        };
        let string = |p: &str, s: &str| {
            let n = s.chars().count();
            if n > l.max_string {
                Err(ApiError::bad_request(format!(
                    "{} must be at most {} characters long (got {n})",
                    name(p),
                    l.max_string
                )))
            } else {
                Ok(())
            }
        };
        match v {
            Value::Array(_) | Value::Object(_) if depth > l.max_depth => {
                Err(ApiError::bad_request(format!(
                    "{} is nested too deeply: at most {} levels of arrays and objects",
                    name(path),
                    l.max_depth
                )))
            }
            Value::Array(items) => {
                if items.len() > l.max_array {
                    return Err(ApiError::bad_request(format!(
                        "{} must have at most {} elements (got {})",
                        name(path),
                        l.max_array,
                        items.len()
                    )));
                }
                for (i, item) in items.iter().enumerate() {
                    walk(item, &format!("{path}[{i}]"), depth + 1, l)?;
                }
                Ok(())
            }
            Value::Object(map) => {
                for (k, item) in map {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    string(&p, k)?;
                    walk(item, &p, depth + 1, l)?;
                }
                Ok(())
            }
            Value::String(s) => string(path, s),
            _ => Ok(()),
        }
    }
    walk(value, "", 1, limits)
}

/// Parses a JSON object body into `T`.
///
/// 415 when the content type is not JSON, 400 for malformed JSON, a body that
/// is not an object, one over the [`JsonLimits`], a missing field or a field
/// of the wrong type.
pub(crate) fn parse_json<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: &[u8],
    limits: &JsonLimits,
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
    check_shape(&value, limits)?;
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

/// Deserializes a field that may be absent (`None`), `null` (`Some(None)`)
/// or a value (`Some(Some(v))`); use with `#[serde(default)]`.
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

/// A TCP port: a JSON integer 1-65535 (not a string, a fraction or negative).
pub(crate) fn port(value: &serde_json::Value) -> Result<u16, ApiError> {
    value
        .as_u64()
        .filter(|p| (1..=65535).contains(p))
        .map(|p| p as u16)
        .ok_or_else(|| ApiError::bad_request("port must be an integer between 1 and 65535"))
}

/// A JSON array of strings (`scopes`, `events`, `projectIds`), or a 400
/// naming `field`.
pub(crate) fn strings(
    field: &str,
    value: &serde_json::Value,
) -> Result<Vec<String>, super::ApiError> {
    let bad = || super::ApiError::bad_request(format!("{field} must be an array of strings"));
    value
        .as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|v| v.as_str().map(str::to_string).ok_or_else(bad))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports() {
        use serde_json::json;
        assert_eq!(port(&json!(80)).unwrap(), 80);
        assert_eq!(port(&json!(65535)).unwrap(), 65535);
        for bad in [
            json!(0),
            json!(65536),
            json!(3.5),
            json!("80"),
            json!(-1),
            json!(null),
        ] {
            assert!(port(&bad).is_err(), "{bad}");
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
        let l = JsonLimits {
            max_depth: 3,
            max_string: 5,
            max_array: 2,
        };
        let e = parse_json::<T>(&h, b"{}", &l).unwrap_err();
        assert_eq!(e.message(), "name is required");
        let e = parse_json::<T>(&h, br#"{"name": 5}"#, &l).unwrap_err();
        assert!(
            e.message().starts_with("name is invalid"),
            "{}",
            e.message()
        );
        let e = parse_json::<T>(&h, b"{", &l).unwrap_err();
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        let e = parse_json::<T>(&h, b"[]", &l).unwrap_err();
        assert_eq!(e.message(), "Request body must be a JSON object");
        let e = parse_json::<T>(&h, br#"{"name":"x","a":[[[1]]]}"#, &l).unwrap_err();
        assert!(
            e.message().starts_with("a[0][0] is nested too deeply"),
            "{}",
            e.message()
        );
        assert!(parse_json::<T>(&h, br#"{"name":"x","a":[[1]]}"#, &l).is_ok());
        let e = parse_json::<T>(&h, br#"{"name":"xxxxxx"}"#, &l).unwrap_err();
        assert!(
            e.message().starts_with("name must be at most 5"),
            "{}",
            e.message()
        );
        let e = parse_json::<T>(&h, br#"{"name":"x","a":[1,2,3]}"#, &l).unwrap_err();
        assert!(
            e.message().starts_with("a must have at most 2"),
            "{}",
            e.message()
        );
        h.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        let e = parse_json::<T>(&h, br#"{"name":"x"}"#, &l).unwrap_err();
        assert_eq!(e.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
}
