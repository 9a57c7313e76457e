//! `slipway-server migrate`, `check`, `--no-migrate` and the first-user
//! warning, run as the binary (SQLite files in a temp directory).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Guards against a hang (reported as a failure); never about speed.
const HANG: Duration = Duration::from_secs(60);
const SECRET: &str = "a-test-secret-of-at-least-32-bytes-long";

fn server() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_slipway-server"));
    for var in [
        "SLIPWAY_DATABASE_URL",
        "SLIPWAY_SECRET",
        "SLIPWAY_SECRET_FILE",
        "SLIPWAY_PREVIOUS_SECRET_FILE",
        "SLIPWAY_NO_MIGRATE",
        "SLIPWAY_SIGNUP",
        "SLIPWAY_LISTEN",
        "SLIPWAY_LOG_FORMAT",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("RUST_LOG", "info");
    cmd
}

fn run(args: &[&str]) -> Output {
    server().args(args).output().expect("slipway-server runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("slipway-commands-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn url(&self) -> String {
        format!("sqlite://{}", self.0.join("slipway.db").display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running server, killed (and reaped) on drop.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the server with `args`; the first line of its output that
/// contains one of `needles`, and the server (killed on drop).
fn serve_until(args: &[&str], needles: &[&str]) -> (String, Running) {
    let mut running = Running(
        server()
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starts"),
    );
    let (tx, rx) = mpsc::channel();
    for pipe in [
        Box::new(running.0.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(running.0.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    let mut seen = Vec::new();
    loop {
        let line = rx
            .recv_timeout(HANG)
            .unwrap_or_else(|_| panic!("none of {needles:?} in {seen:#?}"));
        if needles.iter().any(|n| line.contains(n)) {
            return (line, running);
        }
        seen.push(line);
    }
}

#[test]
fn migrate_then_no_migrate_starts_and_an_unmigrated_schema_is_refused() {
    let dir = TempDir::new("migrate");
    let url = dir.url();
    // A server that must not migrate refuses the empty database clearly.
    let out = run(&[
        "--database-url",
        &url,
        "--secret",
        SECRET,
        "--no-migrate",
        "--listen",
        "127.0.0.1:0",
    ]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("not migrated"), "{}", text(&out));
    assert!(
        text(&out).contains("slipway-server migrate"),
        "{}",
        text(&out)
    );
    // check says the same with --no-migrate, and passes without it.
    let out = run(&[
        "--database-url",
        &url,
        "--secret",
        SECRET,
        "--no-migrate",
        "check",
    ]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("not migrated"), "{}", text(&out));
    let out = run(&["--database-url", &url, "--secret", SECRET, "check"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("migrates it on start"),
        "{}",
        text(&out)
    );

    let out = run(&["--database-url", &url, "migrate"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("the schema is migrated"),
        "{}",
        text(&out)
    );
    let out = run(&[
        "--database-url",
        &url,
        "--secret",
        SECRET,
        "--no-migrate",
        "check",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("the schema is migrated"),
        "{}",
        text(&out)
    );

    let (line, _server) = serve_until(
        &["--database-url", &url, "--secret", SECRET, "--no-migrate"],
        &["slipway-server listening", "Error"],
    );
    assert!(line.contains("listening"), "{line}");
}

#[test]
fn check_fails_clearly_on_bad_settings_and_unreachable_stores() {
    let out = run(&[
        "--database-url",
        "memory:",
        "--secret",
        "too short",
        "check",
    ]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("SLIPWAY_SECRET is invalid"),
        "{}",
        text(&out)
    );

    let out = run(&[
        "--database-url",
        "sqlite:///no/such/directory/slipway.db",
        "--secret",
        SECRET,
        "check",
    ]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("cannot open the SQLite store"),
        "{}",
        text(&out)
    );

    let out = run(&["--database-url", "mysql://x", "check"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("SLIPWAY_SECRET"), "{}", text(&out));
    let out = run(&["--database-url", "mysql://x", "--secret", SECRET, "check"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("unsupported database URL scheme"),
        "{}",
        text(&out)
    );

    let out = run(&["--database-url", "memory:", "check"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("the store answers"), "{}", text(&out));

    let out = run(&["--database-url", "memory:", "migrate"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("nothing to migrate"), "{}", text(&out));
}

#[test]
fn an_empty_store_with_open_signup_warns_that_the_first_account_becomes_admin() {
    let (line, _server) = serve_until(
        &["--database-url", "memory:"],
        &["becomes admin", "slipway-server listening"],
    );
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("slipway-server admin create-user"), "{line}");

    let (line, _server) = serve_until(
        &["--database-url", "memory:", "--signup", "closed"],
        &["becomes admin", "slipway-server listening"],
    );
    assert!(
        line.contains("listening"),
        "no warning with sign-up closed: {line}"
    );
}
