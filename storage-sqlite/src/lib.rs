//! SQLite storage for Slipway: [`SqliteStore`] implements
//! [`slipway_core::Store`] on [sqlx] in one database file — the standalone
//! server's default, with nothing to install.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use slipway_sqlite::{SqliteOptions, SqliteStore};
//!
//! let store = SqliteStore::open("sqlite://slipway.db", SqliteOptions::default()).await?;
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
//! - **URL**: `sqlite://<path>` or `sqlite:<path>`; a relative path is
//!   relative to the working directory, `sqlite:///var/lib/slipway/slipway.db`
//!   is absolute. The file is created when missing.
//! - **One process per file**: opening takes an exclusive lock on
//!   `<path>.lock` (an OS file lock, released by the OS when the process
//!   ends, even by SIGKILL). A second store on the same file — in another
//!   process or this one — is refused with [`OpenError::Locked`]: events are
//!   followed within the process, so two servers on one file would each miss
//!   the other's. Several nodes need PostgreSQL or Redis.
//! - **Schema**: embedded migrations (`migrations/`, [`sqlx::migrate!`]) run
//!   on open. Uniqueness and references are schema constraints (unique
//!   indexes, foreign keys with `foreign_keys = ON`). SQLite's error says
//!   *that* a unique index failed, not which one (except in its message text,
//!   which is never parsed): the failed write asks, on the same connection,
//!   which index of its table holds the value and maps that index's name to
//!   [`StoreError::Conflict`](slipway_core::StoreError).
//! - **Writes**: one writer connection (SQLite has one writer at a time
//!   anyway); every project-affecting write inserts its event row in the same
//!   transaction. Event ids come from a counter row updated in that
//!   transaction: dense, strictly increasing, given back by a rollback.
//!   Reads use a pool of read-only connections; the journal is WAL, so
//!   readers never wait for the writer.
//! - **Durability**: `synchronous = FULL` by default
//!   ([`SqliteOptions::synchronous`]): an acknowledged write has reached the
//!   disk and survives a crash of the process or the machine.
//! - **Events**: core's event feed (`slipway_core::store::EventFeed`)
//!   follows the table; after each commit that appended events the writer
//!   signals it, and it re-reads after the last id it delivered. No gap, no
//!   duplicate.
//! - **A log that went back**: if the file's log ends before the newest id
//!   the store handed out (an older copy of the file restored, or its data
//!   wiped by another connection, while the store runs), subscribers get
//!   `Resync` once, then every new event. Whichever notices first: the
//!   feed's poll reading `last_event_id` (the log goes on from its new end),
//!   or the next write, whose event id then skips past the newest id handed
//!   out, leaving one unused, so every cursor from before sees a gap.
//! - **Audit log**: every write method inserts its audit entry in the
//!   write's own transaction, on the path where the change takes effect, so
//!   a failed or rolled-back write leaves no entry (`audit_log`; the entry
//!   is stored as its JSON and read back exactly, with indexed columns for
//!   the actor, action and time). Entries have no foreign key: they outlive
//!   the users they name. `purge_audit` deletes in batches, giving the
//!   writer back in between.
//! - **Retention**: each event insert deletes events more than
//!   [`SqliteOptions::event_retention`] ids old; a `since` older than the
//!   oldest retained event starts the stream with `Resync`.
//! - **Failures**: a busy, full or unreadable database maps to
//!   `StoreError::Unavailable` (core answers 503), and every call is bounded
//!   by [`SqliteOptions::operation_timeout`].

pub use sqlx;
pub use sqlx::sqlite::SqliteSynchronous;

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

pub use store::{lock_path, path_from_url, OpenError, SqliteOptions, SqliteStore};
