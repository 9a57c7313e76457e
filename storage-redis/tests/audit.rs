//! The audit log's Redis layout: entries outlive the user they name, the
//! purge leaves no index entry behind and cuts to the nanosecond, and listing
//! with two filters pages past entries that match only one. Needs
//! `SLIPWAY_TEST_REDIS_URL` like the conformance suite.

use chrono::{Duration, TimeZone, Utc};
use slipway_core::model::{AuditAction, AuditActor, AuditEntry, AuditQuery, RoleGate, UserId};
use slipway_core::testing::cases::{audit, new_project, new_user};
use slipway_core::testing::CoreProjectWrites;
use slipway_core::Store;
use slipway_redis::{RedisOptions, RedisStore};

async fn store() -> Option<(RedisStore, String)> {
    let Ok(url) = std::env::var("SLIPWAY_TEST_REDIS_URL") else {
        assert!(
            std::env::var("SLIPWAY_REQUIRE_BACKENDS").as_deref() != Ok("1"),
            "SLIPWAY_TEST_REDIS_URL is unset but SLIPWAY_REQUIRE_BACKENDS=1"
        );
        eprintln!("notice: SLIPWAY_TEST_REDIS_URL is unset; skipping");
        return None;
    };
    let options = RedisOptions {
        prefix: format!("slipway-audit-{}", uuid::Uuid::new_v4()),
        ..Default::default()
    };
    Some((RedisStore::connect(&url, options).await.unwrap(), url))
}

/// Every key of the store under `{prefix}:audit`.
async fn audit_keys(store: &RedisStore, url: &str) -> Vec<String> {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let pattern = format!("{}:audit*", store.options().prefix);
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg(pattern)
        .query_async(&mut conn)
        .await
        .unwrap();
    keys.sort();
    keys
}

fn by(user_id: &str, action: AuditAction, at: chrono::DateTime<Utc>) -> AuditEntry {
    let mut e = AuditEntry::new(action, at);
    e.actor = Some(AuditActor {
        user_id: UserId::from(user_id),
        token_id: None,
    });
    e
}

fn query(actor: Option<&str>, action: Option<AuditAction>, limit: usize) -> AuditQuery {
    AuditQuery {
        actor: actor.map(UserId::from),
        action,
        before: None,
        limit,
    }
}

#[tokio::test]
async fn deleting_a_user_keeps_the_entries_that_name_them() {
    let Some((store, _)) = store().await else {
        return;
    };
    store
        .create_user(new_user("admin"), RoleGate::FirstUserAdmin, &audit())
        .await
        .unwrap();
    let bob = store
        .create_user(new_user("bob"), RoleGate::FirstUserAdmin, &audit())
        .await
        .unwrap();
    let created = by(&bob.id, AuditAction::ProjectCreate, Utc::now());
    store
        .core_create_project(new_project(&bob.id), &created)
        .await
        .unwrap();
    // A later microsecond, so the ids order as written.
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    let deleted = by(&bob.id, AuditAction::UserDelete, Utc::now());
    store.core_delete_user(&bob.id, &deleted).await.unwrap();
    let mine = store
        .list_audit(&query(Some(&bob.id), None, 10))
        .await
        .unwrap();
    assert_eq!(mine, vec![deleted, created]);
}

#[tokio::test]
async fn the_purge_leaves_no_index_entry_behind_and_goes_in_batches() {
    let Some((store, url)) = store().await else {
        return;
    };
    let old = Utc::now() - Duration::days(100);
    // More than one purge batch, over several actors and actions.
    for i in 0..1203 {
        let action = AuditAction::ALL[i % AuditAction::ALL.len()];
        let mut e = by(&format!("user-{}", i % 7), action, old);
        if i % 5 == 0 {
            e.actor = None;
        }
        store.append_audit(&e).await.unwrap();
    }
    let recent = by("user-1", AuditAction::ProjectCreate, Utc::now());
    store.append_audit(&recent).await.unwrap();
    let cut = Utc::now() - Duration::days(90);
    assert_eq!(store.purge_audit(cut).await.unwrap(), 1203);
    let base = format!("{}:audit", store.options().prefix);
    assert_eq!(
        audit_keys(&store, &url).await,
        vec![
            base.clone(),
            format!("{base}:action:project.create"),
            format!("{base}:actor:user-1"),
            format!("{base}:at"),
            format!("{base}:ids"),
        ],
        "only the recent entry's keys remain"
    );
    for q in [
        query(None, None, 10_000),
        query(Some("user-1"), None, 10_000),
        query(None, Some(AuditAction::ProjectCreate), 10_000),
    ] {
        assert_eq!(store.list_audit(&q).await.unwrap(), vec![recent.clone()]);
    }
    assert_eq!(store.purge_audit(Utc::now()).await.unwrap(), 1);
    assert!(audit_keys(&store, &url).await.is_empty(), "nothing left");
}

#[tokio::test]
async fn the_purge_cuts_to_the_nanosecond() {
    let Some((store, _)) = store().await else {
        return;
    };
    let micro = Utc.timestamp_opt(1_800_000_000, 123_456_000).unwrap();
    let ns = |n: i64| micro + Duration::nanoseconds(n);
    // `AuditEntry::new` keeps `at` to the microsecond; an entry may still
    // carry nanoseconds (the field is public, and stored as given).
    let exact = |n: i64| {
        let mut e = by("u", AuditAction::SigninSuccess, ns(n));
        e.at = ns(n);
        e
    };
    let before = exact(100);
    let at_cut = exact(500);
    let after = exact(900);
    let earlier = exact(-1);
    for e in [&before, &at_cut, &after, &earlier] {
        store.append_audit(e).await.unwrap();
    }
    assert_eq!(store.purge_audit(ns(500)).await.unwrap(), 2);
    let mut left = store.list_audit(&query(None, None, 10)).await.unwrap();
    left.sort_by_key(|e| e.at);
    assert_eq!(left, vec![at_cut, after]);
}

#[tokio::test]
async fn two_filters_page_past_entries_that_match_only_one() {
    let Some((store, _)) = store().await else {
        return;
    };
    let start = Utc::now() - Duration::hours(1);
    let at = |i: i64| start + Duration::milliseconds(i);
    let wanted = by("ada", AuditAction::ProjectCreate, at(0));
    store.append_audit(&wanted).await.unwrap();
    // Newer entries of the same actor, other action: several pages of them.
    for i in 1..=250 {
        store
            .append_audit(&by("ada", AuditAction::SigninFailure, at(i)))
            .await
            .unwrap();
    }
    store
        .append_audit(&by("bob", AuditAction::ProjectCreate, at(300)))
        .await
        .unwrap();
    let got = store
        .list_audit(&query(Some("ada"), Some(AuditAction::ProjectCreate), 1))
        .await
        .unwrap();
    assert_eq!(got, vec![wanted]);
    let failures = store
        .list_audit(&query(Some("ada"), Some(AuditAction::SigninFailure), 1000))
        .await
        .unwrap();
    assert_eq!(failures.len(), 250);
    assert!(
        failures.windows(2).all(|w| w[0].id > w[1].id),
        "newest first"
    );
}
