//! What tests hold: the handshake as seen, the events received, and the [`ConnectionHandle`]
//! that inspects and steers a connection through commands its task drains.

use super::faults::{oversized_event, MALFORMED, UNKNOWN_EVENT};
use crate::model::Item;
use realtime_protocol::{beta, ga, Dialect};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;

/// What the handshake looked like.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HandshakeInfo {
    /// The request path, e.g. `/v1/realtime`.
    pub path: String,
    /// The query string, e.g. `model=gpt-realtime`.
    pub query: String,
    /// Every header, lowercase, sorted; the key is replaced by `[redacted]`.
    pub headers: Vec<(String, String)>,
    /// The dialect chosen from the `OpenAI-Beta` header.
    pub dialect: Dialect,
    /// The key used, shown as the service shows it in errors (`sk-***abcd`), if any.
    pub authenticated_with: Option<String>,
    /// The SIP call this socket attached to (`?call_id=`), if any.
    pub call_id: Option<String>,
    /// The connection's purpose (`?intent=`): `transcription` makes a transcription session.
    pub intent: Option<String>,
}

impl HandshakeInfo {
    /// The value of a header (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A client event the server received, parsed with the connection's dialect.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedEvent {
    pub(super) raw: String,
    pub(super) parsed: Parsed,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Parsed {
    Ga(ga::ClientEvent),
    Beta(beta::ClientEvent),
    Invalid {
        event_type: Option<String>,
        error: String,
    },
}

impl ReceivedEvent {
    /// The text frame as received.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The event's `type` (`"<invalid>"` when it had none).
    pub fn event_type(&self) -> &str {
        match &self.parsed {
            Parsed::Ga(e) => e.event_type(),
            Parsed::Beta(e) => e.event_type(),
            Parsed::Invalid { event_type, .. } => event_type.as_deref().unwrap_or("<invalid>"),
        }
    }

    /// The typed GA event, on a GA connection.
    pub fn ga(&self) -> Option<&ga::ClientEvent> {
        match &self.parsed {
            Parsed::Ga(e) => Some(e),
            _ => None,
        }
    }

    /// The typed beta event, on a beta connection.
    pub fn beta(&self) -> Option<&beta::ClientEvent> {
        match &self.parsed {
            Parsed::Beta(e) => Some(e),
            _ => None,
        }
    }

    /// Why the frame did not parse, if it did not.
    pub fn error(&self) -> Option<&str> {
        match &self.parsed {
            Parsed::Invalid { error, .. } => Some(error),
            _ => None,
        }
    }

    /// The frame as JSON (`Null` when it was not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.raw).unwrap_or(Value::Null)
    }
}

/// State shared between a connection task and its handles.
#[derive(Debug, Default)]
pub(super) struct Shared {
    pub(super) received: Mutex<Vec<ReceivedEvent>>,
    pub(super) dropped_records: AtomicUsize,
    pub(super) cursor: AtomicUsize,
    pub(super) conversation: Mutex<Vec<Item>>,
    pub(super) session: Mutex<Value>,
    pub(super) frames_sent: AtomicUsize,
    pub(super) closed: AtomicBool,
    pub(super) notify: Notify,
}

#[derive(Debug)]
pub(super) enum Command {
    Send(String),
    SendBinary(Vec<u8>),
    SendEvent(Value),
    SpeechStarted { audio_start_ms: u64 },
    SpeechStopped { audio_end_ms: u64 },
    SetTranscript(String),
    Close { code: u16, reason: String },
    Drop,
    Stall(Duration),
    IgnorePings,
}

/// A handle on one fake connection: what the client sent, the server-side conversation, and
/// ways to inject events and faults. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ConnectionHandle {
    pub(super) serial: u64,
    pub(super) info: Arc<HandshakeInfo>,
    pub(super) shared: Arc<Shared>,
    pub(super) commands: mpsc::Sender<Command>,
}

impl ConnectionHandle {
    /// 1 for the first connection the server accepted, 2 for the next…
    pub fn serial(&self) -> u64 {
        self.serial
    }

    /// The connection's dialect.
    pub fn dialect(&self) -> Dialect {
        self.info.dialect
    }

    /// The handshake request (URL and headers, key redacted).
    pub fn handshake(&self) -> &HandshakeInfo {
        &self.info
    }

    /// Every client event received so far, in order.
    pub fn received(&self) -> Vec<ReceivedEvent> {
        self.shared
            .received
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// The types of every client event received so far.
    pub fn received_types(&self) -> Vec<String> {
        self.received()
            .iter()
            .map(|e| e.event_type().to_owned())
            .collect()
    }

    /// Waits up to `timeout` for the next client event not returned by this method before
    /// (the position is shared by all clones of the handle).
    pub async fn next_client_event(&self, timeout: Duration) -> Option<ReceivedEvent> {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.shared.notify.notified();
            {
                let received = self.shared.received.lock().ok()?;
                let at = self.shared.cursor.load(Ordering::SeqCst);
                if let Some(ev) = received.get(at) {
                    self.shared.cursor.store(at + 1, Ordering::SeqCst);
                    return Some(ev.clone());
                }
            }
            if self.is_closed() || tokio::time::timeout_at(deadline, notified).await.is_err() {
                // One last look: the event may have landed as the connection closed.
                let received = self.shared.received.lock().ok()?;
                let at = self.shared.cursor.load(Ordering::SeqCst);
                let ev = received.get(at).cloned();
                if ev.is_some() {
                    self.shared.cursor.store(at + 1, Ordering::SeqCst);
                }
                return ev;
            }
        }
    }

    /// Waits up to `timeout` for the next client event of type `event_type`, skipping others.
    pub async fn wait_for(&self, event_type: &str, timeout: Duration) -> Option<ReceivedEvent> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let ev = self.next_client_event(left).await?;
            if ev.event_type() == event_type {
                return Some(ev);
            }
        }
    }

    /// How many client events were not recorded because the record was full.
    pub fn dropped_records(&self) -> usize {
        self.shared.dropped_records.load(Ordering::Relaxed)
    }

    /// The server-side conversation, in order.
    pub fn conversation(&self) -> Vec<Item> {
        self.shared
            .conversation
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default()
    }

    /// The session as the server holds it (what `session.updated` last carried).
    pub fn session(&self) -> Value {
        self.shared
            .session
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// How many frames the server has sent on this connection.
    pub fn frames_sent(&self) -> usize {
        self.shared.frames_sent.load(Ordering::Relaxed)
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::SeqCst)
    }

    /// Waits up to `timeout` for the connection to end; `true` if it did.
    pub async fn wait_closed(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.shared.notify.notified();
            if self.is_closed() {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.is_closed();
            }
        }
    }

    async fn command(&self, c: Command) {
        // If the connection is gone the command has nothing to act on.
        let _ = self.commands.send(c).await;
    }

    /// Sends a raw text frame (any JSON, or not JSON at all).
    pub async fn send_raw(&self, text: impl Into<String>) {
        self.command(Command::Send(text.into())).await;
    }

    /// Sends a server event as JSON (keys in the service's order); an `event_id` is added when
    /// missing.
    pub async fn send_event(&self, mut event: Value) {
        if let Some(o) = event.as_object_mut() {
            o.entry("event_id")
                .or_insert_with(|| json!(format!("event_injected{}", self.frames_sent())));
        }
        self.command(Command::SendEvent(event)).await;
    }

    /// Sends a frame that is not valid JSON.
    pub async fn send_malformed(&self) {
        self.send_raw(MALFORMED).await;
    }

    /// Sends a binary frame (the service never does; a client must shrug it off).
    pub async fn send_binary(&self, bytes: impl Into<Vec<u8>>) {
        self.command(Command::SendBinary(bytes.into())).await;
    }

    /// Sends an event of a type no spec defines.
    pub async fn send_unknown_event(&self) {
        self.send_raw(UNKNOWN_EVENT).await;
    }

    /// Sends a valid event `bytes` long (a huge transcript delta).
    pub async fn send_oversized(&self, bytes: usize) {
        self.send_raw(oversized_event(bytes)).await;
    }

    /// `input_audio_buffer.speech_started`, as server VAD would send it. With turn detection
    /// on and `interrupt_response` not off, an active response is cancelled.
    pub async fn speech_started(&self, audio_start_ms: u64) {
        self.command(Command::SpeechStarted { audio_start_ms })
            .await;
    }

    /// `input_audio_buffer.speech_stopped`, then the buffer is committed as a user item and,
    /// when turn detection says `create_response`, a response starts.
    pub async fn speech_stopped(&self, audio_end_ms: u64) {
        self.command(Command::SpeechStopped { audio_end_ms }).await;
    }

    /// The transcript of the next committed user audio.
    pub async fn set_input_transcript(&self, transcript: impl Into<String>) {
        self.command(Command::SetTranscript(transcript.into()))
            .await;
    }

    /// Sends a close frame with `code` and `reason`, then ends the connection.
    pub async fn close(&self, code: u16, reason: impl Into<String>) {
        self.command(Command::Close {
            code,
            reason: reason.into(),
        })
        .await;
    }

    /// Drops the TCP connection without a close frame.
    pub async fn drop_socket(&self) {
        self.command(Command::Drop).await;
    }

    /// Goes silent (sends and reads nothing) for `duration`.
    pub async fn stall(&self, duration: Duration) {
        self.command(Command::Stall(duration)).await;
    }

    /// Stops reading the socket for good: pings go unanswered, client events are not received.
    pub async fn stop_answering_pings(&self) {
        self.command(Command::IgnorePings).await;
    }
}
