//! The conformance cases. Each takes a fresh, empty store.

mod accounts;
mod audit;
mod backend;
mod counters;
mod events;
mod networks;
mod projects;
mod webhooks;

pub use accounts::*;
pub use audit::*;
pub use backend::*;
pub use counters::*;
pub use events::*;
pub use networks::*;
pub use projects::*;
pub use webhooks::*;

use std::time::Duration;

use futures::StreamExt;

use crate::error::StoreError;
use crate::error::Unique;
use crate::model::*;
use crate::store::{EventStream, Store};
use crate::testing::CoreProjectWrites;

fn uid<T: From<String>>() -> T {
    T::from(uuid::Uuid::new_v4().to_string())
}

/// Now, at the precision every store keeps (core gives stores its records
/// that way: [`store_now`](crate::model::store_now)).
fn now() -> Timestamp {
    crate::model::store_now()
}

/// A fresh audit entry (what a write method is given to store with its
/// change).
pub fn audit() -> AuditEntry {
    AuditEntry::new(AuditAction::ProjectUpdate, now())
}

/// A new user with a unique email.
pub fn new_user(name: &str) -> NewUser {
    let id: UserId = uid();
    NewUser {
        email: format!("{name}-{}@example.com", &id[..8]),
        id,
        name: name.to_string(),
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        github_id: None,
        created_at: now(),
    }
}

/// A project owned by `owner` with unique sourceId / vmId.
pub fn new_project(owner: &UserId) -> Project {
    let id: ProjectId = uid();
    Project {
        source_id: format!("src-{id}"),
        vm_id: format!("vm-{id}"),
        id,
        owner_id: owner.clone(),
        name: "demo".into(),
        description: Some("a project".into()),
        path: None,
        networks: vec![],
        created_at: now(),
        updated_at: now(),
    }
}

/// A domain that is not main.
pub fn new_domain(name: &str) -> Domain {
    Domain {
        id: uid(),
        domain: name.to_string(),
        challenge: "c".repeat(32),
        main: false,
        linked: false,
        created_at: now(),
    }
}

/// A network under `domain`.
pub fn new_network(project_id: &ProjectId, host: &str, domain: &Domain) -> Network {
    Network {
        id: uid(),
        domain: host.to_string(),
        port: 8080,
        project_id: project_id.clone(),
        domain_id: domain.id.clone(),
        created_at: now(),
    }
}

/// The API field of a conflict (`signup` for a refused gate, `networks` for a
/// record still in use), so cases read as the rules they check.
fn conflict_field(r: Result<impl std::fmt::Debug, StoreError>) -> String {
    match r {
        Err(StoreError::Conflict(unique)) => unique.field().to_string(),
        Err(StoreError::Refused) => "signup".to_string(),
        Err(StoreError::InUse) => "networks".to_string(),
        other => panic!("expected a conflict, got {other:?}"),
    }
}

/// The rule a conflict names.
fn conflict_rule(r: Result<impl std::fmt::Debug, StoreError>) -> Unique {
    match r {
        Err(StoreError::Conflict(unique)) => unique,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

/// Checks the results of racing creates against a quota: exactly `made`
/// succeeded, and every other failed as `refused` expects.
fn assert_quota_held<T: std::fmt::Debug, E: std::fmt::Debug>(
    results: &[Result<T, E>],
    made: usize,
    refused: impl Fn(&E) -> bool,
) {
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        made,
        "{results:?}"
    );
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().err().is_none_or(&refused)),
        "{results:?}"
    );
}

fn is_not_found<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::NotFound))
}

async fn user(store: &dyn Store, name: &str) -> User {
    store
        .create_user(new_user(name), RoleGate::FirstUserAdmin, &audit())
        .await
        .expect("create user")
}

/// Reads the next feed item, failing after 5 s.
pub async fn next_item(stream: &mut EventStream) -> FeedItem {
    tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("an event within 5 s")
        .expect("the stream goes on")
        .expect("no store error")
}

async fn next_event(stream: &mut EventStream) -> Event {
    match next_item(stream).await {
        FeedItem::Event(e) => e,
        FeedItem::Resync => panic!("unexpected resync"),
    }
}

/// The ids of every stored entry, newest first.
async fn stored_ids(store: &dyn Store) -> Vec<String> {
    store
        .list_audit(&AuditQuery {
            limit: 10_000,
            ..AuditQuery::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect()
}

/// User "a", the registered domain `example.com` and a project of the
/// user's, written as core writes them.
async fn owner_domain_project(store: &dyn Store) -> (User, Domain, Project) {
    let a = user(store, "a").await;
    let d = store
        .create_domain(new_domain("example.com"), &audit())
        .await
        .unwrap();
    let p = store
        .core_create_project(new_project(&a.id), &audit())
        .await
        .unwrap();
    (a, d, p)
}

/// A `Slipway` on the shared store, its builder adjusted by `build`.
fn slipway_on(
    store: &std::sync::Arc<dyn Store>,
    build: impl FnOnce(crate::SlipwayBuilder) -> crate::SlipwayBuilder,
) -> crate::Slipway {
    build(
        crate::Slipway::builder()
            .secret(b"an instance secret of at least 32 bytes!".to_vec())
            .shared_store(store.clone()),
    )
    .build()
    .expect("a Slipway on the store")
}

/// A project with unique references, created by `actor` through the services.
async fn service_project(slipway: &crate::Slipway, actor: &crate::Principal) -> Project {
    let tag: String = uid();
    slipway
        .projects()
        .create(
            actor,
            crate::services::NewProject::new("p", format!("src-{tag}"), format!("vm-{tag}")),
        )
        .await
        .unwrap()
}
