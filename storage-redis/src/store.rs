//! The [`Store`] implementation: each method delegates to its module.

use async_trait::async_trait;
use slipway_core::model::{
    ApiToken, ApiTokenId, AuditEntry, AuditQuery, Authorization, AuthorizationId, Domain, DomainId,
    Event, Invitation, InvitationId, Network, NetworkId, NewEvent, NewUser, Project, ProjectId,
    RoleGate, Sealed, Timestamp, User, UserId, UserUpdate, Webhook, WebhookDelivery, WebhookId,
};
use slipway_core::store::{CounterHit, EventSignals, EventStream, Store, StoreResult};

use crate::{audit, counters, events, projects, users, webhooks, RedisStore};

#[async_trait]
impl Store for RedisStore {
    async fn ping(&self) -> StoreResult<()> {
        let mut conn = self.conn();
        self.timed(async move { redis::cmd("PING").query_async::<()>(&mut conn).await })
            .await
    }

    async fn create_user(
        &self,
        user: NewUser,
        gate: RoleGate,
        audit: &AuditEntry,
    ) -> StoreResult<User> {
        users::create_user(self, user, gate, audit).await
    }

    async fn get_user(&self, id: &UserId) -> StoreResult<User> {
        users::get_user(self, id).await
    }

    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        users::user_by_index(self, "email", email).await
    }

    async fn find_user_by_github_id(&self, github_id: i64) -> StoreResult<Option<User>> {
        users::user_by_index(self, "github", &github_id.to_string()).await
    }

    async fn link_github(
        &self,
        user_id: &UserId,
        github_id: i64,
        audit: &AuditEntry,
    ) -> StoreResult<User> {
        users::link_github(self, user_id, github_id, audit).await
    }

    async fn hit_counter(
        &self,
        key: &str,
        window: std::time::Duration,
        limit: u32,
    ) -> StoreResult<CounterHit> {
        counters::hit(self, key, window, limit).await
    }

    async fn settle_counter(&self, key: &str, keep: bool) -> StoreResult<()> {
        counters::settle(self, key, keep).await
    }

    async fn has_users(&self) -> StoreResult<bool> {
        counters::has_users(self).await
    }

    async fn delete_user(
        &self,
        id: &UserId,
        events: Vec<NewEvent>,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        users::delete_user(self, id, events, audit).await
    }

    async fn update_user(
        &self,
        id: &UserId,
        update: UserUpdate,
        audit: &AuditEntry,
    ) -> StoreResult<User> {
        users::update_user(self, id, update, audit).await
    }

    async fn list_users(&self, after: Option<&UserId>, limit: usize) -> StoreResult<Vec<User>> {
        users::list_users(self, after, limit).await
    }

    async fn create_webhook(
        &self,
        webhook: Webhook,
        max_kept: usize,
        audit: &AuditEntry,
    ) -> StoreResult<Webhook> {
        webhooks::create_webhook(self, webhook, max_kept, audit).await
    }

    async fn list_webhooks(&self, user_id: &UserId) -> StoreResult<Vec<Webhook>> {
        webhooks::list_webhooks(self, Some(user_id)).await
    }

    async fn get_webhook(&self, user_id: &UserId, id: &WebhookId) -> StoreResult<Webhook> {
        webhooks::get_webhook(self, user_id, id).await
    }

    async fn delete_webhook(
        &self,
        user_id: &UserId,
        id: &WebhookId,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        webhooks::delete_webhook(self, user_id, id, audit).await
    }

    async fn all_webhooks(&self) -> StoreResult<Vec<Webhook>> {
        webhooks::list_webhooks(self, None).await
    }

    async fn lease_webhook(
        &self,
        id: &WebhookId,
        node: &str,
        until: Timestamp,
    ) -> StoreResult<bool> {
        webhooks::lease_webhook(self, id, node, until).await
    }

    async fn set_webhook_cursor(
        &self,
        id: &WebhookId,
        node: &str,
        cursor: u64,
    ) -> StoreResult<bool> {
        webhooks::set_webhook_cursor(self, id, node, cursor).await
    }

    async fn record_webhook_delivery(&self, delivery: WebhookDelivery) -> StoreResult<()> {
        webhooks::record_webhook_delivery(self, delivery).await
    }

    async fn list_webhook_deliveries(
        &self,
        webhook_id: &WebhookId,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        webhooks::list_webhook_deliveries(self, webhook_id).await
    }

    async fn create_api_token(
        &self,
        token: ApiToken,
        max_kept: usize,
        audit: &AuditEntry,
    ) -> StoreResult<ApiToken> {
        users::create_api_token(self, token, max_kept, audit).await
    }

    async fn list_api_tokens(&self, user_id: &UserId) -> StoreResult<Vec<ApiToken>> {
        users::list_api_tokens(self, user_id).await
    }

    async fn find_api_token(&self, token_hash: &str) -> StoreResult<Option<ApiToken>> {
        users::find_api_token(self, token_hash).await
    }

    async fn delete_api_token(
        &self,
        user_id: &UserId,
        id: &ApiTokenId,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        users::delete_api_token(self, user_id, id, audit).await
    }

    async fn touch_api_token(&self, id: &ApiTokenId, at: Timestamp) -> StoreResult<()> {
        users::touch_api_token(self, id, at).await
    }

    async fn create_invitation(
        &self,
        invitation: Invitation,
        audit: &AuditEntry,
    ) -> StoreResult<Invitation> {
        users::create_invitation(self, invitation, audit).await
    }

    async fn list_invitations(&self) -> StoreResult<Vec<Invitation>> {
        users::list_invitations(self).await
    }

    async fn find_invitation(&self, token_hash: &str) -> StoreResult<Option<Invitation>> {
        users::find_invitation(self, token_hash).await
    }

    async fn delete_invitation(&self, id: &InvitationId, audit: &AuditEntry) -> StoreResult<()> {
        users::delete_invitation(self, id, audit).await
    }

    async fn create_authorization(
        &self,
        auth: Authorization,
        max_kept: usize,
        audit: &AuditEntry,
    ) -> StoreResult<Authorization> {
        users::create_authorization(self, auth, max_kept, audit).await
    }

    async fn upsert_authorization(
        &self,
        auth: Authorization,
        audit: &AuditEntry,
    ) -> StoreResult<Authorization> {
        users::upsert_authorization(self, auth, audit).await
    }

    async fn all_authorizations(&self) -> StoreResult<Vec<Authorization>> {
        users::all_authorizations(self).await
    }

    async fn reseal_authorization(
        &self,
        user_id: &UserId,
        id: &AuthorizationId,
        old: &Sealed,
        new: Sealed,
        audit: &AuditEntry,
    ) -> StoreResult<bool> {
        users::reseal_authorization(self, user_id, id, old, new, audit).await
    }

    async fn list_authorizations(&self, user_id: &UserId) -> StoreResult<Vec<Authorization>> {
        users::list_authorizations(self, user_id).await
    }

    async fn get_authorization(
        &self,
        user_id: &UserId,
        id: &AuthorizationId,
    ) -> StoreResult<Authorization> {
        users::get_authorization(self, user_id, id).await
    }

    async fn delete_authorization(
        &self,
        user_id: &UserId,
        id: &AuthorizationId,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        users::delete_authorization(self, user_id, id, audit).await
    }

    async fn create_project(
        &self,
        project: Project,
        max_owned: usize,
        event: NewEvent,
        audit: &AuditEntry,
    ) -> StoreResult<Project> {
        projects::create_project(self, project, max_owned, event, audit).await
    }

    async fn list_projects(&self, owner_id: &UserId) -> StoreResult<Vec<Project>> {
        projects::list_projects(self, owner_id).await
    }

    async fn count_projects(&self, owner_id: &UserId) -> StoreResult<usize> {
        projects::count_projects(self, owner_id).await
    }

    async fn get_project(&self, owner_id: &UserId, id: &ProjectId) -> StoreResult<Project> {
        projects::get_project(self, owner_id, id).await
    }

    async fn update_project(
        &self,
        before: &Project,
        after: &Project,
        event: NewEvent,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        projects::update_project(self, before, after, event, audit).await
    }

    async fn delete_project(
        &self,
        owner_id: &UserId,
        id: &ProjectId,
        event: NewEvent,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        projects::delete_project(self, owner_id, id, event, audit).await
    }

    async fn create_network(
        &self,
        before: &Project,
        network: Network,
        event: NewEvent,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        projects::create_network(self, before, network, event, audit).await
    }

    async fn list_networks(
        &self,
        owner_id: &UserId,
        project_id: Option<&ProjectId>,
    ) -> StoreResult<Vec<Network>> {
        projects::list_networks(self, owner_id, project_id).await
    }

    async fn get_network(&self, owner_id: &UserId, id: &NetworkId) -> StoreResult<Network> {
        projects::get_network(self, owner_id, id).await
    }

    async fn update_network(
        &self,
        before: &Project,
        after: &Network,
        event: NewEvent,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        projects::update_network(self, before, after, event, audit).await
    }

    async fn delete_network(
        &self,
        before: &Project,
        id: &NetworkId,
        event: NewEvent,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        projects::delete_network(self, before, id, event, audit).await
    }

    async fn create_domain(&self, domain: Domain, audit: &AuditEntry) -> StoreResult<Domain> {
        users::create_domain(self, domain, audit).await
    }

    async fn list_domains(&self) -> StoreResult<Vec<Domain>> {
        users::list_domains(self).await
    }

    async fn get_domain(&self, id: &DomainId) -> StoreResult<Domain> {
        users::get_domain(self, id).await
    }

    async fn set_domain_linked(
        &self,
        id: &DomainId,
        linked: bool,
        audit: &AuditEntry,
    ) -> StoreResult<Domain> {
        users::set_domain_linked(self, id, linked, audit).await
    }

    async fn delete_domain(&self, id: &DomainId, audit: &AuditEntry) -> StoreResult<()> {
        users::delete_domain(self, id, audit).await
    }

    async fn get_setting(&self, key: &str) -> StoreResult<Option<serde_json::Value>> {
        users::get_setting(self, key).await
    }

    async fn put_setting(
        &self,
        key: &str,
        value: serde_json::Value,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        users::put_setting(self, key, value, audit).await
    }

    async fn append_audit(&self, entry: &AuditEntry) -> StoreResult<()> {
        audit::append_audit(self, entry).await
    }

    async fn list_audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>> {
        audit::list_audit(self, query).await
    }

    async fn purge_audit(&self, before: Timestamp) -> StoreResult<u64> {
        audit::purge_audit(self, before).await
    }

    async fn last_event_id(&self) -> StoreResult<u64> {
        events::last_event_id(self).await
    }

    async fn read_events(&self, after: u64, limit: usize) -> StoreResult<Vec<Event>> {
        events::read_events(self, after, limit).await
    }

    async fn event_signals(&self) -> StoreResult<EventSignals> {
        events::signals(self).await
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
