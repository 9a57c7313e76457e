//! Projects: owned by the user who created them; another user's project is
//! [`Error::NotFound`]. Core computes every project write (the new record and
//! its `project.update` event); the store persists both in one atomic step.

use super::page::{Page, PageRequest};
use super::{issued, new_id, validate, Core, Error, Principal, Resource, Result};
use crate::model::ProjectId;
use crate::model::{store_now, AuditAction, EventKind, NewEvent, Project, ProjectPatch, Scope};
use crate::StoreError;

/// A project to create.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NewProject {
    /// Name, 1-100 characters.
    pub name: String,
    /// Description, at most 1000 characters.
    pub description: Option<String>,
    /// Path, 1-255 characters, unique among all projects when set.
    pub path: Option<String>,
    /// Opaque source reference (1-128 of `[A-Za-z0-9._:-]`), unique.
    pub source_id: String,
    /// Opaque VM reference (1-128 of `[A-Za-z0-9._:-]`), unique.
    pub vm_id: String,
}

impl NewProject {
    /// A project with a name, a source and a VM (no description, no path).
    pub fn new(
        name: impl Into<String>,
        source_id: impl Into<String>,
        vm_id: impl Into<String>,
    ) -> Self {
        NewProject {
            name: name.into(),
            description: None,
            path: None,
            source_id: source_id.into(),
            vm_id: vm_id.into(),
        }
    }
    /// Sets the description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }
    /// Sets the path.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }
}

/// Changes to a project; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ProjectChanges {
    /// New name.
    pub name: Option<String>,
    /// New description (`Some(None)` clears it).
    pub description: Option<Option<String>>,
    /// New path (`Some(None)` clears it).
    pub path: Option<Option<String>>,
    /// New source reference.
    pub source_id: Option<String>,
    /// New VM reference.
    pub vm_id: Option<String>,
}

impl ProjectChanges {
    fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.description.is_none()
            && self.path.is_none()
            && self.source_id.is_none()
            && self.vm_id.is_none()
    }
}

fn check_name(name: &str) -> Result<()> {
    validate::text("name", name, 1, 100)
}
fn check_description(d: &str) -> Result<()> {
    validate::text("description", d, 0, 1000)
}

/// The project operations; see [`Slipway::projects`](crate::Slipway::projects).
pub struct Projects<'a> {
    pub(crate) core: &'a Core,
}

impl Projects<'_> {
    /// Creates a project owned by the principal; appends its CREATE event.
    pub async fn create(&self, actor: &Principal, input: NewProject) -> Result<Project> {
        self.core.require_scope(actor, Scope::ProjectsWrite)?;
        self.core.require_unrestricted(actor)?;
        // The owner's id, not their record: the store refuses a missing
        // owner in the write itself (one read fewer per create).
        let owner_id = self.core.owner_of(actor)?.clone();
        check_name(&input.name)?;
        if let Some(d) = &input.description {
            check_description(d)?;
        }
        let path = input
            .path
            .as_deref()
            .map(validate::project_path)
            .transpose()?;
        validate::reference("sourceId", &input.source_id)?;
        validate::reference("vmId", &input.vm_id)?;
        let max = self.core.config.max_projects_per_user;
        let now = store_now();
        let project = Project {
            id: new_id(),
            owner_id,
            name: input.name,
            description: input.description,
            path,
            source_id: input.source_id,
            vm_id: input.vm_id,
            networks: Vec::new(),
            created_at: now,
            updated_at: now,
        };
        let audit = self
            .core
            .audit(actor, AuditAction::ProjectCreate)
            .target("project", &project.id);
        let event = NewEvent::for_project(EventKind::Create, &project);
        // The store counts in the write itself (exact where its writes are
        // serialized; see `Store::create_project`).
        self.core
            .store
            .create_project(project, max, event, &audit)
            .await
            .map_err(|e| match e {
                // The only record a create needs is its owner.
                StoreError::NotFound => self.core.token_user::<()>(Err(e)).unwrap_err(),
                StoreError::Refused => Error::Forbidden(format!(
                    "Project limit reached: a user may own at most {max} projects \
                     (max_projects_per_user); delete one first"
                )),
                e => Error::store(Resource::Project, e),
            })
    }

    /// The principal's projects, oldest first, each with its networks.
    pub async fn list(&self, actor: &Principal) -> Result<Vec<Project>> {
        self.core.require_scope(actor, Scope::ProjectsRead)?;
        let owner = self.core.user_of(actor).await?;
        let mut projects = self
            .core
            .store
            .list_projects(&owner.id)
            .await
            .map_err(|e| Error::store(Resource::Project, e))?;
        projects.retain(|p| self.core.reaches(actor, &p.id));
        Ok(projects)
    }

    /// One page of the principal's projects, oldest first ([`PageRequest`]).
    pub async fn list_page(&self, actor: &Principal, page: &PageRequest) -> Result<Page<Project>> {
        page.apply(self.list(actor).await?, |p| p.id.as_str())
    }

    /// One of the principal's projects, with its networks.
    pub async fn get(&self, actor: &Principal, id: &ProjectId) -> Result<Project> {
        // One store read on the common path: a project found under the
        // principal's id proves that user exists, since deleting a user
        // deletes their projects in the same step (`Store::delete_user`).
        // Only when no project is found is the user read, to tell a 401
        // (the account is gone) from a 404.
        self.core.require_scope(actor, Scope::ProjectsRead)?;
        let owner = self.core.owner_of(actor)?;
        let store = &self.core.store;
        if issued(id, Resource::Project).is_err() || !self.core.reaches(actor, id) {
            // Still a 401 when the account is gone.
            self.core.user_of(actor).await?;
            return Err(Error::NotFound(Resource::Project));
        }
        match store.get_project(owner, id).await {
            Ok(project) => Ok(project),
            Err(StoreError::NotFound) => {
                self.core.user_of(actor).await?;
                Err(Error::NotFound(Resource::Project))
            }
            Err(e) => Err(Error::store(Resource::Project, e)),
        }
    }

    /// Changes one of the principal's projects; appends an UPDATE event
    /// unless nothing changes.
    pub async fn update(
        &self,
        actor: &Principal,
        id: &ProjectId,
        changes: ProjectChanges,
    ) -> Result<Project> {
        self.core.require_scope(actor, Scope::ProjectsWrite)?;
        let owner = self.core.user_of(actor).await?;
        let id = self.core.reached(actor, issued(id, Resource::Project)?)?;
        if let Some(n) = &changes.name {
            check_name(n)?;
        }
        if let Some(Some(d)) = &changes.description {
            check_description(d)?;
        }
        let empty = changes.is_empty();
        let path = match changes.path {
            Some(Some(p)) => Some(Some(validate::project_path(&p)?)),
            other => other,
        };
        if let Some(s) = &changes.source_id {
            validate::reference("sourceId", s)?;
        }
        if let Some(v) = &changes.vm_id {
            validate::reference("vmId", v)?;
        }
        let store = &self.core.store;
        if empty {
            // Nothing to change: no write, no event.
            return store
                .get_project(&owner.id, id)
                .await
                .map_err(|e| Error::store(Resource::Project, e));
        }
        let patch = ProjectPatch {
            name: changes.name,
            description: changes.description,
            path,
            source_id: changes.source_id,
            vm_id: changes.vm_id,
            updated_at: store_now(),
        };
        let audit = self
            .core
            .audit(actor, AuditAction::ProjectUpdate)
            .target("project", id);
        super::writes::update_project(store.as_ref(), &owner.id, id, &patch, &audit)
            .await
            .map_err(|e| Error::store(Resource::Project, e))
    }

    /// Deletes one of the principal's projects with its networks; appends a
    /// DELETE event.
    pub async fn delete(&self, actor: &Principal, id: &ProjectId) -> Result<()> {
        self.core.require_scope(actor, Scope::ProjectsWrite)?;
        let owner = self.core.user_of(actor).await?;
        let id = self.core.reached(actor, issued(id, Resource::Project)?)?;
        let audit = self
            .core
            .audit(actor, AuditAction::ProjectDelete)
            .target("project", id);
        let event = NewEvent::deleted(&owner.id, id);
        self.core
            .store
            .delete_project(&owner.id, id, event, &audit)
            .await
            .map_err(|e| Error::store(Resource::Project, e))
    }
}

#[cfg(all(test, feature = "memory"))]
mod create_tests {
    use super::*;
    use crate::{MemoryStore, Slipway};

    #[tokio::test]
    async fn a_create_for_a_user_who_no_longer_exists_is_unauthenticated() {
        let slipway = Slipway::builder()
            .secret(b"an instance secret of at least 32 bytes!".to_vec())
            .store(MemoryStore::new())
            .build()
            .unwrap();
        let gone = Principal::user_id(super::super::new_id::<crate::model::UserId>(), None);
        let created = slipway
            .projects()
            .create(&gone, NewProject::new("Blog", "src-1", "vm-1"))
            .await;
        assert!(
            matches!(created, Err(Error::Unauthenticated(_))),
            "{created:?}"
        );
    }
}
