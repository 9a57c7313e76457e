//! Shared by the PostgreSQL-only suites: the test server's URL, fresh
//! databases, and private PostgreSQL instances that a test may kill.

#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use slipway_postgres::testing;

/// `SLIPWAY_TEST_POSTGRES_URL` read at run time; `None` (with a notice) when
/// unset, a panic when unset under `SLIPWAY_REQUIRE_BACKENDS=1`.
pub fn admin_url(test: &str) -> Option<String> {
    match std::env::var(testing::URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if testing::require_backends() => {
            panic!(
                "{test}: {} is unset but SLIPWAY_REQUIRE_BACKENDS=1",
                testing::URL_VAR
            )
        }
        _ => {
            eprintln!("skipped {test}: {} is unset", testing::URL_VAR);
            None
        }
    }
}

/// A fresh empty database on the server `admin` names; its URL.
pub async fn fresh_database(admin: &str) -> String {
    testing::fresh_database(admin)
        .await
        .unwrap_or_else(|e| panic!("cannot create a test database: {e}"))
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

/// A private PostgreSQL instance in a temp directory, stopped on drop.
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
        let dir = std::env::temp_dir().join(slipway_tests::unique_name("slipway-pg"));
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
            l.local_addr().unwrap().port()
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
    /// notice) and waits until it is gone.
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
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the postmaster {pid} survived SIGKILL");
    }

    /// Immediate shutdown (no checkpoint).
    pub fn stop(&self) {
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
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
