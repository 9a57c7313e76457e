//! The example application over real HTTP and a real WebSocket: its own
//! cookie login authenticates Slipway's routes and live feed, its own code
//! creates projects through the service API, and it logs the events it
//! receives.

use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};
use slipway_example_embed::{App, HostUser, SESSION_COOKIE};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const HANG: Duration = Duration::from_secs(10);

struct Running {
    app: App,
    base: String,
    client: reqwest::Client,
}

async fn start() -> Running {
    let app = App::new(vec![
        HostUser::new("Ada", "ada@example.com", "correct horse"),
        HostUser::new("Grace", "grace@example.com", "battery staple"),
    ])
    .expect("app builds");
    app.log_events().await.expect("subscribed");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app.router();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap();
    });
    Running {
        app,
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
    }
}

impl Running {
    /// Signs in with the application's own login; the session cookie.
    async fn login(&self, email: &str, password: &str) -> String {
        let resp = self
            .client
            .post(format!("{}/login", self.base))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        let set = resp.headers()["set-cookie"].to_str().unwrap();
        let pair = set.split(';').next().unwrap();
        assert!(pair.starts_with(&format!("{SESSION_COOKIE}=")));
        pair.to_string()
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> (StatusCode, Value) {
        let mut req = self.client.get(format!("{}{path}", self.base));
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, cookie: &str, body: Value) -> (StatusCode, Value) {
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", cookie)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

#[tokio::test]
async fn own_pages_stay_and_slipway_answers_under_api() {
    let r = start().await;
    let home = r.client.get(&r.base).send().await.unwrap();
    assert_eq!(home.status(), StatusCode::OK);
    assert!(home.text().await.unwrap().contains("My platform"));
    let (status, health) = r.get("/api/health", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["status"], "ok");
    // No session and no token: Slipway's own 401.
    let (status, body) = r.get("/api/auth/me", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["statusCode"], 401);
    // A made-up session is refused, not treated as anonymous.
    let (status, _) = r
        .get("/api/project", Some(&format!("{SESSION_COOKIE}=forged")))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A wrong password at the application's own login.
    let resp = r
        .client
        .post(format!("{}/login", r.base))
        .json(&json!({"email": "ada@example.com", "password": "wrong"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_session_cookie_authenticates_slipway_requests() {
    let r = start().await;
    let ada = r.login("ada@example.com", "correct horse").await;
    let (status, me) = r.get("/api/auth/me", Some(&ada)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["email"], "ada@example.com");
    assert_eq!(me["name"], "Ada");
    // The host decides who administers Slipway: its first user is a member.
    assert_eq!(me["role"], "member");
    // Slipway's rules hold for host users too: an empty name is a 400.
    let (status, body) = r
        .post(
            "/api/project",
            &ada,
            json!({"name": "", "sourceId": "s-1", "vmId": "v-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["message"].as_str().unwrap().contains("name"));
    let (status, created) = r
        .post(
            "/api/project",
            &ada,
            json!({"name": "Blog", "sourceId": "s-1", "vmId": "v-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    // Another host user does not see Ada's project.
    let grace = r.login("grace@example.com", "battery staple").await;
    let id = created["id"].as_str().unwrap();
    let (status, _) = r.get(&format!("/api/project/{id}"), Some(&grace)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, listed) = r.get("/api/project", Some(&ada)).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn host_code_creates_projects_through_the_services() {
    let r = start().await;
    let ada = r.login("ada@example.com", "correct horse").await;
    let (status, project) = r
        .post("/quick-project", &ada, json!({"name": "Docs site"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{project}");
    assert_eq!(project["name"], "Docs site");
    let (_, listed) = r.get("/api/project", Some(&ada)).await;
    assert_eq!(listed[0]["id"], project["id"]);
    // The service rules apply to host code as well.
    let (status, _) = r
        .post("/quick-project", &ada, json!({"name": "x".repeat(101)}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_websocket_feed_uses_the_session_and_events_are_logged() {
    let r = start().await;
    let ada = r.login("ada@example.com", "correct horse").await;
    let url = format!("{}/api/ws", r.base.replace("http://", "ws://"));
    // Without the cookie the upgrade is refused with Slipway's 401.
    let refused = tokio_tungstenite::connect_async(url.as_str()).await;
    assert!(refused.is_err());
    let mut req = url.as_str().into_client_request().unwrap();
    req.headers_mut().insert("cookie", ada.parse().unwrap());
    let (mut ws, _) = tokio::time::timeout(HANG, tokio_tungstenite::connect_async(req))
        .await
        .expect("handshake in time")
        .expect("the session cookie upgrades");
    let hello = next_json(&mut ws).await;
    assert_eq!(hello["event"], "connect");
    let (status, project) = r
        .post("/quick-project", &ada, json!({"name": "Live"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let update = next_json(&mut ws).await;
    assert_eq!(update["event"], "project.update");
    assert_eq!(update["data"]["type"], "CREATE");
    assert_eq!(update["data"]["projectId"], project["id"]);
    // The application's own subscription logged the same event.
    let id = project["id"].as_str().unwrap().to_string();
    let logged = tokio::time::timeout(HANG, async {
        loop {
            if let Some(line) = r.app.logged_events().into_iter().find(|l| l.contains(&id)) {
                return line;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the event is logged");
    assert!(logged.contains("CREATE"), "{logged}");
}

async fn next_json<S>(ws: &mut S) -> Value
where
    S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let msg = tokio::time::timeout(HANG, ws.next())
            .await
            .expect("a frame in time")
            .expect("socket open")
            .expect("no socket error");
        if let Message::Text(t) = msg {
            return serde_json::from_str(t.as_str()).unwrap();
        }
    }
}
