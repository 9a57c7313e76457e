//! Paging of the lists (`GET /project`, `/networks`, `/domains`,
//! `/authorization`): `?limit=N&after=<id>` answers at most N items, oldest
//! first, with `Link: <...>; rel="next"` while more follow; following the
//! links gives every item exactly once. Without `limit`, the whole list.

use serde_json::{json, Value};
use slipway_tests::TestServer;

use crate::keys;

/// The `rel="next"` target of a `Link` header, resolved against `base`.
fn next_link(base: &reqwest::Url, a: &slipway_tests::Answer) -> Option<String> {
    let link = a.headers.get("link")?.to_str().unwrap().to_string();
    let target = link
        .strip_prefix('<')
        .and_then(|l| l.split_once(">; rel=\"next\""))
        .unwrap_or_else(|| panic!("malformed Link: {link}"))
        .0;
    let url = base.join(target).unwrap();
    Some(match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    })
}

/// Walks `path` page by page with `limit`; returns the ids in order.
async fn walk(s: &TestServer, token: &str, path: &str, limit: usize) -> Vec<String> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut next = Some(format!("{path}{sep}limit={limit}"));
    let mut ids = Vec::new();
    let mut pages = 0;
    while let Some(p) = next {
        pages += 1;
        assert!(pages <= 100, "{path}: more pages than items");
        let a = s.get(&p, Some(token)).await;
        let items = a
            .expect(200)
            .as_array()
            .unwrap_or_else(|| panic!("{a:?}"))
            .clone();
        assert!(items.len() <= limit, "{p}: {} items", items.len());
        ids.extend(items.iter().map(|i| i["id"].as_str().unwrap().to_string()));
        let base = reqwest::Url::parse(&format!("{}{p}", s.url)).unwrap();
        next = next_link(&base, &a);
        if next.is_none() {
            // The last page: no Link; a page holding `limit` items could be
            // last only when nothing follows.
            assert!(a.headers.get("link").is_none());
        } else {
            assert_eq!(items.len(), limit, "{p}: a short page with a next link");
        }
    }
    ids
}

fn ids_of(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

async fn check_list(s: &TestServer, token: &str, path: &str, expected: usize) {
    let whole = s.get(path, Some(token)).await;
    assert!(
        whole.headers.get("link").is_none(),
        "{path}: no Link without limit"
    );
    let all = ids_of(whole.expect(200));
    assert_eq!(all.len(), expected, "{path}: the whole list without limit");
    for limit in [1, 2, 3, expected, expected + 1, 1000] {
        let walked = walk(s, token, path, limit).await;
        assert_eq!(
            walked, all,
            "{path} limit={limit}: every item exactly once, in order"
        );
    }
}

#[tokio::test]
async fn pages_give_every_item_exactly_once() {
    let s = TestServer::start().await;
    let admin = s.signup("ada").await;
    s.post(
        "/domains",
        Some(&admin),
        json!({"domain": "paging.example", "main": true}),
    )
    .await
    .expect(201);
    let mut project_ids = Vec::new();
    for i in 0..5 {
        let p = s
            .post(
                "/project",
                Some(&admin),
                json!({"name": format!("p{i}"), "sourceId": format!("src-{i}"), "vmId": format!("vm-{i}")}),
            )
            .await;
        project_ids.push(p.expect(201)["id"].as_str().unwrap().to_string());
    }
    for i in 0..5 {
        s.post(
            "/networks",
            Some(&admin),
            json!({"domain": format!("n{i}.paging.example"), "port": 8000 + i, "projectId": project_ids[i % 2]}),
        )
        .await
        .expect(201);
    }
    for i in 1..4 {
        s.post(
            "/domains",
            Some(&admin),
            json!({"domain": format!("more{i}.example"), "main": false}),
        )
        .await
        .expect(201);
    }
    for (i, (_, key, _, _)) in keys::KEYS.iter().take(4).enumerate() {
        s.post(
            "/authorization",
            Some(&admin),
            json!({"type": "deploy_key", "name": format!("k{i}"), "data": {"key": key}}),
        )
        .await
        .expect(201);
    }

    check_list(&s, &admin, "/project", 5).await;
    check_list(&s, &admin, "/networks", 5).await;
    check_list(
        &s,
        &admin,
        &format!("/networks?projectId={}", project_ids[0]),
        3,
    )
    .await;
    check_list(&s, &admin, "/domains", 4).await;
    check_list(&s, &admin, "/authorization", 4).await;
}

#[tokio::test]
async fn the_next_link_keeps_other_query_parameters() {
    let s = TestServer::start().await;
    let t = s.signup("ada").await;
    s.post(
        "/domains",
        Some(&t),
        json!({"domain": "keep.example", "main": true}),
    )
    .await
    .expect(201);
    let p = s
        .post(
            "/project",
            Some(&t),
            json!({"name": "p", "sourceId": "s1", "vmId": "v1"}),
        )
        .await;
    let pid = p.expect(201)["id"].as_str().unwrap().to_string();
    for i in 0..2 {
        s.post(
            "/networks",
            Some(&t),
            json!({"domain": format!("n{i}.keep.example"), "port": 80, "projectId": pid}),
        )
        .await
        .expect(201);
    }
    let a = s
        .get(&format!("/networks?projectId={pid}&limit=1"), Some(&t))
        .await;
    let first = ids_of(a.expect(200));
    let link = a.headers["link"].to_str().unwrap();
    assert_eq!(
        link,
        format!(
            "<networks?projectId={pid}&limit=1&after={}>; rel=\"next\"",
            first[0]
        )
    );
}

#[tokio::test]
async fn a_limit_out_of_range_or_an_unknown_after_is_400() {
    let s = TestServer::start().await;
    let t = s.signup("ada").await;
    for path in ["/project", "/networks", "/domains", "/authorization"] {
        for bad in ["0", "1001", "-1", "x", "", "1.5"] {
            let msg = s
                .get(&format!("{path}?limit={bad}"), Some(&t))
                .await
                .expect_error(400);
            assert!(msg.contains("limit"), "{path} limit={bad}: {msg}");
        }
        s.get(&format!("{path}?limit=1000"), Some(&t))
            .await
            .expect(200);
        let msg = s
            .get(
                &format!("{path}?limit=1&after=00000000-0000-4000-8000-000000000000"),
                Some(&t),
            )
            .await
            .expect_error(400);
        assert!(msg.contains("after"), "{path}: {msg}");
    }
}
