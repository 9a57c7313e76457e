//! Projects and network connections.
//!
//! Network writes follow one pattern: read the project, its networks and its
//! version in one snapshot (`read_projects.lua`), compute the result and the
//! event payload with core's own types, then run the write script guarded by
//! that version; a moved version means "read again". Project writes persist
//! what core computed (the record and its event); an update compares its
//! snapshot with core's `before` and is guarded by the snapshot's version
//! (`Store::update_project`).

use redis::AsyncCommands;
use slipway_core::error::StoreError;
use slipway_core::model::{AuditEntry, Network, NetworkId, NewEvent, Project, ProjectId, UserId};
use slipway_core::store::StoreResult;

use crate::audit::AuditArgs;
use crate::records::{from_json, to_json, NetworkRec, ProjectRec};
use crate::scripts::*;
use crate::{quota_arg, refused, RedisStore, Reply};

/// A project as read in one snapshot, with its version.
struct Snapshot {
    version: String,
    project: Project,
}

/// The owner's projects, or only the project `only` when it is given (none
/// when it is not theirs).
async fn snapshots(
    s: &RedisStore,
    owner_id: &UserId,
    only: Option<&ProjectId>,
) -> StoreResult<Vec<Snapshot>> {
    let only = only.map_or("", ProjectId::as_str);
    let rows: Vec<(String, String, Vec<String>)> =
        s.read(&READ_PROJECTS, &[owner_id, only]).await?;
    rows.into_iter()
        .map(|(version, raw, nets)| {
            let networks = nets
                .iter()
                .map(|n| Ok(Network::from(from_json::<NetworkRec>(n)?)))
                .collect::<StoreResult<Vec<_>>>()?;
            Ok(Snapshot {
                version,
                project: from_json::<ProjectRec>(&raw)?.into_project(networks),
            })
        })
        .collect()
}

async fn snapshot(s: &RedisStore, owner_id: &UserId, id: &ProjectId) -> StoreResult<Snapshot> {
    if id.is_empty() {
        return Err(StoreError::NotFound);
    }
    snapshots(s, owner_id, Some(id))
        .await?
        .pop()
        .ok_or(StoreError::NotFound)
}

fn path_args(path: &Option<String>) -> (&'static str, &str) {
    match path {
        Some(p) => ("1", p.as_str()),
        None => ("0", ""),
    }
}

pub(crate) async fn create_project(
    s: &RedisStore,
    project: Project,
    max_owned: usize,
    event: NewEvent,
    audit: &AuditEntry,
) -> StoreResult<Project> {
    let audit = AuditArgs::new(audit)?;
    let mut project = project;
    project.networks.clear();
    let rec = to_json(&ProjectRec::from_project(&project))?;
    let data = to_json(&event.data)?;
    let (has_path, path) = path_args(&project.path);
    // The script counts the owner's projects and writes in one step.
    let max_owned = quota_arg(max_owned);
    let reply = s
        .write_audited(
            &CREATE_PROJECT,
            &[
                &project.id,
                &project.owner_id,
                &project.source_id,
                &project.vm_id,
                has_path,
                path,
                &rec,
                &data,
                event.kind.as_str(),
                &max_owned,
            ],
            &audit,
        )
        .await?;
    match reply {
        Reply::Ok(_) => Ok(project),
        other => refused(other),
    }
}

pub(crate) async fn count_projects(s: &RedisStore, owner_id: &UserId) -> StoreResult<usize> {
    let mut conn = s.conn();
    let key = s.key(&format!("user:{owner_id}:projects"));
    s.timed(async move { conn.zcard(key).await }).await
}

pub(crate) async fn list_projects(s: &RedisStore, owner_id: &UserId) -> StoreResult<Vec<Project>> {
    Ok(snapshots(s, owner_id, None)
        .await?
        .into_iter()
        .map(|snap| snap.project)
        .collect())
}

pub(crate) async fn get_project(
    s: &RedisStore,
    owner_id: &UserId,
    id: &ProjectId,
) -> StoreResult<Project> {
    Ok(snapshot(s, owner_id, id).await?.project)
}

/// A compare-and-swap in two steps: the snapshot read compares the project
/// (with its networks) to `before`, and the script writes `after` only while
/// the project's version is still the snapshot's (every project and network
/// write moves it). A moved version is `Stale` too: core reads again.
pub(crate) async fn update_project(
    s: &RedisStore,
    before: &Project,
    after: &Project,
    event: NewEvent,
    audit: &AuditEntry,
) -> StoreResult<()> {
    let audit = AuditArgs::new(audit)?;
    let version = unchanged(s, before).await?;
    let rec = to_json(&ProjectRec::from_project(after))?;
    let data = to_json(&event.data)?;
    let (has_path, path) = path_args(&after.path);
    let reply = s
        .write_audited(
            &UPDATE_PROJECT,
            &[
                &before.id,
                &before.owner_id,
                &version,
                &after.source_id,
                &after.vm_id,
                has_path,
                path,
                &rec,
                &data,
                event.kind.as_str(),
            ],
            &audit,
        )
        .await?;
    cas_written(reply)
}

pub(crate) async fn delete_project(
    s: &RedisStore,
    owner_id: &UserId,
    id: &ProjectId,
    event: NewEvent,
    audit: &AuditEntry,
) -> StoreResult<()> {
    let audit = AuditArgs::new(audit)?;
    let data = to_json(&event.data)?;
    match s
        .write_audited(
            &DELETE_PROJECT,
            &[id, owner_id, &data, event.kind.as_str()],
            &audit,
        )
        .await?
    {
        Reply::Ok(_) => Ok(()),
        other => refused(other),
    }
}

// ---- network connections ---------------------------------------------------

async fn network_rec(s: &RedisStore, id: &NetworkId) -> StoreResult<Option<NetworkRec>> {
    s.get_raw(&format!("network:{id}"))
        .await?
        .map(|raw| from_json::<NetworkRec>(&raw))
        .transpose()
}

/// The snapshot of the project `before` was read from, checked against it
/// (`Stale` when it changed); its version guards the write that follows.
async fn unchanged(s: &RedisStore, before: &Project) -> StoreResult<String> {
    let Snapshot { version, project } = snapshot(s, &before.owner_id, &before.id).await?;
    if before.same_state(&project) {
        Ok(version)
    } else {
        Err(StoreError::Stale)
    }
}

/// A compare-and-swap write's reply (a project update, a network write): a
/// moved project version is `Stale` (core reads again and recomputes).
fn cas_written(reply: Reply) -> StoreResult<()> {
    match reply {
        Reply::Ok(_) => Ok(()),
        Reply::Retry => Err(StoreError::Stale),
        other => refused(other),
    }
}

pub(crate) async fn create_network(
    s: &RedisStore,
    before: &Project,
    network: Network,
    event: NewEvent,
    audit: &AuditEntry,
) -> StoreResult<()> {
    let audit = AuditArgs::new(audit)?;
    let rec = to_json(&NetworkRec::from(&network))?;
    let data = to_json(&event.data)?;
    let version = unchanged(s, before).await?;
    let reply = s
        .write_audited(
            &CREATE_NETWORK,
            &[
                &network.id,
                &before.id,
                &before.owner_id,
                &version,
                &network.domain,
                &network.domain_id,
                &rec,
                &data,
                event.kind.as_str(),
            ],
            &audit,
        )
        .await?;
    cas_written(reply)
}

pub(crate) async fn list_networks(
    s: &RedisStore,
    owner_id: &UserId,
    project_id: Option<&ProjectId>,
) -> StoreResult<Vec<Network>> {
    let raws = match project_id {
        None => {
            s.records_of(&format!("user:{owner_id}:networks"), "network")
                .await?
        }
        Some(pid) => match snapshot(s, owner_id, pid).await {
            Ok(snap) => return Ok(snap.project.networks),
            Err(StoreError::NotFound) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        },
    };
    raws.iter()
        .map(|raw| Ok(Network::from(from_json::<NetworkRec>(raw)?)))
        .collect()
}

pub(crate) async fn get_network(
    s: &RedisStore,
    owner_id: &UserId,
    id: &NetworkId,
) -> StoreResult<Network> {
    let rec = network_rec(s, id).await?.ok_or(StoreError::NotFound)?;
    // Ownership goes through the project.
    let mut conn = s.conn();
    let pkey = s.key(&format!("project:{}", rec.project_id));
    let raw: Option<String> = s.timed(async { conn.get(pkey).await }).await?;
    let owned = match raw {
        Some(raw) => from_json::<ProjectRec>(&raw)?.owner_id == owner_id,
        None => false,
    };
    if !owned {
        return Err(StoreError::NotFound);
    }
    Ok(rec.into())
}

pub(crate) async fn update_network(
    s: &RedisStore,
    before: &Project,
    after: &Network,
    event: NewEvent,
    audit: &AuditEntry,
) -> StoreResult<()> {
    let Some(old) = before.network(&after.id) else {
        return Err(StoreError::NotFound);
    };
    let audit = AuditArgs::new(audit)?;
    let (host, did) = if old.domain == after.domain && old.domain_id == after.domain_id {
        ("", "")
    } else {
        (after.domain.as_str(), after.domain_id.as_str())
    };
    let rec = to_json(&NetworkRec::from(after))?;
    let data = to_json(&event.data)?;
    let version = unchanged(s, before).await?;
    let reply = s
        .write_audited(
            &UPDATE_NETWORK,
            &[
                &after.id,
                &before.owner_id,
                &version,
                host,
                did,
                &rec,
                &data,
                event.kind.as_str(),
            ],
            &audit,
        )
        .await?;
    cas_written(reply)
}

pub(crate) async fn delete_network(
    s: &RedisStore,
    before: &Project,
    id: &NetworkId,
    event: NewEvent,
    audit: &AuditEntry,
) -> StoreResult<()> {
    if before.network(id).is_none() {
        return Err(StoreError::NotFound);
    }
    let audit = AuditArgs::new(audit)?;
    let data = to_json(&event.data)?;
    let version = unchanged(s, before).await?;
    let reply = s
        .write_audited(
            &DELETE_NETWORK,
            &[id, &before.owner_id, &version, &data, event.kind.as_str()],
            &audit,
        )
        .await?;
    cas_written(reply)
}
