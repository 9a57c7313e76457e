//! The audit log: entries are written by the write scripts themselves (the
//! shared `audit_append` of `common.lua`), in the same script as the change
//! and only on its success path; read newest first from one of their
//! lexicographic indexes; purged by `at` in bounded batches.

use redis::AsyncCommands;
use slipway_core::model::{AuditEntry, AuditQuery, Timestamp};
use slipway_core::store::StoreResult;
use slipway_core::StoreError;

use crate::records::{from_json, to_json};
use crate::scripts::{APPEND_AUDIT, LIST_AUDIT, PURGE_AUDIT};
use crate::{refused, RedisStore, Reply};

/// How many entries one purge script deletes at most (each batch is one
/// script, so Redis is never held for long).
const PURGE_BATCH: usize = 500;

/// The largest page `list_audit` reads from an index at once.
const MAX_LIST_BATCH: usize = 1000;

/// The script arguments of an audit entry, in `audit_append`'s order: id,
/// `at` in Unix microseconds, the actor's user id (`''` for none), the
/// action's name and the entry as JSON (its API form, stored as given).
pub(crate) struct AuditArgs([String; 5]);

impl AuditArgs {
    pub(crate) fn new(entry: &AuditEntry) -> StoreResult<Self> {
        Ok(AuditArgs([
            entry.id.clone(),
            entry.at.timestamp_micros().to_string(),
            entry.actor_id().unwrap_or_default().to_string(),
            entry.action.as_str().to_string(),
            to_json(entry)?,
        ]))
    }

    pub(crate) fn args(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

pub(crate) async fn append_audit(s: &RedisStore, entry: &AuditEntry) -> StoreResult<()> {
    let audit = AuditArgs::new(entry)?;
    match s.write_audited(&APPEND_AUDIT, &[], &audit).await? {
        Reply::Ok(_) => Ok(()),
        other => refused(other),
    }
}

/// Pages newest first through the most selective index of `query` (the
/// actor's, else the action's, else every entry), filters the rest of the
/// query in Rust and stops at `limit`.
pub(crate) async fn list_audit(s: &RedisStore, query: &AuditQuery) -> StoreResult<Vec<AuditEntry>> {
    if query.limit == 0 {
        return Ok(Vec::new());
    }
    let (index, value) = match (&query.actor, query.action) {
        (Some(actor), _) => ("actor", actor.as_str()),
        (None, Some(action)) => ("action", action.as_str()),
        (None, None) => ("ids", ""),
    };
    // With both filters the actor's index holds entries of other actions:
    // read more per page than asked for.
    let filtered = query.actor.is_some() && query.action.is_some();
    let batch = if filtered {
        query.limit.max(100)
    } else {
        query.limit
    }
    .min(MAX_LIST_BATCH);
    let batch_arg = batch.to_string();
    let mut bound = match &query.before {
        Some(before) => format!("({before}"),
        None => "+".to_string(),
    };
    let mut out = Vec::new();
    loop {
        let reply: Vec<String> = s
            .read(&LIST_AUDIT, &[index, value, &bound, &batch_arg])
            .await?;
        let mut it = reply.into_iter();
        let (Some(read), Some(last)) = (it.next(), it.next()) else {
            return Err(StoreError::other("unexpected audit page from Redis"));
        };
        for raw in it {
            let entry: AuditEntry = from_json(&raw)?;
            if query.matches(&entry) {
                out.push(entry);
                if out.len() == query.limit {
                    return Ok(out);
                }
            }
        }
        if read.parse::<usize>().unwrap_or(0) < batch || last.is_empty() {
            return Ok(out);
        }
        bound = format!("({last}");
    }
}

/// Deletes the entries whose `at` is before `before`: batch by batch those
/// of earlier microseconds (by the `at` index), then those of the cut-off's
/// own microsecond that are before it to the nanosecond.
pub(crate) async fn purge_audit(s: &RedisStore, before: Timestamp) -> StoreResult<u64> {
    let micros = before.timestamp_micros();
    let cut = micros.to_string();
    let batch = PURGE_BATCH.to_string();
    let mut deleted = 0;
    loop {
        let (n, seen) = purge(s, &["before", &cut, &batch]).await?;
        deleted += n;
        if seen < PURGE_BATCH as u64 {
            break;
        }
    }
    if !before.timestamp_subsec_nanos().is_multiple_of(1000) {
        deleted += purge_within_micro(s, before).await?;
    }
    Ok(deleted)
}

/// Deletes the entries of the cut-off's own microsecond (the `at` index is
/// in microseconds) that are before it to the nanosecond.
async fn purge_within_micro(s: &RedisStore, before: Timestamp) -> StoreResult<u64> {
    let micros = before.timestamp_micros();
    let mut conn = s.conn();
    let key = s.key("audit:at");
    let ids: Vec<String> = s
        .timed(async { conn.zrangebyscore(key, micros, micros).await })
        .await?;
    if ids.is_empty() {
        return Ok(0);
    }
    let mut conn = s.conn();
    let hash = s.key("audit");
    let raws: Vec<Option<String>> = s
        .timed(async {
            redis::cmd("HMGET")
                .arg(hash)
                .arg(&ids)
                .query_async(&mut conn)
                .await
        })
        .await?;
    let mut older = Vec::new();
    for raw in raws.iter().flatten() {
        let entry: AuditEntry = from_json(raw)?;
        if entry.at < before {
            older.push(entry.id);
        }
    }
    if older.is_empty() {
        return Ok(0);
    }
    let mut args = vec!["ids"];
    args.extend(older.iter().map(String::as_str));
    Ok(purge(s, &args).await?.0)
}

/// One run of the purge script: (entries deleted, ids looked at).
async fn purge(s: &RedisStore, args: &[&str]) -> StoreResult<(u64, u64)> {
    match s.write(&PURGE_AUDIT, args).await? {
        Reply::Ok(v) => {
            let num = |i: usize| v.get(i).and_then(|n| n.parse().ok()).unwrap_or(0);
            Ok((num(0), num(1)))
        }
        other => refused(other),
    }
}
