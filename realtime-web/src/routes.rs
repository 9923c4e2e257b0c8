//! The router: the page, its scripts, `/ws` (one session per connection, with the limits) and
//! the optional `/session-token`.

use crate::relay;
use axum::extract::ws::{CloseFrame, Message, WebSocketUpgrade};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use realtime_runner::transport::RestClient;
use realtime_runner::RealtimeRunner;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

const INDEX: &str = include_str!("../assets/index.html");
const APP: &str = include_str!("../assets/app.js");
const WORKLETS: &str = include_str!("../assets/worklets.js");

/// Decides whether a browser may connect, from its request headers (a cookie, a bearer token).
pub type Authorize = Arc<dyn Fn(&HeaderMap) -> bool + Send + Sync>;

/// The relay's limits and hooks.
#[derive(Clone)]
#[non_exhaustive]
pub struct WebOptions {
    /// Sessions at the same time; one more gets an error (`too_many_sessions`) and a close
    /// (1013, try again later). Default 100.
    pub max_sessions: usize,
    /// Microphone audio a page may send, bytes per second (24 kHz PCM16 is 48,000); beyond it
    /// audio is dropped and the page told once (`audio_rate`). Default 72,000 (1.5× real time).
    pub audio_rate: u32,
    /// Origins allowed to open `/ws` (e.g. `https://app.example.com`). `None`, the default:
    /// only the page's own origin (the request's `Host`). Requests without an `Origin` header
    /// (not from a browser) are allowed.
    pub allowed_origins: Option<Vec<String>>,
    /// Checks a browser before it gets a session or a token; refused requests get 401.
    pub authorize: Option<Authorize>,
    /// Serves `POST /session-token` (an ephemeral key with the agent's settings, for pages
    /// that connect to OpenAI directly) through this REST client. Default off.
    pub session_tokens: Option<RestClient>,
}

impl fmt::Debug for WebOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebOptions")
            .field("max_sessions", &self.max_sessions)
            .field("audio_rate", &self.audio_rate)
            .field("allowed_origins", &self.allowed_origins)
            .field("authorize", &self.authorize.is_some())
            .field("session_tokens", &self.session_tokens.is_some())
            .finish()
    }
}

impl Default for WebOptions {
    fn default() -> Self {
        Self {
            max_sessions: 100,
            audio_rate: 72_000,
            allowed_origins: None,
            authorize: None,
            session_tokens: None,
        }
    }
}

impl WebOptions {
    /// Sets [`Self::max_sessions`].
    pub fn with_max_sessions(mut self, n: usize) -> Self {
        self.max_sessions = n;
        self
    }

    /// Sets [`Self::audio_rate`].
    pub fn with_audio_rate(mut self, bytes_per_second: u32) -> Self {
        self.audio_rate = bytes_per_second;
        self
    }

    /// Sets [`Self::allowed_origins`].
    pub fn with_allowed_origins(
        mut self,
        origins: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.allowed_origins = Some(origins.into_iter().map(Into::into).collect());
        self
    }

    /// Sets [`Self::authorize`].
    pub fn with_authorize(
        mut self,
        f: impl Fn(&HeaderMap) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.authorize = Some(Arc::new(f));
        self
    }

    /// Sets [`Self::session_tokens`].
    pub fn with_session_tokens(mut self, rest: RestClient) -> Self {
        self.session_tokens = Some(rest);
        self
    }
}

struct State<Ctx, F> {
    runner: RealtimeRunner<Ctx>,
    make_ctx: F,
    options: WebOptions,
    sessions: Arc<Semaphore>,
}

/// The relay: `GET /` (the voice page), `GET /app.js`, `GET /worklets.js`, `GET /ws` (one
/// browser connection, one session, protocol v1) and, when enabled, `POST /session-token`.
/// `make_ctx` makes each connection's session context from its request headers.
pub fn router<Ctx, F>(runner: RealtimeRunner<Ctx>, make_ctx: F, options: WebOptions) -> Router
where
    Ctx: Send + Sync + 'static,
    F: Fn(&HeaderMap) -> Ctx + Send + Sync + 'static,
{
    let sessions = Arc::new(Semaphore::new(options.max_sessions));
    let state = Arc::new(State {
        runner,
        make_ctx,
        options,
        sessions,
    });
    let (ws_state, token_state) = (state.clone(), state);
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX) }),
        )
        .route("/app.js", get(|| async { asset("text/javascript", APP) }))
        .route(
            "/worklets.js",
            get(|| async { asset("text/javascript", WORKLETS) }),
        )
        .route(
            "/ws",
            get(move |ws: WebSocketUpgrade, headers: HeaderMap| {
                let state = ws_state.clone();
                async move { upgrade(state, ws, headers) }
            }),
        )
        .route(
            "/session-token",
            post(move |headers: HeaderMap| {
                let state = token_state.clone();
                async move { session_token(state, headers).await }
            }),
        )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

fn refused(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(serde_json::json!({"error": {"message": message}})),
    )
        .into_response()
}

fn origin_allowed(options: &WebOptions, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return true;
    };
    match &options.allowed_origins {
        Some(list) => list.iter().any(|o| o == origin),
        None => {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or_default();
            let bare = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"))
                .unwrap_or(origin);
            !host.is_empty() && bare == host
        }
    }
}

/// Whether the request may go on: `None`, or the refusal to send.
fn check<Ctx, F>(state: &State<Ctx, F>, headers: &HeaderMap) -> Option<Response> {
    if !origin_allowed(&state.options, headers) {
        return Some(refused(
            StatusCode::FORBIDDEN,
            "this origin may not use the relay",
        ));
    }
    match &state.options.authorize {
        Some(auth) if !auth(headers) => Some(refused(StatusCode::UNAUTHORIZED, "not authorized")),
        _ => None,
    }
}

fn upgrade<Ctx, F>(state: Arc<State<Ctx, F>>, ws: WebSocketUpgrade, headers: HeaderMap) -> Response
where
    Ctx: Send + Sync + 'static,
    F: Fn(&HeaderMap) -> Ctx + Send + Sync + 'static,
{
    if let Some(r) = check(&state, &headers) {
        return r;
    }
    let permit = state.sessions.clone().try_acquire_owned().ok();
    let ctx = (state.make_ctx)(&headers);
    ws.read_buffer_size(16 * 1024)
        .on_upgrade(move |mut socket| async move {
            let Some(_permit) = permit else {
                let down = crate::protocol::Down::Error {
                    message: format!(
                        "the relay is serving its maximum of {} sessions; try again later",
                        state.options.max_sessions
                    ),
                    code: Some("too_many_sessions".into()),
                };
                let _ = socket.send(Message::Text(down.to_json().into())).await;
                let close = Message::Close(Some(CloseFrame {
                    code: 1013,
                    reason: "too many sessions".into(),
                }));
                let _ = tokio::time::timeout(Duration::from_secs(1), socket.send(close)).await;
                return;
            };
            relay::serve(socket, state.runner.clone(), ctx, state.options.audio_rate).await;
        })
}

async fn session_token<Ctx, F>(state: Arc<State<Ctx, F>>, headers: HeaderMap) -> Response
where
    Ctx: Send + Sync + 'static,
    F: Fn(&HeaderMap) -> Ctx + Send + Sync + 'static,
{
    let Some(rest) = &state.options.session_tokens else {
        return refused(StatusCode::NOT_FOUND, "session tokens are not enabled");
    };
    if let Some(r) = check(&state, &headers) {
        return r;
    }
    let ctx = (state.make_ctx)(&headers);
    match state
        .runner
        .create_client_secret(rest, ctx, Some(Duration::from_secs(600)))
        .await
    {
        Ok(secret) => {
            Json(serde_json::json!({"value": secret.value, "expires_at": secret.expires_at}))
                .into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "minting a session token failed");
            refused(
                StatusCode::BAD_GATEWAY,
                "the session token could not be created",
            )
        }
    }
}
