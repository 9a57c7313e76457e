//! The event feed across a backend restart and a backend that lost its data:
//! the same behaviour on every store with a backend to restart. Run with
//! [`store_backend_conformance!`](crate::store_backend_conformance).

use async_trait::async_trait;

use super::*;

/// What the backend cases need from a store's test setup: a way to take the
/// store's backend away and bring it back.
#[async_trait]
pub trait Backend: Send + Sync {
    /// Crashes the backend (no clean shutdown) and starts it again with the
    /// data it had persisted; returns once it accepts connections. `false`
    /// when the store has no backend of its own to restart (the case then
    /// skips, saying so).
    async fn restart(&self) -> bool;

    /// Makes the backend lose its data (a flushed server, a backup from
    /// before the store was used restored): every record and event is gone.
    /// `false` when the setup cannot do that.
    async fn lose_data(&self) -> bool;
}

/// Repeats `write` until the store answers (it reconnects after the
/// backend came back), for up to 30 s.
async fn eventually<T, F, Fut>(what: &str, mut write: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match write().await {
            Ok(v) => return v,
            Err(e) if tokio::time::Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{what}: the store did not come back within 30 s: {e}"),
        }
    }
}

/// A subscriber keeps its place across a crash and restart of the backend:
/// after the events it read, it gets exactly the events written once the
/// backend is back, in order, with no `Resync` (nothing was lost), no gap
/// and no duplicate.
pub async fn subscribers_resume_after_a_backend_restart(store: &dyn Store, backend: &dyn Backend) {
    let a = user(store, "a").await;
    let mut feed = store.events(None).await.unwrap();
    let start = store.last_event_id().await.unwrap();
    for _ in 0..3 {
        store
            .core_create_project(new_project(&a.id), &audit())
            .await
            .unwrap();
    }
    for expected in start + 1..=start + 3 {
        assert_eq!(next_event(&mut feed).await.id, expected);
    }
    if !backend.restart().await {
        eprintln!("skipped subscribers_resume_after_a_backend_restart: no backend to restart");
        return;
    }
    let p = eventually("create after the restart", || {
        let project = new_project(&a.id);
        async move { store.core_create_project(project, &audit()).await }
    })
    .await;
    store
        .core_create_project(new_project(&a.id), &audit())
        .await
        .unwrap();
    let first = next_event(&mut feed).await;
    assert_eq!(first.id, start + 4, "no gap, no duplicate");
    assert_eq!(first.project_id, p.id);
    assert_eq!(next_event(&mut feed).await.id, start + 5);
    let extra = tokio::time::timeout(Duration::from_millis(300), feed.next()).await;
    assert!(extra.is_err(), "no duplicate or extra item: {extra:?}");
}

/// When the backend lost its data, every subscriber (its cursor now ahead
/// of the log) gets `Resync` once, then every event written after it. An
/// event written between the loss and the moment the feed notices it may
/// come after the `Resync` or be covered by it (a client refetches its
/// state on `Resync`), never before it.
pub async fn subscribers_resync_after_the_backend_loses_its_data(
    store: &dyn Store,
    backend: &dyn Backend,
) {
    let a = user(store, "a").await;
    let mut feed = store.events(None).await.unwrap();
    for _ in 0..5 {
        store
            .core_create_project(new_project(&a.id), &audit())
            .await
            .unwrap();
    }
    for _ in 0..5 {
        next_event(&mut feed).await;
    }
    if !backend.lose_data().await {
        eprintln!("skipped subscribers_resync_after_the_backend_loses_its_data: cannot lose data");
        return;
    }
    let b = eventually("sign-up after the data loss", || async move {
        store
            .create_user(new_user("b"), RoleGate::FirstUserAdmin, &audit())
            .await
    })
    .await;
    assert!(
        is_not_found(store.get_user(&a.id).await),
        "the data is gone"
    );
    let early = store
        .core_create_project(new_project(&b.id), &audit())
        .await
        .unwrap();
    assert_eq!(next_item(&mut feed).await, FeedItem::Resync, "resync first");
    let late = store
        .core_create_project(new_project(&b.id), &audit())
        .await
        .unwrap();
    let mut e = next_event(&mut feed).await;
    if e.project_id == early.id {
        e = next_event(&mut feed).await;
    }
    assert_eq!(e.project_id, late.id);
    assert_eq!(e.id, store.last_event_id().await.unwrap());
    let extra = tokio::time::timeout(Duration::from_millis(300), feed.next()).await;
    assert!(extra.is_err(), "one resync only, no extra item: {extra:?}");
}
