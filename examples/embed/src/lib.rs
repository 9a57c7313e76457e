//! An existing axum application that embeds Slipway.
//!
//! The application has its own pages (`GET /`), its own users and its own
//! cookie login (`POST /login`). It mounts Slipway under `/api` and
//! authenticates Slipway's requests and WebSockets through its own session
//! with an [`Authenticator`]: a signed-in visitor of the application is a
//! Slipway user, with no second login and no Slipway token. Its own code
//! creates projects through Slipway's service API (`POST /quick-project`) and
//! it logs every event it receives from its subscription to the event feed.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let users = vec![slipway_example_embed::HostUser::new("Ada", "ada@example.com", "correct horse")];
//! let app = slipway_example_embed::App::new(users)?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app.router()).await?;
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::StreamExt;
use slipway_core::http::{AuthRequest, Authenticator, BearerAuthenticator};
use slipway_core::model::FeedItem;
use slipway_core::services::{Error, NewAccount, NewProject, Principal};
use slipway_core::{MemoryStore, Slipway};

/// The name of the application's session cookie.
pub const SESSION_COOKIE: &str = "app_session";

/// A user of the host application (its own user table, not Slipway's).
#[derive(Debug, Clone)]
pub struct HostUser {
    /// Display name.
    pub name: String,
    /// Email, the key that maps the user to a Slipway account.
    pub email: String,
    password: String,
}

impl HostUser {
    /// A user with a name, email and password.
    pub fn new(name: &str, email: &str, password: &str) -> Self {
        HostUser {
            name: name.into(),
            email: email.into(),
            password: password.into(),
        }
    }
}

/// Open sessions: cookie value -> user.
type Sessions = Arc<Mutex<HashMap<String, HostUser>>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The session cookie's value in `headers`, if any.
fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
}

/// Maps the application's session cookie to a Slipway principal; requests
/// without the cookie may still use Slipway's own bearer tokens.
struct SessionAuthenticator {
    sessions: Sessions,
}

#[async_trait]
impl Authenticator for SessionAuthenticator {
    async fn authenticate(
        &self,
        slipway: &Slipway,
        request: &AuthRequest<'_>,
    ) -> Result<Option<Principal>, Error> {
        let Some(cookie) = session_cookie(request.headers) else {
            return BearerAuthenticator.authenticate(slipway, request).await;
        };
        let Some(host_user) = lock(&self.sessions).get(cookie).cloned() else {
            return Err(Error::Unauthenticated(
                "The session has ended; sign in to the application again".into(),
            ));
        };
        // The host's user, as a Slipway account (created on first use as a
        // member: the host decides who administers Slipway).
        let user = slipway
            .accounts()
            .find_or_create(NewAccount::new(host_user.name, host_user.email))
            .await?;
        Ok(Some(Principal::user(user)))
    }
}

/// The application: its users, its sessions, Slipway, and the log of the
/// events it received.
#[derive(Clone)]
pub struct App {
    slipway: Slipway,
    users: Arc<Vec<HostUser>>,
    sessions: Sessions,
    events: Arc<Mutex<Vec<String>>>,
}

impl App {
    /// The application with its users, Slipway on an in-memory store, and a
    /// task logging every event of the feed.
    pub fn new(users: Vec<HostUser>) -> Result<Self, Box<dyn std::error::Error>> {
        let sessions = Sessions::default();
        let secret: [u8; 32] = rand::random();
        let slipway = Slipway::builder()
            .secret(secret.to_vec())
            .store(MemoryStore::new())
            .authenticator(SessionAuthenticator {
                sessions: sessions.clone(),
            })
            .build()?;
        let app = App {
            slipway,
            users: Arc::new(users),
            sessions,
            events: Arc::default(),
        };
        Ok(app)
    }

    /// Subscribes to the event feed (every project of every user) and logs
    /// each event; resolves once subscribed.
    pub async fn log_events(&self) -> Result<(), Error> {
        let mut feed = self
            .slipway
            .events()
            .subscribe(&Principal::system(), None)
            .await?;
        let log = self.events.clone();
        tokio::spawn(async move {
            while let Some(item) = feed.next().await {
                let line = match item {
                    Ok(FeedItem::Event(e)) => format!(
                        "event {}: project {} {} (owner {})",
                        e.id,
                        e.project_id,
                        e.kind.as_str(),
                        e.owner_id
                    ),
                    Ok(FeedItem::Resync) => "resync: events were lost".to_string(),
                    Err(e) => {
                        tracing::warn!(error = %e, "event feed failed");
                        break;
                    }
                };
                tracing::info!("{line}");
                lock(&log).push(line);
            }
        });
        Ok(())
    }

    /// The Slipway instance.
    pub fn slipway(&self) -> &Slipway {
        &self.slipway
    }

    /// The events logged so far.
    pub fn logged_events(&self) -> Vec<String> {
        lock(&self.events).clone()
    }

    /// The application's router: its own pages and login, and Slipway under
    /// `/api`.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/", get(home))
            .route("/login", post(login))
            .route("/quick-project", post(quick_project))
            .with_state(self.clone())
            .nest("/api", slipway_axum::router(self.slipway.clone()))
    }

    fn session_user(&self, headers: &HeaderMap) -> Option<HostUser> {
        let cookie = session_cookie(headers)?;
        lock(&self.sessions).get(cookie).cloned()
    }
}

async fn home() -> Html<&'static str> {
    Html("<h1>My platform</h1><p>Sign in at POST /login; the API is under /api.</p>")
}

#[derive(serde::Deserialize)]
struct Login {
    email: String,
    password: String,
}

/// The application's own login: checks its user table, sets its cookie.
async fn login(State(app): State<App>, Json(body): Json<Login>) -> Response {
    let Some(user) = app
        .users
        .iter()
        .find(|u| u.email == body.email && u.password == body.password)
        .cloned()
    else {
        return (StatusCode::UNAUTHORIZED, "wrong email or password").into_response();
    };
    let session = hex::encode(rand::random::<[u8; 32]>());
    lock(&app.sessions).insert(session.clone(), user);
    let cookie = format!("{SESSION_COOKIE}={session}; HttpOnly; SameSite=Lax; Path=/");
    (StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response()
}

#[derive(serde::Deserialize)]
struct QuickProject {
    name: String,
}

/// The application's own code creating a project for the signed-in user
/// through Slipway's service API (no HTTP request to itself).
async fn quick_project(
    State(app): State<App>,
    headers: HeaderMap,
    Json(body): Json<QuickProject>,
) -> Response {
    let Some(host_user) = app.session_user(&headers) else {
        return (StatusCode::UNAUTHORIZED, "sign in first").into_response();
    };
    let slipway = app.slipway();
    let created = async {
        let user = slipway
            .accounts()
            .find_or_create(NewAccount::new(host_user.name, host_user.email))
            .await?;
        let slug: String = body
            .name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(40)
            .collect::<String>()
            .to_lowercase();
        let suffix = hex::encode(rand::random::<[u8; 4]>());
        let input = NewProject::new(
            body.name.clone(),
            format!("src-{slug}-{suffix}"),
            format!("vm-{slug}-{suffix}"),
        );
        slipway
            .projects()
            .create(&Principal::user(user), input)
            .await
    }
    .await;
    match created {
        Ok(project) => (StatusCode::CREATED, Json(project)).into_response(),
        Err(Error::Invalid { message, .. }) => (StatusCode::BAD_REQUEST, message).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "quick project failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "could not create the project",
            )
                .into_response()
        }
    }
}
