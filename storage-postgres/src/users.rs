//! Users.

use slipway_core::error::Unique;
use slipway_core::model::{
    AuditEntry, NewEvent, NewUser, Role, RoleGate, Timestamp, User, UserUpdate,
};
use slipway_core::model::{ProjectId, UserId};
use slipway_core::store::StoreResult;
use slipway_core::StoreError;
use sqlx::PgConnection;

use crate::audit::{self, bind_audit};
use crate::events;
use crate::store::{Db, PgStore, LOCK_NS, LOCK_USERS};

/// Columns of a user, in [`UserRow`] order.
const USER_COLS: &str =
    "id, name, email, role, password_hash, github_id, created_at, disabled, session_epoch";

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: String,
    name: String,
    email: String,
    role: String,
    password_hash: Option<String>,
    github_id: Option<i64>,
    created_at: Timestamp,
    disabled: bool,
    session_epoch: i64,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;
    fn try_from(r: UserRow) -> StoreResult<User> {
        Ok(User {
            role: Role::parse(&r.role)
                .ok_or_else(|| StoreError::other(format!("unknown role {:?}", r.role)))?,
            id: r.id.into(),
            name: r.name,
            email: r.email,
            password_hash: r.password_hash,
            github_id: r.github_id,
            created_at: r.created_at,
            disabled: r.disabled,
            session_epoch: u32::try_from(r.session_epoch).map_err(|_| {
                StoreError::other(format!("session epoch {} out of range", r.session_epoch))
            })?,
        })
    }
}

fn one(row: Option<UserRow>) -> StoreResult<User> {
    row.ok_or(StoreError::NotFound)?.try_into()
}

fn maybe(row: Option<UserRow>) -> StoreResult<Option<User>> {
    row.map(User::try_from).transpose()
}

/// Takes the users lock for the rest of the transaction: user creation
/// ("is this the first user?"), admin changes ("is another active admin
/// left?") and their writes do not interleave.
async fn lock_users(conn: &mut PgConnection) -> StoreResult<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
        .bind(LOCK_NS)
        .bind(LOCK_USERS)
        .execute(&mut *conn)
        .await
        .db()?;
    Ok(())
}

/// Whether an active admin other than `id` exists (under the users lock).
async fn other_active_admin(conn: &mut PgConnection, id: &str) -> StoreResult<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM users \
         WHERE id <> $1 AND role = 'admin' AND NOT disabled)",
    )
    .bind(id)
    .fetch_one(&mut *conn)
    .await
    .db()
}

/// Whether a user other than `id` exists (under the users lock).
async fn other_user(conn: &mut PgConnection, id: &str) -> StoreResult<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE id <> $1)")
        .bind(id)
        .fetch_one(&mut *conn)
        .await
        .db()
}

/// Locks the user's row (`FOR NO KEY UPDATE`, as [`lock_user_within_quota`]
/// explains) until the transaction ends; `NotFound` when there is none.
pub(crate) async fn lock_user_for_quota(conn: &mut PgConnection, user_id: &str) -> StoreResult<()> {
    let found: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE")
            .bind(user_id)
            .fetch_optional(&mut *conn)
            .await
            .db()?;
    found.map(|_| ()).ok_or(StoreError::NotFound)
}

/// A create's exact per-user quota check, in the create's transaction:
/// locks the user's row, then runs `count` (one `$1`, the user). Concurrent
/// creates of one user wait for each other at the lock, so each counts the
/// rows the ones before it committed. `FOR NO KEY UPDATE` rather than
/// `FOR UPDATE`: the foreign key checks of other inserts naming the user
/// (a project create) take `FOR KEY SHARE`, which it does not block, while
/// deleting the user waits for it. `NotFound` when the user does not exist,
/// `Refused` when they have `max` rows or more; `usize::MAX` locks and
/// counts nothing (the insert's foreign key still finds a missing user).
pub(crate) async fn lock_user_within_quota(
    conn: &mut PgConnection,
    count: &'static str,
    user_id: &str,
    max: usize,
) -> StoreResult<()> {
    if max == usize::MAX {
        return Ok(());
    }
    lock_user_for_quota(conn, user_id).await?;
    let n: i64 = sqlx::query_scalar(count)
        .bind(user_id)
        .fetch_one(&mut *conn)
        .await
        .db()?;
    if usize::try_from(n).unwrap_or(0) >= max {
        return Err(StoreError::Refused);
    }
    Ok(())
}

impl PgStore {
    pub(crate) async fn pg_create_user(
        &self,
        user: NewUser,
        gate: RoleGate,
        audit: &AuditEntry,
    ) -> StoreResult<User> {
        let mut tx = self.inner.pool.begin().await.db()?;
        // One user creation at a time: "is this the first user?" and the
        // insert must not interleave with another signup.
        lock_users(&mut tx).await?;
        let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users)")
            .fetch_one(&mut *tx)
            .await
            .db()?;
        let Some(role) = gate.decide(!exists) else {
            return Err(StoreError::Refused);
        };
        let row: UserRow = sqlx::query_as(&format!(
            "INSERT INTO users (id, name, email, role, password_hash, github_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             RETURNING {USER_COLS}"
        ))
        .bind(&user.id)
        .bind(&user.name)
        .bind(&user.email)
        .bind(role.as_str())
        .bind(&user.password_hash)
        .bind(user.github_id)
        .bind(user.created_at)
        .fetch_one(&mut *tx)
        .await
        .db()?;
        if let RoleGate::Invitation { id, .. } = gate {
            // Consumed in the insert's transaction: when it is gone, the
            // dropped transaction takes the insert back.
            let consumed = sqlx::query("DELETE FROM invitations WHERE id = $1")
                .bind(id.to_string())
                .execute(&mut *tx)
                .await
                .db()?
                .rows_affected();
            if consumed == 0 {
                return Err(StoreError::Refused);
            }
        }
        audit::insert(&mut *tx, audit).await?;
        tx.commit().await.db()?;
        row.try_into()
    }

    pub(crate) async fn pg_get_user(&self, id: &UserId) -> StoreResult<User> {
        let row = sqlx::query_as(&format!("SELECT {USER_COLS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.inner.pool)
            .await
            .db()?;
        one(row)
    }

    pub(crate) async fn pg_find_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query_as(&format!("SELECT {USER_COLS} FROM users WHERE email = $1"))
            .bind(email)
            .fetch_optional(&self.inner.pool)
            .await
            .db()?;
        maybe(row)
    }

    pub(crate) async fn pg_find_user_by_github_id(
        &self,
        github_id: i64,
    ) -> StoreResult<Option<User>> {
        let row = sqlx::query_as(&format!(
            "SELECT {USER_COLS} FROM users WHERE github_id = $1"
        ))
        .bind(github_id)
        .fetch_optional(&self.inner.pool)
        .await
        .db()?;
        maybe(row)
    }

    pub(crate) async fn pg_link_github(
        &self,
        user_id: &UserId,
        github_id: i64,
        audit: &AuditEntry,
    ) -> StoreResult<User> {
        let row = bind_audit!(
            sqlx::query_as(&format!(
                "WITH linked AS (UPDATE users SET github_id = $2 WHERE id = $1 \
                 AND (github_id IS NULL OR github_id = $2) \
                 RETURNING {USER_COLS}), \
                 audit AS ({}) \
                 SELECT {USER_COLS} FROM linked",
                audit::insert_after("linked", 3)
            ))
            .bind(user_id)
            .bind(github_id),
            audit
        )
        .fetch_optional(&self.inner.pool)
        .await
        .db()?;
        if row.is_none() && self.pg_get_user(user_id).await.is_ok() {
            // Linked to another GitHub account: a link is never overwritten.
            return Err(StoreError::conflict(Unique::GitHubId));
        }
        one(row)
    }

    pub(crate) async fn pg_update_user(
        &self,
        id: &UserId,
        update: UserUpdate,
        audit: &AuditEntry,
    ) -> StoreResult<User> {
        let mut tx = self.inner.pool.begin().await.db()?;
        // Under the users lock, two admins demoting each other at once see
        // each other's change: one of them is refused.
        lock_users(&mut tx).await?;
        let row = sqlx::query_as(&format!(
            "SELECT {USER_COLS} FROM users WHERE id = $1 FOR UPDATE"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .db()?;
        let before = one(row)?;
        if update.removes_admin(&before) && !other_active_admin(&mut tx, id).await? {
            return Err(StoreError::Refused);
        }
        let mut after = before;
        update.apply(&mut after);
        // The row is locked: writing the computed fields loses no change.
        // `github_id` is not written (link_github owns it).
        let row: UserRow = sqlx::query_as(&format!(
            "UPDATE users SET name = $2, email = $3, role = $4, password_hash = $5, \
             disabled = $6, session_epoch = $7 WHERE id = $1 \
             RETURNING {USER_COLS}"
        ))
        .bind(id)
        .bind(&after.name)
        .bind(&after.email)
        .bind(after.role.as_str())
        .bind(&after.password_hash)
        .bind(after.disabled)
        .bind(i64::from(after.session_epoch))
        .fetch_one(&mut *tx)
        .await
        .db()?;
        audit::insert(&mut *tx, audit).await?;
        tx.commit().await.db()?;
        row.try_into()
    }

    pub(crate) async fn pg_list_users(
        &self,
        after: Option<&UserId>,
        limit: usize,
    ) -> StoreResult<Vec<User>> {
        let after_seq: i64 = match after {
            None => 0,
            Some(id) => sqlx::query_scalar("SELECT seq FROM users WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.inner.pool)
                .await
                .db()?
                .ok_or(StoreError::NotFound)?,
        };
        // `seq` is assigned under the users lock: creation order.
        let rows: Vec<UserRow> = sqlx::query_as(&format!(
            "SELECT {USER_COLS} FROM users WHERE seq > $1 ORDER BY seq LIMIT $2"
        ))
        .bind(after_seq)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.inner.pool)
        .await
        .db()?;
        rows.into_iter().map(User::try_from).collect()
    }

    pub(crate) async fn pg_delete_user(
        &self,
        id: &UserId,
        events: Vec<NewEvent>,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        let mut tx = self.inner.pool.begin().await.db()?;
        // "Is another active admin left?" must not interleave with another
        // admin change.
        lock_users(&mut tx).await?;
        // Locking the user row blocks new projects of this user (their
        // foreign key check needs a share lock on it) until we commit, so
        // every project that goes with the user gets its DELETE event.
        let active_admin: Option<bool> = sqlx::query_scalar(
            "SELECT role = 'admin' AND NOT disabled FROM users WHERE id = $1 FOR UPDATE",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .db()?;
        // Users are never left without an admin; the instance's only user
        // may go (the next sign-up becomes admin again). User creation takes
        // the users lock too, so nobody signs up in between.
        match active_admin {
            None => return Err(StoreError::NotFound),
            Some(true)
                if !other_active_admin(&mut tx, id).await? && other_user(&mut tx, id).await? =>
            {
                return Err(StoreError::Refused)
            }
            Some(_) => {}
        }
        let mut projects: Vec<(i64, ProjectId)> =
            sqlx::query_as("DELETE FROM projects WHERE owner_id = $1 RETURNING seq, id")
                .bind(id)
                .fetch_all(&mut *tx)
                .await
                .db()?;
        projects.sort();
        let ids: Vec<&ProjectId> = projects.iter().map(|(_, id)| id).collect();
        if !slipway_core::store::events_name(&events, id, &ids) {
            // Rolled back with the transaction: core reads again.
            return Err(StoreError::Stale);
        }
        // Authorizations and API tokens go by ON DELETE CASCADE.
        sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .db()?;
        // The user's audit entries stay (no foreign key).
        audit::insert(&mut *tx, audit).await?;
        if events.is_empty() {
            tx.commit().await.db()?;
            return Ok(());
        }
        let retention = self.inner.options.event_retention;
        for event in events {
            events::append(&mut tx, event, retention).await.db()?;
        }
        self.commit_events(tx).await?;
        Ok(())
    }
}
