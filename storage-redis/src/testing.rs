//! Helpers for tests (feature `testing`): a private redis-server child
//! process on 127.0.0.1 that a test can crash (SIGKILL) and restart on the
//! same data directory, for recovery and fault tests.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Whether a missing backend must fail the run (CI sets
/// `SLIPWAY_REQUIRE_BACKENDS=1`) rather than skip.
pub fn require_backends() -> bool {
    std::env::var("SLIPWAY_REQUIRE_BACKENDS").as_deref() == Ok("1")
}

/// A redis-server on 127.0.0.1 with AOF `appendfsync always` (an
/// acknowledged write survives a crash); SIGKILLed on drop.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    /// Its port.
    pub port: u16,
    /// Its data directory.
    pub dir: PathBuf,
}

impl RedisServer {
    /// Whether `redis-server` is on PATH.
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
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "slipway-redis-{}-{nanos}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            l.local_addr().expect("local addr").port()
        };
        Self::start_on(&dir, port)
    }

    /// Starts redis-server on `port` with data in `dir` (reloading its AOF)
    /// and waits until it answers PING (at most 10 s).
    pub fn start_on(dir: &Path, port: u16) -> Self {
        slipway_core::testing::ports::release(port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("redis.log"))
            .expect("log file");
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(dir)
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .args(["--save", "", "--daemonize", "no"])
            .stdout(Stdio::from(log))
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let server = Self {
            child: Some(child),
            port,
            dir: dir.to_path_buf(),
        };
        for _ in 0..200 {
            if ping(port) {
                return server;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server on port {port} did not answer PING");
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Crashes the server (SIGKILL, see [`kill`](Self::kill)) and starts it
    /// again on the same port and data directory, reloading its AOF; returns
    /// once it answers PING (at most 10 s).
    pub fn restart(&mut self) {
        self.kill();
        let mut again = Self::start_on(&self.dir, self.port);
        self.child = again.child.take();
    }

    /// SIGKILL: no shutdown, no final fsync — a crash. The port stays
    /// taken (see `slipway_core::testing::ports`) until a server starts on
    /// it again, so that connections to it are refused meanwhile and never
    /// reach another test's listener.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL redis-server");
            child.wait().expect("reap redis-server");
            slipway_core::testing::ports::hold(self.port);
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        slipway_core::testing::ports::release(self.port);
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
