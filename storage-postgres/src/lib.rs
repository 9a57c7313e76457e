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
//!   same transaction, with a `seq` from a sequence and **no id**, taking no
//!   lock other writers wait for: writes on every connection of every node
//!   proceed at once. Ids are given afterwards, in the order events become
//!   visible, by one SQL function (`slipway_assign_event_ids`, see the
//!   migrations): one caller at a time (a transaction-level advisory lock),
//!   it gives each committed event without an id the next ids in `seq`
//!   order. Every reader of the log calls it (waiting for the lock) before
//!   it reads; every write calls it as it appends its event, only if the
//!   lock is free, so the assignment commits with the write at no extra
//!   cost. An event that commits late simply gets a later id, so ids as
//!   readers see them are dense and increasing, readers can follow the log
//!   with `WHERE id > cursor` and never pass an event that appears later,
//!   and a rolled-back write leaves no event and no gap; a gap can only mean
//!   "pruned by retention". After its commit the write NOTIFYs the channel
//!   in a statement of its own (committed without a flush): PostgreSQL
//!   serializes the commits of notifying transactions, flush included, so a
//!   NOTIFY inside the write would put writers back in single file.
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
//! - **Retention**: each id assignment deletes events more than
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
