//! Rate-limit counters and the has-users check.

use super::*;
use crate::store::{CounterHit, CounterLimit};

fn key(stem: &str) -> String {
    format!("{stem}-{}", uid::<String>())
}

/// A counter lets `limit` attempts through per window. At the limit it
/// answers `Pending` while counted attempts still run, `Limited` with the
/// time left once they are settled; an attempt settled without `keep` gives
/// its place back; keys are independent.
pub async fn counter_limits_and_settles(store: &dyn Store) {
    let window = Duration::from_secs(600);
    let a = key("a");
    let b = key("b");
    for _ in 0..3 {
        assert_eq!(
            store.hit_counter(&a, window, 3).await.unwrap(),
            CounterHit::Counted
        );
    }
    // Three running: the fourth must wait for their outcome.
    assert_eq!(
        store.hit_counter(&a, window, 3).await.unwrap(),
        CounterHit::Pending
    );
    // Two fail (kept), one succeeds (given back): one place is free.
    store.settle_counter(&a, true).await.unwrap();
    store.settle_counter(&a, true).await.unwrap();
    store.settle_counter(&a, false).await.unwrap();
    assert_eq!(
        store.hit_counter(&a, window, 3).await.unwrap(),
        CounterHit::Counted
    );
    store.settle_counter(&a, true).await.unwrap();
    // Three failures and nothing running: limited, until the window ends.
    match store.hit_counter(&a, window, 3).await.unwrap() {
        CounterHit::Limited(left) => {
            assert!(
                left <= window && left > Duration::from_secs(500),
                "{left:?}"
            )
        }
        other => panic!("expected Limited, got {other:?}"),
    }
    // A refused hit is not counted and changes nothing.
    assert!(matches!(
        store.hit_counter(&a, window, 3).await.unwrap(),
        CounterHit::Limited(_)
    ));
    // Another key is not affected; settling an unknown key is harmless.
    assert_eq!(
        store.hit_counter(&b, window, 3).await.unwrap(),
        CounterHit::Counted
    );
    store
        .settle_counter(&key("never-hit"), false)
        .await
        .unwrap();
    store.settle_counter(&key("never-hit"), true).await.unwrap();
}

/// Concurrent hits never count more than `limit`; the others are told to
/// wait for the running ones.
pub async fn concurrent_counter_hits_respect_the_limit(store: &dyn Store) {
    let k = key("race");
    let window = Duration::from_secs(600);
    let hits = (0..30).map(|_| store.hit_counter(&k, window, 5));
    let answers = futures::future::join_all(hits).await;
    let counted = answers
        .iter()
        .filter(|a| matches!(a, Ok(CounterHit::Counted)))
        .count();
    let pending = answers
        .iter()
        .filter(|a| matches!(a, Ok(CounterHit::Pending)))
        .count();
    assert_eq!(counted, 5, "exactly the limit is counted: {answers:?}");
    assert_eq!(pending, 25, "{answers:?}");
}

/// A window ends: after it, the counter starts again from zero.
pub async fn counter_window_ends(store: &dyn Store) {
    let k = key("short");
    let window = Duration::from_millis(50);
    assert_eq!(
        store.hit_counter(&k, window, 1).await.unwrap(),
        CounterHit::Counted
    );
    store.settle_counter(&k, true).await.unwrap();
    // Wait well past the window (only ever longer than needed).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        store.hit_counter(&k, window, 1).await.unwrap(),
        CounterHit::Counted
    );
}

/// `hit_counters` counts an attempt on every counter or on none: a refusal
/// names the first counter that refused, by index, and leaves the others
/// as they were; a counted attempt is settled on every key at once.
pub async fn hit_counters_is_all_or_nothing(store: &dyn Store) {
    let window = Duration::from_secs(600);
    let (a, b, c) = (key("multi-a"), key("multi-b"), key("multi-c"));
    fn limits<'a>(keys: [&'a str; 2], window: Duration, limit: u32) -> [CounterLimit<'a>; 2] {
        keys.map(|key| CounterLimit { key, window, limit })
    }
    // Both counted: each is now full at a limit of 1, with a running attempt.
    assert_eq!(
        store
            .hit_counters(&limits([&a, &b], window, 1))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.hit_counter(&a, window, 1).await.unwrap(),
        CounterHit::Pending
    );
    assert_eq!(
        store.hit_counter(&b, window, 1).await.unwrap(),
        CounterHit::Pending
    );
    // Settled together as failures: both stay counted, nothing runs.
    store.settle_counters(&[&a, &b], true).await.unwrap();
    assert!(matches!(
        store.hit_counter(&b, window, 1).await.unwrap(),
        CounterHit::Limited(_)
    ));
    // `c` has room, `a` is full: refused at index 1, and `c` keeps nothing.
    let refused = store
        .hit_counters(&limits([&c, &a], window, 1))
        .await
        .unwrap();
    assert!(
        matches!(refused, Some((1, CounterHit::Limited(_)))),
        "{refused:?}"
    );
    assert_eq!(
        store.hit_counter(&c, window, 1).await.unwrap(),
        CounterHit::Counted,
        "the refused attempt gave back its count on the other key"
    );
    // A limit of 0 refuses at once, naming that counter.
    let d = key("multi-d");
    let zero = [
        CounterLimit {
            key: &b,
            window,
            limit: 5,
        },
        CounterLimit {
            key: &d,
            window,
            limit: 0,
        },
    ];
    assert!(matches!(
        store.hit_counters(&zero).await.unwrap(),
        Some((1, CounterHit::Limited(_)))
    ));
    // Limit 0 is `Limited` even on a key with a running attempt.
    assert!(matches!(
        store.hit_counter(&c, window, 0).await.unwrap(),
        CounterHit::Limited(_)
    ));
    // Given back on success: `c` has room again.
    store.settle_counters(&[&c], false).await.unwrap();
    assert_eq!(
        store.hit_counter(&c, window, 1).await.unwrap(),
        CounterHit::Counted
    );
}

/// Concurrent attempts on two shared counters never count more than either
/// limit, and every refused attempt leaves both counters as it found them.
pub async fn concurrent_multi_counter_hits_respect_every_limit(store: &dyn Store) {
    let window = Duration::from_secs(600);
    let (tight, loose) = (key("tight"), key("loose"));
    let counters = [
        CounterLimit {
            key: &loose,
            window,
            limit: 20,
        },
        CounterLimit {
            key: &tight,
            window,
            limit: 4,
        },
    ];
    let hits = (0..30).map(|_| store.hit_counters(&counters));
    let answers = futures::future::join_all(hits).await;
    let counted = answers.iter().filter(|a| matches!(a, Ok(None))).count();
    assert_eq!(
        counted, 4,
        "exactly the tighter limit is counted: {answers:?}"
    );
    // Refused while the other attempts run (by `tight`, or by `loose` when
    // a store counts one key at a time and gives back after a refusal).
    assert!(
        answers
            .iter()
            .all(|a| matches!(a, Ok(None) | Ok(Some((_, CounterHit::Pending))))),
        "{answers:?}"
    );
    // `loose` holds exactly the 4 counted attempts: 16 more fit, not 17.
    for _ in 0..16 {
        assert_eq!(
            store.hit_counter(&loose, window, 20).await.unwrap(),
            CounterHit::Counted
        );
    }
    assert_eq!(
        store.hit_counter(&loose, window, 20).await.unwrap(),
        CounterHit::Pending
    );
}

/// Attempts on the same counters, all at once, from many tasks: every hit
/// and every settle succeeds (no store error such as a deadlock between one
/// attempt's hit and another's settle), and once every attempt is given
/// back the counters are empty again.
///
/// The counters are first created in reverse key order, so a store that
/// locks rows in storage order in one statement and in key order in
/// another would deadlock here.
pub async fn concurrent_attempts_on_shared_counters_never_fail(store: std::sync::Arc<dyn Store>) {
    let window = Duration::from_secs(600);
    let stem = key("shared");
    let keys: Vec<String> = ["a", "b", "c", "d"]
        .iter()
        .map(|k| format!("{stem}-{k}"))
        .collect();
    for k in keys.iter().rev() {
        assert_eq!(
            store.hit_counter(k, window, 1_000).await.unwrap(),
            CounterHit::Counted
        );
        store.settle_counter(k, false).await.unwrap();
    }
    let keys = std::sync::Arc::new(keys);
    let tasks = (0..16).map(|t| {
        let store = store.clone();
        let keys = keys.clone();
        tokio::spawn(async move {
            let limits: Vec<CounterLimit<'_>> = keys
                .iter()
                .map(|key| CounterLimit {
                    key,
                    window,
                    limit: 1_000,
                })
                .collect();
            let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
            for round in 0..10 {
                let hit = store.hit_counters(&limits).await;
                assert!(matches!(hit, Ok(None)), "task {t} round {round}: {hit:?}");
                let settled = if (t + round) % 2 == 0 {
                    store.settle_counters(&refs, false).await
                } else {
                    store
                        .settle_counters_and_audit(&refs, false, &audit())
                        .await
                };
                assert!(settled.is_ok(), "task {t} round {round}: {settled:?}");
            }
        })
    });
    for task in futures::future::join_all(tasks).await {
        task.unwrap();
    }
    // Every attempt was given back: each counter admits exactly one more
    // under a limit of one.
    for k in keys.iter() {
        assert_eq!(
            store.hit_counter(k, window, 1).await.unwrap(),
            CounterHit::Counted
        );
    }
}

/// `has_users` is false on an empty store, true once a user exists.
pub async fn has_users_reports_the_first_user(store: &dyn Store) {
    assert!(!store.has_users().await.unwrap());
    let u = user(store, "first").await;
    assert!(store.has_users().await.unwrap());
    store.core_delete_user(&u.id, &audit()).await.unwrap();
    assert!(!store.has_users().await.unwrap());
}

/// `settle_counters_and_audit` settles like `settle_counters` (a success
/// gives the counts back, a failure keeps them) and stores the audit entry,
/// on every store (PostgreSQL does both in one statement).
pub async fn settle_counters_and_audit_does_both(store: &dyn Store) {
    let window = Duration::from_secs(600);
    let (a, b) = (key("both-a"), key("both-b"));
    let limits = [&a, &b].map(|key| CounterLimit {
        key,
        window,
        limit: 1,
    });
    // A success: both counts given back, so both keys count again.
    assert_eq!(store.hit_counters(&limits).await.unwrap(), None);
    let success = audit();
    store
        .settle_counters_and_audit(&[&a, &b], false, &success)
        .await
        .unwrap();
    assert_eq!(store.hit_counters(&limits).await.unwrap(), None);
    // A failure: both stay counted and full.
    let failure = audit();
    store
        .settle_counters_and_audit(&[&a, &b], true, &failure)
        .await
        .unwrap();
    for k in [&a, &b] {
        assert!(matches!(
            store.hit_counter(k, window, 1).await.unwrap(),
            CounterHit::Limited(_)
        ));
    }
    let ids = stored_ids(store).await;
    assert!(ids.contains(&success.id), "{ids:?}");
    assert!(ids.contains(&failure.id), "{ids:?}");
}
