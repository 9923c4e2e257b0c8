//! One fake connection: the service's state for one socket and the loop that answers client
//! events. Its jobs live in rooms beside it: the handle tests hold ([`handle`]), the session
//! ([`session`]), conversation items ([`items`]), the input audio buffer ([`input_audio`]),
//! response streaming ([`streaming`]) and fault injection ([`faults`]).

mod faults;
mod handle;
mod input_audio;
mod items;
mod mcp;
mod session;
mod streaming;

pub use handle::{ConnectionHandle, HandshakeInfo, ReceivedEvent};
pub(crate) use session::{initial_session, merge_session};

use crate::config::{FakeServerConfig, Fault, Pacing, Validation};
use crate::ids::IdGen;
use crate::model::Item;
use crate::vad::{Encoding, Vad};
use crate::{validate, wire};
use futures_util::{SinkExt, StreamExt};
use handle::{Command, Parsed, Shared};
use realtime_protocol::{beta, ga, Dialect};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use streaming::{ActiveResponse, Step};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
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

pub(crate) fn new(
    serial: u64,
    info: HandshakeInfo,
    config: Arc<FakeServerConfig>,
    initial: Option<Value>,
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
    let transcription = info.intent.as_deref() == Some("transcription");
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
        idle_since: None,
        fired: Vec::new(),
        vad: Vad::new(Encoding::Pcm16 { rate: 24_000 }),
        audio_turns: 0,
        mcp_listed: Vec::new(),
        transcription,
        initial,
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
    /// Where (in the appended audio, ms) the user's current silence with no response
    /// running began: the idle timeout counts from it.
    idle_since: Option<u64>,
    /// Server VAD over the appended audio.
    vad: Vad,
    /// User audio turns committed so far.
    audio_turns: usize,
    /// The session a minted key or an accepted call starts with, over the defaults.
    initial: Option<Value>,
    /// Indices of the configured faults that already fired.
    fired: Vec<usize>,
    /// The MCP servers whose tools were listed on this connection.
    mcp_listed: Vec<String>,
    /// A transcription session (`?intent=transcription`): no responses, transcripts streamed.
    transcription: bool,
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
        let now = self.config.clock.now();
        self.session = if self.transcription {
            session::transcription_session(self.dialect, &mut self.ids)
        } else {
            session::initial_session(self.dialect, &mut self.ids, now, self.initial.take())
        };
        let encoding = self.input_encoding();
        self.vad.set_encoding(encoding);
        self.sync_session();
        let created_type = if self.transcription && !self.ga() {
            "transcription_session.created"
        } else {
            "session.created"
        };
        let created = json!({"type": created_type, "session": self.session.clone()});
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
            o.insert("event_id".into(), json!(self.ids.next("event")));
        }
        let text = wire::server_event(self.dialect, &event);
        self.send_text(sink, text).await
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

    async fn on_command(&mut self, sink: &mut Sink, c: Command) -> End {
        match c {
            Command::Send(text) => self.send_text(sink, text).await,
            Command::SendBinary(bytes) => match sink.send(Message::Binary(bytes.into())).await {
                Ok(()) => End::Continue,
                Err(_) => End::Drop,
            },
            Command::SendEvent(event) => {
                let text = wire::server_event(self.dialect, &event);
                self.send_text(sink, text).await
            }
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
        if self.config.validation == Validation::Strict {
            if let Some(v) = validate::client_event(self.dialect, &raw) {
                self.record(ReceivedEvent {
                    raw: text.to_owned(),
                    parsed: Parsed::Invalid {
                        event_type: kind,
                        error: v.message.clone(),
                    },
                });
                return self
                    .send_error(
                        sink,
                        "invalid_request_error",
                        Some(v.code),
                        &v.message,
                        Some(&v.param),
                        client_event_id,
                    )
                    .await;
            }
        }
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
                .invalid_value(sink, &msg, "type", client_event_id)
                .await;
        }
        let eid = client_event_id;
        match kind.as_str() {
            "session.update" => self.on_session_update(sink, &raw, eid).await,
            "transcription_session.update" => {
                self.on_transcription_session_update(sink, &raw, eid).await
            }
            "conversation.item.create" => self.on_item_create(sink, &raw, eid).await,
            "conversation.item.retrieve" => self.on_item_retrieve(sink, &raw, eid).await,
            "conversation.item.delete" => self.on_item_delete(sink, &raw, eid).await,
            "conversation.item.truncate" => self.on_item_truncate(sink, &raw, eid).await,
            "input_audio_buffer.append" => self.on_audio_append(sink, &raw, eid).await,
            "input_audio_buffer.commit" => self.on_audio_commit(sink, eid, None).await,
            "input_audio_buffer.clear" => {
                self.input_audio.clear();
                self.vad.reset_speech();
                self.send(sink, json!({"type": "input_audio_buffer.cleared"})).await
            }
            "output_audio_buffer.clear" => self.send(sink, json!({"type": "output_audio_buffer.cleared", "response_id": self.active.as_ref().map(|a| a.id.clone())})).await,
            "response.create" | "response.cancel" if self.transcription => {
                let msg = "Responses are not available in a transcription session.";
                self.invalid_value(sink, msg, "type", eid).await
            }
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

    /// An `invalid_request_error` with code `invalid_value` about `param`.
    async fn invalid_value(
        &mut self,
        sink: &mut Sink,
        message: &str,
        param: &str,
        client_event_id: Option<String>,
    ) -> End {
        self.send_error(
            sink,
            "invalid_request_error",
            Some("invalid_value"),
            message,
            Some(param),
            client_event_id,
        )
        .await
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

    fn name(&self, ga_name: &'static str, beta_name: &'static str) -> &'static str {
        if self.ga() {
            ga_name
        } else {
            beta_name
        }
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) if at > Instant::now() => tokio::time::sleep_until(at).await,
        Some(_) => tokio::task::yield_now().await,
        None => std::future::pending().await,
    }
}
