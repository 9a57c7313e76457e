//! The operations flags: their environment names, defaults and checks.

use std::time::Duration;

use clap::{CommandFactory, Parser};
use slipway_server::{Args, LogFormat};

fn env_of(id: &str) -> String {
    Args::command()
        .get_arguments()
        .find(|a| a.get_id() == id)
        .and_then(|a| a.get_env())
        .unwrap_or_else(|| panic!("--{id} has an environment fallback"))
        .to_string_lossy()
        .into_owned()
}

#[test]
fn new_settings_have_their_documented_environment_names() {
    assert_eq!(env_of("header_read_timeout"), "SLIPWAY_HEADER_READ_TIMEOUT");
    assert_eq!(env_of("max_connections"), "SLIPWAY_MAX_CONNECTIONS");
    assert_eq!(env_of("log_format"), "SLIPWAY_LOG_FORMAT");
    assert_eq!(env_of("request_timeout"), "SLIPWAY_REQUEST_TIMEOUT");
}

#[test]
fn defaults_are_10s_10000_connections_and_text() {
    let args = Args::try_parse_from(["slipway-server"]).unwrap();
    let opts = args.http_options();
    assert_eq!(opts.header_read_timeout, Duration::from_secs(10));
    assert_eq!(opts.max_connections, 10_000);
    assert_eq!(args.log_format, LogFormat::Text);
}

#[test]
fn flags_reach_the_http_options() {
    let args = Args::try_parse_from([
        "slipway-server",
        "--header-read-timeout",
        "2s",
        "--max-connections",
        "3",
        "--request-timeout",
        "500ms",
        "--log-format",
        "json",
    ])
    .unwrap();
    let opts = args.http_options();
    assert_eq!(opts.header_read_timeout, Duration::from_secs(2));
    assert_eq!(opts.max_connections, 3);
    assert_eq!(opts.request_timeout, Duration::from_millis(500));
    assert_eq!(args.log_format, LogFormat::Json);
}

#[test]
fn nonsense_values_are_refused() {
    for bad in [
        &["--max-connections", "0"][..],
        &["--max-connections", "-1"],
        &["--max-connections", "lots"],
        &["--header-read-timeout", "soon"],
        &["--log-format", "xml"],
    ] {
        let argv = std::iter::once("slipway-server").chain(bad.iter().copied());
        assert!(Args::try_parse_from(argv).is_err(), "{bad:?} accepted");
    }
}
