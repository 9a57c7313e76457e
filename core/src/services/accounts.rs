//! Accounts: sign-up under the instance's policy, sign-in with rate limits,
//! access tokens, GitHub sign-in, and the lookups host code needs.

use std::net::IpAddr;

use super::github::{for_code, upstream};
use super::{issued, new_id, validate, Core, Error, Principal, Resource, Result, SignupClosed};
use crate::config::SignupPolicy;
use crate::crypto::SecretString;
use crate::github::{primary_verified, GitHubUser, TokenScopes};
use crate::model::{Authorization, AuthorizationType, NewUser, Role, RoleGate, User};
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
        }
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

/// A signed-in user with a fresh access token.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SignedIn {
    /// The user.
    pub user: User,
    /// A JWT for `Authorization: Bearer`.
    pub access_token: String,
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
}

impl NewAccount {
    /// A member account with a name and an email.
    pub fn new(name: impl Into<String>, email: impl Into<String>) -> Self {
        NewAccount {
            name: name.into(),
            email: email.into(),
            role: Role::Member,
        }
    }
    /// Sets the role.
    pub fn role(mut self, role: Role) -> Self {
        self.role = role;
        self
    }
}

fn password_rule(password: &SecretString) -> Result<()> {
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
    async fn sign_up_user(&self, user: NewUser) -> Result<User> {
        let gate = match self.core.config.signup {
            SignupPolicy::Open => RoleGate::FirstUserAdmin,
            SignupPolicy::FirstUserOnly => RoleGate::FirstUserOnly,
            SignupPolicy::Closed => return Err(Error::SignupClosed(SignupClosed::Closed)),
        };
        self.create_user(user, gate).await
    }

    async fn create_user(&self, user: NewUser, gate: RoleGate) -> Result<User> {
        self.core
            .store
            .create_user(user, gate)
            .await
            .map_err(|e| Error::store(Resource::User, e))
    }

    /// Signs a user up with a password and signs them in.
    pub async fn signup(&self, input: Signup) -> Result<SignedIn> {
        validate::text("name", &input.name, 1, 100)?;
        let email = validate::email(&input.email)?;
        password_rule(&input.password)?;
        if self.core.config.signup == SignupPolicy::Closed {
            return Err(Error::SignupClosed(SignupClosed::Closed));
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
            .sign_up_user(NewUser {
                id: new_id(),
                name: input.name.trim().to_string(),
                email,
                password_hash: Some(hash),
                github_id: None,
                created_at: chrono::Utc::now(),
            })
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
        let limiter = &self.core.signin_limiter;
        let by_addr = &self.core.signin_addr_limiter;
        let addr = input.client.map(|c| c.to_string());
        if let Some(wait) = addr.as_deref().and_then(|a| by_addr.check(a)) {
            crate::metrics::rate_limited("signin_addr");
            return Err(Error::TooManyAttempts {
                message: "Too many failed sign-in attempts from this address; wait before \
                          trying again"
                    .into(),
                retry_after: wait,
            });
        }
        if let Some(wait) = limiter.check(&email) {
            crate::metrics::rate_limited("signin_email");
            return Err(Error::TooManyAttempts {
                message: "Too many failed sign-in attempts for this email; wait before trying \
                          again"
                    .into(),
                retry_after: wait,
            });
        }
        let user = self.find_by_email(&email).await?;
        let phc = user.as_ref().and_then(|u| u.password_hash.clone());
        let ok = self.core.hasher.verify(password.to_string(), phc).await?;
        match user {
            Some(user) if ok => {
                limiter.succeed(&email);
                Ok(self.signed_in(user))
            }
            _ => {
                limiter.fail(&email);
                crate::metrics::signin_failed();
                // A success does not reset the address: one valid account must
                // not let an address keep guessing the passwords of others.
                if let Some(a) = &addr {
                    by_addr.fail(a);
                }
                Err(Error::Unauthenticated("Invalid email or password".into()))
            }
        }
    }

    /// The principal's user.
    pub async fn me(&self, actor: &Principal) -> Result<User> {
        self.core.user_of(actor).await
    }

    /// Verifies an access token's signature, algorithm, issuer and expiry;
    /// the principal it names (the user is loaded when needed).
    pub fn verify_token(&self, token: &str) -> Result<Principal> {
        self.core
            .tokens
            .verify(token)
            .map(|claims| Principal::from_claims(&claims))
            .map_err(|_| {
                Error::Unauthenticated(
                    "The access token is invalid or has expired; sign in again".into(),
                )
            })
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
    pub async fn get(&self, id: &str) -> Result<User> {
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
        let created = self
            .create_user(
                NewUser {
                    id: new_id(),
                    name: input.name.trim().to_string(),
                    email: email.clone(),
                    password_hash: None,
                    github_id: None,
                    created_at: chrono::Utc::now(),
                },
                RoleGate::Exactly(input.role),
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
    /// themselves).
    pub async fn delete(&self, actor: &Principal, id: &str) -> Result<()> {
        if actor.id() != Some(id) {
            self.core.require_admin(actor).await?;
        }
        let id = issued(id, Resource::User)?;
        self.core
            .store
            .delete_user(id)
            .await
            .map_err(|e| Error::store(Resource::User, e))
    }

    /// Signs in with a GitHub OAuth code: exchanges it, finds the user by
    /// GitHub id, else links the account holding the GitHub account's
    /// verified primary email, else creates one (sign-up policy applies);
    /// keeps the GitHub token as the user's `oauth` authorization.
    pub async fn github_signin(&self, code: &SecretString) -> Result<SignedIn> {
        check_code("code", code)?;
        let app = self.core.require_github_app().await?;
        let gh = &self.core.github;
        let token = gh
            .exchange_code(&app, code)
            .await
            .map_err(|e| for_code(e, "code"))?;
        let (gh_user, scopes) = gh.user(&token).await.map_err(upstream)?;
        let user = self.github_user(&token, &gh_user).await?;
        self.keep_github_token(&user, &gh_user, &scopes, &token)
            .await?;
        tracing::info!(user_id = %user.id, github_id = gh_user.id, "signed in with GitHub");
        Ok(self.signed_in(user))
    }

    async fn github_user(&self, token: &SecretString, gh_user: &GitHubUser) -> Result<User> {
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
            let linked = store
                .link_github(&existing.id, gh_user.id)
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
            .sign_up_user(NewUser {
                id: new_id(),
                name,
                email,
                password_hash: None,
                github_id: Some(gh_user.id),
                created_at: chrono::Utc::now(),
            })
            .await?;
        tracing::info!(user_id = %user.id, role = user.role.as_str(), github_id = gh_user.id, "user signed up with GitHub");
        Ok(user)
    }

    async fn keep_github_token(
        &self,
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
            .store
            .upsert_authorization(Authorization {
                id: new_id(),
                user_id: user.id.clone(),
                name,
                kind: AuthorizationType::Oauth,
                secret: self.core.seal_credential(&user.id, token),
                info: super::authorizations::github_token_info(gh_user, scopes),
                created_at: chrono::Utc::now(),
            })
            .await
            .map_err(|e| Error::store(Resource::Authorization, e))?;
        Ok(())
    }
}

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
