//! Projects.

use super::*;

/// Projects round-trip and list oldest first; a project of a user who does
/// not exist is not found (core relies on it: it does not read the owner
/// before a create).
pub async fn project_create_read_list(store: &dyn Store) {
    let a = user(store, "a").await;
    let before = store.last_event_id().await.unwrap();
    assert!(is_not_found(
        store
            .core_create_project(new_project(&uid()), &audit())
            .await
    ));
    assert_eq!(store.last_event_id().await.unwrap(), before, "no event");
    let mut p1 = new_project(&a.id);
    p1.path = Some("/srv/one".into());
    let p1 = store.core_create_project(p1, &audit()).await.unwrap();
    let p2 = store
        .core_create_project(new_project(&a.id), &audit())
        .await
        .unwrap();
    let read = store.get_project(&a.id, &p1.id).await.unwrap();
    assert_eq!(read.name, p1.name);
    assert_eq!(read.path.as_deref(), Some("/srv/one"));
    assert_eq!(read.source_id, p1.source_id);
    assert_eq!(read.owner_id, a.id);
    assert!(read.networks.is_empty());
    let list = store.list_projects(&a.id).await.unwrap();
    assert_eq!(
        list.iter().map(|p| p.id.clone()).collect::<Vec<_>>(),
        vec![p1.id, p2.id]
    );
}

/// `count_projects` counts the owner's projects only, and follows deletes.
pub async fn count_projects_follows_creates_and_deletes(store: &dyn Store) {
    let a = user(store, "a").await;
    let b = user(store, "b").await;
    assert_eq!(store.count_projects(&a.id).await.unwrap(), 0);
    let p1 = store
        .core_create_project(new_project(&a.id), &audit())
        .await
        .unwrap();
    store
        .core_create_project(new_project(&a.id), &audit())
        .await
        .unwrap();
    store
        .core_create_project(new_project(&b.id), &audit())
        .await
        .unwrap();
    assert_eq!(store.count_projects(&a.id).await.unwrap(), 2);
    assert_eq!(store.count_projects(&b.id).await.unwrap(), 1);
    store
        .core_delete_project(&a.id, &p1.id, &audit())
        .await
        .unwrap();
    assert_eq!(store.count_projects(&a.id).await.unwrap(), 1);
    assert_eq!(store.count_projects(&"nobody".into()).await.unwrap(), 0);
}

/// `create_project` with a quota: `Refused`, writing nothing (no project,
/// no event), once the owner owns `max_owned` projects; counted per owner;
/// a delete makes room again; a missing owner is still `NotFound`.
pub async fn project_quota_refuses_at_the_limit(store: &dyn Store) {
    let a = user(store, "a").await;
    let b = user(store, "b").await;
    let entry = audit();
    let create = |owner: &UserId, max: usize| {
        let p = new_project(owner);
        let event = NewEvent::for_project(EventKind::Create, &p);
        store.create_project(p, max, event, &entry)
    };
    assert!(matches!(create(&a.id, 0).await, Err(StoreError::Refused)));
    let first = create(&a.id, 2).await.unwrap();
    create(&a.id, 2).await.unwrap();
    let before = store.last_event_id().await.unwrap();
    let refused = create(&a.id, 2).await;
    assert!(matches!(refused, Err(StoreError::Refused)), "{refused:?}");
    assert_eq!(store.last_event_id().await.unwrap(), before, "no event");
    assert_eq!(store.count_projects(&a.id).await.unwrap(), 2);
    assert_eq!(store.list_projects(&a.id).await.unwrap().len(), 2);
    // Another owner's quota is their own.
    create(&b.id, 2).await.unwrap();
    create(&a.id, 3).await.unwrap();
    store
        .core_delete_project(&a.id, &first.id, &audit())
        .await
        .unwrap();
    create(&a.id, 3).await.unwrap();
    assert!(matches!(create(&a.id, 3).await, Err(StoreError::Refused)));
    assert_eq!(store.count_projects(&a.id).await.unwrap(), 3);
    assert!(is_not_found(create(&uid(), 1).await));
}

/// sourceId, vmId and path (when set) are unique instance-wide.
pub async fn project_uniqueness_conflicts(store: &dyn Store) {
    let a = user(store, "a").await;
    let b = user(store, "b").await;
    let mut p = new_project(&a.id);
    p.path = Some("/srv/app".into());
    let p = store.core_create_project(p, &audit()).await.unwrap();
    let mut q = new_project(&b.id);
    q.source_id = p.source_id.clone();
    assert_eq!(
        conflict_field(store.core_create_project(q, &audit()).await),
        "sourceId"
    );
    let mut q = new_project(&b.id);
    q.vm_id = p.vm_id.clone();
    assert_eq!(
        conflict_field(store.core_create_project(q, &audit()).await),
        "vmId"
    );
    let mut q = new_project(&b.id);
    q.path = Some("/srv/app".into());
    assert_eq!(
        conflict_field(store.core_create_project(q, &audit()).await),
        "path"
    );
    // Unset paths never conflict.
    store
        .core_create_project(new_project(&b.id), &audit())
        .await
        .unwrap();
    store
        .core_create_project(new_project(&b.id), &audit())
        .await
        .unwrap();
    assert_eq!(store.list_projects(&b.id).await.unwrap().len(), 2);
}

/// Sixteen racing creates with one vmId: exactly one wins.
pub async fn concurrent_project_creates_same_vm_one_wins(store: &dyn Store) {
    let a = user(store, "a").await;
    let before = store.last_event_id().await.unwrap();
    let results = futures::future::join_all((0..16).map(|_| {
        let mut p = new_project(&a.id);
        p.vm_id = "vm-shared".into();
        async move { store.core_create_project(p, &audit()).await }
    }))
    .await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert_eq!(store.list_projects(&a.id).await.unwrap().len(), 1);
    assert_eq!(
        store.last_event_id().await.unwrap(),
        before + 1,
        "one event only"
    );
}

/// Updates apply, bump `updatedAt`, and respect uniqueness.
pub async fn project_update_and_conflicts(store: &dyn Store) {
    let a = user(store, "a").await;
    let p = store
        .core_create_project(new_project(&a.id), &audit())
        .await
        .unwrap();
    let other = store
        .core_create_project(new_project(&a.id), &audit())
        .await
        .unwrap();
    let later = p.updated_at + chrono::Duration::seconds(5);
    let patch = ProjectPatch {
        name: Some("renamed".into()),
        description: Some(None),
        path: Some(Some("/srv/x".into())),
        updated_at: later,
        ..Default::default()
    };
    let u = store
        .core_update_project(&a.id, &p.id, patch, &audit())
        .await
        .unwrap();
    assert_eq!(u.name, "renamed");
    assert_eq!(u.description, None);
    assert_eq!(u.path.as_deref(), Some("/srv/x"));
    assert_eq!(u.vm_id, p.vm_id);
    assert_eq!(u.created_at, p.created_at);
    assert_eq!(u.updated_at.timestamp(), later.timestamp());
    let clash = ProjectPatch {
        vm_id: Some(other.vm_id.clone()),
        updated_at: later,
        ..Default::default()
    };
    assert_eq!(
        conflict_field(
            store
                .core_update_project(&a.id, &p.id, clash, &audit())
                .await
        ),
        "vmId"
    );
    let clash = ProjectPatch {
        path: Some(Some("/srv/x".into())),
        updated_at: later,
        ..Default::default()
    };
    assert_eq!(
        conflict_field(
            store
                .core_update_project(&a.id, &other.id, clash, &audit())
                .await
        ),
        "path"
    );
    // Setting a project's own values again is not a conflict.
    let same = ProjectPatch {
        vm_id: Some(p.vm_id.clone()),
        source_id: Some(p.source_id.clone()),
        updated_at: later,
        ..Default::default()
    };
    store
        .core_update_project(&a.id, &p.id, same, &audit())
        .await
        .unwrap();
    assert_eq!(
        store.get_project(&a.id, &p.id).await.unwrap().name,
        "renamed"
    );
}

/// Deleting a project deletes its networks.
pub async fn project_delete_cascades_networks(store: &dyn Store) {
    let (a, d, p) = owner_domain_project(store).await;
    let n = store
        .core_create_network(&a.id, new_network(&p.id, "app.example.com", &d), &audit())
        .await
        .unwrap();
    store
        .core_delete_project(&a.id, &p.id, &audit())
        .await
        .unwrap();
    assert!(is_not_found(store.get_project(&a.id, &p.id).await));
    assert!(is_not_found(store.get_network(&a.id, &n.id).await));
    assert!(store.list_networks(&a.id, None).await.unwrap().is_empty());
    // The hostname is free again, and the domain can go.
    let p2 = store
        .core_create_project(new_project(&a.id), &audit())
        .await
        .unwrap();
    let n2 = store
        .core_create_network(&a.id, new_network(&p2.id, "app.example.com", &d), &audit())
        .await
        .unwrap();
    store
        .core_delete_network(&a.id, &n2.id, &audit())
        .await
        .unwrap();
    store.delete_domain(&d.id, &audit()).await.unwrap();
    assert!(is_not_found(
        store.core_delete_project(&a.id, &p.id, &audit()).await
    ));
}

/// Another user's project is NotFound on every operation and stays unchanged.
pub async fn projects_are_owner_scoped(store: &dyn Store) {
    let a = user(store, "a").await;
    let b = user(store, "b").await;
    let p = store
        .core_create_project(new_project(&a.id), &audit())
        .await
        .unwrap();
    let before = store.last_event_id().await.unwrap();
    assert!(is_not_found(store.get_project(&b.id, &p.id).await));
    assert!(store.list_projects(&b.id).await.unwrap().is_empty());
    let patch = ProjectPatch {
        name: Some("stolen".into()),
        updated_at: now(),
        ..Default::default()
    };
    assert!(is_not_found(
        store
            .core_update_project(&b.id, &p.id, patch, &audit())
            .await
    ));
    // The store itself refuses a `before` that names b as the owner.
    let mut foreign = store.get_project(&a.id, &p.id).await.unwrap();
    foreign.owner_id = b.id.clone();
    let mut stolen = foreign.clone();
    stolen.name = "stolen".into();
    let event = NewEvent::for_project(EventKind::Update, &stolen);
    assert!(is_not_found(
        store
            .update_project(&foreign, &stolen, event, &audit())
            .await
    ));
    assert!(is_not_found(
        store.core_delete_project(&b.id, &p.id, &audit()).await
    ));
    assert_eq!(store.get_project(&a.id, &p.id).await.unwrap().name, p.name);
    assert_eq!(
        store.last_event_id().await.unwrap(),
        before,
        "no event for refused writes"
    );
}

/// `update_project` is a compare-and-swap on the project as core read it:
/// when the stored project changed since (a field, or its networks), the
/// write answers `Stale` and writes nothing (no change, no event, no audit
/// entry); with a fresh read it applies, and its event is the one core built.
pub async fn stale_project_update_writes_nothing(store: &dyn Store) {
    let (a, d, p) = owner_domain_project(store).await;
    let read = store.get_project(&a.id, &p.id).await.unwrap();
    // Someone else renames it after our read.
    let rename = ProjectPatch {
        name: Some("theirs".into()),
        updated_at: now(),
        ..Default::default()
    };
    store
        .core_update_project(&a.id, &p.id, rename, &audit())
        .await
        .unwrap();

    /// Our write computed from `before`; must be refused as stale.
    async fn refused_as_stale(store: &dyn Store, before: &Project) {
        let mut after = before.clone();
        ProjectPatch {
            description: Some(Some("ours".into())),
            vm_id: Some(format!("vm-ours-{}", uid::<String>())),
            updated_at: now(),
            ..Default::default()
        }
        .apply(&mut after);
        let event = NewEvent::for_project(EventKind::Update, &after);
        let last = store.last_event_id().await.unwrap();
        let entry = audit();
        let stored = store
            .get_project(&before.owner_id, &before.id)
            .await
            .unwrap();
        let r = store.update_project(before, &after, event, &entry).await;
        assert!(matches!(r, Err(StoreError::Stale)), "{r:?}");
        assert_eq!(store.last_event_id().await.unwrap(), last, "no event");
        let entries = store
            .list_audit(&AuditQuery {
                limit: 10_000,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        assert!(
            entries.iter().all(|e| e.id != entry.id),
            "no audit entry for a stale write"
        );
        let now_stored = store
            .get_project(&before.owner_id, &before.id)
            .await
            .unwrap();
        assert_eq!(now_stored, stored, "nothing written");
    }
    refused_as_stale(store, &read).await;

    // A network created after our read makes it stale too: the event core
    // built from the read would carry old networks.
    let read = store.get_project(&a.id, &p.id).await.unwrap();
    assert_eq!(read.name, "theirs");
    store
        .core_create_network(&a.id, new_network(&p.id, "app.example.com", &d), &audit())
        .await
        .unwrap();
    refused_as_stale(store, &read).await;
    // So does a changed network (same id, new port).
    let read = store.get_project(&a.id, &p.id).await.unwrap();
    let port = NetworkPatch {
        port: Some(9443),
        ..NetworkPatch::default()
    };
    store
        .core_update_network(&a.id, &read.networks[0].id, port, &audit())
        .await
        .unwrap();
    refused_as_stale(store, &read).await;

    // Another owner's project is NotFound, even with its exact state.
    let b = user(store, "b").await;
    let mut foreign = store.get_project(&a.id, &p.id).await.unwrap();
    foreign.owner_id = b.id.clone();
    let event = NewEvent::for_project(EventKind::Update, &foreign);
    let last = store.last_event_id().await.unwrap();
    assert!(is_not_found(
        store
            .update_project(&foreign, &foreign, event, &audit())
            .await
    ));
    assert_eq!(store.last_event_id().await.unwrap(), last, "no event");

    // A fresh read applies; the event is the one core built, networks
    // included, and reads agree with it.
    let mut feed = store.events(Some(last)).await.unwrap();
    let read = store.get_project(&a.id, &p.id).await.unwrap();
    let mut after = read.clone();
    ProjectPatch {
        description: Some(None),
        updated_at: now(),
        ..Default::default()
    }
    .apply(&mut after);
    let event = NewEvent::for_project(EventKind::Update, &after);
    store
        .update_project(&read, &after, event.clone(), &audit())
        .await
        .unwrap();
    let e = next_event(&mut feed).await;
    assert_eq!(e.kind, EventKind::Update);
    assert_eq!(e.data, event.data);
    assert_eq!(e.data["networks"][0]["port"], 9443);
    let stored = store.get_project(&a.id, &p.id).await.unwrap();
    assert_eq!(stored.description, None);
    assert_eq!(stored.name, "theirs");
    assert_eq!(stored.networks, read.networks);
}

/// Sixteen racing creates of one user through the service, whose quota is
/// 3: exactly three are made, the others are 403 naming the limit, and the
/// user owns three projects:
/// [`store_exact_quota_conformance!`](crate::store_exact_quota_conformance).
pub async fn concurrent_project_creates_respect_the_quota(store: std::sync::Arc<dyn Store>) {
    use crate::services::{Error, NewProject};
    let slipway = slipway_on(&store, |b| b.max_projects_per_user(3));
    let a = user(&*store, "a").await;
    let actor = crate::Principal::user_id(a.id.clone(), None);
    let projects = slipway.projects();
    let creates = (0..16).map(|i| {
        let tag: String = uid();
        projects.create(
            &actor,
            NewProject::new(format!("q{i}"), format!("src-{tag}"), format!("vm-{tag}")),
        )
    });
    let results = futures::future::join_all(creates).await;
    assert_quota_held(
        &results,
        3,
        |e| matches!(e, Error::Forbidden(m) if m.contains("max_projects_per_user")),
    );
    assert_eq!(store.count_projects(&a.id).await.unwrap(), 3);
    assert_eq!(store.list_projects(&a.id).await.unwrap().len(), 3);
}

/// Service level: concurrent updates of different fields of one project
/// all survive (core reads, applies and writes with a compare-and-swap,
/// retrying a stale write; none overwrites another's change with the value
/// it read), and every update's event matches a state the project had.
pub async fn concurrent_service_updates_lose_nothing(store: std::sync::Arc<dyn Store>) {
    use crate::services::ProjectChanges;
    let slipway = slipway_on(&store, |b| b);
    let a = user(&*store, "a").await;
    let actor = crate::Principal::user_id(a.id.clone(), None);
    let projects = slipway.projects();
    for round in 0..8 {
        let p = service_project(&slipway, &actor).await;
        let tag = p.source_id.trim_start_matches("src-").to_string();
        let start = store.last_event_id().await.unwrap();
        let name = ProjectChanges {
            name: Some(format!("name-{round}")),
            ..Default::default()
        };
        let description = ProjectChanges {
            description: Some(Some(format!("description-{round}"))),
            ..Default::default()
        };
        let path = ProjectChanges {
            path: Some(Some(format!("/srv/{tag}"))),
            ..Default::default()
        };
        let vm = ProjectChanges {
            vm_id: Some(format!("vm-new-{tag}")),
            ..Default::default()
        };
        let (r1, r2, r3, r4) = tokio::join!(
            projects.update(&actor, &p.id, name),
            projects.update(&actor, &p.id, description),
            projects.update(&actor, &p.id, path),
            projects.update(&actor, &p.id, vm),
        );
        for r in [r1, r2, r3, r4] {
            r.expect("every concurrent update applies");
        }
        let stored = projects.get(&actor, &p.id).await.unwrap();
        assert_eq!(stored.name, format!("name-{round}"));
        assert_eq!(
            stored.description.as_deref(),
            Some(format!("description-{round}").as_str())
        );
        assert_eq!(stored.path.as_deref(), Some(format!("/srv/{tag}").as_str()));
        assert_eq!(stored.vm_id, format!("vm-new-{tag}"));
        assert_eq!(stored.source_id, format!("src-{tag}"));
        // Four updates, four events; the last carries the final state.
        let events = store.read_events(start, 100).await.unwrap();
        assert_eq!(events.len(), 4, "{events:?}");
        let last = events.last().unwrap();
        assert_eq!(last.kind, EventKind::Update);
        assert_eq!(last.data, serde_json::to_value(&stored).unwrap());
    }
}
