//! API tokens (deleted with their user by `ON DELETE CASCADE`).

use slipway_core::model::{ApiToken, AuditEntry, Scope, Timestamp};
use slipway_core::model::{ApiTokenId, ProjectId, UserId};
use slipway_core::store::StoreResult;
use slipway_core::StoreError;

use crate::audit::{self, bind_audit};
use crate::store::{micros, Db, PgStore};
use crate::users::lock_user_within_quota;

/// Columns of an API token, in [`ApiTokenRow`] order.
const API_TOKEN_COLS: &str =
    "id, user_id, name, scopes, project_ids, token_hash, created_at, expires_at, last_used_at";

#[derive(sqlx::FromRow)]
struct ApiTokenRow {
    id: String,
    user_id: String,
    name: String,
    scopes: Vec<String>,
    project_ids: Option<Vec<ProjectId>>,
    token_hash: String,
    created_at: Timestamp,
    expires_at: Option<Timestamp>,
    last_used_at: Option<Timestamp>,
}

impl TryFrom<ApiTokenRow> for ApiToken {
    type Error = StoreError;
    fn try_from(r: ApiTokenRow) -> StoreResult<Self> {
        let scopes = r
            .scopes
            .iter()
            .map(|s| {
                Scope::parse(s).ok_or_else(|| StoreError::other(format!("unknown scope {s:?}")))
            })
            .collect::<StoreResult<_>>()?;
        Ok(ApiToken {
            id: r.id.into(),
            user_id: r.user_id.into(),
            name: r.name,
            scopes,
            project_ids: r.project_ids,
            token_hash: r.token_hash,
            created_at: r.created_at,
            expires_at: r.expires_at,
            last_used_at: r.last_used_at,
        })
    }
}

impl PgStore {
    /// One transaction: the user's row locked and their tokens counted
    /// against `max_kept` ([`lock_user_within_quota`]: exact under
    /// concurrent creates; tokens are created rarely), then the insert with
    /// its audit entry.
    pub(crate) async fn pg_create_api_token(
        &self,
        token: ApiToken,
        max_kept: usize,
        audit: &AuditEntry,
    ) -> StoreResult<ApiToken> {
        let mut token = token;
        token.created_at = micros(token.created_at);
        token.expires_at = token.expires_at.map(micros);
        token.last_used_at = token.last_used_at.map(micros);
        let scopes: Vec<&str> = token.scopes.iter().map(|s| s.as_str()).collect();
        let mut tx = self.inner.pool.begin().await.db()?;
        lock_user_within_quota(
            &mut tx,
            "SELECT count(*) FROM api_tokens WHERE user_id = $1",
            &token.user_id,
            max_kept,
        )
        .await?;
        // The foreign key makes "the user exists" atomic with the insert;
        // a failed insert fails the statement, audit entry included.
        bind_audit!(
            sqlx::query(&format!(
                "WITH created AS (INSERT INTO api_tokens ({API_TOKEN_COLS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING 1) {}",
                audit::insert_after("created", 10)
            ))
            .bind(&token.id)
            .bind(&token.user_id)
            .bind(&token.name)
            .bind(&scopes)
            .bind(&token.project_ids)
            .bind(&token.token_hash)
            .bind(token.created_at)
            .bind(token.expires_at)
            .bind(token.last_used_at),
            audit
        )
        .execute(&mut *tx)
        .await
        .db()?;
        tx.commit().await.db()?;
        Ok(token)
    }

    pub(crate) async fn pg_list_api_tokens(&self, user_id: &UserId) -> StoreResult<Vec<ApiToken>> {
        let rows: Vec<ApiTokenRow> = sqlx::query_as(&format!(
            "SELECT {API_TOKEN_COLS} FROM api_tokens WHERE user_id = $1 ORDER BY seq"
        ))
        .bind(user_id)
        .fetch_all(&self.inner.pool)
        .await
        .db()?;
        rows.into_iter().map(ApiToken::try_from).collect()
    }

    pub(crate) async fn pg_find_api_token(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<ApiToken>> {
        let row: Option<ApiTokenRow> = sqlx::query_as(&format!(
            "SELECT {API_TOKEN_COLS} FROM api_tokens WHERE token_hash = $1"
        ))
        .bind(token_hash)
        .fetch_optional(&self.inner.pool)
        .await
        .db()?;
        row.map(ApiToken::try_from).transpose()
    }

    pub(crate) async fn pg_delete_api_token(
        &self,
        user_id: &UserId,
        id: &ApiTokenId,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        audit::delete_row(&self.inner.pool, "api_tokens", id, Some(user_id), audit).await
    }

    pub(crate) async fn pg_touch_api_token(
        &self,
        id: &ApiTokenId,
        at: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1")
            .bind(id)
            .bind(micros(at))
            .execute(&self.inner.pool)
            .await
            .db()?;
        Ok(())
    }
}
