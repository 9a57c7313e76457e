//! `slipway-server admin create-user | list-users | reset-password | set-role |
//! delete-user`: the real binary on a SQLite file, passwords on standard
//! input; the results checked by signing in through the services.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use slipway_core::model::Role;
use slipway_core::services::{Error, Signin};
use slipway_server::Args;

const SECRET: &str = "an admin-command test secret of at least 32 bytes";

struct Db {
    dir: PathBuf,
}

impl Db {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "slipway-admin-{name}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Db { dir }
    }
    fn url(&self) -> String {
        format!("sqlite://{}", self.dir.join("slipway.db").display())
    }
    /// Runs `slipway-server <args>` on this database with `stdin` piped in.
    fn run(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_slipway-server"))
            .args(args)
            .env("SLIPWAY_DATABASE_URL", self.url())
            .env("SLIPWAY_SECRET", SECRET)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("slipway-server runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }
    fn ok(&self, args: &[&str], stdin: &str) -> String {
        let out = self.run(args, stdin);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
    fn fails(&self, args: &[&str], stdin: &str) -> String {
        let out = self.run(args, stdin);
        assert!(!out.status.success(), "{args:?} should fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
    /// Signs in through an in-process instance on the same file (the
    /// commands have exited: SQLite serves one process per file).
    async fn signin(&self, email: &str, password: &str) -> Result<Role, Error> {
        let mut args = Args::defaults();
        args.database_url = self.url();
        args.secret = Some(SECRET.into());
        let slipway = slipway_server::build(&args, |b| b).await.unwrap();
        let result = slipway
            .accounts()
            .signin(Signin::new(email, password))
            .await
            .map(|s| s.user.role);
        drop(slipway);
        result
    }
    /// Every audit entry, newest first.
    async fn audit(&self) -> Vec<slipway_core::model::AuditEntry> {
        let mut args = Args::defaults();
        args.database_url = self.url();
        args.secret = Some(SECRET.into());
        let slipway = slipway_server::build(&args, |b| b).await.unwrap();
        let page = slipway
            .audit()
            .list(
                &slipway_core::services::Principal::system(),
                Default::default(),
            )
            .await
            .unwrap();
        drop(slipway);
        page.items
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn admin_commands_manage_users_with_passwords_from_stdin() {
    let db = Db::new("users");
    let out = db.ok(
        &[
            "admin",
            "create-user",
            "--email",
            "Ada@Example.com",
            "--name",
            "Ada",
            "--admin",
        ],
        "first password\n",
    );
    assert!(out.contains("created ada@example.com (admin)"), "{out}");
    // Without --admin: a member, whatever the order of creation.
    db.ok(
        &[
            "admin",
            "create-user",
            "--email",
            "bob@example.com",
            "--name",
            "Bob",
        ],
        "bob password\n",
    );
    assert_eq!(
        db.signin("ada@example.com", "first password")
            .await
            .unwrap(),
        Role::Admin
    );
    assert_eq!(
        db.signin("bob@example.com", "bob password").await.unwrap(),
        Role::Member
    );

    let list = db.ok(&["admin", "list-users"], "");
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 2, "{list}");
    assert!(
        lines[0].contains("\tada@example.com\tadmin\tactive\tAda"),
        "{list}"
    );
    assert!(
        lines[1].contains("\tbob@example.com\tmember\tactive\tBob"),
        "{list}"
    );
    assert!(!list.contains("argon2"), "{list}");

    // A duplicate email, a short password, a missing password are refused.
    let e = db.fails(
        &[
            "admin",
            "create-user",
            "--email",
            "bob@example.com",
            "--name",
            "B",
        ],
        "another password\n",
    );
    assert!(e.contains("already registered"), "{e}");
    let e = db.fails(
        &[
            "admin",
            "create-user",
            "--email",
            "c@example.com",
            "--name",
            "C",
        ],
        "short\n",
    );
    assert!(e.contains("8 and 256"), "{e}");
    db.fails(
        &[
            "admin",
            "create-user",
            "--email",
            "d@example.com",
            "--name",
            "D",
        ],
        "",
    );
    // The password is never a flag.
    db.fails(
        &[
            "admin",
            "create-user",
            "--email",
            "e@example.com",
            "--name",
            "E",
            "--password",
            "x",
        ],
        "",
    );

    db.ok(
        &["admin", "reset-password", "--email", "bob@example.com"],
        "a brand new password\n",
    );
    assert!(db.signin("bob@example.com", "bob password").await.is_err());
    assert_eq!(
        db.signin("bob@example.com", "a brand new password")
            .await
            .unwrap(),
        Role::Member
    );

    // The last admin stays; with a second one, the first may be demoted.
    let e = db.fails(
        &[
            "admin",
            "set-role",
            "--email",
            "ada@example.com",
            "--role",
            "member",
        ],
        "",
    );
    assert!(e.contains("last active admin"), "{e}");
    let e = db.fails(&["admin", "delete-user", "--email", "ada@example.com"], "");
    assert!(e.contains("last active admin"), "{e}");
    db.fails(
        &[
            "admin",
            "set-role",
            "--email",
            "bob@example.com",
            "--role",
            "owner",
        ],
        "",
    );
    let out = db.ok(
        &[
            "admin",
            "set-role",
            "--email",
            "bob@example.com",
            "--role",
            "admin",
        ],
        "",
    );
    assert!(out.contains("bob@example.com is now admin"), "{out}");
    db.ok(
        &[
            "admin",
            "set-role",
            "--email",
            "ada@example.com",
            "--role",
            "member",
        ],
        "",
    );
    assert_eq!(
        db.signin("ada@example.com", "first password")
            .await
            .unwrap(),
        Role::Member
    );

    db.ok(&["admin", "delete-user", "--email", "ada@example.com"], "");
    assert!(matches!(
        db.signin("ada@example.com", "first password").await,
        Err(Error::Unauthenticated(_))
    ));
    let e = db.fails(&["admin", "delete-user", "--email", "ada@example.com"], "");
    assert!(e.contains("not found"), "{e}");
    assert_eq!(db.ok(&["admin", "list-users"], "").lines().count(), 1);

    // Every command that changed something left an audit entry without an
    // actor (the operator at the machine), and no password.
    let entries = db.audit().await;
    let actions: Vec<&str> = entries
        .iter()
        .filter(|e| e.actor.is_none() && e.action.as_str().starts_with("user."))
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "user.delete",
            "user.update",
            "user.update",
            "user.password.reset",
            "user.create",
            "user.create",
        ],
        "{entries:#?}"
    );
    let text = format!("{entries:?}");
    for password in ["first password", "bob password", "a brand new password"] {
        assert!(!text.contains(password));
    }
}
