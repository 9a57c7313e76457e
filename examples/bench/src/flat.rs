//! "Flat as data grows": the authenticated read, the list and the create on a
//! store already holding 100,000 projects over 1,000 users, compared with the
//! same requests on the same store holding 1,000 projects over the same
//! 1,000 users. Both data sets are served side by side (two Slipway servers,
//! two databases) and measured in alternating slices, so load from other
//! work on the machine falls on both alike. On the memory store the
//! difference in the two servers' RSS, divided by the difference in
//! projects, is the memory one stored project costs.
//!
//! The layout of a data set of `n` projects over `u` users: user 0 owns 50
//! projects (the list scenario's shape), user 1 owns none (it creates the
//! projects of the create measurement), the other `n - 50` projects are
//! spread round-robin over users 2..u. Ids are UUIDs derived from a random
//! tag, so the bench knows every id and owner without asking the server.
//!
//! Seeding writes real rows the server reads, through the fastest path each
//! store has: the store API (`Store::create_user`, `Store::create_project`,
//! each with its audit entry) in the server process for the memory and
//! Redis stores, bulk `INSERT`s of the users and projects tables by sqlx
//! before the server starts for PostgreSQL (then `ANALYZE`) and SQLite (no
//! audit or event rows there: those tables hold only the measurement's own
//! writes).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::{StreamExt as _, TryStreamExt as _};
use http::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use slipway_core::model::{
    AuditAction, AuditActor, AuditEntry, EventKind, NewEvent, NewUser, Project, Role, RoleGate,
    User,
};
use slipway_core::{Slipway, Store};

use crate::load::{self, request, Conn, LoadResult, MakeRequest};
use crate::report::{self, Row};
use crate::scenarios::{self, Ctx};
use crate::servers::Server;

/// Projects in the small data set, the one the large one is compared with.
pub(crate) const SMALL_PROJECTS: usize = 1_000;
/// Projects of the list owner (user 0) in both data sets.
const LIST_PROJECTS: usize = 50;
/// Alternating slices per side.
const SLICES: u32 = 6;
/// The target: the large data set's rate over the small one's.
const TARGET: f64 = 0.80;
/// Concurrent store calls while seeding through the store API.
const SEED_CONCURRENCY: usize = 64;

/// The sizes of the two data sets.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sizes {
    /// Users in both.
    pub(crate) users: usize,
    /// Projects in the small one.
    pub(crate) small: usize,
    /// Projects in the large one.
    pub(crate) large: usize,
}

/// One data set: its users and projects, with ids derived from `tag`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Seed {
    tag: u64,
    users: usize,
    projects: usize,
}

/// What a `serve` child of this scenario is given (`--flat <json>`).
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Setup {
    /// The Redis store's key prefix (each data set its own).
    pub(crate) redis_prefix: Option<String>,
    /// Data to write through the store before listening.
    pub(crate) seed: Option<Seed>,
}

impl Setup {
    /// From the `--flat` argument.
    pub(crate) fn parse(json: &str) -> anyhow::Result<Self> {
        serde_json::from_str(json).context("--flat is not a flat scenario setup")
    }
}

fn uuid(tag: u64, kind: u32, n: usize) -> String {
    let low = (u64::from(kind) << 32) | (n as u64 & 0xffff_ffff);
    uuid::Uuid::from_u128((u128::from(tag) << 64) | u128::from(low)).to_string()
}

impl Seed {
    fn new(users: usize, projects: usize) -> Self {
        Seed {
            tag: rand::random(),
            users,
            projects,
        }
    }

    fn user_id(&self, i: usize) -> String {
        uuid(self.tag, 1, i)
    }

    fn project_id(&self, j: usize) -> String {
        uuid(self.tag, 2, j)
    }

    /// The owner (user index) of project `j`.
    fn owner_of(&self, j: usize) -> usize {
        if j < LIST_PROJECTS {
            0
        } else {
            2 + (j - LIST_PROJECTS) % (self.users - 2)
        }
    }

    fn email(&self, i: usize) -> String {
        format!("flat-{:016x}-{i}@example.com", self.tag)
    }

    fn new_user(&self, i: usize, now: chrono::DateTime<chrono::Utc>) -> NewUser {
        NewUser {
            id: self.user_id(i).into(),
            name: format!("Flat {i}"),
            email: self.email(i),
            password_hash: None,
            github_id: None,
            created_at: now,
        }
    }

    fn user(&self, i: usize) -> User {
        self.new_user(i, chrono::Utc::now()).into_user(Role::Member)
    }

    fn project(&self, j: usize, now: chrono::DateTime<chrono::Utc>) -> Project {
        Project {
            id: self.project_id(j).into(),
            owner_id: self.user_id(self.owner_of(j)).into(),
            name: format!("flat {j}"),
            description: Some("a project seeded by slipway-bench".into()),
            path: None,
            source_id: format!("flat-{:016x}-src-{j}", self.tag),
            vm_id: format!("flat-{:016x}-vm-{j}", self.tag),
            networks: Vec::new(),
            created_at: now,
            updated_at: now,
        }
    }

    /// Writes the users, then the projects, through the store API, each with
    /// the audit entry core would write.
    pub(crate) async fn through_store(&self, store: &Arc<dyn Store>) -> anyhow::Result<()> {
        let now = chrono::Utc::now();
        futures::stream::iter(0..self.users)
            .map(|i| async move {
                let audit =
                    AuditEntry::new(AuditAction::Signup, now).target("user", self.user_id(i));
                store
                    .create_user(
                        self.new_user(i, now),
                        RoleGate::Exactly(Role::Member),
                        &audit,
                    )
                    .await
                    .map_err(|e| anyhow::anyhow!("seeding user {i}: {e}"))
            })
            .buffer_unordered(SEED_CONCURRENCY)
            .try_for_each(|_| async { Ok(()) })
            .await?;
        futures::stream::iter(0..self.projects)
            .map(|j| async move {
                let project = self.project(j, now);
                let mut audit = AuditEntry::new(AuditAction::ProjectCreate, now)
                    .target("project", project.id.clone());
                audit.actor = Some(AuditActor {
                    user_id: project.owner_id.clone(),
                    token_id: None,
                });
                let event = NewEvent::for_project(EventKind::Create, &project);
                store
                    .create_project(project, usize::MAX, event, &audit)
                    .await
                    .map_err(|e| anyhow::anyhow!("seeding project {j}: {e}"))
            })
            .buffer_unordered(SEED_CONCURRENCY)
            .try_for_each(|_| async { Ok(()) })
            .await
    }

    /// Bulk `INSERT`s into PostgreSQL's users and projects tables (the
    /// schema must exist), then `ANALYZE`.
    async fn seed_postgres(&self, pool: &slipway_postgres::sqlx::PgPool) -> anyhow::Result<()> {
        use slipway_postgres::sqlx;
        let now = chrono::Utc::now();
        let users: Vec<NewUser> = (0..self.users).map(|i| self.new_user(i, now)).collect();
        sqlx::query(
            "INSERT INTO users (id, name, email, role, created_at) \
             SELECT id, name, email, 'member', created_at \
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::timestamptz[]) \
             AS u (id, name, email, created_at)",
        )
        .bind(users.iter().map(|u| u.id.clone()).collect::<Vec<_>>())
        .bind(users.iter().map(|u| u.name.clone()).collect::<Vec<_>>())
        .bind(users.iter().map(|u| u.email.clone()).collect::<Vec<_>>())
        .bind(users.iter().map(|u| u.created_at).collect::<Vec<_>>())
        .execute(pool)
        .await?;
        let all: Vec<usize> = (0..self.projects).collect();
        for chunk in all.chunks(10_000) {
            let ps: Vec<Project> = chunk.iter().map(|&j| self.project(j, now)).collect();
            let col = |f: fn(&Project) -> String| ps.iter().map(f).collect::<Vec<_>>();
            sqlx::query(
                "INSERT INTO projects (id, owner_id, name, description, source_id, vm_id, \
                 created_at, updated_at) \
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], \
                 $5::text[], $6::text[], $7::timestamptz[], $7::timestamptz[])",
            )
            .bind(col(|p| p.id.to_string()))
            .bind(col(|p| p.owner_id.to_string()))
            .bind(col(|p| p.name.clone()))
            .bind(col(|p| p.description.clone().unwrap_or_default()))
            .bind(col(|p| p.source_id.clone()))
            .bind(col(|p| p.vm_id.clone()))
            .bind(ps.iter().map(|p| p.created_at).collect::<Vec<_>>())
            .execute(pool)
            .await?;
        }
        // Each owner's quota slots, as PgStore's migration gives existing
        // projects (`project_slots`) and its creates keep them.
        sqlx::query(
            "UPDATE projects p SET slot = n.slot FROM (SELECT id, \
             (row_number() OVER (PARTITION BY owner_id ORDER BY seq) - 1)::INTEGER AS slot \
             FROM projects) n WHERE p.id = n.id",
        )
        .execute(pool)
        .await?;
        sqlx::query("ANALYZE users, projects").execute(pool).await?;
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM projects")
            .fetch_one(pool)
            .await?;
        anyhow::ensure!(
            n as usize == self.projects,
            "seeded {n} projects, not {}",
            self.projects
        );
        Ok(())
    }

    /// One transaction of multi-row `INSERT`s into SQLite's users and
    /// projects tables (the schema must exist).
    async fn seed_sqlite(&self, url: &str) -> anyhow::Result<()> {
        use slipway_sqlite::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
        use slipway_sqlite::sqlx::{self, Connection as _, QueryBuilder};
        let options = SqliteConnectOptions::new()
            .filename(slipway_sqlite::path_from_url(url)?)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true);
        let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
        let mut tx = conn.begin().await?;
        let now = chrono::Utc::now();
        let users: Vec<usize> = (0..self.users).collect();
        for chunk in users.chunks(100) {
            let mut q = QueryBuilder::new("INSERT INTO users (id, name, email, role, created_at) ");
            q.push_values(chunk, |mut b, &i| {
                let u = self.new_user(i, now);
                b.push_bind(u.id)
                    .push_bind(u.name)
                    .push_bind(u.email)
                    .push_bind("member")
                    .push_bind(u.created_at);
            });
            q.build().execute(&mut *tx).await?;
        }
        let all: Vec<usize> = (0..self.projects).collect();
        for chunk in all.chunks(100) {
            let mut q = QueryBuilder::new(
                "INSERT INTO projects (id, owner_id, name, description, path, source_id, vm_id, \
                 created_at, updated_at) ",
            );
            q.push_values(chunk, |mut b, &j| {
                let p = self.project(j, now);
                b.push_bind(p.id)
                    .push_bind(p.owner_id)
                    .push_bind(p.name)
                    .push_bind(p.description)
                    .push_bind(p.path)
                    .push_bind(p.source_id)
                    .push_bind(p.vm_id)
                    .push_bind(p.created_at)
                    .push_bind(p.updated_at);
            });
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM projects")
            .fetch_one(&mut conn)
            .await?;
        conn.close().await?;
        anyhow::ensure!(
            n as usize == self.projects,
            "seeded {n} projects, not {}",
            self.projects
        );
        Ok(())
    }
}

/// `url` (`postgres://…/db?…`) naming database `name` instead.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let host_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[host_start..]
        .find('/')
        .map_or(base.len(), |i| host_start + i);
    format!("{}/{name}{query}", &base[..path_start])
}

/// The store of one data set, prepared (and seeded where the seeding
/// happens outside the server).
struct Prepared {
    /// The server's database URL.
    db: String,
    /// `--flat` for the server.
    setup: Setup,
    /// PostgreSQL: the database to drop afterwards.
    pg_database: Option<String>,
}

async fn prepare(store: &str, db: &str, seed: &Seed, which: &str) -> anyhow::Result<Prepared> {
    let mut out = Prepared {
        db: scenarios::resolve(db),
        setup: Setup::default(),
        pg_database: None,
    };
    match store {
        "postgres" => {
            use slipway_postgres::sqlx::{self, Connection as _};
            let name = format!("slipway_flat_{:016x}_{which}", seed.tag);
            let mut admin = sqlx::PgConnection::connect(db).await?;
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut admin)
                .await
                .context("the flat scenario creates a database per data set")?;
            admin.close().await?;
            out.db = with_database(db, &name);
            out.pg_database = Some(name);
            let pg =
                slipway_postgres::PgStore::connect(&out.db, slipway_postgres::PgOptions::default())
                    .await?;
            seed.seed_postgres(pg.pool()).await?;
            pg.pool().close().await;
        }
        "sqlite" => {
            let lite = slipway_sqlite::SqliteStore::open(
                &out.db,
                slipway_sqlite::SqliteOptions::default(),
            )
            .await?;
            lite.close().await;
            drop(lite);
            seed.seed_sqlite(&out.db).await?;
        }
        "redis" => {
            out.setup.redis_prefix = Some(redis_prefix(seed, which));
            out.setup.seed = Some(seed.clone());
        }
        _ => out.setup.seed = Some(seed.clone()),
    }
    Ok(out)
}

fn redis_prefix(seed: &Seed, which: &str) -> String {
    format!("slipway-bench-flat-{:016x}-{which}", seed.tag)
}

/// Drops what `prepare` made outside the server (after it stopped).
async fn cleanup(store: &str, db: &str, prepared: &Prepared) -> anyhow::Result<()> {
    if let Some(name) = &prepared.pg_database {
        use slipway_postgres::sqlx::{self, Connection as _};
        let mut admin = sqlx::PgConnection::connect(db).await?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await?;
        admin.close().await?;
    }
    if let (Some(prefix), "redis") = (&prepared.setup.redis_prefix, store) {
        use slipway_redis::redis;
        let client = redis::Client::open(db)?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        let pattern = format!("{prefix}:*");
        let mut cursor = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(5_000)
                .query_async(&mut conn)
                .await?;
            if !keys.is_empty() {
                let _: i64 = redis::cmd("UNLINK")
                    .arg(&keys)
                    .query_async(&mut conn)
                    .await?;
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
    Ok(())
}

/// One data set, served.
struct Side {
    seed: Seed,
    server: Server,
    prepared: Prepared,
    /// `Bearer` tokens of every user, by index.
    tokens: Arc<Vec<String>>,
    /// `/project/{id}` paths and their owners' indexes.
    reads: Arc<Vec<(String, usize)>>,
    /// How long seeding and starting took.
    took: Duration,
}

impl Ctx {
    async fn side(&self, store: &str, db: &str, seed: Seed, which: &str) -> anyhow::Result<Side> {
        let t0 = Instant::now();
        let prepared = prepare(store, db, &seed, which).await?;
        let setup = serde_json::to_string(&prepared.setup)?;
        let server = Server::slipway_flat(self.mode, &self.secret, &prepared.db, Some(&setup))
            .await
            .with_context(|| format!("starting the {which} data set's server on {store}"))?;
        let took = t0.elapsed();
        // Tokens as the server issues them (same secret, same claims).
        let issuer = Slipway::builder()
            .secret(self.secret.as_bytes().to_vec())
            .store(slipway_core::MemoryStore::new())
            .build()?;
        let tokens = (0..seed.users)
            .map(|i| issuer.issue_token(&seed.user(i), None))
            .collect();
        let reads = (0..seed.projects)
            .map(|j| (format!("/project/{}", seed.project_id(j)), seed.owner_of(j)))
            .collect();
        eprintln!(
            "flat ({store}): {} projects over {} users seeded and served in {:.1} s",
            seed.projects,
            seed.users,
            took.as_secs_f64()
        );
        Ok(Side {
            seed,
            server,
            prepared,
            tokens: Arc::new(tokens),
            reads: Arc::new(reads),
            took,
        })
    }

    /// Runs `make` on both sides in alternating slices (the first side
    /// first in even slices, second in odd ones), after an unmeasured
    /// warm-up of each; `trim` deletes the creator's projects on a side
    /// after each of its loads, unmeasured.
    async fn alternate(
        &self,
        sides: [(&Side, MakeRequest); 2],
        expect: StatusCode,
        trim: bool,
    ) -> anyhow::Result<[LoadResult; 2]> {
        let conns = self.connections;
        let slice = self.duration / SLICES;
        let settle = Duration::from_millis(50);
        let run = |i: usize, warmup: Duration, duration: Duration| {
            let (side, make) = &sides[i];
            load::run(
                side.server.addr(),
                conns,
                warmup,
                duration,
                make.clone(),
                expect,
            )
        };
        let creator = |i: usize| sides[i].0.tokens[1].clone();
        for (i, side) in sides.iter().enumerate() {
            run(i, self.warmup, Duration::ZERO).await;
            if trim {
                trim_projects(side.0.server.addr(), &creator(i)).await?;
            }
        }
        let mut totals: [Option<LoadResult>; 2] = [None, None];
        for s in 0..SLICES {
            let order = if s % 2 == 0 { [0, 1] } else { [1, 0] };
            for i in order {
                merge(&mut totals[i], run(i, settle, slice).await);
                if trim {
                    trim_projects(sides[i].0.server.addr(), &creator(i)).await?;
                }
            }
        }
        let [a, b] = totals;
        Ok([a.expect("slices ran"), b.expect("slices ran")])
    }
}

/// Adds one slice to the slices so far (their windows add up).
fn merge(total: &mut Option<LoadResult>, part: LoadResult) {
    match total {
        None => *total = Some(part),
        Some(t) => {
            t.window += part.window;
            t.absorb(part);
        }
    }
}

/// Deletes every project of the user of `token` (the creator's, after a
/// create load), over 16 connections; returns how many.
async fn trim_projects(addr: SocketAddr, token: &str) -> anyhow::Result<usize> {
    let mut conn = Conn::open(addr).await?;
    let listed = conn
        .json(
            request(Method::GET, "/project", Some(token), None),
            StatusCode::OK,
        )
        .await?;
    let ids: Vec<String> = listed
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let n = ids.len();
    let ids = Arc::new(Mutex::new(ids));
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (ids, token) = (ids.clone(), token.to_string());
            tokio::spawn(async move {
                let mut conn = Conn::open(addr).await?;
                loop {
                    let Some(id) = ids.lock().expect("not poisoned").pop() else {
                        return anyhow::Ok(());
                    };
                    let path = format!("/project/{id}");
                    let (status, body) = conn
                        .send(request(Method::DELETE, &path, Some(&token), None))
                        .await?;
                    anyhow::ensure!(
                        status == StatusCode::NO_CONTENT,
                        "DELETE {path} answered {status}: {}",
                        String::from_utf8_lossy(&body)
                    );
                }
            })
        })
        .collect();
    for t in tasks {
        t.await??;
    }
    Ok(n)
}

/// `1,000`, `100,000`.
fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn project_body(tag: &str) -> Vec<u8> {
    serde_json::json!({
        "name": format!("flat {tag}"),
        "description": "a project created by slipway-bench",
        "sourceId": format!("flat-src-{tag}"),
        "vmId": format!("flat-vm-{tag}"),
    })
    .to_string()
    .into_bytes()
}

/// The three requests on one side.
fn requests(side: &Side) -> [MakeRequest; 3] {
    let (tokens, reads) = (side.tokens.clone(), side.reads.clone());
    let read: MakeRequest = Arc::new(move |_, _| {
        let (path, owner) = &reads[rand::random::<usize>() % reads.len()];
        request(Method::GET, path, Some(&tokens[*owner]), None)
    });
    let lister = side.tokens[0].clone();
    let list: MakeRequest =
        Arc::new(move |_, _| request(Method::GET, "/project", Some(&lister), None));
    let creator = side.tokens[1].clone();
    let run = scenarios::unique();
    let n = Arc::new(AtomicU64::new(0));
    let create: MakeRequest = Arc::new(move |_, _| {
        let tag = format!("{run}-{}", n.fetch_add(1, Ordering::Relaxed));
        request(
            Method::POST,
            "/project",
            Some(&creator),
            Some(project_body(&tag)),
        )
    });
    [read, list, create]
}

/// The scenario on one store: both data sets served side by side, the
/// three requests measured alternately, one row per side and request
/// (the large side's compared with the small side's), and on the memory
/// store the RSS per stored project.
pub(crate) async fn run(
    rows: &mut Vec<Row>,
    ctx: &Ctx,
    store: &str,
    db: &str,
    sizes: Sizes,
) -> anyhow::Result<()> {
    if ctx.external.is_some() {
        eprintln!("flat as data grows: skipped, it starts its own servers");
        return Ok(());
    }
    anyhow::ensure!(
        sizes.users >= 3 && sizes.small >= LIST_PROJECTS && sizes.large > sizes.small,
        "the flat scenario needs at least 3 users and more than {} projects",
        sizes.small
    );
    let small = ctx
        .side(store, db, Seed::new(sizes.users, sizes.small), "small")
        .await?;
    let large = match ctx
        .side(store, db, Seed::new(sizes.users, sizes.large), "large")
        .await
    {
        Ok(side) => side,
        Err(e) => {
            stop(store, db, small).await;
            return Err(e);
        }
    };
    let result = measure(rows, ctx, store, &small, &large).await;
    stop(store, db, small).await;
    stop(store, db, large).await;
    result
}

async fn stop(store: &str, db: &str, side: Side) {
    side.server.stop().await;
    if let Err(e) = cleanup(store, db, &side.prepared).await {
        eprintln!("flat ({store}): cleaning up after the data set failed: {e:#}");
    }
}

async fn measure(
    rows: &mut Vec<Row>,
    ctx: &Ctx,
    store: &str,
    small: &Side,
    large: &Side,
) -> anyhow::Result<()> {
    let (ns, nl) = (small.seed.projects, large.seed.projects);
    let users = small.seed.users;
    // RSS of the two fresh servers, seeded, before any request.
    let rss = [small.server.rss_kib(), large.server.rss_kib()];
    // The list owner's listing holds 50 projects on both sides.
    for side in [small, large] {
        let mut conn = Conn::open(side.server.addr()).await?;
        let listed = conn
            .json(
                request(Method::GET, "/project", Some(&side.tokens[0]), None),
                StatusCode::OK,
            )
            .await?;
        let n = listed.as_array().map(Vec::len).unwrap_or(0);
        anyhow::ensure!(
            n == LIST_PROJECTS,
            "the list owner has {n} projects, not 50"
        );
    }
    let [s_reqs, l_reqs] = [requests(small), requests(large)];
    let what = [
        ("GET /project/{id}", StatusCode::OK, false),
        ("GET /project (50 projects)", StatusCode::OK, false),
        ("POST /project", StatusCode::CREATED, true),
    ];
    for (k, (name, expect, trim)) in what.into_iter().enumerate() {
        let before = [small.server.rss_kib(), large.server.rss_kib()];
        let [s, l] = ctx
            .alternate(
                [(small, s_reqs[k].clone()), (large, l_reqs[k].clone())],
                expect,
                trim,
            )
            .await?;
        let label = |n: usize| format!("{} projects", thousands(n));
        let mut s_row = Row::from_load(
            &format!("{}: {name}", label(ns)),
            store,
            ctx.connections,
            &s,
        );
        let mut l_row = Row::from_load(
            &format!("{}: {name}", label(nl)),
            store,
            ctx.connections,
            &l,
        );
        s_row.rss_before_kib = before[0];
        s_row.rss_after_kib = small.server.rss_kib();
        l_row.rss_before_kib = before[1];
        l_row.rss_after_kib = large.server.rss_kib();
        let how = match k {
            0 => "a random one of all the projects, as its owner".to_string(),
            1 => "the list owner's 50 projects".to_string(),
            _ => "by a user owning none; its projects are deleted after each slice, unmeasured"
                .to_string(),
        };
        s_row.add_note(format!(
            "{how}; {} projects over {} users, seeded and served in {:.1} s; \
             measured alternately with {} projects in {SLICES} slices each",
            thousands(ns),
            thousands(users),
            small.took.as_secs_f64(),
            thousands(nl)
        ));
        l_row.against(&s_row);
        l_row.ratio_target(TARGET);
        l_row.add_note(format!(
            "{how}; {} projects over {} users, seeded and served in {:.1} s; \
             measured alternately with {} projects in {SLICES} slices each",
            thousands(nl),
            thousands(users),
            large.took.as_secs_f64(),
            thousands(ns)
        ));
        report::push(rows, s_row);
        report::push(rows, l_row);
    }
    if store == "memory" {
        if let [Some(s), Some(l)] = rss {
            let per = (l as f64 - s as f64) * 1024.0 / (nl - ns) as f64;
            let mut row = Row {
                scenario: format!("RSS per stored project: {per:.0} bytes"),
                store: store.to_string(),
                rss_before_kib: Some(s),
                rss_after_kib: Some(l),
                ..Row::default()
            };
            row.add_note(format!(
                "the server seeded with {} projects (before) and the one seeded with {} \
                 (after), each over {} users, before any request; (after − before) / {} \
                 projects; each project was written with its audit entry",
                thousands(ns),
                thousands(nl),
                thousands(users),
                thousands(nl - ns)
            ));
            report::push(rows, row);
        }
    }
    Ok(())
}
