//! Users.

use slipway_core::error::Unique;
use slipway_core::model::{
    AuditEntry, NewEvent, NewUser, Role, RoleGate, Timestamp, User, UserUpdate,
};
use slipway_core::model::{ProjectId, UserId};
use slipway_core::store::StoreResult;
use slipway_core::StoreError;
use sqlx::{Connection as _, SqliteConnection};

use crate::audit;
use crate::error::{write_failed, Probe, Value};
use crate::store::{Db, SqliteStore};

/// Columns of a user, in [`UserRow`] order.
const USER_COLS: &str =
    "id, name, email, role, password_hash, github_id, created_at, disabled, session_epoch";

#[derive(sqlx::FromRow)]
struct UserRow {
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

/// The unique indexes of `users` a write of `email` / `github_id` can hit.
fn probes<'a>(email: Option<&'a str>, github_id: Option<i64>) -> [Probe<'a>; 2] {
    [
        Probe {
            index: "users_email_key",
            sql: "SELECT 1 FROM users WHERE email = ?1 AND id <> ?2",
            value: Value::Text(email),
        },
        Probe {
            index: "users_github_id_key",
            sql: "SELECT 1 FROM users WHERE github_id = ?1 AND id <> ?2",
            value: Value::Int(github_id),
        },
    ]
}

/// Whether an active admin other than `id` exists (on the writer, inside the
/// caller's transaction).
async fn other_active_admin(conn: &mut SqliteConnection, id: &str) -> StoreResult<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM users \
         WHERE id <> ?1 AND role = 'admin' AND disabled = 0)",
    )
    .bind(id)
    .fetch_one(&mut *conn)
    .await
    .db()
}

/// Whether a user other than `id` exists.
async fn other_user(conn: &mut SqliteConnection, id: &str) -> StoreResult<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE id <> ?1)")
        .bind(id)
        .fetch_one(&mut *conn)
        .await
        .db()
}

impl SqliteStore {
    pub(crate) async fn lite_create_user(
        &self,
        user: NewUser,
        gate: RoleGate,
        audit: &AuditEntry,
    ) -> StoreResult<User> {
        let mut conn = self.writer().await?;
        // One writer: "is this the first user?" and the insert cannot
        // interleave with another signup.
        let mut tx = conn.begin().await.db()?;
        let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users)")
            .fetch_one(&mut *tx)
            .await
            .db()?;
        let Some(role) = gate.decide(!exists) else {
            return Err(StoreError::Refused);
        };
        let inserted = sqlx::query_as::<_, UserRow>(&format!(
            "INSERT INTO users (id, name, email, role, password_hash, github_id, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING {USER_COLS}"
        ))
        .bind(&user.id)
        .bind(&user.name)
        .bind(&user.email)
        .bind(role.as_str())
        .bind(&user.password_hash)
        .bind(user.github_id)
        .bind(user.created_at)
        .fetch_one(&mut *tx)
        .await;
        let row = match inserted {
            Ok(row) => row,
            Err(e) => {
                let probes = probes(Some(&user.email), user.github_id);
                return Err(write_failed(&mut tx, e, &user.id, &probes, || {
                    StoreError::other("users has no foreign key")
                })
                .await);
            }
        };
        if let RoleGate::Invitation { id, .. } = gate {
            // Consumed in the insert's transaction: when it is gone, the
            // dropped transaction takes the insert back.
            let consumed = sqlx::query("DELETE FROM invitations WHERE id = ?1")
                .bind(id.to_string())
                .execute(&mut *tx)
                .await
                .db()?
                .rows_affected();
            if consumed == 0 {
                return Err(StoreError::Refused);
            }
        }
        audit::insert(&mut tx, audit).await?;
        tx.commit().await.db()?;
        row.try_into()
    }

    pub(crate) async fn lite_get_user(&self, id: &UserId) -> StoreResult<User> {
        let row = sqlx::query_as(&format!("SELECT {USER_COLS} FROM users WHERE id = ?1"))
            .bind(id)
            .fetch_optional(&self.inner.readers)
            .await
            .db()?;
        one(row)
    }

    pub(crate) async fn lite_find_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query_as(&format!("SELECT {USER_COLS} FROM users WHERE email = ?1"))
            .bind(email)
            .fetch_optional(&self.inner.readers)
            .await
            .db()?;
        maybe(row)
    }

    pub(crate) async fn lite_find_user_by_github_id(
        &self,
        github_id: i64,
    ) -> StoreResult<Option<User>> {
        let row = sqlx::query_as(&format!(
            "SELECT {USER_COLS} FROM users WHERE github_id = ?1"
        ))
        .bind(github_id)
        .fetch_optional(&self.inner.readers)
        .await
        .db()?;
        maybe(row)
    }

    pub(crate) async fn lite_link_github(
        &self,
        user_id: &UserId,
        github_id: i64,
        audit: &AuditEntry,
    ) -> StoreResult<User> {
        let mut conn = self.writer().await?;
        let mut tx = conn.begin().await.db()?;
        let updated = sqlx::query_as::<_, UserRow>(&format!(
            "UPDATE users SET github_id = ?2 WHERE id = ?1 \
             AND (github_id IS NULL OR github_id = ?2) RETURNING {USER_COLS}"
        ))
        .bind(user_id)
        .bind(github_id)
        .fetch_optional(&mut *tx)
        .await;
        let row = match updated {
            Ok(Some(row)) => row,
            Ok(None) => {
                let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM users WHERE id = ?1")
                    .bind(user_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .db()?;
                return match exists {
                    // Linked to another GitHub account: never overwritten.
                    Some(_) => Err(StoreError::conflict(Unique::GitHubId)),
                    None => Err(StoreError::NotFound),
                };
            }
            Err(e) => {
                return Err(write_failed(
                    &mut tx,
                    e,
                    user_id,
                    &probes(None, Some(github_id)),
                    || StoreError::other("users has no foreign key"),
                )
                .await)
            }
        };
        audit::insert(&mut tx, audit).await?;
        tx.commit().await.db()?;
        row.try_into()
    }

    pub(crate) async fn lite_update_user(
        &self,
        id: &UserId,
        update: UserUpdate,
        audit: &AuditEntry,
    ) -> StoreResult<User> {
        let mut conn = self.writer().await?;
        // One writer: the check "is another active admin left?" and the
        // write cannot interleave with another admin change.
        let mut tx = conn.begin().await.db()?;
        let row = sqlx::query_as(&format!("SELECT {USER_COLS} FROM users WHERE id = ?1"))
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
        // `github_id` is not written (link_github owns it).
        let updated = sqlx::query_as::<_, UserRow>(&format!(
            "UPDATE users SET name = ?2, email = ?3, role = ?4, password_hash = ?5, \
             disabled = ?6, session_epoch = ?7 WHERE id = ?1 RETURNING {USER_COLS}"
        ))
        .bind(id)
        .bind(&after.name)
        .bind(&after.email)
        .bind(after.role.as_str())
        .bind(&after.password_hash)
        .bind(after.disabled)
        .bind(i64::from(after.session_epoch))
        .fetch_one(&mut *tx)
        .await;
        let row = match updated {
            Ok(row) => row,
            Err(e) => {
                let probes = probes(Some(&after.email), None);
                return Err(write_failed(&mut tx, e, id, &probes, || {
                    StoreError::other("users has no foreign key")
                })
                .await);
            }
        };
        audit::insert(&mut tx, audit).await?;
        tx.commit().await.db()?;
        row.try_into()
    }

    pub(crate) async fn lite_list_users(
        &self,
        after: Option<&UserId>,
        limit: usize,
    ) -> StoreResult<Vec<User>> {
        let after_seq: i64 = match after {
            None => 0,
            Some(id) => sqlx::query_scalar("SELECT seq FROM users WHERE id = ?1")
                .bind(id)
                .fetch_optional(&self.inner.readers)
                .await
                .db()?
                .ok_or(StoreError::NotFound)?,
        };
        // A new row's `seq` (the rowid) is above every existing one: creation
        // order.
        let rows: Vec<UserRow> = sqlx::query_as(&format!(
            "SELECT {USER_COLS} FROM users WHERE seq > ?1 ORDER BY seq LIMIT ?2"
        ))
        .bind(after_seq)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.inner.readers)
        .await
        .db()?;
        rows.into_iter().map(User::try_from).collect()
    }

    pub(crate) async fn lite_delete_user(
        &self,
        id: &UserId,
        events: Vec<NewEvent>,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        let mut conn = self.writer().await?;
        let mut tx = conn.begin().await.db()?;
        let active_admin: Option<bool> =
            sqlx::query_scalar("SELECT role = 'admin' AND disabled = 0 FROM users WHERE id = ?1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .db()?;
        // Users are never left without an admin; the instance's only user
        // may go (the next sign-up becomes admin again). One writer: nobody
        // signs up in between.
        match active_admin {
            None => return Err(StoreError::NotFound),
            Some(true)
                if !other_active_admin(&mut tx, id).await? && other_user(&mut tx, id).await? =>
            {
                return Err(StoreError::Refused)
            }
            Some(_) => {}
        }
        let projects: Vec<ProjectId> =
            sqlx::query_scalar("SELECT id FROM projects WHERE owner_id = ?1 ORDER BY seq")
                .bind(id)
                .fetch_all(&mut *tx)
                .await
                .db()?;
        if !slipway_core::store::events_name(&events, id, &projects) {
            // Rolled back with the transaction: core reads again.
            return Err(StoreError::Stale);
        }
        // Projects (and their networks), authorizations and API tokens go by
        // ON DELETE CASCADE; the audit log has no foreign key and keeps the
        // entries naming the user.
        sqlx::query("DELETE FROM users WHERE id = ?1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .db()?;
        let mut newest = None;
        for event in events {
            newest = Some(self.append_event(&mut tx, event).await?);
        }
        audit::insert(&mut tx, audit).await?;
        tx.commit().await.db()?;
        if let Some(newest) = newest {
            self.committed(newest);
        }
        Ok(())
    }
}
