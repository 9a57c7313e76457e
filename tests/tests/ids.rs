//! Path ids are checked in core: anything that is not an id Slipway issued
//! is a 404 before any store is asked, on every store (on Redis, `<id>:ver`
//! once reached a project's version counter and answered 500).

use reqwest::Method;
use serde_json::json;
use slipway_tests::TestServer;

#[tokio::test]
async fn ids_slipway_did_not_issue_are_404_on_every_route() {
    let s = TestServer::start().await;
    let token = s.signup("ada").await;
    let created = s
        .post(
            "/project",
            Some(&token),
            json!({"name": "Blog", "sourceId": "s-1", "vmId": "v-1"}),
        )
        .await;
    let id = created.expect(201)["id"].as_str().unwrap().to_string();
    let forged = [
        format!("{id}%3Aver"),
        format!("{id}:networks"),
        id.to_uppercase(),
        "..%2F..%2Fetc".to_string(),
        "x".repeat(300),
    ];
    for bad in &forged {
        for (method, path) in [
            (Method::GET, format!("/project/{bad}")),
            (Method::PATCH, format!("/project/{bad}")),
            (Method::DELETE, format!("/project/{bad}")),
            (Method::GET, format!("/networks/{bad}")),
            (Method::PATCH, format!("/networks/{bad}")),
            (Method::DELETE, format!("/networks/{bad}")),
            (Method::GET, format!("/networks?projectId={bad}")),
            (Method::GET, format!("/domains/{bad}")),
            (Method::DELETE, format!("/domains/{bad}")),
            (Method::POST, format!("/domains/{bad}/verify")),
            (Method::GET, format!("/authorization/{bad}")),
            (Method::DELETE, format!("/authorization/{bad}")),
        ] {
            let body = (method == Method::PATCH).then(|| json!({"name": "x"}));
            let a = s.call(method.clone(), &path, Some(&token), body).await;
            assert_eq!(a.status.as_u16(), 404, "{method} {path}: {}", a.body);
            assert_eq!(a.body["statusCode"], 404, "{method} {path}: {}", a.body);
        }
        let a = s
            .post(
                "/networks",
                Some(&token),
                json!({"domain": "app.example.com", "port": 80, "projectId": bad}),
            )
            .await;
        assert_eq!(a.status.as_u16(), 404, "{}", a.body);
    }
    // The real project is untouched and still served.
    let read = s.get(&format!("/project/{id}"), Some(&token)).await;
    assert_eq!(read.expect(200)["name"], "Blog");
}
