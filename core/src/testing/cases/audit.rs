//! The audit log: every write stores its entry in the same atomic step as
//! the change (and only when the change takes effect), entries are read
//! newest first with filters and a cursor, and old ones are purged.

use super::accounts::{api_token, invitation, new_auth};
use super::webhooks::webhook;
use super::*;

/// An entry of `action` by `actor`, fully filled in.
fn entry(action: AuditAction, actor: Option<&UserId>) -> AuditEntry {
    let mut e = AuditEntry::new(action, now());
    e.actor = actor.map(|id| AuditActor {
        user_id: id.clone(),
        token_id: Some(uid()),
    });
    e.target = Some(AuditTarget::new("project", uid::<String>()));
    e.ip = Some("203.0.113.7".into());
    e.request_id = Some(format!("req-{}", &uid::<String>()[..8]));
    e
}

/// Each of the store's write methods stores the entry it is given when the
/// write succeeds, and none when it fails (conflict, not found, refused, a
/// compare-and-set that did not apply).
pub async fn every_write_stores_its_audit_entry(store: &dyn Store) {
    let mut written: Vec<String> = Vec::new();
    let mut refused: Vec<String> = Vec::new();
    macro_rules! ok {
        ($call:expr, $e:ident) => {{
            let $e = audit();
            let out = $call.await.expect(stringify!($call));
            written.push($e.id.clone());
            out
        }};
    }
    macro_rules! fails {
        ($call:expr, $e:ident) => {{
            let $e = audit();
            assert!($call.await.is_err(), stringify!($call));
            refused.push($e.id.clone());
        }};
    }
    let a = ok!(
        store.create_user(new_user("a"), RoleGate::FirstUserAdmin, &e),
        e
    );
    let mut dup = new_user("dup");
    dup.email = a.email.clone();
    fails!(store.create_user(dup, RoleGate::FirstUserAdmin, &e), e);
    fails!(
        store.create_user(new_user("b"), RoleGate::FirstUserOnly, &e),
        e
    );
    let b = ok!(
        store.create_user(new_user("b"), RoleGate::FirstUserAdmin, &e),
        e
    );
    ok!(store.link_github(&a.id, 4242, &e), e);
    fails!(store.link_github(&b.id, 4242, &e), e);
    let update = UserUpdate {
        name: Some("Ada".into()),
        ..UserUpdate::default()
    };
    ok!(store.update_user(&a.id, update.clone(), &e), e);
    fails!(store.update_user(&uid(), update, &e), e);

    let token = api_token(&a.id, vec![Scope::ProjectsRead], None);
    ok!(store.create_api_token(token.clone(), usize::MAX, &e), e);
    fails!(store.create_api_token(token.clone(), usize::MAX, &e), e);
    // Refused by its quota.
    fails!(
        store.create_api_token(api_token(&a.id, vec![Scope::ProjectsRead], None), 1, &e),
        e
    );
    ok!(store.delete_api_token(&a.id, &token.id, &e), e);
    fails!(store.delete_api_token(&a.id, &token.id, &e), e);

    let hook = webhook(&a.id, None);
    ok!(store.create_webhook(hook.clone(), usize::MAX, &e), e);
    fails!(store.create_webhook(hook.clone(), usize::MAX, &e), e);
    // Refused by its quota.
    fails!(store.create_webhook(webhook(&a.id, None), 1, &e), e);
    ok!(store.delete_webhook(&a.id, &hook.id, &e), e);
    fails!(store.delete_webhook(&a.id, &hook.id, &e), e);

    let inv = invitation("invited@example.com", Role::Member);
    ok!(store.create_invitation(inv.clone(), &e), e);
    fails!(store.create_invitation(inv.clone(), &e), e);
    ok!(store.delete_invitation(&inv.id, &e), e);
    fails!(store.delete_invitation(&inv.id, &e), e);

    let auth = ok!(
        store.create_authorization(new_auth(&a.id, "x"), usize::MAX, &e),
        e
    );
    fails!(
        store.create_authorization(new_auth(&uid::<UserId>(), "x"), usize::MAX, &e),
        e
    );
    ok!(store.upsert_authorization(new_auth(&a.id, "x"), &e), e);
    fails!(
        store.upsert_authorization(new_auth(&uid::<UserId>(), "x"), &e),
        e
    );
    let stored = store.get_authorization(&a.id, &auth.id).await.unwrap();
    let e = audit();
    assert!(store
        .reseal_authorization(&a.id, &auth.id, &stored.secret, Sealed(vec![9]), &e)
        .await
        .unwrap());
    written.push(e.id.clone());
    let e = audit();
    assert!(!store
        .reseal_authorization(&a.id, &auth.id, &stored.secret, Sealed(vec![8]), &e)
        .await
        .unwrap());
    refused.push(e.id.clone());
    ok!(store.delete_authorization(&a.id, &auth.id, &e), e);
    fails!(store.delete_authorization(&a.id, &auth.id, &e), e);

    let project = ok!(store.core_create_project(new_project(&a.id), &e), e);
    fails!(store.core_create_project(project.clone(), &e), e);
    let patch = ProjectPatch {
        name: Some("renamed".into()),
        ..ProjectPatch::default()
    };
    ok!(
        store.core_update_project(&a.id, &project.id, patch.clone(), &e),
        e
    );
    fails!(store.core_update_project(&b.id, &project.id, patch, &e), e);
    // The store itself writes no entry for a stale `before`, nor for a
    // `before` naming another owner.
    let current = store.get_project(&a.id, &project.id).await.unwrap();
    let mut stale = current.clone();
    stale.name = "not what is stored".into();
    let event = NewEvent::for_project(EventKind::Update, &current);
    fails!(store.update_project(&stale, &current, event.clone(), &e), e);
    let mut foreign = current.clone();
    foreign.owner_id = b.id.clone();
    fails!(store.update_project(&foreign, &foreign, event, &e), e);

    let domain = ok!(store.create_domain(new_domain("example.com"), &e), e);
    fails!(store.create_domain(new_domain("example.com"), &e), e);
    ok!(store.set_domain_linked(&domain.id, true, &e), e);
    fails!(store.set_domain_linked(&uid(), true, &e), e);
    let net = new_network(&project.id, "app.example.com", &domain);
    ok!(store.core_create_network(&a.id, net.clone(), &e), e);
    fails!(store.core_create_network(&a.id, net.clone(), &e), e);
    fails!(store.delete_domain(&domain.id, &e), e);
    let port = NetworkPatch {
        port: Some(9000),
        ..NetworkPatch::default()
    };
    ok!(
        store.core_update_network(&a.id, &net.id, port.clone(), &e),
        e
    );
    fails!(store.core_update_network(&b.id, &net.id, port, &e), e);
    ok!(store.core_delete_network(&a.id, &net.id, &e), e);
    fails!(store.core_delete_network(&a.id, &net.id, &e), e);
    ok!(store.delete_domain(&domain.id, &e), e);
    ok!(store.core_delete_project(&a.id, &project.id, &e), e);
    fails!(store.core_delete_project(&a.id, &project.id, &e), e);

    ok!(
        store.put_setting("github", serde_json::json!({"a": 1}), &e),
        e
    );
    // The last admin stays: refused, no entry.
    fails!(store.core_delete_user(&a.id, &e), e);
    ok!(store.core_delete_user(&b.id, &e), e);
    fails!(store.core_delete_user(&b.id, &e), e);

    let stored = stored_ids(store).await;
    let mut expected = written.clone();
    expected.sort();
    expected.reverse();
    assert_eq!(
        stored, expected,
        "exactly the entries of the writes that took effect"
    );
    for id in &refused {
        assert!(!stored.contains(id), "no entry for a failed write");
    }
}

/// Entries come back as written (every field), newest first, filtered by
/// actor and action, from a cursor, at most `limit`.
pub async fn audit_lists_newest_first_with_filters(store: &dyn Store) {
    let (ada, bob): (UserId, UserId) = (uid(), uid());
    let mut all = Vec::new();
    for i in 0..12 {
        let actor = if i % 3 == 0 { &bob } else { &ada };
        let action = if i % 2 == 0 {
            AuditAction::ProjectCreate
        } else {
            AuditAction::SigninFailure
        };
        let mut e = entry(action, Some(actor));
        if i == 5 {
            e.actor = None;
            e.target = None;
            e.ip = None;
            e.request_id = None;
            e.outcome = AuditOutcome::Failure;
        }
        store.append_audit(&e).await.unwrap();
        all.push(e);
        // Distinct microseconds, so ids order as written.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let newest_first: Vec<AuditEntry> = all.iter().rev().cloned().collect();
    let query = |actor: Option<&UserId>, action, before: Option<&str>, limit| AuditQuery {
        actor: actor.cloned(),
        action,
        before: before.map(str::to_owned),
        limit,
    };
    assert_eq!(
        store
            .list_audit(&query(None, None, None, 100))
            .await
            .unwrap(),
        newest_first
    );
    let expect = |q: &AuditQuery| -> Vec<AuditEntry> {
        newest_first
            .iter()
            .filter(|e| q.matches(e))
            .take(q.limit)
            .cloned()
            .collect()
    };
    for q in [
        query(Some(&ada), None, None, 100),
        query(Some(&bob), None, None, 2),
        query(None, Some(AuditAction::ProjectCreate), None, 100),
        query(Some(&ada), Some(AuditAction::SigninFailure), None, 100),
        query(None, None, Some(&all[6].id), 3),
        query(Some(&ada), None, Some(&all[8].id), 100),
        query(Some(&uid::<UserId>()), None, None, 100),
        query(None, Some(AuditAction::DomainVerify), None, 100),
    ] {
        let got = store.list_audit(&q).await.unwrap();
        assert_eq!(got, expect(&q), "{q:?}");
    }
    assert_eq!(expect(&query(Some(&bob), None, None, 100)).len(), 4);
    // Walking pages by the cursor gives every entry once.
    let mut seen = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let page = store
            .list_audit(&query(None, None, before.as_deref(), 5))
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        before = page.last().map(|e| e.id.clone());
        seen.extend(page);
    }
    assert_eq!(seen, newest_first);
}

/// `purge_audit` deletes the entries older than the cut-off, and only those.
pub async fn audit_purge_deletes_old_entries(store: &dyn Store) {
    let old_at = now() - chrono::Duration::days(100);
    let old = AuditEntry::new(AuditAction::SigninSuccess, old_at);
    let older = AuditEntry::new(
        AuditAction::SigninFailure,
        old_at - chrono::Duration::days(1),
    );
    let recent = entry(AuditAction::ProjectDelete, Some(&uid::<UserId>()));
    for e in [&old, &older, &recent] {
        store.append_audit(e).await.unwrap();
    }
    let cut = now() - chrono::Duration::days(90);
    assert_eq!(store.purge_audit(cut).await.unwrap(), 2);
    assert_eq!(stored_ids(store).await, vec![recent.id.clone()]);
    assert_eq!(store.purge_audit(cut).await.unwrap(), 0);
}
