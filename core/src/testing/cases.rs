//! The conformance cases. Each takes a fresh, empty store.

use std::time::Duration;

use futures::StreamExt;

use crate::error::StoreError;
use crate::model::*;
use crate::store::{EventStream, Store};

fn uid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn now() -> Timestamp {
    chrono::Utc::now()
}

/// A new user with a unique email.
pub fn new_user(name: &str) -> NewUser {
    let id = uid();
    NewUser {
        email: format!("{name}-{}@example.com", &id[..8]),
        id,
        name: name.to_string(),
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        github_id: None,
        created_at: now(),
    }
}

/// A project owned by `owner` with unique sourceId / vmId.
pub fn new_project(owner: &str) -> Project {
    let id = uid();
    Project {
        source_id: format!("src-{id}"),
        vm_id: format!("vm-{id}"),
        id,
        owner_id: owner.to_string(),
        name: "demo".into(),
        description: Some("a project".into()),
        path: None,
        networks: vec![],
        created_at: now(),
        updated_at: now(),
    }
}

/// A domain that is not main.
pub fn new_domain(name: &str) -> Domain {
    Domain {
        id: uid(),
        domain: name.to_string(),
        challenge: "c".repeat(32),
        main: false,
        linked: false,
        created_at: now(),
    }
}

/// A network under `domain`.
pub fn new_network(project_id: &str, host: &str, domain: &Domain) -> Network {
    Network {
        id: uid(),
        domain: host.to_string(),
        port: 8080,
        project_id: project_id.to_string(),
        domain_id: domain.id.clone(),
        created_at: now(),
    }
}

fn conflict_field(r: Result<impl std::fmt::Debug, StoreError>) -> String {
    match r {
        Err(StoreError::Conflict { field }) => field,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

fn is_not_found<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::NotFound))
}

async fn user(store: &dyn Store, name: &str) -> User {
    store
        .create_user(new_user(name), false)
        .await
        .expect("create user")
}

/// Reads the next feed item, failing after 5 s.
pub async fn next_item(stream: &mut EventStream) -> FeedItem {
    tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("an event within 5 s")
        .expect("the stream goes on")
        .expect("no store error")
}

async fn next_event(stream: &mut EventStream) -> Event {
    match next_item(stream).await {
        FeedItem::Event(e) => e,
        FeedItem::Resync => panic!("unexpected resync"),
    }
}

/// `ping` succeeds on a healthy store.
pub async fn ping_answers(store: &dyn Store) {
    store.ping().await.expect("ping");
}

/// The first user is admin, the next ones members.
pub async fn first_user_is_admin_then_members(store: &dyn Store) {
    let a = user(store, "a").await;
    let b = user(store, "b").await;
    assert_eq!(a.role, Role::Admin);
    assert_eq!(b.role, Role::Member);
    let read = store.get_user(&a.id).await.unwrap();
    assert_eq!(read, a);
    assert!(is_not_found(store.get_user("nope").await));
}

/// `first_only` refuses a second user with `Conflict { field: "signup" }`.
pub async fn first_only_refuses_second_user(store: &dyn Store) {
    let a = store.create_user(new_user("a"), true).await.unwrap();
    assert_eq!(a.role, Role::Admin);
    let b = new_user("b");
    let email = b.email.clone();
    assert_eq!(conflict_field(store.create_user(b, true).await), "signup");
    assert!(store.find_user_by_email(&email).await.unwrap().is_none());
}

/// A second user with the same email conflicts on `email`.
pub async fn duplicate_email_conflicts(store: &dyn Store) {
    let a = user(store, "a").await;
    let mut b = new_user("b");
    b.email = a.email.clone();
    assert_eq!(
        conflict_field(store.create_user(b.clone(), false).await),
        "email"
    );
    assert!(is_not_found(store.get_user(&b.id).await));
}

/// Sixteen racing creates with one email: exactly one wins, and exactly one admin exists.
pub async fn concurrent_signups_same_email_one_wins(store: &dyn Store) {
    let email = format!("race-{}@example.com", &uid()[..8]);
    let attempts = (0..16).map(|_| {
        let mut u = new_user("r");
        u.email = email.clone();
        store.create_user(u, false)
    });
    let results = futures::future::join_all(attempts).await;
    let ok: Vec<_> = results.iter().filter(|r| r.is_ok()).collect();
    assert_eq!(ok.len(), 1, "exactly one create wins: {results:?}");
    for r in results.iter().filter(|r| r.is_err()) {
        assert!(
            matches!(r, Err(StoreError::Conflict { field }) if field == "email"),
            "{r:?}"
        );
    }
    // Racing first users on an empty store: only one may be admin.
    let users =
        futures::future::join_all((0..8).map(|_| store.create_user(new_user("x"), false))).await;
    let admins = users
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .filter(|u| u.role == Role::Admin)
        .count();
    assert_eq!(admins, 0, "the first user (above) is the only admin");
}

/// Lookups by email and GitHub id.
pub async fn users_found_by_email_and_github_id(store: &dyn Store) {
    let mut n = new_user("g");
    n.github_id = Some(4242);
    n.password_hash = None;
    let g = store.create_user(n, false).await.unwrap();
    assert_eq!(
        store
            .find_user_by_email(&g.email)
            .await
            .unwrap()
            .unwrap()
            .id,
        g.id
    );
    assert_eq!(
        store.find_user_by_github_id(4242).await.unwrap().unwrap(),
        g
    );
    assert!(store.find_user_by_github_id(1).await.unwrap().is_none());
    assert!(store
        .find_user_by_email("none@example.com")
        .await
        .unwrap()
        .is_none());
    let mut dup = new_user("h");
    dup.github_id = Some(4242);
    assert_eq!(
        conflict_field(store.create_user(dup, false).await),
        "githubId"
    );
}

/// Linking a GitHub id that another user has conflicts on `githubId`.
pub async fn link_github_unique(store: &dyn Store) {
    let a = user(store, "a").await;
    let b = user(store, "b").await;
    let linked = store.link_github(&a.id, 7).await.unwrap();
    assert_eq!(linked.github_id, Some(7));
    assert_eq!(
        conflict_field(store.link_github(&b.id, 7).await),
        "githubId"
    );
    assert!(
        store.link_github(&a.id, 7).await.is_ok(),
        "relinking the same id is fine"
    );
    assert!(is_not_found(store.link_github("nope", 8).await));
}

/// Deleting a user removes their projects (with DELETE events) and authorizations.
pub async fn delete_user_removes_user_and_projects(store: &dyn Store) {
    let a = user(store, "a").await;
    let p = store.create_project(new_project(&a.id)).await.unwrap();
    let mut feed = store
        .events(Some(store.last_event_id().await.unwrap()))
        .await
        .unwrap();
    store.delete_user(&a.id).await.unwrap();
    assert!(is_not_found(store.get_user(&a.id).await));
    assert!(is_not_found(store.get_project(&a.id, &p.id).await));
    let ev = next_event(&mut feed).await;
    assert_eq!(
        (ev.kind, ev.project_id.as_str()),
        (EventKind::Delete, p.id.as_str())
    );
    assert!(is_not_found(store.delete_user(&a.id).await));
}

/// Projects round-trip and list oldest first.
pub async fn project_create_read_list(store: &dyn Store) {
    let a = user(store, "a").await;
    let mut p1 = new_project(&a.id);
    p1.path = Some("/srv/one".into());
    let p1 = store.create_project(p1).await.unwrap();
    let p2 = store.create_project(new_project(&a.id)).await.unwrap();
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

/// sourceId, vmId and path (when set) are unique instance-wide.
pub async fn project_uniqueness_conflicts(store: &dyn Store) {
    let a = user(store, "a").await;
    let b = user(store, "b").await;
    let mut p = new_project(&a.id);
    p.path = Some("/srv/app".into());
    let p = store.create_project(p).await.unwrap();
    let mut q = new_project(&b.id);
    q.source_id = p.source_id.clone();
    assert_eq!(conflict_field(store.create_project(q).await), "sourceId");
    let mut q = new_project(&b.id);
    q.vm_id = p.vm_id.clone();
    assert_eq!(conflict_field(store.create_project(q).await), "vmId");
    let mut q = new_project(&b.id);
    q.path = Some("/srv/app".into());
    assert_eq!(conflict_field(store.create_project(q).await), "path");
    // Unset paths never conflict.
    store.create_project(new_project(&b.id)).await.unwrap();
    store.create_project(new_project(&b.id)).await.unwrap();
    assert_eq!(store.list_projects(&b.id).await.unwrap().len(), 2);
}

/// Sixteen racing creates with one vmId: exactly one wins.
pub async fn concurrent_project_creates_same_vm_one_wins(store: &dyn Store) {
    let a = user(store, "a").await;
    let before = store.last_event_id().await.unwrap();
    let results = futures::future::join_all((0..16).map(|_| {
        let mut p = new_project(&a.id);
        p.vm_id = "vm-shared".into();
        store.create_project(p)
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
    let p = store.create_project(new_project(&a.id)).await.unwrap();
    let other = store.create_project(new_project(&a.id)).await.unwrap();
    let later = p.updated_at + chrono::Duration::seconds(5);
    let patch = ProjectPatch {
        name: Some("renamed".into()),
        description: Some(None),
        path: Some(Some("/srv/x".into())),
        updated_at: later,
        ..Default::default()
    };
    let u = store.update_project(&a.id, &p.id, patch).await.unwrap();
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
        conflict_field(store.update_project(&a.id, &p.id, clash).await),
        "vmId"
    );
    let clash = ProjectPatch {
        path: Some(Some("/srv/x".into())),
        updated_at: later,
        ..Default::default()
    };
    assert_eq!(
        conflict_field(store.update_project(&a.id, &other.id, clash).await),
        "path"
    );
    // Setting a project's own values again is not a conflict.
    let same = ProjectPatch {
        vm_id: Some(p.vm_id.clone()),
        source_id: Some(p.source_id.clone()),
        updated_at: later,
        ..Default::default()
    };
    store.update_project(&a.id, &p.id, same).await.unwrap();
    assert_eq!(
        store.get_project(&a.id, &p.id).await.unwrap().name,
        "renamed"
    );
}

/// Deleting a project deletes its networks.
pub async fn project_delete_cascades_networks(store: &dyn Store) {
    let a = user(store, "a").await;
    let d = store
        .create_domain(new_domain("example.com"))
        .await
        .unwrap();
    let p = store.create_project(new_project(&a.id)).await.unwrap();
    let n = store
        .create_network(&a.id, new_network(&p.id, "app.example.com", &d))
        .await
        .unwrap();
    store.delete_project(&a.id, &p.id).await.unwrap();
    assert!(is_not_found(store.get_project(&a.id, &p.id).await));
    assert!(is_not_found(store.get_network(&a.id, &n.id).await));
    assert!(store.list_networks(&a.id, None).await.unwrap().is_empty());
    // The hostname is free again, and the domain can go.
    let p2 = store.create_project(new_project(&a.id)).await.unwrap();
    let n2 = store
        .create_network(&a.id, new_network(&p2.id, "app.example.com", &d))
        .await
        .unwrap();
    store.delete_network(&a.id, &n2.id).await.unwrap();
    store.delete_domain(&d.id).await.unwrap();
    assert!(is_not_found(store.delete_project(&a.id, &p.id).await));
}

/// Another user's project is NotFound on every operation and stays unchanged.
pub async fn projects_are_owner_scoped(store: &dyn Store) {
    let a = user(store, "a").await;
    let b = user(store, "b").await;
    let p = store.create_project(new_project(&a.id)).await.unwrap();
    let before = store.last_event_id().await.unwrap();
    assert!(is_not_found(store.get_project(&b.id, &p.id).await));
    assert!(store.list_projects(&b.id).await.unwrap().is_empty());
    let patch = ProjectPatch {
        name: Some("stolen".into()),
        updated_at: now(),
        ..Default::default()
    };
    assert!(is_not_found(
        store.update_project(&b.id, &p.id, patch).await
    ));
    assert!(is_not_found(store.delete_project(&b.id, &p.id).await));
    assert_eq!(store.get_project(&a.id, &p.id).await.unwrap().name, p.name);
    assert_eq!(
        store.last_event_id().await.unwrap(),
        before,
        "no event for refused writes"
    );
}

/// Networks: create, read, list (by project), update, delete, each with an
/// UPDATE event carrying the project and its networks.
pub async fn network_crud_and_events(store: &dyn Store) {
    let a = user(store, "a").await;
    let d = store
        .create_domain(new_domain("example.com"))
        .await
        .unwrap();
    let p = store.create_project(new_project(&a.id)).await.unwrap();
    let q = store.create_project(new_project(&a.id)).await.unwrap();
    let mut feed = store
        .events(Some(store.last_event_id().await.unwrap()))
        .await
        .unwrap();

    let n = store
        .create_network(&a.id, new_network(&p.id, "api.example.com", &d))
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
        .create_network(&a.id, new_network(&q.id, "q.example.com", &d))
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
    let u = store.update_network(&a.id, &n.id, patch).await.unwrap();
    assert_eq!((u.domain.as_str(), u.port), ("www.example.com", 443));
    let ev = next_event(&mut feed).await;
    assert_eq!(ev.data["networks"][0]["port"], 443);

    store.delete_network(&a.id, &n.id).await.unwrap();
    let ev = next_event(&mut feed).await;
    assert_eq!(
        (ev.kind, ev.project_id.as_str()),
        (EventKind::Update, p.id.as_str())
    );
    assert_eq!(ev.data["networks"], serde_json::json!([]));
    assert!(is_not_found(store.get_network(&a.id, &n.id).await));
    assert!(is_not_found(store.delete_network(&a.id, &n.id).await));
}

/// Hostnames are unique; the covering domain must exist; domains in use
/// cannot be deleted.
pub async fn network_domain_rules(store: &dyn Store) {
    let a = user(store, "a").await;
    let b = user(store, "b").await;
    let d = store
        .create_domain(new_domain("example.com"))
        .await
        .unwrap();
    let pa = store.create_project(new_project(&a.id)).await.unwrap();
    let pb = store.create_project(new_project(&b.id)).await.unwrap();
    store
        .create_network(&a.id, new_network(&pa.id, "app.example.com", &d))
        .await
        .unwrap();
    let before = store.last_event_id().await.unwrap();
    assert_eq!(
        conflict_field(
            store
                .create_network(&b.id, new_network(&pb.id, "app.example.com", &d))
                .await
        ),
        "domain"
    );
    let gone = new_domain("gone.com");
    assert_eq!(
        conflict_field(
            store
                .create_network(&b.id, new_network(&pb.id, "x.gone.com", &gone))
                .await
        ),
        "domain"
    );
    assert_eq!(store.last_event_id().await.unwrap(), before);
    assert_eq!(conflict_field(store.delete_domain(&d.id).await), "networks");
    assert!(store.get_domain(&d.id).await.is_ok());
    // Racing creates of one hostname: exactly one wins.
    let results = futures::future::join_all(
        (0..8).map(|_| store.create_network(&b.id, new_network(&pb.id, "race.example.com", &d))),
    )
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
        .create_domain(new_domain("example.com"))
        .await
        .unwrap();
    let p = store.create_project(new_project(&a.id)).await.unwrap();
    let n = store
        .create_network(&a.id, new_network(&p.id, "a.example.com", &d))
        .await
        .unwrap();
    assert!(is_not_found(
        store
            .create_network(&b.id, new_network(&p.id, "b.example.com", &d))
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
        store.update_network(&b.id, &n.id, patch).await
    ));
    assert!(is_not_found(store.delete_network(&b.id, &n.id).await));
    assert_eq!(store.get_network(&a.id, &n.id).await.unwrap().port, 8080);
}

/// Domains: unique names, one main, linking, deleting.
pub async fn domain_crud_and_rules(store: &dyn Store) {
    let mut main = new_domain("example.com");
    main.main = true;
    let main = store.create_domain(main).await.unwrap();
    let other = store
        .create_domain(new_domain("example.org"))
        .await
        .unwrap();
    assert_eq!(
        conflict_field(store.create_domain(new_domain("example.com")).await),
        "domain"
    );
    let mut second_main = new_domain("example.net");
    second_main.main = true;
    assert_eq!(
        conflict_field(store.create_domain(second_main).await),
        "main"
    );
    assert_eq!(store.get_domain(&main.id).await.unwrap(), main);
    let list = store.list_domains().await.unwrap();
    assert_eq!(
        list.iter().map(|d| d.id.clone()).collect::<Vec<_>>(),
        vec![main.id.clone(), other.id.clone()]
    );
    let linked = store.set_domain_linked(&other.id, true).await.unwrap();
    assert!(linked.linked);
    assert!(store.get_domain(&other.id).await.unwrap().linked);
    store.delete_domain(&other.id).await.unwrap();
    assert!(is_not_found(store.get_domain(&other.id).await));
    assert!(is_not_found(store.delete_domain(&other.id).await));
    assert!(is_not_found(store.set_domain_linked("nope", true).await));
}

fn new_auth(user_id: &str, name: &str) -> Authorization {
    Authorization {
        id: uid(),
        user_id: user_id.to_string(),
        name: name.to_string(),
        kind: AuthorizationType::DeployKey,
        secret: Sealed(vec![1, 2, 3, 4]),
        info: serde_json::json!({"fingerprint": "SHA256:abc"}),
        created_at: now(),
    }
}

/// Authorizations are stored as given and scoped to their owner.
pub async fn authorization_crud_and_scope(store: &dyn Store) {
    let a = user(store, "a").await;
    let b = user(store, "b").await;
    let x = store
        .create_authorization(new_auth(&a.id, "x"))
        .await
        .unwrap();
    let y = store
        .create_authorization(new_auth(&a.id, "y"))
        .await
        .unwrap();
    let read = store.get_authorization(&a.id, &x.id).await.unwrap();
    assert_eq!(read.secret, x.secret);
    assert_eq!(read.info, x.info);
    assert_eq!(read.kind, x.kind);
    let list = store.list_authorizations(&a.id).await.unwrap();
    assert_eq!(
        list.iter().map(|a| a.id.clone()).collect::<Vec<_>>(),
        vec![x.id.clone(), y.id.clone()]
    );
    assert!(store.list_authorizations(&b.id).await.unwrap().is_empty());
    assert!(is_not_found(store.get_authorization(&b.id, &x.id).await));
    assert!(is_not_found(store.delete_authorization(&b.id, &x.id).await));
    store.delete_authorization(&a.id, &x.id).await.unwrap();
    assert!(is_not_found(store.get_authorization(&a.id, &x.id).await));
}

/// `upsert_authorization` replaces the secret of a same-kind, same-name record.
pub async fn authorization_upsert_replaces(store: &dyn Store) {
    let a = user(store, "a").await;
    let mut first = new_auth(&a.id, "octocat");
    first.kind = AuthorizationType::Oauth;
    let first = store.upsert_authorization(first).await.unwrap();
    let mut again = new_auth(&a.id, "octocat");
    again.kind = AuthorizationType::Oauth;
    again.secret = Sealed(vec![9, 9]);
    let stored = store.upsert_authorization(again).await.unwrap();
    assert_eq!(stored.id, first.id);
    assert_eq!(stored.secret, Sealed(vec![9, 9]));
    let list = store.list_authorizations(&a.id).await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].secret, Sealed(vec![9, 9]));
}

/// Settings are JSON documents by key.
pub async fn settings_roundtrip(store: &dyn Store) {
    assert_eq!(store.get_setting("github").await.unwrap(), None);
    let v = serde_json::json!({"clientId": "abc", "secret": [1, 2]});
    store.put_setting("github", v.clone()).await.unwrap();
    assert_eq!(store.get_setting("github").await.unwrap(), Some(v));
    let w = serde_json::json!({"clientId": "def"});
    store.put_setting("github", w.clone()).await.unwrap();
    assert_eq!(store.get_setting("github").await.unwrap(), Some(w));
}

/// Event ids increase by write; payloads follow DESIGN §3.
pub async fn event_ids_increase_and_payloads(store: &dyn Store) {
    let a = user(store, "a").await;
    let start = store.last_event_id().await.unwrap();
    let mut feed = store.events(Some(start)).await.unwrap();
    let p = store.create_project(new_project(&a.id)).await.unwrap();
    let patch = ProjectPatch {
        name: Some("second".into()),
        updated_at: now(),
        ..Default::default()
    };
    store.update_project(&a.id, &p.id, patch).await.unwrap();
    store.delete_project(&a.id, &p.id).await.unwrap();
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
    let p = store.create_project(new_project(&a.id)).await.unwrap();
    let before = store.last_event_id().await.unwrap();
    let mut dup = new_project(&a.id);
    dup.vm_id = p.vm_id.clone();
    assert!(store.create_project(dup).await.is_err());
    let mut ghost = new_project("no-such-user");
    ghost.vm_id = "vm-ghost".into();
    assert!(store.create_project(ghost).await.is_err());
    assert_eq!(store.last_event_id().await.unwrap(), before);
    // The next successful write gets the next id after `before`.
    let mut feed = store.events(Some(before)).await.unwrap();
    let q = store.create_project(new_project(&a.id)).await.unwrap();
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
        ids.push(store.create_project(new_project(&a.id)).await.unwrap().id);
    }
    let mut replay = store.events(Some(start)).await.unwrap();
    let mut live_only = store.events(None).await.unwrap();
    for _ in 0..2 {
        ids.push(store.create_project(new_project(&a.id)).await.unwrap().id);
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
    let p = store.create_project(new_project(&a.id)).await.unwrap();
    for i in 0..130 {
        let patch = ProjectPatch {
            name: Some(format!("n{i}")),
            updated_at: now(),
            ..Default::default()
        };
        store.update_project(&a.id, &p.id, patch).await.unwrap();
    }
    let mut feed = store.events(Some(0)).await.unwrap();
    assert_eq!(next_item(&mut feed).await, FeedItem::Resync);
    // A fresh cursor does not resync.
    let last = store.last_event_id().await.unwrap();
    let mut fresh = store.events(Some(last - 1)).await.unwrap();
    let e = next_event(&mut fresh).await;
    assert_eq!(e.id, last);
}
