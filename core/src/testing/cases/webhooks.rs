//! Webhooks: records scoped to their owner, the delivery lease, the cursor
//! (only for the lease holder) and the bounded delivery history.

use super::*;

fn micros_now() -> Timestamp {
    chrono::DateTime::from_timestamp_micros(now().timestamp_micros()).unwrap()
}

pub(super) fn webhook(user_id: &UserId, project_ids: Option<Vec<ProjectId>>) -> Webhook {
    Webhook {
        id: uid(),
        user_id: user_id.clone(),
        url: "https://hooks.example.com/x".into(),
        events: vec!["project.update".into()],
        project_ids,
        secret: Sealed(vec![1, 2, 3, 0, 255]),
        created_at: micros_now(),
        cursor: 7,
    }
}

fn delivery(webhook_id: &WebhookId, event_id: u64, attempts: u32) -> WebhookDelivery {
    WebhookDelivery {
        webhook_id: webhook_id.clone(),
        event_id,
        delivered: attempts == 1,
        status_code: Some(500),
        last_error: Some("the receiver answered 500".into()),
        attempts,
        first_attempt_at: micros_now(),
        last_attempt_at: micros_now(),
    }
}

/// Webhooks are stored as given, scoped to their owner, leased by one node
/// at a time, advance their cursor only for the lease holder, keep the
/// newest 50 deliveries, and go with their user.
pub async fn webhooks_roundtrip_lease_and_deliveries(store: &dyn Store) {
    let a = user(store, "a").await;
    let b = user(store, "b").await;
    store
        .create_user(new_user("admin2"), RoleGate::Exactly(Role::Admin), &audit())
        .await
        .unwrap();
    let w1 = webhook(&a.id, None);
    let w2 = webhook(&a.id, Some(vec![uid()]));
    let wb = webhook(&b.id, None);
    for w in [&w1, &w2, &wb] {
        assert_eq!(
            &store
                .create_webhook(w.clone(), usize::MAX, &audit())
                .await
                .unwrap(),
            w
        );
    }
    assert!(is_not_found(
        store
            .create_webhook(webhook(&uid::<UserId>(), None), usize::MAX, &audit())
            .await
    ));
    let mut clash = webhook(&a.id, None);
    clash.id = w1.id.clone();
    assert_eq!(
        conflict_field(store.create_webhook(clash, usize::MAX, &audit()).await),
        "id"
    );
    assert_eq!(
        store.list_webhooks(&a.id).await.unwrap(),
        vec![w1.clone(), w2.clone()]
    );
    assert_eq!(store.get_webhook(&a.id, &w1.id).await.unwrap(), w1);
    assert!(is_not_found(store.get_webhook(&b.id, &w1.id).await));
    assert_eq!(
        store.all_webhooks().await.unwrap(),
        vec![w1.clone(), w2.clone(), wb.clone()]
    );

    // The lease: one node at a time; renewable by its holder; free once
    // expired.
    let later = now() + chrono::Duration::seconds(60);
    assert!(store.lease_webhook(&w1.id, "n1", later).await.unwrap());
    assert!(!store.lease_webhook(&w1.id, "n2", later).await.unwrap());
    assert!(store.lease_webhook(&w1.id, "n1", later).await.unwrap());
    assert!(!store.lease_webhook(&uid(), "n1", later).await.unwrap());
    // The cursor moves only for the holder.
    assert!(!store.set_webhook_cursor(&w1.id, "n2", 9).await.unwrap());
    assert!(!store.set_webhook_cursor(&w2.id, "n1", 9).await.unwrap());
    assert!(store.set_webhook_cursor(&w1.id, "n1", 9).await.unwrap());
    assert_eq!(store.get_webhook(&a.id, &w1.id).await.unwrap().cursor, 9);
    assert_eq!(store.get_webhook(&a.id, &w2.id).await.unwrap().cursor, 7);
    // An expired lease may be taken by another node; the old holder can no
    // longer move the cursor.
    let past = now() - chrono::Duration::seconds(1);
    assert!(store.lease_webhook(&w2.id, "n1", past).await.unwrap());
    assert!(store.lease_webhook(&w2.id, "n2", later).await.unwrap());
    assert!(!store.set_webhook_cursor(&w2.id, "n1", 10).await.unwrap());
    assert!(store.set_webhook_cursor(&w2.id, "n2", 10).await.unwrap());
    assert_eq!(store.get_webhook(&a.id, &w2.id).await.unwrap().cursor, 10);

    // Deliveries: replaced by event id, newest first, the newest 50 kept.
    let first = delivery(&w1.id, 1, 1);
    store.record_webhook_delivery(first.clone()).await.unwrap();
    assert_eq!(
        store.list_webhook_deliveries(&w1.id).await.unwrap(),
        vec![first]
    );
    let again = delivery(&w1.id, 1, 2);
    store.record_webhook_delivery(again.clone()).await.unwrap();
    assert_eq!(
        store.list_webhook_deliveries(&w1.id).await.unwrap(),
        vec![again]
    );
    for e in 2..=60 {
        store
            .record_webhook_delivery(delivery(&w1.id, e, 1))
            .await
            .unwrap();
    }
    let kept = store.list_webhook_deliveries(&w1.id).await.unwrap();
    assert_eq!(kept.len(), crate::store::WEBHOOK_DELIVERIES_KEPT);
    assert_eq!(kept[0].event_id, 60);
    assert_eq!(kept[49].event_id, 11);
    assert!(store
        .list_webhook_deliveries(&w2.id)
        .await
        .unwrap()
        .is_empty());
    // A gone webhook records nothing.
    store
        .record_webhook_delivery(delivery(&uid::<WebhookId>(), 1, 1))
        .await
        .unwrap();

    // Deleting: only the owner; deliveries go with it.
    assert!(is_not_found(
        store.delete_webhook(&b.id, &w1.id, &audit()).await
    ));
    store.delete_webhook(&a.id, &w1.id, &audit()).await.unwrap();
    assert!(is_not_found(
        store.delete_webhook(&a.id, &w1.id, &audit()).await
    ));
    assert!(is_not_found(store.get_webhook(&a.id, &w1.id).await));
    assert!(store
        .list_webhook_deliveries(&w1.id)
        .await
        .unwrap()
        .is_empty());
    // Deleting the user deletes their webhooks.
    store.core_delete_user(&a.id, &audit()).await.unwrap();
    assert_eq!(store.all_webhooks().await.unwrap(), vec![wb.clone()]);
    assert!(store.list_webhooks(&a.id).await.unwrap().is_empty());
}

/// `create_webhook` with a quota: `Refused`, writing nothing, once
/// the user keeps `max_kept` webhooks; counted per user; a delete makes
/// room again; a missing user is still `NotFound`.
pub async fn webhook_quota_refuses_at_the_limit(store: &dyn Store) {
    let a = user(store, "a").await;
    let b = user(store, "b").await;
    let entry = audit();
    let create = |user: &UserId, max: usize| store.create_webhook(webhook(user, None), max, &entry);
    assert!(matches!(create(&a.id, 0).await, Err(StoreError::Refused)));
    let first = create(&a.id, 2).await.unwrap();
    create(&a.id, 2).await.unwrap();
    let refused = create(&a.id, 2).await;
    assert!(matches!(refused, Err(StoreError::Refused)), "{refused:?}");
    assert_eq!(store.list_webhooks(&a.id).await.unwrap().len(), 2);
    assert_eq!(store.all_webhooks().await.unwrap().len(), 2);
    // Another user's quota is their own.
    create(&b.id, 2).await.unwrap();
    store
        .delete_webhook(&a.id, &first.id, &audit())
        .await
        .unwrap();
    create(&a.id, 2).await.unwrap();
    assert!(matches!(create(&a.id, 2).await, Err(StoreError::Refused)));
    assert_eq!(store.list_webhooks(&a.id).await.unwrap().len(), 2);
    assert!(is_not_found(create(&uid(), 1).await));
}

/// Sixteen racing creates of one user's webhooks with a quota of 3:
/// exactly three are stored, the others are `Refused`. Exact on every
/// store: [`Store::create_webhook`] counts in the write.
pub async fn concurrent_webhook_creates_respect_the_quota(store: std::sync::Arc<dyn Store>) {
    let a = user(&*store, "a").await;
    let entry = audit();
    let results = futures::future::join_all(
        (0..16).map(|_| store.create_webhook(webhook(&a.id, None), 3, &entry)),
    )
    .await;
    assert_quota_held(&results, 3, |e| matches!(e, StoreError::Refused));
    assert_eq!(store.list_webhooks(&a.id).await.unwrap().len(), 3);
    assert_eq!(store.all_webhooks().await.unwrap().len(), 3);
}

/// Service level: racing `POST /webhooks` of one user past the cap of 20
/// webhooks per user: exactly 20 are made, the others answer the cap's
/// 400 (on `url`), and the user keeps 20.
pub async fn concurrent_service_webhook_creates_respect_the_cap(store: std::sync::Arc<dyn Store>) {
    use crate::services::{Error, NewWebhook};
    let slipway = slipway_on(&store, |b| b.webhook_allow_private(true));
    let a = user(&*store, "a").await;
    let actor = crate::Principal::user_id(a.id.clone(), None);
    let webhooks = slipway.webhooks();
    let creates = (0..28).map(|i| {
        webhooks.create(
            &actor,
            NewWebhook::new(format!("http://127.0.0.1:9/hook-{i}")),
        )
    });
    let results = futures::future::join_all(creates).await;
    assert_quota_held(&results, 20, |e| {
        matches!(e, Error::Invalid { field, message }
            if field == "url" && message.contains("at most 20 webhooks"))
    });
    assert_eq!(store.list_webhooks(&a.id).await.unwrap().len(), 20);
}
