//! The listener: binds `127.0.0.1:0`, checks each handshake (path, auth, dialect) and hands
//! the socket to a connection task owned by the server.

use crate::config::{Auth, FakeServerConfig};
use crate::connection::{self, ConnectionHandle, HandshakeInfo};
use realtime_protocol::Dialect;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{self, StatusCode};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long a client may take to finish the WebSocket handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Default)]
pub(crate) struct Registry {
    conns: Mutex<Vec<ConnectionHandle>>,
    taken: Mutex<usize>,
    notify: Notify,
}

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
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
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
        let registry = Arc::new(Registry::default());
        let config = Arc::new(config);
        {
            let cancel = cancel.clone();
            let tracker2 = tracker.clone();
            let registry = registry.clone();
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
                    let (config, registry, cancel) =
                        (config.clone(), registry.clone(), cancel.child_token());
                    tracker2.spawn(serve(stream, serial, config, registry, cancel));
                }
            });
        }
        Ok(Self {
            addr,
            cancel,
            tracker,
            registry,
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

    /// Waits for the next connection not returned before (in accept order), up to `timeout`.
    pub async fn next_connection(&self, timeout: Duration) -> Option<ConnectionHandle> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.registry.notify.notified();
            {
                let conns = self.registry.conns.lock().ok()?;
                let mut taken = self.registry.taken.lock().ok()?;
                if let Some(c) = conns.get(*taken) {
                    *taken += 1;
                    return Some(c.clone());
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }

    /// Every connection accepted so far (including closed ones).
    pub fn connections(&self) -> Vec<ConnectionHandle> {
        self.registry
            .conns
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default()
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

#[allow(clippy::result_large_err)] // the callback's signature is tungstenite's
async fn serve(
    stream: TcpStream,
    serial: u64,
    config: Arc<FakeServerConfig>,
    registry: Arc<Registry>,
    cancel: CancellationToken,
) {
    let captured: Arc<Mutex<Option<HandshakeInfo>>> = Arc::default();
    let cb_captured = captured.clone();
    let auth = config.auth.clone();
    let callback = move |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        let info = check_request(req, &auth)?;
        if let Ok(mut slot) = cb_captured.lock() {
            *slot = Some(info);
        }
        Ok(resp)
    };
    let handshake = tokio_tungstenite::accept_hdr_async(stream, callback);
    let ws = tokio::select! {
        _ = cancel.cancelled() => return,
        r = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake) => match r {
            Ok(Ok(ws)) => ws,
            _ => return,
        },
    };
    let Some(info) = captured.lock().ok().and_then(|mut s| s.take()) else {
        return;
    };
    if let Some(replay) = &config.replay {
        let conn = usize::try_from(serial).unwrap_or(usize::MAX);
        replay.serve(ws, conn, cancel).await;
        return;
    }
    let (handle, conn) = connection::new(serial, info, config);
    if let Ok(mut conns) = registry.conns.lock() {
        conns.push(handle);
    }
    registry.notify.notify_waiters();
    conn.run(ws, cancel).await;
}

/// The JSON body OpenAI sends with a refused handshake.
fn error_body(message: &str, code: Option<&str>) -> String {
    serde_json::json!({
        "error": {"message": message, "type": "invalid_request_error", "param": null, "code": code}
    })
    .to_string()
}

fn refuse(status: StatusCode, message: &str, code: Option<&str>) -> ErrorResponse {
    let mut resp = http::Response::new(Some(error_body(message, code)));
    *resp.status_mut() = status;
    if let Ok(v) = http::HeaderValue::from_str("application/json") {
        resp.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    resp
}

/// Shows a key the way the service does in its error: never in full.
fn redact_key(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 10 {
        return "***".to_owned();
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}***{tail}")
}

#[allow(clippy::result_large_err)] // tungstenite's `ErrorResponse` is the refusal itself
fn check_request(req: &Request, auth: &Auth) -> Result<HandshakeInfo, ErrorResponse> {
    let path = req.uri().path().to_owned();
    let known_path = matches!(
        path.as_str(),
        "/v1/realtime" | "/openai/realtime" | "/openai/v1/realtime"
    );
    if !known_path {
        return Err(refuse(
            StatusCode::NOT_FOUND,
            &format!("Invalid URL (GET {path})"),
            None,
        ));
    }
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let key = header("authorization")
        .and_then(|v| v.strip_prefix("Bearer ").map(|k| k.trim().to_owned()))
        .or_else(|| header("api-key"))
        .filter(|k| !k.is_empty());
    match (auth, &key) {
        (Auth::Open, _) => {}
        (_, None) => {
            return Err(refuse(
                StatusCode::UNAUTHORIZED,
                "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                None,
            ))
        }
        (Auth::Keys(keys), Some(k)) if !keys.iter().any(|allowed| allowed == k) => {
            return Err(refuse(
                StatusCode::UNAUTHORIZED,
                &format!("Incorrect API key provided: {}.", redact_key(k)),
                Some("invalid_api_key"),
            ))
        }
        _ => {}
    }
    let dialect = match header("openai-beta") {
        Some(v) if v.split(',').any(|p| p.trim() == "realtime=v1") => Dialect::Beta,
        _ => Dialect::Ga,
    };
    let mut headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            let name = k.as_str().to_ascii_lowercase();
            let value = match name.as_str() {
                "authorization" => "Bearer [redacted]".to_owned(),
                "api-key" => "[redacted]".to_owned(),
                _ => String::from_utf8_lossy(v.as_bytes()).into_owned(),
            };
            (name, value)
        })
        .collect();
    headers.sort();
    Ok(HandshakeInfo {
        path,
        query: req.uri().query().unwrap_or_default().to_owned(),
        headers,
        dialect,
        authenticated_with: key.map(|k| redact_key(&k)),
    })
}
