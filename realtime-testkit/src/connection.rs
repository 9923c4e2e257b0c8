//! One fake connection: the service's state for one socket, the state machine that answers
//! client events, the response streamer, fault injection, and the [`ConnectionHandle`] tests
//! use to inspect and steer it.

use crate::config::{FakeServerConfig, Fault, Pacing};
use crate::ids::IdGen;
use crate::model::{event_part_json, Item, ItemKind, Part, Role};
use crate::responder::{ResponseContext, ResponsePart, ResponsePlan};
use futures_util::{SinkExt, StreamExt};
use realtime_protocol::{beta, ga, Dialect};
use serde_json::{json, Map, Value};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;

/// Commands a handle may queue; the connection task drains them in order. When the queue is
/// full, the handle's call waits (backpressure), so no command is lost.
const COMMAND_QUEUE: usize = 64;

/// How long the server waits for the client to answer its close frame (a peer on loopback
/// answers in microseconds; one that is not reading never does).
const CLOSE_GRACE: Duration = Duration::from_millis(300);

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
    raw: String,
    parsed: Parsed,
}

#[derive(Debug, Clone, PartialEq)]
enum Parsed {
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
struct Shared {
    received: Mutex<Vec<ReceivedEvent>>,
    dropped_records: AtomicUsize,
    cursor: AtomicUsize,
    conversation: Mutex<Vec<Item>>,
    session: Mutex<Value>,
    frames_sent: AtomicUsize,
    closed: AtomicBool,
    notify: Notify,
}

#[derive(Debug)]
enum Command {
    Send(String),
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
    serial: u64,
    info: Arc<HandshakeInfo>,
    shared: Arc<Shared>,
    commands: mpsc::Sender<Command>,
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

    /// Sends a server event as JSON; an `event_id` is added when missing.
    pub async fn send_event(&self, mut event: Value) {
        if let Some(o) = event.as_object_mut() {
            o.entry("event_id")
                .or_insert_with(|| json!(format!("event_injected{}", self.frames_sent())));
        }
        self.send_raw(event.to_string()).await;
    }

    /// Sends a frame that is not valid JSON.
    pub async fn send_malformed(&self) {
        self.send_raw(MALFORMED).await;
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

const MALFORMED: &str =
    r#"{"type":"response.output_text.delta","event_id":"event_malformed","delta":"#;
const UNKNOWN_EVENT: &str =
    r#"{"type":"response.future_feature.delta","event_id":"event_unknown","payload":{"x":1}}"#;

fn oversized_event(bytes: usize) -> String {
    let head = r#"{"type":"response.future_feature.delta","event_id":"event_oversized","delta":""#;
    let tail = r#""}"#;
    let fill = bytes.saturating_sub(head.len() + tail.len());
    let mut s = String::with_capacity(bytes);
    s.push_str(head);
    s.extend(std::iter::repeat_n('a', fill));
    s.push_str(tail);
    s
}

pub(crate) fn new(
    serial: u64,
    info: HandshakeInfo,
    config: Arc<FakeServerConfig>,
) -> (ConnectionHandle, Connection) {
    let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
    let shared = Arc::new(Shared::default());
    let info = Arc::new(info);
    let handle = ConnectionHandle {
        serial,
        info: info.clone(),
        shared: shared.clone(),
        commands: tx,
    };
    let dialect = info.dialect;
    let transcript = config.input_transcript.clone();
    let conn = Connection {
        ids: IdGen::new(config.seed ^ serial.wrapping_mul(0x9E37_79B9)),
        config,
        dialect,
        shared,
        commands: rx,
        session: Value::Null,
        conversation: Vec::new(),
        input_audio: Vec::new(),
        active: None,
        responses: 0,
        next_transcript: transcript,
        reading: true,
        pending_speech_item: None,
        fired: Vec::new(),
    };
    (handle, conn)
}

type Ws = WebSocketStream<TcpStream>;
type Sink = futures_util::stream::SplitSink<Ws, Message>;

/// How a connection ends.
enum End {
    Continue,
    Close(u16, String),
    Drop,
}

/// One step of a streaming response.
#[derive(Debug)]
enum Step {
    Created,
    ItemAdded {
        item: Item,
        output_index: usize,
    },
    PartAdded {
        item_id: String,
        output_index: usize,
        part: Part,
    },
    TextDelta {
        item_id: String,
        output_index: usize,
        delta: String,
    },
    TextDone {
        item_id: String,
        output_index: usize,
    },
    AudioDelta {
        item_id: String,
        output_index: usize,
        pcm: Vec<u8>,
    },
    TranscriptDelta {
        item_id: String,
        output_index: usize,
        delta: String,
    },
    AudioDone {
        item_id: String,
        output_index: usize,
    },
    TranscriptDone {
        item_id: String,
        output_index: usize,
    },
    PartDone {
        item_id: String,
        output_index: usize,
    },
    ArgsDelta {
        item_id: String,
        output_index: usize,
        call_id: String,
        delta: String,
    },
    ArgsDone {
        item_id: String,
        output_index: usize,
        call_id: String,
    },
    ItemDone {
        item_id: String,
        output_index: usize,
    },
    Error {
        code: String,
        message: String,
    },
    Done,
}

#[derive(Debug)]
struct ActiveResponse {
    id: String,
    steps: VecDeque<Step>,
    output: Vec<String>,
    started: Instant,
    /// Audio sent so far in this response, for real-time pacing.
    audio_ms: f64,
    status: &'static str,
    output_audio: bool,
}

pub(crate) struct Connection {
    config: Arc<FakeServerConfig>,
    dialect: Dialect,
    ids: IdGen,
    shared: Arc<Shared>,
    commands: mpsc::Receiver<Command>,
    session: Value,
    conversation: Vec<Item>,
    input_audio: Vec<u8>,
    active: Option<ActiveResponse>,
    responses: usize,
    next_transcript: String,
    reading: bool,
    pending_speech_item: Option<String>,
    /// Indices of the configured faults that already fired.
    fired: Vec<usize>,
}

impl Connection {
    fn ga(&self) -> bool {
        self.dialect == Dialect::Ga
    }

    pub(crate) async fn run(mut self, ws: Ws, cancel: CancellationToken) {
        let (mut sink, mut stream) = ws.split();
        if self
            .config
            .faults
            .iter()
            .any(|f| matches!(f, Fault::IgnorePings))
        {
            self.reading = false;
        }
        self.session = default_session(self.dialect, &mut self.ids, self.config.clock.now());
        self.sync_session();
        let created = json!({"type": "session.created", "session": self.session.clone()});
        let mut end = self.send(&mut sink, created).await;
        while matches!(end, End::Continue) {
            let next_at = self.next_step_at();
            end = tokio::select! {
                biased;
                _ = cancel.cancelled() => End::Close(1001, "server shutting down".into()),
                cmd = self.commands.recv() => match cmd {
                    Some(c) => self.on_command(&mut sink, c).await,
                    // Every handle is gone: keep serving the client.
                    None => { std::future::pending::<()>().await; End::Continue }
                },
                frame = stream.next(), if self.reading => match frame {
                    Some(Ok(Message::Text(text))) => self.on_client_text(&mut sink, text.as_str()).await,
                    Some(Ok(Message::Binary(_))) => self.send_error(&mut sink, "invalid_request_error", Some("invalid_value"), "Binary frames are not supported; send JSON text.", None, None).await,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => End::Drop,
                    Some(Ok(_)) => End::Continue,
                },
                _ = sleep_until_opt(next_at), if next_at.is_some() => self.step(&mut sink).await,
            };
        }
        match end {
            End::Close(code, reason) => {
                let frame = CloseFrame {
                    code: CloseCode::from(code),
                    reason: reason.into(),
                };
                let _ =
                    tokio::time::timeout(CLOSE_GRACE, sink.send(Message::Close(Some(frame)))).await;
                // Give the client a moment to answer the close, without waiting forever.
                let _ = tokio::time::timeout(CLOSE_GRACE, async {
                    while let Some(Ok(m)) = stream.next().await {
                        if m.is_close() {
                            break;
                        }
                    }
                })
                .await;
            }
            End::Drop | End::Continue => {}
        }
        drop(sink);
        drop(stream);
        self.shared.closed.store(true, Ordering::SeqCst);
        self.shared.notify.notify_waiters();
    }

    fn next_step_at(&self) -> Option<Instant> {
        let active = self.active.as_ref()?;
        let front = active.steps.front()?;
        match (self.config.pacing, front) {
            (Pacing::RealTime, Step::AudioDelta { .. }) => {
                Some(active.started + Duration::from_micros((active.audio_ms * 1000.0) as u64))
            }
            _ => Some(Instant::now()),
        }
    }

    fn sync_session(&self) {
        if let Ok(mut s) = self.shared.session.lock() {
            *s = self.session.clone();
        }
    }

    fn sync_conversation(&self) {
        if let Ok(mut c) = self.shared.conversation.lock() {
            c.clone_from(&self.conversation);
        }
    }

    /// Sends one server event (adding `event_id`), applying frame-count faults first.
    async fn send(&mut self, sink: &mut Sink, mut event: Value) -> End {
        if let Some(o) = event.as_object_mut() {
            let id = self.ids.next("event");
            // `type` first, then `event_id`, as the service does.
            let mut ordered = Map::new();
            if let Some(t) = o.remove("type") {
                ordered.insert("type".into(), t);
            }
            ordered.insert("event_id".into(), json!(id));
            ordered.extend(std::mem::take(o));
            *o = ordered;
        }
        self.send_text(sink, event.to_string()).await
    }

    async fn send_text(&mut self, sink: &mut Sink, text: String) -> End {
        let end = self.apply_faults(sink).await;
        if !matches!(end, End::Continue) {
            return end;
        }
        if sink.send(Message::text(text)).await.is_err() {
            return End::Drop;
        }
        self.shared.frames_sent.fetch_add(1, Ordering::Relaxed);
        End::Continue
    }

    async fn apply_faults(&mut self, sink: &mut Sink) -> End {
        let sent = self.shared.frames_sent.load(Ordering::Relaxed);
        for i in 0..self.config.faults.len() {
            if self.fired.contains(&i) {
                continue;
            }
            let fault = self.config.faults[i].clone();
            let extra = match fault {
                Fault::DropAfterFrames(n) if sent >= n => return End::Drop,
                Fault::CloseAfterFrames {
                    frames,
                    code,
                    reason,
                } if sent >= frames => return End::Close(code, reason),
                Fault::MalformedAfterFrames(n) if sent >= n => Some(MALFORMED.to_owned()),
                Fault::UnknownEventAfterFrames(n) if sent >= n => Some(UNKNOWN_EVENT.to_owned()),
                Fault::OversizedAfterFrames { frames, bytes } if sent >= frames => {
                    Some(oversized_event(bytes))
                }
                Fault::StallAfterFrames { frames, duration } if sent >= frames => {
                    self.fired.push(i);
                    tokio::time::sleep(duration).await;
                    None
                }
                _ => continue,
            };
            self.fired.push(i);
            if let Some(text) = extra {
                if sink.send(Message::text(text)).await.is_err() {
                    return End::Drop;
                }
                self.shared.frames_sent.fetch_add(1, Ordering::Relaxed);
            }
        }
        End::Continue
    }

    async fn on_command(&mut self, sink: &mut Sink, c: Command) -> End {
        match c {
            Command::Send(text) => self.send_text(sink, text).await,
            Command::SpeechStarted { audio_start_ms } => {
                self.on_speech_started(sink, audio_start_ms).await
            }
            Command::SpeechStopped { audio_end_ms } => {
                self.on_speech_stopped(sink, audio_end_ms).await
            }
            Command::SetTranscript(t) => {
                self.next_transcript = t;
                End::Continue
            }
            Command::Close { code, reason } => End::Close(code, reason),
            Command::Drop => End::Drop,
            Command::Stall(d) => {
                tokio::time::sleep(d).await;
                End::Continue
            }
            Command::IgnorePings => {
                self.reading = false;
                End::Continue
            }
        }
    }

    fn record(&self, ev: ReceivedEvent) {
        if let Ok(mut r) = self.shared.received.lock() {
            if r.len() >= self.config.max_recorded_events {
                self.shared.dropped_records.fetch_add(1, Ordering::Relaxed);
            } else {
                r.push(ev);
            }
        }
        self.shared.notify.notify_waiters();
    }

    async fn on_client_text(&mut self, sink: &mut Sink, text: &str) -> End {
        let parsed = match self.dialect {
            Dialect::Beta => beta::ClientEvent::from_json(text).map(Parsed::Beta),
            _ => ga::ClientEvent::from_json(text).map(Parsed::Ga),
        };
        let raw: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        let client_event_id = raw
            .get("event_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let kind = raw.get("type").and_then(Value::as_str).map(str::to_owned);
        let parsed = match parsed {
            Ok(p) => p,
            Err(e) => {
                let cause = std::error::Error::source(&e)
                    .map(|c| c.to_string())
                    .unwrap_or_default();
                self.record(ReceivedEvent {
                    raw: text.to_owned(),
                    parsed: Parsed::Invalid {
                        event_type: kind.clone(),
                        error: format!("{e}: {cause}"),
                    },
                });
                return self
                    .reject(sink, kind.as_deref(), &raw, &e, &cause, client_event_id)
                    .await;
            }
        };
        let unknown = match &parsed {
            Parsed::Ga(e) => e.is_unknown(),
            Parsed::Beta(e) => e.is_unknown(),
            Parsed::Invalid { .. } => false,
        };
        self.record(ReceivedEvent {
            raw: text.to_owned(),
            parsed,
        });
        let kind = kind.unwrap_or_default();
        if unknown {
            let msg = format!(
                "Invalid value: '{kind}'. Supported values are: {}.",
                self.supported_types().join(", ")
            );
            return self
                .send_error(
                    sink,
                    "invalid_request_error",
                    Some("invalid_value"),
                    &msg,
                    Some("type"),
                    client_event_id,
                )
                .await;
        }
        let eid = client_event_id;
        match kind.as_str() {
            "session.update" => self.on_session_update(sink, &raw, eid).await,
            "conversation.item.create" => self.on_item_create(sink, &raw, eid).await,
            "conversation.item.retrieve" => self.on_item_retrieve(sink, &raw, eid).await,
            "conversation.item.delete" => self.on_item_delete(sink, &raw, eid).await,
            "conversation.item.truncate" => self.on_item_truncate(sink, &raw, eid).await,
            "input_audio_buffer.append" => self.on_audio_append(sink, &raw, eid).await,
            "input_audio_buffer.commit" => self.on_audio_commit(sink, eid, None).await,
            "input_audio_buffer.clear" => {
                self.input_audio.clear();
                self.send(sink, json!({"type": "input_audio_buffer.cleared"})).await
            }
            "output_audio_buffer.clear" => self.send(sink, json!({"type": "output_audio_buffer.cleared", "response_id": self.active.as_ref().map(|a| a.id.clone())})).await,
            "response.create" => self.on_response_create(sink, &raw, eid).await,
            "response.cancel" => self.on_response_cancel(sink, eid).await,
            other => {
                let msg = format!("The fake server does not implement '{other}'.");
                self.send_error(sink, "invalid_request_error", Some("unsupported_event"), &msg, Some("type"), eid).await
            }
        }
    }

    fn supported_types(&self) -> Vec<&'static str> {
        match self.dialect {
            Dialect::Beta => beta::ClientEvent::TYPES.to_vec(),
            _ => ga::ClientEvent::TYPES.to_vec(),
        }
    }

    /// The error the service sends for a client event it cannot use.
    async fn reject(
        &mut self,
        sink: &mut Sink,
        kind: Option<&str>,
        raw: &Value,
        err: &realtime_protocol::ProtocolError,
        cause: &str,
        eid: Option<String>,
    ) -> End {
        use realtime_protocol::ProtocolError as P;
        match err {
            P::InvalidJson { .. } | P::NotAnObject { .. } => {
                let msg = "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)";
                self.send_error(
                    sink,
                    "invalid_request_error",
                    Some("invalid_json"),
                    msg,
                    None,
                    eid,
                )
                .await
            }
            P::MissingType { .. } => {
                self.send_error(
                    sink,
                    "invalid_request_error",
                    Some("missing_required_parameter"),
                    "Missing required parameter: 'type'.",
                    Some("type"),
                    eid,
                )
                .await
            }
            _ if kind == Some("session.update")
                && self.ga()
                && raw
                    .pointer("/session")
                    .is_some_and(|s| s.is_object() && s.get("type").is_none()) =>
            {
                self.send_error(
                    sink,
                    "invalid_request_error",
                    Some("missing_required_parameter"),
                    "Missing required parameter: 'session.type'.",
                    Some("session.type"),
                    eid,
                )
                .await
            }
            _ => {
                let msg = format!("Invalid '{}' event: {cause}", kind.unwrap_or("?"));
                self.send_error(
                    sink,
                    "invalid_request_error",
                    Some("invalid_value"),
                    &msg,
                    None,
                    eid,
                )
                .await
            }
        }
    }

    async fn send_error(
        &mut self,
        sink: &mut Sink,
        error_type: &str,
        code: Option<&str>,
        message: &str,
        param: Option<&str>,
        client_event_id: Option<String>,
    ) -> End {
        let ev = json!({
            "type": "error",
            "error": {"type": error_type, "code": code, "message": message, "param": param, "event_id": client_event_id},
        });
        self.send(sink, ev).await
    }

    /// The service's error for an item id it does not have.
    async fn item_not_found(
        &mut self,
        sink: &mut Sink,
        doing: &str,
        id: &str,
        eid: Option<String>,
    ) -> End {
        let msg = format!("Error {doing} item: the item with id '{id}' does not exist.");
        self.send_error(
            sink,
            "invalid_request_error",
            Some("item_not_found"),
            &msg,
            Some("item_id"),
            eid,
        )
        .await
    }

    // ----- session -----

    async fn on_session_update(
        &mut self,
        sink: &mut Sink,
        raw: &Value,
        eid: Option<String>,
    ) -> End {
        let Some(update) = raw.get("session").and_then(Value::as_object) else {
            return self
                .send_error(
                    sink,
                    "invalid_request_error",
                    Some("missing_required_parameter"),
                    "Missing required parameter: 'session'.",
                    Some("session"),
                    eid,
                )
                .await;
        };
        if self.ga() && update.get("type").and_then(Value::as_str) == Some("transcription") {
            let msg = "Cannot change the session type of a realtime session to 'transcription'.";
            return self
                .send_error(
                    sink,
                    "invalid_request_error",
                    Some("invalid_value"),
                    msg,
                    Some("session.type"),
                    eid,
                )
                .await;
        }
        let new_voice = if self.ga() {
            raw.pointer("/session/audio/output/voice")
        } else {
            update.get("voice")
        };
        let old_voice = if self.ga() {
            self.session.pointer("/audio/output/voice")
        } else {
            self.session.get("voice")
        };
        if let Some(v) = new_voice {
            let has_assistant_audio = self.conversation.iter().any(|i| {
                matches!(&i.kind, ItemKind::Message { role: Role::Assistant, content } if content.iter().any(|p| matches!(p, Part::Audio { .. })))
            });
            if Some(v) != old_voice && has_assistant_audio {
                let msg = "Cannot update a conversation's voice if assistant audio is present.";
                return self
                    .send_error(
                        sink,
                        "invalid_request_error",
                        Some("cannot_update_voice"),
                        msg,
                        Some("session.voice"),
                        eid,
                    )
                    .await;
            }
        }
        let update = Value::Object(update.clone());
        let deep = self.ga();
        merge(&mut self.session, &update, deep);
        self.sync_session();
        let ev = json!({"type": "session.updated", "session": self.session.clone()});
        self.send(sink, ev).await
    }

    fn turn_detection(&self) -> Option<&Value> {
        let td = if self.ga() {
            self.session.pointer("/audio/input/turn_detection")
        } else {
            self.session.get("turn_detection")
        };
        td.filter(|v| v.is_object())
    }

    fn output_audio(&self, response: Option<&Value>) -> bool {
        let key = if self.ga() {
            "output_modalities"
        } else {
            "modalities"
        };
        let modalities = response
            .and_then(|r| r.get(key))
            .or_else(|| self.session.get(key));
        match modalities.and_then(Value::as_array) {
            Some(m) => m.iter().any(|v| v == "audio"),
            None => true,
        }
    }

    // ----- conversation items -----

    fn index_of(&self, id: &str) -> Option<usize> {
        self.conversation.iter().position(|i| i.id == id)
    }

    /// Inserts after `previous` (`None`: at the end; `"root"`: at the start); returns the id of
    /// the item before it.
    fn insert(&mut self, item: Item, previous: Option<&str>) -> Result<Option<String>, String> {
        let at = match previous {
            None => self.conversation.len(),
            Some("root") => 0,
            Some(p) => match self.index_of(p) {
                Some(i) => i + 1,
                None => {
                    return Err(format!(
                        "Error adding item: the previous item with id '{p}' does not exist."
                    ))
                }
            },
        };
        let prev = at
            .checked_sub(1)
            .and_then(|i| self.conversation.get(i))
            .map(|i| i.id.clone());
        self.conversation.insert(at, item);
        self.sync_conversation();
        Ok(prev)
    }

    async fn announce_item(
        &mut self,
        sink: &mut Sink,
        item_id: &str,
        previous: Option<String>,
    ) -> End {
        let Some(item) = self
            .index_of(item_id)
            .map(|i| self.conversation[i].to_json(self.dialect))
        else {
            return End::Continue;
        };
        if self.ga() {
            let end = self.send(sink, json!({"type": "conversation.item.added", "previous_item_id": previous, "item": item})).await;
            if !matches!(end, End::Continue) {
                return end;
            }
            self.send(sink, json!({"type": "conversation.item.done", "previous_item_id": previous, "item": item})).await
        } else {
            self.send(sink, json!({"type": "conversation.item.created", "previous_item_id": previous, "item": item})).await
        }
    }

    async fn on_item_create(&mut self, sink: &mut Sink, raw: &Value, eid: Option<String>) -> End {
        let Some(item_json) = raw.get("item") else {
            return self
                .send_error(
                    sink,
                    "invalid_request_error",
                    Some("missing_required_parameter"),
                    "Missing required parameter: 'item'.",
                    Some("item"),
                    eid,
                )
                .await;
        };
        let id = match item_json.get("id").and_then(Value::as_str) {
            Some(id) if self.index_of(id).is_some() => {
                let msg = format!("Item with id '{id}' already exists.");
                return self
                    .send_error(
                        sink,
                        "invalid_request_error",
                        Some("invalid_value"),
                        &msg,
                        Some("item.id"),
                        eid,
                    )
                    .await;
            }
            Some(id) => id.to_owned(),
            None => self.ids.next("item"),
        };
        let item = Item::from_client_json(id.clone(), item_json);
        let previous = raw
            .get("previous_item_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        match self.insert(item, previous.as_deref()) {
            Ok(prev) => self.announce_item(sink, &id, prev).await,
            Err(msg) => {
                self.send_error(
                    sink,
                    "invalid_request_error",
                    Some("invalid_value"),
                    &msg,
                    Some("previous_item_id"),
                    eid,
                )
                .await
            }
        }
    }

    async fn on_item_retrieve(&mut self, sink: &mut Sink, raw: &Value, eid: Option<String>) -> End {
        let id = raw
            .get("item_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match self.index_of(id) {
            Some(i) => {
                let item = self.conversation[i].to_json(self.dialect);
                self.send(
                    sink,
                    json!({"type": "conversation.item.retrieved", "item": item}),
                )
                .await
            }
            None => self.item_not_found(sink, "retrieving", id, eid).await,
        }
    }

    async fn on_item_delete(&mut self, sink: &mut Sink, raw: &Value, eid: Option<String>) -> End {
        let id = raw
            .get("item_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        match self.index_of(&id) {
            Some(i) => {
                self.conversation.remove(i);
                self.sync_conversation();
                self.send(
                    sink,
                    json!({"type": "conversation.item.deleted", "item_id": id}),
                )
                .await
            }
            None => self.item_not_found(sink, "deleting", &id, eid).await,
        }
    }

    async fn on_item_truncate(&mut self, sink: &mut Sink, raw: &Value, eid: Option<String>) -> End {
        let id = raw
            .get("item_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let content_index = raw
            .get("content_index")
            .and_then(Value::as_u64)
            .unwrap_or(0) as usize;
        let audio_end_ms = raw.get("audio_end_ms").and_then(Value::as_u64).unwrap_or(0);
        let Some(i) = self.index_of(&id) else {
            return self.item_not_found(sink, "truncating", &id, eid).await;
        };
        let is_assistant = self.conversation[i].role() == Some(Role::Assistant);
        let Some(bytes) = self.conversation[i]
            .audio_bytes(content_index)
            .filter(|_| is_assistant)
        else {
            let msg = "Only assistant messages with audio content can be truncated.";
            return self
                .send_error(
                    sink,
                    "invalid_request_error",
                    Some("invalid_value"),
                    msg,
                    Some("item_id"),
                    eid,
                )
                .await;
        };
        let audio_ms = (bytes / 48) as u64;
        if audio_end_ms > audio_ms {
            let msg =
                format!("Audio content of {audio_ms}ms is already shorter than {audio_end_ms}ms");
            return self
                .send_error(
                    sink,
                    "invalid_request_error",
                    Some("invalid_value"),
                    &msg,
                    Some("audio_end_ms"),
                    eid,
                )
                .await;
        }
        if let ItemKind::Message { content, .. } = &mut self.conversation[i].kind {
            if let Some(Part::Audio {
                audio_bytes,
                transcript,
            }) = content.get_mut(content_index)
            {
                *audio_bytes = (audio_end_ms * 48) as usize;
                transcript.clear();
            }
        }
        self.sync_conversation();
        let ev = json!({"type": "conversation.item.truncated", "item_id": id, "content_index": content_index, "audio_end_ms": audio_end_ms});
        self.send(sink, ev).await
    }

    // ----- input audio -----

    async fn on_audio_append(&mut self, sink: &mut Sink, raw: &Value, eid: Option<String>) -> End {
        let audio = raw.get("audio").and_then(Value::as_str).unwrap_or_default();
        match realtime_protocol::audio::decode_base64_into(audio, &mut self.input_audio) {
            Ok(()) => End::Continue,
            Err(_) => {
                let msg = "Invalid 'audio'. Expected base64-encoded audio bytes.";
                self.send_error(
                    sink,
                    "invalid_request_error",
                    Some("invalid_value"),
                    msg,
                    Some("audio"),
                    eid,
                )
                .await
            }
        }
    }

    /// Commits the buffer as a user item. `vad_item` is the id VAD announced, if VAD commits.
    async fn on_audio_commit(
        &mut self,
        sink: &mut Sink,
        eid: Option<String>,
        vad_item: Option<(String, u64)>,
    ) -> End {
        let bytes = match &vad_item {
            // VAD commits what it heard, even when the client streamed nothing.
            Some((_, ms)) => self.input_audio.len().max((*ms as usize) * 48),
            None => self.input_audio.len(),
        };
        if vad_item.is_none() && bytes < 4_800 {
            let msg = format!(
                "Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, but buffer only has {:.2}ms of audio.",
                bytes as f64 / 48.0
            );
            return self
                .send_error(
                    sink,
                    "invalid_request_error",
                    Some("input_audio_buffer_commit_empty"),
                    &msg,
                    None,
                    eid,
                )
                .await;
        }
        self.input_audio.clear();
        let id = vad_item
            .map(|(id, _)| id)
            .unwrap_or_else(|| self.ids.next("item"));
        let transcribe = if self.ga() {
            self.session
                .pointer("/audio/input/transcription")
                .is_some_and(Value::is_object)
        } else {
            self.session
                .get("input_audio_transcription")
                .is_some_and(Value::is_object)
        };
        let transcript = self.next_transcript.clone();
        let item = Item {
            id: id.clone(),
            kind: ItemKind::Message {
                role: Role::User,
                content: vec![Part::InputAudio {
                    audio_bytes: bytes,
                    transcript: None,
                }],
            },
            status: "completed",
        };
        let prev = self.insert(item, None).unwrap_or_default();
        let end = self.send(sink, json!({"type": "input_audio_buffer.committed", "previous_item_id": prev, "item_id": id})).await;
        if !matches!(end, End::Continue) {
            return end;
        }
        let end = self.announce_item(sink, &id, prev).await;
        if !matches!(end, End::Continue) {
            return end;
        }
        // The transcript is known to the responder either way; the event only when asked for.
        if let Some(i) = self.index_of(&id) {
            if let ItemKind::Message { content, .. } = &mut self.conversation[i].kind {
                if let Some(Part::InputAudio { transcript: t, .. }) = content.get_mut(0) {
                    *t = Some(transcript.clone());
                }
            }
            self.sync_conversation();
        }
        if transcribe {
            let mut ev = json!({"type": "conversation.item.input_audio_transcription.completed", "item_id": id, "content_index": 0, "transcript": transcript});
            ev["usage"] = json!({"type": "duration", "seconds": (bytes as f64 / 48_000.0 * 10.0).round() / 10.0});
            return self.send(sink, ev).await;
        }
        End::Continue
    }

    async fn on_speech_started(&mut self, sink: &mut Sink, audio_start_ms: u64) -> End {
        let id = self.ids.next("item");
        self.pending_speech_item = Some(id.clone());
        let end = self.send(sink, json!({"type": "input_audio_buffer.speech_started", "audio_start_ms": audio_start_ms, "item_id": id})).await;
        if !matches!(end, End::Continue) {
            return end;
        }
        let interrupt = self
            .turn_detection()
            .is_some_and(|td| td.get("interrupt_response").and_then(Value::as_bool) != Some(false));
        if interrupt && self.active.is_some() {
            return self.cancel_active(sink, "turn_detected").await;
        }
        End::Continue
    }

    async fn on_speech_stopped(&mut self, sink: &mut Sink, audio_end_ms: u64) -> End {
        let id = self
            .pending_speech_item
            .take()
            .unwrap_or_else(|| self.ids.next("item"));
        let end = self.send(sink, json!({"type": "input_audio_buffer.speech_stopped", "audio_end_ms": audio_end_ms, "item_id": id})).await;
        if !matches!(end, End::Continue) {
            return end;
        }
        let end = self
            .on_audio_commit(sink, None, Some((id, audio_end_ms.min(60_000))))
            .await;
        if !matches!(end, End::Continue) {
            return end;
        }
        let create = self
            .turn_detection()
            .is_some_and(|td| td.get("create_response").and_then(Value::as_bool) != Some(false));
        if create && self.active.is_none() {
            return self.start_response(sink, None).await;
        }
        End::Continue
    }

    // ----- responses -----

    async fn on_response_create(
        &mut self,
        sink: &mut Sink,
        raw: &Value,
        eid: Option<String>,
    ) -> End {
        if let Some(active) = &self.active {
            let msg = format!(
                "Conversation already has an active response in progress: {}. Wait until the response is finished before creating a new response.",
                active.id
            );
            return self
                .send_error(
                    sink,
                    "invalid_request_error",
                    Some("conversation_already_has_active_response"),
                    &msg,
                    None,
                    eid,
                )
                .await;
        }
        self.start_response(sink, raw.get("response")).await
    }

    async fn on_response_cancel(&mut self, sink: &mut Sink, eid: Option<String>) -> End {
        if self.active.is_none() {
            let msg = "Cancellation failed: no active response found";
            return self
                .send_error(
                    sink,
                    "invalid_request_error",
                    Some("response_cancel_not_active"),
                    msg,
                    None,
                    eid,
                )
                .await;
        }
        self.cancel_active(sink, "client_cancelled").await
    }

    async fn start_response(&mut self, sink: &mut Sink, params: Option<&Value>) -> End {
        let output_audio = self.output_audio(params);
        let tools_of = |v: Option<&Value>| -> Option<Vec<String>> {
            v?.get("tools")?.as_array().map(|t| {
                t.iter()
                    .filter_map(|x| x.get("name")?.as_str().map(str::to_owned))
                    .collect()
            })
        };
        let ctx = ResponseContext {
            conversation: self.conversation.clone(),
            instructions: params
                .and_then(|p| p.get("instructions"))
                .or_else(|| self.session.get("instructions"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            tools: tools_of(params)
                .or_else(|| tools_of(Some(&self.session)))
                .unwrap_or_default(),
            audio: output_audio,
            dialect: self.dialect,
            response_index: self.responses,
        };
        self.responses += 1;
        let plan = self.config.responder.respond(&ctx).await;
        let id = self.ids.next("resp");
        let steps = self.plan_steps(plan);
        self.active = Some(ActiveResponse {
            id,
            steps,
            output: Vec::new(),
            started: Instant::now(),
            audio_ms: 0.0,
            status: "completed",
            output_audio,
        });
        self.step(sink).await
    }

    fn plan_steps(&mut self, plan: ResponsePlan) -> VecDeque<Step> {
        let mut steps = VecDeque::from([Step::Created]);
        let chunk = self.config.audio_chunk_bytes.max(2);
        for (output_index, part) in plan.parts.into_iter().enumerate() {
            match part {
                ResponsePart::Text(text) => {
                    let item_id = self.ids.next("item");
                    let item = assistant_item(&item_id);
                    steps.push_back(Step::ItemAdded { item, output_index });
                    steps.push_back(Step::PartAdded {
                        item_id: item_id.clone(),
                        output_index,
                        part: Part::Text(String::new()),
                    });
                    for w in words(&text) {
                        steps.push_back(Step::TextDelta {
                            item_id: item_id.clone(),
                            output_index,
                            delta: w,
                        });
                    }
                    steps.push_back(Step::TextDone {
                        item_id: item_id.clone(),
                        output_index,
                    });
                    steps.push_back(Step::PartDone {
                        item_id: item_id.clone(),
                        output_index,
                    });
                    steps.push_back(Step::ItemDone {
                        item_id,
                        output_index,
                    });
                }
                ResponsePart::Audio { pcm, transcript } => {
                    let item_id = self.ids.next("item");
                    steps.push_back(Step::ItemAdded {
                        item: assistant_item(&item_id),
                        output_index,
                    });
                    let part = Part::Audio {
                        audio_bytes: 0,
                        transcript: String::new(),
                    };
                    steps.push_back(Step::PartAdded {
                        item_id: item_id.clone(),
                        output_index,
                        part,
                    });
                    let chunks: Vec<&[u8]> = pcm.chunks(chunk).collect();
                    let ws = words(&transcript);
                    let n = chunks.len().max(1);
                    let mut wi = 0;
                    for (ci, c) in chunks.iter().enumerate() {
                        while wi < ws.len() && wi * n / ws.len().max(1) <= ci {
                            steps.push_back(Step::TranscriptDelta {
                                item_id: item_id.clone(),
                                output_index,
                                delta: ws[wi].clone(),
                            });
                            wi += 1;
                        }
                        steps.push_back(Step::AudioDelta {
                            item_id: item_id.clone(),
                            output_index,
                            pcm: c.to_vec(),
                        });
                    }
                    for w in &ws[wi..] {
                        steps.push_back(Step::TranscriptDelta {
                            item_id: item_id.clone(),
                            output_index,
                            delta: w.clone(),
                        });
                    }
                    steps.push_back(Step::AudioDone {
                        item_id: item_id.clone(),
                        output_index,
                    });
                    steps.push_back(Step::TranscriptDone {
                        item_id: item_id.clone(),
                        output_index,
                    });
                    steps.push_back(Step::PartDone {
                        item_id: item_id.clone(),
                        output_index,
                    });
                    steps.push_back(Step::ItemDone {
                        item_id,
                        output_index,
                    });
                }
                ResponsePart::FunctionCall {
                    name,
                    arguments,
                    call_id,
                } => {
                    let item_id = self.ids.next("item");
                    let call_id = call_id.unwrap_or_else(|| self.ids.next("call"));
                    let item = Item {
                        id: item_id.clone(),
                        kind: ItemKind::FunctionCall {
                            call_id: call_id.clone(),
                            name,
                            arguments: String::new(),
                        },
                        status: "in_progress",
                    };
                    steps.push_back(Step::ItemAdded { item, output_index });
                    for d in split_chunks(&arguments, 16) {
                        steps.push_back(Step::ArgsDelta {
                            item_id: item_id.clone(),
                            output_index,
                            call_id: call_id.clone(),
                            delta: d,
                        });
                    }
                    steps.push_back(Step::ArgsDone {
                        item_id: item_id.clone(),
                        output_index,
                        call_id,
                    });
                    steps.push_back(Step::ItemDone {
                        item_id,
                        output_index,
                    });
                }
                ResponsePart::Error { code, message } => {
                    steps.push_back(Step::Error { code, message })
                }
            }
        }
        steps.push_back(Step::Done);
        steps
    }

    fn item_mut(&mut self, id: &str) -> Option<&mut Item> {
        self.conversation.iter_mut().find(|i| i.id == id)
    }

    fn item_json(&self, id: &str) -> Value {
        self.index_of(id)
            .map(|i| self.conversation[i].to_json(self.dialect))
            .unwrap_or(Value::Null)
    }

    fn last_part(&self, id: &str) -> Option<Part> {
        match &self.conversation.get(self.index_of(id)?)?.kind {
            ItemKind::Message { content, .. } => content.last().cloned(),
            _ => None,
        }
    }

    fn name(&self, ga_name: &'static str, beta_name: &'static str) -> &'static str {
        if self.ga() {
            ga_name
        } else {
            beta_name
        }
    }

    /// Runs the next step of the active response.
    async fn step(&mut self, sink: &mut Sink) -> End {
        let Some(active) = self.active.as_mut() else {
            return End::Continue;
        };
        let Some(step) = active.steps.pop_front() else {
            self.active = None;
            return End::Continue;
        };
        let rid = active.id.clone();
        match step {
            Step::Created => {
                let resp = self.response_json(&rid, "in_progress", None);
                self.send(sink, json!({"type": "response.created", "response": resp}))
                    .await
            }
            Step::ItemAdded { item, output_index } => {
                let id = item.id.clone();
                if let Some(a) = self.active.as_mut() {
                    a.output.push(id.clone());
                }
                let prev = self.insert(item, None).unwrap_or_default();
                let item = self.item_json(&id);
                let end = self.send(sink, json!({"type": "response.output_item.added", "response_id": rid, "output_index": output_index, "item": item})).await;
                if !matches!(end, End::Continue) {
                    return end;
                }
                let kind = self.name("conversation.item.added", "conversation.item.created");
                self.send(
                    sink,
                    json!({"type": kind, "previous_item_id": prev, "item": item}),
                )
                .await
            }
            Step::PartAdded {
                item_id,
                output_index,
                part,
            } => {
                let content_index = match self.item_mut(&item_id).map(|i| &mut i.kind) {
                    Some(ItemKind::Message { content, .. }) => {
                        content.push(part.clone());
                        content.len() - 1
                    }
                    _ => 0,
                };
                self.sync_conversation();
                let ev = json!({"type": "response.content_part.added", "response_id": rid, "item_id": item_id, "output_index": output_index, "content_index": content_index, "part": event_part_json(&part)});
                self.send(sink, ev).await
            }
            Step::TextDelta {
                item_id,
                output_index,
                delta,
            } => {
                if let Some(ItemKind::Message { content, .. }) =
                    self.item_mut(&item_id).map(|i| &mut i.kind)
                {
                    if let Some(Part::Text(t)) = content.last_mut() {
                        t.push_str(&delta);
                    }
                }
                self.sync_conversation();
                let kind = self.name("response.output_text.delta", "response.text.delta");
                self.send(sink, json!({"type": kind, "response_id": rid, "item_id": item_id, "output_index": output_index, "content_index": 0, "delta": delta})).await
            }
            Step::TextDone {
                item_id,
                output_index,
            } => {
                let text = match self.last_part(&item_id) {
                    Some(Part::Text(t)) => t,
                    _ => String::new(),
                };
                let kind = self.name("response.output_text.done", "response.text.done");
                self.send(sink, json!({"type": kind, "response_id": rid, "item_id": item_id, "output_index": output_index, "content_index": 0, "text": text})).await
            }
            Step::AudioDelta {
                item_id,
                output_index,
                pcm,
            } => {
                if let Some(ItemKind::Message { content, .. }) =
                    self.item_mut(&item_id).map(|i| &mut i.kind)
                {
                    if let Some(Part::Audio { audio_bytes, .. }) = content.last_mut() {
                        *audio_bytes += pcm.len();
                    }
                }
                if let Some(a) = self.active.as_mut() {
                    a.audio_ms += pcm.len() as f64 / 48.0;
                }
                self.sync_conversation();
                let kind = self.name("response.output_audio.delta", "response.audio.delta");
                let delta = realtime_protocol::audio::encode_base64(&pcm);
                self.send(sink, json!({"type": kind, "response_id": rid, "item_id": item_id, "output_index": output_index, "content_index": 0, "delta": delta})).await
            }
            Step::TranscriptDelta {
                item_id,
                output_index,
                delta,
            } => {
                if let Some(ItemKind::Message { content, .. }) =
                    self.item_mut(&item_id).map(|i| &mut i.kind)
                {
                    if let Some(Part::Audio { transcript, .. }) = content.last_mut() {
                        transcript.push_str(&delta);
                    }
                }
                self.sync_conversation();
                let kind = self.name(
                    "response.output_audio_transcript.delta",
                    "response.audio_transcript.delta",
                );
                self.send(sink, json!({"type": kind, "response_id": rid, "item_id": item_id, "output_index": output_index, "content_index": 0, "delta": delta})).await
            }
            Step::AudioDone {
                item_id,
                output_index,
            } => {
                let kind = self.name("response.output_audio.done", "response.audio.done");
                self.send(sink, json!({"type": kind, "response_id": rid, "item_id": item_id, "output_index": output_index, "content_index": 0})).await
            }
            Step::TranscriptDone {
                item_id,
                output_index,
            } => {
                let transcript = match self.last_part(&item_id) {
                    Some(Part::Audio { transcript, .. }) => transcript,
                    _ => String::new(),
                };
                let kind = self.name(
                    "response.output_audio_transcript.done",
                    "response.audio_transcript.done",
                );
                self.send(sink, json!({"type": kind, "response_id": rid, "item_id": item_id, "output_index": output_index, "content_index": 0, "transcript": transcript})).await
            }
            Step::PartDone {
                item_id,
                output_index,
            } => {
                let part = self
                    .last_part(&item_id)
                    .map(|p| event_part_json(&p))
                    .unwrap_or(Value::Null);
                self.send(sink, json!({"type": "response.content_part.done", "response_id": rid, "item_id": item_id, "output_index": output_index, "content_index": 0, "part": part})).await
            }
            Step::ArgsDelta {
                item_id,
                output_index,
                call_id,
                delta,
            } => {
                if let Some(ItemKind::FunctionCall { arguments, .. }) =
                    self.item_mut(&item_id).map(|i| &mut i.kind)
                {
                    arguments.push_str(&delta);
                }
                self.sync_conversation();
                self.send(sink, json!({"type": "response.function_call_arguments.delta", "response_id": rid, "item_id": item_id, "output_index": output_index, "call_id": call_id, "delta": delta})).await
            }
            Step::ArgsDone {
                item_id,
                output_index,
                call_id,
            } => {
                let (name, arguments) =
                    match self.index_of(&item_id).map(|i| &self.conversation[i].kind) {
                        Some(ItemKind::FunctionCall {
                            name, arguments, ..
                        }) => (name.clone(), arguments.clone()),
                        _ => (String::new(), String::new()),
                    };
                let mut ev = json!({"type": "response.function_call_arguments.done", "response_id": rid, "item_id": item_id, "output_index": output_index, "call_id": call_id, "arguments": arguments});
                if self.ga() {
                    ev["name"] = json!(name);
                }
                self.send(sink, ev).await
            }
            Step::ItemDone {
                item_id,
                output_index,
            } => {
                self.finish_item(sink, &rid, &item_id, output_index, "completed")
                    .await
            }
            Step::Error { code, message } => {
                if let Some(a) = self.active.as_mut() {
                    a.status = "failed";
                }
                self.send_error(sink, "server_error", Some(&code), &message, None, None)
                    .await
            }
            Step::Done => self.finish_response(sink, None).await,
        }
    }

    async fn finish_item(
        &mut self,
        sink: &mut Sink,
        rid: &str,
        item_id: &str,
        output_index: usize,
        status: &'static str,
    ) -> End {
        if let Some(item) = self.item_mut(item_id) {
            item.status = status;
        }
        self.sync_conversation();
        let item = self.item_json(item_id);
        let end = self.send(sink, json!({"type": "response.output_item.done", "response_id": rid, "output_index": output_index, "item": item})).await;
        if !matches!(end, End::Continue) || !self.ga() {
            return end;
        }
        let prev = self
            .index_of(item_id)
            .and_then(|i| i.checked_sub(1))
            .map(|i| self.conversation[i].id.clone());
        self.send(
            sink,
            json!({"type": "conversation.item.done", "previous_item_id": prev, "item": item}),
        )
        .await
    }

    async fn cancel_active(&mut self, sink: &mut Sink, reason: &'static str) -> End {
        let Some(active) = self.active.as_mut() else {
            return End::Continue;
        };
        active.status = "cancelled";
        let created_sent = !matches!(active.steps.front(), Some(Step::Created));
        active.steps.clear();
        let rid = active.id.clone();
        let unfinished: Vec<(usize, String)> = active
            .output
            .iter()
            .enumerate()
            .filter(|(_, id)| {
                self.conversation
                    .iter()
                    .any(|i| i.id == **id && i.status == "in_progress")
            })
            .map(|(n, id)| (n, id.clone()))
            .collect();
        if !created_sent {
            self.active = None;
            return End::Continue;
        }
        for (output_index, id) in unfinished {
            let end = self
                .finish_item(sink, &rid, &id, output_index, "incomplete")
                .await;
            if !matches!(end, End::Continue) {
                return end;
            }
        }
        self.finish_response(sink, Some(reason)).await
    }

    fn response_json(&self, rid: &str, status: &str, reason: Option<&str>) -> Value {
        let active = self.active.as_ref();
        let output: Vec<Value> = active
            .map(|a| a.output.iter().map(|id| self.item_json(id)).collect())
            .unwrap_or_default();
        let audio = active.is_some_and(|a| a.output_audio);
        let status_details = match (status, reason) {
            ("cancelled", Some(r)) => json!({"type": "cancelled", "reason": r}),
            ("failed", _) => {
                json!({"type": "failed", "error": {"type": "server_error", "code": "server_error"}})
            }
            _ => Value::Null,
        };
        let mut r = json!({
            "object": "realtime.response",
            "id": rid,
            "status": status,
            "status_details": status_details,
            "output": output,
            "conversation_id": "conv_fake",
            "max_output_tokens": "inf",
            "usage": null,
            "metadata": null,
        });
        if self.ga() {
            r["output_modalities"] = json!(if audio { vec!["audio"] } else { vec!["text"] });
            r["audio"] = json!({"output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": self.session.pointer("/audio/output/voice").cloned().unwrap_or(json!("marin"))}});
        } else {
            r["modalities"] = json!(if audio {
                vec!["text", "audio"]
            } else {
                vec!["text"]
            });
            r["voice"] = self.session.get("voice").cloned().unwrap_or(json!("alloy"));
            r["output_audio_format"] = json!("pcm16");
        }
        if status != "in_progress" {
            r["usage"] = self.usage(&output);
        }
        r
    }

    /// Deterministic token counts: 1 token per 4 characters of text, 1 per 50 ms of audio.
    fn usage(&self, output: &[Value]) -> Value {
        let input_text: usize = self
            .conversation
            .iter()
            .filter_map(Item::text)
            .map(|t| t.len())
            .sum::<usize>()
            / 4
            + 20;
        let (mut out_text, mut out_audio) = (0usize, 0usize);
        for id in self.active.iter().flat_map(|a| a.output.iter()) {
            if let Some(i) = self.index_of(id) {
                out_text += self.conversation[i].text().map_or(0, |t| t.len() / 4 + 1);
                out_audio += self.conversation[i].audio_bytes(0).unwrap_or(0) / 2_400;
            }
        }
        let _ = output;
        let input = input_text;
        let output_tokens = out_text + out_audio;
        json!({
            "total_tokens": input + output_tokens,
            "input_tokens": input,
            "output_tokens": output_tokens,
            "input_token_details": {"text_tokens": input, "audio_tokens": 0, "cached_tokens": 0},
            "output_token_details": {"text_tokens": out_text, "audio_tokens": out_audio},
        })
    }

    async fn finish_response(&mut self, sink: &mut Sink, reason: Option<&str>) -> End {
        let Some(active) = self.active.as_ref() else {
            return End::Continue;
        };
        let (rid, status) = (active.id.clone(), active.status);
        let resp = self.response_json(&rid, status, reason);
        self.active = None;
        let end = self
            .send(sink, json!({"type": "response.done", "response": resp}))
            .await;
        if !matches!(end, End::Continue) || !self.config.rate_limit_events {
            return end;
        }
        let ev = json!({"type": "rate_limits.updated", "rate_limits": [
            {"name": "requests", "limit": 10000, "remaining": 9999, "reset_seconds": 0.006},
            {"name": "tokens", "limit": 2000000, "remaining": 1998000, "reset_seconds": 0.06},
        ]});
        self.send(sink, ev).await
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) if at > Instant::now() => tokio::time::sleep_until(at).await,
        Some(_) => tokio::task::yield_now().await,
        None => std::future::pending().await,
    }
}

fn assistant_item(id: &str) -> Item {
    Item {
        id: id.to_owned(),
        kind: ItemKind::Message {
            role: Role::Assistant,
            content: Vec::new(),
        },
        status: "in_progress",
    }
}

/// Splits text into word deltas that concatenate back to it ("Hello", " world").
fn words(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        if c.is_whitespace() && !cur.trim().is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn split_chunks(s: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    if chars.is_empty() {
        return vec![String::new()];
    }
    chars.chunks(n.max(1)).map(|c| c.iter().collect()).collect()
}

/// Merges a session update into the session: objects merge recursively in GA (nested
/// `audio.input`…), everything else is replaced.
fn merge(session: &mut Value, update: &Value, deep: bool) {
    let (Some(s), Some(u)) = (session.as_object_mut(), update.as_object()) else {
        return;
    };
    for (k, v) in u {
        match (s.get_mut(k), v) {
            (Some(existing @ Value::Object(_)), Value::Object(_))
                if deep && k != "turn_detection" && k != "format" =>
            {
                merge(existing, v, deep)
            }
            _ => {
                s.insert(k.clone(), v.clone());
            }
        }
    }
}

fn default_session(dialect: Dialect, ids: &mut IdGen, now: i64) -> Value {
    let id = ids.next("sess");
    match dialect {
        Dialect::Beta => json!({
            "id": id,
            "object": "realtime.session",
            "model": "gpt-4o-realtime-preview",
            "modalities": ["text", "audio"],
            "instructions": "",
            "voice": "alloy",
            "input_audio_format": "pcm16",
            "output_audio_format": "pcm16",
            "input_audio_transcription": null,
            "turn_detection": {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 200, "create_response": true, "interrupt_response": true},
            "input_audio_noise_reduction": null,
            "tools": [],
            "tool_choice": "auto",
            "temperature": 0.8,
            "max_response_output_tokens": "inf",
            "speed": 1.0,
            "tracing": null,
        }),
        _ => json!({
            "type": "realtime",
            "object": "realtime.session",
            "id": id,
            "model": "gpt-realtime",
            "output_modalities": ["audio"],
            "instructions": "",
            "tools": [],
            "tool_choice": "auto",
            "max_output_tokens": "inf",
            "tracing": null,
            "prompt": null,
            "expires_at": now + 3600,
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "transcription": null,
                    "noise_reduction": null,
                    "turn_detection": {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 200, "idle_timeout_ms": null, "create_response": true, "interrupt_response": true},
                },
                "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin", "speed": 1.0},
            },
            "include": null,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_concatenate_back() {
        for s in [
            "Hello world",
            "  leading",
            "trailing  ",
            "one",
            "",
            "a  b\tc\nd",
        ] {
            assert_eq!(words(s).concat(), s);
        }
        assert_eq!(words("Hello big world"), ["Hello", " big", " world"]);
    }

    #[test]
    fn ga_merge_is_deep_but_replaces_turn_detection() {
        let mut s = json!({"audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 0.5}, "format": {"type": "audio/pcm"}}}});
        merge(
            &mut s,
            &json!({"audio": {"input": {"turn_detection": {"type": "semantic_vad"}}}}),
            true,
        );
        assert_eq!(
            s,
            json!({"audio": {"input": {"turn_detection": {"type": "semantic_vad"}, "format": {"type": "audio/pcm"}}}})
        );
        merge(
            &mut s,
            &json!({"audio": {"input": {"turn_detection": null}}}),
            true,
        );
        assert_eq!(s["audio"]["input"]["turn_detection"], Value::Null);
    }
}
