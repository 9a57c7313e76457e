//! Invitations: an admin invites an email with a role; the invited person
//! signs up with the token, whatever the sign-up policy, once.

use crate::model::InvitationId;
use sha2::{Digest, Sha256};

use super::{issued, new_id, validate, Core, Error, Principal, Resource, Result};
use crate::model::{AuditAction, Invitation, Role};

/// An invitation to create (`POST /invitations`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NewInvitation {
    /// The email to invite (stored lowercase).
    pub email: String,
    /// The role the account gets.
    pub role: Role,
}

impl NewInvitation {
    /// An invitation of `email` as `role`.
    pub fn new(email: impl Into<String>, role: Role) -> Self {
        NewInvitation {
            email: email.into(),
            role,
        }
    }
}

/// A created invitation with its token, shown this once.
#[derive(Clone)]
#[non_exhaustive]
pub struct Invited {
    /// The stored invitation.
    pub invitation: Invitation,
    /// The token to hand to the invited person (only its hash is stored).
    pub token: String,
}

impl std::fmt::Debug for Invited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invited")
            .field("invitation", &self.invitation)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// Hex SHA-256 of an invitation token: what the store keeps.
pub(crate) fn token_hash(token: &str) -> String {
    use std::fmt::Write as _;
    Sha256::digest(token.as_bytes())
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The invitation operations (admins and the system principal); see
/// [`Slipway::invitations`](crate::Slipway::invitations).
pub struct Invitations<'a> {
    pub(crate) core: &'a Core,
}

impl Invitations<'_> {
    /// Invites an email with a role; valid for
    /// [`Config::invitation_ttl`](crate::Config::invitation_ttl). One
    /// pending invitation per email; an email with an account already is a
    /// conflict.
    pub async fn create(&self, actor: &Principal, input: NewInvitation) -> Result<Invited> {
        self.core.refuse_api_token(actor)?;
        let admin = self.core.require_admin(actor).await?;
        let email = validate::email(&input.email)?;
        let exists = self
            .core
            .store
            .find_user_by_email(&email)
            .await
            .map_err(|e| Error::store(Resource::User, e))?;
        if exists.is_some() {
            return Err(Error::Conflict(super::Unique::Email));
        }
        let token = crate::crypto::prefixed_secret("slwi_");
        let now = chrono::Utc::now();
        let ttl = chrono::Duration::from_std(self.core.config.invitation_ttl)
            .unwrap_or(chrono::Duration::days(7));
        let invitation = Invitation {
            id: new_id(),
            email,
            role: input.role,
            token_hash: token_hash(&token),
            created_by: admin.map(|a| a.id),
            created_at: now,
            expires_at: now + ttl,
        };
        let audit = self
            .core
            .audit(actor, AuditAction::InvitationCreate)
            .target("invitation", &invitation.id);
        let invitation = self
            .core
            .store
            .create_invitation(invitation, &audit)
            .await
            .map_err(|e| Error::store(Resource::Invitation, e))?;
        tracing::info!(invitation_id = %invitation.id, role = invitation.role.as_str(), "invitation created");
        Ok(Invited { invitation, token })
    }

    /// Pending invitations (expired ones included until deleted), oldest
    /// first.
    pub async fn list(&self, actor: &Principal) -> Result<Vec<Invitation>> {
        self.core.refuse_api_token(actor)?;
        self.core.require_admin(actor).await?;
        self.core
            .store
            .list_invitations()
            .await
            .map_err(|e| Error::store(Resource::Invitation, e))
    }

    /// Revokes an invitation.
    pub async fn delete(&self, actor: &Principal, id: &InvitationId) -> Result<()> {
        self.core.refuse_api_token(actor)?;
        self.core.require_admin(actor).await?;
        let id = issued(id, Resource::Invitation)?;
        let audit = self
            .core
            .audit(actor, AuditAction::InvitationDelete)
            .target("invitation", id);
        self.core
            .store
            .delete_invitation(id, &audit)
            .await
            .map_err(|e| Error::store(Resource::Invitation, e))?;
        tracing::info!(invitation_id = %id, "invitation deleted");
        Ok(())
    }
}
