//! The event log.

use super::*;

/// Event ids increase by write; payloads follow DESIGN §3.
pub async fn event_ids_increase_and_payloads(store: &dyn Store) {
    let a = user(store, "a").await;
    let start = store.last_event_id().await.unwrap();
    let mut feed = store.events(Some(start)).await.unwrap();
    let p = store
        .core_create_project(new_project(&a.id), &audit())
        .await
        .unwrap();
    let patch = ProjectPatch {
        name: Some("second".into()),
        updated_at: now(),
        ..Default::default()
    };
    store
        .core_update_project(&a.id, &p.id, patch, &audit())
        .await
        .unwrap();
    store
        .core_delete_project(&a.id, &p.id, &audit())
        .await
        .unwrap();
    let c = next_event(&mut feed).await;
    let u = next_event(&mut feed).await;
    let d = next_event(&mut feed).await;
    assert!(start < c.id && c.id < u.id && u.id < d.id);
    assert_eq!(store.last_event_id().await.unwrap(), d.id);
    for e in [&c, &u, &d] {
        assert_eq!(e.owner_id, a.id);
        assert_eq!(e.project_id, p.id);
    }
    assert_eq!(c.kind, EventKind::Create);
    assert_eq!(c.data["id"], p.id.as_str());
    assert_eq!(c.data["sourceId"], p.source_id.as_str());
    assert_eq!(c.data["networks"], serde_json::json!([]));
    assert!(c.data.get("ownerId").is_none());
    assert_eq!(u.kind, EventKind::Update);
    assert_eq!(u.data["name"], "second");
    assert_eq!(d.kind, EventKind::Delete);
    assert_eq!(d.data, serde_json::json!({"id": p.id}));
}

/// A refused write leaves no event.
pub async fn failed_write_appends_no_event(store: &dyn Store) {
    let a = user(store, "a").await;
    let p = store
        .core_create_project(new_project(&a.id), &audit())
        .await
        .unwrap();
    let before = store.last_event_id().await.unwrap();
    let mut dup = new_project(&a.id);
    dup.vm_id = p.vm_id.clone();
    assert!(store.core_create_project(dup, &audit()).await.is_err());
    let mut ghost = new_project(&"no-such-user".into());
    ghost.vm_id = "vm-ghost".into();
    assert!(store.core_create_project(ghost, &audit()).await.is_err());
    assert_eq!(store.last_event_id().await.unwrap(), before);
    // The next successful write gets the next id after `before`.
    let mut feed = store.events(Some(before)).await.unwrap();
    let q = store
        .core_create_project(new_project(&a.id), &audit())
        .await
        .unwrap();
    let ev = next_event(&mut feed).await;
    assert_eq!(ev.project_id, q.id);
    assert!(ev.id > before);
}

/// `events(Some(since))` replays what came after `since`, then follows live
/// writes, without gap or duplicate; `events(None)` starts from now.
pub async fn events_replay_then_live(store: &dyn Store) {
    let a = user(store, "a").await;
    let start = store.last_event_id().await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(
            store
                .core_create_project(new_project(&a.id), &audit())
                .await
                .unwrap()
                .id,
        );
    }
    let mut replay = store.events(Some(start)).await.unwrap();
    let mut live_only = store.events(None).await.unwrap();
    for _ in 0..2 {
        ids.push(
            store
                .core_create_project(new_project(&a.id), &audit())
                .await
                .unwrap()
                .id,
        );
    }
    let mut seen = Vec::new();
    let mut last = start;
    for _ in 0..5 {
        let e = next_event(&mut replay).await;
        assert!(e.id > last, "ids increase");
        last = e.id;
        seen.push(e.project_id);
    }
    assert_eq!(seen, ids);
    let first_live = next_event(&mut live_only).await;
    assert_eq!(first_live.project_id, ids[3]);
    // Nothing more is pending on the replaying stream.
    let extra = tokio::time::timeout(Duration::from_millis(300), replay.next()).await;
    assert!(extra.is_err(), "no duplicate or extra event: {extra:?}");
}

/// A cursor older than the retained log (at most 100 events) gets `Resync` first.
pub async fn events_resync_when_since_is_stale(store: &dyn Store) {
    let a = user(store, "a").await;
    let p = store
        .core_create_project(new_project(&a.id), &audit())
        .await
        .unwrap();
    for i in 0..130 {
        let patch = ProjectPatch {
            name: Some(format!("n{i}")),
            updated_at: now(),
            ..Default::default()
        };
        store
            .core_update_project(&a.id, &p.id, patch, &audit())
            .await
            .unwrap();
    }
    let mut feed = store.events(Some(0)).await.unwrap();
    assert_eq!(next_item(&mut feed).await, FeedItem::Resync);
    // A fresh cursor does not resync.
    let last = store.last_event_id().await.unwrap();
    let mut fresh = store.events(Some(last - 1)).await.unwrap();
    let e = next_event(&mut fresh).await;
    assert_eq!(e.id, last);
}

/// `read_events` pages the log: at most `limit` events after `after`, in id
/// order, and nothing after the newest.
pub async fn read_events_pages_the_log(store: &dyn Store) {
    let a = user(store, "a").await;
    let start = store.last_event_id().await.unwrap();
    for _ in 0..7 {
        store
            .core_create_project(new_project(&a.id), &audit())
            .await
            .unwrap();
    }
    let first = store.read_events(start, 3).await.unwrap();
    let ids: Vec<u64> = first.iter().map(|e| e.id).collect();
    assert_eq!(ids, vec![start + 1, start + 2, start + 3]);
    let rest = store.read_events(start + 3, 100).await.unwrap();
    assert_eq!(rest.len(), 4);
    assert_eq!(
        rest.last().unwrap().id,
        store.last_event_id().await.unwrap()
    );
    assert!(store.read_events(start + 7, 10).await.unwrap().is_empty());
}

/// A subscriber that reads nothing while 80 events are written (fewer than
/// the retained 100) then gets every one of them, in order, without
/// `Resync`: a slow subscriber loses nothing the log still holds.
pub async fn slow_subscriber_loses_nothing(store: &dyn Store) {
    let a = user(store, "a").await;
    let mut slow = store.events(None).await.unwrap();
    let start = store.last_event_id().await.unwrap();
    let p = store
        .core_create_project(new_project(&a.id), &audit())
        .await
        .unwrap();
    for i in 0..79 {
        let patch = ProjectPatch {
            name: Some(format!("n{i}")),
            updated_at: now(),
            ..Default::default()
        };
        store
            .core_update_project(&a.id, &p.id, patch, &audit())
            .await
            .unwrap();
    }
    for expected in start + 1..=start + 80 {
        assert_eq!(next_event(&mut slow).await.id, expected);
    }
    let extra = tokio::time::timeout(Duration::from_millis(300), slow.next()).await;
    assert!(extra.is_err(), "no duplicate or extra item: {extra:?}");
}

/// A cursor past the newest event (a restored backup, another instance)
/// gets `Resync` first, then every new event: it is not silently clamped.
pub async fn future_cursor_gets_resync_then_new_events(store: &dyn Store) {
    let a = user(store, "a").await;
    store
        .core_create_project(new_project(&a.id), &audit())
        .await
        .unwrap();
    let last = store.last_event_id().await.unwrap();
    let mut feed = store.events(Some(last + 1000)).await.unwrap();
    assert_eq!(next_item(&mut feed).await, FeedItem::Resync);
    let p = store
        .core_create_project(new_project(&a.id), &audit())
        .await
        .unwrap();
    let e = next_event(&mut feed).await;
    assert_eq!(e.id, last + 1);
    assert_eq!(e.project_id, p.id);
}
