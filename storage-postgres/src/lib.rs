//! PostgreSQL storage for Slipway: [`PgStore`] implements
//! [`slipway_core::Store`] on [sqlx].
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use slipway_postgres::{PgOptions, PgStore};
//!
//! let store = PgStore::connect("postgres://slipway@127.0.0.1/slipway", PgOptions::default()).await?;
//! let slipway = slipway_core::Slipway::builder()
//!     .secret(std::env::var("SLIPWAY_SECRET")?.into_bytes())
//!     .store(store)
//!     .build()?;
//! # let _ = slipway;
//! # Ok(())
//! # }
//! ```
//!
//! # How it works
//!
//! - **Schema**: embedded migrations (`migrations/`, [`sqlx::migrate!`]) run on
//!   connect while holding a PostgreSQL advisory lock, so several nodes can
//!   start at once. Uniqueness and references are constraints in the schema;
//!   a violation is mapped to [`StoreError::Conflict`](slipway_core::StoreError)
//!   naming its [`Unique`](slipway_core::error::Unique) rule by **constraint
//!   name**, never by message text.
//! - **Events**: every project-affecting write inserts its event row in the
//!   same transaction and calls `pg_notify`, which PostgreSQL delivers on
//!   commit. Event ids come from a one-row counter updated inside that
//!   transaction: its row lock serializes event writers from the id
//!   assignment to the commit, so ids are dense and commit in order (a
//!   rolled-back write gives its id back). Readers can therefore follow the
//!   log with `WHERE id > cursor` and never skip an event that commits
//!   later with a lower id; a gap can only mean "pruned by retention".
//! - **Fan-out**: core's event feed (`slipway_core::store::EventFeed`)
//!   follows the table: this store gives it pages of `WHERE id > cursor` and
//!   wake-ups from a LISTEN on a dedicated connection (on every notification
//!   and after each reconnect), and the feed re-reads every
//!   [`PgOptions::poll_interval`] as a safety net. Nothing is lost or
//!   repeated when the listener connection drops.
//! - **Audit log**: every write inserts its audit entry in the same
//!   transaction (or, for a single-statement write, the same statement) as
//!   its change, only when the change takes effect. Entries are stored as
//!   their JSON form and read back as is; `audit_log` has no foreign keys,
//!   so entries outlive the users they name.
//! - **Retention**: each event insert deletes events more than
//!   [`PgOptions::event_retention`] ids old; a `since` older than the oldest
//!   retained event starts the stream with `Resync`.
//! - **Failures**: connection errors, pool and statement timeouts map to
//!   `StoreError::Unavailable` (core answers 503), every call is bounded by
//!   [`PgOptions::operation_timeout`], and the pool reconnects by itself when
//!   the database returns.

pub use sqlx;

mod api;
mod api_tokens;
mod audit;
mod counters;
mod error;
mod events;
mod feed;
mod invitations;
mod projects;
mod resources;
mod store;
#[cfg(feature = "testing")]
pub mod testing;
mod users;
mod webhooks;

pub use store::{PgOptions, PgStore};
