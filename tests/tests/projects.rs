//! Projects: create, read, list, update, delete; validation, uniqueness,
//! ownership (another user's project is a 404 on every verb) and the
//! `project.update` events each write appends.

use futures::StreamExt;
use serde_json::{json, Value};
use slipway_core::model::{EventKind, FeedItem};
use slipway_tests::TestServer;

fn project(n: &str) -> Value {
    json!({"name": format!("Project {n}"), "sourceId": format!("src-{n}"), "vmId": format!("vm-{n}")})
}

async fn last_event(s: &TestServer) -> u64 {
    s.running.slipway.store().last_event_id().await.unwrap()
}

/// The events after `since`, up to the current last one.
async fn events_after(s: &TestServer, since: u64) -> Vec<slipway_core::model::Event> {
    let last = last_event(s).await;
    let mut feed = s.running.slipway.store().events(Some(since)).await.unwrap();
    let mut out = Vec::new();
    while out.len() < (last - since) as usize {
        match feed.next().await.unwrap().unwrap() {
            FeedItem::Event(e) => out.push(e),
            FeedItem::Resync => panic!("unexpected resync"),
        }
    }
    out
}

#[tokio::test]
async fn create_read_list_with_the_seed_shape() {
    let s = TestServer::start().await;
    let t = s.signup("ada").await;
    let body = json!({"name": "Blog", "description": "My blog", "path": "/srv/blog",
        "sourceId": "src-1", "vmId": "vm-1"});
    let created = s.post("/project", Some(&t), body).await.expect(201).clone();
    let id = created["id"].as_str().unwrap();
    assert_eq!(created["name"], "Blog");
    assert_eq!(created["description"], "My blog");
    assert_eq!(created["path"], "/srv/blog");
    assert_eq!(created["sourceId"], "src-1");
    assert_eq!(created["vmId"], "vm-1");
    assert_eq!(created["networks"], json!([]));
    assert!(created["createdAt"].as_str().unwrap().contains('T'));
    assert_eq!(created["createdAt"], created["updatedAt"]);
    assert!(created.get("ownerId").is_none(), "no owner in the view");
    assert_eq!(
        s.get(&format!("/project/{id}"), Some(&t)).await.expect(200),
        &created
    );
    let minimal = s.post("/project", Some(&t), project("2")).await;
    assert_eq!(minimal.expect(201)["description"], Value::Null);
    let list = s.get("/project", Some(&t)).await.expect(200).clone();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [id, minimal.body["id"].as_str().unwrap()],
        "oldest first"
    );
    s.get("/project", None).await.expect_error(401);
    s.post("/project", None, project("3"))
        .await
        .expect_error(401);
}

#[tokio::test]
async fn invalid_input_is_400_naming_the_field_and_changes_nothing() {
    let s = TestServer::start().await;
    let t = s.signup("ada").await;
    let before = last_event(&s).await;
    let with = |k: &str, v: Value| {
        let mut b = project("1");
        b[k] = v;
        b
    };
    let without = |k: &str| {
        let mut b = project("1");
        b.as_object_mut().unwrap().remove(k);
        b
    };
    let cases = [
        (with("name", json!("")), "name"),
        (with("name", json!("   ")), "name"),
        (with("name", json!("x".repeat(101))), "name"),
        (with("name", json!(5)), "name"),
        (without("name"), "name"),
        (with("description", json!("x".repeat(1001))), "description"),
        (with("path", json!("")), "path"),
        (with("sourceId", json!("has space")), "sourceId"),
        (with("sourceId", json!("")), "sourceId"),
        (with("sourceId", json!("a".repeat(129))), "sourceId"),
        (without("sourceId"), "sourceId"),
        (with("vmId", json!("vm/1")), "vmId"),
        (with("vmId", json!(7)), "vmId"),
        (without("vmId"), "vmId"),
    ];
    for (body, field) in cases {
        let msg = s
            .post("/project", Some(&t), body.clone())
            .await
            .expect_error(400);
        assert!(msg.contains(field), "{body}: {msg}");
    }
    assert_eq!(s.get("/project", Some(&t)).await.expect(200), &json!([]));
    assert_eq!(last_event(&s).await, before, "no event for a refused write");
    // Boundaries that are fine.
    let ok = with("name", json!("x".repeat(100)));
    let ok = {
        let mut b = ok;
        b["description"] = json!("d".repeat(1000));
        b["sourceId"] = json!("a".repeat(128));
        b["vmId"] = json!("Vm.1_2:3-4");
        b
    };
    s.post("/project", Some(&t), ok).await.expect(201);
}

#[tokio::test]
async fn source_vm_and_path_are_unique_across_users() {
    let s = TestServer::start().await;
    let a = s.signup("ada").await;
    let b = s.signup("bob").await;
    let mut first = project("1");
    first["path"] = json!("/srv/one");
    s.post("/project", Some(&a), first).await.expect(201);
    let before = last_event(&s).await;
    for (field, value) in [
        ("sourceId", "src-1"),
        ("vmId", "vm-1"),
        ("path", "/srv/one"),
    ] {
        let mut body = project("2");
        body[field] = json!(value);
        for token in [&a, &b] {
            let msg = s
                .post("/project", Some(token), body.clone())
                .await
                .expect_error(409);
            assert!(msg.contains(field), "{msg}");
            assert!(
                !msg.contains("ada") && !msg.contains("Project 1"),
                "reveals nothing: {msg}"
            );
        }
    }
    assert_eq!(last_event(&s).await, before);
    // path is only unique when set: two projects without one are fine.
    s.post("/project", Some(&b), project("3")).await.expect(201);
    s.post("/project", Some(&b), project("4")).await.expect(201);
}

#[tokio::test]
async fn patch_changes_only_what_is_sent_and_null_clears() {
    let s = TestServer::start().await;
    let t = s.signup("ada").await;
    let mut body = project("1");
    body["description"] = json!("first");
    body["path"] = json!("/srv/one");
    let created = s.post("/project", Some(&t), body).await.expect(201).clone();
    let url = format!("/project/{}", created["id"].as_str().unwrap());
    let p = s
        .patch(&url, Some(&t), json!({"name": "Renamed"}))
        .await
        .expect(200)
        .clone();
    assert_eq!(p["name"], "Renamed");
    assert_eq!(p["description"], "first");
    assert_eq!(p["path"], "/srv/one");
    assert_eq!(p["vmId"], "vm-1");
    assert_ne!(p["updatedAt"], created["updatedAt"]);
    assert_eq!(p["createdAt"], created["createdAt"]);
    let p = s
        .patch(
            &url,
            Some(&t),
            json!({"description": null, "path": null, "vmId": "vm-9"}),
        )
        .await;
    let p = p.expect(200);
    assert_eq!(p["description"], Value::Null);
    assert_eq!(p["path"], Value::Null);
    assert_eq!(p["vmId"], "vm-9");
    assert_eq!(p["name"], "Renamed");
    assert_eq!(s.get(&url, Some(&t)).await.expect(200), p);
    // An empty patch changes nothing and appends no event.
    let before = last_event(&s).await;
    assert_eq!(s.patch(&url, Some(&t), json!({})).await.expect(200), p);
    assert_eq!(last_event(&s).await, before);
    for (body, field) in [
        (json!({"name": null}), "name"),
        (json!({"name": ""}), "name"),
        (json!({"sourceId": null}), "sourceId"),
        (json!({"vmId": "bad id"}), "vmId"),
        (json!({"description": 3}), "description"),
        (json!({"path": ""}), "path"),
    ] {
        let msg = s
            .patch(&url, Some(&t), body.clone())
            .await
            .expect_error(400);
        assert!(msg.contains(field), "{body}: {msg}");
    }
    s.post("/project", Some(&t), project("2")).await.expect(201);
    let before = last_event(&s).await;
    let msg = s
        .patch(&url, Some(&t), json!({"sourceId": "src-2"}))
        .await
        .expect_error(409);
    assert!(msg.contains("sourceId"), "{msg}");
    assert_eq!(last_event(&s).await, before);
    assert_eq!(s.get(&url, Some(&t)).await.expect(200), p, "unchanged");
}

#[tokio::test]
async fn every_write_appends_its_event_with_increasing_ids() {
    let s = TestServer::start().await;
    let t = s.signup("ada").await;
    let start = last_event(&s).await;
    let created = s
        .post("/project", Some(&t), project("1"))
        .await
        .expect(201)
        .clone();
    let id = created["id"].as_str().unwrap().to_string();
    let updated = s
        .patch(&format!("/project/{id}"), Some(&t), json!({"name": "New"}))
        .await;
    let updated = updated.expect(200).clone();
    s.delete(&format!("/project/{id}"), Some(&t))
        .await
        .expect(204);
    let events = events_after(&s, start).await;
    assert_eq!(events.len(), 3);
    assert!(events.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(events[0].kind, EventKind::Create);
    assert_eq!(events[0].data, created);
    assert_eq!(events[1].kind, EventKind::Update);
    assert_eq!(events[1].data, updated);
    assert_eq!(events[2].kind, EventKind::Delete);
    assert_eq!(events[2].data, json!({"id": id}));
    assert!(events.iter().all(|e| e.project_id == id));
}

#[tokio::test]
async fn delete_answers_204_and_cascades_to_networks() {
    let s = TestServer::start().await;
    let t = s.signup("ada").await;
    let d = s
        .post(
            "/domains",
            Some(&t),
            json!({"domain": "example.com", "main": true}),
        )
        .await;
    let domain_id = d.expect(201)["id"].as_str().unwrap().to_string();
    let p = s
        .post("/project", Some(&t), project("1"))
        .await
        .expect(201)
        .clone();
    let pid = p["id"].as_str().unwrap();
    let n = s
        .post(
            "/networks",
            Some(&t),
            json!({"domain": "app.example.com", "port": 80, "projectId": pid}),
        )
        .await;
    let nid = n.expect(201)["id"].as_str().unwrap().to_string();
    let a = s.delete(&format!("/project/{pid}"), Some(&t)).await;
    assert_eq!(a.expect(204), &Value::Null, "no body");
    s.get(&format!("/project/{pid}"), Some(&t))
        .await
        .expect_error(404);
    s.get(&format!("/networks/{nid}"), Some(&t))
        .await
        .expect_error(404);
    s.delete(&format!("/project/{pid}"), Some(&t))
        .await
        .expect_error(404);
    // The domain is free again, and the hostname can be used anew.
    assert_eq!(s.get("/networks", Some(&t)).await.expect(200), &json!([]));
    s.delete(&format!("/domains/{domain_id}"), Some(&t))
        .await
        .expect(204);
}

#[tokio::test]
async fn another_users_project_is_404_on_every_verb_and_nothing_changes() {
    let s = TestServer::start().await;
    let a = s.signup("ada").await;
    let b = s.signup("bob").await;
    let p = s
        .post("/project", Some(&a), project("1"))
        .await
        .expect(201)
        .clone();
    let url = format!("/project/{}", p["id"].as_str().unwrap());
    let before = last_event(&s).await;
    let msg = s.get(&url, Some(&b)).await.expect_error(404);
    assert_eq!(msg, "Project not found");
    s.patch(&url, Some(&b), json!({"name": "Stolen"}))
        .await
        .expect_error(404);
    s.patch(&url, Some(&b), json!({})).await.expect_error(404);
    s.delete(&url, Some(&b)).await.expect_error(404);
    assert_eq!(s.get("/project", Some(&b)).await.expect(200), &json!([]));
    // Unknown ids look exactly the same.
    let unknown = s
        .get("/project/00000000-0000-4000-8000-000000000000", Some(&b))
        .await;
    assert_eq!(unknown.expect_error(404), msg);
    assert_eq!(s.get(&url, Some(&a)).await.expect(200), &p, "unchanged");
    assert_eq!(last_event(&s).await, before, "no event");
    for verb in ["GET", "PATCH", "DELETE"] {
        let m = reqwest::Method::from_bytes(verb.as_bytes()).unwrap();
        s.call(m, &url, None, Some(json!({})))
            .await
            .expect_error(401);
    }
}

#[tokio::test]
async fn concurrent_creates_with_one_vm_id_exactly_one_wins() {
    let s = TestServer::start().await;
    let a = s.signup("ada").await;
    let b = s.signup("bob").await;
    let before = last_event(&s).await;
    let attempts = (0..8).map(|i| {
        let token = if i % 2 == 0 { &a } else { &b };
        let body = json!({"name": "race", "sourceId": format!("src-{i}"), "vmId": "vm-shared"});
        s.post("/project", Some(token), body)
    });
    let answers = futures::future::join_all(attempts).await;
    let created = answers.iter().filter(|x| x.status == 201).count();
    let conflicts: Vec<String> = answers
        .iter()
        .filter(|x| x.status == 409)
        .map(|x| x.expect_error(409))
        .collect();
    assert_eq!(created, 1, "{answers:?}");
    assert_eq!(conflicts.len(), 7);
    assert!(
        conflicts.iter().all(|m| m.contains("vmId")),
        "{conflicts:?}"
    );
    assert_eq!(last_event(&s).await, before + 1, "one CREATE event");
}
