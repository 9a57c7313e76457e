//! User administration: list, read, change role, disable, delete, reset a
//! password, create accounts (admins and the host).

use super::accounts::password_rule;
use super::page::{Page, PageRequest, MAX_PAGE_LIMIT};
use super::{issued, new_id, validate, Core, Error, NewAccount, Principal, Resource, Result};
use crate::crypto::SecretString;
use crate::model::UserId;
use crate::model::{AuditAction, NewUser, Role, RoleGate, User, UserUpdate};

/// An administrator's change to a user (`PATCH /users/{id}`); `None` keeps a
/// field.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct UserChanges {
    /// New role; a change ends the user's older tokens.
    pub role: Option<Role>,
    /// Disable (tokens and WebSockets end at once) or re-enable.
    pub disabled: Option<bool>,
}

impl UserChanges {
    /// Changes the role.
    pub fn role(mut self, role: Role) -> Self {
        self.role = Some(role);
        self
    }
    /// Disables or re-enables.
    pub fn disabled(mut self, disabled: bool) -> Self {
        self.disabled = Some(disabled);
        self
    }
}

/// The user administration operations (admins and the system principal);
/// see [`Slipway::users`](crate::Slipway::users).
pub struct Users<'a> {
    pub(crate) core: &'a Core,
}

impl Users<'_> {
    /// Users in creation order, paged.
    pub async fn list(&self, actor: &Principal, page: PageRequest) -> Result<Page<User>> {
        self.core.refuse_api_token(actor)?;
        self.core.require_admin(actor).await?;
        let after = match page.after() {
            Some(id) => Some(
                issued(id, Resource::User)
                    .map_err(|_| Error::invalid("after", "after must be the id of a user"))?
                    .into(),
            ),
            None => None,
        };
        let store = &self.core.store;
        let list_error = |e| match e {
            crate::StoreError::NotFound => {
                Error::invalid("after", "after must be the id of a user")
            }
            e => Error::store(Resource::User, e),
        };
        match page.limit() {
            Some(limit) => {
                let mut items = store
                    .list_users(after.as_ref(), limit + 1)
                    .await
                    .map_err(list_error)?;
                let more = items.len() > limit;
                items.truncate(limit);
                let next_after = more
                    .then(|| items.last().map(|u| u.id.to_string()))
                    .flatten();
                Ok(Page { items, next_after })
            }
            None => {
                let mut items: Vec<User> = Vec::new();
                let mut cursor = after;
                loop {
                    let batch = store
                        .list_users(cursor.as_ref(), MAX_PAGE_LIMIT)
                        .await
                        .map_err(list_error)?;
                    let done = batch.len() < MAX_PAGE_LIMIT;
                    cursor = batch.last().map(|u| u.id.clone());
                    items.extend(batch);
                    if done {
                        break;
                    }
                }
                Ok(Page {
                    items,
                    next_after: None,
                })
            }
        }
    }

    /// One user.
    pub async fn get(&self, actor: &Principal, id: &UserId) -> Result<User> {
        self.core.refuse_api_token(actor)?;
        self.core.require_admin(actor).await?;
        let id = issued(id, Resource::User)?;
        self.core
            .store
            .get_user(id)
            .await
            .map_err(|e| Error::store(Resource::User, e))
    }

    /// The user with this email (any case).
    pub async fn find_by_email(&self, actor: &Principal, email: &str) -> Result<User> {
        self.core.refuse_api_token(actor)?;
        self.core.require_admin(actor).await?;
        self.core
            .store
            .find_user_by_email(&email.trim().to_lowercase())
            .await
            .map_err(|e| Error::store(Resource::User, e))?
            .ok_or(Error::NotFound(Resource::User))
    }

    /// Changes a user's role and/or disables them. A role change or a
    /// disable ends the user's older tokens and WebSockets; the last active
    /// admin cannot be demoted or disabled ([`Error::InUse`]).
    pub async fn update(
        &self,
        actor: &Principal,
        id: &UserId,
        changes: UserChanges,
    ) -> Result<User> {
        let before = self.get(actor, id).await?;
        let role = changes.role.filter(|r| *r != before.role);
        let disabled = changes.disabled.filter(|d| *d != before.disabled);
        if role.is_none() && disabled.is_none() {
            return Ok(before);
        }
        let update = UserUpdate {
            role,
            disabled,
            revoke_sessions: role.is_some() || disabled == Some(true),
            ..UserUpdate::default()
        };
        let audit = self
            .core
            .audit(actor, AuditAction::UserUpdate)
            .target("user", &before.id);
        let user = self.core.update_user(&before.id, update, audit).await?;
        tracing::info!(user_id = %user.id, role = user.role.as_str(), disabled = user.disabled, "user changed by an administrator");
        Ok(user)
    }

    /// Deletes a user with everything they own (see
    /// [`Accounts::delete`](super::Accounts::delete)).
    pub async fn delete(&self, actor: &Principal, id: &UserId) -> Result<()> {
        self.core.refuse_api_token(actor)?;
        self.core.require_admin(actor).await?;
        let id = issued(id, Resource::User)?;
        let audit = self
            .core
            .audit(actor, AuditAction::UserDelete)
            .target("user", id);
        self.core.delete_user(id, audit).await
    }

    /// Sets a user's password; their older tokens stop working.
    pub async fn reset_password(
        &self,
        actor: &Principal,
        id: &UserId,
        password: &SecretString,
    ) -> Result<User> {
        let before = self.get(actor, id).await?;
        password_rule(password)?;
        let hash = self.core.hasher.hash(password.expose().to_string()).await?;
        let user = self
            .core
            .update_user(
                &before.id,
                UserUpdate {
                    password_hash: Some(hash),
                    revoke_sessions: true,
                    ..UserUpdate::default()
                },
                self.core
                    .audit(actor, AuditAction::UserPasswordReset)
                    .target("user", &before.id),
            )
            .await?;
        tracing::info!(user_id = %user.id, "password reset by an administrator");
        Ok(user)
    }

    /// Creates an account with the role asked for, whoever exists already
    /// (the sign-up policy does not apply): how an operator makes the first
    /// admin before the server is exposed. `Conflict(Email)` when taken.
    pub async fn create(&self, actor: &Principal, input: NewAccount) -> Result<User> {
        self.core.refuse_api_token(actor)?;
        self.core.require_admin(actor).await?;
        validate::text("name", &input.name, 1, 100)?;
        let email = validate::email(&input.email)?;
        let password_hash = match &input.password {
            Some(p) => {
                password_rule(p)?;
                Some(self.core.hasher.hash(p.expose().to_string()).await?)
            }
            None => None,
        };
        let user_id = new_id();
        let audit = self
            .core
            .audit(actor, AuditAction::UserCreate)
            .target("user", &user_id);
        let user = self
            .core
            .store
            .create_user(
                NewUser {
                    id: user_id,
                    name: input.name.trim().to_string(),
                    email,
                    password_hash,
                    github_id: None,
                    created_at: chrono::Utc::now(),
                },
                RoleGate::Exactly(input.role),
                &audit,
            )
            .await
            .map_err(|e| Error::store(Resource::User, e))?;
        tracing::info!(user_id = %user.id, role = user.role.as_str(), "user created by an administrator");
        Ok(user)
    }
}
