//! `GET /docs`: the interactive API reference, on by default in the
//! standalone server, off with `--no-docs` / `SLIPWAY_DOCS=false` and in the
//! library unless the builder asks for it.

use slipway_tests::TestServer;

#[tokio::test]
async fn the_server_serves_the_api_reference_by_default() {
    let s = TestServer::start().await;
    let resp = s
        .client
        .get(format!("{}/docs", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["content-type"], "text/html; charset=utf-8");
    assert!(resp.headers().contains_key("x-request-id"));
    let html = resp.text().await.unwrap();
    assert!(html.contains("<title>Slipway API</title>"), "{html}");
    assert!(html.contains("api-reference"), "{html}");
    // The document it shows is this instance's.
    assert!(html.contains("\"openLiveFeed\""), "{html}");
}

#[tokio::test]
async fn no_docs_turns_it_off() {
    for off in [
        Box::new(|a: &mut slipway_server::Args| a.no_docs = true) as Box<dyn FnOnce(&mut _) + Send>,
        Box::new(|a: &mut slipway_server::Args| a.docs = false),
    ] {
        let s = TestServer::start_with(off, |b| b).await;
        let resp = s
            .client
            .get(format!("{}/docs", s.url))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 404);
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["message"], "Cannot find route /docs", "{body}");
    }
}
