//! Instance configuration, set through [`SlipwayBuilder`](crate::SlipwayBuilder).

use std::net::SocketAddr;
use std::time::Duration;

use crate::auth::Argon2Params;

/// Who may sign up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignupPolicy {
    /// Anyone may sign up (default).
    #[default]
    Open,
    /// Only the first user (who becomes admin) may sign up.
    FirstUserOnly,
    /// Nobody may sign up.
    Closed,
}

impl std::str::FromStr for SignupPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "open" => Ok(Self::Open),
            "first-user-only" => Ok(Self::FirstUserOnly),
            "closed" => Ok(Self::Closed),
            other => Err(format!(
                "unknown signup policy `{other}`; expected open, first-user-only or closed"
            )),
        }
    }
}

/// The settings of one Slipway instance, set through the builder
/// ([`SlipwayBuilder::configure`](crate::SlipwayBuilder::configure) for the
/// ones without a method of their own); read them with
/// [`Slipway::config`](crate::Slipway::config).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Access token lifetime (default 24 h).
    pub token_ttl: Duration,
    /// The `iss` claim of access tokens (default `slipway`).
    pub issuer: String,
    /// Who may sign up.
    pub signup: SignupPolicy,
    /// Largest accepted request body in bytes (default 64 KiB).
    pub body_limit: usize,
    /// Argon2id parameters.
    pub argon2: Argon2Params,
    /// How many password hashes may run at once: the number of hashing
    /// threads each `Slipway` starts (default: the number of CPUs).
    pub max_concurrent_hashes: usize,
    /// Most password hashes queued or running at once (sign-in, sign-up);
    /// beyond it those answer 503 with `Retry-After` at once, without
    /// queueing (default 64).
    pub max_queued_hashes: usize,
    /// Failed sign-ins per email **and client address** before 429
    /// (default 5). Attempts are counted before the password is checked and
    /// given back on success.
    ///
    /// This and every other rate limit below (`signin_max_failures_*`,
    /// `signup_max_per_addr`, `github_signin_max_per_addr`,
    /// `ws_connects_per_minute`): `u32::MAX` turns the limit off (nothing is
    /// counted, no store write), `0` refuses every attempt.
    pub signin_max_failures: u32,
    /// Failed sign-ins per email from all addresses together before 429
    /// (default 100).
    pub signin_max_failures_per_email: u32,
    /// Failed sign-ins per client address (any email) before 429 (default
    /// 50). Needs the adapter to pass the address (a
    /// [`ClientAddr`](crate::http::ClientAddr) request extension).
    pub signin_max_failures_per_addr: u32,
    /// The window those failures are counted in (default 15 min).
    pub signin_window: Duration,
    /// Sign-ups per client address per hour before 429 (default 10).
    pub signup_max_per_addr: u32,
    /// `POST /auth/github` calls per client address per minute before 429
    /// (default 10); each may call GitHub.
    pub github_signin_max_per_addr: u32,
    /// WebSocket connections one user may open per minute (all nodes of a
    /// shared store together); more are refused with 429 before the upgrade
    /// (default 60).
    pub ws_connects_per_minute: u32,
    /// Most projects one user may own (403 beyond; default 1000).
    pub max_projects_per_user: usize,
    /// Most network connections of one project (403 beyond; default 100).
    pub max_networks_per_project: usize,
    /// Most authorizations one user may keep (403 beyond; default 100).
    pub max_authorizations_per_user: usize,
    /// Most API tokens one user may keep (403 beyond; default 100).
    pub max_api_tokens_per_user: usize,
    /// DNS servers used to verify domains (queried over UDP); empty means the
    /// system's resolver configuration (default).
    pub dns_servers: Vec<SocketAddr>,
    /// How long one domain verification waits for DNS (default 5 s).
    pub dns_timeout: Duration,
    /// Largest total size of the request headers in bytes (names, values
    /// and 4 bytes of separators per header), else 431 (default 16 KiB).
    pub max_header_bytes: usize,
    /// Deepest accepted nesting of arrays and objects in a JSON body, else
    /// 400 (default 32).
    pub json_max_depth: usize,
    /// Longest accepted JSON string (in characters), anywhere in a body,
    /// else 400 naming the field (default 8192). Fields have their own,
    /// smaller limits on top.
    pub json_max_string_length: usize,
    /// Most elements of one JSON array in a body, else 400 naming the field
    /// (default 1000).
    pub json_max_array_length: usize,
    /// WebSocket: largest message (and frame) a client may send, in bytes;
    /// a larger one closes the connection with 1009 (default 16 KiB).
    pub ws_max_message_size: usize,
    /// WebSocket: most simultaneous connections of one user on this node;
    /// more are refused with 429 before the upgrade (default 16).
    pub ws_max_connections_per_user: usize,
    /// Whether `GET /docs` serves the interactive API reference (Scalar,
    /// over this instance's OpenAPI document); default `false` in the
    /// library (`Slipway::builder().docs(true)`), on in `slipway-server`.
    pub docs: bool,
    /// WebSocket: how many frames may wait for a slow client before its
    /// queue is dropped and replaced by one `resync` (default 256).
    pub ws_buffer: usize,
    /// WebSocket: how often the server pings (default 30 s).
    pub ws_ping_interval: Duration,
    /// WebSocket: how long a ping may go unanswered, or one frame take to
    /// send, before the peer counts as dead and is dropped (default 10 s).
    pub ws_pong_timeout: Duration,
    /// GitHub web base URL: the OAuth token endpoint is
    /// `<github_url>/login/oauth/access_token` (default `https://github.com`).
    pub github_url: String,
    /// GitHub API base URL (default `https://api.github.com`; GitHub
    /// Enterprise: `https://<host>/api/v3`).
    pub github_api_url: String,
    /// How long one GitHub call may take before the request answers 504
    /// (default 10 s).
    pub github_timeout: Duration,
    /// Whether `personal_access_token` authorizations are checked with GitHub
    /// (`GET /user`, `repo` scope on classic tokens). Turn off for offline
    /// installs (default on).
    pub verify_personal_access_tokens: bool,
    /// How long a node trusts its copy of a user's session state (disabled,
    /// session epoch) before reading it again: a password change, role
    /// change, sign-out everywhere or deletion made on another node ends the
    /// user's older tokens and WebSockets here within this time (default 2 s;
    /// on the node that made the change, at once).
    pub session_check_interval: Duration,
    /// How long an invitation works (default 7 days).
    pub invitation_ttl: Duration,
    /// Whether webhooks may call loopback, private and other non-public
    /// addresses (default false).
    pub webhook_allow_private: bool,
    /// The first wait before a failed webhook delivery is retried (doubling
    /// with each retry, at most 10 minutes; default 5 s).
    pub webhook_retry_base: Duration,
    /// How long a failing delivery is retried before it is given up
    /// (default 1 hour).
    pub webhook_give_up_after: Duration,
    /// How long audit entries are kept (default 90 days).
    pub audit_retention: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            token_ttl: Duration::from_secs(24 * 3600),
            issuer: "slipway".to_string(),
            signup: SignupPolicy::Open,
            body_limit: 64 * 1024,
            argon2: Argon2Params::default(),
            max_concurrent_hashes: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            max_queued_hashes: 64,
            signin_max_failures: 5,
            signin_max_failures_per_email: 100,
            signin_max_failures_per_addr: 50,
            signup_max_per_addr: 10,
            github_signin_max_per_addr: 10,
            ws_connects_per_minute: 60,
            max_projects_per_user: 1000,
            max_networks_per_project: 100,
            max_authorizations_per_user: 100,
            max_api_tokens_per_user: 100,
            max_header_bytes: 16 * 1024,
            json_max_depth: 32,
            json_max_string_length: 8192,
            json_max_array_length: 1000,
            ws_max_message_size: 16 * 1024,
            ws_max_connections_per_user: 16,
            docs: false,
            signin_window: Duration::from_secs(15 * 60),
            dns_servers: Vec::new(),
            dns_timeout: Duration::from_secs(5),
            ws_buffer: 256,
            ws_ping_interval: Duration::from_secs(30),
            ws_pong_timeout: Duration::from_secs(10),
            github_url: "https://github.com".to_string(),
            github_api_url: "https://api.github.com".to_string(),
            github_timeout: Duration::from_secs(10),
            verify_personal_access_tokens: true,
            session_check_interval: Duration::from_secs(2),
            invitation_ttl: Duration::from_secs(7 * 24 * 3600),
            webhook_allow_private: false,
            webhook_retry_base: Duration::from_secs(5),
            webhook_give_up_after: Duration::from_secs(3600),
            audit_retention: Duration::from_secs(90 * 24 * 3600),
        }
    }
}
