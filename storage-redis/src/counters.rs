//! Rate-limit counters (`Store::hit_counter`): one key per counter under
//! `{prefix}:rl:`, expiring with its window; each hit is one Lua script, so
//! concurrent hits from every node are counted atomically.

use std::time::Duration;

use redis::AsyncCommands as _;
use slipway_core::store::{CounterHit, StoreResult};
use slipway_core::StoreError;

use crate::scripts::{HIT_COUNTER, SETTLE_COUNTER};
use crate::{RedisStore, Reply};

pub(crate) async fn hit(
    s: &RedisStore,
    key: &str,
    window: Duration,
    limit: u32,
) -> StoreResult<CounterHit> {
    if limit == 0 {
        return Ok(CounterHit::Limited(window));
    }
    let window_ms = window.as_millis().max(1).to_string();
    match s
        .write(&HIT_COUNTER, &[key, &window_ms, &limit.to_string()])
        .await?
    {
        Reply::Ok(_) => Ok(CounterHit::Counted),
        Reply::Retry => Ok(CounterHit::Pending),
        Reply::Conflict(left) => Ok(CounterHit::Limited(Duration::from_millis(
            left.parse().unwrap_or(0),
        ))),
        other => Err(StoreError::other(format!(
            "unexpected counter answer {other:?}"
        ))),
    }
}

pub(crate) async fn settle(s: &RedisStore, key: &str, keep: bool) -> StoreResult<()> {
    let keep = if keep { "1" } else { "0" };
    s.write(&SETTLE_COUNTER, &[key, keep]).await?;
    Ok(())
}

pub(crate) async fn has_users(s: &RedisStore) -> StoreResult<bool> {
    let mut conn = s.conn();
    let key = s.key("idx:email");
    let n: u64 = s.timed(async move { conn.hlen(key).await }).await?;
    Ok(n > 0)
}
