//! The records Slipway stores and the views it returns.
//!
//! Store records (`User`, `Project`, ...) are what a [`Store`](crate::store::Store)
//! keeps; the JSON views (`UserView`, ...) are what clients see. Secrets live in
//! [`Sealed`] (ciphertext) and never in a view.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Timestamps are UTC.
pub type Timestamp = DateTime<Utc>;

/// A user's role on the instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// May configure GitHub and manage domains.
    Admin,
    /// Manages their own projects, networks and authorizations.
    Member,
}

impl Role {
    /// `"admin"` or `"member"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }
    /// Parses `"admin"` / `"member"`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Role::Admin),
            "member" => Some(Role::Member),
            _ => None,
        }
    }
}

/// A stored user.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// Opaque id (UUID).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Lowercased email, unique.
    pub email: String,
    /// Role, decided by the store at creation (first user: admin).
    pub role: Role,
    /// Argon2id PHC string; `None` for users who only sign in with GitHub.
    pub password_hash: Option<String>,
    /// Linked GitHub account id, unique.
    pub github_id: Option<i64>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// A user to create. The store assigns the role.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Opaque id (UUID) chosen by core.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Lowercased email.
    pub email: String,
    /// Argon2id PHC string.
    pub password_hash: Option<String>,
    /// GitHub account id when created by GitHub sign-in.
    pub github_id: Option<i64>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// The public view of a user (`GET /auth/me`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    /// User id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Email (lowercase).
    pub email: String,
    /// `admin` or `member`.
    pub role: Role,
    /// Creation time (RFC 3339).
    pub created_at: DateTime<Utc>,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        UserView {
            id: u.id.clone(),
            name: u.name.clone(),
            email: u.email.clone(),
            role: u.role,
            created_at: u.created_at,
        }
    }
}

/// Ciphertext of a secret: `key id` + nonce + AEAD ciphertext, opaque to stores.
///
/// Stores keep the bytes as they are; only core can open them.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed(pub Vec<u8>);

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealed({} bytes)", self.0.len())
    }
}

/// Kind of a stored authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthorizationType {
    /// A GitHub OAuth token obtained by code exchange.
    Oauth,
    /// A GitHub personal access token.
    PersonalAccessToken,
    /// An SSH deploy key.
    DeployKey,
}

impl AuthorizationType {
    /// The wire name (`oauth`, `personal_access_token`, `deploy_key`).
    pub fn as_str(self) -> &'static str {
        match self {
            AuthorizationType::Oauth => "oauth",
            AuthorizationType::PersonalAccessToken => "personal_access_token",
            AuthorizationType::DeployKey => "deploy_key",
        }
    }
    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "oauth" => Some(Self::Oauth),
            "personal_access_token" => Some(Self::PersonalAccessToken),
            "deploy_key" => Some(Self::DeployKey),
            _ => None,
        }
    }
}

/// A stored authorization (credential) owned by one user.
#[derive(Debug, Clone, PartialEq)]
pub struct Authorization {
    /// Opaque id.
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// Name given by the owner (1-100 chars).
    pub name: String,
    /// Kind.
    pub kind: AuthorizationType,
    /// The encrypted token or key.
    pub secret: Sealed,
    /// Non-secret facts shown to the owner (`publicKey`, `fingerprint`,
    /// `login`, `scopes`), a JSON object.
    pub info: serde_json::Value,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// A stored project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    /// Project id.
    pub id: String,
    /// Owner's user id (not part of the JSON view).
    #[serde(skip)]
    pub owner_id: String,
    /// Name, 1-100 chars.
    pub name: String,
    /// Optional description, at most 1000 chars.
    pub description: Option<String>,
    /// Optional path, unique when set.
    pub path: Option<String>,
    /// Opaque source reference, unique.
    pub source_id: String,
    /// Opaque VM reference, unique.
    pub vm_id: String,
    /// The project's network connections (filled by the store on reads).
    pub networks: Vec<Network>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last update time.
    pub updated_at: DateTime<Utc>,
}

/// Changes to a project; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProjectPatch {
    /// New name.
    pub name: Option<String>,
    /// New description (`Some(None)` clears it).
    pub description: Option<Option<String>>,
    /// New path (`Some(None)` clears it).
    pub path: Option<Option<String>>,
    /// New source id.
    pub source_id: Option<String>,
    /// New VM id.
    pub vm_id: Option<String>,
    /// Update time to record.
    pub updated_at: DateTime<Utc>,
}

impl ProjectPatch {
    /// Applies the patch to `project`, setting `updatedAt`.
    pub fn apply(self, project: &mut Project) {
        if let Some(name) = self.name {
            project.name = name;
        }
        if let Some(description) = self.description {
            project.description = description;
        }
        if let Some(path) = self.path {
            project.path = path;
        }
        if let Some(source_id) = self.source_id {
            project.source_id = source_id;
        }
        if let Some(vm_id) = self.vm_id {
            project.vm_id = vm_id;
        }
        project.updated_at = self.updated_at;
    }
}

/// A network connection: a hostname routed to a port of a project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Network {
    /// Network id.
    pub id: String,
    /// Lowercase hostname, unique instance-wide.
    pub domain: String,
    /// Port 1-65535.
    pub port: u16,
    /// The project it belongs to.
    pub project_id: String,
    /// The registered domain that covers `domain` (not part of the view).
    #[serde(skip)]
    pub domain_id: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// Changes to a network connection.
#[derive(Debug, Clone, Default)]
pub struct NetworkPatch {
    /// New hostname and the id of the registered domain covering it.
    pub domain: Option<(String, String)>,
    /// New port.
    pub port: Option<u16>,
}

/// A registered domain (instance-wide).
#[derive(Debug, Clone, PartialEq)]
pub struct Domain {
    /// Domain id.
    pub id: String,
    /// Lowercase domain name, unique.
    pub domain: String,
    /// The TXT challenge value.
    pub challenge: String,
    /// Whether this is the instance's main domain (at most one).
    pub main: bool,
    /// Whether ownership was verified through DNS.
    pub linked: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// What happened to a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum EventKind {
    /// Project created.
    Create,
    /// Project or one of its networks changed.
    Update,
    /// Project deleted.
    Delete,
}

impl EventKind {
    /// `CREATE`, `UPDATE` or `DELETE`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Create => "CREATE",
            EventKind::Update => "UPDATE",
            EventKind::Delete => "DELETE",
        }
    }
    /// Parses the upper-case name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "CREATE" => Some(Self::Create),
            "UPDATE" => Some(Self::Update),
            "DELETE" => Some(Self::Delete),
            _ => None,
        }
    }
}

/// A `project.update` event as stored in the event log.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Monotonically increasing id, assigned by the store (first is 1).
    pub id: u64,
    /// Owner of the project at the time of the event.
    pub owner_id: String,
    /// The project.
    pub project_id: String,
    /// What happened.
    pub kind: EventKind,
    /// The project view, or `{"id": ...}` on delete.
    pub data: serde_json::Value,
}

/// An event about to be appended; the store assigns the id.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Owner of the project.
    pub owner_id: String,
    /// The project.
    pub project_id: String,
    /// What happened.
    pub kind: EventKind,
    /// The payload.
    pub data: serde_json::Value,
}

impl NewEvent {
    /// The event for a project that was created or updated: its payload is the
    /// project view (with networks).
    pub fn for_project(kind: EventKind, project: &Project) -> Self {
        NewEvent {
            owner_id: project.owner_id.clone(),
            project_id: project.id.clone(),
            kind,
            data: serde_json::to_value(project).unwrap_or(serde_json::Value::Null),
        }
    }
    /// The event for a deleted project: its payload is `{"id": ...}`.
    pub fn deleted(owner_id: &str, project_id: &str) -> Self {
        NewEvent {
            owner_id: owner_id.to_string(),
            project_id: project_id.to_string(),
            kind: EventKind::Delete,
            data: serde_json::json!({ "id": project_id }),
        }
    }
    /// Gives the event its id.
    pub fn with_id(self, id: u64) -> Event {
        Event {
            id,
            owner_id: self.owner_id,
            project_id: self.project_id,
            kind: self.kind,
            data: self.data,
        }
    }
}

/// One item of [`Store::events`](crate::store::Store::events).
#[derive(Debug, Clone, PartialEq)]
pub enum FeedItem {
    /// The next event.
    Event(Event),
    /// Events were lost (the requested `since` is older than the retained log,
    /// or the subscriber fell behind): the client must refetch its state.
    Resync,
}
