//! The store conformance suite (feature `testing`).
//!
//! Every case is a plain `async fn(&dyn Store)` in [`cases`] (the
//! service-level ones, which run a whole `Slipway` on the store, take the
//! shared `Arc<dyn Store>`); the
//! [`store_conformance!`](crate::store_conformance) macro expands to one named
//! `#[tokio::test]` per case, each on a fresh, empty store from the caller's
//! setup function:
//!
//! ```ignore
//! async fn setup() -> Option<std::sync::Arc<dyn slipway_core::Store>> {
//!     // None skips the test (for example: no database URL in the environment).
//!     Some(std::sync::Arc::new(slipway_core::MemoryStore::new()))
//! }
//! slipway_core::store_conformance!(setup);
//! ```
//!
//! The setup function must give a store whose event log retains **at most 100
//! events** (the stale-cursor case writes more than that).
//!
//! Callers need `tokio` (with `macros` and `rt-multi-thread`) as a dev-dependency.

pub mod cases;
pub mod ports;

use crate::error::StoreError;
use crate::model::{
    AuditEntry, EventKind, Network, NetworkId, NetworkPatch, NewEvent, Project, ProjectId,
    ProjectPatch, UserId,
};
use crate::store::Store;

/// The project writes as core makes them (it computes the record and builds
/// the event; the store only persists them), for tests that write through a
/// store directly. Every [`Store`] has them.
#[async_trait::async_trait]
pub trait CoreProjectWrites {
    /// Creates `project` with the CREATE event core builds, without a
    /// quota (`usize::MAX`).
    async fn core_create_project(
        &self,
        project: Project,
        audit: &AuditEntry,
    ) -> Result<Project, StoreError>;

    /// Applies `patch` to one of the owner's projects as core does: reads
    /// it, applies the patch, builds the UPDATE event and writes with
    /// [`Store::update_project`], reading again when that write is stale (as
    /// often as core does, then `Stale`). Returns the updated project.
    async fn core_update_project(
        &self,
        owner_id: &UserId,
        id: &ProjectId,
        patch: ProjectPatch,
        audit: &AuditEntry,
    ) -> Result<Project, StoreError>;

    /// Deletes one of the owner's projects with the DELETE event core builds.
    async fn core_delete_project(
        &self,
        owner_id: &UserId,
        id: &ProjectId,
        audit: &AuditEntry,
    ) -> Result<(), StoreError>;

    /// Creates a network on one of the owner's projects as core does: reads
    /// the project, builds the UPDATE event with the network added and
    /// writes with [`Store::create_network`], again when that is stale.
    /// `NotFound` when the project is not the owner's.
    async fn core_create_network(
        &self,
        owner_id: &UserId,
        network: Network,
        audit: &AuditEntry,
    ) -> Result<Network, StoreError>;

    /// Applies `patch` to one of the owner's networks as core does (see
    /// [`Store::update_network`]). Returns the updated network.
    async fn core_update_network(
        &self,
        owner_id: &UserId,
        id: &NetworkId,
        patch: NetworkPatch,
        audit: &AuditEntry,
    ) -> Result<Network, StoreError>;

    /// Deletes one of the owner's networks as core does (see
    /// [`Store::delete_network`]).
    async fn core_delete_network(
        &self,
        owner_id: &UserId,
        id: &NetworkId,
        audit: &AuditEntry,
    ) -> Result<(), StoreError>;

    /// Deletes a user as core does: reads their projects, builds a DELETE
    /// event for each and writes with [`Store::delete_user`], again when
    /// that is stale.
    async fn core_delete_user(&self, id: &UserId, audit: &AuditEntry) -> Result<(), StoreError>;
}

#[async_trait::async_trait]
impl<S: Store + ?Sized> CoreProjectWrites for S {
    async fn core_create_project(
        &self,
        project: Project,
        audit: &AuditEntry,
    ) -> Result<Project, StoreError> {
        let event = NewEvent::for_project(EventKind::Create, &project);
        self.create_project(project, usize::MAX, event, audit).await
    }

    async fn core_update_project(
        &self,
        owner_id: &UserId,
        id: &ProjectId,
        patch: ProjectPatch,
        audit: &AuditEntry,
    ) -> Result<Project, StoreError> {
        crate::services::writes::update_project(self, owner_id, id, &patch, audit).await
    }

    async fn core_delete_project(
        &self,
        owner_id: &UserId,
        id: &ProjectId,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let event = NewEvent::deleted(owner_id, id);
        self.delete_project(owner_id, id, event, audit).await
    }

    async fn core_create_network(
        &self,
        owner_id: &UserId,
        network: Network,
        audit: &AuditEntry,
    ) -> Result<Network, StoreError> {
        let before = self.get_project(owner_id, &network.project_id).await?;
        let unchecked = |_: &Project| Ok::<(), std::convert::Infallible>(());
        crate::services::writes::create_network(self, before, network, audit, unchecked)
            .await
            .map_err(|e| match e {
                crate::services::writes::CreateRefused::Store(e) => e,
                crate::services::writes::CreateRefused::Check(never) => match never {},
            })
    }

    async fn core_update_network(
        &self,
        owner_id: &UserId,
        id: &NetworkId,
        patch: NetworkPatch,
        audit: &AuditEntry,
    ) -> Result<Network, StoreError> {
        crate::services::writes::update_network(self, owner_id, id, None, &patch, audit).await
    }

    async fn core_delete_network(
        &self,
        owner_id: &UserId,
        id: &NetworkId,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        crate::services::writes::delete_network(self, owner_id, id, None, audit).await
    }

    async fn core_delete_user(&self, id: &UserId, audit: &AuditEntry) -> Result<(), StoreError> {
        crate::services::writes::delete_user(self, id, audit).await
    }
}

/// Expands to one `#[tokio::test]` per conformance case, each calling
/// `$setup().await` for a fresh empty store (`None` skips with a notice).
#[macro_export]
macro_rules! store_conformance {
    ($setup:path) => {
        $crate::store_conformance!(@cases $setup;
            ping_answers,
            ready_answers,
            first_user_is_admin_then_members,
            first_only_refuses_second_user,
            exact_role_gate_sets_the_role,
            duplicate_email_conflicts,
            concurrent_signups_same_email_one_wins,
            users_found_by_email_and_github_id,
            link_github_unique,
            link_github_never_overwrites,
            counter_limits_and_settles,
            concurrent_counter_hits_respect_the_limit,
            counter_window_ends,
            hit_counters_is_all_or_nothing,
            settle_counters_and_audit_does_both,
            concurrent_multi_counter_hits_respect_every_limit,
            has_users_reports_the_first_user,
            delete_user_removes_user_and_projects,
            update_user_applies_changes,
            last_admin_is_kept,
            concurrent_demotions_keep_an_admin,
            list_users_pages_in_order,
            invitations_work_once,
            api_tokens_roundtrip_and_scope,
            api_token_quota_refuses_at_the_limit,
            webhooks_roundtrip_lease_and_deliveries,
            webhook_quota_refuses_at_the_limit,
            project_create_read_list,
            count_projects_follows_creates_and_deletes,
            project_quota_refuses_at_the_limit,
            project_uniqueness_conflicts,
            concurrent_project_creates_same_vm_one_wins,
            project_update_and_conflicts,
            stale_project_update_writes_nothing,
            project_delete_cascades_networks,
            projects_are_owner_scoped,
            project_reads_networks_oldest_first,
            network_crud_and_events,
            network_domain_rules,
            networks_are_owner_scoped,
            stale_network_writes_write_nothing,
            stale_user_delete_writes_nothing,
            domain_crud_and_rules,
            authorization_crud_and_scope,
            authorization_upsert_replaces,
            authorization_quota_refuses_at_the_limit,
            reseal_authorizations_compare_and_set,
            settings_roundtrip,
            event_ids_increase_and_payloads,
            failed_write_appends_no_event,
            events_replay_then_live,
            events_resync_when_since_is_stale,
            read_events_pages_the_log,
            slow_subscriber_loses_nothing,
            future_cursor_gets_resync_then_new_events,
            every_write_stores_its_audit_entry,
            audit_lists_newest_first_with_filters,
            audit_purge_deletes_old_entries,
        );
        $crate::store_conformance!(@shared $setup;
            concurrent_service_updates_lose_nothing,
            concurrent_service_network_writes_lose_nothing,
            concurrent_network_creates_respect_the_quota,
            concurrent_api_token_creates_respect_the_quota,
            concurrent_webhook_creates_respect_the_quota,
            concurrent_service_webhook_creates_respect_the_cap,
            concurrent_attempts_on_shared_counters_never_fail,
        );
    };
    (@shared $setup:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some(store) = $setup().await else {
                    eprintln!(concat!("skipped ", stringify!($case), ": store not available"));
                    return;
                };
                $crate::testing::cases::$case(store).await;
            }
        )*
    };
    (@cases $setup:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some(store) = $setup().await else {
                    eprintln!(concat!("skipped ", stringify!($case), ": store not available"));
                    return;
                };
                $crate::testing::cases::$case(&*store).await;
            }
        )*
    };
}

/// Expands to the cases that race creates of one user's projects and
/// authorizations against their quotas: they never pass it together (every
/// store of this workspace: the memory store, SQLite, Redis and
/// PostgreSQL). Kept apart from [`store_conformance!`] so that a store
/// written elsewhere can adopt the rule of
/// [`Store::create_project`](crate::Store::create_project) on its own
/// schedule. Same `setup` as there:
///
/// ```ignore
/// slipway_core::store_exact_quota_conformance!(setup);
/// ```
#[macro_export]
macro_rules! store_exact_quota_conformance {
    ($setup:path) => {
        $crate::store_conformance!(@shared $setup;
            concurrent_project_creates_respect_the_quota,
            concurrent_authorization_creates_respect_the_quota,
        );
    };
}

/// Expands to one `#[tokio::test]` per backend case (a restart of the
/// store's backend, a backend that lost its data), each calling
/// `$setup().await` for a fresh empty store and its
/// [`Backend`](cases::Backend) (`None` skips with a notice):
///
/// ```ignore
/// async fn setup() -> Option<(Arc<dyn Store>, Arc<dyn Backend>)> { ... }
/// slipway_core::store_backend_conformance!(setup);
/// ```
#[macro_export]
macro_rules! store_backend_conformance {
    ($setup:path) => {
        $crate::store_backend_conformance!(@cases $setup;
            subscribers_resume_after_a_backend_restart,
            subscribers_resync_after_the_backend_loses_its_data,
        );
    };
    (@cases $setup:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some((store, backend)) = $setup().await else {
                    eprintln!(concat!("skipped ", stringify!($case), ": backend not available"));
                    return;
                };
                $crate::testing::cases::$case(&*store, &*backend).await;
            }
        )*
    };
}
