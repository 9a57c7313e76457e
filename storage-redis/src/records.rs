//! How records are kept in Redis: one JSON string per record.
//!
//! These are storage shapes, distinct from core's model types: they carry the
//! fields core's views skip (`ownerId`, `domainId`), secrets as base64 and the
//! GitHub id as a string (Lua reads these records with cjson, whose numbers
//! are doubles).

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use slipway_core::error::StoreError;
use slipway_core::model::{
    ApiToken, ApiTokenId, Authorization, AuthorizationId, AuthorizationType, Domain, DomainId,
    Invitation, InvitationId, Network, NetworkId, Project, ProjectId, Role, Scope, Sealed, User,
    UserId,
};

pub(crate) fn to_json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(StoreError::other)
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(raw: &str) -> Result<T, StoreError> {
    serde_json::from_str(raw).map_err(StoreError::other)
}

fn bad(what: &str) -> StoreError {
    StoreError::other(format!("malformed {what} record in Redis"))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UserRec {
    pub(crate) id: UserId,
    pub(crate) name: String,
    pub(crate) email: String,
    pub(crate) role: String,
    pub(crate) password_hash: Option<String>,
    pub(crate) github_id: Option<String>,
    pub(crate) created_at: DateTime<Utc>,
    /// Absent from records written before users could be disabled: false.
    #[serde(default)]
    pub(crate) disabled: bool,
    /// Absent from records written before session epochs: 0.
    #[serde(default)]
    pub(crate) session_epoch: u32,
}

impl UserRec {
    pub(crate) fn from_user(u: &User) -> Self {
        UserRec {
            id: u.id.clone(),
            name: u.name.clone(),
            email: u.email.clone(),
            role: u.role.as_str().to_string(),
            password_hash: u.password_hash.clone(),
            github_id: u.github_id.map(|g| g.to_string()),
            created_at: u.created_at,
            disabled: u.disabled,
            session_epoch: u.session_epoch,
        }
    }

    pub(crate) fn into_user(self) -> Result<User, StoreError> {
        Ok(User {
            role: Role::parse(&self.role).ok_or_else(|| bad("user"))?,
            github_id: match self.github_id {
                Some(g) => Some(g.parse().map_err(|_| bad("user"))?),
                None => None,
            },
            id: self.id,
            name: self.name,
            email: self.email,
            password_hash: self.password_hash,
            created_at: self.created_at,
            disabled: self.disabled,
            session_epoch: self.session_epoch,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InvitationRec {
    pub(crate) id: InvitationId,
    pub(crate) email: String,
    pub(crate) role: String,
    pub(crate) token_hash: String,
    pub(crate) created_by: Option<UserId>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) expires_at: DateTime<Utc>,
}

impl From<&Invitation> for InvitationRec {
    fn from(i: &Invitation) -> Self {
        InvitationRec {
            id: i.id.clone(),
            email: i.email.clone(),
            role: i.role.as_str().to_string(),
            token_hash: i.token_hash.clone(),
            created_by: i.created_by.clone(),
            created_at: i.created_at,
            expires_at: i.expires_at,
        }
    }
}

impl InvitationRec {
    pub(crate) fn into_invitation(self) -> Result<Invitation, StoreError> {
        Ok(Invitation {
            role: Role::parse(&self.role).ok_or_else(|| bad("invitation"))?,
            id: self.id,
            email: self.email,
            token_hash: self.token_hash,
            created_by: self.created_by,
            created_at: self.created_at,
            expires_at: self.expires_at,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApiTokenRec {
    pub(crate) id: ApiTokenId,
    pub(crate) user_id: UserId,
    pub(crate) name: String,
    /// Scope names (`projects:read`, ...).
    pub(crate) scopes: Vec<String>,
    /// `null`: every project (distinct from `[]`).
    pub(crate) project_ids: Option<Vec<ProjectId>>,
    pub(crate) token_hash: String,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) expires_at: Option<DateTime<Utc>>,
    pub(crate) last_used_at: Option<DateTime<Utc>>,
}

impl From<&ApiToken> for ApiTokenRec {
    fn from(t: &ApiToken) -> Self {
        ApiTokenRec {
            id: t.id.clone(),
            user_id: t.user_id.clone(),
            name: t.name.clone(),
            scopes: t.scopes.iter().map(|s| s.as_str().to_string()).collect(),
            project_ids: t.project_ids.clone(),
            token_hash: t.token_hash.clone(),
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
        }
    }
}

impl ApiTokenRec {
    pub(crate) fn into_api_token(self) -> Result<ApiToken, StoreError> {
        Ok(ApiToken {
            scopes: self
                .scopes
                .iter()
                .map(|s| Scope::parse(s).ok_or_else(|| bad("API token")))
                .collect::<Result<_, _>>()?,
            id: self.id,
            user_id: self.user_id,
            name: self.name,
            project_ids: self.project_ids,
            token_hash: self.token_hash,
            created_at: self.created_at,
            expires_at: self.expires_at,
            last_used_at: self.last_used_at,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AuthRec {
    pub(crate) id: AuthorizationId,
    pub(crate) user_id: UserId,
    pub(crate) name: String,
    pub(crate) kind: String,
    /// The sealed secret, base64.
    pub(crate) secret: String,
    pub(crate) info: serde_json::Value,
    pub(crate) created_at: DateTime<Utc>,
}

impl AuthRec {
    pub(crate) fn from_auth(a: &Authorization) -> Self {
        AuthRec {
            id: a.id.clone(),
            user_id: a.user_id.clone(),
            name: a.name.clone(),
            kind: a.kind.as_str().to_string(),
            secret: base64::engine::general_purpose::STANDARD.encode(&a.secret.0),
            info: a.info.clone(),
            created_at: a.created_at,
        }
    }

    pub(crate) fn into_auth(self) -> Result<Authorization, StoreError> {
        Ok(Authorization {
            kind: AuthorizationType::parse(&self.kind).ok_or_else(|| bad("authorization"))?,
            secret: Sealed(
                base64::engine::general_purpose::STANDARD
                    .decode(&self.secret)
                    .map_err(|_| bad("authorization"))?,
            ),
            id: self.id,
            user_id: self.user_id,
            name: self.name,
            info: self.info,
            created_at: self.created_at,
        })
    }
}

/// The index field of an authorization: kind, NUL, name.
pub(crate) fn auth_index_field(kind: AuthorizationType, name: &str) -> String {
    format!("{}\0{}", kind.as_str(), name)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ProjectRec {
    pub(crate) id: ProjectId,
    pub(crate) owner_id: UserId,
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) path: Option<String>,
    pub(crate) source_id: String,
    pub(crate) vm_id: String,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
}

impl ProjectRec {
    pub(crate) fn from_project(p: &Project) -> Self {
        ProjectRec {
            id: p.id.clone(),
            owner_id: p.owner_id.clone(),
            name: p.name.clone(),
            description: p.description.clone(),
            path: p.path.clone(),
            source_id: p.source_id.clone(),
            vm_id: p.vm_id.clone(),
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }

    pub(crate) fn into_project(self, networks: Vec<Network>) -> Project {
        Project {
            id: self.id,
            owner_id: self.owner_id,
            name: self.name,
            description: self.description,
            path: self.path,
            source_id: self.source_id,
            vm_id: self.vm_id,
            networks,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NetworkRec {
    pub(crate) id: NetworkId,
    pub(crate) domain: String,
    pub(crate) port: u16,
    pub(crate) project_id: ProjectId,
    pub(crate) domain_id: DomainId,
    pub(crate) created_at: DateTime<Utc>,
}

impl From<&Network> for NetworkRec {
    fn from(n: &Network) -> Self {
        NetworkRec {
            id: n.id.clone(),
            domain: n.domain.clone(),
            port: n.port,
            project_id: n.project_id.clone(),
            domain_id: n.domain_id.clone(),
            created_at: n.created_at,
        }
    }
}

impl From<NetworkRec> for Network {
    fn from(n: NetworkRec) -> Self {
        Network {
            id: n.id,
            domain: n.domain,
            port: n.port,
            project_id: n.project_id,
            domain_id: n.domain_id,
            created_at: n.created_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DomainRec {
    pub(crate) id: DomainId,
    pub(crate) domain: String,
    pub(crate) challenge: String,
    pub(crate) main: bool,
    pub(crate) linked: bool,
    pub(crate) created_at: DateTime<Utc>,
}

impl From<&Domain> for DomainRec {
    fn from(d: &Domain) -> Self {
        DomainRec {
            id: d.id.clone(),
            domain: d.domain.clone(),
            challenge: d.challenge.clone(),
            main: d.main,
            linked: d.linked,
            created_at: d.created_at,
        }
    }
}

impl From<DomainRec> for Domain {
    fn from(d: DomainRec) -> Self {
        Domain {
            id: d.id,
            domain: d.domain,
            challenge: d.challenge,
            main: d.main,
            linked: d.linked,
            created_at: d.created_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_records_from_before_disabled_and_epochs_read() {
        let old = r#"{"id":"u1","name":"U","email":"u@example.com","role":"admin",
            "passwordHash":null,"githubId":"7","createdAt":"2026-11-27T10:00:00Z"}"#;
        let user = from_json::<UserRec>(old).unwrap().into_user().unwrap();
        assert!(!user.disabled);
        assert_eq!(user.session_epoch, 0);
        assert_eq!(user.github_id, Some(7));
        let again = from_json::<UserRec>(&to_json(&UserRec::from_user(&user)).unwrap()).unwrap();
        assert_eq!(again.into_user().unwrap(), user);
    }

    #[test]
    fn typed_ids_are_stored_as_plain_strings() {
        let at = "2026-11-27T10:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let net = NetworkRec {
            id: "n1".into(),
            domain: "a.example.com".into(),
            port: 80,
            project_id: "p1".into(),
            domain_id: "d1".into(),
            created_at: at,
        };
        let raw = r#"{"id":"n1","domain":"a.example.com","port":80,"projectId":"p1","domainId":"d1","createdAt":"2026-11-27T10:00:00Z"}"#;
        assert_eq!(to_json(&net).unwrap(), raw);
        let back = from_json::<NetworkRec>(raw).unwrap();
        assert_eq!((back.id, back.project_id), (net.id, net.project_id));
        let token = ApiTokenRec {
            id: "t1".into(),
            user_id: "u1".into(),
            name: "ci".into(),
            scopes: vec![],
            project_ids: Some(vec!["p1".into(), "p2".into()]),
            token_hash: "h".into(),
            created_at: at,
            expires_at: None,
            last_used_at: None,
        };
        assert_eq!(
            to_json(&token).unwrap(),
            r#"{"id":"t1","userId":"u1","name":"ci","scopes":[],"projectIds":["p1","p2"],"tokenHash":"h","createdAt":"2026-11-27T10:00:00Z","expiresAt":null,"lastUsedAt":null}"#
        );
    }
}
