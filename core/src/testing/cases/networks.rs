//! Network connections and domains.

use super::*;

/// Networks: create, read, list (by project), update, delete, each with an
/// UPDATE event carrying the project and its networks.
pub async fn network_crud_and_events(store: &dyn Store) {
    let a = user(store, "a").await;
    let d = store
        .create_domain(new_domain("example.com"), &audit())
        .await
        .unwrap();
    let p = store
        .core_create_project(new_project(&a.id), &audit())
        .await
        .unwrap();
    let q = store
        .core_create_project(new_project(&a.id), &audit())
        .await
        .unwrap();
    let mut feed = store
        .events(Some(store.last_event_id().await.unwrap()))
        .await
        .unwrap();

    let n = store
        .create_network(&a.id, new_network(&p.id, "api.example.com", &d), &audit())
        .await
        .unwrap();
    let ev = next_event(&mut feed).await;
    assert_eq!(
        (ev.kind, ev.project_id.as_str()),
        (EventKind::Update, p.id.as_str())
    );
    assert_eq!(ev.data["networks"][0]["domain"], "api.example.com");
    assert_eq!(ev.data["networks"][0]["port"], 8080);

    store
        .create_network(&a.id, new_network(&q.id, "q.example.com", &d), &audit())
        .await
        .unwrap();
    next_event(&mut feed).await;
    assert_eq!(store.get_network(&a.id, &n.id).await.unwrap(), n);
    assert_eq!(store.list_networks(&a.id, None).await.unwrap().len(), 2);
    let only_p = store.list_networks(&a.id, Some(&p.id)).await.unwrap();
    assert_eq!(only_p, vec![n.clone()]);
    assert_eq!(
        store.get_project(&a.id, &p.id).await.unwrap().networks,
        vec![n.clone()]
    );

    let patch = NetworkPatch {
        domain: Some(("www.example.com".into(), d.id.clone())),
        port: Some(443),
    };
    let u = store
        .update_network(&a.id, &n.id, patch, &audit())
        .await
        .unwrap();
    assert_eq!((u.domain.as_str(), u.port), ("www.example.com", 443));
    let ev = next_event(&mut feed).await;
    assert_eq!(ev.data["networks"][0]["port"], 443);

    store.delete_network(&a.id, &n.id, &audit()).await.unwrap();
    let ev = next_event(&mut feed).await;
    assert_eq!(
        (ev.kind, ev.project_id.as_str()),
        (EventKind::Update, p.id.as_str())
    );
    assert_eq!(ev.data["networks"], serde_json::json!([]));
    assert!(is_not_found(store.get_network(&a.id, &n.id).await));
    assert!(is_not_found(
        store.delete_network(&a.id, &n.id, &audit()).await
    ));
}

/// Hostnames are unique; the covering domain must exist; domains in use
/// cannot be deleted.
pub async fn network_domain_rules(store: &dyn Store) {
    let a = user(store, "a").await;
    let b = user(store, "b").await;
    let d = store
        .create_domain(new_domain("example.com"), &audit())
        .await
        .unwrap();
    let pa = store
        .core_create_project(new_project(&a.id), &audit())
        .await
        .unwrap();
    let pb = store
        .core_create_project(new_project(&b.id), &audit())
        .await
        .unwrap();
    store
        .create_network(&a.id, new_network(&pa.id, "app.example.com", &d), &audit())
        .await
        .unwrap();
    let before = store.last_event_id().await.unwrap();
    assert_eq!(
        conflict_rule(
            store
                .create_network(&b.id, new_network(&pb.id, "app.example.com", &d), &audit())
                .await
        ),
        Unique::NetworkHostname
    );
    let gone = new_domain("gone.com");
    assert_eq!(
        conflict_rule(
            store
                .create_network(&b.id, new_network(&pb.id, "x.gone.com", &gone), &audit())
                .await
        ),
        Unique::NetworkHostname
    );
    assert_eq!(store.last_event_id().await.unwrap(), before);
    assert_eq!(
        conflict_field(store.delete_domain(&d.id, &audit()).await),
        "networks"
    );
    assert!(store.get_domain(&d.id).await.is_ok());
    // Racing creates of one hostname: exactly one wins.
    let results = futures::future::join_all((0..8).map(|_| {
        let network = new_network(&pb.id, "race.example.com", &d);
        let owner = b.id.clone();
        async move { store.create_network(&owner, network, &audit()).await }
    }))
    .await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
}

/// Another user's networks are NotFound, and a network cannot be attached to
/// another user's project.
pub async fn networks_are_owner_scoped(store: &dyn Store) {
    let a = user(store, "a").await;
    let b = user(store, "b").await;
    let d = store
        .create_domain(new_domain("example.com"), &audit())
        .await
        .unwrap();
    let p = store
        .core_create_project(new_project(&a.id), &audit())
        .await
        .unwrap();
    let n = store
        .create_network(&a.id, new_network(&p.id, "a.example.com", &d), &audit())
        .await
        .unwrap();
    assert!(is_not_found(
        store
            .create_network(&b.id, new_network(&p.id, "b.example.com", &d), &audit())
            .await
    ));
    assert!(is_not_found(store.get_network(&b.id, &n.id).await));
    assert!(store.list_networks(&b.id, None).await.unwrap().is_empty());
    assert!(store
        .list_networks(&b.id, Some(&p.id))
        .await
        .unwrap()
        .is_empty());
    let patch = NetworkPatch {
        port: Some(1),
        ..Default::default()
    };
    assert!(is_not_found(
        store.update_network(&b.id, &n.id, patch, &audit()).await
    ));
    assert!(is_not_found(
        store.delete_network(&b.id, &n.id, &audit()).await
    ));
    assert_eq!(store.get_network(&a.id, &n.id).await.unwrap().port, 8080);
}

/// Domains: unique names, one main, linking, deleting.
pub async fn domain_crud_and_rules(store: &dyn Store) {
    let mut main = new_domain("example.com");
    main.main = true;
    let main = store.create_domain(main, &audit()).await.unwrap();
    let other = store
        .create_domain(new_domain("example.org"), &audit())
        .await
        .unwrap();
    assert_eq!(
        conflict_rule(
            store
                .create_domain(new_domain("example.com"), &audit())
                .await
        ),
        Unique::DomainName
    );
    let mut second_main = new_domain("example.net");
    second_main.main = true;
    assert_eq!(
        conflict_field(store.create_domain(second_main, &audit()).await),
        "main"
    );
    assert_eq!(store.get_domain(&main.id).await.unwrap(), main);
    let list = store.list_domains().await.unwrap();
    assert_eq!(
        list.iter().map(|d| d.id.clone()).collect::<Vec<_>>(),
        vec![main.id.clone(), other.id.clone()]
    );
    let linked = store
        .set_domain_linked(&other.id, true, &audit())
        .await
        .unwrap();
    assert!(linked.linked);
    assert!(store.get_domain(&other.id).await.unwrap().linked);
    store.delete_domain(&other.id, &audit()).await.unwrap();
    assert!(is_not_found(store.get_domain(&other.id).await));
    assert!(is_not_found(store.delete_domain(&other.id, &audit()).await));
    assert!(is_not_found(
        store
            .set_domain_linked(&"nope".into(), true, &audit())
            .await
    ));
}

/// A project reads with its networks oldest first (stores that fetch them
/// in the project's own query must keep that order and every field).
pub async fn project_reads_networks_oldest_first(store: &dyn Store) {
    let a = user(store, "a").await;
    let d = store
        .create_domain(new_domain("example.com"), &audit())
        .await
        .unwrap();
    let mut p = new_project(&a.id);
    p.description = Some("with networks".into());
    p.path = Some("/srv/ordered".into());
    let p = store.core_create_project(p, &audit()).await.unwrap();
    let bare = store
        .core_create_project(new_project(&a.id), &audit())
        .await
        .unwrap();
    let mut made = Vec::new();
    for (host, port) in [
        ("one.example.com", 8080),
        ("two.example.com", 1),
        ("three.example.com", 65535),
    ] {
        let mut n = new_network(&p.id, host, &d);
        n.port = port;
        made.push(store.create_network(&a.id, n, &audit()).await.unwrap());
    }
    // An update keeps the network's place.
    let patch = NetworkPatch {
        port: Some(443),
        ..Default::default()
    };
    made[0] = store
        .update_network(&a.id, &made[0].id, patch, &audit())
        .await
        .unwrap();

    let read = store.get_project(&a.id, &p.id).await.unwrap();
    assert_eq!(read.networks, made, "every field, oldest first");
    assert_eq!(read.description.as_deref(), Some("with networks"));
    assert_eq!(read.path.as_deref(), Some("/srv/ordered"));
    assert_eq!(store.list_networks(&a.id, Some(&p.id)).await.unwrap(), made);
    assert!(store
        .get_project(&a.id, &bare.id)
        .await
        .unwrap()
        .networks
        .is_empty());

    store
        .delete_network(&a.id, &made[1].id, &audit())
        .await
        .unwrap();
    let read = store.get_project(&a.id, &p.id).await.unwrap();
    assert_eq!(read.networks, vec![made[0].clone(), made[2].clone()]);
}
