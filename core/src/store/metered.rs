//! [`Metered`]: a [`Store`] that records the duration of every call and
//! counts the calls that failed because the backend is unavailable or
//! misbehaved (see [`crate::metrics`]).

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;

use crate::error::StoreError;
use crate::model::{
    ApiToken, AuditEntry, AuditQuery, Authorization, Domain, Event, Invitation, Network, NewEvent,
    NewUser, Project, RoleGate, Sealed, Timestamp, User, UserUpdate, Webhook, WebhookDelivery,
};
use crate::model::{
    ApiTokenId, AuthorizationId, DomainId, InvitationId, NetworkId, ProjectId, UserId, WebhookId,
};
use crate::store::{CounterHit, CounterLimit, EventSignals, EventStream, Store, StoreResult};

/// Wraps a store; every call is timed and its backend failures counted.
pub(crate) struct Metered(pub(crate) Arc<dyn Store>);

async fn timed<T>(
    op: &'static crate::metrics::StoreOp,
    call: impl Future<Output = StoreResult<T>>,
) -> StoreResult<T> {
    let started = Instant::now();
    let result = call.await;
    let kind = match &result {
        Err(StoreError::Unavailable(_)) => Some("unavailable"),
        Err(StoreError::Other(_)) => Some("other"),
        _ => None,
    };
    crate::metrics::store_call(op, started.elapsed(), kind);
    result
}

/// Every successful project or network write appended one `project.update`
/// event of `kind`.
fn appended<T>(kind: &'static str, result: StoreResult<T>) -> StoreResult<T> {
    if result.is_ok() {
        crate::metrics::event_appended(kind);
    }
    result
}

#[async_trait]
impl Store for Metered {
    async fn ping(&self) -> StoreResult<()> {
        timed(crate::metrics::store_op!("ping"), self.0.ping()).await
    }

    async fn ready(&self) -> StoreResult<()> {
        timed(crate::metrics::store_op!("ready"), self.0.ready()).await
    }

    async fn create_user(
        &self,
        user: NewUser,
        gate: RoleGate,
        audit: &AuditEntry,
    ) -> StoreResult<User> {
        timed(
            crate::metrics::store_op!("create_user"),
            self.0.create_user(user, gate, audit),
        )
        .await
    }

    async fn get_user(&self, id: &UserId) -> StoreResult<User> {
        timed(crate::metrics::store_op!("get_user"), self.0.get_user(id)).await
    }

    async fn has_users(&self) -> StoreResult<bool> {
        timed(crate::metrics::store_op!("has_users"), self.0.has_users()).await
    }

    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        timed(
            crate::metrics::store_op!("find_user_by_email"),
            self.0.find_user_by_email(email),
        )
        .await
    }

    async fn find_user_by_github_id(&self, github_id: i64) -> StoreResult<Option<User>> {
        timed(
            crate::metrics::store_op!("find_user_by_github_id"),
            self.0.find_user_by_github_id(github_id),
        )
        .await
    }

    async fn link_github(
        &self,
        user_id: &UserId,
        github_id: i64,
        audit: &AuditEntry,
    ) -> StoreResult<User> {
        timed(
            crate::metrics::store_op!("link_github"),
            self.0.link_github(user_id, github_id, audit),
        )
        .await
    }

    async fn delete_user(
        &self,
        id: &UserId,
        events: Vec<NewEvent>,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        let deleted = events.len();
        let done = timed(
            crate::metrics::store_op!("delete_user"),
            self.0.delete_user(id, events, audit),
        )
        .await;
        if done.is_ok() {
            for _ in 0..deleted {
                crate::metrics::event_appended("DELETE");
            }
        }
        done
    }

    async fn update_user(
        &self,
        id: &UserId,
        update: UserUpdate,
        audit: &AuditEntry,
    ) -> StoreResult<User> {
        timed(
            crate::metrics::store_op!("update_user"),
            self.0.update_user(id, update, audit),
        )
        .await
    }

    async fn list_users(&self, after: Option<&UserId>, limit: usize) -> StoreResult<Vec<User>> {
        timed(
            crate::metrics::store_op!("list_users"),
            self.0.list_users(after, limit),
        )
        .await
    }

    async fn create_api_token(
        &self,
        token: ApiToken,
        max_kept: usize,
        audit: &AuditEntry,
    ) -> StoreResult<ApiToken> {
        timed(
            crate::metrics::store_op!("create_api_token"),
            self.0.create_api_token(token, max_kept, audit),
        )
        .await
    }

    async fn list_api_tokens(&self, user_id: &UserId) -> StoreResult<Vec<ApiToken>> {
        timed(
            crate::metrics::store_op!("list_api_tokens"),
            self.0.list_api_tokens(user_id),
        )
        .await
    }

    async fn find_api_token(&self, token_hash: &str) -> StoreResult<Option<ApiToken>> {
        timed(
            crate::metrics::store_op!("find_api_token"),
            self.0.find_api_token(token_hash),
        )
        .await
    }

    async fn delete_api_token(
        &self,
        user_id: &UserId,
        id: &ApiTokenId,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        timed(
            crate::metrics::store_op!("delete_api_token"),
            self.0.delete_api_token(user_id, id, audit),
        )
        .await
    }

    async fn touch_api_token(&self, id: &ApiTokenId, at: Timestamp) -> StoreResult<()> {
        timed(
            crate::metrics::store_op!("touch_api_token"),
            self.0.touch_api_token(id, at),
        )
        .await
    }

    async fn create_webhook(
        &self,
        webhook: Webhook,
        max_kept: usize,
        audit: &AuditEntry,
    ) -> StoreResult<Webhook> {
        timed(
            crate::metrics::store_op!("create_webhook"),
            self.0.create_webhook(webhook, max_kept, audit),
        )
        .await
    }

    async fn list_webhooks(&self, user_id: &UserId) -> StoreResult<Vec<Webhook>> {
        timed(
            crate::metrics::store_op!("list_webhooks"),
            self.0.list_webhooks(user_id),
        )
        .await
    }

    async fn get_webhook(&self, user_id: &UserId, id: &WebhookId) -> StoreResult<Webhook> {
        timed(
            crate::metrics::store_op!("get_webhook"),
            self.0.get_webhook(user_id, id),
        )
        .await
    }

    async fn delete_webhook(
        &self,
        user_id: &UserId,
        id: &WebhookId,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        timed(
            crate::metrics::store_op!("delete_webhook"),
            self.0.delete_webhook(user_id, id, audit),
        )
        .await
    }

    async fn all_webhooks(&self) -> StoreResult<Vec<Webhook>> {
        timed(
            crate::metrics::store_op!("all_webhooks"),
            self.0.all_webhooks(),
        )
        .await
    }

    async fn lease_webhook(
        &self,
        id: &WebhookId,
        node: &str,
        until: Timestamp,
    ) -> StoreResult<bool> {
        timed(
            crate::metrics::store_op!("lease_webhook"),
            self.0.lease_webhook(id, node, until),
        )
        .await
    }

    async fn set_webhook_cursor(
        &self,
        id: &WebhookId,
        node: &str,
        cursor: u64,
    ) -> StoreResult<bool> {
        timed(
            crate::metrics::store_op!("set_webhook_cursor"),
            self.0.set_webhook_cursor(id, node, cursor),
        )
        .await
    }

    async fn record_webhook_delivery(&self, delivery: WebhookDelivery) -> StoreResult<()> {
        timed(
            crate::metrics::store_op!("record_webhook_delivery"),
            self.0.record_webhook_delivery(delivery),
        )
        .await
    }

    async fn list_webhook_deliveries(
        &self,
        webhook_id: &WebhookId,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        timed(
            crate::metrics::store_op!("list_webhook_deliveries"),
            self.0.list_webhook_deliveries(webhook_id),
        )
        .await
    }

    async fn create_invitation(
        &self,
        invitation: Invitation,
        audit: &AuditEntry,
    ) -> StoreResult<Invitation> {
        timed(
            crate::metrics::store_op!("create_invitation"),
            self.0.create_invitation(invitation, audit),
        )
        .await
    }

    async fn list_invitations(&self) -> StoreResult<Vec<Invitation>> {
        timed(
            crate::metrics::store_op!("list_invitations"),
            self.0.list_invitations(),
        )
        .await
    }

    async fn find_invitation(&self, token_hash: &str) -> StoreResult<Option<Invitation>> {
        timed(
            crate::metrics::store_op!("find_invitation"),
            self.0.find_invitation(token_hash),
        )
        .await
    }

    async fn delete_invitation(&self, id: &InvitationId, audit: &AuditEntry) -> StoreResult<()> {
        timed(
            crate::metrics::store_op!("delete_invitation"),
            self.0.delete_invitation(id, audit),
        )
        .await
    }

    async fn hit_counter(
        &self,
        key: &str,
        window: std::time::Duration,
        limit: u32,
    ) -> StoreResult<CounterHit> {
        timed(
            crate::metrics::store_op!("hit_counter"),
            self.0.hit_counter(key, window, limit),
        )
        .await
    }

    async fn settle_counter(&self, key: &str, keep: bool) -> StoreResult<()> {
        timed(
            crate::metrics::store_op!("settle_counter"),
            self.0.settle_counter(key, keep),
        )
        .await
    }

    async fn hit_counters(
        &self,
        counters: &[CounterLimit<'_>],
    ) -> StoreResult<Option<(usize, CounterHit)>> {
        timed(
            crate::metrics::store_op!("hit_counters"),
            self.0.hit_counters(counters),
        )
        .await
    }

    async fn settle_counters(&self, keys: &[&str], keep: bool) -> StoreResult<()> {
        timed(
            crate::metrics::store_op!("settle_counters"),
            self.0.settle_counters(keys, keep),
        )
        .await
    }

    async fn settle_counters_and_audit(
        &self,
        keys: &[&str],
        keep: bool,
        entry: &AuditEntry,
    ) -> StoreResult<()> {
        timed(
            crate::metrics::store_op!("settle_counters_and_audit"),
            self.0.settle_counters_and_audit(keys, keep, entry),
        )
        .await
    }

    async fn create_authorization(
        &self,
        auth: Authorization,
        max_kept: usize,
        audit: &AuditEntry,
    ) -> StoreResult<Authorization> {
        timed(
            crate::metrics::store_op!("create_authorization"),
            self.0.create_authorization(auth, max_kept, audit),
        )
        .await
    }

    async fn upsert_authorization(
        &self,
        auth: Authorization,
        audit: &AuditEntry,
    ) -> StoreResult<Authorization> {
        timed(
            crate::metrics::store_op!("upsert_authorization"),
            self.0.upsert_authorization(auth, audit),
        )
        .await
    }

    async fn list_authorizations(&self, user_id: &UserId) -> StoreResult<Vec<Authorization>> {
        timed(
            crate::metrics::store_op!("list_authorizations"),
            self.0.list_authorizations(user_id),
        )
        .await
    }

    async fn get_authorization(
        &self,
        user_id: &UserId,
        id: &AuthorizationId,
    ) -> StoreResult<Authorization> {
        timed(
            crate::metrics::store_op!("get_authorization"),
            self.0.get_authorization(user_id, id),
        )
        .await
    }

    async fn delete_authorization(
        &self,
        user_id: &UserId,
        id: &AuthorizationId,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        timed(
            crate::metrics::store_op!("delete_authorization"),
            self.0.delete_authorization(user_id, id, audit),
        )
        .await
    }

    async fn all_authorizations(&self) -> StoreResult<Vec<Authorization>> {
        timed(
            crate::metrics::store_op!("all_authorizations"),
            self.0.all_authorizations(),
        )
        .await
    }

    async fn reseal_authorization(
        &self,
        user_id: &UserId,
        id: &AuthorizationId,
        old: &Sealed,
        new: Sealed,
        audit: &AuditEntry,
    ) -> StoreResult<bool> {
        timed(
            crate::metrics::store_op!("reseal_authorization"),
            self.0.reseal_authorization(user_id, id, old, new, audit),
        )
        .await
    }

    async fn create_project(
        &self,
        project: Project,
        max_owned: usize,
        event: NewEvent,
        audit: &AuditEntry,
    ) -> StoreResult<Project> {
        appended(
            "CREATE",
            timed(
                crate::metrics::store_op!("create_project"),
                self.0.create_project(project, max_owned, event, audit),
            )
            .await,
        )
    }

    async fn list_projects(&self, owner_id: &UserId) -> StoreResult<Vec<Project>> {
        timed(
            crate::metrics::store_op!("list_projects"),
            self.0.list_projects(owner_id),
        )
        .await
    }

    async fn count_projects(&self, owner_id: &UserId) -> StoreResult<usize> {
        timed(
            crate::metrics::store_op!("count_projects"),
            self.0.count_projects(owner_id),
        )
        .await
    }

    async fn get_project(&self, owner_id: &UserId, id: &ProjectId) -> StoreResult<Project> {
        timed(
            crate::metrics::store_op!("get_project"),
            self.0.get_project(owner_id, id),
        )
        .await
    }

    async fn update_project(
        &self,
        before: &Project,
        after: &Project,
        event: NewEvent,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        appended(
            "UPDATE",
            timed(
                crate::metrics::store_op!("update_project"),
                self.0.update_project(before, after, event, audit),
            )
            .await,
        )
    }

    async fn delete_project(
        &self,
        owner_id: &UserId,
        id: &ProjectId,
        event: NewEvent,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        appended(
            "DELETE",
            timed(
                crate::metrics::store_op!("delete_project"),
                self.0.delete_project(owner_id, id, event, audit),
            )
            .await,
        )
    }

    async fn create_network(
        &self,
        before: &Project,
        network: Network,
        event: NewEvent,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        appended(
            "UPDATE",
            timed(
                crate::metrics::store_op!("create_network"),
                self.0.create_network(before, network, event, audit),
            )
            .await,
        )
    }

    async fn list_networks(
        &self,
        owner_id: &UserId,
        project_id: Option<&ProjectId>,
    ) -> StoreResult<Vec<Network>> {
        timed(
            crate::metrics::store_op!("list_networks"),
            self.0.list_networks(owner_id, project_id),
        )
        .await
    }

    async fn get_network(&self, owner_id: &UserId, id: &NetworkId) -> StoreResult<Network> {
        timed(
            crate::metrics::store_op!("get_network"),
            self.0.get_network(owner_id, id),
        )
        .await
    }

    async fn update_network(
        &self,
        before: &Project,
        after: &Network,
        event: NewEvent,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        appended(
            "UPDATE",
            timed(
                crate::metrics::store_op!("update_network"),
                self.0.update_network(before, after, event, audit),
            )
            .await,
        )
    }

    async fn delete_network(
        &self,
        before: &Project,
        id: &NetworkId,
        event: NewEvent,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        appended(
            "UPDATE",
            timed(
                crate::metrics::store_op!("delete_network"),
                self.0.delete_network(before, id, event, audit),
            )
            .await,
        )
    }

    async fn create_domain(&self, domain: Domain, audit: &AuditEntry) -> StoreResult<Domain> {
        timed(
            crate::metrics::store_op!("create_domain"),
            self.0.create_domain(domain, audit),
        )
        .await
    }

    async fn list_domains(&self) -> StoreResult<Vec<Domain>> {
        timed(
            crate::metrics::store_op!("list_domains"),
            self.0.list_domains(),
        )
        .await
    }

    async fn get_domain(&self, id: &DomainId) -> StoreResult<Domain> {
        timed(
            crate::metrics::store_op!("get_domain"),
            self.0.get_domain(id),
        )
        .await
    }

    async fn set_domain_linked(
        &self,
        id: &DomainId,
        linked: bool,
        audit: &AuditEntry,
    ) -> StoreResult<Domain> {
        timed(
            crate::metrics::store_op!("set_domain_linked"),
            self.0.set_domain_linked(id, linked, audit),
        )
        .await
    }

    async fn delete_domain(&self, id: &DomainId, audit: &AuditEntry) -> StoreResult<()> {
        timed(
            crate::metrics::store_op!("delete_domain"),
            self.0.delete_domain(id, audit),
        )
        .await
    }

    async fn get_setting(&self, key: &str) -> StoreResult<Option<serde_json::Value>> {
        timed(
            crate::metrics::store_op!("get_setting"),
            self.0.get_setting(key),
        )
        .await
    }

    async fn put_setting(
        &self,
        key: &str,
        value: serde_json::Value,
        audit: &AuditEntry,
    ) -> StoreResult<()> {
        timed(
            crate::metrics::store_op!("put_setting"),
            self.0.put_setting(key, value, audit),
        )
        .await
    }

    async fn append_audit(&self, entry: &AuditEntry) -> StoreResult<()> {
        timed(
            crate::metrics::store_op!("append_audit"),
            self.0.append_audit(entry),
        )
        .await
    }

    async fn list_audit(&self, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>> {
        timed(
            crate::metrics::store_op!("list_audit"),
            self.0.list_audit(query),
        )
        .await
    }

    async fn purge_audit(&self, before: Timestamp) -> StoreResult<u64> {
        timed(
            crate::metrics::store_op!("purge_audit"),
            self.0.purge_audit(before),
        )
        .await
    }

    async fn last_event_id(&self) -> StoreResult<u64> {
        timed(
            crate::metrics::store_op!("last_event_id"),
            self.0.last_event_id(),
        )
        .await
    }

    async fn read_events(&self, after: u64, limit: usize) -> StoreResult<Vec<Event>> {
        timed(
            crate::metrics::store_op!("read_events"),
            self.0.read_events(after, limit),
        )
        .await
    }

    async fn event_signals(&self) -> StoreResult<EventSignals> {
        timed(
            crate::metrics::store_op!("event_signals"),
            self.0.event_signals(),
        )
        .await
    }

    async fn events(&self, since: Option<u64>) -> StoreResult<EventStream> {
        timed(crate::metrics::store_op!("events"), self.0.events(since)).await
    }

    async fn stop_idle_tasks(&self) {
        self.0.stop_idle_tasks().await;
    }
}
