//! # slipway-core
//!
//! The framework-agnostic core of Slipway, the control-plane API of a
//! self-hosted deployment platform: the model, the [`Store`] trait, every
//! endpoint as a [`tower::Service`], and the in-memory store.
//!
//! Hosts mount it through an adapter (`slipway-axum`, `slipway-warp`) or serve
//! [`Slipway::service`] directly from hyper.
//!
//! ```
//! use slipway_core::{Slipway, SignupPolicy, MemoryStore};
//!
//! let slipway = Slipway::builder()
//!     .secret(b"an instance secret of at least 32 bytes!".to_vec())
//!     .store(MemoryStore::new())
//!     .signup(SignupPolicy::FirstUserOnly)
//!     .build()
//!     .expect("valid configuration");
//! assert!(slipway.routes().iter().any(|r| r.path == "/auth/signup"));
//! ```

pub mod auth;
pub mod config;
pub mod crypto;
pub mod dns;
pub mod error;
pub mod github;
pub mod http;
pub mod metrics;
pub mod model;
pub mod services;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod ws;

mod deploy_key;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

pub use crate::auth::{Argon2Params, Claims};
pub use crate::config::{Config, SignupPolicy};
pub use crate::crypto::{InstanceSecret, SecretString};
pub use crate::error::StoreError;
pub use crate::http::{ApiError, Authenticator, EndpointService, ErrorBody, Route, SlipwayService};
pub use crate::services::Principal;
pub use crate::store::Store;
#[cfg(feature = "memory")]
pub use crate::store::{MemoryStore, MemoryStoreOptions};

use crate::auth::{password::Hasher, token::Tokens};
use crate::crypto::Keyring;
use crate::services::Core;

/// A Slipway instance: configuration, store, keys. Cheap to clone.
#[derive(Clone)]
pub struct Slipway {
    inner: Arc<Shared>,
}

struct Shared {
    core: Core,
    authenticator: Arc<dyn Authenticator>,
    ws_registry: ws::Registry,
    /// The node's rechecks of its WebSockets' access.
    ws_checks: Arc<ws::Checks>,
    webhook_worker: webhooks::WorkerHandle,
    #[cfg(feature = "testing")]
    testing_jwt_key: Vec<u8>,
}

impl std::fmt::Debug for Slipway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slipway")
            .field("config", &self.inner.core.config)
            .finish_non_exhaustive()
    }
}

/// Why a [`SlipwayBuilder`] could not build.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No instance secret was given.
    #[error("an instance secret is required (at least 32 bytes)")]
    MissingSecret,
    /// The secret is too short.
    #[error(transparent)]
    SecretTooShort(#[from] crypto::SecretTooShort),
    /// No store was given.
    #[error(
        "a store is required: call .store(...) with a persistent store (PgStore, RedisStore, \
         SqliteStore) or, for a throwaway instance, .store(MemoryStore::new())"
    )]
    MissingStore,
    /// Invalid Argon2 parameters, or the hashing threads could not start.
    #[error("password hashing: {0}")]
    Argon2(String),
    /// Any other invalid setting.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Builds a [`Slipway`]; see [`Slipway::builder`].
#[derive(Default)]
pub struct SlipwayBuilder {
    config: Config,
    secret: Option<Vec<u8>>,
    previous_secrets: Vec<Vec<u8>>,
    store: Option<Arc<dyn Store>>,
    authenticator: Option<Arc<dyn Authenticator>>,
    github: Option<Arc<dyn github::GitHubClient>>,
    dns: Option<Arc<dyn dns::DnsResolver>>,
}

impl std::fmt::Debug for SlipwayBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlipwayBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl SlipwayBuilder {
    /// The instance secret (at least 32 bytes), root of the token and
    /// encryption keys.
    pub fn secret(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.secret = Some(secret.into());
        self
    }
    /// A former instance secret: data sealed with it can still be opened
    /// after a rotation. May be called several times.
    pub fn previous_secret(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.previous_secrets.push(secret.into());
        self
    }
    /// The store (required).
    pub fn store(mut self, store: impl Store) -> Self {
        self.store = Some(Arc::new(store));
        self
    }
    /// The store, already shared.
    pub fn shared_store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }
    /// Access token lifetime.
    pub fn token_ttl(mut self, ttl: Duration) -> Self {
        self.config.token_ttl = ttl;
        self
    }
    /// Signup policy.
    pub fn signup(mut self, policy: SignupPolicy) -> Self {
        self.config.signup = policy;
        self
    }
    /// Request body limit in bytes.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.config.body_limit = bytes;
        self
    }
    /// Argon2id parameters.
    pub fn argon2(mut self, params: Argon2Params) -> Self {
        self.config.argon2 = params;
        self
    }
    /// DNS servers for domain verification (`ip:port`); empty (the default)
    /// uses the system's resolver configuration.
    pub fn dns_servers(mut self, servers: Vec<std::net::SocketAddr>) -> Self {
        self.config.dns_servers = servers;
        self
    }
    /// Whether webhooks may call loopback, private and other non-public
    /// addresses (default `false`).
    pub fn webhook_allow_private(mut self, allow: bool) -> Self {
        self.config.webhook_allow_private = allow;
        self
    }
    /// The first wait before a failed webhook delivery is retried; each
    /// retry waits twice as long, up to 10 minutes (default 5 s).
    pub fn webhook_retry_base(mut self, base: Duration) -> Self {
        self.config.webhook_retry_base = base;
        self
    }
    /// How long a failing webhook delivery is retried before it is given up
    /// and the next event is delivered (default 1 hour).
    pub fn webhook_give_up_after(mut self, after: Duration) -> Self {
        self.config.webhook_give_up_after = after;
        self
    }
    /// How long audit entries are kept before they are deleted (default 90
    /// days; at least one second).
    pub fn audit_retention(mut self, retention: Duration) -> Self {
        self.config.audit_retention = retention;
        self
    }
    /// How long a domain verification waits for DNS (default 5 s).
    pub fn dns_timeout(mut self, timeout: Duration) -> Self {
        self.config.dns_timeout = timeout;
        self
    }
    /// GitHub web base URL (default `https://github.com`; GitHub Enterprise:
    /// `https://<host>`).
    pub fn github_url(mut self, url: impl Into<String>) -> Self {
        self.config.github_url = url.into();
        self
    }
    /// GitHub API base URL (default `https://api.github.com`; GitHub
    /// Enterprise: `https://<host>/api/v3`).
    pub fn github_api_url(mut self, url: impl Into<String>) -> Self {
        self.config.github_api_url = url.into();
        self
    }
    /// How long one GitHub call may take before the request answers 504
    /// (default 10 s).
    pub fn github_timeout(mut self, timeout: Duration) -> Self {
        self.config.github_timeout = timeout;
        self
    }
    /// Whether personal access tokens are checked with GitHub (default
    /// `true`; turn off for installs that cannot reach GitHub).
    pub fn verify_personal_access_tokens(mut self, verify: bool) -> Self {
        self.config.verify_personal_access_tokens = verify;
        self
    }
    /// Most password hashes queued or running at once; beyond it sign-in
    /// and sign-up answer 503 with `Retry-After` (default 64).
    pub fn max_queued_hashes(mut self, n: usize) -> Self {
        self.config.max_queued_hashes = n;
        self
    }
    /// Most projects one user may own (default 1000; 403 beyond).
    pub fn max_projects_per_user(mut self, n: usize) -> Self {
        self.config.max_projects_per_user = n;
        self
    }
    /// Most network connections of one project (default 100; 403 beyond).
    pub fn max_networks_per_project(mut self, n: usize) -> Self {
        self.config.max_networks_per_project = n;
        self
    }
    /// Most authorizations one user may keep (default 100; 403 beyond).
    pub fn max_authorizations_per_user(mut self, n: usize) -> Self {
        self.config.max_authorizations_per_user = n;
        self
    }
    /// Most API tokens one user may keep (default 100; 403 beyond).
    pub fn max_api_tokens_per_user(mut self, n: usize) -> Self {
        self.config.max_api_tokens_per_user = n;
        self
    }
    /// How requests are mapped to principals (default:
    /// [`BearerAuthenticator`](crate::http::BearerAuthenticator), Slipway's
    /// own access tokens).
    pub fn authenticator(mut self, authenticator: impl Authenticator) -> Self {
        self.authenticator = Some(Arc::new(authenticator));
        self
    }
    /// The GitHub client (default: [`github::GitHub`], the real one, at the
    /// configured URLs).
    pub fn github_client(mut self, client: impl github::GitHubClient) -> Self {
        self.github = Some(Arc::new(client));
        self
    }
    /// The DNS resolver of domain verification (default:
    /// [`dns::HickoryResolver`] with the configured servers).
    pub fn dns_resolver(mut self, resolver: impl dns::DnsResolver) -> Self {
        self.dns = Some(Arc::new(resolver));
        self
    }
    /// How long a node trusts its copy of a user's session state (default
    /// 2 s; see [`Config::session_check_interval`]).
    pub fn session_check_interval(mut self, interval: Duration) -> Self {
        self.config.session_check_interval = interval;
        self
    }
    /// How long an invitation works (default 7 days).
    pub fn invitation_ttl(mut self, ttl: Duration) -> Self {
        self.config.invitation_ttl = ttl;
        self
    }
    /// Serves the interactive API reference at `GET /docs` (default off in
    /// the library).
    pub fn docs(mut self, serve: bool) -> Self {
        self.config.docs = serve;
        self
    }
    /// Edits the configuration in place.
    pub fn configure(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(&mut self.config);
        self
    }

    /// Validates the settings and builds the instance.
    pub fn build(self) -> Result<Slipway, BuildError> {
        let secret = InstanceSecret::new(self.secret.ok_or(BuildError::MissingSecret)?)?;
        let previous = self
            .previous_secrets
            .into_iter()
            .map(InstanceSecret::new)
            .collect::<Result<Vec<_>, _>>()?;
        let store = self.store.ok_or(BuildError::MissingStore)?;
        let config = self.config;
        if config.token_ttl.is_zero() {
            return Err(BuildError::Invalid(
                "token lifetime must be positive".into(),
            ));
        }
        if config.session_check_interval.is_zero() || config.invitation_ttl.is_zero() {
            return Err(BuildError::Invalid(
                "session check interval and invitation lifetime must be positive".into(),
            ));
        }
        if config.audit_retention.is_zero() {
            return Err(BuildError::Invalid(
                "audit retention must be positive".into(),
            ));
        }
        if config.dns_timeout.is_zero() {
            return Err(BuildError::Invalid("DNS timeout must be positive".into()));
        }
        if config.body_limit == 0 {
            return Err(BuildError::Invalid("body limit must be positive".into()));
        }
        if !(1..=128).contains(&config.json_max_depth) {
            return Err(BuildError::Invalid(
                "JSON depth limit must be between 1 and 128".into(),
            ));
        }
        if config.max_header_bytes == 0
            || config.json_max_string_length == 0
            || config.json_max_array_length == 0
            || config.ws_max_message_size == 0
            || config.ws_max_connections_per_user == 0
            || config.signin_max_failures_per_addr == 0
            || config.signin_max_failures == 0
            || config.signin_max_failures_per_email == 0
            || config.signup_max_per_addr == 0
            || config.github_signin_max_per_addr == 0
            || config.ws_connects_per_minute == 0
            || config.max_queued_hashes == 0
        {
            return Err(BuildError::Invalid(
                "header, JSON, WebSocket, hash queue, sign-in and sign-up limits must be positive"
                    .into(),
            ));
        }
        let github: Arc<dyn github::GitHubClient> = match self.github {
            Some(client) => client,
            None => Arc::new(github::GitHub::new(&config).map_err(BuildError::Invalid)?),
        };
        let dns: Arc<dyn dns::DnsResolver> = match self.dns {
            Some(resolver) => resolver,
            None => Arc::new(dns::HickoryResolver::new(&config)),
        };
        let hasher = Hasher::new(
            config.argon2,
            config.max_concurrent_hashes,
            config.max_queued_hashes,
        )
        .map_err(BuildError::Argon2)?;
        let authenticator = self
            .authenticator
            .unwrap_or_else(|| Arc::new(http::BearerAuthenticator));
        let webhook_worker = webhooks::WorkerHandle::default();
        let slipway = Slipway {
            inner: Arc::new(Shared {
                core: Core {
                    tokens: Tokens::new(&secret, &config.issuer, config.token_ttl),
                    keyring: Keyring::new(&secret, &previous),
                    github,
                    dns,
                    hasher,
                    store: Arc::new(store::Metered(store)),
                    sessions: services::Sessions::new(config.session_check_interval),
                    config,
                    hub: Arc::default(),
                    webhooks_changed: webhook_worker.wake.clone(),
                    limit_waiters: Arc::default(),
                },
                authenticator,
                ws_registry: ws::Registry::default(),
                ws_checks: Arc::default(),
                webhook_worker,
                #[cfg(feature = "testing")]
                testing_jwt_key: secret.jwt_key().to_vec(),
            }),
        };
        Ok(slipway)
    }
}

impl Slipway {
    /// Starts configuring an instance.
    pub fn builder() -> SlipwayBuilder {
        SlipwayBuilder::default()
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.inner.core.config
    }

    /// The store, for persistence-level access (tests, migrations, admin
    /// tools). Application code goes through the services, which hold the
    /// rules: [`Slipway::projects`], [`Slipway::accounts`], ...
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.core.store
    }

    /// Shuts the instance down: [`Slipway::shutdown_websockets`] (WebSockets
    /// closed with 1001, the webhook worker and the audit retention stopped),
    /// then the WebSockets' access rechecks, the event hub and the store's
    /// idle background tasks ([`Store::stop_idle_tasks`]). Resolves when all
    /// of them have ended, so no task of the instance holds the store any
    /// more: once the host drops its handles, the store is freed at once (an
    /// embedded SQLite file's lock included) and can be opened again.
    ///
    /// The services keep answering after it, but WebSockets are refused and
    /// webhooks no longer delivered: call it when the host stops serving.
    /// An event subscription the host still holds keeps the hub following
    /// the log until it is dropped. The standalone server's `serve`
    /// functions and its `Running::stop` call it.
    ///
    /// Like [`Slipway::shutdown_websockets`], everything is told to stop when
    /// this is called, and the future holds no handle of the instance (only
    /// of its store, until it resolves), so it can be spawned.
    pub fn shutdown(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let websockets = self.shutdown_websockets();
        let checks = self.inner.ws_checks.clone();
        let hub = self.inner.core.hub.clone();
        let store = self.inner.core.store.clone();
        async move {
            websockets.await;
            checks.stop_if_idle().await;
            hub.stop_if_idle().await;
            store.stop_idle_tasks().await;
        }
    }

    /// Accounts: sign-up, sign-in, tokens, GitHub sign-in, user lookups.
    pub fn accounts(&self) -> services::Accounts<'_> {
        services::Accounts {
            core: &self.inner.core,
        }
    }

    /// Projects of a principal.
    pub fn projects(&self) -> services::Projects<'_> {
        services::Projects {
            core: &self.inner.core,
        }
    }

    /// Network connections of a principal's projects.
    pub fn networks(&self) -> services::Networks<'_> {
        services::Networks {
            core: &self.inner.core,
        }
    }

    /// Registered domains.
    pub fn domains(&self) -> services::Domains<'_> {
        services::Domains {
            core: &self.inner.core,
        }
    }

    /// Stored credentials of a principal.
    pub fn authorizations(&self) -> services::Authorizations<'_> {
        services::Authorizations {
            core: &self.inner.core,
        }
    }

    /// The GitHub OAuth app configuration.
    pub fn github(&self) -> services::GitHubConfiguration<'_> {
        services::GitHubConfiguration {
            core: &self.inner.core,
        }
    }

    /// User administration (admins and the system principal).
    pub fn users(&self) -> services::Users<'_> {
        services::Users {
            core: &self.inner.core,
        }
    }

    /// Signed webhooks (each user their own).
    pub fn webhooks(&self) -> services::Webhooks<'_> {
        services::Webhooks {
            core: &self.inner.core,
        }
    }

    /// API tokens for scripts and CI (each user their own).
    pub fn tokens(&self) -> services::ApiTokens<'_> {
        services::ApiTokens {
            core: &self.inner.core,
        }
    }

    /// Invitations to sign up (admins and the system principal).
    pub fn invitations(&self) -> services::Invitations<'_> {
        services::Invitations {
            core: &self.inner.core,
        }
    }

    /// The audit log.
    pub fn audit(&self) -> services::Audit<'_> {
        services::Audit {
            core: &self.inner.core,
        }
    }

    /// Health checks: the store answers, and is migrated.
    pub fn health(&self) -> services::Health<'_> {
        services::Health {
            core: &self.inner.core,
        }
    }

    /// The live event feed.
    pub fn events(&self) -> services::Events<'_> {
        services::Events {
            core: &self.inner.core,
        }
    }

    /// Issues an access token for a user, with the configured lifetime or `ttl`.
    pub fn issue_token(&self, user: &model::User, ttl: Option<Duration>) -> String {
        self.accounts().issue_token(user, ttl)
    }

    /// Verifies an access token and loads its (still existing) user.
    pub async fn authenticate_token(
        &self,
        token: &str,
    ) -> Result<(model::User, Principal), services::Error> {
        let principal = self.accounts().verify_token(token).await?;
        let user = self.accounts().me(&principal).await?;
        Ok((user, principal))
    }

    /// The OpenAPI 3.1 document of every HTTP endpoint, for hosts that merge
    /// it into their own (it is also served at `GET /openapi.json`).
    pub fn openapi(&self) -> utoipa::openapi::OpenApi {
        http::openapi_document()
    }

    /// The derived HS256 key, so tests can forge tokens with the right key
    /// (other algorithms, past expiry) and check they are refused.
    #[cfg(feature = "testing")]
    pub fn testing_jwt_key(&self) -> Vec<u8> {
        self.inner.testing_jwt_key.clone()
    }

    /// Every route: method, path template (`/project/{id}`) and its service.
    /// Starts the webhook delivery worker ([`Slipway::start_webhook_delivery`]).
    pub fn routes(&self) -> Vec<Route> {
        self.start_webhook_delivery();
        http::routes(self)
    }

    /// One service answering every route (JSON 404/405 for the rest), for
    /// hosts that do not route themselves. Starts the webhook delivery
    /// worker ([`Slipway::start_webhook_delivery`]).
    pub fn service(&self) -> SlipwayService {
        self.start_webhook_delivery();
        SlipwayService::new(self.clone())
    }

    /// Starts this instance's background work, once, on the current tokio
    /// runtime (nothing happens outside one): the webhook delivery worker
    /// and the hourly deletion of audit entries past their retention. Mounting the API
    /// ([`Slipway::routes`], [`Slipway::service`]) calls it; hosts that only
    /// use the services call it themselves. The worker stops with
    /// [`Slipway::shutdown_websockets`] or when the last handle of the
    /// instance is dropped; instances never mounted (admin commands, tests
    /// of the services) run none.
    pub fn start_webhook_delivery(&self) {
        webhooks::start(&self.inner);
    }
}
