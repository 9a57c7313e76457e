//! Network connections: a hostname routed to a port of one of the
//! principal's projects. The hostname is unique instance-wide and must equal
//! or sit under a registered domain. Each write is a project UPDATE event.

use super::page::{Page, PageRequest};
use super::{issued, new_id, validate, Core, Error, Principal, Resource, Result};
use crate::model::{store_now, AuditAction, Network, NetworkPatch, Scope};
use crate::model::{DomainId, NetworkId, ProjectId};

/// A network connection to create.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NewNetwork {
    /// Hostname (lowercased, trailing dot removed), equal to or under a
    /// registered domain.
    pub domain: String,
    /// Port 1-65535.
    pub port: u16,
    /// One of the principal's projects.
    pub project_id: ProjectId,
}

impl NewNetwork {
    /// A connection of `domain` to `port` of project `project_id`.
    pub fn new(domain: impl Into<String>, port: u16, project_id: impl Into<ProjectId>) -> Self {
        NewNetwork {
            domain: domain.into(),
            port,
            project_id: project_id.into(),
        }
    }
}

/// Changes to a network connection; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct NetworkChanges {
    /// New hostname.
    pub domain: Option<String>,
    /// New port.
    pub port: Option<u16>,
    /// The project: a connection cannot move, so only its own project is
    /// accepted here.
    pub project_id: Option<ProjectId>,
}

/// The network connection operations; see [`Slipway::networks`](crate::Slipway::networks).
pub struct Networks<'a> {
    pub(crate) core: &'a Core,
}

impl Networks<'_> {
    /// The normalized hostname and the id of the longest registered domain
    /// covering it.
    async fn covering_domain(&self, host: &str) -> Result<(String, DomainId)> {
        let host = validate::domain_name("domain", host)?;
        let domains = self
            .core
            .store
            .list_domains()
            .await
            .map_err(|e| Error::store(Resource::Domain, e))?;
        let best = domains
            .iter()
            .filter(|d| {
                host == d.domain
                    || (host.len() > d.domain.len()
                        && host.ends_with(&d.domain)
                        && host.as_bytes()[host.len() - d.domain.len() - 1] == b'.')
            })
            .max_by_key(|d| d.domain.len());
        match best {
            Some(d) => Ok((host, d.id.clone())),
            None => Err(Error::invalid(
                "domain",
                format!(
                    "domain {host} is not covered by any registered domain; an admin must \
                     register it (or a parent domain) with POST /domains first"
                ),
            )),
        }
    }

    /// Creates a connection on one of the principal's projects.
    pub async fn create(&self, actor: &Principal, input: NewNetwork) -> Result<Network> {
        self.core.require_scope(actor, Scope::NetworksWrite)?;
        let owner = self.core.user_of(actor).await?;
        let port = validate::port(input.port)?;
        if input.project_id.is_empty() {
            return Err(Error::invalid("projectId", "projectId must not be empty"));
        }
        self.core
            .reached(actor, issued(&input.project_id, Resource::Project)?)?;
        let store = &self.core.store;
        // The project must be the principal's: 404 before anything about domains.
        let project = store
            .get_project(&owner.id, &input.project_id)
            .await
            .map_err(|e| Error::store(Resource::Project, e))?;
        let max = self.core.config.max_networks_per_project;
        // Checked on every read of the project the write is computed from,
        // and the write lands only while the project is still as read: the
        // quota holds under concurrent creates too.
        let quota = |p: &crate::model::Project| {
            if p.networks.len() >= max {
                Err(Error::Forbidden(format!(
                    "Network connection limit reached: a project may have at most {max} \
                     network connections (max_networks_per_project); delete one first"
                )))
            } else {
                Ok(())
            }
        };
        quota(&project)?;
        let (domain, domain_id) = self.covering_domain(&input.domain).await?;
        let network = Network {
            id: new_id(),
            domain,
            port,
            project_id: input.project_id,
            domain_id,
            created_at: store_now(),
        };
        let audit = self
            .core
            .audit(actor, AuditAction::NetworkCreate)
            .target("network", &network.id);
        use super::writes::CreateRefused;
        match super::writes::create_network(store.as_ref(), project, network, &audit, quota).await {
            Ok(n) => Ok(n),
            Err(CreateRefused::Check(e)) => Err(e),
            Err(CreateRefused::Store(crate::StoreError::NotFound)) => {
                Err(Error::NotFound(Resource::Project))
            }
            Err(CreateRefused::Store(e)) => Err(Error::store(Resource::Network, e)),
        }
    }

    /// The principal's connections, optionally of one of their projects,
    /// oldest first.
    pub async fn list(
        &self,
        actor: &Principal,
        project_id: Option<&ProjectId>,
    ) -> Result<Vec<Network>> {
        self.core.require_scope(actor, Scope::NetworksRead)?;
        let owner = self.core.user_of(actor).await?;
        let store = &self.core.store;
        if let Some(pid) = project_id {
            self.core.reached(actor, issued(pid, Resource::Project)?)?;
            store
                .get_project(&owner.id, pid)
                .await
                .map_err(|e| Error::store(Resource::Project, e))?;
        }
        let mut networks = store
            .list_networks(&owner.id, project_id)
            .await
            .map_err(|e| Error::store(Resource::Network, e))?;
        networks.retain(|n| self.core.reaches(actor, &n.project_id));
        Ok(networks)
    }

    /// One page of [`Networks::list`], oldest first ([`PageRequest`]).
    pub async fn list_page(
        &self,
        actor: &Principal,
        project_id: Option<&ProjectId>,
        page: &PageRequest,
    ) -> Result<Page<Network>> {
        page.apply(self.list(actor, project_id).await?, |n| n.id.as_str())
    }

    /// One of the principal's connections.
    pub async fn get(&self, actor: &Principal, id: &NetworkId) -> Result<Network> {
        self.core.require_scope(actor, Scope::NetworksRead)?;
        let owner = self.core.user_of(actor).await?;
        let id = issued(id, Resource::Network)?;
        let network = self
            .core
            .store
            .get_network(&owner.id, id)
            .await
            .map_err(|e| Error::store(Resource::Network, e))?;
        self.reached(actor, network)
    }

    /// `network` when the principal reaches its project, else not found.
    fn reached(&self, actor: &Principal, network: Network) -> Result<Network> {
        if self.core.reaches(actor, &network.project_id) {
            Ok(network)
        } else {
            Err(Error::NotFound(Resource::Network))
        }
    }

    /// Changes the hostname or port of one of the principal's connections.
    pub async fn update(
        &self,
        actor: &Principal,
        id: &NetworkId,
        changes: NetworkChanges,
    ) -> Result<Network> {
        self.core.require_scope(actor, Scope::NetworksWrite)?;
        let owner = self.core.user_of(actor).await?;
        let port = changes.port.map(validate::port).transpose()?;
        let id = issued(id, Resource::Network)?;
        let store = &self.core.store;
        let current = store
            .get_network(&owner.id, id)
            .await
            .map_err(|e| Error::store(Resource::Network, e))?;
        let current = self.reached(actor, current)?;
        if let Some(pid) = &changes.project_id {
            if *pid != current.project_id {
                return Err(Error::invalid(
                    "projectId",
                    "projectId cannot be changed; delete the connection and create it on the \
                     other project",
                ));
            }
        }
        let domain = match &changes.domain {
            Some(d) => Some(self.covering_domain(d).await?),
            None => None,
        };
        if domain.is_none() && port.is_none() {
            return Ok(current);
        }
        let audit = self
            .core
            .audit(actor, AuditAction::NetworkUpdate)
            .target("network", id);
        let patch = NetworkPatch { domain, port };
        let project = Some(current.project_id);
        super::writes::update_network(store.as_ref(), &owner.id, id, project, &patch, &audit)
            .await
            .map_err(|e| Error::store(Resource::Network, e))
    }

    /// Deletes one of the principal's connections.
    pub async fn delete(&self, actor: &Principal, id: &NetworkId) -> Result<()> {
        self.core.require_scope(actor, Scope::NetworksWrite)?;
        let owner = self.core.user_of(actor).await?;
        let id = issued(id, Resource::Network)?;
        // Read first only when the principal reaches some projects only.
        let mut project = None;
        if actor.grant().is_some_and(|g| g.project_ids.is_some()) {
            let network = self
                .core
                .store
                .get_network(&owner.id, id)
                .await
                .map_err(|e| Error::store(Resource::Network, e))?;
            project = Some(self.reached(actor, network)?.project_id);
        }
        let audit = self
            .core
            .audit(actor, AuditAction::NetworkDelete)
            .target("network", id);
        let store = self.core.store.as_ref();
        super::writes::delete_network(store, &owner.id, id, project, &audit)
            .await
            .map_err(|e| Error::store(Resource::Network, e))
    }
}
