//! API tokens (deleted with their user by `ON DELETE CASCADE`).

use slipway_core::model::{ApiToken, AuditEntry, Scope, Timestamp};
use slipway_core::model::{ApiTokenId, UserId};
use slipway_core::store::StoreResult;
use slipway_core::StoreError;
use sqlx::Connection as _;

use crate::audit;
use crate::error::{write_failed, Probe, Value};
use crate::projects::within_quota;
use crate::store::{Db, SqliteStore};

/// Columns of an API token, in [`ApiTokenRow`] order.
const API_TOKEN_COLS: &str =
    "id, user_id, name, scopes, project_ids, token_hash, created_at, expires_at, last_used_at";

#[derive(sqlx::FromRow)]
struct ApiTokenRow {
    id: String,
    user_id: String,
    name: String,
    /// JSON array of scope names.
    scopes: String,
    /// JSON array of project ids, or NULL.
    project_ids: Option<String>,
    token_hash: String,
    created_at: Timestamp,
    expires_at: Option<Timestamp>,
    last_used_at: Option<Timestamp>,
}

impl TryFrom<ApiTokenRow> for ApiToken {
    type Error = StoreError;
    fn try_from(r: ApiTokenRow) -> StoreResult<Self> {
        let names: Vec<String> = serde_json::from_str(&r.scopes).map_err(StoreError::other)?;
        let scopes = names
            .iter()
            .map(|s| {
                Scope::parse(s).ok_or_else(|| StoreError::other(format!("unknown scope {s:?}")))
            })
            .collect::<StoreResult<_>>()?;
        let project_ids = r
            .project_ids
            .map(|ids| serde_json::from_str(&ids))
            .transpose()
            .map_err(StoreError::other)?;
        Ok(ApiToken {
            id: r.id.into(),
            user_id: r.user_id.into(),
            name: r.name,
            scopes,
            project_ids,
            token_hash: r.token_hash,
            created_at: r.created_at,
            expires_at: r.expires_at,
            last_used_at: r.last_used_at,
        })
    }
}

impl SqliteStore {
    /// On the writer, in one transaction: the user's tokens counted
    /// against `max_kept`, the insert and the audit entry (exact: writes
    /// are serialized).
    pub(crate) async fn lite_create_api_token(
        &self,
        token: ApiToken,
        max_kept: usize,
        audit: &AuditEntry,
    ) -> StoreResult<ApiToken> {
        let names: Vec<&str> = token.scopes.iter().map(|s| s.as_str()).collect();
        let scopes = serde_json::to_string(&names).map_err(StoreError::other)?;
        let project_ids = token
            .project_ids
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(StoreError::other)?;
        let mut conn = self.writer().await?;
        let mut tx = conn.begin().await.db()?;
        within_quota(
            &mut tx,
            "SELECT count(*) FROM api_tokens WHERE user_id = ?1",
            &token.user_id,
            max_kept,
        )
        .await?;
        // The foreign key makes "the user exists" atomic with the insert.
        let inserted = sqlx::query(&format!(
            "INSERT INTO api_tokens ({API_TOKEN_COLS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        ))
        .bind(&token.id)
        .bind(&token.user_id)
        .bind(&token.name)
        .bind(scopes)
        .bind(project_ids)
        .bind(&token.token_hash)
        .bind(token.created_at)
        .bind(token.expires_at)
        .bind(token.last_used_at)
        .execute(&mut *tx)
        .await;
        if let Err(e) = inserted {
            let probes = [
                Probe {
                    index: "api_tokens_token_hash_key",
                    sql: "SELECT 1 FROM api_tokens WHERE token_hash = ?1 AND id <> ?2",
                    value: Value::Text(Some(&token.token_hash)),
                },
                Probe {
                    index: "api_tokens_id_key",
                    sql: "SELECT 1 FROM api_tokens WHERE id = ?1 AND ?2 IS NOT NULL",
                    value: Value::Text(Some(&token.id)),
                },
            ];
            // The only foreign key is the user's.
            return Err(
                write_failed(&mut tx, e, &token.id, &probes, || StoreError::NotFound).await,
            );
        }
        audit::insert(&mut tx, audit).await?;
        tx.commit().await.db()?;
        Ok(token)
    }

    pub(crate) async fn lite_list_api_tokens(
        &self,
        user_id: &UserId,
    ) -> StoreResult<Vec<ApiToken>> {
        let rows: Vec<ApiTokenRow> = sqlx::query_as(&format!(
            "SELECT {API_TOKEN_COLS} FROM api_tokens WHERE user_id = ?1 ORDER BY seq"
        ))
        .bind(user_id)
        .fetch_all(&self.inner.readers)
        .await
        .db()?;
        rows.into_iter().map(ApiToken::try_from).collect()
    }

    pub(crate) async fn lite_find_api_token(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<ApiToken>> {
        let row: Option<ApiTokenRow> = sqlx::query_as(&format!(
            "SELECT {API_TOKEN_COLS} FROM api_tokens WHERE token_hash = ?1"
        ))
        .bind(token_hash)
        .fetch_optional(&self.inner.readers)
        .await
        .db()?;
        row.map(ApiToken::try_from).transpose()
    }

    pub(crate) async fn lite_delete_api_token(
        &self,
        user_id: &UserId,
        id: &ApiTokenId,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        let mut conn = self.writer().await?;
        let mut tx = conn.begin().await.db()?;
        let deleted = sqlx::query("DELETE FROM api_tokens WHERE id = ?1 AND user_id = ?2")
            .bind(id)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .db()?
            .rows_affected();
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        audit::insert(&mut tx, audit).await?;
        tx.commit().await.db()?;
        Ok(())
    }

    pub(crate) async fn lite_touch_api_token(
        &self,
        id: &ApiTokenId,
        at: Timestamp,
    ) -> StoreResult<()> {
        let mut conn = self.writer().await?;
        sqlx::query("UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1")
            .bind(id)
            .bind(at)
            .execute(&mut *conn)
            .await
            .db()?;
        Ok(())
    }
}
