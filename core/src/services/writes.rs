//! The read-compute-write loops of the writes that change an existing
//! project (project updates, network writes) or delete a user's projects.
//!
//! Core reads the project (with its networks), computes the new record and
//! the event here, and hands both to the store as a compare-and-swap on the
//! project ([`Store::update_project`], [`Store::create_network`],
//! [`Store::update_network`], [`Store::delete_network`]). A concurrent write
//! to the same project between the read and the write makes the write
//! [`StoreError::Stale`] with nothing written: the loop reads again and
//! recomputes, so no write is lost and every event carries the project
//! exactly as its write left it. The services and the conformance suite's
//! helpers ([`CoreProjectWrites`](crate::testing::CoreProjectWrites)) both
//! go through these functions.

use std::time::Duration;

use crate::error::StoreError;
use crate::model::{
    AuditEntry, EventKind, Network, NetworkId, NetworkPatch, NewEvent, Project, ProjectId,
    ProjectPatch, UserId,
};
use crate::store::Store;

/// How many times a write reads and writes while the project keeps changing
/// between its read and its write, before it gives up with `Stale` (a 503
/// worth retrying).
const ATTEMPTS: u32 = 64;

type StoreResult<T> = std::result::Result<T, StoreError>;

/// Before attempt `attempt` (0-based): nothing before the first two, then a
/// random 0..2^n ms (at most 64 ms), so racing writers spread out instead of
/// colliding again.
async fn back_off(attempt: u32) {
    if attempt >= 2 {
        let cap = 1u64 << attempt.min(6);
        let wait = rand::random::<u64>() % cap;
        tokio::time::sleep(Duration::from_millis(wait)).await;
    }
}

/// Applies `patch` to one of the owner's projects; returns the project as
/// written (with its networks).
pub(crate) async fn update_project<S: Store + ?Sized>(
    store: &S,
    owner: &UserId,
    id: &ProjectId,
    patch: &ProjectPatch,
    audit: &AuditEntry,
) -> StoreResult<Project> {
    for attempt in 0..ATTEMPTS {
        back_off(attempt).await;
        let before = store.get_project(owner, id).await?;
        let mut after = before.clone();
        patch.clone().apply(&mut after);
        let event = NewEvent::for_project(EventKind::Update, &after);
        match store.update_project(&before, &after, event, audit).await {
            Err(StoreError::Stale) => continue,
            Ok(()) => return Ok(after),
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Stale)
}

/// Why [`create_network`] wrote nothing: the store's answer, or the
/// caller's check of the project refused it.
#[derive(Debug)]
pub(crate) enum CreateRefused<C> {
    /// The store's error (`Stale` after every attempt).
    Store(StoreError),
    /// `check` refused the project as read.
    Check(C),
}

impl<C> From<StoreError> for CreateRefused<C> {
    fn from(e: StoreError) -> Self {
        CreateRefused::Store(e)
    }
}

/// Adds `network` to its project, which the caller read as `before` (the
/// first attempt uses it; later ones read the project again). `check` runs
/// on every read of the project, so a rule about the project's networks
/// (the per-project quota) holds exactly under concurrent creates: the write
/// only lands while the project is still as checked.
pub(crate) async fn create_network<S: Store + ?Sized, C>(
    store: &S,
    mut before: Project,
    network: Network,
    audit: &AuditEntry,
    check: impl Fn(&Project) -> Result<(), C>,
) -> Result<Network, CreateRefused<C>> {
    for attempt in 0..ATTEMPTS {
        back_off(attempt).await;
        if attempt > 0 {
            before = store.get_project(&before.owner_id, &before.id).await?;
        }
        check(&before).map_err(CreateRefused::Check)?;
        let mut after = before.clone();
        after.networks.push(network.clone());
        let event = NewEvent::for_project(EventKind::Update, &after);
        match store
            .create_network(&before, network.clone(), event, audit)
            .await
        {
            Err(StoreError::Stale) => continue,
            Ok(()) => return Ok(network),
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Stale.into())
}

/// The project holding one of the owner's networks, and the network's
/// place in it. `NotFound` when the network is not the owner's (or is gone).
async fn network_project<S: Store + ?Sized>(
    store: &S,
    owner: &UserId,
    id: &NetworkId,
    project: Option<&ProjectId>,
) -> StoreResult<(Project, usize)> {
    let project_id = match project {
        Some(p) => p.clone(),
        None => store.get_network(owner, id).await?.project_id,
    };
    let before = store.get_project(owner, &project_id).await?;
    match before.networks.iter().position(|n| n.id == *id) {
        Some(at) => Ok((before, at)),
        None => Err(StoreError::NotFound),
    }
}

/// Applies `patch` to one of the owner's networks; returns the network as
/// written. `project_id` is the network's project when the caller read it
/// already (else the network is read first).
pub(crate) async fn update_network<S: Store + ?Sized>(
    store: &S,
    owner: &UserId,
    id: &NetworkId,
    mut project_id: Option<ProjectId>,
    patch: &NetworkPatch,
    audit: &AuditEntry,
) -> StoreResult<Network> {
    for attempt in 0..ATTEMPTS {
        back_off(attempt).await;
        let (before, at) = network_project(store, owner, id, project_id.as_ref()).await?;
        let mut after = before.clone();
        patch.apply(&mut after.networks[at]);
        let network = after.networks[at].clone();
        let event = NewEvent::for_project(EventKind::Update, &after);
        match store.update_network(&before, &network, event, audit).await {
            Err(StoreError::Stale) => project_id = Some(before.id),
            Ok(()) => return Ok(network),
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Stale)
}

/// Deletes one of the owner's networks (`project_id` as for
/// [`update_network`]).
pub(crate) async fn delete_network<S: Store + ?Sized>(
    store: &S,
    owner: &UserId,
    id: &NetworkId,
    mut project_id: Option<ProjectId>,
    audit: &AuditEntry,
) -> StoreResult<()> {
    for attempt in 0..ATTEMPTS {
        back_off(attempt).await;
        let (before, at) = network_project(store, owner, id, project_id.as_ref()).await?;
        let mut after = before.clone();
        after.networks.remove(at);
        let event = NewEvent::for_project(EventKind::Update, &after);
        match store.delete_network(&before, id, event, audit).await {
            Err(StoreError::Stale) => project_id = Some(before.id),
            Ok(()) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Stale)
}

/// Deletes a user with everything they own, with core's DELETE event for
/// each of their projects: the store deletes only while the user's projects
/// are the ones read here ([`Store::delete_user`]), so a project created
/// meanwhile is never deleted without its event.
pub(crate) async fn delete_user<S: Store + ?Sized>(
    store: &S,
    id: &UserId,
    audit: &AuditEntry,
) -> StoreResult<()> {
    for attempt in 0..ATTEMPTS {
        back_off(attempt).await;
        let events = store
            .list_projects(id)
            .await?
            .iter()
            .map(|p| NewEvent::deleted(id, &p.id))
            .collect();
        match store.delete_user(id, events, audit).await {
            Err(StoreError::Stale) => continue,
            done => return done,
        }
    }
    Err(StoreError::Stale)
}
