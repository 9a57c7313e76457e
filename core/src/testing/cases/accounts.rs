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

/// The first user is admin, the next ones members.
pub async fn first_user_is_admin_then_members(store: &dyn Store) {
    let a = user(store, "a").await;
    let b = user(store, "b").await;
    assert_eq!(a.role, Role::Admin);
    assert_eq!(b.role, Role::Member);
    let read = store.get_user(&a.id).await.unwrap();
    assert_eq!(read, a);
    assert!(is_not_found(store.get_user(&"nope".into()).await));
}

/// `first_only` refuses a second user with `Conflict { field: "signup" }`.
pub async fn first_only_refuses_second_user(store: &dyn Store) {
    let a = store
        .create_user(new_user("a"), RoleGate::FirstUserOnly, &audit())
        .await
        .unwrap();
    assert_eq!(a.role, Role::Admin);
    let b = new_user("b");
    let email = b.email.clone();
    assert_eq!(
        conflict_field(
            store
                .create_user(b, RoleGate::FirstUserOnly, &audit())
                .await
        ),
        "signup"
    );
    assert!(store.find_user_by_email(&email).await.unwrap().is_none());
}

/// `Exactly` gives the role asked for, even to the instance's first user,
/// and a gate that refuses writes nothing.
pub async fn exact_role_gate_sets_the_role(store: &dyn Store) {
    let a = store
        .create_user(new_user("a"), RoleGate::Exactly(Role::Member), &audit())
        .await
        .unwrap();
    assert_eq!(a.role, Role::Member);
    let b = store
        .create_user(new_user("b"), RoleGate::Exactly(Role::Admin), &audit())
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
        conflict_field(
            store
                .create_user(b.clone(), RoleGate::FirstUserAdmin, &audit())
                .await
        ),
        "email"
    );
    assert!(is_not_found(store.get_user(&b.id).await));
}

/// Sixteen racing creates with one email: exactly one wins, and exactly one admin exists.
pub async fn concurrent_signups_same_email_one_wins(store: &dyn Store) {
    let email = format!("race-{}@example.com", &uid::<String>()[..8]);
    let attempts = (0..16).map(|_| {
        let mut u = new_user("r");
        u.email = email.clone();
        async move {
            store
                .create_user(u, RoleGate::FirstUserAdmin, &audit())
                .await
        }
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
    let users = futures::future::join_all((0..8).map(|_| async move {
        store
            .create_user(new_user("x"), RoleGate::FirstUserAdmin, &audit())
            .await
    }))
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
        .create_user(n, RoleGate::FirstUserAdmin, &audit())
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
        conflict_field(
            store
                .create_user(dup, RoleGate::FirstUserAdmin, &audit())
                .await
        ),
        "githubId"
    );
}

/// Linking a GitHub id that another user has conflicts on `githubId`.
pub async fn link_github_unique(store: &dyn Store) {
    let a = user(store, "a").await;
    let b = user(store, "b").await;
    let linked = store.link_github(&a.id, 7, &audit()).await.unwrap();
    assert_eq!(linked.github_id, Some(7));
    assert_eq!(
        conflict_field(store.link_github(&b.id, 7, &audit()).await),
        "githubId"
    );
    assert!(
        store.link_github(&a.id, 7, &audit()).await.is_ok(),
        "relinking the same id is fine"
    );
    assert!(is_not_found(
        store.link_github(&"nope".into(), 8, &audit()).await
    ));
}

/// Linking is a conditional write: a user linked to one GitHub account is
/// never re-linked to another (`Conflict { field: "githubId" }`, the first
/// link kept), and an id another user holds is never taken over.
pub async fn link_github_never_overwrites(store: &dyn Store) {
    let a = user(store, "a").await;
    let b = user(store, "b").await;
    store.link_github(&a.id, 11, &audit()).await.unwrap();
    assert_eq!(
        conflict_field(store.link_github(&a.id, 12, &audit()).await),
        "githubId"
    );
    let a_now = store.get_user(&a.id).await.unwrap();
    assert_eq!(a_now.github_id, Some(11), "the first link is kept");
    assert!(store.find_user_by_github_id(12).await.unwrap().is_none());
    assert_eq!(
        conflict_field(store.link_github(&b.id, 11, &audit()).await),
        "githubId"
    );
    assert_eq!(store.get_user(&b.id).await.unwrap().github_id, None);
    // Concurrent links of one user to two accounts: at most one wins.
    let c = user(store, "c").await;
    let (e1, e2) = (audit(), audit());
    let (x, y) = futures::join!(
        store.link_github(&c.id, 21, &e1),
        store.link_github(&c.id, 22, &e2)
    );
    assert!(x.is_ok() != y.is_ok(), "exactly one link wins");
    let linked = store.get_user(&c.id).await.unwrap().github_id.unwrap();
    let holder = store.find_user_by_github_id(linked).await.unwrap().unwrap();
    assert_eq!(holder.id, c.id);
    let other = if linked == 21 { 22 } else { 21 };
    assert!(store.find_user_by_github_id(other).await.unwrap().is_none());
}

/// Deleting a user removes their projects (with DELETE events) and authorizations.
pub async fn delete_user_removes_user_and_projects(store: &dyn Store) {
    // The instance's only user (its admin) may go.
    let a = user(store, "a").await;
    let p = store
        .core_create_project(new_project(&a.id), &audit())
        .await
        .unwrap();
    let mut feed = store
        .events(Some(store.last_event_id().await.unwrap()))
        .await
        .unwrap();
    store.core_delete_user(&a.id, &audit()).await.unwrap();
    assert!(is_not_found(store.get_user(&a.id).await));
    assert!(is_not_found(store.get_project(&a.id, &p.id).await));
    let ev = next_event(&mut feed).await;
    assert_eq!(
        (ev.kind, ev.project_id.as_str()),
        (EventKind::Delete, p.id.as_str())
    );
    assert!(is_not_found(store.core_delete_user(&a.id, &audit()).await));
}

pub(super) fn new_auth(user_id: &UserId, name: &str) -> Authorization {
    Authorization {
        id: uid(),
        user_id: user_id.clone(),
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
        .create_authorization(new_auth(&a.id, "x"), usize::MAX, &audit())
        .await
        .unwrap();
    let y = store
        .create_authorization(new_auth(&a.id, "y"), usize::MAX, &audit())
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
    assert!(is_not_found(
        store.delete_authorization(&b.id, &x.id, &audit()).await
    ));
    store
        .delete_authorization(&a.id, &x.id, &audit())
        .await
        .unwrap();
    assert!(is_not_found(store.get_authorization(&a.id, &x.id).await));
}

/// `create_authorization` with a quota: `Refused`, writing nothing, once
/// the user keeps `max_kept` authorizations; counted per user; a delete
/// makes room again; a missing user is still `NotFound`.
pub async fn authorization_quota_refuses_at_the_limit(store: &dyn Store) {
    let a = user(store, "a").await;
    let b = user(store, "b").await;
    let entry = audit();
    let create =
        |user: &UserId, max: usize| store.create_authorization(new_auth(user, "q"), max, &entry);
    assert!(matches!(create(&a.id, 0).await, Err(StoreError::Refused)));
    let first = create(&a.id, 2).await.unwrap();
    create(&a.id, 2).await.unwrap();
    let refused = create(&a.id, 2).await;
    assert!(matches!(refused, Err(StoreError::Refused)), "{refused:?}");
    assert_eq!(store.list_authorizations(&a.id).await.unwrap().len(), 2);
    create(&b.id, 2).await.unwrap();
    store
        .delete_authorization(&a.id, &first.id, &audit())
        .await
        .unwrap();
    create(&a.id, 2).await.unwrap();
    assert!(matches!(create(&a.id, 2).await, Err(StoreError::Refused)));
    assert_eq!(store.list_authorizations(&a.id).await.unwrap().len(), 2);
    assert!(is_not_found(create(&uid(), 1).await));
}

/// Sixteen racing creates of one user's authorizations with a quota of 3:
/// exactly three are stored, the others are `Refused`:
/// [`store_exact_quota_conformance!`](crate::store_exact_quota_conformance).
pub async fn concurrent_authorization_creates_respect_the_quota(store: std::sync::Arc<dyn Store>) {
    let a = user(&*store, "a").await;
    let entry = audit();
    let results = futures::future::join_all(
        (0..16).map(|i| store.create_authorization(new_auth(&a.id, &format!("k{i}")), 3, &entry)),
    )
    .await;
    assert_quota_held(&results, 3, |e| matches!(e, StoreError::Refused));
    assert_eq!(store.list_authorizations(&a.id).await.unwrap().len(), 3);
}

/// `upsert_authorization` replaces the secret of a same-kind, same-name record.
pub async fn authorization_upsert_replaces(store: &dyn Store) {
    let a = user(store, "a").await;
    let mut first = new_auth(&a.id, "octocat");
    first.kind = AuthorizationType::Oauth;
    let first = store.upsert_authorization(first, &audit()).await.unwrap();
    let mut again = new_auth(&a.id, "octocat");
    again.kind = AuthorizationType::Oauth;
    again.secret = Sealed(vec![9, 9]);
    let stored = store.upsert_authorization(again, &audit()).await.unwrap();
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
    store
        .put_setting("github", v.clone(), &audit())
        .await
        .unwrap();
    assert_eq!(store.get_setting("github").await.unwrap(), Some(v));
    let w = serde_json::json!({"clientId": "def"});
    store
        .put_setting("github", w.clone(), &audit())
        .await
        .unwrap();
    assert_eq!(store.get_setting("github").await.unwrap(), Some(w));
}

fn update() -> UserUpdate {
    UserUpdate::default()
}

/// `update_user` writes the fields it names and nothing else; a taken email
/// conflicts; `revoke_sessions` raises the epoch by one.
pub async fn update_user_applies_changes(store: &dyn Store) {
    let a = user(store, "a").await;
    let b = user(store, "b").await;
    assert!(!a.disabled);
    assert_eq!(a.session_epoch, 0);
    let mut change = update();
    change.name = Some("Ada Lovelace".into());
    change.email = Some(format!("new-{}", a.email));
    change.password_hash = Some("$argon2id$v=19$m=19456,t=2,p=1$bmV3$bmV3".into());
    change.revoke_sessions = true;
    let updated = store
        .update_user(&a.id, change.clone(), &audit())
        .await
        .unwrap();
    let mut expected = a.clone();
    change.apply(&mut expected);
    assert_eq!(updated, expected);
    assert_eq!(updated.session_epoch, 1);
    assert_eq!(store.get_user(&a.id).await.unwrap(), expected);
    // The old email is free, the new one finds the user.
    assert!(store.find_user_by_email(&a.email).await.unwrap().is_none());
    assert_eq!(
        store
            .find_user_by_email(&expected.email)
            .await
            .unwrap()
            .map(|u| u.id),
        Some(a.id.clone())
    );
    let mut taken = update();
    taken.email = Some(b.email.clone());
    assert_eq!(
        conflict_field(store.update_user(&a.id, taken, &audit()).await),
        "email"
    );
    assert_eq!(store.get_user(&a.id).await.unwrap(), expected);
    // Keeping one's own email is not a conflict.
    let mut same = update();
    same.email = Some(expected.email.clone());
    same.revoke_sessions = true;
    assert_eq!(
        store
            .update_user(&a.id, same, &audit())
            .await
            .unwrap()
            .session_epoch,
        2
    );
    let mut off = update();
    off.disabled = Some(true);
    off.role = Some(Role::Member);
    let b2 = store.update_user(&b.id, off, &audit()).await.unwrap();
    assert!(b2.disabled);
    assert_eq!(store.get_user(&b.id).await.unwrap(), b2);
    assert!(is_not_found(
        store.update_user(&uid(), update(), &audit()).await
    ));
}

/// The last active admin cannot be demoted, disabled or deleted (`Refused`,
/// nothing written); with a second admin each works.
pub async fn last_admin_is_kept(store: &dyn Store) {
    let a = user(store, "a").await;
    let m = user(store, "m").await;
    assert_eq!(a.role, Role::Admin);
    let mut demote = update();
    demote.role = Some(Role::Member);
    let mut disable = update();
    disable.disabled = Some(true);
    for change in [demote.clone(), disable.clone()] {
        assert!(matches!(
            store.update_user(&a.id, change, &audit()).await,
            Err(StoreError::Refused)
        ));
    }
    assert!(matches!(
        store.core_delete_user(&a.id, &audit()).await,
        Err(StoreError::Refused)
    ));
    assert_eq!(store.get_user(&a.id).await.unwrap(), a);
    // Members come and go freely.
    store
        .update_user(&m.id, disable.clone(), &audit())
        .await
        .unwrap();
    // A disabled admin does not count as the one that remains.
    let mut promote = update();
    promote.role = Some(Role::Admin);
    store
        .update_user(&m.id, promote.clone(), &audit())
        .await
        .unwrap();
    assert!(matches!(
        store.update_user(&a.id, demote.clone(), &audit()).await,
        Err(StoreError::Refused)
    ));
    let mut enable = update();
    enable.disabled = Some(false);
    store.update_user(&m.id, enable, &audit()).await.unwrap();
    // Now m is an active admin: a may go.
    let a2 = store.update_user(&a.id, demote, &audit()).await.unwrap();
    assert_eq!(a2.role, Role::Member);
    store.update_user(&a.id, promote, &audit()).await.unwrap();
    store.core_delete_user(&a.id, &audit()).await.unwrap();
    let other = user(store, "other").await;
    assert!(matches!(
        store.core_delete_user(&m.id, &audit()).await,
        Err(StoreError::Refused)
    ));
    // Once m is the instance's only user, m may go: no user is left
    // without an admin.
    store.core_delete_user(&other.id, &audit()).await.unwrap();
    store.core_delete_user(&m.id, &audit()).await.unwrap();
    assert!(store.list_users(None, 10).await.unwrap().is_empty());
}

/// Concurrent demotions of two admins: exactly one wins.
pub async fn concurrent_demotions_keep_an_admin(store: &dyn Store) {
    let a = user(store, "a").await;
    let b = store
        .create_user(new_user("b"), RoleGate::Exactly(Role::Admin), &audit())
        .await
        .unwrap();
    let mut demote = update();
    demote.role = Some(Role::Member);
    let (e1, e2) = (audit(), audit());
    let (x, y) = futures::join!(
        store.update_user(&a.id, demote.clone(), &e1),
        store.update_user(&b.id, demote.clone(), &e2)
    );
    assert_eq!(
        [x.is_ok(), y.is_ok()].iter().filter(|ok| **ok).count(),
        1,
        "{x:?} {y:?}"
    );
    let admins = store
        .list_users(None, 10)
        .await
        .unwrap()
        .into_iter()
        .filter(|u| u.is_active_admin())
        .count();
    assert_eq!(admins, 1);
}

/// `list_users` pages in creation order: every user exactly once.
pub async fn list_users_pages_in_order(store: &dyn Store) {
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(user(store, &format!("u{i}")).await.id);
    }
    let all: Vec<UserId> = store
        .list_users(None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.id)
        .collect();
    assert_eq!(all, ids);
    let mut paged = Vec::new();
    let mut after: Option<UserId> = None;
    loop {
        let page = store.list_users(after.as_ref(), 3).await.unwrap();
        assert!(page.len() <= 3);
        if page.is_empty() {
            break;
        }
        after = page.last().map(|u| u.id.clone());
        paged.extend(page.into_iter().map(|u| u.id));
    }
    assert_eq!(paged, ids);
    assert!(is_not_found(store.list_users(Some(&uid()), 3).await));
}

/// An invitation whose timestamps have whole microseconds: the case compares
/// what a store returns with what it was given, and PostgreSQL keeps
/// microseconds (finer digits are rounded away, as for every record).
pub(super) fn invitation(email: &str, role: Role) -> Invitation {
    let created_at = chrono::SubsecRound::trunc_subsecs(now(), 6);
    Invitation {
        id: uid(),
        email: email.to_string(),
        role,
        token_hash: format!("{:064x}", rand::random::<u128>()),
        created_by: None,
        created_at,
        expires_at: created_at + chrono::Duration::days(7),
    }
}

/// Invitations are stored, listed oldest first, found by token hash, unique
/// per email, deleted; `RoleGate::Invitation` consumes one exactly once.
pub async fn invitations_work_once(store: &dyn Store) {
    let admin = user(store, "admin").await;
    let i1 = invitation("one@example.com", Role::Member);
    let mut i2 = invitation("two@example.com", Role::Admin);
    i2.created_by = Some(admin.id.clone());
    assert_eq!(
        store.create_invitation(i1.clone(), &audit()).await.unwrap(),
        i1
    );
    assert_eq!(
        store.create_invitation(i2.clone(), &audit()).await.unwrap(),
        i2
    );
    assert_eq!(
        conflict_field(
            store
                .create_invitation(invitation("one@example.com", Role::Admin), &audit())
                .await
        ),
        "email"
    );
    assert_eq!(
        store.list_invitations().await.unwrap(),
        vec![i1.clone(), i2.clone()]
    );
    assert_eq!(
        store.find_invitation(&i2.token_hash).await.unwrap(),
        Some(i2.clone())
    );
    assert_eq!(store.find_invitation(&"0".repeat(64)).await.unwrap(), None);
    // Consumed with the insert, once.
    let gate = RoleGate::Invitation {
        id: i2.id.parse().unwrap(),
        role: i2.role,
    };
    let mut invited = new_user("two");
    invited.email = i2.email.clone();
    let u = store.create_user(invited, gate, &audit()).await.unwrap();
    assert_eq!(u.role, Role::Admin);
    assert_eq!(store.find_invitation(&i2.token_hash).await.unwrap(), None);
    assert!(matches!(
        store.create_user(new_user("again"), gate, &audit()).await,
        Err(StoreError::Refused)
    ));
    // Concurrent uses of one invitation: one account.
    let i3 = invitation("three@example.com", Role::Member);
    store.create_invitation(i3.clone(), &audit()).await.unwrap();
    let gate3 = RoleGate::Invitation {
        id: i3.id.parse().unwrap(),
        role: i3.role,
    };
    let (e1, e2) = (audit(), audit());
    let (x, y) = futures::join!(
        store.create_user(new_user("x"), gate3, &e1),
        store.create_user(new_user("y"), gate3, &e2)
    );
    assert_eq!(u8::from(x.is_ok()) + u8::from(y.is_ok()), 1, "{x:?} {y:?}");
    store.delete_invitation(&i1.id, &audit()).await.unwrap();
    assert!(is_not_found(
        store.delete_invitation(&i1.id, &audit()).await
    ));
    assert!(store.list_invitations().await.unwrap().is_empty());
}

pub(super) fn api_token(
    user_id: &UserId,
    scopes: Vec<Scope>,
    project_ids: Option<Vec<ProjectId>>,
) -> ApiToken {
    // Whole microseconds: what every store keeps.
    let at = chrono::DateTime::from_timestamp_micros(now().timestamp_micros()).unwrap();
    ApiToken {
        id: uid(),
        user_id: user_id.clone(),
        name: "ci".into(),
        scopes,
        project_ids,
        token_hash: format!("{:064x}", rand::random::<u128>()),
        created_at: at,
        expires_at: Some(at + chrono::Duration::days(30)),
        last_used_at: None,
    }
}

/// API tokens are stored as given, scoped to their owner, found by hash,
/// touched, deleted, and go with their user.
pub async fn api_tokens_roundtrip_and_scope(store: &dyn Store) {
    let a = user(store, "a").await;
    let b = user(store, "b").await;
    store
        .create_user(new_user("admin2"), RoleGate::Exactly(Role::Admin), &audit())
        .await
        .unwrap();
    let t1 = api_token(&a.id, vec![Scope::ProjectsRead], None);
    let mut t2 = api_token(
        &a.id,
        vec![Scope::ProjectsRead, Scope::EventsRead],
        Some(vec![uid(), uid()]),
    );
    t2.expires_at = None;
    let tb = api_token(&b.id, Scope::ALL.to_vec(), Some(vec![]));
    for t in [&t1, &t2, &tb] {
        assert_eq!(
            &store
                .create_api_token(t.clone(), usize::MAX, &audit())
                .await
                .unwrap(),
            t
        );
    }
    assert!(is_not_found(
        store
            .create_api_token(
                api_token(&uid::<UserId>(), vec![], None),
                usize::MAX,
                &audit()
            )
            .await
    ));
    let mut clash = api_token(&a.id, vec![], None);
    clash.token_hash = t1.token_hash.clone();
    assert_eq!(
        conflict_field(store.create_api_token(clash, usize::MAX, &audit()).await),
        "id"
    );
    assert_eq!(
        store.list_api_tokens(&a.id).await.unwrap(),
        vec![t1.clone(), t2.clone()]
    );
    assert_eq!(
        store.find_api_token(&t2.token_hash).await.unwrap(),
        Some(t2.clone())
    );
    assert_eq!(store.find_api_token(&"0".repeat(64)).await.unwrap(), None);
    let at = chrono::DateTime::from_timestamp_micros(now().timestamp_micros()).unwrap();
    store.touch_api_token(&t1.id, at).await.unwrap();
    store.touch_api_token(&uid(), at).await.unwrap();
    let touched = store.find_api_token(&t1.token_hash).await.unwrap().unwrap();
    assert_eq!(touched.last_used_at, Some(at));
    // Another user's token is not theirs to delete.
    assert!(is_not_found(
        store.delete_api_token(&b.id, &t1.id, &audit()).await
    ));
    store
        .delete_api_token(&a.id, &t1.id, &audit())
        .await
        .unwrap();
    assert!(is_not_found(
        store.delete_api_token(&a.id, &t1.id, &audit()).await
    ));
    assert_eq!(store.find_api_token(&t1.token_hash).await.unwrap(), None);
    // Deleting the user deletes their tokens.
    store.core_delete_user(&a.id, &audit()).await.unwrap();
    assert_eq!(store.find_api_token(&t2.token_hash).await.unwrap(), None);
    assert_eq!(store.list_api_tokens(&b.id).await.unwrap(), vec![tb]);
}

/// `create_api_token` with a quota: `Refused`, writing nothing, once the
/// user keeps `max_kept` tokens; counted per user; a delete makes room
/// again; a missing user is still `NotFound`.
pub async fn api_token_quota_refuses_at_the_limit(store: &dyn Store) {
    let a = user(store, "a").await;
    let b = user(store, "b").await;
    let entry = audit();
    let create = |user: &UserId, max: usize| {
        let token = api_token(user, vec![Scope::ProjectsRead], None);
        store.create_api_token(token, max, &entry)
    };
    assert!(matches!(create(&a.id, 0).await, Err(StoreError::Refused)));
    let first = create(&a.id, 2).await.unwrap();
    create(&a.id, 2).await.unwrap();
    let refused = create(&a.id, 2).await;
    assert!(matches!(refused, Err(StoreError::Refused)), "{refused:?}");
    assert_eq!(store.list_api_tokens(&a.id).await.unwrap().len(), 2);
    // Another user's quota is their own.
    create(&b.id, 2).await.unwrap();
    store
        .delete_api_token(&a.id, &first.id, &audit())
        .await
        .unwrap();
    create(&a.id, 2).await.unwrap();
    assert!(matches!(create(&a.id, 2).await, Err(StoreError::Refused)));
    assert_eq!(store.list_api_tokens(&a.id).await.unwrap().len(), 2);
    assert!(is_not_found(create(&uid(), 1).await));
}

/// Sixteen racing creates of one user's API tokens through the service,
/// whose quota is 3 (`max_api_tokens_per_user`): exactly three are made,
/// the others are 403 naming the limit, and the user keeps three tokens.
/// Exact on every store: [`Store::create_api_token`] counts in the write.
pub async fn concurrent_api_token_creates_respect_the_quota(store: std::sync::Arc<dyn Store>) {
    use crate::services::{Error, NewApiToken};
    let slipway = slipway_on(&store, |b| b.max_api_tokens_per_user(3));
    let a = user(&*store, "a").await;
    let actor = crate::Principal::user_id(a.id.clone(), None);
    let tokens = slipway.tokens();
    let creates = (0..16).map(|i| {
        tokens.create(
            &actor,
            NewApiToken::new(format!("t{i}"), &[Scope::ProjectsRead]),
        )
    });
    let results = futures::future::join_all(creates).await;
    assert_quota_held(
        &results,
        3,
        |e| matches!(e, Error::Forbidden(m) if m.contains("max_api_tokens_per_user")),
    );
    assert_eq!(store.list_api_tokens(&a.id).await.unwrap().len(), 3);
}

/// `all_authorizations` lists every user's; `reseal_authorization` replaces
/// a secret only while it still holds the old one, and never another
/// user's or a deleted one.
pub async fn reseal_authorizations_compare_and_set(store: &dyn Store) {
    let a = user(store, "a").await;
    let b = user(store, "b").await;
    let x = store
        .create_authorization(new_auth(&a.id, "x"), usize::MAX, &audit())
        .await
        .unwrap();
    let y = store
        .create_authorization(new_auth(&b.id, "y"), usize::MAX, &audit())
        .await
        .unwrap();
    let z = store
        .create_authorization(new_auth(&a.id, "z"), usize::MAX, &audit())
        .await
        .unwrap();
    let mut ids: Vec<AuthorizationId> = store
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
        .reseal_authorization(&b.id, &x.id, &x.secret, new.clone(), &audit())
        .await
        .unwrap());
    assert!(!store
        .reseal_authorization(&a.id, &x.id, &Sealed(vec![0]), new.clone(), &audit())
        .await
        .unwrap());
    assert_eq!(
        store.get_authorization(&a.id, &x.id).await.unwrap().secret,
        x.secret
    );
    // The current value: written, everything else kept.
    assert!(store
        .reseal_authorization(&a.id, &x.id, &x.secret, new.clone(), &audit())
        .await
        .unwrap());
    let read = store.get_authorization(&a.id, &x.id).await.unwrap();
    assert_eq!(read.secret, new);
    assert_eq!((read.name, read.info, read.kind), (x.name, x.info, x.kind));
    // Deleted: nothing comes back.
    store
        .delete_authorization(&a.id, &z.id, &audit())
        .await
        .unwrap();
    assert!(!store
        .reseal_authorization(&a.id, &z.id, &z.secret, new, &audit())
        .await
        .unwrap());
    assert!(is_not_found(store.get_authorization(&a.id, &z.id).await));
}

/// `delete_user` is a compare-and-swap on the user's projects: core built
/// one DELETE event per project it read, so when the user's projects
/// changed since (one created or deleted), or an event names another owner,
/// the answer is `Stale` and nothing is written (the user, their projects,
/// the event log and the audit log stay as they were). With a fresh read
/// the user goes, and the events are core's, oldest project first.
pub async fn stale_user_delete_writes_nothing(store: &dyn Store) {
    let admin = user(store, "admin").await;
    let a = user(store, "a").await;
    let first = store
        .core_create_project(new_project(&a.id), &audit())
        .await
        .unwrap();
    let read: Vec<NewEvent> = vec![NewEvent::deleted(&a.id, &first.id)];
    let second = store
        .core_create_project(new_project(&a.id), &audit())
        .await
        .unwrap();

    let id = &a.id;
    let refused = |events: Vec<NewEvent>| async move {
        let last = store.last_event_id().await.unwrap();
        let audits = stored_ids(store).await.len();
        let r = store.delete_user(id, events, &audit()).await;
        assert!(matches!(r, Err(StoreError::Stale)), "{r:?}");
        assert_eq!(store.last_event_id().await.unwrap(), last, "no event");
        assert_eq!(stored_ids(store).await.len(), audits, "no audit entry");
        assert_eq!(store.get_user(id).await.unwrap().id, *id);
        assert_eq!(store.list_projects(id).await.unwrap().len(), 2);
    };
    // A project created after the read.
    refused(read).await;
    // The right projects in the wrong order, and events of another owner.
    refused(vec![
        NewEvent::deleted(&a.id, &second.id),
        NewEvent::deleted(&a.id, &first.id),
    ])
    .await;
    refused(vec![
        NewEvent::deleted(&admin.id, &first.id),
        NewEvent::deleted(&admin.id, &second.id),
    ])
    .await;
    // No events for a user with projects.
    refused(Vec::new()).await;

    let last = store.last_event_id().await.unwrap();
    let events = vec![
        NewEvent::deleted(&a.id, &first.id),
        NewEvent::deleted(&a.id, &second.id),
    ];
    store
        .delete_user(&a.id, events.clone(), &audit())
        .await
        .unwrap();
    assert!(is_not_found(store.get_user(&a.id).await));
    assert!(store.list_projects(&a.id).await.unwrap().is_empty());
    let written = store.read_events(last, 10).await.unwrap();
    assert_eq!(written.len(), 2, "{written:?}");
    for (w, e) in written.iter().zip(&events) {
        assert_eq!(
            (&w.kind, &w.project_id, &w.owner_id, &w.data),
            (&e.kind, &e.project_id, &e.owner_id, &e.data)
        );
    }
    // A user who is gone is NotFound, with or without events.
    assert!(is_not_found(
        store.delete_user(&a.id, Vec::new(), &audit()).await
    ));
}
