//! The listener: binds `127.0.0.1:0`, checks each handshake (path, auth, dialect) and hands
//! the socket to a connection task owned by the server.

use crate::config::{Auth, FakeServerConfig};
use crate::connection::{self, ConnectionHandle, HandshakeInfo};
use crate::http::{self, Request};
use crate::ids::IdGen;
use crate::registry::Registry;
use crate::rest::{self, IncomingCall, RestState, WebhookError};
use realtime_protocol::Dialect;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long a client may take to finish the WebSocket handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A local fake of the Realtime API on `127.0.0.1`, speaking GA or beta per connection.
///
/// Every connection is served by a task the server owns; [`FakeRealtimeServer::shutdown`]
/// closes them all and waits for them, and dropping the server stops them too.
#[derive(Debug)]
pub struct FakeRealtimeServer {
    addr: SocketAddr,
    cancel: CancellationToken,
    tracker: TaskTracker,
    registry: Arc<Registry>,
    rest: Arc<RestState>,
    clock: crate::config::Clock,
}

impl FakeRealtimeServer {
    /// Binds `127.0.0.1` on a free port and starts serving.
    ///
    /// # Errors
    /// The port could not be bound.
    pub async fn start(config: FakeServerConfig) -> std::io::Result<Self> {
        Self::bind(config, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Like [`Self::start`] on a chosen address (the standalone binary uses it).
    ///
    /// # Errors
    /// The address could not be bound.
    pub async fn bind(config: FakeServerConfig, addr: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        let registry = Arc::new(Registry::new(config.max_finished_connections));
        let rest = Arc::new(RestState::new(config.seed));
        let clock = config.clock;
        let config = Arc::new(config);
        {
            let cancel = cancel.clone();
            let tracker2 = tracker.clone();
            let registry = registry.clone();
            let rest = rest.clone();
            tracker.spawn(async move {
                let mut serial = 0u64;
                loop {
                    let accepted = tokio::select! {
                        _ = cancel.cancelled() => break,
                        a = listener.accept() => a,
                    };
                    let Ok((stream, _peer)) = accepted else {
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    serial += 1;
                    let (config, registry, rest, cancel) = (
                        config.clone(),
                        registry.clone(),
                        rest.clone(),
                        cancel.child_token(),
                    );
                    tracker2.spawn(serve(stream, serial, config, registry, rest, cancel));
                }
            });
        }
        Ok(Self {
            addr,
            cancel,
            tracker,
            registry,
            rest,
            clock,
        })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The GA URL, `ws://127.0.0.1:PORT/v1/realtime?model=gpt-realtime`.
    pub fn url(&self) -> String {
        format!("ws://{}/v1/realtime?model=gpt-realtime", self.addr)
    }

    /// The base URL without query, `ws://127.0.0.1:PORT/v1/realtime`.
    pub fn base_url(&self) -> String {
        format!("ws://{}/v1/realtime", self.addr)
    }

    /// The REST base URL, `http://127.0.0.1:PORT/v1` (`/realtime/client_secrets`,
    /// `/realtime/calls/{call_id}/accept|reject|hangup|refer`).
    pub fn rest_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Simulates an incoming SIP call: POSTs a `realtime.call.incoming` webhook to
    /// `webhook_url` (`http://host:port/path`), signed with `secret` as OpenAI signs them
    /// (`webhook-id`, `webhook-timestamp`, `webhook-signature`: standard webhooks, HMAC-SHA256;
    /// a `whsec_` secret is base64). The call can then be accepted, rejected, referred or hung
    /// up through [`Self::rest_url`], and a WebSocket may attach with `?call_id=` once it was
    /// accepted. The returned [`IncomingCall`] reports what the application did.
    ///
    /// # Errors
    /// The URL is not plain `http://`, or the receiver could not be reached or did not answer.
    pub async fn incoming_call(
        &self,
        webhook_url: &str,
        secret: &str,
        sip_headers: &[(String, String)],
    ) -> Result<IncomingCall, WebhookError> {
        rest::incoming_call(&self.rest, self.clock, webhook_url, secret, sip_headers).await
    }

    /// Makes every ephemeral key minted so far expire now: the next WebSocket that presents
    /// one is refused with 401.
    pub fn expire_client_secrets(&self) {
        self.rest.expire_secrets();
    }

    /// Waits for the next connection not returned before (in accept order), up to `timeout`.
    /// A closed connection forgotten before it was returned (see
    /// [`FakeServerConfig::max_finished_connections`]) is skipped.
    pub async fn next_connection(&self, timeout: Duration) -> Option<ConnectionHandle> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let registered = self.registry.registered();
            if let Some(c) = self.registry.take_next() {
                return Some(c);
            }
            if tokio::time::timeout_at(deadline, registered).await.is_err() {
                return None;
            }
        }
    }

    /// Every connection still open and the most recent closed ones (up to
    /// [`FakeServerConfig::max_finished_connections`]), in accept order.
    pub fn connections(&self) -> Vec<ConnectionHandle> {
        self.registry.all()
    }

    /// Closes every connection (close code 1001), stops listening, and waits for every task.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

impl Drop for FakeRealtimeServer {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

async fn serve(
    mut stream: TcpStream,
    serial: u64,
    config: Arc<FakeServerConfig>,
    registry: Arc<Registry>,
    rest: Arc<RestState>,
    cancel: CancellationToken,
) {
    let req = tokio::select! {
        _ = cancel.cancelled() => return,
        r = tokio::time::timeout(HANDSHAKE_TIMEOUT, http::read_request(&mut stream)) => match r {
            Ok(Some(req)) => req,
            _ => return,
        },
    };
    if !req.is_upgrade() {
        let (seed, clock) = (config.seed, config.clock);
        let defaults = move || {
            connection::initial_session(Dialect::Ga, &mut IdGen::new(seed), clock.now(), None)
        };
        rest::serve(&mut stream, req, &config.auth, clock, defaults, &rest).await;
        return;
    }
    let (info, initial) = match check_request(&req, &config.auth, &rest) {
        Ok(ok) => ok,
        Err((status, body)) => {
            let _ = http::write_response(&mut stream, status, &[], &body).await;
            return;
        }
    };
    let Some(accept) = req
        .header("sec-websocket-key")
        .map(|k| derive_accept_key(k.trim().as_bytes()))
    else {
        let body = rest::error_body("Missing Sec-WebSocket-Key.", None, None);
        let _ = http::write_response(&mut stream, 400, &[], &body).await;
        return;
    };
    let switching = [
        ("upgrade", "websocket"),
        ("connection", "Upgrade"),
        ("sec-websocket-accept", accept.as_str()),
    ];
    if http::write_response(&mut stream, 101, &switching, "")
        .await
        .is_err()
    {
        return;
    }
    let ws = WebSocketStream::from_raw_socket(stream, Role::Server, None).await;
    if let Some(replay) = &config.replay {
        let conn = usize::try_from(serial).unwrap_or(usize::MAX);
        replay.serve(ws, conn, cancel).await;
        return;
    }
    let call_id = info.call_id.clone();
    let (handle, conn) = connection::new(serial, info, config, initial);
    if let Some(call_id) = call_id {
        rest.attach(&call_id, handle.clone());
    }
    let number = registry.register(handle);
    conn.run(ws, cancel).await;
    registry.finish(number);
}

/// Checks a WebSocket handshake like the service: path, key (an API key, or an ephemeral key
/// minted by `client_secrets`), a SIP `call_id` that was accepted. Returns what the connection
/// starts with (the minted or accepted session), or the refusal's status and body.
fn check_request(
    req: &Request,
    auth: &Auth,
    rest: &RestState,
) -> Result<(HandshakeInfo, Option<Value>), (u16, String)> {
    let path = req.path.clone();
    let known_path = matches!(
        path.as_str(),
        "/v1/realtime" | "/openai/realtime" | "/openai/v1/realtime"
    );
    if !known_path {
        return Err((
            404,
            rest::error_body(&format!("Invalid URL (GET {path})"), None, None),
        ));
    }
    let key = rest::bearer(req);
    let mut initial = None;
    match key.as_deref() {
        Some(k) if k.starts_with("ek_") => {
            match rest.secret_session(k) {
                Some(session) => initial = Some(session),
                None if *auth == Auth::Open => {}
                None => {
                    let message = format!("Incorrect API key provided: {}. The ephemeral key is unknown or has expired.", rest::redact_key(k));
                    return Err((
                        401,
                        rest::error_body(&message, Some("invalid_api_key"), None),
                    ));
                }
            }
        }
        k => {
            if let Err((message, code)) = rest::check_key(auth, k) {
                return Err((401, rest::error_body(&message, code, None)));
            }
        }
    }
    let call_id = req.query_param("call_id").map(str::to_owned);
    if let Some(id) = &call_id {
        match rest.attachable_call(id) {
            Ok(session) => initial = Some(session),
            Err(message) => {
                return Err((
                    404,
                    rest::error_body(&message, Some("call_not_found"), Some("call_id")),
                ))
            }
        }
    }
    let dialect = match req.header("openai-beta") {
        Some(v) if v.split(',').any(|p| p.trim() == "realtime=v1") => Dialect::Beta,
        _ => Dialect::Ga,
    };
    let mut headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|(name, v)| {
            let value = match name.as_str() {
                "authorization" => "Bearer [redacted]".to_owned(),
                "api-key" => "[redacted]".to_owned(),
                _ => v.clone(),
            };
            (name.clone(), value)
        })
        .collect();
    headers.sort();
    Ok((
        HandshakeInfo {
            path,
            query: req.query.clone(),
            headers,
            dialect,
            authenticated_with: key.map(|k| rest::redact_key(&k)),
            call_id,
            intent: req.query_param("intent").map(str::to_owned),
        },
        initial,
    ))
}
