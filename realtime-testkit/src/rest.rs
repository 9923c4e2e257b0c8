//! The REST side of the service on the same listener: ephemeral keys
//! (`POST /v1/realtime/client_secrets`) and SIP call control
//! (`POST /v1/realtime/calls/{call_id}/accept | reject | hangup | refer`), plus the simulated
//! incoming call that starts it all: a `realtime.call.incoming` webhook, signed the way OpenAI
//! signs them (standard webhooks), POSTed to the test's receiver.
//!
//! Bodies are checked against the spec's REST schemas and refused in the service's JSON error
//! shape with the HTTP status it uses.

use crate::config::{Auth, Clock};
use crate::connection::ConnectionHandle;
use crate::http::{self, PostError, Request};
use crate::ids::IdGen;
use crate::{validate, wire};
use base64::Engine as _;
use hmac::{KeyInit, Mac};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;

/// How long the fake waits for a webhook receiver to answer.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// What the application did with a simulated SIP call, in the order it did it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CallAction {
    /// `accept`, with the session configuration it sent.
    Accepted {
        /// The request body: the session the call starts with.
        session: Value,
    },
    /// `reject`, with the SIP status code (603 when the body gave none).
    Rejected {
        /// The SIP status code.
        status_code: u16,
    },
    /// `refer`: the call is transferred.
    Referred {
        /// The `Refer-To` URI.
        target_uri: String,
    },
    /// `hangup`.
    HungUp,
}

#[derive(Debug)]
struct Call {
    actions: Vec<CallAction>,
    /// The accepted session, once accepted.
    session: Option<Value>,
    ended: bool,
    /// The WebSocket attached with `?call_id=`, to close on hangup.
    attached: Option<ConnectionHandle>,
}

#[derive(Debug)]
struct Secret {
    valid_until: Instant,
    session: Value,
}

/// The REST state one server keeps.
#[derive(Debug)]
pub(crate) struct RestState {
    secrets: Mutex<HashMap<String, Secret>>,
    calls: Mutex<HashMap<String, Call>>,
    ids: Mutex<IdGen>,
    notify: Notify,
}

impl RestState {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            secrets: Mutex::default(),
            calls: Mutex::default(),
            ids: Mutex::new(IdGen::new(seed ^ 0x5E57)),
            notify: Notify::new(),
        }
    }

    fn next_id(&self, prefix: &str) -> String {
        self.ids
            .lock()
            .map(|mut g| g.next(prefix))
            .unwrap_or_else(|_| format!("{prefix}_unavailable"))
    }

    /// The session an ephemeral key was minted with, if the key is live.
    pub(crate) fn secret_session(&self, key: &str) -> Option<Value> {
        let secrets = self.secrets.lock().ok()?;
        let s = secrets.get(key)?;
        (Instant::now() < s.valid_until).then(|| s.session.clone())
    }

    /// Makes every minted key expire now.
    pub(crate) fn expire_secrets(&self) {
        if let Ok(mut s) = self.secrets.lock() {
            for secret in s.values_mut() {
                secret.valid_until = Instant::now();
            }
        }
    }

    /// The session of an accepted, live call a WebSocket may attach to. `Err` is the refusal.
    pub(crate) fn attachable_call(&self, call_id: &str) -> Result<Value, String> {
        let calls = self
            .calls
            .lock()
            .map_err(|_| "state unavailable".to_owned())?;
        match calls.get(call_id) {
            None => Err(format!("Call '{call_id}' not found.")),
            Some(c) if c.ended => Err(format!("Call '{call_id}' has ended.")),
            Some(Call {
                session: Some(s), ..
            }) => Ok(s.clone()),
            Some(_) => Err(format!("Call '{call_id}' has not been accepted.")),
        }
    }

    /// Remembers the connection attached to a call.
    pub(crate) fn attach(&self, call_id: &str, conn: ConnectionHandle) {
        if let Some(c) = self
            .calls
            .lock()
            .ok()
            .as_mut()
            .and_then(|c| c.get_mut(call_id))
        {
            c.attached = Some(conn);
        }
    }

    fn act(&self, call_id: &str, action: CallAction) {
        if let Ok(mut calls) = self.calls.lock() {
            if let Some(c) = calls.get_mut(call_id) {
                c.actions.push(action);
            }
        }
        self.notify.notify_waiters();
    }
}

/// A simulated incoming SIP call: what the webhook receiver answered and what the application
/// then did with the call.
#[derive(Debug, Clone)]
pub struct IncomingCall {
    call_id: String,
    webhook_status: u16,
    state: Arc<RestState>,
}

impl IncomingCall {
    /// The call id (`rtc_…`) the webhook carried.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// The HTTP status the webhook receiver answered.
    pub fn webhook_status(&self) -> u16 {
        self.webhook_status
    }

    /// Everything done with the call so far.
    pub fn actions(&self) -> Vec<CallAction> {
        self.state
            .calls
            .lock()
            .ok()
            .and_then(|c| c.get(&self.call_id).map(|c| c.actions.clone()))
            .unwrap_or_default()
    }

    /// Waits until at least `n` actions were taken, up to `timeout`; returns them all.
    pub async fn wait_actions(&self, n: usize, timeout: Duration) -> Vec<CallAction> {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.state.notify.notified();
            let actions = self.actions();
            if actions.len() >= n {
                return actions;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.actions();
            }
        }
    }
}

/// Why a simulated call could not be delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebhookError {
    /// The URL is not `http://host:port/path`.
    BadUrl(String),
    /// The receiver could not be reached or did not answer in time.
    Delivery(String),
}

impl std::fmt::Display for WebhookError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WebhookError::BadUrl(u) => write!(f, "unsupported webhook URL {u:?}"),
            WebhookError::Delivery(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for WebhookError {}

/// The standard-webhooks signature of a payload: `v1,<base64 HMAC-SHA256>` over
/// `{id}.{timestamp}.{body}`, keyed with the secret (`whsec_<base64>`, or raw bytes).
pub(crate) fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = secret
        .strip_prefix("whsec_")
        .and_then(|s| b64.decode(s).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec());
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key) else {
        return String::new();
    };
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", b64.encode(mac.finalize().into_bytes()))
}

/// Delivers a signed `realtime.call.incoming` webhook for a new call.
pub(crate) async fn incoming_call(
    state: &Arc<RestState>,
    clock: Clock,
    url: &str,
    secret: &str,
    sip_headers: &[(String, String)],
) -> Result<IncomingCall, WebhookError> {
    let call_id = state.next_id("rtc");
    let event_id = state.next_id("evt");
    if let Ok(mut calls) = state.calls.lock() {
        calls.insert(
            call_id.clone(),
            Call {
                actions: Vec::new(),
                session: None,
                ended: false,
                attached: None,
            },
        );
    }
    let headers: Vec<Value> = sip_headers
        .iter()
        .map(|(name, value)| json!({"name": name, "value": value}))
        .collect();
    let event = json!({
        "object": "event",
        "id": event_id,
        "type": "realtime.call.incoming",
        "created_at": clock.now(),
        "data": {"call_id": call_id, "sip_headers": headers},
    });
    let body = wire::named("WebhookRealtimeCallIncoming", &event);
    // Receivers check the timestamp against their own clock: always the real time.
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let signature = sign(secret, &event_id, timestamp, &body);
    let headers = [
        ("webhook-id".to_owned(), event_id.clone()),
        ("webhook-timestamp".to_owned(), timestamp.to_string()),
        ("webhook-signature".to_owned(), signature),
    ];
    match http::post(url, &headers, &body, WEBHOOK_TIMEOUT).await {
        Ok((status, _)) => Ok(IncomingCall {
            call_id,
            webhook_status: status,
            state: state.clone(),
        }),
        Err(PostError::BadUrl(u)) => Err(WebhookError::BadUrl(u)),
        Err(e) => Err(WebhookError::Delivery(e.to_string())),
    }
}

/// The service's error body.
pub(crate) fn error_body(message: &str, code: Option<&str>, param: Option<&str>) -> String {
    json!({
        "error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    })
    .to_string()
}

/// The bearer key of a request (`Authorization: Bearer …` or Azure's `api-key`).
pub(crate) fn bearer(req: &Request) -> Option<String> {
    req.header("authorization")
        .and_then(|v| v.strip_prefix("Bearer ").map(|k| k.trim().to_owned()))
        .or_else(|| req.header("api-key").map(str::to_owned))
        .filter(|k| !k.is_empty())
}

/// Whether a (non-ephemeral) API key passes the server's auth. `Err` is the refusal message.
pub(crate) fn check_key(
    auth: &Auth,
    key: Option<&str>,
) -> Result<(), (String, Option<&'static str>)> {
    match (auth, key) {
        (Auth::Open, _) => Ok(()),
        (_, None) => Err(("You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).".to_owned(), None)),
        (Auth::Keys(keys), Some(k)) if !keys.iter().any(|allowed| allowed == k) => Err((
            format!("Incorrect API key provided: {}.", redact_key(k)),
            Some("invalid_api_key"),
        )),
        _ => Ok(()),
    }
}

/// Shows a key the way the service does in its errors: never in full.
pub(crate) fn redact_key(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 10 {
        return "***".to_owned();
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}***{tail}")
}

/// A REST answer: status and body.
type Answer = (u16, String);

fn refuse(status: u16, message: &str, code: Option<&str>, param: Option<&str>) -> Answer {
    (status, error_body(message, code, param))
}

/// Serves one REST request and closes the exchange.
pub(crate) async fn serve(
    stream: &mut TcpStream,
    req: Request,
    auth: &Auth,
    clock: Clock,
    session_defaults: impl Fn() -> Value,
    state: &RestState,
) {
    let (status, body) = route(&req, auth, clock, session_defaults, state).await;
    let _ = http::write_response(stream, status, &[], &body).await;
}

async fn route(
    req: &Request,
    auth: &Auth,
    clock: Clock,
    session_defaults: impl Fn() -> Value,
    state: &RestState,
) -> Answer {
    let path = req
        .path
        .strip_prefix("/openai")
        .unwrap_or(&req.path)
        .trim_end_matches('/');
    let known = path == "/v1/realtime/client_secrets" || path.starts_with("/v1/realtime/calls/");
    if !known {
        return refuse(
            404,
            &format!("Invalid URL ({} {})", req.method, req.path),
            None,
            None,
        );
    }
    if req.method != "POST" {
        return refuse(
            405,
            &format!("Invalid method for URL ({} {})", req.method, req.path),
            None,
            None,
        );
    }
    let key = bearer(req);
    // Ephemeral keys open a WebSocket; they do not drive the REST API.
    if key.as_deref().is_some_and(|k| k.starts_with("ek_")) {
        return refuse(
            401,
            "Ephemeral keys cannot be used with this endpoint.",
            Some("invalid_api_key"),
            None,
        );
    }
    if let Err((message, code)) = check_key(auth, key.as_deref()) {
        return refuse(401, &message, code, None);
    }
    let body: Value = if req.body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice(&req.body) {
            Ok(v) => v,
            Err(_) => {
                return refuse(
                    400,
                    "We could not parse the JSON body of your request.",
                    Some("invalid_json"),
                    None,
                )
            }
        }
    };
    if path == "/v1/realtime/client_secrets" {
        return client_secret(&body, clock, session_defaults, state);
    }
    let rest = path.trim_start_matches("/v1/realtime/calls/");
    let Some((call_id, verb)) = rest.split_once('/') else {
        return refuse(
            404,
            &format!("Invalid URL ({} {})", req.method, req.path),
            None,
            None,
        );
    };
    call_control(call_id, verb, &body, state).await
}

fn client_secret(
    body: &Value,
    clock: Clock,
    session_defaults: impl Fn() -> Value,
    state: &RestState,
) -> Answer {
    if let Some(v) = validate::named("RealtimeCreateClientSecretRequest", body) {
        return refuse(400, &v.message, Some(v.code), Some(&v.param));
    }
    let seconds = body
        .pointer("/expires_after/seconds")
        .and_then(Value::as_u64)
        .unwrap_or(600);
    let requested = body
        .get("session")
        .cloned()
        .unwrap_or_else(|| json!({"type": "realtime"}));
    let mut session = session_defaults();
    crate::connection::merge_session(&mut session, &requested);
    let value = state.next_id("ek");
    if let Ok(mut secrets) = state.secrets.lock() {
        secrets.insert(
            value.clone(),
            Secret {
                valid_until: Instant::now() + Duration::from_secs(seconds),
                session: requested,
            },
        );
    }
    let answer =
        json!({"value": value, "expires_at": clock.now() + seconds as i64, "session": session});
    (
        200,
        wire::named("RealtimeCreateClientSecretResponse", &answer),
    )
}

async fn call_control(call_id: &str, verb: &str, body: &Value, state: &RestState) -> Answer {
    let schema = match verb {
        "accept" => Some("RealtimeSessionCreateRequestGA"),
        "reject" => Some("RealtimeCallRejectRequest"),
        "refer" => Some("RealtimeCallReferRequest"),
        "hangup" => None,
        _ => {
            return refuse(
                404,
                &format!("Invalid URL (POST /v1/realtime/calls/{call_id}/{verb})"),
                None,
                None,
            )
        }
    };
    if let Some(v) = schema.and_then(|s| validate::named(s, body)) {
        return refuse(400, &v.message, Some(v.code), Some(&v.param));
    }
    let (action, close) = {
        let Ok(mut calls) = state.calls.lock() else {
            return refuse(500, "state unavailable", None, None);
        };
        let Some(call) = calls.get_mut(call_id) else {
            return refuse(
                404,
                &format!("Call '{call_id}' not found."),
                Some("call_not_found"),
                Some("call_id"),
            );
        };
        if call.ended {
            return refuse(
                409,
                &format!("Call '{call_id}' has already ended."),
                Some("call_ended"),
                Some("call_id"),
            );
        }
        let accepted = call.session.is_some();
        match verb {
            "accept" if accepted => {
                return refuse(
                    409,
                    &format!("Call '{call_id}' was already accepted."),
                    Some("call_already_accepted"),
                    Some("call_id"),
                )
            }
            "accept" => {
                call.session = Some(body.clone());
                (
                    CallAction::Accepted {
                        session: body.clone(),
                    },
                    None,
                )
            }
            "reject" if accepted => {
                return refuse(
                    409,
                    &format!("Call '{call_id}' was already accepted; hang up instead."),
                    Some("call_already_accepted"),
                    Some("call_id"),
                )
            }
            "reject" => {
                call.ended = true;
                let status_code = body
                    .get("status_code")
                    .and_then(Value::as_u64)
                    .and_then(|c| u16::try_from(c).ok())
                    .unwrap_or(603);
                (CallAction::Rejected { status_code }, None)
            }
            _ if !accepted => {
                return refuse(
                    409,
                    &format!("Call '{call_id}' has not been accepted."),
                    Some("call_not_accepted"),
                    Some("call_id"),
                )
            }
            "refer" => {
                call.ended = true;
                let target_uri = body
                    .get("target_uri")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                (CallAction::Referred { target_uri }, call.attached.take())
            }
            _ => {
                call.ended = true;
                (CallAction::HungUp, call.attached.take())
            }
        }
    };
    state.act(call_id, action);
    if let Some(conn) = close {
        conn.close(1000, "call ended").await;
    }
    (200, String::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_standard_webhooks() {
        // The example of the standard-webhooks specification.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }
}
