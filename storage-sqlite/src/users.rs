//! Users.

use slipway_core::error::Unique;
use slipway_core::model::{NewEvent, NewUser, Role, RoleGate, Timestamp, User};
use slipway_core::store::StoreResult;
use slipway_core::StoreError;
use sqlx::Connection as _;

use crate::error::{write_failed, Probe, Value};
use crate::events;
use crate::store::{Db, SqliteStore};

/// Columns of a user, in [`UserRow`] order.
const USER_COLS: &str = "id, name, email, role, password_hash, github_id, created_at";

#[derive(sqlx::FromRow)]
struct UserRow {
    id: String,
    name: String,
    email: String,
    role: String,
    password_hash: Option<String>,
    github_id: Option<i64>,
    created_at: Timestamp,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;
    fn try_from(r: UserRow) -> StoreResult<User> {
        Ok(User {
            role: Role::parse(&r.role)
                .ok_or_else(|| StoreError::other(format!("unknown role {:?}", r.role)))?,
            id: r.id,
            name: r.name,
            email: r.email,
            password_hash: r.password_hash,
            github_id: r.github_id,
            created_at: r.created_at,
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

impl SqliteStore {
    pub(crate) async fn lite_create_user(
        &self,
        user: NewUser,
        gate: RoleGate,
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
            "INSERT INTO users ({USER_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
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
        tx.commit().await.db()?;
        row.try_into()
    }

    pub(crate) async fn lite_get_user(&self, id: &str) -> StoreResult<User> {
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
        user_id: &str,
        github_id: i64,
    ) -> StoreResult<User> {
        let mut conn = self.writer().await?;
        let updated = sqlx::query_as::<_, UserRow>(&format!(
            "UPDATE users SET github_id = ?2 WHERE id = ?1 \
             AND (github_id IS NULL OR github_id = ?2) RETURNING {USER_COLS}"
        ))
        .bind(user_id)
        .bind(github_id)
        .fetch_optional(&mut *conn)
        .await;
        match updated {
            Ok(None) => {
                let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM users WHERE id = ?1")
                    .bind(user_id)
                    .fetch_optional(&mut *conn)
                    .await
                    .db()?;
                match exists {
                    // Linked to another GitHub account: never overwritten.
                    Some(_) => Err(StoreError::conflict(Unique::GitHubId)),
                    None => Err(StoreError::NotFound),
                }
            }
            Ok(row) => one(row),
            Err(e) => Err(write_failed(
                &mut conn,
                e,
                user_id,
                &probes(None, Some(github_id)),
                || StoreError::other("users has no foreign key"),
            )
            .await),
        }
    }

    pub(crate) async fn lite_delete_user(&self, id: &str) -> StoreResult<()> {
        let mut conn = self.writer().await?;
        let mut tx = conn.begin().await.db()?;
        let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM users WHERE id = ?1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .db()?;
        if found.is_none() {
            return Err(StoreError::NotFound);
        }
        let projects: Vec<String> =
            sqlx::query_scalar("SELECT id FROM projects WHERE owner_id = ?1 ORDER BY seq")
                .bind(id)
                .fetch_all(&mut *tx)
                .await
                .db()?;
        // Projects (and their networks) and authorizations go by ON DELETE CASCADE.
        sqlx::query("DELETE FROM users WHERE id = ?1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .db()?;
        let retention = self.inner.options.event_retention;
        for project_id in &projects {
            events::append(&mut tx, NewEvent::deleted(id, project_id), retention)
                .await
                .db()?;
        }
        tx.commit().await.db()?;
        if !projects.is_empty() {
            self.committed();
        }
        Ok(())
    }
}
