//! Dependencies inside slipway-core point one way: model and store, then
//! services, then http and ws. No module imports from a layer above it
//! (documentation links excepted).

use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code lines (no comments) of the files of one layer that mention one
/// of `forbidden`.
fn offenders(layer: &[&str], forbidden: &[&str]) -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    for part in layer {
        let path = src.join(part);
        if path.is_dir() {
            sources(&path, &mut files);
        } else {
            assert!(path.exists(), "{} exists", path.display());
            files.push(path);
        }
    }
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable source");
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            if forbidden.iter().any(|f| code.contains(f)) {
                found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn model_and_store_import_no_layer_above() {
    let found = offenders(
        &["model.rs", "error.rs", "store"],
        &[
            "crate::services",
            "crate::http",
            "crate::ws",
            "crate::Slipway",
        ],
    );
    assert!(found.is_empty(), "upward imports:\n{}", found.join("\n"));
}

#[test]
fn services_import_no_layer_above() {
    let found = offenders(
        &["services"],
        &["crate::http", "crate::ws", "crate::Slipway"],
    );
    assert!(found.is_empty(), "upward imports:\n{}", found.join("\n"));
}

#[test]
fn the_services_clients_do_not_use_the_services() {
    let found = offenders(
        &[
            "auth",
            "github",
            "dns.rs",
            "deploy_key.rs",
            "crypto.rs",
            "config.rs",
        ],
        &[
            "crate::services",
            "crate::http",
            "crate::ws",
            "crate::Slipway",
        ],
    );
    assert!(found.is_empty(), "upward imports:\n{}", found.join("\n"));
}

#[test]
fn http_and_ws_never_call_the_store() {
    // A handler extracts, authenticates, calls one service operation and
    // renders: every store access goes through a service.
    let found = offenders(
        &["http", "ws"],
        &[".store()", "core.store", "crate::store::Store"],
    );
    assert!(
        found.is_empty(),
        "store calls outside the services:\n{}",
        found.join("\n")
    );
}
