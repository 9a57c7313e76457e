//! Protocol tests over a `futures::channel::mpsc` pair: no server.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::channel::mpsc;
use futures::{Sink, Stream, StreamExt};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::Value;

use super::{WsMessage, CLOSE_PING_TIMEOUT, CLOSE_TOKEN_EXPIRED};
use crate::model::{
    Domain, EventKind, Network, NetworkPatch, NewEvent, NewUser, Project, ProjectPatch, RoleGate,
    User,
};
use crate::store::{MemoryStore, MemoryStoreOptions, Store};
use crate::Slipway;

/// The server's end of a socket: client messages in, server messages out.
struct Duplex {
    incoming: mpsc::UnboundedReceiver<Result<WsMessage, Infallible>>,
    outgoing: mpsc::Sender<WsMessage>,
}

impl Stream for Duplex {
    type Item = Result<WsMessage, Infallible>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.incoming).poll_next(cx)
    }
}

impl Sink<WsMessage> for Duplex {
    type Error = mpsc::SendError;
    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.outgoing).poll_ready(cx)
    }
    fn start_send(mut self: Pin<&mut Self>, item: WsMessage) -> Result<(), Self::Error> {
        Pin::new(&mut self.outgoing).start_send(item)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.outgoing).poll_flush(cx)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.outgoing).poll_close(cx)
    }
}

/// The client's end.
struct Client {
    to_server: mpsc::UnboundedSender<Result<WsMessage, Infallible>>,
    from_server: mpsc::Receiver<WsMessage>,
    session: tokio::task::JoinHandle<()>,
}

impl Client {
    /// The next message; panics instead of hanging when none comes.
    async fn next(&mut self) -> Option<WsMessage> {
        tokio::time::timeout(Duration::from_secs(300), self.from_server.next())
            .await
            .expect("a message within 300 s")
    }
    /// The next text frame as JSON, answering pings on the way.
    async fn frame(&mut self) -> Value {
        loop {
            match self.next().await.expect("socket open") {
                WsMessage::Text(t) => return serde_json::from_str(&t).expect("JSON frame"),
                WsMessage::Ping(p) => self.send(WsMessage::Pong(p)),
                other => panic!("unexpected message {other:?}"),
            }
        }
    }
    fn send(&self, msg: WsMessage) {
        self.to_server
            .unbounded_send(Ok(msg))
            .expect("session alive");
    }
}

struct Env {
    slipway: Slipway,
    store: MemoryStore,
}

fn env(retention: usize, configure: impl FnOnce(&mut crate::Config)) -> Env {
    let store = MemoryStore::with_options(MemoryStoreOptions {
        event_retention: retention,
        ..Default::default()
    });
    let slipway = Slipway::builder()
        .secret(vec![9u8; 32])
        .store(store.clone())
        .configure(configure)
        .build()
        .expect("valid configuration");
    Env { slipway, store }
}

fn uid<T: From<String>>() -> T {
    T::from(uuid::Uuid::new_v4().to_string())
}

impl Env {
    async fn user(&self, name: &str) -> User {
        let id: crate::model::UserId = uid();
        let user = NewUser {
            email: format!("{name}-{}@example.com", &id[..8]),
            id,
            name: name.into(),
            password_hash: None,
            github_id: None,
            created_at: chrono::Utc::now(),
        };
        self.store
            .create_user(
                user,
                RoleGate::FirstUserAdmin,
                &crate::model::AuditEntry::new(
                    crate::model::AuditAction::ProjectCreate,
                    chrono::Utc::now(),
                ),
            )
            .await
            .unwrap()
    }

    async fn project(&self, owner: &User) -> Project {
        let id: crate::model::ProjectId = uid();
        let now = chrono::Utc::now();
        let project = Project {
            source_id: format!("src-{id}"),
            vm_id: format!("vm-{id}"),
            id,
            owner_id: owner.id.clone(),
            name: "demo".into(),
            description: None,
            path: None,
            networks: vec![],
            created_at: now,
            updated_at: now,
        };
        let event = NewEvent::for_project(EventKind::Create, &project);
        self.store
            .create_project(
                project,
                usize::MAX,
                event,
                &crate::model::AuditEntry::new(
                    crate::model::AuditAction::ProjectCreate,
                    chrono::Utc::now(),
                ),
            )
            .await
            .unwrap()
    }

    async fn rename(&self, p: &Project, name: &str) {
        let patch = ProjectPatch {
            name: Some(name.into()),
            updated_at: chrono::Utc::now(),
            ..Default::default()
        };
        let before = self.store.get_project(&p.owner_id, &p.id).await.unwrap();
        let mut after = before.clone();
        patch.apply(&mut after);
        let event = NewEvent::for_project(EventKind::Update, &after);
        self.store
            .update_project(
                &before,
                &after,
                event,
                &crate::model::AuditEntry::new(
                    crate::model::AuditAction::ProjectCreate,
                    chrono::Utc::now(),
                ),
            )
            .await
            .unwrap();
    }

    async fn connect(&self, user: &User, query_extra: &str, out_buffer: usize) -> Client {
        let token = self.slipway.issue_token(user, None);
        self.connect_with(&token, query_extra, out_buffer).await
    }

    async fn connect_with(&self, token: &str, query_extra: &str, out_buffer: usize) -> Client {
        let query = format!("token={token}{query_extra}");
        let session = self
            .slipway
            .ws_accept(&HeaderMap::new(), Some(&query))
            .await
            .expect("accepted");
        let (to_server, incoming) = mpsc::unbounded();
        let (outgoing, from_server) = mpsc::channel(out_buffer);
        let session = tokio::spawn(session.run(Duplex { incoming, outgoing }));
        Client {
            to_server,
            from_server,
            session,
        }
    }
}

fn status_of(r: Result<super::WsSession, crate::http::Response>) -> StatusCode {
    match r {
        Ok(_) => panic!("expected a refusal"),
        Err(resp) => resp.status(),
    }
}

#[tokio::test]
async fn ws_connect_frame_comes_first() {
    let e = env(100, |_| {});
    let ada = e.user("ada").await;
    let p = e.project(&ada).await;
    let mut c = e.connect(&ada, "", 16).await;
    let hello = c.frame().await;
    assert_eq!(hello["event"], "connect");
    assert_eq!(hello["data"]["userId"], ada.id.as_str());
    assert_eq!(
        hello["data"]["lastEventId"], "1",
        "the newest event at connect time"
    );
    e.rename(&p, "renamed").await;
    let update = c.frame().await;
    assert_eq!(update["event"], "project.update");
    assert_eq!(update["id"], "2");
    assert_eq!(update["data"]["projectId"], p.id.as_str());
    assert_eq!(update["data"]["type"], "UPDATE");
    assert_eq!(update["data"]["data"]["name"], "renamed");
}

#[tokio::test]
async fn ws_accept_refuses_before_upgrade() {
    let e = env(100, |_| {});
    let ada = e.user("ada").await;
    let token = e.slipway.issue_token(&ada, None);
    let none = e.slipway.ws_accept(&HeaderMap::new(), None).await;
    let Err(resp) = none else {
        panic!("missing token accepted")
    };
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    let bad = e
        .slipway
        .ws_accept(&HeaderMap::new(), Some("token=nope"))
        .await;
    assert_eq!(status_of(bad), StatusCode::UNAUTHORIZED);
    let q = format!("token={token}&since=abc");
    let since = e.slipway.ws_accept(&HeaderMap::new(), Some(&q)).await;
    let Err(resp) = since else {
        panic!("bad since accepted")
    };
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&body.to_bytes()).unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("since"),
        "{body}"
    );
    // The Authorization header works too.
    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    let ok = e
        .slipway
        .ws_accept(&headers, None)
        .await
        .expect("header token");
    assert_eq!(ok.user_id(), &ada.id);
    // A deleted user's token is refused.
    crate::services::writes::delete_user(
        &e.store,
        &ada.id,
        &crate::model::AuditEntry::new(
            crate::model::AuditAction::ProjectCreate,
            chrono::Utc::now(),
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        status_of(e.slipway.ws_accept(&headers, None).await),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn ws_sends_only_the_users_own_events() {
    let e = env(100, |_| {});
    let ada = e.user("ada").await;
    let bob = e.user("bob").await;
    let mut a = e.connect(&ada, "", 16).await;
    let mut b = e.connect(&bob, "", 16).await;
    assert_eq!(a.frame().await["event"], "connect");
    assert_eq!(b.frame().await["event"], "connect");
    let pa = e.project(&ada).await;
    let pb = e.project(&bob).await;
    e.rename(&pb, "b2").await;
    e.rename(&pa, "a2").await;
    let domain = Domain {
        id: uid(),
        domain: "example.test".into(),
        challenge: "c".repeat(32),
        main: false,
        linked: false,
        created_at: chrono::Utc::now(),
    };
    e.store
        .create_domain(
            domain.clone(),
            &crate::model::AuditEntry::new(
                crate::model::AuditAction::ProjectCreate,
                chrono::Utc::now(),
            ),
        )
        .await
        .unwrap();
    let net = Network {
        id: uid(),
        domain: "app.example.test".into(),
        port: 8080,
        project_id: pa.id.clone(),
        domain_id: domain.id.clone(),
        created_at: chrono::Utc::now(),
    };
    let before = e.store.get_project(&ada.id, &pa.id).await.unwrap();
    crate::services::writes::create_network(
        &e.store,
        before,
        net.clone(),
        &crate::model::AuditEntry::new(
            crate::model::AuditAction::ProjectCreate,
            chrono::Utc::now(),
        ),
        |_| Ok::<(), ()>(()),
    )
    .await
    .unwrap();
    let patch = NetworkPatch {
        port: Some(9090),
        ..Default::default()
    };
    crate::services::writes::update_network(
        &e.store,
        &ada.id,
        &net.id,
        None,
        &patch,
        &crate::model::AuditEntry::new(
            crate::model::AuditAction::ProjectCreate,
            chrono::Utc::now(),
        ),
    )
    .await
    .unwrap();
    crate::services::writes::delete_network(
        &e.store,
        &ada.id,
        &net.id,
        None,
        &crate::model::AuditEntry::new(
            crate::model::AuditAction::ProjectCreate,
            chrono::Utc::now(),
        ),
    )
    .await
    .unwrap();
    e.store
        .delete_project(
            &bob.id,
            &pb.id,
            NewEvent::deleted(&bob.id, &pb.id),
            &crate::model::AuditEntry::new(
                crate::model::AuditAction::ProjectCreate,
                chrono::Utc::now(),
            ),
        )
        .await
        .unwrap();
    e.store
        .delete_project(
            &ada.id,
            &pa.id,
            NewEvent::deleted(&ada.id, &pa.id),
            &crate::model::AuditEntry::new(
                crate::model::AuditAction::ProjectCreate,
                chrono::Utc::now(),
            ),
        )
        .await
        .unwrap();

    let mut seen = Vec::new();
    for _ in 0..6 {
        let f = a.frame().await;
        assert_eq!(f["event"], "project.update");
        assert_eq!(f["data"]["projectId"], pa.id.as_str());
        seen.push((
            f["id"].as_str().unwrap().to_string(),
            f["data"]["type"].clone(),
        ));
    }
    let ids: Vec<u64> = seen.iter().map(|(id, _)| id.parse().unwrap()).collect();
    assert_eq!(
        ids,
        vec![1, 4, 5, 6, 7, 9],
        "Bob's events skipped, order kept"
    );
    let kinds: Vec<&str> = seen.iter().map(|(_, k)| k.as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["CREATE", "UPDATE", "UPDATE", "UPDATE", "UPDATE", "DELETE"]
    );
    let mut bob_ids = Vec::new();
    for _ in 0..3 {
        let f = b.frame().await;
        assert_eq!(f["data"]["projectId"], pb.id.as_str());
        bob_ids.push(f["id"].as_str().unwrap().to_string());
    }
    assert_eq!(bob_ids, ["2", "3", "8"]);
}

#[tokio::test]
async fn ws_since_replays_missed_events_then_live_ones() {
    let e = env(100, |_| {});
    let ada = e.user("ada").await;
    let p = e.project(&ada).await; // 1
    e.rename(&p, "two").await; // 2
    e.rename(&p, "three").await; // 3
    let mut c = e.connect(&ada, "&since=1", 16).await;
    let hello = c.frame().await;
    assert_eq!(
        hello["data"]["lastEventId"], "1",
        "the feed starts after since"
    );
    assert_eq!(c.frame().await["id"], "2");
    assert_eq!(c.frame().await["id"], "3");
    e.rename(&p, "four").await;
    let live = c.frame().await;
    assert_eq!(live["id"], "4");
    assert_eq!(live["data"]["data"]["name"], "four");
}

#[tokio::test]
async fn ws_stale_since_gets_resync_then_the_retained_events() {
    let e = env(3, |_| {});
    let ada = e.user("ada").await;
    let p = e.project(&ada).await;
    for i in 0..5 {
        e.rename(&p, &format!("n{i}")).await;
    }
    // Events 1..=6 were written; 4, 5, 6 are retained.
    let mut c = e.connect(&ada, "&since=1", 16).await;
    assert_eq!(c.frame().await["event"], "connect");
    assert_eq!(c.frame().await, serde_json::json!({"event": "resync"}));
    assert_eq!(c.frame().await["id"], "4");
    assert_eq!(c.frame().await["id"], "5");
    assert_eq!(c.frame().await["id"], "6");
}

#[tokio::test]
async fn ws_future_since_gets_resync_and_reports_the_cursor_used() {
    let e = env(100, |_| {});
    let ada = e.user("ada").await;
    let p = e.project(&ada).await;
    e.rename(&p, "two").await;
    // Events 1 and 2 exist; the client claims to have seen 500.
    let mut c = e.connect(&ada, "&since=500", 16).await;
    let hello = c.frame().await;
    assert_eq!(hello["event"], "connect");
    assert_eq!(hello["data"]["lastEventId"], "2");
    assert_eq!(c.frame().await, serde_json::json!({"event": "resync"}));
    e.rename(&p, "three").await;
    let live = c.frame().await;
    assert_eq!(live["id"], "3");
    assert_eq!(live["data"]["data"]["name"], "three");
}

#[tokio::test]
async fn ws_slow_client_gets_resync_and_the_feed_goes_on() {
    let e = env(1000, |c| {
        c.ws_buffer = 4;
        c.ws_ping_interval = Duration::from_secs(3600);
        c.ws_pong_timeout = Duration::from_secs(3600);
    });
    let ada = e.user("ada").await;
    let p = e.project(&ada).await; // 1
                                   // The outgoing channel holds one message: this client reads nothing yet.
    let mut slow = e.connect(&ada, "", 0).await;
    let mut fast = e.connect(&ada, "", 64).await;
    // The fast client gets every event, in order, while the other reads nothing.
    assert_eq!(fast.frame().await["event"], "connect");
    for id in 2..=41 {
        e.rename(&p, &format!("n{id}")).await;
        assert_eq!(fast.frame().await["id"], id.to_string());
    }
    // The slow one lost events and is told so; the feed continues after that.
    assert_eq!(slow.frame().await["event"], "connect");
    let mut updates = 0;
    loop {
        let f = slow.frame().await;
        if f["event"] == "resync" {
            break;
        }
        updates += 1;
    }
    assert!(updates < 40, "some events were dropped for the slow client");
    e.rename(&p, "after").await; // 42
    let mut last = slow.frame().await;
    while last["id"] != "42" {
        assert_eq!(last["event"], "project.update");
        last = slow.frame().await;
    }
    assert_eq!(last["data"]["data"]["name"], "after");
}

#[tokio::test]
async fn ws_ignores_client_text() {
    let e = env(100, |_| {});
    let ada = e.user("ada").await;
    let mut c = e.connect(&ada, "", 16).await;
    assert_eq!(c.frame().await["event"], "connect");
    c.send(WsMessage::Text(
        r#"{"event":"subscribe","userId":"someone-else"}"#.into(),
    ));
    c.send(WsMessage::Binary(vec![1, 2, 3]));
    let p = e.project(&ada).await;
    let f = c.frame().await;
    assert_eq!(f["data"]["projectId"], p.id.as_str());
}

#[tokio::test]
async fn ws_client_close_ends_the_session() {
    let e = env(100, |_| {});
    let ada = e.user("ada").await;
    let mut c = e.connect(&ada, "", 16).await;
    assert_eq!(c.frame().await["event"], "connect");
    c.send(WsMessage::Close(None));
    c.session.await.expect("session ended cleanly");
    assert_eq!(c.from_server.next().await, None);
}

#[tokio::test(start_paused = true)]
async fn ws_closes_when_the_token_expires() {
    let e = env(100, |_| {});
    let ada = e.user("ada").await;
    let token = e.slipway.issue_token(&ada, Some(Duration::from_secs(2)));
    let mut c = e.connect_with(&token, "", 16).await;
    assert_eq!(c.frame().await["event"], "connect");
    let close = c.next().await.expect("a close frame");
    assert_eq!(
        close,
        WsMessage::Close(Some((CLOSE_TOKEN_EXPIRED, "token expired".into())))
    );
    c.send(WsMessage::Close(None));
    c.session.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn ws_pings_and_drops_a_peer_that_does_not_pong() {
    let e = env(100, |c| {
        c.ws_ping_interval = Duration::from_secs(30);
        c.ws_pong_timeout = Duration::from_secs(10);
    });
    let ada = e.user("ada").await;
    let mut c = e.connect(&ada, "", 16).await;
    assert_eq!(c.frame().await["event"], "connect");
    let start = tokio::time::Instant::now();
    // Answered pings keep the connection open.
    for _ in 0..3 {
        let ping = c.next().await.expect("a ping");
        assert!(matches!(ping, WsMessage::Ping(_)), "{ping:?}");
        c.send(WsMessage::Pong(Vec::new()));
    }
    assert!(
        start.elapsed() >= Duration::from_secs(90),
        "pings every 30 s"
    );
    // An unanswered one ends it.
    let ping = c.next().await.expect("a ping");
    assert!(matches!(ping, WsMessage::Ping(_)));
    let close = c.next().await.expect("a close frame");
    assert!(
        matches!(close, WsMessage::Close(Some((CLOSE_PING_TIMEOUT, _)))),
        "{close:?}"
    );
    c.session.await.unwrap();
    assert_eq!(c.from_server.next().await, None);
}

/// A project and a client whose channel holds one message, with a pong
/// timeout of 10 s and no pings.
async fn one_message_peer() -> (Env, Project, Client) {
    let e = env(100, |c| {
        c.ws_ping_interval = Duration::from_secs(3600);
        c.ws_pong_timeout = Duration::from_secs(10);
    });
    let ada = e.user("ada").await;
    let p = e.project(&ada).await;
    let c = e.connect(&ada, "", 0).await;
    (e, p, c)
}

#[tokio::test(start_paused = true)]
async fn ws_drops_a_peer_that_takes_no_frame_within_the_pong_timeout() {
    // The channel holds one message: the connect frame fills it, and the
    // client reads nothing, so the next frame is held back.
    let (e, p, mut c) = one_message_peer().await;
    let start = tokio::time::Instant::now();
    e.rename(&p, "held").await;
    tokio::time::timeout(Duration::from_secs(60), &mut c.session)
        .await
        .expect("the session ends")
        .unwrap();
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(10) && waited < Duration::from_secs(20),
        "dropped after the pong timeout, not {waited:?}"
    );
    assert_eq!(c.frame().await["event"], "connect");
    assert_eq!(c.from_server.next().await, None, "nothing after the drop");
}

#[tokio::test(start_paused = true)]
async fn ws_keeps_a_slow_peer_that_takes_a_frame_within_each_pong_timeout() {
    let (e, p, mut c) = one_message_peer().await;
    assert_eq!(c.frame().await["event"], "connect");
    for i in 0..6 {
        e.rename(&p, &format!("n{i}")).await;
    }
    // Six frames, one every 8 s: 48 s in all, each within 10 s of the last.
    for i in 0..6 {
        tokio::time::sleep(Duration::from_secs(8)).await;
        let f = c.frame().await;
        assert_eq!(f["data"]["data"]["name"], format!("n{i}"));
    }
    assert!(!c.session.is_finished(), "the slow peer is still served");
    c.send(WsMessage::Close(None));
    c.session.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ws_feed_stays_ordered_under_concurrent_writers() {
    let e = env(10_000, |c| c.ws_buffer = 10_000);
    let ada = e.user("ada").await;
    let mut c = e.connect(&ada, "", 16).await;
    assert_eq!(c.frame().await["event"], "connect");
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let store = e.store.clone();
            let owner = ada.clone();
            tokio::spawn(async move {
                let e = Env {
                    slipway: Slipway::builder()
                        .secret(vec![9u8; 32])
                        .store(MemoryStore::new())
                        .build()
                        .unwrap(),
                    store,
                };
                let p = e.project(&owner).await;
                for i in 0..50 {
                    e.rename(&p, &format!("w{w}-{i}")).await;
                }
            })
        })
        .collect();
    // Every event of the instance is Ada's: ids must come consecutively.
    for id in 1..=408u64 {
        assert_eq!(c.frame().await["id"], id.to_string());
    }
    for w in writers {
        w.await.unwrap();
    }
}

/// A client that has read its `connect` frame.
async fn connected(e: &Env, token: &str) -> Client {
    let mut c = e.connect_with(token, "", 16).await;
    assert_eq!(c.frame().await["event"], "connect");
    c
}

/// The next message is the 4001 close of a revoked access.
async fn closed_as_revoked(c: &mut Client) {
    let close = c.next().await.expect("a close frame");
    assert_eq!(
        close,
        WsMessage::Close(Some((CLOSE_TOKEN_EXPIRED, "token revoked".into())))
    );
}

/// Sockets holding the same access (user, token epoch, API token) share one
/// check per interval, made by the node's task: twenty sockets of one API
/// token cost one check a round, not twenty. When the store says the token
/// is gone (deleted on another node), every one of them closes with 4001
/// within two intervals; a socket of the same user opened with an access
/// token stays open.
#[tokio::test(start_paused = true)]
async fn ws_sockets_of_one_access_share_one_check_per_interval() {
    use crate::model::Scope;
    let every = Duration::from_secs(2);
    let e = env(100, |c| {
        c.session_check_interval = every;
        c.ws_ping_interval = Duration::from_secs(3600);
        c.ws_max_connections_per_user = 64;
    });
    let ada = e.user("ada").await;
    let principal = crate::services::Principal::user(ada.clone());
    let created = e
        .slipway
        .tokens()
        .create(
            &principal,
            crate::services::NewApiToken::new("ci", &[Scope::EventsRead]),
        )
        .await
        .unwrap();
    let mut sockets = Vec::new();
    for _ in 0..20 {
        sockets.push(connected(&e, &created.secret).await);
    }
    let mut other = connected(&e, &e.slipway.issue_token(&ada, None)).await;
    let checks = &e.slipway.inner.ws_checks;
    let before = checks.checks_made();
    tokio::time::sleep(every * 3 + every / 2).await;
    assert_eq!(
        checks.checks_made() - before,
        3 * 2,
        "three rounds of one check per access (the API token, the access token)"
    );

    // Another node deletes the API token: only the store knows.
    let audit =
        crate::model::AuditEntry::new(crate::model::AuditAction::ProjectCreate, chrono::Utc::now());
    e.store
        .delete_api_token(&ada.id, &created.token.id, &audit)
        .await
        .unwrap();
    let revoked_at = tokio::time::Instant::now();
    for c in &mut sockets {
        closed_as_revoked(c).await;
    }
    assert!(
        revoked_at.elapsed() <= every * 2,
        "{:?}",
        revoked_at.elapsed()
    );
    for c in sockets {
        c.send(WsMessage::Close(None));
        c.session.await.unwrap();
    }
    let project = e.project(&ada).await;
    let frame = other.frame().await;
    assert_eq!(frame["data"]["projectId"], project.id.as_str(), "{frame}");
}

/// A revocation made on this node closes the sockets it ends at once,
/// without waiting for the next round; with no socket left, the node's task
/// ends, and a new socket starts it again.
#[tokio::test(start_paused = true)]
async fn ws_a_local_revocation_closes_at_once_and_the_task_stops_when_idle() {
    let e = env(100, |c| {
        c.session_check_interval = Duration::from_secs(3600);
        c.ws_ping_interval = Duration::from_secs(3600);
    });
    let ada = e.user("ada").await;
    let token = e.slipway.issue_token(&ada, None);
    let mut a = connected(&e, &token).await;
    let mut b = connected(&e, &token).await;
    let start = tokio::time::Instant::now();
    let principal = crate::services::Principal::user(ada.clone());
    e.slipway.accounts().signout_all(&principal).await.unwrap();
    closed_as_revoked(&mut a).await;
    closed_as_revoked(&mut b).await;
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    for c in [a, b] {
        c.send(WsMessage::Close(None));
        c.session.await.unwrap();
    }

    // No socket left: shutting the checks down waits for nothing, and a
    // new socket (with a token issued after the sign-out) is checked again.
    e.slipway.inner.ws_checks.stop_if_idle().await;
    let ada = e.store.get_user(&ada.id).await.unwrap();
    let fresh = e.slipway.issue_token(&ada, None);
    let _c = connected(&e, &fresh).await;
    let before = e.slipway.inner.ws_checks.checks_made();
    tokio::time::sleep(Duration::from_secs(3600) + Duration::from_secs(1)).await;
    assert_eq!(e.slipway.inner.ws_checks.checks_made() - before, 1);
}

/// `Slipway::shutdown` closes the sockets with 1001 and returns once
/// nothing of the instance follows the log any more: the sessions have
/// ended, and so have the tasks of the node's checks and of the hub (each
/// holds the instance or its store while it runs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_shutdown_closes_the_sockets_and_lets_go_of_the_store() {
    let e = env(100, |_| {});
    let ada = e.user("ada").await;
    let token = e.slipway.issue_token(&ada, None);
    let mut clients = Vec::new();
    for _ in 0..8 {
        clients.push(connected(&e, &token).await);
    }
    let (hub, checks) = (&e.slipway.inner.core.hub, &e.slipway.inner.ws_checks);
    assert!(hub.is_running() && checks.is_running());
    let shutdown = tokio::spawn(e.slipway.shutdown());
    for c in &mut clients {
        let close = c.next().await.expect("a close frame");
        assert_eq!(
            close,
            WsMessage::Close(Some((
                super::CLOSE_GOING_AWAY,
                "server shutting down".into()
            )))
        );
        c.send(WsMessage::Close(None));
    }
    shutdown.await.unwrap();
    assert!(!hub.is_running(), "the hub's task ended");
    assert!(!checks.is_running(), "the checks' task ended");
    for c in clients {
        c.session.await.unwrap();
    }
}
