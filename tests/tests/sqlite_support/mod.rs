// Each test file uses a part of this module.
#![allow(dead_code)]

//! A real slipway-server process on SQLite for the fault and restart tests.
//!
//! The server is this test binary started again with `SLIPWAY_SQLITE_CHILD=1`
//! running only the child test, which parses its flags and environment with
//! `Args::parse_from` and calls `slipway_server::run` — exactly what the
//! `slipway-server` binary's `main` does — so SIGKILL and SIGTERM are real.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Set in the child process.
pub(crate) const CHILD_VAR: &str = "SLIPWAY_SQLITE_CHILD";

/// Whether this process is the child server.
pub(crate) fn is_child() -> bool {
    std::env::var(CHILD_VAR).is_ok()
}

/// In the child: serves until SIGINT/SIGTERM with the flags the environment
/// gives, then exits (0 after a clean stop).
pub(crate) async fn child_main() {
    let args = <slipway_server::Args as clap::Parser>::parse_from([
        "slipway-server",
        "--listen",
        "127.0.0.1:0",
    ]);
    let result = slipway_server::run(args, |addr| println!("LISTENING {addr}")).await;
    if let Err(e) = &result {
        eprintln!("slipway-server failed: {e:#}");
    }
    std::process::exit(if result.is_ok() { 0 } else { 1 });
}

/// A server process.
pub(crate) struct Server {
    child: Child,
    /// Where it listens.
    pub(crate) addr: SocketAddr,
}

impl Server {
    /// Starts `child_test` of this binary as a server in `cwd` with `env`
    /// (and none of the caller's database or secret settings).
    pub(crate) fn start(child_test: &str, cwd: &Path, env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["--exact", child_test, "--nocapture"])
            .current_dir(cwd)
            .env(CHILD_VAR, "1")
            .env("SLIPWAY_ADAPTER", slipway_tests::adapter_kind())
            .env_remove("SLIPWAY_DATABASE_URL")
            .env_remove("SLIPWAY_SECRET")
            .env_remove("SLIPWAY_SECRET_FILE")
            .stdout(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("child started");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let addr = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(a) = line.strip_prefix("LISTENING ") {
                        break a.parse().unwrap();
                    }
                }
                _ => {
                    let status = child.wait();
                    panic!("the server exited before listening: {status:?}");
                }
            }
        };
        // Keep reading its output so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines.by_ref() {});
        Self { child, addr }
    }

    /// `http://<addr>`.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sends `signal` (`KILL`, `TERM`) and waits for the process to end;
    /// returns whether it exited with status 0.
    pub(crate) async fn signal_and_wait(mut self, signal: &str) -> bool {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} failed");
        tokio::task::spawn_blocking(move || self.child.wait())
            .await
            .unwrap()
            .unwrap()
            .success()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A failed test must not leave a server behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Signs up `name`; returns the access token.
pub(crate) async fn signup(http: &reqwest::Client, url: &str, name: &str) -> String {
    let answer: serde_json::Value = http
        .post(format!("{url}/auth/signup"))
        .json(
            &serde_json::json!({"name": name, "email": format!("{name}@example.com"),
                                  "password": format!("password-{name}")}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("no token: {answer}"))
        .to_string()
}

/// Signs `name` in; returns the access token.
pub(crate) async fn signin(http: &reqwest::Client, url: &str, name: &str) -> String {
    let answer = http
        .post(format!("{url}/auth/signin"))
        .json(&serde_json::json!({"email": format!("{name}@example.com"),
                                  "password": format!("password-{name}")}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200, "sign-in");
    let answer: serde_json::Value = answer.json().await.unwrap();
    answer["accessToken"].as_str().unwrap().to_string()
}

/// GET `path` with `token`: status and JSON body.
pub(crate) async fn get(
    http: &reqwest::Client,
    url: &str,
    path: &str,
    token: &str,
) -> (u16, serde_json::Value) {
    let answer = http
        .get(format!("{url}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    (
        status,
        answer.json().await.unwrap_or(serde_json::Value::Null),
    )
}
