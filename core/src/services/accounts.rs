//! Accounts: sign-up under the instance's policy, sign-in with rate limits,
//! access tokens, GitHub sign-in, and the lookups host code needs.

use crate::model::UserId;
use std::net::IpAddr;
use std::time::Duration;

use super::github::{for_code, upstream};
use super::limits::Limit;
use super::{issued, new_id, validate, Core, Error, Principal, Resource, Result, SignupClosed};
use crate::auth::limiter::{client_key, counter_key};
use crate::config::SignupPolicy;
use crate::crypto::SecretString;
use crate::github::{primary_verified, GitHubUser, TokenScopes};
use crate::model::{
    AuditAction, AuditActor, AuditEntry, AuditOutcome, Authorization, AuthorizationType, NewUser,
    Role, RoleGate, User, UserUpdate,
};
use crate::StoreError;

/// A sign-up.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Signup {
    /// Display name, 1-100 characters.
    pub name: String,
    /// Email address (stored lowercase).
    pub email: String,
    /// Password, 8-256 characters.
    pub password: SecretString,
    /// An invitation's token: the account gets the invited role, whatever
    /// the sign-up policy; the email must be the invited one.
    pub invitation_token: Option<SecretString>,
    /// The client's address, for the per-address sign-up limit.
    pub client: Option<IpAddr>,
}

impl Signup {
    /// A sign-up with name, email and password.
    pub fn new(
        name: impl Into<String>,
        email: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        Signup {
            name: name.into(),
            email: email.into(),
            password: SecretString::new(password.into()),
            invitation_token: None,
            client: None,
        }
    }
    /// Signs up with an invitation's token.
    pub fn invitation(mut self, token: impl Into<String>) -> Self {
        self.invitation_token = Some(SecretString::new(token.into()));
        self
    }
}

/// Changes to one's own account (`PATCH /auth/me`); `None` keeps a field.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct MeChanges {
    /// New display name, 1-100 characters.
    pub name: Option<String>,
    /// New email (stored lowercase), unique.
    pub email: Option<String>,
}

impl MeChanges {
    /// Changes the name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    /// Changes the email.
    pub fn email(mut self, email: impl Into<String>) -> Self {
        self.email = Some(email.into());
        self
    }
}

/// A password change (`POST /auth/password`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PasswordChange {
    /// The current password.
    pub current: SecretString,
    /// The new password, 8-256 characters.
    pub new: SecretString,
    /// The client's address, for the sign-in limiter.
    pub client: Option<IpAddr>,
}

impl PasswordChange {
    /// A change from `current` to `new`.
    pub fn new(current: impl Into<String>, new: impl Into<String>) -> Self {
        PasswordChange {
            current: SecretString::new(current.into()),
            new: SecretString::new(new.into()),
            client: None,
        }
    }
    /// Sets the client address.
    pub fn from_addr(mut self, client: Option<IpAddr>) -> Self {
        self.client = client;
        self
    }
}

/// A sign-in with a password.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Signin {
    /// Email address (case does not matter).
    pub email: String,
    /// Password.
    pub password: SecretString,
    /// The client's address, for the per-address failure limit.
    pub client: Option<IpAddr>,
}

impl Signin {
    /// A sign-in with email and password from an unknown address.
    pub fn new(email: impl Into<String>, password: impl Into<String>) -> Self {
        Signin {
            email: email.into(),
            password: SecretString::new(password.into()),
            client: None,
        }
    }
    /// Sets the client address.
    pub fn from_addr(mut self, client: Option<IpAddr>) -> Self {
        self.client = client;
        self
    }
}

/// A signed-in user with a fresh access token. Its `Debug` redacts the token.
#[derive(Clone)]
#[non_exhaustive]
pub struct SignedIn {
    /// The user.
    pub user: User,
    /// A JWT for `Authorization: Bearer`.
    pub access_token: String,
}

impl std::fmt::Debug for SignedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedIn")
            .field("user", &self.user)
            .field("access_token", &"<redacted>")
            .finish()
    }
}

/// An account created by host code for one of its own users (no password:
/// the host authenticates them, see [`Authenticator`](crate::http::Authenticator)).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NewAccount {
    /// Display name, 1-100 characters.
    pub name: String,
    /// Email address (stored lowercase), unique.
    pub email: String,
    /// The role (default member: the host decides who administers Slipway;
    /// the first such account does not become admin by itself).
    pub role: Role,
    /// A password, when the account signs in with one (8-256 characters).
    pub password: Option<SecretString>,
}

impl NewAccount {
    /// A member account with a name and an email.
    pub fn new(name: impl Into<String>, email: impl Into<String>) -> Self {
        NewAccount {
            name: name.into(),
            email: email.into(),
            role: Role::Member,
            password: None,
        }
    }
    /// Sets the role.
    pub fn role(mut self, role: Role) -> Self {
        self.role = role;
        self
    }
    /// Sets a password.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(SecretString::new(password.into()));
        self
    }
}

pub(crate) fn password_rule(password: &SecretString) -> Result<()> {
    let n = password.expose().chars().count();
    if !(8..=256).contains(&n) {
        return Err(Error::invalid(
            "password",
            "password must be between 8 and 256 characters long",
        ));
    }
    Ok(())
}

/// The account operations; see [`Slipway::accounts`](crate::Slipway::accounts).
pub struct Accounts<'a> {
    pub(crate) core: &'a Core,
}

impl Accounts<'_> {
    /// Creates a user under the sign-up policy: the first user of an
    /// instance is admin, later ones member.
    async fn sign_up_user(&self, user: NewUser, client: Option<IpAddr>) -> Result<User> {
        let gate = match self.core.config.signup {
            SignupPolicy::Open => RoleGate::FirstUserAdmin,
            SignupPolicy::FirstUserOnly => RoleGate::FirstUserOnly,
            SignupPolicy::Closed => return Err(Error::SignupClosed(SignupClosed::Closed)),
        };
        let audit = self.signup_audit(&user.id, client);
        self.create_user(user, gate, &audit).await
    }

    /// The entry of a sign-up: the new user acting on themselves.
    fn signup_audit(&self, user_id: &UserId, client: Option<IpAddr>) -> AuditEntry {
        let mut audit = self
            .core
            .anonymous_audit(AuditAction::Signup, client)
            .target("user", user_id);
        audit.actor = Some(AuditActor {
            user_id: user_id.clone(),
            token_id: None,
        });
        audit
    }

    async fn create_user(&self, user: NewUser, gate: RoleGate, audit: &AuditEntry) -> Result<User> {
        self.core
            .store
            .create_user(user, gate, audit)
            .await
            .map_err(|e| Error::store(Resource::User, e))
    }

    /// Signs a user up with a password and signs them in.
    pub async fn signup(&self, input: Signup) -> Result<SignedIn> {
        validate::text("name", &input.name, 1, 100)?;
        let email = validate::email(&input.email)?;
        password_rule(&input.password)?;
        // The policy is checked before any hashing: a refused sign-up costs
        // no Argon2 work. An invitation admits whatever the policy says.
        match self.core.config.signup {
            _ if input.invitation_token.is_some() => {}
            SignupPolicy::Closed => return Err(Error::SignupClosed(SignupClosed::Closed)),
            SignupPolicy::FirstUserOnly
                if self
                    .core
                    .store
                    .has_users()
                    .await
                    .map_err(|e| Error::store(Resource::User, e))? =>
            {
                return Err(Error::SignupClosed(SignupClosed::HasFirstUser))
            }
            _ => {}
        }
        if let Some(addr) = input.client.map(client_key) {
            self.core
                .count_action(Limit {
                    key: counter_key("signup-addr", &[&addr]),
                    limit: self.core.config.signup_max_per_addr,
                    window: Duration::from_secs(3600),
                    message: "Too many sign-ups from this address; wait before trying again",
                })
                .await?;
        }
        if let Some(token) = &input.invitation_token {
            return self
                .signup_invited(
                    input.name.trim(),
                    email,
                    &input.password,
                    token,
                    input.client,
                )
                .await;
        }
        if self.find_by_email(&email).await?.is_some() {
            return Err(Error::Conflict(super::Unique::Email));
        }
        let hash = self
            .core
            .hasher
            .hash(input.password.expose().to_string())
            .await?;
        let user = self
            .sign_up_user(
                NewUser {
                    id: new_id(),
                    name: input.name.trim().to_string(),
                    email,
                    password_hash: Some(hash),
                    github_id: None,
                    created_at: chrono::Utc::now(),
                },
                input.client,
            )
            .await?;
        tracing::info!(user_id = %user.id, role = user.role.as_str(), "user signed up");
        Ok(self.signed_in(user))
    }

    /// Checks a password; failures are limited per email and per client
    /// address ([`Error::TooManyAttempts`]). A wrong password and an unknown
    /// email cost the same and answer the same.
    pub async fn signin(&self, input: Signin) -> Result<SignedIn> {
        let email = input.email.trim().to_lowercase();
        if email.is_empty() || email.chars().count() > 254 {
            return Err(Error::invalid(
                "email",
                "email must be a valid email address",
            ));
        }
        let password = input.password.expose();
        if password.is_empty() || password.chars().count() > 256 {
            return Err(Error::invalid(
                "password",
                "password must be between 1 and 256 characters long",
            ));
        }
        let limits = self.signin_limits(&email, input.client);
        // Counted before the password is checked, so concurrent guesses can
        // never exceed the limits; given back on success.
        let attempt = self.core.begin_attempt(&limits).await?;
        let checked = async {
            let user = self.find_by_email(&email).await?;
            let phc = user.as_ref().and_then(|u| u.password_hash.clone());
            let ok = self.core.hasher.verify(password.to_string(), phc).await?;
            Ok::<_, Error>((user, ok))
        }
        .await;
        match checked {
            // A disabled account is told so, with the same words for a right
            // and a wrong password; a wrong one stays counted.
            Ok((Some(user), ok)) if user.disabled => {
                let audit = self
                    .core
                    .anonymous_audit(AuditAction::SigninFailure, input.client)
                    .target("user", &user.id);
                attempt
                    .settle_with_audit(!ok, audit, AuditOutcome::Failure)
                    .await;
                Err(disabled_error())
            }
            Ok((Some(user), true)) => {
                let audit = self
                    .core
                    .audit(
                        &Principal::user_id(&user.id, None),
                        AuditAction::SigninSuccess,
                    )
                    .target("user", &user.id);
                let audit = with_client(audit, input.client);
                attempt
                    .settle_with_audit(false, audit, AuditOutcome::Success)
                    .await;
                Ok(self.signed_in(user))
            }
            // A failure stays counted. A success does not reset the address:
            // one valid account must not let an address keep guessing the
            // passwords of others.
            Ok((user, _)) => {
                let mut audit = self
                    .core
                    .anonymous_audit(AuditAction::SigninFailure, input.client);
                if let Some(user) = &user {
                    audit = audit.target("user", &user.id);
                }
                attempt
                    .settle_with_audit(true, audit, AuditOutcome::Failure)
                    .await;
                crate::metrics::signin_failed();
                Err(Error::Unauthenticated("Invalid email or password".into()))
            }
            // Nothing was checked (queue full, store down): not a failure.
            Err(e) => {
                attempt.settle(false).await;
                Err(e)
            }
        }
    }

    /// The limits a password check counts against: failures per email and
    /// client address, per email from all addresses, and per address.
    fn signin_limits(&self, email: &str, client: Option<IpAddr>) -> Vec<Limit> {
        let config = &self.core.config;
        let window = config.signin_window;
        let addr = client.map(client_key);
        let mut limits = Vec::with_capacity(3);
        if let Some(addr) = &addr {
            limits.push(Limit {
                key: counter_key("signin-addr", &[addr]),
                limit: config.signin_max_failures_per_addr,
                window,
                message: "Too many failed sign-in attempts from this address; wait before \
                          trying again",
            });
        }
        let email_message = "Too many failed sign-in attempts for this email; wait before trying \
                             again";
        limits.push(Limit {
            key: counter_key("signin-email-addr", &[email, addr.as_deref().unwrap_or("")]),
            limit: config.signin_max_failures,
            window,
            message: email_message,
        });
        limits.push(Limit {
            key: counter_key("signin-email", &[email]),
            limit: config.signin_max_failures_per_email,
            window,
            message: email_message,
        });
        limits
    }

    /// The principal's user.
    pub async fn me(&self, actor: &Principal) -> Result<User> {
        self.core.refuse_api_token(actor)?;
        self.core.user_of(actor).await
    }

    /// Changes the principal's own name and/or email (`Conflict(Email)`
    /// when the email is taken).
    pub async fn update_me(&self, actor: &Principal, changes: MeChanges) -> Result<User> {
        self.core.refuse_api_token(actor)?;
        let me = self.core.user_of(actor).await?;
        let mut update = UserUpdate::default();
        if let Some(name) = &changes.name {
            validate::text("name", name, 1, 100)?;
            update.name = Some(name.trim().to_string());
        }
        if let Some(email) = &changes.email {
            update.email = Some(validate::email(email)?);
        }
        if update == UserUpdate::default() {
            return Ok(me);
        }
        let audit = self
            .core
            .audit(actor, AuditAction::MeUpdate)
            .target("user", &me.id);
        let user = self.core.update_user(&me.id, update, audit).await?;
        tracing::info!(user_id = %user.id, "account details changed");
        Ok(user)
    }

    /// Changes the principal's password after checking the current one
    /// (a wrong one counts as a failed sign-in for the limiter) and signs
    /// them in afresh: every token issued before stops working, and their
    /// other WebSockets close.
    pub async fn change_password(
        &self,
        actor: &Principal,
        input: PasswordChange,
    ) -> Result<SignedIn> {
        let current = input.current.expose();
        if current.is_empty() || current.chars().count() > 256 {
            return Err(Error::invalid(
                "currentPassword",
                "currentPassword must be between 1 and 256 characters long",
            ));
        }
        self.core.refuse_api_token(actor)?;
        password_rule(&input.new).map_err(|_| {
            Error::invalid(
                "newPassword",
                "newPassword must be between 8 and 256 characters long",
            )
        })?;
        let me = self.core.user_of(actor).await?;
        // A wrong current password is a failed sign-in: counted first,
        // against the same limits.
        let attempt = self
            .core
            .begin_attempt(&self.signin_limits(&me.email, input.client))
            .await?;
        let checked = self
            .core
            .hasher
            .verify(current.to_string(), me.password_hash.clone())
            .await;
        match checked {
            Ok(true) => attempt.settle(false).await,
            Ok(false) => {
                attempt.settle(true).await;
                let audit = self
                    .core
                    .audit(actor, AuditAction::PasswordChange)
                    .target("user", &me.id);
                let audit = with_client(audit, input.client);
                self.core.append_audit(audit, AuditOutcome::Failure).await;
                return Err(Error::Unauthenticated("currentPassword is wrong".into()));
            }
            Err(e) => {
                attempt.settle(false).await;
                return Err(e.into());
            }
        }
        let hash = self
            .core
            .hasher
            .hash(input.new.expose().to_string())
            .await?;
        let user = self
            .core
            .update_user(
                &me.id,
                UserUpdate {
                    password_hash: Some(hash),
                    revoke_sessions: true,
                    ..UserUpdate::default()
                },
                with_client(
                    self.core
                        .audit(actor, AuditAction::PasswordChange)
                        .target("user", &me.id),
                    input.client,
                ),
            )
            .await?;
        tracing::info!(user_id = %user.id, "password changed; older sessions ended");
        Ok(self.signed_in(user))
    }

    /// Ends every session of the principal's user: tokens issued before now
    /// stop working and their WebSockets close.
    pub async fn signout_all(&self, actor: &Principal) -> Result<()> {
        self.core.refuse_api_token(actor)?;
        let me = self.core.user_of(actor).await?;
        self.core
            .update_user(
                &me.id,
                UserUpdate {
                    revoke_sessions: true,
                    ..UserUpdate::default()
                },
                self.core
                    .audit(actor, AuditAction::SignoutAll)
                    .target("user", &me.id),
            )
            .await?;
        tracing::info!(user_id = %me.id, "signed out everywhere");
        Ok(())
    }

    /// Signs up through an invitation: the policy does not apply, the email
    /// must be the invited one, and the invitation is used up with the
    /// insert.
    async fn signup_invited(
        &self,
        name: &str,
        email: String,
        password: &SecretString,
        token: &SecretString,
        client: Option<IpAddr>,
    ) -> Result<SignedIn> {
        let bad = || {
            Error::invalid(
                "invitationToken",
                "invitationToken is not a valid invitation: it was used, revoked or has expired; \
                 ask an administrator for a new one",
            )
        };
        let t = token.expose();
        if t.is_empty() || t.len() > 256 {
            return Err(bad());
        }
        let invitation = self
            .core
            .store
            .find_invitation(&super::invitations::token_hash(t))
            .await
            .map_err(|e| Error::store(Resource::Invitation, e))?
            .ok_or_else(bad)?;
        if invitation.expires_at <= chrono::Utc::now() {
            return Err(bad());
        }
        if invitation.email != email {
            return Err(Error::invalid(
                "email",
                "email must be the address the invitation was sent to",
            ));
        }
        let id = invitation.id.parse().map_err(|_| bad())?;
        let hash = self.core.hasher.hash(password.expose().to_string()).await?;
        let user_id: UserId = new_id();
        let audit = self.signup_audit(&user_id, client);
        let created = self
            .core
            .store
            .create_user(
                NewUser {
                    id: user_id,
                    name: name.to_string(),
                    email,
                    password_hash: Some(hash),
                    github_id: None,
                    created_at: chrono::Utc::now(),
                },
                RoleGate::Invitation {
                    id,
                    role: invitation.role,
                },
                &audit,
            )
            .await;
        let user = match created {
            Ok(user) => user,
            Err(StoreError::Refused) => return Err(bad()),
            Err(e) => return Err(Error::store(Resource::User, e)),
        };
        tracing::info!(user_id = %user.id, role = user.role.as_str(), invitation_id = %invitation.id, "user signed up with an invitation");
        Ok(self.signed_in(user))
    }

    /// Verifies an access token's signature, algorithm, issuer and expiry,
    /// and that it still counts: its user exists, is not disabled and has not
    /// ended their older sessions since (read through the node's session
    /// cache). The principal it names (the user is loaded when needed).
    pub async fn verify_token(&self, token: &str) -> Result<Principal> {
        if token.starts_with(super::tokens::API_TOKEN_PREFIX) {
            return super::ApiTokens { core: self.core }.verify(token).await;
        }
        let verified = self.core.tokens.verify(token).map_err(|_| {
            Error::Unauthenticated(
                "The access token is invalid or has expired; sign in again".into(),
            )
        })?;
        self.check_session(&verified.sub, verified.sev).await?;
        Ok(Principal::from_token(verified))
    }

    /// Whether a session of `user_id` begun at session epoch `epoch` still
    /// counts (the user exists, is not disabled and has not ended their
    /// older sessions since), read through the node's session cache: what an
    /// open WebSocket re-checks now and then.
    pub(crate) async fn check_session(&self, user_id: &str, epoch: u32) -> Result<()> {
        self.core
            .sessions
            .check(&*self.core.store, user_id, epoch)
            .await
    }

    /// Issues an access token for a user, with the configured lifetime or `ttl`.
    pub fn issue_token(&self, user: &User, ttl: Option<std::time::Duration>) -> String {
        self.core.tokens.issue(user, ttl)
    }

    fn signed_in(&self, user: User) -> SignedIn {
        let access_token = self.issue_token(&user, None);
        SignedIn { user, access_token }
    }

    /// The user with this email (any case), if any.
    pub async fn find_by_email(&self, email: &str) -> Result<Option<User>> {
        self.core
            .store
            .find_user_by_email(&email.trim().to_lowercase())
            .await
            .map_err(|e| Error::store(Resource::User, e))
    }

    /// A user by id.
    pub async fn get(&self, id: &UserId) -> Result<User> {
        let id = issued(id, Resource::User)?;
        self.core
            .store
            .get_user(id)
            .await
            .map_err(|e| Error::store(Resource::User, e))
    }

    /// The user with `input.email`, created with `input.role` and no
    /// password when there is none: for hosts that authenticate their own
    /// users and map them to Slipway accounts. Host code only (the sign-up
    /// policy does not apply): never expose it to anonymous callers.
    pub async fn find_or_create(&self, input: NewAccount) -> Result<User> {
        validate::text("name", &input.name, 1, 100)?;
        let email = validate::email(&input.email)?;
        if let Some(user) = self.find_by_email(&email).await? {
            return Ok(user);
        }
        let user_id: UserId = new_id();
        let audit = self
            .core
            .audit(&Principal::system(), AuditAction::UserCreate)
            .target("user", &user_id);
        let created = self
            .create_user(
                NewUser {
                    id: user_id,
                    name: input.name.trim().to_string(),
                    email: email.clone(),
                    password_hash: None,
                    github_id: None,
                    created_at: chrono::Utc::now(),
                },
                RoleGate::Exactly(input.role),
                &audit,
            )
            .await;
        match created {
            Ok(user) => Ok(user),
            // Created by a concurrent call in the meantime.
            Err(Error::Conflict(super::Unique::Email)) => self
                .find_by_email(&email)
                .await?
                .ok_or(Error::Conflict(super::Unique::Email)),
            Err(e) => Err(e),
        }
    }

    /// Deletes a user with everything they own (admin, or the user
    /// themselves): a DELETE event per project, and their WebSockets close.
    /// The last active admin cannot be deleted ([`Error::InUse`]).
    pub async fn delete(&self, actor: &Principal, id: &UserId) -> Result<()> {
        self.core.refuse_api_token(actor)?;
        if actor.id() != Some(id) {
            self.core.require_admin(actor).await?;
        }
        let id = issued(id, Resource::User)?;
        let audit = self
            .core
            .audit(actor, AuditAction::UserDelete)
            .target("user", id);
        self.core.delete_user(id, audit).await
    }

    /// Signs in with a GitHub OAuth code: exchanges it, finds the user by
    /// GitHub id; else, by the GitHub account's verified primary email, an
    /// account with a password answers a conflict
    /// (409 "an account with this email exists…": its owner signs in with the password and
    /// links GitHub with [`Accounts::link_github`]), an account without one
    /// (created by the host) is linked; else a user is created (sign-up
    /// policy applies). Keeps the GitHub token as the user's `oauth`
    /// authorization.
    pub async fn github_signin(&self, code: &SecretString) -> Result<SignedIn> {
        self.github_signin_from(code, None).await
    }

    /// [`Accounts::github_signin`] for a client address: at most
    /// `github_signin_max_per_addr` calls per minute per address reach
    /// GitHub ([`Error::TooManyAttempts`] beyond).
    pub async fn github_signin_from(
        &self,
        code: &SecretString,
        client: Option<IpAddr>,
    ) -> Result<SignedIn> {
        check_code("code", code)?;
        let app = self.core.require_github_app().await?;
        if let Some(addr) = client.map(client_key) {
            self.core
                .count_action(Limit {
                    key: counter_key("github-signin-addr", &[&addr]),
                    limit: self.core.config.github_signin_max_per_addr,
                    window: Duration::from_secs(60),
                    message: "Too many GitHub sign-ins from this address; wait before trying \
                              again",
                })
                .await?;
        }
        let gh = &self.core.github;
        let token = gh
            .exchange_code(&app, code)
            .await
            .map_err(|e| for_code(e, "code"))?;
        let (gh_user, scopes) = gh.user(&token).await.map_err(upstream)?;
        let user = self.github_user(&token, &gh_user, client).await?;
        if user.disabled {
            return Err(disabled_error());
        }
        let acting = Principal::user_id(&user.id, None);
        self.keep_github_token(&acting, &user, &gh_user, &scopes, &token)
            .await?;
        let audit = with_client(
            self.core
                .audit(&acting, AuditAction::GitHubSignin)
                .target("user", &user.id),
            client,
        );
        self.core.append_audit(audit, AuditOutcome::Success).await;
        tracing::info!(user_id = %user.id, github_id = gh_user.id, "signed in with GitHub");
        Ok(self.signed_in(user))
    }

    async fn github_user(
        &self,
        token: &SecretString,
        gh_user: &GitHubUser,
        client: Option<IpAddr>,
    ) -> Result<User> {
        let store = &self.core.store;
        let user_error = |e: StoreError| Error::store(Resource::User, e);
        if let Some(user) = store
            .find_user_by_github_id(gh_user.id)
            .await
            .map_err(user_error)?
        {
            return Ok(user);
        }
        let emails = self
            .core
            .github
            .emails(token)
            .await
            .map_err(upstream)?
            .ok_or_else(|| {
                Error::invalid(
                    "code",
                    "Slipway could not read the GitHub account's email addresses: the GitHub \
                     sign-in must request the user:email scope",
                )
            })?;
        let email = match primary_verified(&emails) {
            Ok(Some(email)) => email,
            Ok(None) => {
                return Err(Error::invalid(
                    "code",
                    "The GitHub account has no primary email address; add and verify one on \
                     GitHub, then sign in again",
                ))
            }
            Err(_unverified) => {
                return Err(Error::invalid(
                    "code",
                    "The GitHub account's primary email address is not verified; verify it on \
                     GitHub (Settings > Emails), then sign in again",
                ))
            }
        };
        let email = validate::email(email).map_err(|_| {
            Error::invalid(
                "code",
                "The GitHub account's primary email address is not one Slipway accepts; change \
                 it on GitHub, then sign in again",
            )
        })?;
        if let Some(existing) = store.find_user_by_email(&email).await.map_err(user_error)? {
            if existing.github_id.is_some() {
                return Err(Error::InUse {
                    resource: Resource::User,
                    message: "email belongs to a Slipway account linked to another GitHub \
                              account; sign in with that GitHub account or with a password"
                        .into(),
                });
            }
            if existing.password_hash.is_some() {
                // Holding the same address on GitHub proves nothing about the
                // password account: its owner links GitHub explicitly.
                return Err(Error::InUse {
                    resource: Resource::User,
                    message: PASSWORD_ACCOUNT_EXISTS.into(),
                });
            }
            // An account without a password (created by the host for one of
            // its users) is linked through the verified email.
            let audit = with_client(
                self.core
                    .audit(
                        &Principal::user_id(&existing.id, None),
                        AuditAction::GitHubLink,
                    )
                    .target("user", &existing.id),
                client,
            );
            let linked = store
                .link_github(&existing.id, gh_user.id, &audit)
                .await
                .map_err(user_error)?;
            tracing::info!(user_id = %linked.id, github_id = gh_user.id, "GitHub account linked through its verified email");
            return Ok(linked);
        }
        let name = gh_user
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty() && validate::text("name", n, 1, 100).is_ok())
            .unwrap_or(&gh_user.login);
        let name: String = name.chars().take(100).collect();
        let user = self
            .sign_up_user(
                NewUser {
                    id: new_id(),
                    name,
                    email,
                    password_hash: None,
                    github_id: Some(gh_user.id),
                    created_at: chrono::Utc::now(),
                },
                client,
            )
            .await?;
        tracing::info!(user_id = %user.id, role = user.role.as_str(), github_id = gh_user.id, "user signed up with GitHub");
        Ok(user)
    }

    /// Links the signed-in user's account to the GitHub account of an OAuth
    /// `code` (exchanged once), and keeps the GitHub token as the user's
    /// `oauth` authorization. A GitHub account linked to another user, or a
    /// user already linked to another GitHub account, is a conflict; a link
    /// is never overwritten.
    pub async fn link_github(&self, actor: &Principal, code: &SecretString) -> Result<User> {
        self.core.refuse_api_token(actor)?;
        let user = self.core.user_of(actor).await?;
        check_code("code", code)?;
        let app = self.core.require_github_app().await?;
        let gh = &self.core.github;
        let token = gh
            .exchange_code(&app, code)
            .await
            .map_err(|e| for_code(e, "code"))?;
        let (gh_user, scopes) = gh.user(&token).await.map_err(upstream)?;
        let store = &self.core.store;
        let user_error = |e: StoreError| Error::store(Resource::User, e);
        let already_linked = || Error::InUse {
            resource: Resource::User,
            message: "Your account is already linked to another GitHub account; sign in with \
                      that GitHub account"
                .into(),
        };
        if let Some(holder) = store
            .find_user_by_github_id(gh_user.id)
            .await
            .map_err(user_error)?
        {
            if holder.id != user.id {
                return Err(Error::Conflict(super::Unique::GitHubId));
            }
        } else if user.github_id.is_some() {
            return Err(already_linked());
        }
        let audit = self
            .core
            .audit(actor, AuditAction::GitHubLink)
            .target("user", &user.id);
        let linked = match store.link_github(&user.id, gh_user.id, &audit).await {
            Ok(linked) => linked,
            // Lost a race: the conditional write kept the existing link.
            Err(StoreError::Conflict(_)) => {
                let now = store.get_user(&user.id).await.map_err(user_error)?;
                return Err(if now.github_id.is_some_and(|g| g != gh_user.id) {
                    already_linked()
                } else {
                    Error::Conflict(super::Unique::GitHubId)
                });
            }
            Err(e) => return self.core.token_user(Err(e)),
        };
        self.keep_github_token(actor, &linked, &gh_user, &scopes, &token)
            .await?;
        tracing::info!(user_id = %linked.id, github_id = gh_user.id, "GitHub account linked by its signed-in user");
        Ok(linked)
    }

    async fn keep_github_token(
        &self,
        actor: &Principal,
        user: &User,
        gh_user: &GitHubUser,
        scopes: &TokenScopes,
        token: &SecretString,
    ) -> Result<()> {
        let name: String = gh_user.login.chars().take(100).collect();
        let name = if name.trim().is_empty() {
            format!("github-{}", gh_user.id)
        } else {
            name
        };
        self.core
            .upsert_credential(
                Authorization {
                    id: new_id(),
                    user_id: user.id.clone(),
                    name,
                    kind: AuthorizationType::Oauth,
                    secret: crate::model::Sealed(Vec::new()),
                    info: super::authorizations::github_token_info(gh_user, scopes),
                    created_at: chrono::Utc::now(),
                },
                token,
                actor,
            )
            .await?;
        Ok(())
    }
}

/// `audit` with the client's address when the caller passed one.
fn with_client(mut audit: AuditEntry, client: Option<IpAddr>) -> AuditEntry {
    if let Some(ip) = client {
        audit.ip = Some(ip.to_string());
    }
    audit
}

/// The answer to a disabled user's sign-in, whether the password was right
/// or wrong.
fn disabled_error() -> Error {
    Error::Forbidden("This account is disabled; ask an administrator of this instance".into())
}
/// The 409 of a GitHub sign-in whose verified email belongs to a password
/// account that is not linked to GitHub.
pub(crate) const PASSWORD_ACCOUNT_EXISTS: &str =
    "an account with this email exists: sign in with your password, then link GitHub";

/// A code as GitHub hands it out: 1-256 printable characters.
pub(crate) fn check_code(field: &str, code: &SecretString) -> Result<()> {
    let c = code.expose();
    if c.is_empty() || c.len() > 256 {
        return Err(Error::invalid(
            field,
            format!("{field} must be between 1 and 256 characters long"),
        ));
    }
    if !c.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::invalid(
            field,
            format!(
                "{field} may only contain printable ASCII characters: pass the code exactly as \
                 GitHub gave it"
            ),
        ));
    }
    Ok(())
}

#[cfg(all(test, feature = "memory"))]
mod bounded_work_tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::{Argon2Params, MemoryStore, Slipway};

    fn small() -> Argon2Params {
        Argon2Params {
            memory_kib: 256,
            iterations: 1,
            parallelism: 1,
        }
    }

    /// Fills the one-place hash queue with a job that runs until the
    /// returned sender is sent to (or dropped).
    async fn fill_queue(
        slipway: &Slipway,
    ) -> (std::sync::mpsc::Sender<()>, tokio::task::JoinHandle<()>) {
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
        let release_rx = Arc::new(Mutex::new(release_rx));
        let hasher = slipway.inner.core.hasher.clone();
        let held = tokio::spawn(async move {
            hasher
                .blocking(move |_, _| {
                    let _ = started_tx.send(());
                    let _ = release_rx.lock().unwrap().recv();
                })
                .await
                .expect("the holding job runs");
        });
        started_rx.await.expect("the holding job started");
        let probe = slipway.inner.core.hasher.hash("probe".into()).await;
        assert!(probe.is_err_and(|e| e.is_busy()), "the queue is full");
        (release_tx, held)
    }

    /// With the hash queue full: a sign-up the policy refuses answers 403
    /// (no hash was needed), one it allows answers `Busy` (503); a sign-in
    /// answers `Busy` and is given back, so it never counts as a failure.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn refused_work_costs_no_hash_and_no_count() {
        let slipway = Slipway::builder()
            .secret(b"an instance secret of at least 32 bytes!".to_vec())
            .store(MemoryStore::new())
            .argon2(small())
            .signup(SignupPolicy::FirstUserOnly)
            .max_queued_hashes(1)
            .configure(|c| {
                c.max_concurrent_hashes = 1;
                c.signin_max_failures = 2;
            })
            .build()
            .unwrap();
        let accounts = slipway.accounts();
        accounts
            .signup(Signup::new("Ada", "ada@example.com", "password-ada"))
            .await
            .unwrap();
        let (release, held) = fill_queue(&slipway).await;
        let refused = accounts
            .signup(Signup::new("Bob", "bob@example.com", "password-bob"))
            .await;
        assert!(
            matches!(
                refused,
                Err(Error::SignupClosed(SignupClosed::HasFirstUser))
            ),
            "{refused:?}"
        );
        for _ in 0..5 {
            let busy = accounts
                .signin(Signin::new("ada@example.com", "wrong-password"))
                .await;
            assert!(matches!(busy, Err(Error::Busy { .. })), "{busy:?}");
        }
        release.send(()).unwrap();
        held.await.unwrap();
        // The busy attempts were given back: two failures are still allowed.
        for _ in 0..2 {
            let wrong = accounts
                .signin(Signin::new("ada@example.com", "wrong-password"))
                .await;
            assert!(matches!(wrong, Err(Error::Unauthenticated(_))), "{wrong:?}");
        }
        let limited = accounts
            .signin(Signin::new("ada@example.com", "password-ada"))
            .await;
        assert!(
            matches!(limited, Err(Error::TooManyAttempts { .. })),
            "{limited:?}"
        );
    }
}

#[cfg(test)]
mod debug_tests {
    use super::SignedIn;
    use crate::model::{Role, User};

    #[test]
    fn signed_in_debug_redacts_the_access_token() {
        let signed_in = SignedIn {
            user: User {
                id: "u1".into(),
                name: "Ada".into(),
                email: "ada@example.com".into(),
                role: Role::Member,
                password_hash: None,
                github_id: None,
                created_at: chrono::Utc::now(),
                disabled: false,
                session_epoch: 0,
            },
            access_token: "eyJhbGciOiJIUzI1NiJ9.secretpayload.sig".into(),
        };
        let shown = format!("{signed_in:?}");
        assert!(!shown.contains("secretpayload"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(shown.contains("ada@example.com"), "{shown}");
    }
}
