//! Test helpers (feature `testing`): fresh databases on a test server, and
//! private PostgreSQL instances ([`PgInstance`]) that a test may crash and
//! restart without disturbing the shared test server.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};

/// The environment variable naming the test server's admin URL, e.g.
/// `postgres://postgres@127.0.0.1:5432/postgres` (read at run time).
pub const URL_VAR: &str = "SLIPWAY_TEST_POSTGRES_URL";

/// Creates a new, empty database on the server `admin_url` points at and
/// returns the URL of that database (same credentials and parameters).
pub async fn fresh_database(admin_url: &str) -> Result<String, sqlx::Error> {
    let name = format!("slipway_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = PgConnectOptions::from_str(admin_url)?.connect().await?;
    // `name` is generated above from hex digits: safe to splice.
    let create = format!(r#"CREATE DATABASE "{name}""#);
    sqlx::query(&create).execute(&mut conn).await?;
    let _ = conn.close().await;
    let mut url = url::Url::parse(admin_url)
        .map_err(|e| sqlx::Error::Configuration(format!("bad database URL: {e}").into()))?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}

/// The test server's admin URL from [`URL_VAR`], or `None` (with a notice on
/// stderr) when it is unset — unless `SLIPWAY_REQUIRE_BACKENDS=1`, which
/// turns a missing database into a panic.
pub fn admin_url() -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if require_backends() {
                panic!(
                    "{URL_VAR} is not set but SLIPWAY_REQUIRE_BACKENDS=1: start PostgreSQL \
                     (scripts/test does) and export its URL"
                );
            }
            eprintln!("notice: {URL_VAR} is not set; PostgreSQL tests skip");
            None
        }
    }
}

/// Whether `SLIPWAY_REQUIRE_BACKENDS=1`: missing backends fail tests instead
/// of skipping them.
pub fn require_backends() -> bool {
    std::env::var("SLIPWAY_REQUIRE_BACKENDS").is_ok_and(|v| v == "1")
}

/// Where PostgreSQL's programs are (`PG_BIN`, default the Debian path of 15).
pub fn pg_bin() -> PathBuf {
    std::env::var_os("PG_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin"))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A command running PostgreSQL's `program`, as the `postgres` user when we
/// are root (PostgreSQL refuses to run as root).
fn pg_command(program: &str) -> Command {
    let path = pg_bin().join(program);
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(path);
        c
    } else {
        Command::new(path)
    }
}

/// A private PostgreSQL instance in a temp directory (`initdb`, a free port
/// on 127.0.0.1, trust authentication for `postgres`), stopped and removed
/// on drop. Its methods block: call them from `spawn_blocking` in async
/// code that must keep running meanwhile.
#[derive(Debug)]
pub struct PgInstance {
    /// Its temp directory (the data directory is `dir/data`).
    pub dir: PathBuf,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl PgInstance {
    /// Whether initdb is there to make one.
    pub fn available() -> bool {
        pg_bin().join("initdb").is_file()
    }

    /// `initdb` into a fresh temp dir and start on a free port.
    pub fn start_fresh() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "slipway-pg-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        let data = dir.join("data");
        std::fs::create_dir_all(&data).expect("temp dir");
        if is_root() {
            let ok = Command::new("chown")
                .args(["-R", "postgres"])
                .arg(&dir)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "chown of the PostgreSQL data directory failed");
        }
        let out = pg_command("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "postgres", "--no-sync"])
            .stdout(Stdio::null())
            .output()
            .expect("initdb runs");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            l.local_addr().expect("local address").port()
        };
        let pg = Self { dir, port };
        pg.start();
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server on its data directory and port and waits until it
    /// accepts connections. After a SIGKILL the old backends may still hold
    /// shared memory for a moment, so a refused start is retried.
    pub fn start(&self) {
        slipway_core::testing::ports::release(self.port);
        let data = self.data();
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=100",
            self.port,
            data.display()
        );
        let mut last = String::new();
        for _ in 0..50 {
            let out = pg_command("pg_ctl")
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(data.join("server.log"))
                .args(["-w", "-t", "30", "-o", &opts, "start"])
                .stdin(Stdio::null())
                .output()
                .expect("pg_ctl runs");
            if out.status.success() {
                return;
            }
            last = String::from_utf8_lossy(&out.stderr).into_owned();
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "PostgreSQL did not start: {last}\n{}",
            std::fs::read_to_string(data.join("server.log")).unwrap_or_default()
        );
    }

    /// The postmaster's pid (first line of `postmaster.pid`).
    pub fn postmaster_pid(&self) -> Option<u32> {
        let text = std::fs::read_to_string(self.data().join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    /// SIGKILLs the postmaster (its backends exit on their own when they
    /// notice) and waits until it is gone; the port stays taken until
    /// [`start`](Self::start), as after [`stop`](Self::stop).
    pub fn kill(&self) {
        let pid = self.postmaster_pid().expect("a running postmaster");
        let ok = Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -9 {pid} failed");
        // Gone, or a zombie nobody has reaped yet.
        let alive = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
                s.rsplit(')')
                    .next()
                    .is_some_and(|r| !r.trim_start().starts_with('Z'))
            })
        };
        for _ in 0..500 {
            if !alive() {
                slipway_core::testing::ports::hold(self.port);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the postmaster {pid} survived SIGKILL");
    }

    /// Immediate shutdown (no checkpoint).
    ///
    /// After [`kill`](Self::kill) or `stop`, the port stays taken (see
    /// `slipway_core::testing::ports`) until [`start`](Self::start), so that
    /// connections to it are refused meanwhile and never reach another
    /// test's listener.
    pub fn stop(&self) {
        self.shut_down();
        slipway_core::testing::ports::hold(self.port);
    }

    fn shut_down(&self) {
        let _ = pg_command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for PgInstance {
    fn drop(&mut self) {
        self.shut_down();
        slipway_core::testing::ports::release(self.port);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
