//! Domains, authorizations and settings.

use slipway_core::model::{
    AuditEntry, Authorization, AuthorizationType, Domain, Sealed, Timestamp,
};
use slipway_core::model::{AuthorizationId, DomainId, UserId};
use slipway_core::store::StoreResult;
use slipway_core::StoreError;
use sqlx::{Connection as _, SqliteConnection};

use crate::audit;
use crate::error::{is_fk_violation, map, write_failed, Probe, Value};
use crate::projects::within_quota;
use crate::store::{Db, SqliteStore};

const DOMAIN_COLS: &str = "id, domain, challenge, main, linked, created_at";
const AUTH_COLS: &str = "id, user_id, name, kind, secret, info, created_at";

#[derive(sqlx::FromRow)]
struct DomainRow {
    id: String,
    domain: String,
    challenge: String,
    main: bool,
    linked: bool,
    created_at: Timestamp,
}

impl From<DomainRow> for Domain {
    fn from(r: DomainRow) -> Self {
        Domain {
            id: r.id.into(),
            domain: r.domain,
            challenge: r.challenge,
            main: r.main,
            linked: r.linked,
            created_at: r.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct AuthRow {
    id: String,
    user_id: String,
    name: String,
    kind: String,
    secret: Vec<u8>,
    info: String,
    created_at: Timestamp,
}

impl TryFrom<AuthRow> for Authorization {
    type Error = StoreError;
    fn try_from(r: AuthRow) -> StoreResult<Self> {
        Ok(Authorization {
            kind: AuthorizationType::parse(&r.kind).ok_or_else(|| {
                StoreError::other(format!("unknown authorization type {:?}", r.kind))
            })?,
            info: serde_json::from_str(&r.info).map_err(StoreError::other)?,
            id: r.id.into(),
            user_id: r.user_id.into(),
            name: r.name,
            secret: Sealed(r.secret),
            created_at: r.created_at,
        })
    }
}

impl SqliteStore {
    pub(crate) async fn lite_create_domain(
        &self,
        domain: Domain,
        audit: &AuditEntry,
    ) -> StoreResult<Domain> {
        let mut conn = self.writer().await?;
        let mut tx = conn.begin().await.db()?;
        let inserted = sqlx::query(&format!(
            "INSERT INTO domains ({DOMAIN_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
        ))
        .bind(&domain.id)
        .bind(&domain.domain)
        .bind(&domain.challenge)
        .bind(domain.main)
        .bind(domain.linked)
        .bind(domain.created_at)
        .execute(&mut *tx)
        .await;
        if let Err(e) = inserted {
            let probes = [
                Probe {
                    index: "domains_domain_key",
                    sql: "SELECT 1 FROM domains WHERE domain = ?1 AND id <> ?2",
                    value: Value::Text(Some(&domain.domain)),
                },
                Probe {
                    index: "domains_main_key",
                    sql: "SELECT 1 FROM domains WHERE main = 1 AND ?1 = 1 AND id <> ?2",
                    value: Value::Int(Some(i64::from(domain.main))),
                },
            ];
            return Err(write_failed(&mut tx, e, &domain.id, &probes, || {
                StoreError::other("domains has no foreign key")
            })
            .await);
        }
        audit::insert(&mut tx, audit).await?;
        tx.commit().await.db()?;
        Ok(domain)
    }

    pub(crate) async fn lite_list_domains(&self) -> StoreResult<Vec<Domain>> {
        let rows: Vec<DomainRow> =
            sqlx::query_as(&format!("SELECT {DOMAIN_COLS} FROM domains ORDER BY seq"))
                .fetch_all(&self.inner.readers)
                .await
                .db()?;
        Ok(rows.into_iter().map(Domain::from).collect())
    }

    pub(crate) async fn lite_get_domain(&self, id: &DomainId) -> StoreResult<Domain> {
        let row: Option<DomainRow> =
            sqlx::query_as(&format!("SELECT {DOMAIN_COLS} FROM domains WHERE id = ?1"))
                .bind(id)
                .fetch_optional(&self.inner.readers)
                .await
                .db()?;
        row.map(Domain::from).ok_or(StoreError::NotFound)
    }

    pub(crate) async fn lite_set_domain_linked(
        &self,
        id: &DomainId,
        linked: bool,
        audit: &AuditEntry,
    ) -> StoreResult<Domain> {
        let mut conn = self.writer().await?;
        let mut tx = conn.begin().await.db()?;
        let row: Option<DomainRow> = sqlx::query_as(&format!(
            "UPDATE domains SET linked = ?2 WHERE id = ?1 RETURNING {DOMAIN_COLS}"
        ))
        .bind(id)
        .bind(linked)
        .fetch_optional(&mut *tx)
        .await
        .db()?;
        let domain = row.map(Domain::from).ok_or(StoreError::NotFound)?;
        audit::insert(&mut tx, audit).await?;
        tx.commit().await.db()?;
        Ok(domain)
    }

    pub(crate) async fn lite_delete_domain(
        &self,
        id: &DomainId,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        let mut conn = self.writer().await?;
        let mut tx = conn.begin().await.db()?;
        let done = sqlx::query("DELETE FROM domains WHERE id = ?1")
            .bind(id)
            .execute(&mut *tx)
            .await;
        match done {
            // networks.domain_id (ON DELETE NO ACTION, an immediate
            // constraint: checked at the end of the statement, inside the
            // transaction) is the only reference to a domain.
            Err(e) if is_fk_violation(&e) => return Err(StoreError::InUse),
            Err(e) => return Err(map(e)),
            Ok(r) if r.rows_affected() == 0 => return Err(StoreError::NotFound),
            Ok(_) => {}
        }
        audit::insert(&mut tx, audit).await?;
        tx.commit().await.db()?;
        Ok(())
    }

    pub(crate) async fn lite_create_authorization(
        &self,
        auth: Authorization,
        max_kept: usize,
        audit: &AuditEntry,
    ) -> StoreResult<Authorization> {
        let mut conn = self.writer().await?;
        let mut tx = conn.begin().await.db()?;
        within_quota(
            &mut tx,
            "SELECT count(*) FROM authorizations WHERE user_id = ?1",
            &auth.user_id,
            max_kept,
        )
        .await?;
        insert_authorization(&mut tx, &auth).await?;
        audit::insert(&mut tx, audit).await?;
        tx.commit().await.db()?;
        Ok(auth)
    }

    pub(crate) async fn lite_upsert_authorization(
        &self,
        auth: Authorization,
        audit: &AuditEntry,
    ) -> StoreResult<Authorization> {
        let mut conn = self.writer().await?;
        // One writer: two upserts of one user never both insert.
        let mut tx = conn.begin().await.db()?;
        let info = serde_json::to_string(&auth.info).map_err(StoreError::other)?;
        let row: Option<AuthRow> = sqlx::query_as(&format!(
            "UPDATE authorizations SET secret = ?1, info = ?2 WHERE id = ( \
               SELECT id FROM authorizations WHERE user_id = ?3 AND kind = ?4 AND name = ?5 \
               ORDER BY seq LIMIT 1) \
             RETURNING {AUTH_COLS}"
        ))
        .bind(&auth.secret.0)
        .bind(info)
        .bind(&auth.user_id)
        .bind(auth.kind.as_str())
        .bind(&auth.name)
        .fetch_optional(&mut *tx)
        .await
        .db()?;
        let stored = match row {
            Some(row) => row.try_into()?,
            None => {
                insert_authorization(&mut tx, &auth).await?;
                auth
            }
        };
        audit::insert(&mut tx, audit).await?;
        tx.commit().await.db()?;
        Ok(stored)
    }

    pub(crate) async fn lite_list_authorizations(
        &self,
        user_id: &UserId,
    ) -> StoreResult<Vec<Authorization>> {
        let rows: Vec<AuthRow> = sqlx::query_as(&format!(
            "SELECT {AUTH_COLS} FROM authorizations WHERE user_id = ?1 ORDER BY seq"
        ))
        .bind(user_id)
        .fetch_all(&self.inner.readers)
        .await
        .db()?;
        rows.into_iter().map(Authorization::try_from).collect()
    }

    pub(crate) async fn lite_all_authorizations(&self) -> StoreResult<Vec<Authorization>> {
        let rows: Vec<AuthRow> = sqlx::query_as(&format!(
            "SELECT {AUTH_COLS} FROM authorizations ORDER BY seq"
        ))
        .fetch_all(&self.inner.readers)
        .await
        .db()?;
        rows.into_iter().map(Authorization::try_from).collect()
    }

    pub(crate) async fn lite_reseal_authorization(
        &self,
        user_id: &UserId,
        id: &AuthorizationId,
        old: &Sealed,
        new: Sealed,
        audit: &AuditEntry,
    ) -> StoreResult<bool> {
        let mut conn = self.writer().await?;
        let mut tx = conn.begin().await.db()?;
        let done = sqlx::query(
            "UPDATE authorizations SET secret = ?1 WHERE id = ?2 AND user_id = ?3 AND secret = ?4",
        )
        .bind(&new.0)
        .bind(id)
        .bind(user_id)
        .bind(&old.0)
        .execute(&mut *tx)
        .await
        .db()?;
        // Compare and set: an entry only when the secret was replaced.
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        audit::insert(&mut tx, audit).await?;
        tx.commit().await.db()?;
        Ok(true)
    }

    pub(crate) async fn lite_get_authorization(
        &self,
        user_id: &UserId,
        id: &AuthorizationId,
    ) -> StoreResult<Authorization> {
        let row: Option<AuthRow> = sqlx::query_as(&format!(
            "SELECT {AUTH_COLS} FROM authorizations WHERE id = ?1 AND user_id = ?2"
        ))
        .bind(id)
        .bind(user_id)
        .fetch_optional(&self.inner.readers)
        .await
        .db()?;
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    pub(crate) async fn lite_delete_authorization(
        &self,
        user_id: &UserId,
        id: &AuthorizationId,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        let mut conn = self.writer().await?;
        let mut tx = conn.begin().await.db()?;
        let done = sqlx::query("DELETE FROM authorizations WHERE id = ?1 AND user_id = ?2")
            .bind(id)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .db()?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        audit::insert(&mut tx, audit).await?;
        tx.commit().await.db()?;
        Ok(())
    }

    pub(crate) async fn lite_get_setting(
        &self,
        key: &str,
    ) -> StoreResult<Option<serde_json::Value>> {
        let value: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE key = ?1")
            .bind(key)
            .fetch_optional(&self.inner.readers)
            .await
            .db()?;
        value
            .map(|v| serde_json::from_str(&v).map_err(StoreError::other))
            .transpose()
    }

    pub(crate) async fn lite_put_setting(
        &self,
        key: &str,
        value: serde_json::Value,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        let value = serde_json::to_string(&value).map_err(StoreError::other)?;
        let mut conn = self.writer().await?;
        let mut tx = conn.begin().await.db()?;
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES (?1, ?2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&mut *tx)
        .await
        .db()?;
        audit::insert(&mut tx, audit).await?;
        tx.commit().await.db()?;
        Ok(())
    }
}

/// Inserts an authorization; a missing user is `NotFound` (foreign key).
async fn insert_authorization(
    conn: &mut SqliteConnection,
    auth: &Authorization,
) -> StoreResult<()> {
    let info = serde_json::to_string(&auth.info).map_err(StoreError::other)?;
    let inserted = sqlx::query(&format!(
        "INSERT INTO authorizations ({AUTH_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
    ))
    .bind(&auth.id)
    .bind(&auth.user_id)
    .bind(&auth.name)
    .bind(auth.kind.as_str())
    .bind(&auth.secret.0)
    .bind(info)
    .bind(auth.created_at)
    .execute(&mut *conn)
    .await;
    match inserted {
        Ok(_) => Ok(()),
        Err(e) => Err(write_failed(conn, e, &auth.id, &[], || StoreError::NotFound).await),
    }
}
