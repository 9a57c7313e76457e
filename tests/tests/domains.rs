//! Domains: admin-only writes, reads for every signed-in user, challenge
//! generation, one main domain, and DNS verification against a fake DNS
//! server on 127.0.0.1 (record present, missing, wrong, no answer, failure).

use std::time::Duration;

use serde_json::{json, Value};
use slipway_tests::dns::{DnsMode, FakeDns};
use slipway_tests::TestServer;

async fn with_dns(dns: &FakeDns, timeout: Duration) -> TestServer {
    let addr = dns.addr;
    TestServer::start_with(
        |_| {},
        move |b| b.dns_servers(vec![addr]).dns_timeout(timeout),
    )
    .await
}

async fn create(s: &TestServer, t: &str, body: Value) -> Value {
    s.post("/domains", Some(t), body).await.expect(201).clone()
}

#[tokio::test]
async fn admin_creates_with_a_random_challenge_and_its_record() {
    let s = TestServer::start().await;
    let admin = s.signup("ada").await;
    let d = create(&s, &admin, json!({"domain": "Example.COM.", "main": true})).await;
    assert_eq!(d["domain"], "example.com");
    assert_eq!(d["main"], true);
    assert_eq!(d["linked"], false);
    let challenge = d["challenge"].as_str().unwrap();
    assert_eq!(challenge.len(), 32);
    assert!(challenge.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_eq!(
        d["challengeRecord"],
        json!({"name": "_slipway-challenge.example.com", "type": "TXT", "value": challenge})
    );
    assert!(d["createdAt"].as_str().unwrap().contains('T'));
    let other = create(&s, &admin, json!({"domain": "example.org", "main": false})).await;
    assert_ne!(other["challenge"], d["challenge"], "fresh randomness");
    // The seed's full shape, with a chosen challenge and linked: false.
    let own = json!({"domain": "example.net", "challenge": "my-challenge-1", "main": false, "linked": false});
    let own = create(&s, &admin, own).await;
    assert_eq!(own["challenge"], "my-challenge-1");
    assert_eq!(own["challengeRecord"]["value"], "my-challenge-1");
    let url = format!("/domains/{}", d["id"].as_str().unwrap());
    assert_eq!(s.get(&url, Some(&admin)).await.expect(200), &d);
    let list = s.get("/domains", Some(&admin)).await.expect(200).clone();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["domain"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["example.com", "example.org", "example.net"]);
    assert_eq!(s.delete(&url, Some(&admin)).await.expect(204), &Value::Null);
    s.get(&url, Some(&admin)).await.expect_error(404);
    s.delete(&url, Some(&admin)).await.expect_error(404);
}

#[tokio::test]
async fn members_read_but_only_admins_write() {
    let s = TestServer::start().await;
    let admin = s.signup("ada").await;
    let member = s.signup("bob").await;
    let msg = s
        .post(
            "/domains",
            Some(&member),
            json!({"domain": "example.com", "main": true}),
        )
        .await
        .expect_error(403);
    assert!(msg.contains("admin"), "{msg}");
    let d = create(&s, &admin, json!({"domain": "example.com", "main": true})).await;
    let url = format!("/domains/{}", d["id"].as_str().unwrap());
    assert_eq!(s.get(&url, Some(&member)).await.expect(200), &d);
    assert_eq!(
        s.get("/domains", Some(&member)).await.expect(200),
        &json!([d.clone()])
    );
    s.delete(&url, Some(&member)).await.expect_error(403);
    s.post(&format!("{url}/verify"), Some(&member), json!({}))
        .await
        .expect_error(403);
    assert_eq!(s.get(&url, Some(&admin)).await.expect(200), &d, "unchanged");
    s.get("/domains", None).await.expect_error(401);
    s.get(&url, None).await.expect_error(401);
    s.post("/domains", None, json!({"domain": "x.com", "main": false}))
        .await
        .expect_error(401);
}

#[tokio::test]
async fn creation_rules() {
    let s = TestServer::start().await;
    let t = s.signup("ada").await;
    let cases = [
        (
            json!({"domain": "example.com", "main": false, "linked": true}),
            "linked",
        ),
        (json!({"domain": "example.com"}), "main"),
        (json!({"domain": "example.com", "main": "yes"}), "main"),
        (json!({"main": false}), "domain"),
        (json!({"domain": "bad_name.com", "main": false}), "domain"),
        (json!({"domain": "localhost", "main": false}), "domain"),
        (json!({"domain": "192.168.0.1", "main": false}), "domain"),
        (
            json!({"domain": "example.com", "main": false, "challenge": "has space"}),
            "challenge",
        ),
        (
            json!({"domain": "example.com", "main": false, "challenge": ""}),
            "challenge",
        ),
    ];
    for (body, field) in cases {
        let msg = s
            .post("/domains", Some(&t), body.clone())
            .await
            .expect_error(400);
        assert!(msg.contains(field), "{body}: {msg}");
    }
    assert_eq!(s.get("/domains", Some(&t)).await.expect(200), &json!([]));
    create(&s, &t, json!({"domain": "example.com", "main": true})).await;
    let msg = s
        .post(
            "/domains",
            Some(&t),
            json!({"domain": "EXAMPLE.com", "main": false}),
        )
        .await;
    assert!(msg.expect_error(409).contains("domain"));
    let msg = s
        .post(
            "/domains",
            Some(&t),
            json!({"domain": "example.org", "main": true}),
        )
        .await;
    assert!(msg.expect_error(409).contains("main"));
    assert_eq!(
        s.get("/domains", Some(&t))
            .await
            .expect(200)
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn verification_links_when_the_txt_record_holds_the_challenge() {
    let dns = FakeDns::start().await;
    let s = with_dns(&dns, Duration::from_secs(5)).await;
    let t = s.signup("ada").await;
    let d = create(&s, &t, json!({"domain": "example.com", "main": true})).await;
    let verify = format!("/domains/{}/verify", d["id"].as_str().unwrap());
    let record = "_slipway-challenge.example.com";
    let challenge = d["challenge"].as_str().unwrap();

    // No such name (NXDOMAIN): not linked.
    let a = s
        .post(&verify, Some(&t), json!({}))
        .await
        .expect(200)
        .clone();
    assert_eq!(a["linked"], false);
    assert_eq!(a["id"], d["id"]);
    assert!(dns.queries() >= 1, "the configured server was asked");
    // The name exists without a TXT record, then with other values.
    dns.set_txt(record, &[]);
    assert_eq!(
        s.post(&verify, Some(&t), json!({})).await.expect(200)["linked"],
        false
    );
    dns.set_txt(record, &["something-else", "v=spf1 -all"]);
    assert_eq!(
        s.post(&verify, Some(&t), json!({})).await.expect(200)["linked"],
        false
    );
    // A record for another name does not count.
    dns.set_txt("example.com", &[challenge]);
    assert_eq!(
        s.post(&verify, Some(&t), json!({})).await.expect(200)["linked"],
        false
    );
    assert_eq!(
        s.get(&format!("/domains/{}", d["id"].as_str().unwrap()), Some(&t))
            .await
            .expect(200)["linked"],
        false
    );
    // Published among other TXT records: linked.
    dns.set_txt(record, &["something-else", challenge]);
    let a = s
        .post(&verify, Some(&t), json!({}))
        .await
        .expect(200)
        .clone();
    assert_eq!(a["linked"], true);
    assert_eq!(a["challengeRecord"]["value"], challenge);
    let url = format!("/domains/{}", d["id"].as_str().unwrap());
    assert_eq!(s.get(&url, Some(&t)).await.expect(200)["linked"], true);
    // Linking is sticky: a later check without the record keeps it linked.
    dns.remove(record);
    assert_eq!(
        s.post(&verify, Some(&t), json!({})).await.expect(200)["linked"],
        true
    );
    // Unknown domain.
    s.post("/domains/nope/verify", Some(&t), json!({}))
        .await
        .expect_error(404);
}

#[tokio::test]
async fn a_dns_server_that_never_answers_is_a_504() {
    let dns = FakeDns::start().await;
    dns.set_mode(DnsMode::Silent);
    let s = with_dns(&dns, Duration::from_millis(300)).await;
    let t = s.signup("ada").await;
    let d = create(&s, &t, json!({"domain": "example.com", "main": true})).await;
    let url = format!("/domains/{}", d["id"].as_str().unwrap());
    let msg = s
        .post(&format!("{url}/verify"), Some(&t), json!({}))
        .await
        .expect_error(504);
    assert!(msg.contains("DNS"), "{msg}");
    assert!(dns.queries() >= 1, "the configured server was asked");
    assert_eq!(s.get(&url, Some(&t)).await.expect(200)["linked"], false);
    // Once it answers again, verification works.
    dns.set_txt(
        "_slipway-challenge.example.com",
        &[d["challenge"].as_str().unwrap()],
    );
    dns.set_mode(DnsMode::Answer);
    let a = s.post(&format!("{url}/verify"), Some(&t), json!({})).await;
    assert_eq!(a.expect(200)["linked"], true);
}

#[tokio::test]
async fn a_failing_dns_server_is_a_502() {
    let dns = FakeDns::start().await;
    dns.set_mode(DnsMode::ServFail);
    let s = with_dns(&dns, Duration::from_secs(5)).await;
    let t = s.signup("ada").await;
    let d = create(&s, &t, json!({"domain": "example.com", "main": true})).await;
    let url = format!("/domains/{}", d["id"].as_str().unwrap());
    let msg = s
        .post(&format!("{url}/verify"), Some(&t), json!({}))
        .await
        .expect_error(502);
    assert!(msg.contains("DNS"), "{msg}");
    assert!(!msg.contains("127.0.0.1"), "no internals: {msg}");
    assert_eq!(s.get(&url, Some(&t)).await.expect(200)["linked"], false);
}

#[tokio::test]
async fn a_domain_in_use_cannot_be_deleted() {
    let s = TestServer::start().await;
    let t = s.signup("ada").await;
    let d = create(&s, &t, json!({"domain": "example.com", "main": true})).await;
    let url = format!("/domains/{}", d["id"].as_str().unwrap());
    let p = s
        .post(
            "/project",
            Some(&t),
            json!({"name": "p", "sourceId": "s", "vmId": "v"}),
        )
        .await;
    let pid = p.expect(201)["id"].as_str().unwrap().to_string();
    let n = s
        .post(
            "/networks",
            Some(&t),
            json!({"domain": "app.example.com", "port": 80, "projectId": pid}),
        )
        .await;
    let nid = n.expect(201)["id"].as_str().unwrap().to_string();
    let msg = s.delete(&url, Some(&t)).await.expect_error(409);
    assert!(msg.contains("network connections"), "{msg}");
    assert_eq!(s.get(&url, Some(&t)).await.expect(200), &d);
    s.delete(&format!("/networks/{nid}"), Some(&t))
        .await
        .expect(204);
    s.delete(&url, Some(&t)).await.expect(204);
}
