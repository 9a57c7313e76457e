//! The live feed at `/ws`, driven by a real WebSocket client
//! (tokio-tungstenite) against the real server.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};
use slipway_core::Store;
use slipway_sqlite::testing::TempDb;
use slipway_tests::TestServer;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Guards against a hang (a failure, reported as such); never an assertion
/// about speed.
const HANG: Duration = Duration::from_secs(60);

fn ws_url(s: &TestServer, query: &str) -> String {
    format!("ws://{}/ws?{query}", s.running.addr)
}

async fn connect(s: &TestServer, token: &str, extra: &str) -> Ws {
    let url = ws_url(s, &format!("token={token}{extra}"));
    let (ws, resp) = tokio::time::timeout(HANG, connect_async(url))
        .await
        .expect("handshake finished")
        .expect("upgraded");
    assert_eq!(resp.status().as_u16(), 101);
    ws
}

/// The next message, whatever it is (`None` when the socket ended).
async fn next_message(ws: &mut Ws) -> Option<Message> {
    match tokio::time::timeout(HANG, ws.next()).await {
        Ok(Some(Ok(m))) => Some(m),
        Ok(Some(Err(_))) | Ok(None) => None,
        Err(_) => panic!("no message within {HANG:?}"),
    }
}

/// The next JSON text frame (pings are answered by tungstenite).
async fn frame(ws: &mut Ws) -> Value {
    loop {
        match next_message(ws).await.expect("socket open") {
            Message::Text(t) => return serde_json::from_str(t.as_str()).expect("JSON frame"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected message {other:?}"),
        }
    }
}

/// The refused handshake's status and JSON body.
async fn refused(req: impl IntoClientRequest + Unpin) -> (u16, Value, Option<String>) {
    match tokio::time::timeout(HANG, connect_async(req))
        .await
        .expect("handshake finished")
    {
        Ok(_) => panic!("the upgrade was accepted"),
        Err(WsError::Http(resp)) => {
            let body = resp.body().as_deref().unwrap_or_default();
            let body: Value = serde_json::from_slice(body).expect("JSON error body");
            let www = resp
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_string());
            (resp.status().as_u16(), body, www)
        }
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
    }
}

async fn user_id(s: &TestServer, token: &str) -> String {
    s.get("/auth/me", Some(token)).await.expect(200)["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn create_project(s: &TestServer, token: &str, name: &str) -> Value {
    let n = uuid_like();
    s.post(
        "/project",
        Some(token),
        json!({"name": name, "sourceId": format!("src-{n}"), "vmId": format!("vm-{n}")}),
    )
    .await
    .expect(201)
    .clone()
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

async fn rename(s: &TestServer, token: &str, project_id: &str, name: &str) {
    s.patch(
        &format!("/project/{project_id}"),
        Some(token),
        json!({"name": name}),
    )
    .await
    .expect(200);
}

fn id_of(f: &Value) -> u64 {
    f["id"]
        .as_str()
        .expect("id is a string")
        .parse()
        .expect("numeric id")
}

#[tokio::test]
async fn ws_connect_frame_first_with_query_or_header_token() {
    let s = TestServer::start().await;
    let ada = s.signup("ada").await;
    let me = user_id(&s, &ada).await;
    let mut ws = connect(&s, &ada, "").await;
    let hello = frame(&mut ws).await;
    assert_eq!(hello["event"], "connect");
    assert_eq!(hello["data"]["userId"], me.as_str());
    let last: u64 = hello["data"]["lastEventId"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    let mut req = ws_url(&s, "").into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {ada}").parse().unwrap());
    let (mut ws2, _) = connect_async(req).await.expect("header token upgrades");
    let hello2 = frame(&mut ws2).await;
    assert_eq!(hello2["event"], "connect");
    assert_eq!(hello2["data"]["lastEventId"], last.to_string());

    let p = create_project(&s, &ada, "first").await;
    for ws in [&mut ws, &mut ws2] {
        let f = frame(ws).await;
        assert_eq!(f["event"], "project.update");
        assert_eq!(f["data"]["type"], "CREATE");
        assert_eq!(f["data"]["projectId"], p["id"]);
        assert_eq!(
            f["data"]["data"], p,
            "the payload is the project as the API shows it"
        );
        assert!(id_of(&f) > last);
    }
}

/// An authenticated plain GET (no upgrade headers) gets core's JSON 426 on
/// every adapter, worded the same.
#[tokio::test]
async fn ws_plain_get_with_a_good_token_is_a_json_426() {
    let s = TestServer::start().await;
    let ada = s.signup("ada").await;
    let resp = s
        .client
        .get(format!("{}/ws?token={ada}", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 426);
    assert_eq!(resp.headers()["upgrade"], "websocket");
    assert_eq!(resp.headers()["content-type"], "application/json");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["statusCode"], 426);
    assert_eq!(body["error"], "Upgrade Required");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("/ws needs a WebSocket upgrade"),
        "{body}"
    );
}

#[tokio::test]
async fn ws_bad_expired_or_missing_token_is_refused_before_upgrade() {
    let s = TestServer::start().await;
    let ada = s.signup("ada").await;
    let (status, body, www) = refused(ws_url(&s, "")).await;
    assert_eq!((status, www.as_deref()), (401, Some("Bearer")));
    assert_eq!(body["statusCode"], 401);
    assert!(
        body["message"].as_str().unwrap().contains("token"),
        "{body}"
    );

    let (status, _, www) = refused(ws_url(&s, "token=not-a-jwt")).await;
    assert_eq!((status, www.as_deref()), (401, Some("Bearer")));

    // Correctly signed, but expired.
    let me = user_id(&s, &ada).await;
    let now = chrono::Utc::now().timestamp();
    let claims = slipway_core::Claims {
        sub: me,
        email: "ada@example.com".into(),
        name: "ada".into(),
        role: "admin".into(),
        iat: now - 7200,
        exp: now - 3600,
        iss: "slipway".into(),
    };
    let key = jsonwebtoken::EncodingKey::from_secret(&s.running.slipway.testing_jwt_key());
    let expired = jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).unwrap();
    let (status, _, _) = refused(ws_url(&s, &format!("token={expired}"))).await;
    assert_eq!(status, 401);

    let mut req = ws_url(&s, "").into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", "Bearer nope".parse().unwrap());
    assert_eq!(refused(req).await.0, 401);

    let (status, body, _) = refused(ws_url(&s, &format!("token={ada}&since=-3"))).await;
    assert_eq!(status, 400);
    assert!(
        body["message"].as_str().unwrap().contains("since"),
        "{body}"
    );

    // A good token still upgrades.
    let mut ws = connect(&s, &ada, "").await;
    assert_eq!(frame(&mut ws).await["event"], "connect");
}

#[tokio::test]
async fn ws_owner_sees_project_and_network_changes_others_see_none() {
    let s = TestServer::start().await;
    let ada = s.signup("ada").await; // first user: admin
    let bob = s.signup("bob").await;
    let mut a = connect(&s, &ada, "").await;
    let mut b = connect(&s, &bob, "").await;
    assert_eq!(frame(&mut a).await["event"], "connect");
    assert_eq!(frame(&mut b).await["event"], "connect");

    s.post(
        "/domains",
        Some(&ada),
        json!({"domain": "example.test", "main": true}),
    )
    .await
    .expect(201);
    let p = create_project(&s, &ada, "site").await;
    let pid = p["id"].as_str().unwrap().to_string();
    rename(&s, &ada, &pid, "site-2").await;
    let net = s
        .post(
            "/networks",
            Some(&ada),
            json!({"domain": "app.example.test", "port": 8080, "projectId": pid}),
        )
        .await;
    let nid = net.expect(201)["id"].as_str().unwrap().to_string();
    s.patch(
        &format!("/networks/{nid}"),
        Some(&ada),
        json!({"port": 9090}),
    )
    .await
    .expect(200);
    s.delete(&format!("/networks/{nid}"), Some(&ada))
        .await
        .expect(204);
    s.delete(&format!("/project/{pid}"), Some(&ada))
        .await
        .expect(204);

    let mut kinds = Vec::new();
    let mut last = 0;
    let mut frames = Vec::new();
    for _ in 0..6 {
        let f = frame(&mut a).await;
        assert_eq!(f["event"], "project.update");
        assert_eq!(f["data"]["projectId"], pid.as_str());
        assert!(id_of(&f) > last, "ids increase");
        last = id_of(&f);
        kinds.push(f["data"]["type"].as_str().unwrap().to_string());
        frames.push(f);
    }
    assert_eq!(
        kinds,
        ["CREATE", "UPDATE", "UPDATE", "UPDATE", "UPDATE", "DELETE"]
    );
    assert_eq!(frames[1]["data"]["data"]["name"], "site-2");
    let nets = |i: usize| frames[i]["data"]["data"]["networks"].clone();
    assert_eq!(nets(2)[0]["domain"], "app.example.test");
    assert_eq!(nets(3)[0]["port"], 9090);
    assert_eq!(nets(4), json!([]));
    assert_eq!(frames[5]["data"]["data"], json!({"id": pid}));

    // Bob saw none of it: his next frame is his own project.
    let pb = create_project(&s, &bob, "bobs").await;
    let f = frame(&mut b).await;
    assert_eq!(f["data"]["projectId"], pb["id"]);
    assert_eq!(f["data"]["type"], "CREATE");
    // And Ada does not see Bob's.
    let p2 = create_project(&s, &ada, "second").await;
    assert_eq!(frame(&mut a).await["data"]["projectId"], p2["id"]);
}

#[tokio::test]
async fn ws_reconnect_with_since_gets_exactly_the_missed_events_then_live_ones() {
    let s = TestServer::start().await;
    let ada = s.signup("ada").await;
    let mut ws = connect(&s, &ada, "").await;
    assert_eq!(frame(&mut ws).await["event"], "connect");
    let p = create_project(&s, &ada, "v0").await;
    let pid = p["id"].as_str().unwrap().to_string();
    let seen = id_of(&frame(&mut ws).await);
    ws.close(None).await.unwrap();
    drop(ws);

    for i in 1..=3 {
        rename(&s, &ada, &pid, &format!("v{i}")).await;
    }
    let mut ws = connect(&s, &ada, &format!("&since={seen}")).await;
    let hello = frame(&mut ws).await;
    assert_eq!(hello["data"]["lastEventId"], seen.to_string());
    let mut last = seen;
    for i in 1..=3 {
        let f = frame(&mut ws).await;
        assert_eq!(
            f["data"]["data"]["name"],
            format!("v{i}"),
            "missed events, in order"
        );
        assert!(id_of(&f) > last);
        last = id_of(&f);
    }
    rename(&s, &ada, &pid, "live").await;
    let f = frame(&mut ws).await;
    assert_eq!(
        f["data"]["data"]["name"], "live",
        "then live, with no duplicate"
    );
    assert!(id_of(&f) > last);
}

#[tokio::test]
async fn ws_a_client_that_never_reads_does_not_delay_another() {
    let s = TestServer::start_with(|_| {}, |b| b.configure(|c| c.ws_buffer = 16)).await;
    let ada = s.signup("ada").await;
    let mut stalled = connect(&s, &ada, "").await; // never read until the end
    let mut reader = connect(&s, &ada, "").await;
    assert_eq!(frame(&mut reader).await["event"], "connect");
    let p = create_project(&s, &ada, "busy").await;
    let pid = p["id"].as_str().unwrap().to_string();
    let mut last = id_of(&frame(&mut reader).await);
    let long = "x".repeat(1000);
    for i in 0..300 {
        s.patch(
            &format!("/project/{pid}"),
            Some(&ada),
            json!({"name": format!("n{i}"), "description": long}),
        )
        .await
        .expect(200);
        let f = frame(&mut reader).await;
        assert_eq!(f["data"]["data"]["name"], format!("n{i}"));
        assert!(id_of(&f) > last);
        last = id_of(&f);
    }
    // The stalled client got a consistent feed: increasing ids, possibly a
    // resync where it fell behind, and live events after it.
    rename(&s, &ada, &pid, "end").await;
    assert_eq!(frame(&mut stalled).await["event"], "connect");
    let mut prev = 0;
    loop {
        let f = frame(&mut stalled).await;
        if f["event"] == "resync" {
            continue;
        }
        assert!(id_of(&f) > prev, "ordered");
        prev = id_of(&f);
        if f["data"]["data"]["name"] == "end" {
            break;
        }
    }
}

/// A fresh store of the kind under test that retains only `n` events (and,
/// on SQLite, the directory of its file, removed when dropped).
async fn store_retaining(n: usize) -> (Arc<dyn Store>, Option<TempDb>) {
    let store: Arc<dyn Store> = match slipway_tests::store_kind().as_str() {
        "memory" => Arc::new(slipway_core::MemoryStore::with_options(
            slipway_core::MemoryStoreOptions {
                event_retention: n,
                ..Default::default()
            },
        )),
        "postgres" => {
            let url = slipway_tests::fresh_database_url().await;
            let options = slipway_postgres::PgOptions::default().event_retention(n as u64);
            Arc::new(
                slipway_postgres::PgStore::connect(&url, options)
                    .await
                    .unwrap(),
            )
        }
        "sqlite" => {
            let dir = TempDb::new().unwrap();
            let options = slipway_sqlite::SqliteOptions::default().event_retention(n as u64);
            let store = slipway_sqlite::SqliteStore::open(&dir.url(), options)
                .await
                .unwrap();
            return (Arc::new(store), Some(dir));
        }
        "redis" => {
            let url = std::env::var("SLIPWAY_TEST_REDIS_URL").expect("SLIPWAY_TEST_REDIS_URL");
            let options = slipway_redis::RedisOptions {
                prefix: slipway_tests::unique_name("slipway-test"),
                event_retention: n,
                ..Default::default()
            };
            Arc::new(
                slipway_redis::RedisStore::connect(&url, options)
                    .await
                    .unwrap(),
            )
        }
        other => panic!("unknown store {other}"),
    };
    (store, None)
}

#[tokio::test]
async fn ws_stale_since_gets_resync() {
    let (store, _dir) = store_retaining(5).await;
    let s = TestServer::start_with(|_| {}, move |b| b.shared_store(store)).await;
    let ada = s.signup("ada").await;
    let p = create_project(&s, &ada, "v0").await; // event 1
    let pid = p["id"].as_str().unwrap().to_string();
    for i in 1..=9 {
        rename(&s, &ada, &pid, &format!("v{i}")).await; // events 2..=10
    }
    let mut ws = connect(&s, &ada, "&since=1").await;
    assert_eq!(frame(&mut ws).await["event"], "connect");
    assert_eq!(frame(&mut ws).await, json!({"event": "resync"}));
    // Then the retained events (6..=10), in order.
    for i in 5..=9 {
        let f = frame(&mut ws).await;
        assert_eq!(f["data"]["data"]["name"], format!("v{i}"));
    }
}

#[tokio::test]
async fn ws_socket_closes_when_the_token_expires() {
    let s = TestServer::start_with(|a| a.token_ttl = Duration::from_secs(3), |b| b).await;
    let ada = s.signup("ada").await;
    let mut ws = connect(&s, &ada, "").await;
    assert_eq!(frame(&mut ws).await["event"], "connect");
    loop {
        match next_message(&mut ws)
            .await
            .expect("a close frame before the end")
        {
            Message::Close(Some(c)) => {
                assert_eq!(u16::from(c.code), 4001);
                assert_eq!(c.reason.as_str(), "token expired");
                break;
            }
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected message {other:?}"),
        }
    }
    // The server then ends the connection.
    while let Some(m) = next_message(&mut ws).await {
        assert!(matches!(m, Message::Close(_)), "{m:?}");
    }
}

/// 1,000 sockets are 2,000 descriptors in this process (client and server
/// ends): the soft open-files limit is raised to 4,096 when it is lower (up
/// to the hard limit; the test fails with a clear message when that is too low).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_a_thousand_subscribers_each_get_the_event() {
    const N: usize = 1000;
    let limit = rlimit::increase_nofile_limit(4096).expect("read the open-files limit");
    assert!(
        limit >= 2 * N as u64 + 100,
        "open-files limit {limit} is too low for {N} sockets"
    );
    // One user holds every connection, so lift the per-user caps (16 open,
    // 60 connects per minute).
    let s = TestServer::start_with(
        |_| {},
        |b| {
            b.configure(|c| {
                c.ws_max_connections_per_user = N + 1;
                c.ws_connects_per_minute = N as u32 + 1;
            })
        },
    )
    .await;
    let ada = s.signup("ada").await;
    let url = ws_url(&s, &format!("token={ada}"));
    let sockets: Vec<Ws> = futures::stream::iter(0..N)
        .map(|_| {
            let url = url.clone();
            async move {
                let (mut ws, _) = connect_async(url).await.expect("upgraded");
                assert_eq!(frame(&mut ws).await["event"], "connect");
                ws
            }
        })
        .buffer_unordered(50)
        .collect()
        .await;
    assert_eq!(sockets.len(), N);
    let p = create_project(&s, &ada, "fan-out").await;
    let got: Vec<Value> = futures::stream::iter(sockets)
        .map(|mut ws| async move { frame(&mut ws).await })
        .buffer_unordered(N)
        .collect()
        .await;
    assert_eq!(got.len(), N);
    assert!(got.iter().all(|f| f["data"]["projectId"] == p["id"]));
    assert!(
        got.iter().all(|f| f["id"] == got[0]["id"]),
        "the same event for everyone"
    );
}
