//! The records Slipway stores and the views it returns.
//!
//! Store records (`User`, `Project`, ...) are what a [`Store`](crate::store::Store)
//! keeps; the JSON views (`UserView`, ...) are what clients see. Secrets live in
//! [`Sealed`] (ciphertext) and never in a view.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

mod ids;
pub use ids::{
    ApiTokenId, AuthorizationId, DomainId, InvitationId, NetworkId, ProjectId, UserId, WebhookId,
};

/// Timestamps are UTC.
pub type Timestamp = DateTime<Utc>;

/// JSON timestamps: exactly chrono's own serialization (RFC 3339, `Z`,
/// fraction digits 0/3/6/9 as needed), written into a stack buffer.
///
/// chrono's `Serialize` goes through `collect_str`, which serde_json feeds
/// character by character to its escaper; every project, network and user
/// view has one or two timestamps, and the benchmark's profile of
/// `GET /project/{id}` showed that path as ~2.5 % of the server's CPU.
pub(crate) mod rfc3339 {
    use chrono::{DateTime, Datelike, Timelike, Utc};
    use serde::Serializer;

    /// Serializes `t` as chrono does (`Serialize for DateTime<Utc>`).
    pub(crate) fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 32];
        match format(t, &mut buf) {
            Some(text) => s.serialize_str(text),
            // Years outside 0000-9999: chrono's own formatting.
            None => serde::Serialize::serialize(t, s),
        }
    }

    fn two(out: &mut [u8], v: u32) {
        out[0] = b'0' + (v / 10) as u8;
        out[1] = b'0' + (v % 10) as u8;
    }

    /// `YYYY-MM-DDTHH:MM:SS[.fff|.ffffff|.fffffffff]Z`, or `None` for a
    /// year outside 0000-9999.
    pub(crate) fn format<'a>(t: &DateTime<Utc>, buf: &'a mut [u8; 32]) -> Option<&'a str> {
        // Read off the naive UTC time once: each accessor of `DateTime`
        // would convert it to local time first (an offset addition each).
        let t = t.naive_utc();
        let year = t.year();
        if !(0..=9999).contains(&year) {
            return None;
        }
        let year = year as u32;
        let mut sec = t.second();
        let mut nano = t.nanosecond();
        if nano >= 1_000_000_000 {
            // A leap second is shown as second 60.
            sec += 1;
            nano -= 1_000_000_000;
        }
        two(&mut buf[0..], year / 100);
        two(&mut buf[2..], year % 100);
        buf[4] = b'-';
        two(&mut buf[5..], t.month());
        buf[7] = b'-';
        two(&mut buf[8..], t.day());
        buf[10] = b'T';
        two(&mut buf[11..], t.hour());
        buf[13] = b':';
        two(&mut buf[14..], t.minute());
        buf[16] = b':';
        two(&mut buf[17..], sec);
        let (digits, mut frac) = match nano {
            0 => (0, 0),
            n if n % 1_000_000 == 0 => (3, n / 1_000_000),
            n if n % 1_000 == 0 => (6, n / 1_000),
            n => (9, n),
        };
        let mut end = 19;
        if digits > 0 {
            buf[19] = b'.';
            for i in (0..digits).rev() {
                buf[20 + i] = b'0' + (frac % 10) as u8;
                frac /= 10;
            }
            end = 20 + digits;
        }
        buf[end] = b'Z';
        std::str::from_utf8(&buf[..=end]).ok()
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use chrono::TimeZone;

        /// Every fraction width, leap seconds, and a spread of dates give
        /// byte-for-byte what chrono's serializer gives.
        #[test]
        fn matches_chronos_serialization() {
            let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
            let mut next = || {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed
            };
            let mut checked = 0;
            for i in 0..20_000u64 {
                let secs = (next() % 253_402_300_800) as i64; // 0000..=9999 is wider; this is 1970..=9999
                let nanos = match i % 5 {
                    0 => 0,
                    1 => (next() % 1000) as u32 * 1_000_000,
                    2 => (next() % 1_000_000) as u32 * 1_000,
                    3 => (next() % 1_000_000_000) as u32,
                    _ => 1_000_000_000 + (next() % 1_000_000_000) as u32, // leap second
                };
                let Some(t) = Utc.timestamp_opt(secs, nanos).single() else {
                    continue;
                };
                let mut buf = [0u8; 32];
                let ours = format(&t, &mut buf).expect("year in range");
                let theirs = serde_json::to_string(&t).unwrap();
                assert_eq!(format!("\"{ours}\""), theirs, "{t:?}");
                let via = serde_json::to_string(&Wrapped(t)).unwrap();
                assert_eq!(via, theirs);
                checked += 1;
            }
            assert!(checked > 15_000);
            // Year 0 and the last instant of 9999 are in range; outside it,
            // chrono's own output is used.
            for t in [
                Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap(),
                Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
                Utc.with_ymd_and_hms(-1, 1, 1, 0, 0, 0).unwrap(),
                Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap(),
            ] {
                let via = serde_json::to_string(&Wrapped(t)).unwrap();
                assert_eq!(via, serde_json::to_string(&t).unwrap());
            }
        }

        struct Wrapped(DateTime<Utc>);
        impl serde::Serialize for Wrapped {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                serialize(&self.0, s)
            }
        }
    }
}

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

/// How a new user's role is decided, atomically with the insert (so two
/// racing first sign-ups cannot both become admin).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RoleGate {
    /// The instance's first user becomes admin, later ones member.
    FirstUserAdmin,
    /// Only the instance's first user may be created (as admin); with users
    /// present the store answers `Conflict { field: "signup" }`.
    FirstUserOnly,
    /// Exactly this role, whoever exists already (users a host or an admin
    /// creates).
    Exactly(Role),
    /// An invitation: the store removes the invitation with this id in the
    /// same atomic step as the insert (answering `Refused` when it is gone,
    /// so an invitation works once), and the user gets `role`.
    Invitation {
        /// The invitation's id.
        id: uuid::Uuid,
        /// The invited role.
        role: Role,
    },
}

impl RoleGate {
    /// The role of a new user, given whether the instance has no user yet;
    /// `None` when the gate refuses the user.
    pub fn decide(self, first: bool) -> Option<Role> {
        match self {
            RoleGate::Exactly(role) | RoleGate::Invitation { role, .. } => Some(role),
            RoleGate::FirstUserOnly if !first => None,
            _ if first => Some(Role::Admin),
            _ => Some(Role::Member),
        }
    }
}

/// A stored user. `Debug` never shows the password hash.
#[derive(Clone, PartialEq)]
pub struct User {
    /// Opaque id (UUID).
    pub id: UserId,
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
    /// A disabled user cannot sign in and their tokens stop working.
    pub disabled: bool,
    /// Access tokens carry the epoch they were issued under; raising it
    /// (password change, role change, sign-out everywhere) ends every older
    /// token.
    pub session_epoch: u32,
}

/// A change to a user, applied atomically by
/// [`Store::update_user`](crate::store::Store::update_user). `None` leaves a
/// field as it is. `Debug` never shows the password hash.
#[derive(Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct UserUpdate {
    /// New display name.
    pub name: Option<String>,
    /// New (lowercased) email; unique.
    pub email: Option<String>,
    /// New role.
    pub role: Option<Role>,
    /// New Argon2id PHC string.
    pub password_hash: Option<String>,
    /// Disables or re-enables the user.
    pub disabled: Option<bool>,
    /// Raises [`User::session_epoch`] by one: every token issued before
    /// stops working.
    pub revoke_sessions: bool,
}

impl UserUpdate {
    /// Applies the change to `user` (what a store writes).
    pub fn apply(&self, user: &mut User) {
        if let Some(name) = &self.name {
            user.name = name.clone();
        }
        if let Some(email) = &self.email {
            user.email = email.clone();
        }
        if let Some(role) = self.role {
            user.role = role;
        }
        if let Some(hash) = &self.password_hash {
            user.password_hash = Some(hash.clone());
        }
        if let Some(disabled) = self.disabled {
            user.disabled = disabled;
        }
        if self.revoke_sessions {
            user.session_epoch = user.session_epoch.saturating_add(1);
        }
    }

    /// Whether applying it to `before` takes away an active admin (demoted
    /// or disabled): the store refuses that when no other active admin
    /// remains.
    pub fn removes_admin(&self, before: &User) -> bool {
        if !before.is_active_admin() {
            return false;
        }
        let mut after = before.clone();
        self.apply(&mut after);
        !after.is_active_admin()
    }
}

impl std::fmt::Debug for UserUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserUpdate")
            .field("name", &self.name)
            .field("email", &self.email)
            .field("role", &self.role)
            .field(
                "password_hash",
                &format_args!("{}", redacted_hash(&self.password_hash)),
            )
            .field("disabled", &self.disabled)
            .field("revoke_sessions", &self.revoke_sessions)
            .finish()
    }
}

impl User {
    /// An admin who is not disabled.
    pub fn is_active_admin(&self) -> bool {
        self.role == Role::Admin && !self.disabled
    }
}

/// A pending invitation to sign up with a given email and role. Only the
/// SHA-256 of its token is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// Opaque id (UUID).
    pub id: InvitationId,
    /// The (lowercased) email it is for; unique among pending invitations.
    pub email: String,
    /// The role the account gets.
    pub role: Role,
    /// Hex SHA-256 of the token; unique.
    pub token_hash: String,
    /// The admin who invited (`None`: the host or an admin command).
    pub created_by: Option<UserId>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// After this the invitation no longer works.
    pub expires_at: DateTime<Utc>,
}

/// A user to create. The store assigns the role. `Debug` never shows the
/// password hash.
#[derive(Clone)]
pub struct NewUser {
    /// Opaque id (UUID) chosen by core.
    pub id: UserId,
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

impl NewUser {
    /// The stored user: `role`, enabled, session epoch 0.
    pub fn into_user(self, role: Role) -> User {
        User {
            id: self.id,
            name: self.name,
            email: self.email,
            role,
            password_hash: self.password_hash,
            github_id: self.github_id,
            created_at: self.created_at,
            disabled: false,
            session_epoch: 0,
        }
    }
}

/// How a password hash shows in `Debug`: whether there is one, never what.
fn redacted_hash(hash: &Option<String>) -> &'static str {
    match hash {
        Some(_) => "Some(<redacted>)",
        None => "None",
    }
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("email", &self.email)
            .field("role", &self.role)
            .field(
                "password_hash",
                &format_args!("{}", redacted_hash(&self.password_hash)),
            )
            .field("github_id", &self.github_id)
            .field("created_at", &self.created_at)
            .field("disabled", &self.disabled)
            .field("session_epoch", &self.session_epoch)
            .finish()
    }
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("email", &self.email)
            .field(
                "password_hash",
                &format_args!("{}", redacted_hash(&self.password_hash)),
            )
            .field("github_id", &self.github_id)
            .field("created_at", &self.created_at)
            .finish()
    }
}

#[cfg(test)]
mod redaction_tests {
    use super::*;

    #[test]
    fn debug_never_shows_a_password_hash() {
        let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo".to_string();
        let new = NewUser {
            id: "u1".into(),
            name: "Ada".into(),
            email: "ada@example.com".into(),
            password_hash: Some(hash.clone()),
            github_id: None,
            created_at: Utc::now(),
        };
        let user = User {
            id: new.id.clone(),
            name: new.name.clone(),
            email: new.email.clone(),
            role: Role::Admin,
            password_hash: Some(hash.clone()),
            github_id: Some(7),
            created_at: new.created_at,
            disabled: false,
            session_epoch: 0,
        };
        let update = UserUpdate {
            password_hash: Some(hash.clone()),
            ..UserUpdate::default()
        };
        for shown in [
            format!("{new:?}"),
            format!("{user:?}"),
            format!("{update:?}"),
            format!("{user:#?}"),
        ] {
            assert!(!shown.contains("argon2"), "{shown}");
            assert!(!shown.contains("aGFzaGhhc2hoYXNo"), "{shown}");
            assert!(shown.contains("<redacted>"), "{shown}");
            assert!(shown.contains("<redacted>"), "{shown}");
        }
    }
}

/// The public view of a user (`GET /auth/me`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    /// User id.
    #[schema(value_type = String)]
    pub id: UserId,
    /// Display name.
    pub name: String,
    /// Email (lowercase).
    pub email: String,
    /// `admin` or `member`.
    pub role: Role,
    /// Creation time (RFC 3339).
    #[serde(serialize_with = "rfc3339::serialize")]
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

/// A user as an administrator sees them (`GET /users`): never a hash or
/// a secret.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagedUserView {
    /// User id.
    #[schema(value_type = String)]
    pub id: UserId,
    /// Display name.
    pub name: String,
    /// Email (lowercase).
    pub email: String,
    /// `admin` or `member`.
    pub role: Role,
    /// Whether the user is disabled (cannot sign in; tokens refused).
    pub disabled: bool,
    /// Whether the user can sign in with a password.
    pub has_password: bool,
    /// Whether a GitHub account is linked.
    pub github_linked: bool,
    /// Creation time (RFC 3339).
    #[serde(serialize_with = "rfc3339::serialize")]
    pub created_at: DateTime<Utc>,
}

impl From<&User> for ManagedUserView {
    fn from(u: &User) -> Self {
        ManagedUserView {
            id: u.id.clone(),
            name: u.name.clone(),
            email: u.email.clone(),
            role: u.role,
            disabled: u.disabled,
            has_password: u.password_hash.is_some(),
            github_linked: u.github_id.is_some(),
            created_at: u.created_at,
        }
    }
}

/// An API token as its owner sees it (`GET /tokens`): never the token.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiTokenView {
    /// Token id.
    #[schema(value_type = String)]
    pub id: ApiTokenId,
    /// Its name.
    pub name: String,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// The only projects it reaches (`null`: all of the user's).
    #[schema(value_type = Option<Vec<String>>)]
    pub project_ids: Option<Vec<ProjectId>>,
    /// Creation time (RFC 3339).
    #[serde(serialize_with = "rfc3339::serialize")]
    pub created_at: DateTime<Utc>,
    /// When it stops working (RFC 3339; `null`: never).
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was last used (RFC 3339, to the minute; `null`: never).
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<&ApiToken> for ApiTokenView {
    fn from(t: &ApiToken) -> Self {
        ApiTokenView {
            id: t.id.clone(),
            name: t.name.clone(),
            scopes: t.scopes.clone(),
            project_ids: t.project_ids.clone(),
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
        }
    }
}

/// A pending invitation as `GET /invitations` shows it (without its token).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvitationView {
    /// Invitation id.
    #[schema(value_type = String)]
    pub id: InvitationId,
    /// The email it is for.
    pub email: String,
    /// The role the account will get.
    pub role: Role,
    /// Creation time (RFC 3339).
    #[serde(serialize_with = "rfc3339::serialize")]
    pub created_at: DateTime<Utc>,
    /// After this the invitation no longer works (RFC 3339).
    #[serde(serialize_with = "rfc3339::serialize")]
    pub expires_at: DateTime<Utc>,
}

impl From<&Invitation> for InvitationView {
    fn from(i: &Invitation) -> Self {
        InvitationView {
            id: i.id.clone(),
            email: i.email.clone(),
            role: i.role,
            created_at: i.created_at,
            expires_at: i.expires_at,
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

/// What an API token may do (`POST /tokens`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
pub enum Scope {
    /// Read projects.
    #[serde(rename = "projects:read")]
    ProjectsRead,
    /// Create, change and delete projects.
    #[serde(rename = "projects:write")]
    ProjectsWrite,
    /// Read network connections.
    #[serde(rename = "networks:read")]
    NetworksRead,
    /// Create, change and delete network connections.
    #[serde(rename = "networks:write")]
    NetworksWrite,
    /// Read domains.
    #[serde(rename = "domains:read")]
    DomainsRead,
    /// Register, verify and delete domains (admins only, as for the user).
    #[serde(rename = "domains:write")]
    DomainsWrite,
    /// Read authorizations.
    #[serde(rename = "authorizations:read")]
    AuthorizationsRead,
    /// Create and delete authorizations.
    #[serde(rename = "authorizations:write")]
    AuthorizationsWrite,
    /// Follow the WebSocket feed.
    #[serde(rename = "events:read")]
    EventsRead,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 9] = [
        Scope::ProjectsRead,
        Scope::ProjectsWrite,
        Scope::NetworksRead,
        Scope::NetworksWrite,
        Scope::DomainsRead,
        Scope::DomainsWrite,
        Scope::AuthorizationsRead,
        Scope::AuthorizationsWrite,
        Scope::EventsRead,
    ];

    /// The scope's name (`projects:read`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::ProjectsRead => "projects:read",
            Scope::ProjectsWrite => "projects:write",
            Scope::NetworksRead => "networks:read",
            Scope::NetworksWrite => "networks:write",
            Scope::DomainsRead => "domains:read",
            Scope::DomainsWrite => "domains:write",
            Scope::AuthorizationsRead => "authorizations:read",
            Scope::AuthorizationsWrite => "authorizations:write",
            Scope::EventsRead => "events:read",
        }
    }

    /// Parses a scope name.
    pub fn parse(s: &str) -> Option<Self> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s)
    }
}

/// A long-lived, narrow, revocable credential of one user for scripts and
/// CI. Only the SHA-256 of its token is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// Opaque id (UUID).
    pub id: ApiTokenId,
    /// Owner.
    pub user_id: UserId,
    /// Name given by the owner (1-100 chars).
    pub name: String,
    /// What it may do (sorted, no duplicates).
    pub scopes: Vec<Scope>,
    /// When set, the only projects (and their networks and events) it
    /// reaches.
    pub project_ids: Option<Vec<ProjectId>>,
    /// Hex SHA-256 of the token; unique.
    pub token_hash: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// After this it no longer works (`None`: never expires).
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was last used (recorded at most about once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A stored authorization (credential) owned by one user.
#[derive(Debug, Clone, PartialEq)]
pub struct Authorization {
    /// Opaque id.
    pub id: AuthorizationId,
    /// Owner.
    pub user_id: UserId,
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
    #[schema(value_type = String)]
    pub id: ProjectId,
    /// Owner's user id (not part of the JSON view).
    #[serde(skip)]
    pub owner_id: UserId,
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
    #[serde(serialize_with = "rfc3339::serialize")]
    pub created_at: DateTime<Utc>,
    /// Last update time.
    #[serde(serialize_with = "rfc3339::serialize")]
    pub updated_at: DateTime<Utc>,
}

impl Project {
    /// The project's network `id`, as read with it.
    pub fn network(&self, id: &NetworkId) -> Option<&Network> {
        self.networks.iter().find(|n| n.id == *id)
    }

    /// Whether `stored` still holds the state `self` was read with, as far as
    /// a project write compares it ([`Store::update_project`](crate::store::Store::update_project)):
    /// the same id and owner, the same name, description, path, sourceId and
    /// vmId, and the same networks in the same order (by id, hostname, port
    /// and covering domain; a network's creation time never changes).
    /// `updatedAt` and `createdAt` are not compared.
    pub fn same_state(&self, stored: &Project) -> bool {
        self.id == stored.id
            && self.owner_id == stored.owner_id
            && self.name == stored.name
            && self.description == stored.description
            && self.path == stored.path
            && self.source_id == stored.source_id
            && self.vm_id == stored.vm_id
            && self.networks.len() == stored.networks.len()
            && self.networks.iter().zip(&stored.networks).all(|(a, b)| {
                a.id == b.id
                    && a.domain == b.domain
                    && a.port == b.port
                    && a.domain_id == b.domain_id
            })
    }
}

/// The current time at the precision every store keeps (microseconds, as
/// PostgreSQL does), so a record core builds is exactly the record a store
/// gives back, and an event core builds from it matches later reads.
pub fn store_now() -> Timestamp {
    chrono::SubsecRound::trunc_subsecs(Utc::now(), 6)
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
    /// Applies the patch to `project`, setting `updatedAt`. This is the one
    /// place a project change is computed: core applies it to the project it
    /// read and hands stores the result ([`Store::update_project`](crate::store::Store::update_project)).
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
    #[schema(value_type = String)]
    pub id: NetworkId,
    /// Lowercase hostname, unique instance-wide.
    #[schema(
        max_length = 253,
        pattern = "^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
    )]
    pub domain: String,
    /// Port 1-65535.
    #[schema(minimum = 1, maximum = 65535)]
    pub port: u16,
    /// The project it belongs to.
    #[schema(value_type = String)]
    pub project_id: ProjectId,
    /// The registered domain that covers `domain` (not part of the view).
    #[serde(skip)]
    pub domain_id: DomainId,
    /// Creation time.
    #[serde(serialize_with = "rfc3339::serialize")]
    pub created_at: DateTime<Utc>,
}

/// Changes to a network connection.
#[derive(Debug, Clone, Default)]
pub struct NetworkPatch {
    /// New hostname and the id of the registered domain covering it.
    pub domain: Option<(String, DomainId)>,
    /// New port.
    pub port: Option<u16>,
}

impl NetworkPatch {
    /// Applies the patch to `network` (hostname with its covering domain,
    /// port). The one place a network change is computed: core applies it
    /// and hands stores the result ([`Store::update_network`](crate::store::Store::update_network)).
    pub fn apply(&self, network: &mut Network) {
        if let Some((domain, domain_id)) = &self.domain {
            network.domain.clone_from(domain);
            network.domain_id = domain_id.clone();
        }
        if let Some(port) = self.port {
            network.port = port;
        }
    }
}

/// A registered domain (instance-wide).
#[derive(Debug, Clone, PartialEq)]
pub struct Domain {
    /// Domain id.
    pub id: DomainId,
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
    pub owner_id: UserId,
    /// The project.
    pub project_id: ProjectId,
    /// What happened.
    pub kind: EventKind,
    /// The project view, or `{"id": ...}` on delete.
    pub data: serde_json::Value,
}

/// An event about to be appended; the store assigns the id.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Owner of the project.
    pub owner_id: UserId,
    /// The project.
    pub project_id: ProjectId,
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
    pub fn deleted(owner_id: &UserId, project_id: &ProjectId) -> Self {
        NewEvent {
            owner_id: owner_id.clone(),
            project_id: project_id.clone(),
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

/// A signed webhook of one user: events of their projects are POSTed to
/// `url`, signed with a secret kept sealed.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    /// Opaque id (UUID).
    pub id: WebhookId,
    /// Owner.
    pub user_id: UserId,
    /// Where deliveries go (`http://` or `https://`).
    pub url: String,
    /// The event names it receives (`project.update`).
    pub events: Vec<String>,
    /// When set, only events of these projects.
    pub project_ids: Option<Vec<ProjectId>>,
    /// The signing secret, sealed.
    pub secret: Sealed,
    /// Creation time.
    pub created_at: Timestamp,
    /// The last event delivered (or given up on); delivery resumes after it.
    pub cursor: u64,
}

/// One delivery of an event to a webhook (its latest state).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookDelivery {
    /// The webhook.
    #[serde(skip)]
    pub webhook_id: WebhookId,
    /// The event delivered (as a string, like WebSocket event ids).
    #[serde(with = "event_id_string")]
    #[schema(value_type = String)]
    pub event_id: u64,
    /// Whether the receiver answered 2xx.
    pub delivered: bool,
    /// The receiver's last status code (`null`: no answer).
    pub status_code: Option<u16>,
    /// The last error (`null` once delivered).
    pub last_error: Option<String>,
    /// How many attempts were made.
    pub attempts: u32,
    /// First attempt (RFC 3339).
    pub first_attempt_at: DateTime<Utc>,
    /// Latest attempt (RFC 3339).
    pub last_attempt_at: DateTime<Utc>,
}

mod event_id_string {
    use serde::{Deserialize, Deserializer, Serializer};
    pub(super) fn serialize<S: Serializer>(id: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(id)
    }
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A webhook as the API shows it (never with its secret).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookView {
    /// Webhook id.
    #[schema(value_type = String)]
    pub id: WebhookId,
    /// Where deliveries go.
    pub url: String,
    /// The events it receives.
    pub events: Vec<String>,
    /// The only projects whose events it receives (`null`: all of yours).
    #[schema(value_type = Option<Vec<String>>)]
    pub project_ids: Option<Vec<ProjectId>>,
    /// Creation time (RFC 3339).
    #[serde(serialize_with = "rfc3339::serialize")]
    pub created_at: DateTime<Utc>,
}

impl From<&Webhook> for WebhookView {
    fn from(w: &Webhook) -> Self {
        WebhookView {
            id: w.id.clone(),
            url: w.url.clone(),
            events: w.events.clone(),
            project_ids: w.project_ids.clone(),
            created_at: w.created_at,
        }
    }
}

// ---- audit log ---------------------------------------------------------------

/// What an audit entry records: one state change or security event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[non_exhaustive]
pub enum AuditAction {
    /// A sign-up (`POST /auth/signup`, or a first GitHub sign-in).
    #[serde(rename = "auth.signup")]
    Signup,
    /// A successful sign-in with email and password.
    #[serde(rename = "auth.signin.success")]
    SigninSuccess,
    /// A failed sign-in: wrong password, unknown email or disabled account.
    #[serde(rename = "auth.signin.failure")]
    SigninFailure,
    /// A sign-in with GitHub.
    #[serde(rename = "auth.github.signin")]
    GitHubSignin,
    /// A GitHub account linked to a user.
    #[serde(rename = "auth.github.link")]
    GitHubLink,
    /// A user changed their own name or email.
    #[serde(rename = "auth.me.update")]
    MeUpdate,
    /// A password changed by its user (outcome `failure`: wrong current
    /// password).
    #[serde(rename = "auth.password.change")]
    PasswordChange,
    /// Every session of a user ended.
    #[serde(rename = "auth.signout_all")]
    SignoutAll,
    /// A user created by an admin, the host or `admin create-user`.
    #[serde(rename = "user.create")]
    UserCreate,
    /// A user's role, name, email or disabled flag changed by an admin.
    #[serde(rename = "user.update")]
    UserUpdate,
    /// A password reset by an admin (`admin reset-password`).
    #[serde(rename = "user.password.reset")]
    UserPasswordReset,
    /// A user deleted with everything they own.
    #[serde(rename = "user.delete")]
    UserDelete,
    /// An invitation created.
    #[serde(rename = "invitation.create")]
    InvitationCreate,
    /// An invitation withdrawn.
    #[serde(rename = "invitation.delete")]
    InvitationDelete,
    /// An API token created.
    #[serde(rename = "token.create")]
    TokenCreate,
    /// An API token revoked.
    #[serde(rename = "token.revoke")]
    TokenRevoke,
    /// A webhook created.
    #[serde(rename = "webhook.create")]
    WebhookCreate,
    /// A webhook deleted.
    #[serde(rename = "webhook.delete")]
    WebhookDelete,
    /// An authorization created (or its secret replaced).
    #[serde(rename = "authorization.create")]
    AuthorizationCreate,
    /// An authorization deleted.
    #[serde(rename = "authorization.delete")]
    AuthorizationDelete,
    /// An authorization's secret sealed again under a new instance key
    /// (`secret rotate`).
    #[serde(rename = "authorization.reseal")]
    AuthorizationReseal,
    /// A project created.
    #[serde(rename = "project.create")]
    ProjectCreate,
    /// A project changed.
    #[serde(rename = "project.update")]
    ProjectUpdate,
    /// A project deleted.
    #[serde(rename = "project.delete")]
    ProjectDelete,
    /// A network connection created.
    #[serde(rename = "network.create")]
    NetworkCreate,
    /// A network connection changed.
    #[serde(rename = "network.update")]
    NetworkUpdate,
    /// A network connection deleted.
    #[serde(rename = "network.delete")]
    NetworkDelete,
    /// A domain registered.
    #[serde(rename = "domain.create")]
    DomainCreate,
    /// A domain's ownership verified (it became linked).
    #[serde(rename = "domain.verify")]
    DomainVerify,
    /// A domain deleted.
    #[serde(rename = "domain.delete")]
    DomainDelete,
    /// The GitHub application configured.
    #[serde(rename = "github.configure")]
    GitHubConfigure,
}

impl AuditAction {
    /// Every action.
    pub const ALL: [AuditAction; 31] = [
        AuditAction::Signup,
        AuditAction::SigninSuccess,
        AuditAction::SigninFailure,
        AuditAction::GitHubSignin,
        AuditAction::GitHubLink,
        AuditAction::MeUpdate,
        AuditAction::PasswordChange,
        AuditAction::SignoutAll,
        AuditAction::UserCreate,
        AuditAction::UserUpdate,
        AuditAction::UserPasswordReset,
        AuditAction::UserDelete,
        AuditAction::InvitationCreate,
        AuditAction::InvitationDelete,
        AuditAction::TokenCreate,
        AuditAction::TokenRevoke,
        AuditAction::WebhookCreate,
        AuditAction::WebhookDelete,
        AuditAction::AuthorizationCreate,
        AuditAction::AuthorizationDelete,
        AuditAction::AuthorizationReseal,
        AuditAction::ProjectCreate,
        AuditAction::ProjectUpdate,
        AuditAction::ProjectDelete,
        AuditAction::NetworkCreate,
        AuditAction::NetworkUpdate,
        AuditAction::NetworkDelete,
        AuditAction::DomainCreate,
        AuditAction::DomainVerify,
        AuditAction::DomainDelete,
        AuditAction::GitHubConfigure,
    ];

    /// The action's name (`project.create`).
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Signup => "auth.signup",
            AuditAction::SigninSuccess => "auth.signin.success",
            AuditAction::SigninFailure => "auth.signin.failure",
            AuditAction::GitHubSignin => "auth.github.signin",
            AuditAction::GitHubLink => "auth.github.link",
            AuditAction::MeUpdate => "auth.me.update",
            AuditAction::PasswordChange => "auth.password.change",
            AuditAction::SignoutAll => "auth.signout_all",
            AuditAction::UserCreate => "user.create",
            AuditAction::UserUpdate => "user.update",
            AuditAction::UserPasswordReset => "user.password.reset",
            AuditAction::UserDelete => "user.delete",
            AuditAction::InvitationCreate => "invitation.create",
            AuditAction::InvitationDelete => "invitation.delete",
            AuditAction::TokenCreate => "token.create",
            AuditAction::TokenRevoke => "token.revoke",
            AuditAction::WebhookCreate => "webhook.create",
            AuditAction::WebhookDelete => "webhook.delete",
            AuditAction::AuthorizationCreate => "authorization.create",
            AuditAction::AuthorizationDelete => "authorization.delete",
            AuditAction::AuthorizationReseal => "authorization.reseal",
            AuditAction::ProjectCreate => "project.create",
            AuditAction::ProjectUpdate => "project.update",
            AuditAction::ProjectDelete => "project.delete",
            AuditAction::NetworkCreate => "network.create",
            AuditAction::NetworkUpdate => "network.update",
            AuditAction::NetworkDelete => "network.delete",
            AuditAction::DomainCreate => "domain.create",
            AuditAction::DomainVerify => "domain.verify",
            AuditAction::DomainDelete => "domain.delete",
            AuditAction::GitHubConfigure => "github.configure",
        }
    }

    /// The action named `s`, if any.
    pub fn parse(s: &str) -> Option<AuditAction> {
        AuditAction::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl std::fmt::Display for AuditAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the recorded action succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuditOutcome {
    /// It happened.
    Success,
    /// It was attempted and refused (a failed sign-in).
    Failure,
}

/// Who acted: a user, possibly through one of their API tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditActor {
    /// The acting user.
    #[schema(value_type = String)]
    pub user_id: UserId,
    /// The API token used, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub token_id: Option<ApiTokenId>,
}

/// What an action was done to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditTarget {
    /// The kind of record: `user`, `project`, `network`, `domain`,
    /// `authorization`, `token`, `webhook`, `invitation` or `setting`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The record's id (the setting's key for `setting`).
    pub id: String,
}

impl AuditTarget {
    /// A target of kind `kind` with id `id`.
    pub fn new(kind: &str, id: impl Into<String>) -> Self {
        AuditTarget {
            kind: kind.to_string(),
            id: id.into(),
        }
    }
}

/// One entry of the audit log. Written in the same atomic step as the change
/// it records; never holds a secret, password or token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// Entry id: 32 hex digits, time-ordered (newer entries have greater
    /// ids).
    pub id: String,
    /// When it happened (RFC 3339).
    #[serde(serialize_with = "rfc3339::serialize")]
    pub at: DateTime<Utc>,
    /// Who acted (`null`: an anonymous caller, or the host and the admin
    /// commands).
    pub actor: Option<AuditActor>,
    /// What happened.
    pub action: AuditAction,
    /// What it was done to, when there is such a record.
    pub target: Option<AuditTarget>,
    /// The client's address, when known.
    pub ip: Option<String>,
    /// The request's `X-Request-Id`, when it came over HTTP.
    pub request_id: Option<String>,
    /// Whether it succeeded.
    pub outcome: AuditOutcome,
}

impl AuditEntry {
    /// A successful `action` at `at` (kept to the microsecond, as every
    /// store keeps it), with a fresh time-ordered id and no actor, target
    /// or origin.
    pub fn new(action: AuditAction, at: Timestamp) -> Self {
        let at = DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap_or(at);
        AuditEntry {
            id: audit_id(at),
            at,
            actor: None,
            action,
            target: None,
            ip: None,
            request_id: None,
            outcome: AuditOutcome::Success,
        }
    }

    /// The same entry with target `kind`/`id`.
    pub fn target(mut self, kind: &str, id: impl Into<String>) -> Self {
        self.target = Some(AuditTarget::new(kind, id));
        self
    }

    /// The user id of the actor, if any.
    pub fn actor_id(&self) -> Option<&str> {
        self.actor.as_ref().map(|a| a.user_id.as_str())
    }
}

/// A time-ordered entry id: microseconds since the epoch and 64 random bits,
/// as 32 hex digits.
fn audit_id(at: Timestamp) -> String {
    let micros = u64::try_from(at.timestamp_micros()).unwrap_or(0);
    format!("{micros:016x}{:016x}", rand::random::<u64>())
}

/// A random (version 4) UUID drawn from the thread's CSPRNG (`rand`'s
/// `ThreadRng`, seeded from the OS and reseeded periodically):
/// `Uuid::new_v4` asks the OS for its bytes with a system call each time,
/// which showed in the profile of every request (its request id).
pub(crate) fn random_uuid() -> uuid::Uuid {
    uuid::Builder::from_random_bytes(rand::random()).into_uuid()
}

/// Whether `id` has the form of an audit entry id (32 lowercase hex digits).
pub fn is_audit_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Which audit entries to read ([`Store::list_audit`](crate::store::Store::list_audit)):
/// newest first. The default is the [`AuditQuery::DEFAULT_LIMIT`] newest
/// entries, unfiltered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only entries whose actor is this user.
    pub actor: Option<UserId>,
    /// Only entries of this action.
    pub action: Option<AuditAction>,
    /// Only entries older than this entry id (the previous page's last).
    pub before: Option<String>,
    /// At most this many.
    pub limit: usize,
}

impl Default for AuditQuery {
    fn default() -> Self {
        AuditQuery {
            actor: None,
            action: None,
            before: None,
            limit: Self::DEFAULT_LIMIT,
        }
    }
}

impl AuditQuery {
    /// The `limit` of [`AuditQuery::default`] (a limit of 0 reads nothing).
    pub const DEFAULT_LIMIT: usize = 50;

    /// Whether `entry` passes the actor and action filters and the cursor.
    pub fn matches(&self, entry: &AuditEntry) -> bool {
        self.actor
            .as_deref()
            .is_none_or(|a| entry.actor_id() == Some(a))
            && self.action.is_none_or(|a| entry.action == a)
            && self.before.as_deref().is_none_or(|b| entry.id.as_str() < b)
    }
}
