//! Users.

use slipway_core::error::Unique;
use slipway_core::model::{NewEvent, NewUser, Role, RoleGate, Timestamp, User};
use slipway_core::store::StoreResult;
use slipway_core::StoreError;

use crate::events;
use crate::store::{Db, PgStore, LOCK_NS, LOCK_USERS};

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
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

impl PgStore {
    pub(crate) async fn pg_create_user(&self, user: NewUser, gate: RoleGate) -> StoreResult<User> {
        let mut tx = self.inner.pool.begin().await.db()?;
        // One user creation at a time: "is this the first user?" and the
        // insert must not interleave with another signup.
        sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind(LOCK_NS)
            .bind(LOCK_USERS)
            .execute(&mut *tx)
            .await
            .db()?;
        let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users)")
            .fetch_one(&mut *tx)
            .await
            .db()?;
        let Some(role) = gate.decide(!exists) else {
            return Err(StoreError::Refused);
        };
        let row: UserRow = sqlx::query_as(
            "INSERT INTO users (id, name, email, role, password_hash, github_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             RETURNING id, name, email, role, password_hash, github_id, created_at",
        )
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
        tx.commit().await.db()?;
        row.try_into()
    }

    pub(crate) async fn pg_get_user(&self, id: &str) -> StoreResult<User> {
        let row = sqlx::query_as(
            "SELECT id, name, email, role, password_hash, github_id, created_at \
             FROM users WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.inner.pool)
        .await
        .db()?;
        one(row)
    }

    pub(crate) async fn pg_find_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query_as(
            "SELECT id, name, email, role, password_hash, github_id, created_at \
             FROM users WHERE email = $1",
        )
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
        let row = sqlx::query_as(
            "SELECT id, name, email, role, password_hash, github_id, created_at \
             FROM users WHERE github_id = $1",
        )
        .bind(github_id)
        .fetch_optional(&self.inner.pool)
        .await
        .db()?;
        maybe(row)
    }

    pub(crate) async fn pg_link_github(&self, user_id: &str, github_id: i64) -> StoreResult<User> {
        let row = sqlx::query_as(
            "UPDATE users SET github_id = $2 WHERE id = $1 \
             AND (github_id IS NULL OR github_id = $2) \
             RETURNING id, name, email, role, password_hash, github_id, created_at",
        )
        .bind(user_id)
        .bind(github_id)
        .fetch_optional(&self.inner.pool)
        .await
        .db()?;
        if row.is_none() && self.pg_get_user(user_id).await.is_ok() {
            // Linked to another GitHub account: a link is never overwritten.
            return Err(StoreError::conflict(Unique::GitHubId));
        }
        one(row)
    }

    pub(crate) async fn pg_delete_user(&self, id: &str) -> StoreResult<()> {
        let mut tx = self.inner.pool.begin().await.db()?;
        // Locking the user row blocks new projects of this user (their
        // foreign key check needs a share lock on it) until we commit, so
        // every project that goes with the user gets its DELETE event.
        let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM users WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .db()?;
        if found.is_none() {
            return Err(StoreError::NotFound);
        }
        let mut projects: Vec<(i64, String)> =
            sqlx::query_as("DELETE FROM projects WHERE owner_id = $1 RETURNING seq, id")
                .bind(id)
                .fetch_all(&mut *tx)
                .await
                .db()?;
        projects.sort();
        // Authorizations go by ON DELETE CASCADE.
        sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .db()?;
        let retention = self.inner.options.event_retention;
        for (_, project_id) in projects {
            events::append(&mut tx, NewEvent::deleted(id, &project_id), retention)
                .await
                .db()?;
        }
        tx.commit().await.db()?;
        Ok(())
    }
}
