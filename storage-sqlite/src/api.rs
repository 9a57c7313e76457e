//! `impl Store for SqliteStore`: each call bounded by the operation timeout.

use async_trait::async_trait;
use slipway_core::model::{
    ApiToken, AuditEntry, AuditQuery, Authorization, Domain, Event, Invitation, Network, NewEvent,
    NewUser, Project, RoleGate, Sealed, Timestamp, User, UserUpdate, Webhook, WebhookDelivery,
};
use slipway_core::model::{
    ApiTokenId, AuthorizationId, DomainId, InvitationId, NetworkId, ProjectId, UserId, WebhookId,
};
use slipway_core::store::{CounterHit, CounterLimit, EventSignals, EventStream, StoreResult};
use slipway_core::Store;

use crate::events;
use crate::feed;
use crate::store::{Db, SqliteStore};

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        self.run(async {
            sqlx::query("SELECT 1")
                .execute(&self.inner.readers)
                .await
                .db()?;
            Ok(())
        })
        .await
    }

    async fn ready(&self) -> StoreResult<()> {
        self.ping().await?;
        self.run(async {
            let applied: Vec<i64> =
                sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                    .fetch_all(&self.inner.readers)
                    .await
                    .unwrap_or_default();
            crate::store::missing_migrations(&applied)
        })
        .await
    }

    async fn create_user(
        &self,
        user: NewUser,
        gate: RoleGate,
        audit: &AuditEntry,
    ) -> StoreResult<User> {
        self.run(self.lite_create_user(user, gate, audit)).await
    }

    async fn get_user(&self, id: &UserId) -> StoreResult<User> {
        self.run(self.lite_get_user(id)).await
    }

    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        self.run(self.lite_find_user_by_email(email)).await
    }

    async fn find_user_by_github_id(&self, github_id: i64) -> StoreResult<Option<User>> {
        self.run(self.lite_find_user_by_github_id(github_id)).await
    }

    async fn link_github(
        &self,
        user_id: &UserId,
        github_id: i64,
        audit: &AuditEntry,
    ) -> StoreResult<User> {
        self.run(self.lite_link_github(user_id, github_id, audit))
            .await
    }

    async fn hit_counter(
        &self,
        key: &str,
        window: std::time::Duration,
        limit: u32,
    ) -> StoreResult<CounterHit> {
        self.run(self.lite_hit_counter(key, window, limit)).await
    }

    async fn settle_counter(&self, key: &str, keep: bool) -> StoreResult<()> {
        self.run(self.lite_settle_counter(key, keep)).await
    }

    async fn hit_counters(
        &self,
        counters: &[CounterLimit<'_>],
    ) -> StoreResult<Option<(usize, CounterHit)>> {
        self.run(self.lite_hit_counters(counters)).await
    }

    async fn settle_counters(&self, keys: &[&str], keep: bool) -> StoreResult<()> {
        self.run(self.lite_settle_counters(keys, keep)).await
    }

    async fn settle_counters_and_audit(
        &self,
        keys: &[&str],
        keep: bool,
        entry: &AuditEntry,
    ) -> StoreResult<()> {
        self.run(self.lite_settle_counters_and_audit(keys, keep, entry))
            .await
    }

    async fn has_users(&self) -> StoreResult<bool> {
        self.run(self.lite_has_users()).await
    }

    async fn delete_user(
        &self,
        id: &UserId,
        events: Vec<NewEvent>,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        self.run(self.lite_delete_user(id, events, audit)).await
    }

    async fn update_user(
        &self,
        id: &UserId,
        update: UserUpdate,
        audit: &AuditEntry,
    ) -> StoreResult<User> {
        self.run(self.lite_update_user(id, update, audit)).await
    }

    async fn list_users(&self, after: Option<&UserId>, limit: usize) -> StoreResult<Vec<User>> {
        self.run(self.lite_list_users(after, limit)).await
    }

    async fn create_api_token(
        &self,
        token: ApiToken,
        max_kept: usize,
        audit: &AuditEntry,
    ) -> StoreResult<ApiToken> {
        self.run(self.lite_create_api_token(token, max_kept, audit))
            .await
    }

    async fn list_api_tokens(&self, user_id: &UserId) -> StoreResult<Vec<ApiToken>> {
        self.run(self.lite_list_api_tokens(user_id)).await
    }

    async fn find_api_token(&self, token_hash: &str) -> StoreResult<Option<ApiToken>> {
        self.run(self.lite_find_api_token(token_hash)).await
    }

    async fn delete_api_token(
        &self,
        user_id: &UserId,
        id: &ApiTokenId,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        self.run(self.lite_delete_api_token(user_id, id, audit))
            .await
    }

    async fn touch_api_token(&self, id: &ApiTokenId, at: Timestamp) -> StoreResult<()> {
        self.run(self.lite_touch_api_token(id, at)).await
    }

    async fn create_webhook(
        &self,
        webhook: Webhook,
        max_kept: usize,
        audit: &AuditEntry,
    ) -> StoreResult<Webhook> {
        self.run(self.lite_create_webhook(webhook, max_kept, audit))
            .await
    }

    async fn list_webhooks(&self, user_id: &UserId) -> StoreResult<Vec<Webhook>> {
        self.run(self.lite_list_webhooks(Some(user_id))).await
    }

    async fn get_webhook(&self, user_id: &UserId, id: &WebhookId) -> StoreResult<Webhook> {
        self.run(self.lite_get_webhook(user_id, id)).await
    }

    async fn delete_webhook(
        &self,
        user_id: &UserId,
        id: &WebhookId,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        self.run(self.lite_delete_webhook(user_id, id, audit)).await
    }

    async fn all_webhooks(&self) -> StoreResult<Vec<Webhook>> {
        self.run(self.lite_list_webhooks(None)).await
    }

    async fn lease_webhook(
        &self,
        id: &WebhookId,
        node: &str,
        until: Timestamp,
    ) -> StoreResult<bool> {
        self.run(self.lite_lease_webhook(id, node, until)).await
    }

    async fn set_webhook_cursor(
        &self,
        id: &WebhookId,
        node: &str,
        cursor: u64,
    ) -> StoreResult<bool> {
        self.run(self.lite_set_webhook_cursor(id, node, cursor))
            .await
    }

    async fn record_webhook_delivery(&self, delivery: WebhookDelivery) -> StoreResult<()> {
        self.run(self.lite_record_webhook_delivery(delivery)).await
    }

    async fn list_webhook_deliveries(
        &self,
        webhook_id: &WebhookId,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        self.run(self.lite_list_webhook_deliveries(webhook_id))
            .await
    }

    async fn create_invitation(
        &self,
        invitation: Invitation,
        audit: &AuditEntry,
    ) -> StoreResult<Invitation> {
        self.run(self.lite_create_invitation(invitation, audit))
            .await
    }

    async fn list_invitations(&self) -> StoreResult<Vec<Invitation>> {
        self.run(self.lite_list_invitations()).await
    }

    async fn find_invitation(&self, token_hash: &str) -> StoreResult<Option<Invitation>> {
        self.run(self.lite_find_invitation(token_hash)).await
    }

    async fn delete_invitation(&self, id: &InvitationId, audit: &AuditEntry) -> StoreResult<()> {
        self.run(self.lite_delete_invitation(id, audit)).await
    }

    async fn create_authorization(
        &self,
        auth: Authorization,
        max_kept: usize,
        audit: &AuditEntry,
    ) -> StoreResult<Authorization> {
        self.run(self.lite_create_authorization(auth, max_kept, audit))
            .await
    }

    async fn upsert_authorization(
        &self,
        auth: Authorization,
        audit: &AuditEntry,
    ) -> StoreResult<Authorization> {
        self.run(self.lite_upsert_authorization(auth, audit)).await
    }

    async fn all_authorizations(&self) -> StoreResult<Vec<Authorization>> {
        self.run(self.lite_all_authorizations()).await
    }

    async fn reseal_authorization(
        &self,
        user_id: &UserId,
        id: &AuthorizationId,
        old: &Sealed,
        new: Sealed,
        audit: &AuditEntry,
    ) -> StoreResult<bool> {
        self.run(self.lite_reseal_authorization(user_id, id, old, new, audit))
            .await
    }

    async fn list_authorizations(&self, user_id: &UserId) -> StoreResult<Vec<Authorization>> {
        self.run(self.lite_list_authorizations(user_id)).await
    }

    async fn get_authorization(
        &self,
        user_id: &UserId,
        id: &AuthorizationId,
    ) -> StoreResult<Authorization> {
        self.run(self.lite_get_authorization(user_id, id)).await
    }

    async fn delete_authorization(
        &self,
        user_id: &UserId,
        id: &AuthorizationId,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        self.run(self.lite_delete_authorization(user_id, id, audit))
            .await
    }

    async fn create_project(
        &self,
        project: Project,
        max_owned: usize,
        event: NewEvent,
        audit: &AuditEntry,
    ) -> StoreResult<Project> {
        self.run(self.lite_create_project(project, max_owned, event, audit))
            .await
    }

    async fn list_projects(&self, owner_id: &UserId) -> StoreResult<Vec<Project>> {
        self.run(self.lite_list_projects(owner_id)).await
    }

    async fn count_projects(&self, owner_id: &UserId) -> StoreResult<usize> {
        self.run(self.lite_count_projects(owner_id)).await
    }

    async fn get_project(&self, owner_id: &UserId, id: &ProjectId) -> StoreResult<Project> {
        self.run(self.lite_get_project(owner_id, id)).await
    }

    async fn update_project(
        &self,
        before: &Project,
        after: &Project,
        event: NewEvent,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        self.run(self.lite_update_project(before, after, event, audit))
            .await
    }

    async fn delete_project(
        &self,
        owner_id: &UserId,
        id: &ProjectId,
        event: NewEvent,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        self.run(self.lite_delete_project(owner_id, id, event, audit))
            .await
    }

    async fn create_network(
        &self,
        before: &Project,
        network: Network,
        event: NewEvent,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        self.run(self.lite_create_network(before, network, event, audit))
            .await
    }

    async fn list_networks(
        &self,
        owner_id: &UserId,
        project_id: Option<&ProjectId>,
    ) -> StoreResult<Vec<Network>> {
        self.run(self.lite_list_networks(owner_id, project_id))
            .await
    }

    async fn get_network(&self, owner_id: &UserId, id: &NetworkId) -> StoreResult<Network> {
        self.run(self.lite_get_network(owner_id, id)).await
    }

    async fn update_network(
        &self,
        before: &Project,
        after: &Network,
        event: NewEvent,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        self.run(self.lite_update_network(before, after, event, audit))
            .await
    }

    async fn delete_network(
        &self,
        before: &Project,
        id: &NetworkId,
        event: NewEvent,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        self.run(self.lite_delete_network(before, id, event, audit))
            .await
    }

    async fn create_domain(&self, domain: Domain, audit: &AuditEntry) -> StoreResult<Domain> {
        self.run(self.lite_create_domain(domain, audit)).await
    }

    async fn list_domains(&self) -> StoreResult<Vec<Domain>> {
        self.run(self.lite_list_domains()).await
    }

    async fn get_domain(&self, id: &DomainId) -> StoreResult<Domain> {
        self.run(self.lite_get_domain(id)).await
    }

    async fn set_domain_linked(
        &self,
        id: &DomainId,
        linked: bool,
        audit: &AuditEntry,
    ) -> StoreResult<Domain> {
        self.run(self.lite_set_domain_linked(id, linked, audit))
            .await
    }

    async fn delete_domain(&self, id: &DomainId, audit: &AuditEntry) -> StoreResult<()> {
        self.run(self.lite_delete_domain(id, audit)).await
    }

    async fn get_setting(&self, key: &str) -> StoreResult<Option<serde_json::Value>> {
        self.run(self.lite_get_setting(key)).await
    }

    async fn put_setting(
        &self,
        key: &str,
        value: serde_json::Value,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        self.run(self.lite_put_setting(key, value, audit)).await
    }

    async fn append_audit(&self, entry: &AuditEntry) -> StoreResult<()> {
        self.run(self.lite_append_audit(entry)).await
    }

    async fn list_audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>> {
        self.run(self.lite_list_audit(query)).await
    }

    async fn purge_audit(&self, before: Timestamp) -> StoreResult<u64> {
        self.run(self.lite_purge_audit(before)).await
    }

    async fn last_event_id(&self) -> StoreResult<u64> {
        self.run(async {
            let mut id = events::last_id(&self.inner.readers).await.db()?;
            if id < self.inner.high_water.get() {
                // Behind what the store handed out: a write committed since
                // this read, or the log went back behind the store's back.
                // Ask again with no write in flight; if it went back, this
                // answer tells the event feed (which resyncs its
                // subscribers), and new ids continue from here.
                let mut conn = self.writer().await?;
                id = events::last_id(&mut *conn).await.db()?;
                let high_water = self.inner.high_water.get();
                if id < high_water {
                    tracing::warn!(
                        newest = id,
                        high_water,
                        "the event log went back behind the store (the database file was \
                         restored or changed by another connection)"
                    );
                    self.inner.high_water.lower(id);
                }
            }
            Ok(u64::try_from(id).unwrap_or(0))
        })
        .await
    }

    async fn read_events(&self, after: u64, limit: usize) -> StoreResult<Vec<Event>> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run(async {
            feed::read_page(&self.inner.readers, after, limit)
                .await
                .db()
        })
        .await
    }

    async fn event_signals(&self) -> StoreResult<EventSignals> {
        Ok(feed::signals(self.inner.signal.subscribe()))
    }

    async fn events(&self, since: Option<u64>) -> StoreResult<EventStream> {
        self.inner
            .feed
            .subscribe(std::sync::Arc::new(self.clone()), since)
            .await
    }

    async fn stop_idle_tasks(&self) {
        self.inner.feed.stop_if_idle().await;
    }
}
