//! The state of a [`MemoryStore`](super::MemoryStore) with the indexes that
//! make its uniqueness checks and per-owner reads independent of the number of
//! records. Indexed tables are only changed through the methods here, which
//! keep every index in step.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use crate::error::{StoreError, Unique};
use crate::model::{
    ApiToken, ApiTokenId, AuditEntry, Authorization, AuthorizationId, Domain, DomainId, Event,
    Invitation, InvitationId, Network, NetworkId, Project, ProjectId, User, UserId, UserUpdate,
    Webhook, WebhookId,
};
use crate::store::StoreResult;

/// Ids in insertion order (`(seq, id)`), for "oldest first" listings.
type Ordered<Id> = BTreeSet<(u64, Id)>;

#[derive(Default)]
pub(super) struct State {
    seq: u64,
    users: HashMap<UserId, (u64, User)>,
    user_order: Ordered<UserId>,
    pub(super) invitations: BTreeMap<InvitationId, (u64, Invitation)>,
    api_tokens: HashMap<ApiTokenId, (u64, ApiToken)>,
    /// Token hash → token id: every request with an API token looks one up.
    token_hashes: HashMap<String, ApiTokenId>,
    user_tokens: HashMap<UserId, Ordered<ApiTokenId>>,
    /// Webhooks with their lease (node, until).
    pub(super) webhooks: BTreeMap<WebhookId, (u64, Webhook, Option<Lease>)>,
    /// Deliveries per webhook, by event id.
    pub(super) deliveries: HashMap<WebhookId, BTreeMap<u64, crate::model::WebhookDelivery>>,
    emails: HashMap<String, UserId>,
    github_ids: HashMap<i64, UserId>,
    pub(super) auths: BTreeMap<AuthorizationId, (u64, Authorization)>,
    projects: HashMap<ProjectId, (u64, Project)>,
    /// `(field, value)` → project id, for `sourceId`, `vmId` and `path`.
    project_keys: HashMap<(Unique, String), ProjectId>,
    owner_projects: HashMap<UserId, Ordered<ProjectId>>,
    networks: HashMap<NetworkId, (u64, Network)>,
    /// Hostname → network id.
    hosts: HashMap<String, NetworkId>,
    project_networks: HashMap<ProjectId, Ordered<NetworkId>>,
    pub(super) domains: BTreeMap<DomainId, (u64, Domain)>,
    pub(super) settings: BTreeMap<String, serde_json::Value>,
    /// The audit log by entry id (time-ordered).
    pub(super) audit: BTreeMap<String, AuditEntry>,
    pub(super) events: VecDeque<Event>,
    pub(super) last_event_id: u64,
    /// Whether events were appended under the current lock (signalled when
    /// it is released).
    pub(super) appended: bool,
}

/// Sorts `(seq, item)` pairs and drops the sequence numbers.
/// A webhook's delivery lease: the node holding it and until when.
pub(super) type Lease = (String, crate::model::Timestamp);

pub(super) fn sorted<T: Clone>(items: impl Iterator<Item = (u64, T)>) -> Vec<T> {
    let mut v: Vec<(u64, T)> = items.collect();
    v.sort_by_key(|(seq, _)| *seq);
    v.into_iter().map(|(_, t)| t).collect()
}

fn project_keys(p: &Project) -> Vec<(Unique, String)> {
    let mut keys = vec![
        (Unique::SourceId, p.source_id.clone()),
        (Unique::VmId, p.vm_id.clone()),
    ];
    if let Some(path) = &p.path {
        keys.push((Unique::ProjectPath, path.clone()));
    }
    keys
}

impl State {
    /// `result`, after recording `audit` when it is a success that
    /// `took_effect` (under the lock of the write, so atomically with it).
    pub(super) fn audited_if<T>(
        &mut self,
        audit: &AuditEntry,
        result: StoreResult<T>,
        took_effect: impl FnOnce(&T) -> bool,
    ) -> StoreResult<T> {
        if result.as_ref().is_ok_and(took_effect) {
            self.audit.insert(audit.id.clone(), audit.clone());
        }
        result
    }

    pub(super) fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    // ---- API tokens ----------------------------------------------------

    /// The user's API tokens, oldest first.
    pub(super) fn api_tokens_of(&self, user_id: &UserId) -> Vec<ApiToken> {
        self.user_tokens
            .get(user_id)
            .into_iter()
            .flatten()
            .filter_map(|(_, id)| self.api_tokens.get(id).map(|(_, t)| t.clone()))
            .collect()
    }

    pub(super) fn count_api_tokens(&self, user_id: &UserId) -> usize {
        self.user_tokens.get(user_id).map_or(0, |set| set.len())
    }

    pub(super) fn api_token(&self, id: &ApiTokenId) -> Option<&ApiToken> {
        self.api_tokens.get(id).map(|(_, t)| t)
    }

    pub(super) fn api_token_mut(&mut self, id: &ApiTokenId) -> Option<&mut ApiToken> {
        self.api_tokens.get_mut(id).map(|(_, t)| t)
    }

    pub(super) fn api_token_by_hash(&self, token_hash: &str) -> Option<&ApiToken> {
        self.token_hashes
            .get(token_hash)
            .and_then(|id| self.api_token(id))
    }

    /// Inserts a token, unless its id or hash is taken.
    pub(super) fn insert_api_token(&mut self, token: ApiToken) -> StoreResult<()> {
        if self.api_tokens.contains_key(&token.id)
            || self.token_hashes.contains_key(&token.token_hash)
        {
            return Err(StoreError::conflict(Unique::Id));
        }
        let seq = self.next_seq();
        self.token_hashes
            .insert(token.token_hash.clone(), token.id.clone());
        self.user_tokens
            .entry(token.user_id.clone())
            .or_default()
            .insert((seq, token.id.clone()));
        self.api_tokens.insert(token.id.clone(), (seq, token));
        Ok(())
    }

    pub(super) fn remove_api_token(&mut self, id: &ApiTokenId) {
        if let Some((seq, t)) = self.api_tokens.remove(id) {
            self.token_hashes.remove(&t.token_hash);
            if let Some(set) = self.user_tokens.get_mut(&t.user_id) {
                set.remove(&(seq, id.clone()));
                if set.is_empty() {
                    self.user_tokens.remove(&t.user_id);
                }
            }
        }
    }

    // ---- users ---------------------------------------------------------

    pub(super) fn count_projects(&self, owner_id: &UserId) -> usize {
        self.owner_projects.get(owner_id).map_or(0, |set| set.len())
    }

    pub(super) fn has_users(&self) -> bool {
        !self.users.is_empty()
    }

    pub(super) fn user(&self, id: &UserId) -> Option<&User> {
        self.users.get(id).map(|(_, u)| u)
    }

    pub(super) fn user_by_email(&self, email: &str) -> Option<&User> {
        self.emails.get(email).and_then(|id| self.user(id))
    }

    pub(super) fn user_by_github_id(&self, github_id: i64) -> Option<&User> {
        self.github_ids.get(&github_id).and_then(|id| self.user(id))
    }

    /// Inserts a user whose email and GitHub id the caller checked are free.
    pub(super) fn insert_user(&mut self, user: User) {
        let seq = self.next_seq();
        self.emails.insert(user.email.clone(), user.id.clone());
        if let Some(gid) = user.github_id {
            self.github_ids.insert(gid, user.id.clone());
        }
        self.user_order.insert((seq, user.id.clone()));
        self.users.insert(user.id.clone(), (seq, user));
    }

    /// Whether an active admin other than `id` exists.
    fn other_active_admin(&self, id: &UserId) -> bool {
        self.users
            .values()
            .any(|(_, u)| u.id != id && u.is_active_admin())
    }

    pub(super) fn update_user(&mut self, id: &UserId, update: &UserUpdate) -> StoreResult<User> {
        let (_, before) = self.users.get(id).ok_or(StoreError::NotFound)?;
        if let Some(email) = &update.email {
            if self.emails.get(email).is_some_and(|owner| owner != id) {
                return Err(StoreError::conflict(Unique::Email));
            }
        }
        if update.removes_admin(before) && !self.other_active_admin(id) {
            return Err(StoreError::Refused);
        }
        let (_, user) = self.users.get_mut(id).ok_or(StoreError::NotFound)?;
        let old_email = user.email.clone();
        update.apply(user);
        let user = user.clone();
        if user.email != old_email {
            self.emails.remove(&old_email);
            self.emails.insert(user.email.clone(), id.clone());
        }
        Ok(user)
    }

    pub(super) fn list_users(
        &self,
        after: Option<&UserId>,
        limit: usize,
    ) -> StoreResult<Vec<User>> {
        let start = match after {
            None => None,
            Some(id) => Some(self.users.get(id).ok_or(StoreError::NotFound)?.0),
        };
        Ok(self
            .user_order
            .iter()
            .filter(|(seq, _)| start.is_none_or(|s| *seq > s))
            .take(limit)
            .filter_map(|(_, id)| self.user(id).cloned())
            .collect())
    }

    pub(super) fn set_github_id(&mut self, user_id: &UserId, github_id: i64) -> StoreResult<User> {
        if self
            .github_ids
            .get(&github_id)
            .is_some_and(|owner| owner != user_id)
        {
            return Err(StoreError::conflict(Unique::GitHubId));
        }
        let (_, user) = self.users.get_mut(user_id).ok_or(StoreError::NotFound)?;
        // Never overwrites a link: a user linked to another GitHub account
        // keeps it.
        if user.github_id.is_some_and(|old| old != github_id) {
            return Err(StoreError::conflict(Unique::GitHubId));
        }
        user.github_id = Some(github_id);
        self.github_ids.insert(github_id, user_id.clone());
        Ok(user.clone())
    }

    /// The user's project ids, oldest first.
    pub(super) fn project_ids_of(&self, id: &UserId) -> Vec<ProjectId> {
        self.owner_projects
            .get(id)
            .into_iter()
            .flatten()
            .map(|(_, pid)| pid.clone())
            .collect()
    }

    /// Removes a user with their authorizations, API tokens and webhooks
    /// (the caller removes their projects); `Refused` for the last active
    /// admin while other users exist.
    pub(super) fn remove_user(&mut self, id: &UserId) -> StoreResult<()> {
        let (_, user) = self.users.get(id).ok_or(StoreError::NotFound)?;
        // Users are never left without an admin; the instance's only user
        // may go (the next sign-up becomes admin again).
        if user.is_active_admin() && !self.other_active_admin(id) && self.users.len() > 1 {
            return Err(StoreError::Refused);
        }
        let (seq, user) = self.users.remove(id).ok_or(StoreError::NotFound)?;
        self.user_order.remove(&(seq, id.clone()));
        self.emails.remove(&user.email);
        if let Some(gid) = user.github_id {
            self.github_ids.remove(&gid);
        }
        self.auths.retain(|_, (_, a)| a.user_id != id);
        for (_, token_id) in self.user_tokens.remove(id).unwrap_or_default() {
            if let Some((_, t)) = self.api_tokens.remove(&token_id) {
                self.token_hashes.remove(&t.token_hash);
            }
        }
        let gone: Vec<WebhookId> = self
            .webhooks
            .values()
            .filter(|(_, w, _)| w.user_id == id)
            .map(|(_, w, _)| w.id.clone())
            .collect();
        for wid in gone {
            self.webhooks.remove(&wid);
            self.deliveries.remove(&wid);
        }
        Ok(())
    }

    // ---- projects ------------------------------------------------------

    pub(super) fn owned_project(&self, owner_id: &UserId, id: &ProjectId) -> StoreResult<&Project> {
        match self.projects.get(id) {
            Some((_, p)) if p.owner_id == owner_id => Ok(p),
            _ => Err(StoreError::NotFound),
        }
    }

    /// The stored project `before` was read from, with its networks:
    /// `NotFound` when it is gone (or not `before.owner_id`'s), `Stale` when
    /// it changed since ([`Project::same_state`]).
    pub(super) fn unchanged(&self, before: &Project) -> StoreResult<Project> {
        let stored = self.project_with_networks(self.owned_project(&before.owner_id, &before.id)?);
        if before.same_state(&stored) {
            Ok(stored)
        } else {
            Err(StoreError::Stale)
        }
    }

    /// The project with its networks, oldest first.
    pub(super) fn project_with_networks(&self, p: &Project) -> Project {
        let mut p = p.clone();
        p.networks = self
            .project_networks
            .get(&p.id)
            .into_iter()
            .flatten()
            .filter_map(|(_, nid)| self.networks.get(nid).map(|(_, n)| n.clone()))
            .collect();
        p
    }

    /// The owner's projects with their networks, oldest first.
    pub(super) fn projects_of(&self, owner_id: &UserId) -> Vec<Project> {
        self.owner_projects
            .get(owner_id)
            .into_iter()
            .flatten()
            .filter_map(|(_, pid)| self.projects.get(pid))
            .map(|(_, p)| self.project_with_networks(p))
            .collect()
    }

    /// Checks the project uniqueness rules against every project but `except`.
    pub(super) fn check_project_unique(
        &self,
        except: Option<&str>,
        p: &Project,
    ) -> StoreResult<()> {
        for (field, value) in project_keys(p) {
            match self.project_keys.get(&(field, value)) {
                Some(holder) if Some(holder.as_str()) != except => {
                    return Err(StoreError::conflict(field))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Inserts or replaces a project (keeping its place in listings) whose
    /// uniqueness the caller checked; `networks` are not stored here.
    pub(super) fn put_project(&mut self, mut p: Project) {
        p.networks.clear();
        let seq = match self.projects.get(&p.id) {
            Some((seq, old)) => {
                let seq = *seq;
                for key in project_keys(old) {
                    self.project_keys.remove(&key);
                }
                seq
            }
            None => {
                let seq = self.next_seq();
                self.owner_projects
                    .entry(p.owner_id.clone())
                    .or_default()
                    .insert((seq, p.id.clone()));
                seq
            }
        };
        for key in project_keys(&p) {
            self.project_keys.insert(key, p.id.clone());
        }
        self.projects.insert(p.id.clone(), (seq, p));
    }

    /// Removes a project with its networks.
    pub(super) fn remove_project(&mut self, id: &ProjectId) -> Option<Project> {
        let (seq, p) = self.projects.remove(id)?;
        for key in project_keys(&p) {
            self.project_keys.remove(&key);
        }
        if let Some(set) = self.owner_projects.get_mut(&p.owner_id) {
            set.remove(&(seq, p.id.clone()));
            if set.is_empty() {
                self.owner_projects.remove(&p.owner_id);
            }
        }
        for (_, nid) in self.project_networks.remove(id).unwrap_or_default() {
            if let Some((_, n)) = self.networks.remove(&nid) {
                self.hosts.remove(&n.domain);
            }
        }
        Some(p)
    }

    // ---- networks ------------------------------------------------------

    pub(super) fn owned_network(&self, owner_id: &UserId, id: &NetworkId) -> StoreResult<&Network> {
        let (_, n) = self.networks.get(id).ok_or(StoreError::NotFound)?;
        self.owned_project(owner_id, &n.project_id)?;
        Ok(n)
    }

    /// Network `id` of the project `p` (as core read it); `NotFound` when
    /// `p` has none.
    pub(super) fn network_of(&self, p: &Project, id: &NetworkId) -> StoreResult<&Network> {
        if p.network(id).is_none() {
            return Err(StoreError::NotFound);
        }
        self.networks
            .get(id)
            .map(|(_, n)| n)
            .ok_or(StoreError::NotFound)
    }

    /// The owner's networks (of one project, when given), oldest first.
    pub(super) fn networks_of(
        &self,
        owner_id: &UserId,
        project_id: Option<&ProjectId>,
    ) -> Vec<Network> {
        let projects: Vec<&str> = match project_id {
            Some(pid) => match self.owned_project(owner_id, pid) {
                Ok(p) => vec![p.id.as_str()],
                Err(_) => vec![],
            },
            None => self
                .owner_projects
                .get(owner_id)
                .into_iter()
                .flatten()
                .map(|(_, pid)| pid.as_str())
                .collect(),
        };
        sorted(
            projects
                .into_iter()
                .flat_map(|pid| self.project_networks.get(pid).into_iter().flatten())
                .filter_map(|(_, nid)| self.networks.get(nid).cloned()),
        )
    }

    /// The hostname must be free (but for `except`) and its covering domain
    /// must still exist.
    pub(super) fn check_network_domain(
        &self,
        except: Option<&str>,
        host: &str,
        domain_id: &str,
    ) -> StoreResult<()> {
        if !self.domains.contains_key(domain_id) {
            return Err(StoreError::conflict(Unique::NetworkHostname));
        }
        match self.hosts.get(host) {
            Some(holder) if Some(holder.as_str()) != except => {
                Err(StoreError::conflict(Unique::NetworkHostname))
            }
            _ => Ok(()),
        }
    }

    /// Inserts or replaces a network whose rules the caller checked.
    pub(super) fn put_network(&mut self, n: Network) {
        let seq = match self.networks.get(&n.id) {
            Some((seq, old)) => {
                let seq = *seq;
                self.hosts.remove(&old.domain);
                seq
            }
            None => {
                let seq = self.next_seq();
                self.project_networks
                    .entry(n.project_id.clone())
                    .or_default()
                    .insert((seq, n.id.clone()));
                seq
            }
        };
        self.hosts.insert(n.domain.clone(), n.id.clone());
        self.networks.insert(n.id.clone(), (seq, n));
    }

    pub(super) fn remove_network(&mut self, id: &NetworkId) -> Option<Network> {
        let (seq, n) = self.networks.remove(id)?;
        self.hosts.remove(&n.domain);
        if let Some(set) = self.project_networks.get_mut(&n.project_id) {
            set.remove(&(seq, n.id.clone()));
        }
        Some(n)
    }

    /// Whether any network connection is covered by the domain.
    pub(super) fn domain_in_use(&self, domain_id: &DomainId) -> bool {
        self.networks
            .values()
            .any(|(_, n)| n.domain_id == domain_id)
    }
}
