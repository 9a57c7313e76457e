//! Projects.

use super::*;

/// Projects round-trip and list oldest first; a project of a user who does
/// not exist is not found (core relies on it: it does not read the owner
/// before a create).
pub async fn project_create_read_list(store: &dyn Store) {
    let a = user(store, "a").await;
    let before = store.last_event_id().await.unwrap();
    assert!(is_not_found(
        store.create_project(new_project(&uid()), &audit()).await
    ));
    assert_eq!(store.last_event_id().await.unwrap(), before, "no event");
    let mut p1 = new_project(&a.id);
    p1.path = Some("/srv/one".into());
    let p1 = store.create_project(p1, &audit()).await.unwrap();
    let p2 = store
        .create_project(new_project(&a.id), &audit())
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
        .create_project(new_project(&a.id), &audit())
        .await
        .unwrap();
    store
        .create_project(new_project(&a.id), &audit())
        .await
        .unwrap();
    store
        .create_project(new_project(&b.id), &audit())
        .await
        .unwrap();
    assert_eq!(store.count_projects(&a.id).await.unwrap(), 2);
    assert_eq!(store.count_projects(&b.id).await.unwrap(), 1);
    store.delete_project(&a.id, &p1.id, &audit()).await.unwrap();
    assert_eq!(store.count_projects(&a.id).await.unwrap(), 1);
    assert_eq!(store.count_projects(&"nobody".into()).await.unwrap(), 0);
}

/// sourceId, vmId and path (when set) are unique instance-wide.
pub async fn project_uniqueness_conflicts(store: &dyn Store) {
    let a = user(store, "a").await;
    let b = user(store, "b").await;
    let mut p = new_project(&a.id);
    p.path = Some("/srv/app".into());
    let p = store.create_project(p, &audit()).await.unwrap();
    let mut q = new_project(&b.id);
    q.source_id = p.source_id.clone();
    assert_eq!(
        conflict_field(store.create_project(q, &audit()).await),
        "sourceId"
    );
    let mut q = new_project(&b.id);
    q.vm_id = p.vm_id.clone();
    assert_eq!(
        conflict_field(store.create_project(q, &audit()).await),
        "vmId"
    );
    let mut q = new_project(&b.id);
    q.path = Some("/srv/app".into());
    assert_eq!(
        conflict_field(store.create_project(q, &audit()).await),
        "path"
    );
    // Unset paths never conflict.
    store
        .create_project(new_project(&b.id), &audit())
        .await
        .unwrap();
    store
        .create_project(new_project(&b.id), &audit())
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
        async move { store.create_project(p, &audit()).await }
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
        .create_project(new_project(&a.id), &audit())
        .await
        .unwrap();
    let other = store
        .create_project(new_project(&a.id), &audit())
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
        .update_project(&a.id, &p.id, patch, &audit())
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
        conflict_field(store.update_project(&a.id, &p.id, clash, &audit()).await),
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
                .update_project(&a.id, &other.id, clash, &audit())
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
        .update_project(&a.id, &p.id, same, &audit())
        .await
        .unwrap();
    assert_eq!(
        store.get_project(&a.id, &p.id).await.unwrap().name,
        "renamed"
    );
}

/// Deleting a project deletes its networks.
pub async fn project_delete_cascades_networks(store: &dyn Store) {
    let a = user(store, "a").await;
    let d = store
        .create_domain(new_domain("example.com"), &audit())
        .await
        .unwrap();
    let p = store
        .create_project(new_project(&a.id), &audit())
        .await
        .unwrap();
    let n = store
        .create_network(&a.id, new_network(&p.id, "app.example.com", &d), &audit())
        .await
        .unwrap();
    store.delete_project(&a.id, &p.id, &audit()).await.unwrap();
    assert!(is_not_found(store.get_project(&a.id, &p.id).await));
    assert!(is_not_found(store.get_network(&a.id, &n.id).await));
    assert!(store.list_networks(&a.id, None).await.unwrap().is_empty());
    // The hostname is free again, and the domain can go.
    let p2 = store
        .create_project(new_project(&a.id), &audit())
        .await
        .unwrap();
    let n2 = store
        .create_network(&a.id, new_network(&p2.id, "app.example.com", &d), &audit())
        .await
        .unwrap();
    store.delete_network(&a.id, &n2.id, &audit()).await.unwrap();
    store.delete_domain(&d.id, &audit()).await.unwrap();
    assert!(is_not_found(
        store.delete_project(&a.id, &p.id, &audit()).await
    ));
}

/// Another user's project is NotFound on every operation and stays unchanged.
pub async fn projects_are_owner_scoped(store: &dyn Store) {
    let a = user(store, "a").await;
    let b = user(store, "b").await;
    let p = store
        .create_project(new_project(&a.id), &audit())
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
        store.update_project(&b.id, &p.id, patch, &audit()).await
    ));
    assert!(is_not_found(
        store.delete_project(&b.id, &p.id, &audit()).await
    ));
    assert_eq!(store.get_project(&a.id, &p.id).await.unwrap().name, p.name);
    assert_eq!(
        store.last_event_id().await.unwrap(),
        before,
        "no event for refused writes"
    );
}
