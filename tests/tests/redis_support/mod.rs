//! Shared by the Redis-only suites: the test Redis URL and private
//! redis-server processes.

#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Whether a missing backend must fail the run (CI) rather than skip.
pub fn backends_required() -> bool {
    std::env::var("SLIPWAY_REQUIRE_BACKENDS").as_deref() == Ok("1")
}

/// `SLIPWAY_TEST_REDIS_URL` read at run time; `None` (with a notice) when
/// unset, a panic when unset under `SLIPWAY_REQUIRE_BACKENDS=1`.
pub fn redis_url(test: &str) -> Option<String> {
    match std::env::var("SLIPWAY_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if backends_required() => {
            panic!("{test}: SLIPWAY_TEST_REDIS_URL is unset but SLIPWAY_REQUIRE_BACKENDS=1")
        }
        _ => {
            eprintln!("skipped {test}: SLIPWAY_TEST_REDIS_URL is unset");
            None
        }
    }
}

/// `url` with a `prefix` query parameter naming a fresh key space.
pub fn with_fresh_prefix(url: &str, stem: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}prefix={}", slipway_tests::unique_name(stem))
}

/// A redis-server child process on 127.0.0.1 with AOF `appendfsync always`.
pub struct RedisServer {
    child: Option<Child>,
    /// Its port.
    pub port: u16,
    /// Its data directory.
    pub dir: PathBuf,
}

impl RedisServer {
    /// The redis-server binary on PATH, if any.
    pub fn available() -> bool {
        Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Starts redis-server on a free port with a fresh temp directory.
    pub fn start_fresh() -> Self {
        let dir = std::env::temp_dir().join(slipway_tests::unique_name("slipway-redis"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            l.local_addr().unwrap().port()
        };
        Self::start_on(&dir, port)
    }

    /// Starts redis-server on `port` with data in `dir` (reloading its AOF).
    pub fn start_on(dir: &Path, port: u16) -> Self {
        let log = std::fs::File::create(
            dir.join(format!("redis-{}.log", slipway_tests::unique_name("run"))),
        )
        .expect("log file");
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(dir)
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .args(["--daemonize", "no"])
            .stdout(Stdio::from(log))
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let server = Self {
            child: Some(child),
            port,
            dir: dir.to_path_buf(),
        };
        server.wait_ready();
        server
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Polls PING until redis-server answers PONG (bounded: 10 s).
    fn wait_ready(&self) {
        for _ in 0..200 {
            if ping(self.port) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server on port {} did not answer PING", self.port);
    }

    /// SIGKILL: no shutdown, no final fsync — a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL redis-server");
            child.wait().expect("reap redis-server");
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether a Redis on 127.0.0.1:`port` answers PING (fully loaded).
fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    matches!(s.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG"))
}
