//! The event log: a Redis stream `{prefix}:events` with entry ids
//! `<event id>-0`, written by the write scripts (ids are contiguous: the
//! `INCR` and the `XADD` happen in one script).
//!
//! Core's event feed (`slipway_core::store::EventFeed`) follows it through
//! two calls: [`read_events`] pages the stream with `XRANGE`, and
//! [`signals`] wakes the feed up. The signals run on their OWN connection
//! (a blocking read would stall every other command on the shared one): a
//! loop of `XREAD BLOCK t STREAMS {prefix}:events <cursor>-0`, so it sees the
//! writes of every node. When a read times out it checks the event counter,
//! and a counter behind its cursor (Redis lost data) is a wake-up too: the
//! feed then finds the log gone back and its subscribers resync. On an error
//! the signal stream ends and the feed subscribes again, with backoff.
//!
//! After Redis lost its data the counter starts again from 0, behind the
//! feed's cursor. The feed notices on its next check of [`last_event_id`]
//! and resyncs its subscribers to the id it finds — which, had events been
//! written in between with reused ids, would skip them. So the store keeps
//! the newest id it has seen ([`SeenEvents`]) and the write scripts never
//! hand out an id at or below it: the first event after an unnoticed loss
//! gets `seen + 2`, the gap before it resyncs every subscriber, and the
//! event itself is delivered. Once [`last_event_id`] has reported the log
//! gone back (the feed resyncs to that id), ids continue right after it.
//!
//! A failover to a replica that lagged is a loss the counter alone does not
//! show: another node, whose floor is behind, can write the lost ids again
//! until the counter is back past every cursor, and a feed at such a cursor
//! would skip those events. So the store also remembers the last event it
//! read (its id and a fingerprint of its fields) and checks that entry is
//! still the same one: [`read_events`] when it reads on from that id, and
//! [`last_event_id`], which the feed asks on every poll. An entry with other
//! fields under that id, or none though the stream still reaches back to
//! it, means the log was replaced from there: [`last_event_id`] then reports
//! the id before it, so the feed resyncs and reads the new entries.

use std::sync::Mutex;
use std::time::Duration;

use futures::StreamExt;
use redis::aio::MultiplexedConnection;
use redis::streams::{StreamId, StreamRangeReply, StreamReadOptions, StreamReadReply};
use redis::{AsyncCommands, AsyncConnectionConfig};
use slipway_core::error::StoreError;
use slipway_core::model::{Event, EventKind, ProjectId, UserId};
use slipway_core::store::{EventSignals, StoreResult};

use crate::{map_err, RedisStore};

/// The newest event id this store has seen in Redis — read, or reported by
/// [`last_event_id`] — given to the write scripts as their event id floor
/// (`emit` in `common.lua`).
///
/// [`last_event_id`] finding the counter behind it lowers it (the log went
/// back; the feed, which asks, resyncs its subscribers to that id). An
/// observation that was under way when it was lowered may predate the loss:
/// it is ignored rather than raise the floor again.
#[derive(Debug, Default)]
pub(crate) struct SeenEvents(Mutex<Seen>);

#[derive(Debug, Default)]
struct Seen {
    newest: u64,
    /// How often `newest` was lowered.
    lowered: u64,
    /// The newest event read: its id and [`fingerprint`].
    read: Option<(u64, u64)>,
    /// An id under which the log was found to hold another event than the
    /// one read: the log was replaced from there.
    replaced: Option<u64>,
}

/// An observation under way: see [`SeenEvents::observing`].
#[derive(Clone, Copy)]
pub(crate) struct Observing(u64);

impl SeenEvents {
    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The floor for the write scripts.
    pub(crate) fn floor(&self) -> u64 {
        self.lock().newest
    }

    /// Call before reading ids from Redis; pass the token to
    /// [`saw`](Self::saw) or [`reported`](Self::reported).
    pub(crate) fn observing(&self) -> Observing {
        Observing(self.lock().lowered)
    }

    /// Event `id`, whose fields have fingerprint `print`, exists in Redis.
    pub(crate) fn saw(&self, since: Observing, id: u64, print: u64) {
        let mut seen = self.lock();
        if seen.lowered == since.0 {
            seen.newest = seen.newest.max(id);
            if seen.read.is_none_or(|(read, _)| read <= id) {
                seen.read = Some((id, print));
            }
        }
    }

    /// The newest event read, to check it is still there: (id, fingerprint).
    fn read(&self) -> Option<(u64, u64)> {
        self.lock().read
    }

    /// Redis holds an entry with fingerprint `print` under `id`: when this
    /// store read another one there, the log was replaced from `id` on.
    fn check(&self, since: Observing, id: u64, print: u64) {
        let mut seen = self.lock();
        if seen.lowered == since.0 && seen.read.is_some_and(|(read, p)| read == id && p != print) {
            seen.replaced = Some(seen.replaced.map_or(id, |r| r.min(id)));
        }
    }

    /// Where the log was found replaced, if it was (see [`check`](Self::check)).
    fn replaced(&self) -> Option<u64> {
        self.lock().replaced
    }

    /// [`last_event_id`] answers `newest`: behind the floor, the log went
    /// back and the floor follows it.
    pub(crate) fn reported(&self, since: Observing, newest: u64) {
        let mut seen = self.lock();
        if newest < seen.newest {
            seen.newest = newest;
            seen.lowered += 1;
            if seen.read.is_some_and(|(read, _)| read > newest) {
                seen.read = None;
            }
            if seen.replaced.is_some_and(|at| at > newest) {
                seen.replaced = None;
            }
        } else if seen.lowered == since.0 {
            seen.newest = newest;
        }
    }
}

pub(crate) async fn last_event_id(s: &RedisStore) -> StoreResult<u64> {
    let since = s.seen_events().observing();
    let Some((read, print)) = s.seen_events().read() else {
        // Nothing read yet, so nothing found replaced either.
        let newest = parse_counter(s.get_raw("eventid").await?);
        s.seen_events().reported(since, newest);
        return Ok(newest);
    };
    // The counter, the entry last read and the stream's oldest entry, in
    // one round trip.
    let (counter_key, key) = (s.key("eventid"), s.key("events"));
    let at = format!("{read}-0");
    let mut conn = s.conn();
    let (counter, entry, oldest): (Option<String>, StreamRangeReply, StreamRangeReply) = s
        .timed(async {
            redis::pipe()
                .get(&counter_key)
                .xrange(&key, &at, &at)
                .xrange_count(&key, "-", "+", 1)
                .query_async(&mut conn)
                .await
        })
        .await?;
    let mut newest = parse_counter(counter);
    if let Some(at) = s.seen_events().replaced() {
        newest = newest.min(at - 1);
    } else if newest >= read {
        let replaced = match entry.ids.first() {
            Some(entry) => fingerprint(entry) != print,
            // Gone: trimmed when the stream now starts after it, else lost.
            None => oldest
                .ids
                .first()
                .and_then(entry_id)
                .is_none_or(|first| first <= read),
        };
        if replaced {
            tracing::warn!(
                id = read,
                "the Redis event log no longer holds the event last read (a failover or \
                 restore replaced it): subscribers resync"
            );
            newest = read - 1;
        }
    }
    s.seen_events().reported(since, newest);
    Ok(newest)
}

fn parse_counter(value: Option<String>) -> u64 {
    value.and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// A fingerprint of an event entry's fields: the same event read twice has
/// the same one; another event written under the same id almost surely not.
fn fingerprint(entry: &StreamId) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for name in ["owner", "project", "kind", "data"] {
        entry.get::<String>(name).hash(&mut h);
    }
    h.finish()
}

/// Up to `limit` events after `after`, in id order.
pub(crate) async fn read_events(
    s: &RedisStore,
    after: u64,
    limit: usize,
) -> StoreResult<Vec<Event>> {
    let since = s.seen_events().observing();
    // Reading on from the event read last: that entry too, to check it.
    let check = after > 0
        && s.seen_events()
            .read()
            .is_some_and(|(read, _)| read == after);
    let start = format!(
        "{}-0",
        if check {
            after
        } else {
            after.saturating_add(1)
        }
    );
    let key = s.key("events");
    let mut conn = s.conn();
    let count = limit.max(1) + usize::from(check);
    let reply: StreamRangeReply = s
        .timed(async { conn.xrange_count(key, start, "+", count).await })
        .await?;
    let mut events = Vec::with_capacity(reply.ids.len());
    let mut last_print = 0;
    for entry in reply.ids {
        let Some(id) = entry_id(&entry) else {
            tracing::error!(id = %entry.id, "unexpected entry id in the Redis event stream");
            continue;
        };
        if id > after {
            // One more entry was asked for the check: never more than `limit`
            // events, also when the entry checked is gone.
            if events.len() >= limit.max(1) {
                break;
            }
            events.push(parse(id, &entry)?);
            last_print = fingerprint(&entry);
        } else if check && id == after {
            s.seen_events().check(since, id, fingerprint(&entry));
        }
    }
    if let Some(last) = events.last() {
        s.seen_events().saw(since, last.id, last_print);
    }
    Ok(events)
}

/// Wake-ups of the log, from blocking reads on a dedicated connection.
pub(crate) async fn signals(s: &RedisStore) -> StoreResult<EventSignals> {
    let opts = &s.inner.options;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(opts.connect_timeout)
        .set_response_timeout(opts.block_timeout + opts.command_timeout);
    let conn = match tokio::time::timeout(
        opts.connect_timeout * 2,
        s.inner
            .client
            .get_multiplexed_async_connection_with_config(&config),
    )
    .await
    {
        Ok(r) => r.map_err(map_err)?,
        Err(_) => return Err(StoreError::unavailable("timed out connecting to Redis")),
    };
    let mut reader = Reader {
        conn,
        stream_key: s.key("events"),
        counter_key: s.key("eventid"),
        cursor: 0,
        block: opts.block_timeout,
    };
    reader.cursor = reader.counter().await?;
    Ok(futures::stream::unfold(reader, |mut reader| async move {
        match reader.wait().await {
            Ok(()) => Some(((), reader)),
            Err(e) => {
                tracing::warn!(error = %e, "event signals: Redis unavailable");
                None
            }
        }
    })
    .boxed())
}

/// Entries fetched per blocking read (only their ids matter).
const BATCH: usize = 256;

struct Reader {
    conn: MultiplexedConnection,
    stream_key: String,
    counter_key: String,
    /// The newest id seen.
    cursor: u64,
    block: Duration,
}

impl Reader {
    async fn counter(&mut self) -> StoreResult<u64> {
        let v: Option<String> = self.conn.get(&self.counter_key).await.map_err(map_err)?;
        Ok(parse_counter(v))
    }

    /// Resolves when events were appended after the cursor, or the log went
    /// back behind it.
    async fn wait(&mut self) -> StoreResult<()> {
        loop {
            let opts = StreamReadOptions::default()
                .count(BATCH)
                .block(self.block.as_millis().max(1) as usize);
            let from = format!("{}-0", self.cursor);
            let reply: Option<StreamReadReply> = self
                .conn
                .xread_options(&[&self.stream_key], &[&from], &opts)
                .await
                .map_err(map_err)?;
            let newest = reply
                .into_iter()
                .flat_map(|r| r.keys)
                .flat_map(|k| k.ids)
                .filter_map(|e| entry_id(&e))
                .max();
            if let Some(newest) = newest {
                self.cursor = self.cursor.max(newest);
                return Ok(());
            }
            // Nothing within `block`: has the log gone back (data loss)?
            let counter = self.counter().await?;
            if counter < self.cursor {
                self.cursor = counter;
                return Ok(());
            }
        }
    }
}

fn entry_id(entry: &StreamId) -> Option<u64> {
    entry
        .id
        .split_once('-')
        .and_then(|(n, _)| n.parse::<u64>().ok())
}

fn parse(id: u64, entry: &StreamId) -> StoreResult<Event> {
    let field = |name: &str| -> StoreResult<String> {
        entry
            .get::<String>(name)
            .ok_or_else(|| StoreError::other(format!("event {id} lacks `{name}`")))
    };
    let kind = field("kind")?;
    Ok(Event {
        id,
        owner_id: UserId::from(field("owner")?),
        project_id: ProjectId::from(field("project")?),
        kind: EventKind::parse(&kind)
            .ok_or_else(|| StoreError::other(format!("event {id} has kind {kind:?}")))?,
        data: serde_json::from_str(&field("data")?).map_err(StoreError::other)?,
    })
}
