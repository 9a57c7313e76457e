//! Racing writers on one project: every event describes the project exactly
//! as that write left it (version-guarded writes retry, never interleave).
//! Needs `SLIPWAY_TEST_REDIS_URL` like the conformance suite.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use slipway_core::model::{FeedItem, ProjectPatch, RoleGate};
use slipway_core::testing::cases::{new_domain, new_network, new_project, new_user};
use slipway_core::testing::CoreProjectWrites;
use slipway_core::Store;
use slipway_redis::{RedisOptions, RedisStore};

async fn store() -> Option<Arc<RedisStore>> {
    let Ok(url) = std::env::var("SLIPWAY_TEST_REDIS_URL") else {
        assert!(
            std::env::var("SLIPWAY_REQUIRE_BACKENDS").as_deref() != Ok("1"),
            "SLIPWAY_TEST_REDIS_URL is unset but SLIPWAY_REQUIRE_BACKENDS=1"
        );
        eprintln!("notice: SLIPWAY_TEST_REDIS_URL is unset; skipping");
        return None;
    };
    let options = RedisOptions {
        prefix: format!("slipway-races-{}", uuid::Uuid::new_v4()),
        ..Default::default()
    };
    Some(Arc::new(RedisStore::connect(&url, options).await.unwrap()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_network_creates_and_renames_give_exact_events() {
    let Some(store) = store().await else { return };
    let owner = store
        .create_user(
            new_user("a"),
            RoleGate::FirstUserAdmin,
            &slipway_core::testing::cases::audit(),
        )
        .await
        .unwrap();
    let domain = store
        .create_domain(
            new_domain("example.com"),
            &slipway_core::testing::cases::audit(),
        )
        .await
        .unwrap();
    let project = store
        .core_create_project(
            new_project(&owner.id),
            &slipway_core::testing::cases::audit(),
        )
        .await
        .unwrap();
    let mut feed = store.events(None).await.unwrap();
    let mut writes = Vec::new();
    for i in 0..12 {
        let (store, owner, pid, domain) = (
            store.clone(),
            owner.id.clone(),
            project.id.clone(),
            domain.clone(),
        );
        writes.push(tokio::spawn(async move {
            if i % 3 == 0 {
                let patch = ProjectPatch {
                    name: Some(format!("name-{i}")),
                    updated_at: chrono::Utc::now(),
                    ..Default::default()
                };
                store
                    .core_update_project(
                        &owner,
                        &pid,
                        patch,
                        &slipway_core::testing::cases::audit(),
                    )
                    .await
                    .unwrap();
            } else {
                let host = format!("n{i}.example.com");
                store
                    .core_create_network(
                        &owner,
                        new_network(&pid, &host, &domain),
                        &slipway_core::testing::cases::audit(),
                    )
                    .await
                    .unwrap();
            }
        }));
    }
    for w in futures::future::join_all(writes).await {
        w.unwrap();
    }
    // Network counts never go down and grow by at most one per event; the
    // last event matches what the store now returns.
    let mut counts = Vec::new();
    let mut last = None;
    for _ in 0..12 {
        let item = tokio::time::timeout(Duration::from_secs(10), feed.next())
            .await
            .expect("an event")
            .expect("the feed goes on")
            .expect("no error");
        let FeedItem::Event(e) = item else {
            panic!("unexpected resync")
        };
        counts.push(e.data["networks"].as_array().unwrap().len());
        last = Some(e);
    }
    assert!(
        counts.windows(2).all(|w| w[1] == w[0] || w[1] == w[0] + 1),
        "{counts:?}"
    );
    assert_eq!(*counts.last().unwrap(), 8, "{counts:?}");
    let now = store.get_project(&owner.id, &project.id).await.unwrap();
    assert_eq!(
        last.unwrap().data,
        serde_json::to_value(&now).unwrap(),
        "the last event is the project as stored"
    );
}
