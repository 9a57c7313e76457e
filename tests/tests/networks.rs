//! Network connections: hostname and port validation, registered-domain
//! coverage, instance-wide uniqueness, ownership through the project, and
//! the project UPDATE event of every write.

use futures::StreamExt;
use serde_json::{json, Value};
use slipway_core::model::{EventKind, FeedItem};
use slipway_tests::TestServer;

struct World {
    s: TestServer,
    /// The admin (owner of project `pa`).
    a: String,
    /// A member (owner of project `pb`).
    b: String,
    pa: String,
    pb: String,
}

async fn world() -> World {
    let s = TestServer::start().await;
    let a = s.signup("ada").await;
    let b = s.signup("bob").await;
    s.post(
        "/domains",
        Some(&a),
        json!({"domain": "example.com", "main": true}),
    )
    .await
    .expect(201);
    let mut ids = Vec::new();
    for (t, n) in [(&a, "a"), (&b, "b")] {
        let p = s
            .post(
                "/project",
                Some(t),
                json!({"name": n, "sourceId": format!("src-{n}"), "vmId": format!("vm-{n}")}),
            )
            .await;
        ids.push(p.expect(201)["id"].as_str().unwrap().to_string());
    }
    let pb = ids.pop().unwrap();
    let pa = ids.pop().unwrap();
    World { s, a, b, pa, pb }
}

async fn last_event(s: &TestServer) -> u64 {
    s.running.slipway.store().last_event_id().await.unwrap()
}

fn net(domain: &str, port: Value, project: &str) -> Value {
    json!({"domain": domain, "port": port, "projectId": project})
}

#[tokio::test]
async fn create_read_list_update_delete() {
    let w = world().await;
    let (s, a) = (&w.s, &w.a);
    let created = s
        .post(
            "/networks",
            Some(a),
            net("App.Example.COM.", json!(8080), &w.pa),
        )
        .await
        .expect(201)
        .clone();
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(
        created["domain"], "app.example.com",
        "lowercased, no trailing dot"
    );
    assert_eq!(created["port"], 8080);
    assert_eq!(created["projectId"], w.pa.as_str());
    assert!(created["createdAt"].as_str().unwrap().contains('T'));
    assert!(created.get("domainId").is_none());
    let url = format!("/networks/{id}");
    assert_eq!(s.get(&url, Some(a)).await.expect(200), &created);
    let project = s.get(&format!("/project/{}", w.pa), Some(a)).await;
    assert_eq!(project.expect(200)["networks"], json!([created.clone()]));
    // The registered domain itself may be used too.
    s.post("/networks", Some(a), net("example.com", json!(1), &w.pa))
        .await
        .expect(201);
    let list = s
        .get(&format!("/networks?projectId={}", w.pa), Some(a))
        .await;
    assert_eq!(list.expect(200).as_array().unwrap().len(), 2);
    assert_eq!(
        s.get("/networks", Some(a))
            .await
            .expect(200)
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let p = s
        .patch(&url, Some(a), json!({"port": 65535}))
        .await
        .expect(200)
        .clone();
    assert_eq!(p["port"], 65535);
    assert_eq!(p["domain"], "app.example.com");
    let p = s
        .patch(
            &url,
            Some(a),
            json!({"domain": "www.example.com", "projectId": w.pa}),
        )
        .await;
    assert_eq!(p.expect(200)["domain"], "www.example.com");
    assert_eq!(s.get(&url, Some(a)).await.expect(200), &p.body);
    let msg = s
        .patch(&url, Some(a), json!({"projectId": w.pb}))
        .await
        .expect_error(400);
    assert!(msg.contains("projectId"), "{msg}");
    let msg = s
        .patch(&url, Some(a), json!({"domain": null}))
        .await
        .expect_error(400);
    assert!(msg.contains("domain"), "{msg}");
    assert_eq!(s.delete(&url, Some(a)).await.expect(204), &Value::Null);
    s.get(&url, Some(a)).await.expect_error(404);
    s.delete(&url, Some(a)).await.expect_error(404);
}

#[tokio::test]
async fn port_must_be_an_integer_from_1_to_65535() {
    let w = world().await;
    let before = last_event(&w.s).await;
    for bad in [
        json!(0),
        json!(65536),
        json!(3.5),
        json!("80"),
        json!(-1),
        json!(null),
        json!([80]),
    ] {
        let a =
            w.s.post(
                "/networks",
                Some(&w.a),
                net("app.example.com", bad.clone(), &w.pa),
            )
            .await;
        let msg = a.expect_error(400);
        assert!(msg.contains("port"), "{bad}: {msg}");
    }
    let mut missing = net("app.example.com", json!(1), &w.pa);
    missing.as_object_mut().unwrap().remove("port");
    assert!(w
        .s
        .post("/networks", Some(&w.a), missing)
        .await
        .expect_error(400)
        .contains("port"));
    assert_eq!(last_event(&w.s).await, before, "nothing written");
    assert_eq!(
        w.s.get("/networks", Some(&w.a)).await.expect(200),
        &json!([])
    );
    let n =
        w.s.post(
            "/networks",
            Some(&w.a),
            net("a.example.com", json!(1), &w.pa),
        )
        .await;
    let url = format!("/networks/{}", n.expect(201)["id"].as_str().unwrap());
    for bad in [
        json!(0),
        json!(65536),
        json!(3.5),
        json!("80"),
        json!(-1),
        json!(null),
    ] {
        let msg =
            w.s.patch(&url, Some(&w.a), json!({"port": bad}))
                .await
                .expect_error(400);
        assert!(msg.contains("port"), "{msg}");
    }
}

#[tokio::test]
async fn hostnames_are_validated() {
    let w = world().await;
    let long_label = format!("{}.example.com", "a".repeat(64));
    let too_long = format!("{}example.com", "abcdefghi.".repeat(25));
    for bad in [
        "",
        ".",
        "a..b.example.com",
        "-a.example.com",
        "a-.example.com",
        "a_b.example.com",
        "ex ample.com",
        "*.example.com",
        "app.example.com/x",
        "10.0.0.1",
        long_label.as_str(),
        too_long.as_str(),
    ] {
        let a =
            w.s.post("/networks", Some(&w.a), net(bad, json!(80), &w.pa))
                .await;
        let msg = a.expect_error(400);
        assert!(msg.contains("domain"), "{bad:?}: {msg}");
    }
    let a =
        w.s.post(
            "/networks",
            Some(&w.a),
            json!({"domain": 5, "port": 80, "projectId": w.pa}),
        )
        .await;
    assert!(a.expect_error(400).contains("domain"));
}

#[tokio::test]
async fn hostname_must_be_under_a_registered_domain_the_longest_wins() {
    let w = world().await;
    for bad in ["app.other.com", "notexample.com", "com"] {
        let a =
            w.s.post("/networks", Some(&w.a), net(bad, json!(80), &w.pa))
                .await;
        let msg = a.expect_error(400);
        assert!(msg.contains("domain"), "{bad}: {msg}");
    }
    let msg =
        w.s.post(
            "/networks",
            Some(&w.a),
            net("app.other.com", json!(80), &w.pa),
        )
        .await;
    assert!(msg.expect_error(400).contains("registered domain"));
    let dev =
        w.s.post(
            "/domains",
            Some(&w.a),
            json!({"domain": "dev.example.com", "main": false}),
        )
        .await;
    let dev_id = dev.expect(201)["id"].as_str().unwrap().to_string();
    let n =
        w.s.post(
            "/networks",
            Some(&w.a),
            net("api.dev.example.com", json!(80), &w.pa),
        )
        .await;
    n.expect(201);
    // It is covered by dev.example.com (the longest match), not example.com.
    let msg =
        w.s.delete(&format!("/domains/{dev_id}"), Some(&w.a))
            .await
            .expect_error(409);
    assert!(msg.contains("network"), "{msg}");
    let all = w.s.get("/domains", Some(&w.a)).await.expect(200).clone();
    let root = all
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == "example.com")
        .unwrap();
    let root_url = format!("/domains/{}", root["id"].as_str().unwrap());
    w.s.delete(&root_url, Some(&w.a)).await.expect(204);
}

#[tokio::test]
async fn hostnames_are_unique_instance_wide() {
    let w = world().await;
    w.s.post(
        "/networks",
        Some(&w.a),
        net("app.example.com", json!(80), &w.pa),
    )
    .await
    .expect(201);
    let before = last_event(&w.s).await;
    for (t, p, host) in [
        (&w.b, &w.pb, "app.example.com"),
        (&w.a, &w.pa, "APP.example.com."),
    ] {
        let msg =
            w.s.post("/networks", Some(t), net(host, json!(81), p))
                .await
                .expect_error(409);
        assert!(msg.contains("domain"), "{msg}");
        assert!(
            !msg.contains("ada") && !msg.contains(w.pa.as_str()),
            "{msg}"
        );
    }
    let other =
        w.s.post(
            "/networks",
            Some(&w.b),
            net("b.example.com", json!(80), &w.pb),
        )
        .await;
    let url = format!("/networks/{}", other.expect(201)["id"].as_str().unwrap());
    let before_patch = last_event(&w.s).await;
    assert_eq!(before_patch, before + 1);
    let msg =
        w.s.patch(&url, Some(&w.b), json!({"domain": "app.example.com"}))
            .await;
    assert!(msg.expect_error(409).contains("domain"));
    assert_eq!(last_event(&w.s).await, before_patch);
}

#[tokio::test]
async fn the_project_must_be_the_callers() {
    let w = world().await;
    for pid in [w.pb.as_str(), "no-such-project"] {
        let msg =
            w.s.post(
                "/networks",
                Some(&w.a),
                net("app.example.com", json!(80), pid),
            )
            .await;
        assert_eq!(msg.expect_error(404), "Project not found");
    }
    let a =
        w.s.get(&format!("/networks?projectId={}", w.pb), Some(&w.a))
            .await;
    assert_eq!(a.expect_error(404), "Project not found");
    w.s.post(
        "/networks",
        Some(&w.b),
        net("b.example.com", json!(80), &w.pb),
    )
    .await
    .expect(201);
    assert_eq!(
        w.s.get("/networks", Some(&w.a)).await.expect(200),
        &json!([])
    );
    assert_eq!(
        w.s.get("/networks", Some(&w.b))
            .await
            .expect(200)
            .as_array()
            .unwrap()
            .len(),
        1
    );
    w.s.get("/networks", None).await.expect_error(401);
}

#[tokio::test]
async fn another_users_network_is_404_on_every_verb_and_nothing_changes() {
    let w = world().await;
    let n =
        w.s.post(
            "/networks",
            Some(&w.a),
            net("app.example.com", json!(80), &w.pa),
        )
        .await;
    let n = n.expect(201).clone();
    let url = format!("/networks/{}", n["id"].as_str().unwrap());
    let before = last_event(&w.s).await;
    let msg = w.s.get(&url, Some(&w.b)).await.expect_error(404);
    assert!(msg.contains("not found"), "{msg}");
    w.s.patch(&url, Some(&w.b), json!({"port": 81}))
        .await
        .expect_error(404);
    w.s.patch(&url, Some(&w.b), json!({"domain": "x.example.com"}))
        .await
        .expect_error(404);
    w.s.delete(&url, Some(&w.b)).await.expect_error(404);
    assert_eq!(w.s.get(&url, Some(&w.a)).await.expect(200), &n, "unchanged");
    assert_eq!(last_event(&w.s).await, before, "no event");
}

#[tokio::test]
async fn every_network_write_is_a_project_update_event() {
    let w = world().await;
    let since = last_event(&w.s).await;
    let n =
        w.s.post(
            "/networks",
            Some(&w.a),
            net("app.example.com", json!(80), &w.pa),
        )
        .await;
    let url = format!("/networks/{}", n.expect(201)["id"].as_str().unwrap());
    w.s.patch(&url, Some(&w.a), json!({"port": 81}))
        .await
        .expect(200);
    w.s.delete(&url, Some(&w.a)).await.expect(204);
    let mut feed =
        w.s.running
            .slipway
            .store()
            .events(Some(since))
            .await
            .unwrap();
    let mut ports = Vec::new();
    let mut last_id = since;
    for _ in 0..3 {
        let FeedItem::Event(e) = feed.next().await.unwrap().unwrap() else {
            panic!("resync")
        };
        assert!(e.id > last_id);
        last_id = e.id;
        assert_eq!(e.kind, EventKind::Update);
        assert_eq!(e.project_id, w.pa);
        let nets = e.data["networks"].as_array().unwrap().clone();
        ports.push(nets.first().map(|n| n["port"].clone()));
    }
    assert_eq!(ports, [Some(json!(80)), Some(json!(81)), None]);
    assert_eq!(last_event(&w.s).await, last_id);
}
