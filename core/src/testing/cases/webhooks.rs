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
        assert_eq!(&store.create_webhook(w.clone(), &audit()).await.unwrap(), w);
    }
    assert!(is_not_found(
        store
            .create_webhook(webhook(&uid::<UserId>(), None), &audit())
            .await
    ));
    let mut clash = webhook(&a.id, None);
    clash.id = w1.id.clone();
    assert_eq!(
        conflict_field(store.create_webhook(clash, &audit()).await),
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
