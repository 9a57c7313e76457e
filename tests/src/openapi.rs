//! Checks every response of the black-box suites against the served
//! OpenAPI document.
//!
//! For each answer read by [`TestServer::call`](crate::TestServer::call) or
//! [`TestServer::answer`](crate::TestServer::answer) from a server started by
//! the harness:
//! - the operation (method + path template of `/openapi.json`'s `paths`) must
//!   be documented; a path no operation serves may only answer 404 or 405
//!   with the error body;
//! - the status must be listed among the operation's responses;
//! - a JSON body must validate against the documented schema (refs into
//!   `#/components/schemas` resolved); a documented response without content
//!   must have an empty body.
//!
//! When the method is unknown ([`TestServer::answer`](crate::TestServer::answer)
//! of a hand-built request), the answer must fit at least one operation of
//! the path. A mismatch panics with what is wrong, failing the test.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use reqwest::Method;
use serde_json::{json, Value};

/// Validates answers against one OpenAPI document.
pub struct OpenApiValidator {
    doc: Value,
    compiled: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

impl std::fmt::Debug for OpenApiValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpenApiValidator")
    }
}

fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

fn template_matches(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.split('/').filter(|s| !s.is_empty()).collect();
    let p: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| (t.starts_with('{') && t.ends_with('}') && !p.is_empty()) || t == p)
}

impl OpenApiValidator {
    /// A validator for `doc` (the JSON of `/openapi.json`).
    pub fn new(doc: Value) -> Self {
        assert!(
            doc["openapi"]
                .as_str()
                .is_some_and(|v| v.starts_with("3.1")),
            "the document is not OpenAPI 3.1"
        );
        Self {
            doc,
            compiled: Mutex::new(HashMap::new()),
        }
    }

    /// The path templates matching `path`, literal segments first.
    fn templates(&self, path: &str) -> Vec<String> {
        let mut found: Vec<String> = self.doc["paths"]
            .as_object()
            .map(|paths| {
                paths
                    .keys()
                    .filter(|t| template_matches(t, path))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        found.sort_by_key(|t| t.matches('{').count());
        found
    }

    fn schema_validator(&self, pointer: &str, schema: &Value) -> Arc<jsonschema::Validator> {
        let mut compiled = self.compiled.lock().unwrap();
        if let Some(v) = compiled.get(pointer) {
            return v.clone();
        }
        let mut root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "allOf": [schema],
        });
        root["components"] = self.doc["components"].clone();
        let v = Arc::new(
            jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .build(&root)
                .unwrap_or_else(|e| panic!("schema at {pointer} does not compile: {e}")),
        );
        compiled.insert(pointer.to_string(), v.clone());
        v
    }

    /// The served document the answers are checked against.
    pub fn doc(&self) -> &Value {
        &self.doc
    }

    /// Checks one answer of `method` (any documented method when `None`).
    pub fn check(
        &self,
        method: Option<&Method>,
        path: &str,
        status: u16,
        body: &Value,
    ) -> Result<(), String> {
        let path = path.split('?').next().unwrap_or(path);
        let methods: Vec<String> = match method {
            Some(m) => vec![m.as_str().to_ascii_lowercase()],
            None => ["get", "post", "put", "patch", "delete"]
                .iter()
                .map(|m| m.to_string())
                .collect(),
        };
        let mut problems = Vec::new();
        let mut operations = 0;
        for template in self.templates(path) {
            for m in &methods {
                let op = &self.doc["paths"][&template][m];
                if !op.is_object() {
                    continue;
                }
                operations += 1;
                match self.check_operation(&template, m, op, status, body) {
                    Ok(()) => return Ok(()),
                    Err(e) => problems.push(e),
                }
            }
        }
        if operations == 0 {
            if status == 404 || status == 405 {
                let pointer = "#/components/schemas/ErrorBody";
                let schema = json!({"$ref": pointer});
                return self.validate_body(pointer, &schema, body);
            }
            return Err(format!(
                "{} {path} answered {status} but no such operation is documented in /openapi.json",
                method.map(|m| m.as_str()).unwrap_or("(any method)")
            ));
        }
        Err(problems.join("; "))
    }

    fn check_operation(
        &self,
        template: &str,
        method: &str,
        op: &Value,
        status: u16,
        body: &Value,
    ) -> Result<(), String> {
        let code = status.to_string();
        let Some(resp) = op["responses"]
            .get(&code)
            .or_else(|| op["responses"].get("default"))
        else {
            return Err(format!(
                "{} {template}: status {status} is not documented (documented: {})",
                method.to_uppercase(),
                op["responses"]
                    .as_object()
                    .map(|r| r.keys().cloned().collect::<Vec<_>>().join(", "))
                    .unwrap_or_default()
            ));
        };
        let schema = &resp["content"]["application/json"]["schema"];
        if schema.is_null() {
            if resp["content"].as_object().is_some_and(|c| !c.is_empty()) {
                return Ok(()); // a non-JSON content type: not checked
            }
            return if body.is_null() {
                Ok(())
            } else {
                Err(format!(
                    "{} {template} {status}: documented without a body, but one came: {body}",
                    method.to_uppercase()
                ))
            };
        }
        let pointer = format!("#/paths/{}/{method}/responses/{code}", escape(template));
        self.validate_body(&pointer, schema, body)
            .map_err(|e| format!("{} {template} {status}: {e}", method.to_uppercase()))
    }

    fn validate_body(&self, pointer: &str, schema: &Value, body: &Value) -> Result<(), String> {
        let v = self.schema_validator(pointer, schema);
        let errors: Vec<String> = v
            .iter_errors(body)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "body does not match the documented schema ({pointer}): {}; body: {body}",
                errors.join(", ")
            ))
        }
    }
}

type Slot = Arc<tokio::sync::OnceCell<Arc<OpenApiValidator>>>;

fn registry() -> &'static Mutex<HashMap<String, Slot>> {
    static REGISTRY: OnceLock<Mutex<HashMap<String, Slot>>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

/// Marks `base_url` (`http://127.0.0.1:port`) as a Slipway server whose
/// answers are to be validated; its document is fetched on first use.
pub fn register(base_url: &str) {
    registry()
        .lock()
        .unwrap()
        .insert(base_url.trim_end_matches('/').to_string(), Slot::default());
}

/// The validator of the registered server at `origin`, fetching its document
/// once; `None` for servers the harness did not start (fake upstreams).
pub async fn validator_for(origin: &str) -> Option<Arc<OpenApiValidator>> {
    let slot = registry().lock().unwrap().get(origin).cloned()?;
    let v = slot
        .get_or_init(|| async {
            let doc: Value = reqwest::get(format!("{origin}/openapi.json"))
                .await
                .expect("GET /openapi.json")
                .json()
                .await
                .expect("/openapi.json is JSON");
            Arc::new(OpenApiValidator::new(doc))
        })
        .await;
    Some(v.clone())
}

/// Validates one answer from `url`; panics on a mismatch.
pub async fn validate_answer(
    url: &reqwest::Url,
    method: Option<&Method>,
    status: u16,
    body: &Value,
) {
    let origin = url.origin().ascii_serialization();
    let Some(v) = validator_for(&origin).await else {
        return;
    };
    if url.path() == "/openapi.json" {
        return;
    }
    if let Err(e) = v.check(method, url.path(), status, body) {
        panic!("answer does not match /openapi.json: {e}");
    }
}
