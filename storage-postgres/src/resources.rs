//! Domains, authorizations and settings.

use slipway_core::model::{
    AuditEntry, Authorization, AuthorizationType, Domain, Sealed, Timestamp,
};
use slipway_core::model::{AuthorizationId, DomainId, UserId};
use slipway_core::store::StoreResult;
use slipway_core::StoreError;

use crate::audit::{self, bind_audit};
use crate::error::is_fk_violation;
use crate::store::{micros, Db, PgStore, LOCK_NS_AUTH};

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
    info: serde_json::Value,
    created_at: Timestamp,
}

impl TryFrom<AuthRow> for Authorization {
    type Error = StoreError;
    fn try_from(r: AuthRow) -> StoreResult<Self> {
        Ok(Authorization {
            kind: AuthorizationType::parse(&r.kind).ok_or_else(|| {
                StoreError::other(format!("unknown authorization type {:?}", r.kind))
            })?,
            id: r.id.into(),
            user_id: r.user_id.into(),
            name: r.name,
            secret: Sealed(r.secret),
            info: r.info,
            created_at: r.created_at,
        })
    }
}

impl PgStore {
    pub(crate) async fn pg_create_domain(
        &self,
        domain: Domain,
        audit: &AuditEntry,
    ) -> StoreResult<Domain> {
        let mut domain = domain;
        domain.created_at = micros(domain.created_at);
        bind_audit!(
            sqlx::query(&format!(
                "WITH created AS (INSERT INTO domains \
                 (id, domain, challenge, main, linked, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING 1) {}",
                audit::insert_after("created", 7)
            ))
            .bind(&domain.id)
            .bind(&domain.domain)
            .bind(&domain.challenge)
            .bind(domain.main)
            .bind(domain.linked)
            .bind(domain.created_at),
            audit
        )
        .execute(&self.inner.pool)
        .await
        .db()?;
        Ok(domain)
    }

    pub(crate) async fn pg_list_domains(&self) -> StoreResult<Vec<Domain>> {
        let rows: Vec<DomainRow> = sqlx::query_as(
            "SELECT id, domain, challenge, main, linked, created_at FROM domains ORDER BY seq",
        )
        .fetch_all(&self.inner.pool)
        .await
        .db()?;
        Ok(rows.into_iter().map(Domain::from).collect())
    }

    pub(crate) async fn pg_get_domain(&self, id: &DomainId) -> StoreResult<Domain> {
        let row: Option<DomainRow> = sqlx::query_as(
            "SELECT id, domain, challenge, main, linked, created_at FROM domains WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.inner.pool)
        .await
        .db()?;
        row.map(Domain::from).ok_or(StoreError::NotFound)
    }

    pub(crate) async fn pg_set_domain_linked(
        &self,
        id: &DomainId,
        linked: bool,
        audit: &AuditEntry,
    ) -> StoreResult<Domain> {
        let row: Option<DomainRow> = bind_audit!(
            sqlx::query_as(&format!(
                "WITH updated AS (UPDATE domains SET linked = $2 WHERE id = $1 \
                 RETURNING id, domain, challenge, main, linked, created_at), \
                 audit AS ({}) SELECT * FROM updated",
                audit::insert_after("updated", 3)
            ))
            .bind(id)
            .bind(linked),
            audit
        )
        .fetch_optional(&self.inner.pool)
        .await
        .db()?;
        row.map(Domain::from).ok_or(StoreError::NotFound)
    }

    pub(crate) async fn pg_delete_domain(
        &self,
        id: &DomainId,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        let done: Result<i64, _> = bind_audit!(
            sqlx::query_scalar(&format!(
                "WITH deleted AS (DELETE FROM domains WHERE id = $1 RETURNING 1), \
                 audit AS ({}) SELECT count(*) FROM deleted",
                audit::insert_after("deleted", 2)
            ))
            .bind(id),
            audit
        )
        .fetch_one(&self.inner.pool)
        .await;
        match done {
            // networks.domain_id is ON DELETE RESTRICT: the statement fails,
            // audit entry included.
            Err(e) if is_fk_violation(&e, "networks_domain_id_fkey") => Err(StoreError::InUse),
            Err(e) => Err(crate::error::map(e)),
            Ok(0) => Err(StoreError::NotFound),
            Ok(_) => Ok(()),
        }
    }

    /// One transaction: the user's row locked and their authorizations
    /// counted against `max_kept` (`lock_user_within_quota`: exact under
    /// concurrent creates; authorizations are created rarely), then the
    /// insert with its audit entry.
    pub(crate) async fn pg_create_authorization(
        &self,
        auth: Authorization,
        max_kept: usize,
        audit: &AuditEntry,
    ) -> StoreResult<Authorization> {
        let mut auth = auth;
        auth.created_at = micros(auth.created_at);
        let mut tx = self.inner.pool.begin().await.db()?;
        crate::users::lock_user_within_quota(
            &mut tx,
            "SELECT count(*) FROM authorizations WHERE user_id = $1",
            &auth.user_id,
            max_kept,
        )
        .await?;
        // A missing user is `NotFound` (foreign key); a failed insert fails
        // the statement, audit entry included.
        let created: bool = bind_audit!(
            sqlx::query_scalar(&format!(
                "WITH created AS ( \
                   INSERT INTO authorizations (id, user_id, name, kind, secret, info, created_at) \
                   SELECT $1, $2, $3, $4, $5, $6, $7 \
                   WHERE (SELECT count(*) FROM authorizations WHERE user_id = $2) < $13 \
                   RETURNING 1), \
                 audit AS ({}) \
                 SELECT EXISTS (SELECT 1 FROM created)",
                audit::insert_after("created", 8)
            ))
            .bind(&auth.id)
            .bind(&auth.user_id)
            .bind(&auth.name)
            .bind(auth.kind.as_str())
            .bind(&auth.secret.0)
            .bind(&auth.info)
            .bind(auth.created_at),
            audit
        )
        .bind(i64::try_from(max_kept).unwrap_or(i64::MAX))
        .fetch_one(&mut *tx)
        .await
        .db()?;
        if !created {
            return Err(StoreError::Refused);
        }
        tx.commit().await.db()?;
        Ok(auth)
    }

    pub(crate) async fn pg_upsert_authorization(
        &self,
        auth: Authorization,
        audit: &AuditEntry,
    ) -> StoreResult<Authorization> {
        let mut auth = auth;
        auth.created_at = micros(auth.created_at);
        let mut tx = self.inner.pool.begin().await.db()?;
        // One upsert per user at a time, so two never both insert.
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind(LOCK_NS_AUTH)
            .bind(&auth.user_id)
            .execute(&mut *tx)
            .await
            .db()?;
        let row: Option<AuthRow> = sqlx::query_as(
            "UPDATE authorizations SET secret = $1, info = $2 WHERE id = ( \
               SELECT id FROM authorizations WHERE user_id = $3 AND kind = $4 AND name = $5 \
               ORDER BY seq LIMIT 1) \
             RETURNING id, user_id, name, kind, secret, info, created_at",
        )
        .bind(&auth.secret.0)
        .bind(&auth.info)
        .bind(&auth.user_id)
        .bind(auth.kind.as_str())
        .bind(&auth.name)
        .fetch_optional(&mut *tx)
        .await
        .db()?;
        let stored = match row {
            Some(row) => row.try_into()?,
            None => {
                insert_authorization(&mut *tx, &auth).await?;
                auth
            }
        };
        audit::insert(&mut *tx, audit).await?;
        tx.commit().await.db()?;
        Ok(stored)
    }

    pub(crate) async fn pg_list_authorizations(
        &self,
        user_id: &UserId,
    ) -> StoreResult<Vec<Authorization>> {
        let rows: Vec<AuthRow> = sqlx::query_as(
            "SELECT id, user_id, name, kind, secret, info, created_at FROM authorizations \
             WHERE user_id = $1 ORDER BY seq",
        )
        .bind(user_id)
        .fetch_all(&self.inner.pool)
        .await
        .db()?;
        rows.into_iter().map(Authorization::try_from).collect()
    }

    pub(crate) async fn pg_all_authorizations(&self) -> StoreResult<Vec<Authorization>> {
        let rows: Vec<AuthRow> = sqlx::query_as(
            "SELECT id, user_id, name, kind, secret, info, created_at FROM authorizations \
             ORDER BY seq",
        )
        .fetch_all(&self.inner.pool)
        .await
        .db()?;
        rows.into_iter().map(Authorization::try_from).collect()
    }

    pub(crate) async fn pg_reseal_authorization(
        &self,
        user_id: &UserId,
        id: &AuthorizationId,
        old: &Sealed,
        new: Sealed,
        audit: &AuditEntry,
    ) -> StoreResult<bool> {
        // Compare and set: the entry is stored only when the secret was
        // replaced.
        let done: i64 = bind_audit!(
            sqlx::query_scalar(&format!(
                "WITH resealed AS (UPDATE authorizations SET secret = $1 \
                 WHERE id = $2 AND user_id = $3 AND secret = $4 RETURNING 1), \
                 audit AS ({}) SELECT count(*) FROM resealed",
                audit::insert_after("resealed", 5)
            ))
            .bind(&new.0)
            .bind(id)
            .bind(user_id)
            .bind(&old.0),
            audit
        )
        .fetch_one(&self.inner.pool)
        .await
        .db()?;
        Ok(done == 1)
    }

    pub(crate) async fn pg_get_authorization(
        &self,
        user_id: &UserId,
        id: &AuthorizationId,
    ) -> StoreResult<Authorization> {
        let row: Option<AuthRow> = sqlx::query_as(
            "SELECT id, user_id, name, kind, secret, info, created_at FROM authorizations \
             WHERE id = $1 AND user_id = $2",
        )
        .bind(id)
        .bind(user_id)
        .fetch_optional(&self.inner.pool)
        .await
        .db()?;
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    pub(crate) async fn pg_delete_authorization(
        &self,
        user_id: &UserId,
        id: &AuthorizationId,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        audit::delete_row(&self.inner.pool, "authorizations", id, Some(user_id), audit).await
    }

    pub(crate) async fn pg_get_setting(&self, key: &str) -> StoreResult<Option<serde_json::Value>> {
        sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.inner.pool)
            .await
            .db()
    }

    pub(crate) async fn pg_put_setting(
        &self,
        key: &str,
        value: serde_json::Value,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        bind_audit!(
            sqlx::query(&format!(
                "WITH written AS (INSERT INTO settings (key, value) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value RETURNING 1) {}",
                audit::insert_after("written", 3)
            ))
            .bind(key)
            .bind(value),
            audit
        )
        .execute(&self.inner.pool)
        .await
        .db()?;
        Ok(())
    }
}

/// The insert of an authorization (`$1` .. `$7`: id, user id, name, kind,
/// secret, info, creation time).
const INSERT_AUTHORIZATION: &str =
    "INSERT INTO authorizations (id, user_id, name, kind, secret, info, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// Inserts an authorization; a missing user is `NotFound` (foreign key).
async fn insert_authorization<'e, E>(executor: E, auth: &Authorization) -> StoreResult<()>
where
    E: sqlx::PgExecutor<'e>,
{
    sqlx::query(INSERT_AUTHORIZATION)
        .bind(&auth.id)
        .bind(&auth.user_id)
        .bind(&auth.name)
        .bind(auth.kind.as_str())
        .bind(&auth.secret.0)
        .bind(&auth.info)
        .bind(auth.created_at)
        .execute(executor)
        .await
        .db()?;
    Ok(())
}
