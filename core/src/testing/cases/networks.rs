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
        .core_create_network(&a.id, new_network(&p.id, "api.example.com", &d), &audit())
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
        .core_create_network(&a.id, new_network(&q.id, "q.example.com", &d), &audit())
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
        .core_update_network(&a.id, &n.id, patch, &audit())
        .await
        .unwrap();
    assert_eq!((u.domain.as_str(), u.port), ("www.example.com", 443));
    let ev = next_event(&mut feed).await;
    assert_eq!(ev.data["networks"][0]["port"], 443);

    store
        .core_delete_network(&a.id, &n.id, &audit())
        .await
        .unwrap();
    let ev = next_event(&mut feed).await;
    assert_eq!(
        (ev.kind, ev.project_id.as_str()),
        (EventKind::Update, p.id.as_str())
    );
    assert_eq!(ev.data["networks"], serde_json::json!([]));
    assert!(is_not_found(store.get_network(&a.id, &n.id).await));
    assert!(is_not_found(
        store.core_delete_network(&a.id, &n.id, &audit()).await
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
        .core_create_network(&a.id, new_network(&pa.id, "app.example.com", &d), &audit())
        .await
        .unwrap();
    let before = store.last_event_id().await.unwrap();
    assert_eq!(
        conflict_rule(
            store
                .core_create_network(&b.id, new_network(&pb.id, "app.example.com", &d), &audit())
                .await
        ),
        Unique::NetworkHostname
    );
    let gone = new_domain("gone.com");
    assert_eq!(
        conflict_rule(
            store
                .core_create_network(&b.id, new_network(&pb.id, "x.gone.com", &gone), &audit())
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
        async move { store.core_create_network(&owner, network, &audit()).await }
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
        .core_create_network(&a.id, new_network(&p.id, "a.example.com", &d), &audit())
        .await
        .unwrap();
    assert!(is_not_found(
        store
            .core_create_network(&b.id, new_network(&p.id, "b.example.com", &d), &audit())
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
        store
            .core_update_network(&b.id, &n.id, patch, &audit())
            .await
    ));
    assert!(is_not_found(
        store.core_delete_network(&b.id, &n.id, &audit()).await
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
        made.push(store.core_create_network(&a.id, n, &audit()).await.unwrap());
    }
    // An update keeps the network's place.
    let patch = NetworkPatch {
        port: Some(443),
        ..Default::default()
    };
    made[0] = store
        .core_update_network(&a.id, &made[0].id, patch, &audit())
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
        .core_delete_network(&a.id, &made[1].id, &audit())
        .await
        .unwrap();
    let read = store.get_project(&a.id, &p.id).await.unwrap();
    assert_eq!(read.networks, vec![made[0].clone(), made[2].clone()]);
}

/// The network writes are a compare-and-swap on the project as core read
/// it, like `update_project`: when the stored project changed since (a
/// field, or its networks), `create_network`, `update_network` and
/// `delete_network` answer `Stale` and write nothing (no change, no event,
/// no audit entry). A network `before` does not hold, or another owner's
/// project, is `NotFound`. With a fresh read each applies, and its event is
/// the one core built.
pub async fn stale_network_writes_write_nothing(store: &dyn Store) {
    let (a, d, p) = owner_domain_project(store).await;
    let kept = store
        .core_create_network(&a.id, new_network(&p.id, "kept.example.com", &d), &audit())
        .await
        .unwrap();
    let stale = store.get_project(&a.id, &p.id).await.unwrap();
    // Someone else renames the project after our read.
    let rename = ProjectPatch {
        name: Some("theirs".into()),
        updated_at: now(),
        ..Default::default()
    };
    store
        .core_update_project(&a.id, &p.id, rename, &audit())
        .await
        .unwrap();

    /// The three writes, computed from `before`.
    fn create(before: &Project, d: &Domain) -> (Network, NewEvent) {
        let n = new_network(&before.id, "new.example.com", d);
        let mut after = before.clone();
        after.networks.push(n.clone());
        (n, NewEvent::for_project(EventKind::Update, &after))
    }
    fn update(before: &Project, id: &NetworkId) -> (Network, NewEvent) {
        let mut after = before.clone();
        let at = after.networks.iter().position(|n| n.id == *id).unwrap();
        after.networks[at].port = 9443;
        (
            after.networks[at].clone(),
            NewEvent::for_project(EventKind::Update, &after),
        )
    }
    fn delete(before: &Project, id: &NetworkId) -> NewEvent {
        let mut after = before.clone();
        after.networks.retain(|n| n.id != *id);
        NewEvent::for_project(EventKind::Update, &after)
    }

    /// Runs `write` and checks it was refused as stale and wrote nothing.
    async fn writes_nothing<F>(store: &dyn Store, owner: &UserId, id: &ProjectId, write: F)
    where
        F: std::future::Future<Output = Result<(), StoreError>>,
    {
        let last = store.last_event_id().await.unwrap();
        let stored = store.get_project(owner, id).await.unwrap();
        let audits = stored_ids(store).await.len();
        let r = write.await;
        assert!(matches!(r, Err(StoreError::Stale)), "{r:?}");
        assert_eq!(store.last_event_id().await.unwrap(), last, "no event");
        assert_eq!(store.get_project(owner, id).await.unwrap(), stored);
        assert_eq!(stored_ids(store).await.len(), audits, "no audit entry");
    }

    for write in 0..3 {
        writes_nothing(store, &a.id, &p.id, async {
            match write {
                0 => {
                    let (n, event) = create(&stale, &d);
                    store.create_network(&stale, n, event, &audit()).await
                }
                1 => {
                    let (n, event) = update(&stale, &kept.id);
                    store.update_network(&stale, &n, event, &audit()).await
                }
                _ => {
                    let event = delete(&stale, &kept.id);
                    store
                        .delete_network(&stale, &kept.id, event, &audit())
                        .await
                }
            }
        })
        .await;
    }

    // A network the read does not hold, and another owner's project: NotFound.
    let fresh = store.get_project(&a.id, &p.id).await.unwrap();
    let mut ghost = kept.clone();
    ghost.id = uid();
    let event = NewEvent::for_project(EventKind::Update, &fresh);
    assert!(is_not_found(
        store
            .update_network(&fresh, &ghost, event.clone(), &audit())
            .await
    ));
    assert!(is_not_found(
        store
            .delete_network(&fresh, &ghost.id, event, &audit())
            .await
    ));
    let b = user(store, "b").await;
    let mut foreign = fresh.clone();
    foreign.owner_id = b.id.clone();
    let (n, event) = create(&foreign, &d);
    assert!(is_not_found(
        store.create_network(&foreign, n, event, &audit()).await
    ));

    // Fresh reads apply; each event is the one core built, and reads agree.
    let mut feed = store
        .events(Some(store.last_event_id().await.unwrap()))
        .await
        .unwrap();
    let (n, event) = create(&fresh, &d);
    store
        .create_network(&fresh, n.clone(), event.clone(), &audit())
        .await
        .unwrap();
    assert_eq!(next_event(&mut feed).await.data, event.data);
    let read = store.get_project(&a.id, &p.id).await.unwrap();
    assert_eq!(read.networks, vec![kept.clone(), n.clone()]);
    assert_eq!(event.data, serde_json::to_value(&read).unwrap());

    let (changed, event) = update(&read, &kept.id);
    store
        .update_network(&read, &changed, event.clone(), &audit())
        .await
        .unwrap();
    assert_eq!(next_event(&mut feed).await.data, event.data);
    let read = store.get_project(&a.id, &p.id).await.unwrap();
    assert_eq!(read.networks, vec![changed.clone(), n.clone()]);
    assert_eq!(store.get_network(&a.id, &kept.id).await.unwrap().port, 9443);

    let event = delete(&read, &kept.id);
    store
        .delete_network(&read, &kept.id, event.clone(), &audit())
        .await
        .unwrap();
    assert_eq!(next_event(&mut feed).await.data, event.data);
    let read = store.get_project(&a.id, &p.id).await.unwrap();
    assert_eq!(read.networks, vec![n]);
    assert!(is_not_found(store.get_network(&a.id, &kept.id).await));
}

/// Service level: network creates racing a rename on one project all
/// land (each stale write reads again), the hostnames stay unique, and the
/// last event carries the project exactly as stored.
pub async fn concurrent_service_network_writes_lose_nothing(store: std::sync::Arc<dyn Store>) {
    use crate::services::{NewNetwork, ProjectChanges};
    let slipway = slipway_on(&store, |b| b);
    store
        .create_domain(new_domain("example.com"), &audit())
        .await
        .unwrap();
    let a = user(&*store, "a").await;
    let actor = crate::Principal::user_id(a.id.clone(), None);
    let p = service_project(&slipway, &actor).await;
    let start = store.last_event_id().await.unwrap();
    let networks = slipway.networks();
    let projects = slipway.projects();
    let creates = (0..6).map(|i| {
        networks.create(
            &actor,
            NewNetwork::new(format!("n{i}.example.com"), 8000 + i, p.id.clone()),
        )
    });
    let rename = ProjectChanges {
        name: Some("renamed".into()),
        ..Default::default()
    };
    let (made, renamed) = tokio::join!(
        futures::future::join_all(creates),
        projects.update(&actor, &p.id, rename)
    );
    for r in made {
        r.expect("every concurrent create applies");
    }
    renamed.expect("the rename applies");
    let stored = projects.get(&actor, &p.id).await.unwrap();
    assert_eq!(stored.name, "renamed");
    assert_eq!(stored.networks.len(), 6);
    let events = store.read_events(start, 100).await.unwrap();
    assert_eq!(events.len(), 7, "{events:?}");
    let counts: Vec<usize> = events
        .iter()
        .map(|e| e.data["networks"].as_array().map_or(0, Vec::len))
        .collect();
    assert!(
        counts.windows(2).all(|w| w[1] == w[0] || w[1] == w[0] + 1),
        "{counts:?}"
    );
    assert_eq!(
        events.last().unwrap().data,
        serde_json::to_value(&stored).unwrap()
    );
}

/// Service level: the per-project network quota holds under concurrent
/// creates (each create checks the project it computed its write from, and
/// the write lands only while the project is still as read): eight racing
/// creates on a project with a quota of three leave exactly three.
pub async fn concurrent_network_creates_respect_the_quota(store: std::sync::Arc<dyn Store>) {
    use crate::services::{Error, NewNetwork};
    let slipway = slipway_on(&store, |b| b.max_networks_per_project(3));
    store
        .create_domain(new_domain("example.com"), &audit())
        .await
        .unwrap();
    let a = user(&*store, "a").await;
    let actor = crate::Principal::user_id(a.id.clone(), None);
    let p = service_project(&slipway, &actor).await;
    let networks = slipway.networks();
    let creates = (0..8).map(|i| {
        networks.create(
            &actor,
            NewNetwork::new(format!("q{i}.example.com"), 8000 + i, p.id.clone()),
        )
    });
    let results = futures::future::join_all(creates).await;
    let made = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(made, 3, "{results:?}");
    assert!(
        results
            .iter()
            .all(|r| r.is_ok() || matches!(r, Err(Error::Forbidden(_)))),
        "{results:?}"
    );
    let stored = slipway.projects().get(&actor, &p.id).await.unwrap();
    assert_eq!(stored.networks.len(), 3);
}
