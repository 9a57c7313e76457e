//! Invitations (consumed by `create_user`, see users.rs).

use slipway_core::model::InvitationId;
use slipway_core::model::{AuditEntry, Invitation, Role, Timestamp};
use slipway_core::store::StoreResult;
use slipway_core::StoreError;
use sqlx::Connection as _;

use crate::audit;
use crate::error::{write_failed, Probe, Value};
use crate::store::{Db, SqliteStore};

/// Columns of an invitation, in [`InvitationRow`] order.
const INVITATION_COLS: &str = "id, email, role, token_hash, created_by, created_at, expires_at";

#[derive(sqlx::FromRow)]
struct InvitationRow {
    id: String,
    email: String,
    role: String,
    token_hash: String,
    created_by: Option<String>,
    created_at: Timestamp,
    expires_at: Timestamp,
}

impl TryFrom<InvitationRow> for Invitation {
    type Error = StoreError;
    fn try_from(r: InvitationRow) -> StoreResult<Self> {
        Ok(Invitation {
            role: Role::parse(&r.role)
                .ok_or_else(|| StoreError::other(format!("unknown role {:?}", r.role)))?,
            id: r.id.into(),
            email: r.email,
            token_hash: r.token_hash,
            created_by: r.created_by.map(Into::into),
            created_at: r.created_at,
            expires_at: r.expires_at,
        })
    }
}

impl SqliteStore {
    pub(crate) async fn lite_create_invitation(
        &self,
        invitation: Invitation,
        audit: &AuditEntry,
    ) -> StoreResult<Invitation> {
        let mut conn = self.writer().await?;
        let mut tx = conn.begin().await.db()?;
        let inserted = sqlx::query(&format!(
            "INSERT INTO invitations ({INVITATION_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
        ))
        .bind(&invitation.id)
        .bind(&invitation.email)
        .bind(invitation.role.as_str())
        .bind(&invitation.token_hash)
        .bind(&invitation.created_by)
        .bind(invitation.created_at)
        .bind(invitation.expires_at)
        .execute(&mut *tx)
        .await;
        if let Err(e) = inserted {
            // The email first: a pending invitation for it is the usual clash.
            let probes = [
                Probe {
                    index: "invitations_email_key",
                    sql: "SELECT 1 FROM invitations WHERE email = ?1 AND id <> ?2",
                    value: Value::Text(Some(&invitation.email)),
                },
                Probe {
                    index: "invitations_token_hash_key",
                    sql: "SELECT 1 FROM invitations WHERE token_hash = ?1 AND id <> ?2",
                    value: Value::Text(Some(&invitation.token_hash)),
                },
                Probe {
                    index: "invitations_id_key",
                    sql: "SELECT 1 FROM invitations WHERE id = ?1 AND ?2 IS NOT NULL",
                    value: Value::Text(Some(&invitation.id)),
                },
            ];
            return Err(write_failed(&mut tx, e, &invitation.id, &probes, || {
                StoreError::other("invitations has no foreign key")
            })
            .await);
        }
        audit::insert(&mut tx, audit).await?;
        tx.commit().await.db()?;
        Ok(invitation)
    }

    pub(crate) async fn lite_list_invitations(&self) -> StoreResult<Vec<Invitation>> {
        let rows: Vec<InvitationRow> = sqlx::query_as(&format!(
            "SELECT {INVITATION_COLS} FROM invitations ORDER BY seq"
        ))
        .fetch_all(&self.inner.readers)
        .await
        .db()?;
        rows.into_iter().map(Invitation::try_from).collect()
    }

    pub(crate) async fn lite_find_invitation(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<Invitation>> {
        let row: Option<InvitationRow> = sqlx::query_as(&format!(
            "SELECT {INVITATION_COLS} FROM invitations WHERE token_hash = ?1"
        ))
        .bind(token_hash)
        .fetch_optional(&self.inner.readers)
        .await
        .db()?;
        row.map(Invitation::try_from).transpose()
    }

    pub(crate) async fn lite_delete_invitation(
        &self,
        id: &InvitationId,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        let mut conn = self.writer().await?;
        let mut tx = conn.begin().await.db()?;
        let deleted = sqlx::query("DELETE FROM invitations WHERE id = ?1")
            .bind(id)
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
}
