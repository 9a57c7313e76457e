//! Users, authorizations and settings.

use super::*;

/// `ping` succeeds on a healthy store.
pub async fn ping_answers(store: &dyn Store) {
    store.ping().await.expect("ping");
}

/// `ready` succeeds on a freshly opened (migrated) store.
pub async fn ready_answers(store: &dyn Store) {
    store.ready().await.expect("ready");
}

/// `has_users` is false on an empty store, true once a user exists.
pub async fn has_users_after_the_first_signup(store: &dyn Store) {
    assert!(!store.has_users().await.expect("has_users"));
    user(store, "a").await;
    assert!(store.has_users().await.expect("has_users"));
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
    let a = store
        .create_user(new_user("a"), RoleGate::FirstUserOnly)
        .await
        .unwrap();
    assert_eq!(a.role, Role::Admin);
    let b = new_user("b");
    let email = b.email.clone();
    assert_eq!(
        conflict_field(store.create_user(b, RoleGate::FirstUserOnly).await),
        "signup"
    );
    assert!(store.find_user_by_email(&email).await.unwrap().is_none());
}

/// `Exactly` gives the role asked for, even to the instance's first user,
/// and a gate that refuses writes nothing.
pub async fn exact_role_gate_sets_the_role(store: &dyn Store) {
    let a = store
        .create_user(new_user("a"), RoleGate::Exactly(Role::Member))
        .await
        .unwrap();
    assert_eq!(a.role, Role::Member);
    let b = store
        .create_user(new_user("b"), RoleGate::Exactly(Role::Admin))
        .await
        .unwrap();
    assert_eq!(b.role, Role::Admin);
    let c = user(store, "c").await;
    assert_eq!(c.role, Role::Member);
    assert_eq!(store.get_user(&a.id).await.unwrap().role, Role::Member);
    assert_eq!(store.get_user(&b.id).await.unwrap().role, Role::Admin);
}

/// A second user with the same email conflicts on `email`.
pub async fn duplicate_email_conflicts(store: &dyn Store) {
    let a = user(store, "a").await;
    let mut b = new_user("b");
    b.email = a.email.clone();
    assert_eq!(
        conflict_field(store.create_user(b.clone(), RoleGate::FirstUserAdmin).await),
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
        store.create_user(u, RoleGate::FirstUserAdmin)
    });
    let results = futures::future::join_all(attempts).await;
    let ok: Vec<_> = results.iter().filter(|r| r.is_ok()).collect();
    assert_eq!(ok.len(), 1, "exactly one create wins: {results:?}");
    for r in results.iter().filter(|r| r.is_err()) {
        assert!(
            matches!(r, Err(StoreError::Conflict(crate::error::Unique::Email))),
            "{r:?}"
        );
    }
    // Racing creates after the first user: none of them may become admin.
    let users = futures::future::join_all(
        (0..8).map(|_| store.create_user(new_user("x"), RoleGate::FirstUserAdmin)),
    )
    .await;
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
    let g = store
        .create_user(n, RoleGate::FirstUserAdmin)
        .await
        .unwrap();
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
        conflict_field(store.create_user(dup, RoleGate::FirstUserAdmin).await),
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

/// `all_authorizations` lists every user's; `reseal_authorization` replaces
/// a secret only while it still holds the old one, and never another
/// user's or a deleted one.
pub async fn reseal_authorizations_compare_and_set(store: &dyn Store) {
    let a = user(store, "a").await;
    let b = user(store, "b").await;
    let x = store
        .create_authorization(new_auth(&a.id, "x"))
        .await
        .unwrap();
    let y = store
        .create_authorization(new_auth(&b.id, "y"))
        .await
        .unwrap();
    let z = store
        .create_authorization(new_auth(&a.id, "z"))
        .await
        .unwrap();
    let mut ids: Vec<String> = store
        .all_authorizations()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect();
    ids.sort();
    let mut expected = vec![x.id.clone(), y.id.clone(), z.id.clone()];
    expected.sort();
    assert_eq!(ids, expected);

    let new = Sealed(vec![9, 8, 7]);
    // Another user's, a stale old value: nothing written.
    assert!(!store
        .reseal_authorization(&b.id, &x.id, &x.secret, new.clone())
        .await
        .unwrap());
    assert!(!store
        .reseal_authorization(&a.id, &x.id, &Sealed(vec![0]), new.clone())
        .await
        .unwrap());
    assert_eq!(
        store.get_authorization(&a.id, &x.id).await.unwrap().secret,
        x.secret
    );
    // The current value: written, everything else kept.
    assert!(store
        .reseal_authorization(&a.id, &x.id, &x.secret, new.clone())
        .await
        .unwrap());
    let read = store.get_authorization(&a.id, &x.id).await.unwrap();
    assert_eq!(read.secret, new);
    assert_eq!((read.name, read.info, read.kind), (x.name, x.info, x.kind));
    // Deleted: nothing comes back.
    store.delete_authorization(&a.id, &z.id).await.unwrap();
    assert!(!store
        .reseal_authorization(&a.id, &z.id, &z.secret, new)
        .await
        .unwrap());
    assert!(is_not_found(store.get_authorization(&a.id, &z.id).await));
}
