//! Invitations (consumed by `create_user`, see users.rs).

use slipway_core::model::InvitationId;
use slipway_core::model::{AuditEntry, Invitation, Role, Timestamp};
use slipway_core::store::StoreResult;
use slipway_core::StoreError;

use crate::audit::{self, bind_audit};
use crate::store::{micros, Db, PgStore};

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

impl PgStore {
    pub(crate) async fn pg_create_invitation(
        &self,
        invitation: Invitation,
        audit: &AuditEntry,
    ) -> StoreResult<Invitation> {
        let mut invitation = invitation;
        invitation.created_at = micros(invitation.created_at);
        invitation.expires_at = micros(invitation.expires_at);
        bind_audit!(
            sqlx::query(&format!(
                "WITH created AS (INSERT INTO invitations ({INVITATION_COLS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING 1) {}",
                audit::insert_after("created", 8)
            ))
            .bind(&invitation.id)
            .bind(&invitation.email)
            .bind(invitation.role.as_str())
            .bind(&invitation.token_hash)
            .bind(&invitation.created_by)
            .bind(invitation.created_at)
            .bind(invitation.expires_at),
            audit
        )
        .execute(&self.inner.pool)
        .await
        .db()?;
        Ok(invitation)
    }

    pub(crate) async fn pg_list_invitations(&self) -> StoreResult<Vec<Invitation>> {
        let rows: Vec<InvitationRow> = sqlx::query_as(&format!(
            "SELECT {INVITATION_COLS} FROM invitations ORDER BY seq"
        ))
        .fetch_all(&self.inner.pool)
        .await
        .db()?;
        rows.into_iter().map(Invitation::try_from).collect()
    }

    pub(crate) async fn pg_find_invitation(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<Invitation>> {
        let row: Option<InvitationRow> = sqlx::query_as(&format!(
            "SELECT {INVITATION_COLS} FROM invitations WHERE token_hash = $1"
        ))
        .bind(token_hash)
        .fetch_optional(&self.inner.pool)
        .await
        .db()?;
        row.map(Invitation::try_from).transpose()
    }

    pub(crate) async fn pg_delete_invitation(
        &self,
        id: &InvitationId,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        audit::delete_row(&self.inner.pool, "invitations", id, None, audit).await
    }
}
