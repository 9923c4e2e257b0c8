//! [`OpenAIRealtimeModel`]: the [`RealtimeModel`] over the WebSocket transport, in either
//! dialect. Every dialect difference (event names, session shape, content part names, the
//! beta header) is confined to this module and its `ga` / `beta` adapters.

mod beta;
mod delta_scan;
mod ga;
mod lean;
mod lean_items;
mod mcp;
mod record;
mod transcription;
mod wire_text;

pub use record::{AudioPayloads, Recording};

use crate::error::RunnerError;
use crate::model::{
    ModelConnectOptions, ModelConnection, ModelEvent, ModelInput, ModelSender, RealtimeModel,
};
use async_trait::async_trait;
use futures_util::Stream;
use realtime_protocol::{Dialect, Protocol};
use realtime_transport::{
    Auth, ConnectionBuilder, EventReceiver, EventSender, Proxy, RealtimeConnection, TlsBackend,
};
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// Converts the server events both dialects spell alike (the same variants with the same
/// fields, or variants passed in by name), plus the dialect's own `$extra` arms. Paths resolve
/// where the macro is used, so `ServerEvent` and `item_from_wire` are the calling dialect's.
macro_rules! decode_server_event {
    (
        $event:expr, $out:expr,
        audio: $audio:ident, audio_done: $audio_done:ident,
        transcript: $transcript:ident, text: $text:ident,
        { $($extra:tt)* }
    ) => {
        match $event {
            $($extra)*
            ServerEvent::$audio(d) => {
                    match realtime_protocol::audio::decode_base64(&d.delta) {
                        Ok(pcm) => $out.push_back(ModelEvent::AudioDelta {
                            response_id: d.response_id,
                            item_id: d.item_id,
                            content_index: index(d.content_index),
                            pcm,
                        }),
                        Err(e) => $out.push_back(ModelEvent::DecodeError {
                            message: format!("audio delta: {e}"),
                            raw: None,
                        }),
                    }
                }
                ServerEvent::$transcript(d) => {
                    $out.push_back(ModelEvent::TranscriptDelta {
                        response_id: d.response_id,
                        item_id: d.item_id,
                        content_index: index(d.content_index),
                        delta: d.delta,
                    })
                }
                ServerEvent::$text(d) => $out.push_back(ModelEvent::TextDelta {
                    response_id: d.response_id,
                    item_id: d.item_id,
                    content_index: index(d.content_index),
                    delta: d.delta,
                }),
                ServerEvent::$audio_done(d) => $out.push_back(ModelEvent::AudioDone {
                    item_id: d.item_id,
                    content_index: index(d.content_index),
                }),
                ServerEvent::ResponseCreated(r) => $out.push_back(ModelEvent::ResponseCreated {
                    response_id: r.response.id.clone().unwrap_or_default(),
                }),
                ServerEvent::ResponseDone(r) => {
                    let resp = r.response;
                    $out.push_back(ModelEvent::ResponseDone {
                        response_id: resp.id.unwrap_or_default(),
                        status: resp
                            .status
                            .map(|s| s.as_str().to_owned())
                            .unwrap_or_else(|| "completed".into()),
                        usage: resp.usage.map(|u| usage(&u)),
                    });
                }
                ServerEvent::ResponseOutputItemAdded(e) => $out.push_back(ModelEvent::ItemUpdated {
                    item: item_from_wire(e.item),
                    previous_item_id: None,
                }),
                ServerEvent::ResponseOutputItemDone(e) => {
                    let item = item_from_wire(e.item);
                    let call = super::call_of(&item, e.response_id);
                    $out.push_back(ModelEvent::ItemUpdated {
                        item,
                        previous_item_id: None,
                    });
                    $out.extend(call);
                }
                ServerEvent::ConversationItemCreated(e) => $out.push_back(ModelEvent::ItemUpdated {
                    item: item_from_wire(e.item),
                    previous_item_id: e.previous_item_id,
                }),
                ServerEvent::ConversationItemRetrieved(e) => $out.push_back(ModelEvent::ItemUpdated {
                    item: item_from_wire(e.item),
                    previous_item_id: None,
                }),
                ServerEvent::ConversationItemDeleted(e) => {
                    $out.push_back(ModelEvent::ItemDeleted { item_id: e.item_id })
                }
                ServerEvent::ConversationItemTruncated(e) => $out.push_back(ModelEvent::ItemTruncated {
                    item_id: e.item_id,
                    content_index: index(e.content_index),
                    audio_end_ms: ms(e.audio_end_ms),
                }),
                ServerEvent::ConversationItemInputAudioTranscriptionDelta(e) => {
                    if let Some(delta) = e.delta {
                        $out.push_back(ModelEvent::InputTranscriptDelta {
                            item_id: e.item_id,
                            delta,
                        });
                    }
                }
                ServerEvent::ConversationItemInputAudioTranscriptionCompleted(e) => {
                    $out.push_back(ModelEvent::InputTranscriptCompleted {
                        item_id: e.item_id,
                        content_index: index(e.content_index),
                        transcript: e.transcript,
                    })
                }
                ServerEvent::ConversationItemInputAudioTranscriptionFailed(e) => {
                    $out.push_back(ModelEvent::Error(ServerError {
                        kind: e
                            .error
                            .r#type
                            .clone()
                            .unwrap_or_else(|| "transcription_error".into()),
                        code: e.error.code.clone(),
                        message: e
                            .error
                            .message
                            .clone()
                            .unwrap_or_else(|| "input audio transcription failed".into()),
                        param: e.error.param.clone(),
                        event_id: None,
                    }))
                }
                ServerEvent::InputAudioBufferSpeechStarted(e) => {
                    $out.push_back(ModelEvent::SpeechStarted {
                        item_id: e.item_id,
                        audio_start_ms: ms(e.audio_start_ms),
                    })
                }
                ServerEvent::InputAudioBufferSpeechStopped(e) => {
                    $out.push_back(ModelEvent::SpeechStopped { item_id: e.item_id })
                }
                ServerEvent::SessionUpdated(_) => $out.push_back(ModelEvent::SessionUpdated),
                ServerEvent::Error(e) => $out.push_back(ModelEvent::Error(ServerError {
                    kind: e.error.r#type,
                    code: e.error.code,
                    message: e.error.message,
                    param: e.error.param,
                    event_id: e.error.event_id.map(|id| id.into_string()),
                })),
            _ => {}
        }
    };
}

pub(crate) use decode_server_event;

/// A `session.update` to send: typed, or as JSON text when raw `extra` fields are merged
/// into its `session` object (either dialect).
pub(crate) fn session_update<E: serde::Serialize>(
    event: E,
    extra: Option<&serde_json::Map<String, serde_json::Value>>,
) -> Result<Encoded<E>, RunnerError> {
    match extra {
        Some(extra) if !extra.is_empty() => Ok(Encoded::Text(with_extra(&event, extra)?)),
        _ => Ok(Encoded::Event(event)),
    }
}

/// `event` (a `session.update`) as JSON text with `extra` merged into its `session` object.
fn with_extra<E: serde::Serialize>(
    event: &E,
    extra: &serde_json::Map<String, serde_json::Value>,
) -> Result<String, RunnerError> {
    let mut value = serde_json::to_value(event).map_err(|e| RunnerError::Model {
        message: format!("cannot encode session.update: {e}"),
    })?;
    if let Some(session) = value.get_mut("session").and_then(|s| s.as_object_mut()) {
        session.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    Ok(value.to_string())
}

/// An audio or transcript delta's fields, borrowed from the frame: no copy of the payload.
#[derive(serde::Deserialize)]
struct DeltaRef<'a> {
    #[serde(borrow)]
    response_id: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    item_id: std::borrow::Cow<'a, str>,
    content_index: i64,
    #[serde(borrow)]
    delta: std::borrow::Cow<'a, str>,
    // Required by the schema, with their types: a frame without them (or with another type)
    // takes the full path and gets its error.
    #[allow(dead_code)]
    #[serde(borrow)]
    event_id: std::borrow::Cow<'a, str>,
    #[allow(dead_code)]
    output_index: i64,
}

/// The ids of the latest delta: the deltas of one item come in a row, and each shares these
/// instead of allocating its own.
#[derive(Default)]
struct LastIds {
    response: Option<realtime_protocol::ResponseId>,
    item: Option<realtime_protocol::ItemId>,
}

fn shared<T: Clone + PartialEq<str> + for<'a> From<&'a str>>(last: &mut Option<T>, id: &str) -> T {
    match last {
        Some(known) if *known == *id => known.clone(),
        _ => last.insert(T::from(id)).clone(),
    }
}

/// For the tests: the audio or transcript delta event [`fast`] makes of `text`; `None` for
/// anything else.
#[cfg(test)]
fn fast_delta<P: Adapter>(text: &str, last: &mut LastIds) -> Option<ModelEvent> {
    match fast::<P>(text, last) {
        lean::Lean::Event(ev)
            if matches!(
                ev,
                ModelEvent::AudioDelta { .. } | ModelEvent::TranscriptDelta { .. }
            ) =>
        {
            Some(ev)
        }
        _ => None,
    }
}

/// The fast paths, without the typed event: audio and transcript deltas (most of a
/// response's traffic) decoded straight from the frame, then the lean decode of the other
/// frequent events (`lean.rs`). [`lean::Lean::Full`] for anything else, or anything unusual
/// (the full decode then reports it).
fn fast<P: Adapter>(text: &str, last: &mut LastIds) -> lean::Lean {
    use lean::Lean;
    let is_delta = |kind: &str| match kind {
        k if k == P::AUDIO_DELTA => Some(true),
        k if k == P::TRANSCRIPT_DELTA => Some(false),
        _ => None,
    };
    let event = |ev: Option<ModelEvent>| ev.map_or(Lean::Full, Lean::Event);
    // The plain form the service sends is scanned, its type with it; anything else goes
    // through serde.
    if let Some(d) = delta_scan::scan(text) {
        let Some(audio) = is_delta(d.kind) else {
            return lean::decode::<P>(d.kind, text);
        };
        if !audio && !delta_scan::plain(d.delta) {
            return Lean::Full;
        }
        let delta = std::borrow::Cow::Borrowed(d.delta);
        return event(delta_event(
            audio,
            d.response_id,
            d.item_id,
            d.content_index,
            delta,
            last,
        ));
    }
    let Ok(kind) = realtime_protocol::peek_event_type(text) else {
        return Lean::Full;
    };
    let Some(audio) = is_delta(&kind) else {
        return lean::decode::<P>(&kind, text);
    };
    let Ok(d) = serde_json::from_str::<DeltaRef<'_>>(text) else {
        return Lean::Full;
    };
    event(delta_event(
        audio,
        &d.response_id,
        &d.item_id,
        d.content_index,
        d.delta,
        last,
    ))
}

fn delta_event(
    audio: bool,
    response_id: &str,
    item_id: &str,
    content_index: i64,
    delta: std::borrow::Cow<'_, str>,
    last: &mut LastIds,
) -> Option<ModelEvent> {
    let pcm = if audio {
        Some(realtime_protocol::audio::decode_base64(&delta).ok()?)
    } else {
        None
    };
    let response_id = shared(&mut last.response, response_id);
    let item_id = shared(&mut last.item, item_id);
    let content_index = index(content_index);
    Some(match pcm {
        Some(pcm) => ModelEvent::AudioDelta {
            pcm,
            response_id,
            item_id,
            content_index,
        },
        None => ModelEvent::TranscriptDelta {
            delta: delta.into_owned(),
            response_id,
            item_id,
            content_index,
        },
    })
}

/// One dialect's conversions between the neutral model vocabulary and its wire events.
pub(crate) trait Adapter: Protocol {
    /// The wire type of assistant audio deltas.
    const AUDIO_DELTA: &'static str;
    /// The wire type of the deltas of the assistant's audio transcript.
    const TRANSCRIPT_DELTA: &'static str;
    /// The dialect's own wire types of the events [`Adapter::decode`] turns into nothing
    /// (without raw events), besides those both dialects spell alike (`lean::IGNORED_BOTH`):
    /// the lean decode only checks that they are JSON.
    const IGNORED: &'static [&'static str];
    /// Whether the item events are read lean (`lean_items.rs`): GA's, whose items are tagged
    /// unions with a costly nested decode. Beta's items are one flat struct already.
    const LEAN_ITEMS: bool;
    /// A response's usage object.
    type Usage: WireUsage + serde::de::DeserializeOwned;

    /// The wire events for one input. Audio appends are pre-encoded text for speed.
    ///
    /// # Errors
    /// [`RunnerError::Unsupported`] for an input the dialect cannot carry.
    fn encode(input: ModelInput) -> Result<Vec<Encoded<Self::ClientEvent>>, RunnerError>;

    /// The neutral events for one server event, appended to `out`.
    fn decode(event: Self::ServerEvent, out: &mut VecDeque<ModelEvent>, raw: bool);
}

/// An encoded input: a typed event, or JSON text built directly.
pub(crate) enum Encoded<E> {
    Event(E),
    Text(String),
}

/// The function call a finished output item asks for, if it is one.
pub(crate) fn call_of(
    item: &crate::history::HistoryItem,
    response_id: realtime_protocol::ResponseId,
) -> Option<ModelEvent> {
    match item {
        crate::history::HistoryItem::FunctionCall {
            item_id,
            call_id,
            name,
            arguments,
            ..
        } => Some(ModelEvent::FunctionCall {
            call_id: call_id.clone(),
            name: name.clone(),
            arguments: arguments.clone(),
            item_id: item_id.clone(),
            response_id: Some(response_id),
        }),
        _ => None,
    }
}

/// An error and its cause, in one line.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    match e.source() {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// The OpenAI Realtime API (or Azure, or a compatible server) as a [`RealtimeModel`].
///
/// GA by default; [`dialect`](Self::dialect) picks beta. The key comes from `OPENAI_API_KEY`
/// unless set.
#[derive(Clone, Debug)]
pub struct OpenAIRealtimeModel {
    dialect: Dialect,
    endpoint: Option<String>,
    auth: Auth,
    azure: Option<(String, String, Option<String>)>,
    azure_env: Option<(Option<String>, Option<String>)>,
    headers: Vec<(String, String)>,
    sip_call_id: Option<String>,
    keep_alive: Option<(Option<Duration>, Duration)>,
    read_buffer: Option<usize>,
    connect_timeout: Option<Duration>,
    max_message_size: Option<usize>,
    max_frame_size: Option<usize>,
    handshake_timeout: Option<Duration>,
    user_agent: Option<String>,
    tls: Option<TlsBackend>,
    root_certificates: Vec<Vec<u8>>,
    proxy: Option<Proxy>,
    recording: Option<(Recording, Arc<record::RecordingState>)>,
}

impl Default for OpenAIRealtimeModel {
    fn default() -> Self {
        Self::new()
    }
}

impl OpenAIRealtimeModel {
    /// OpenAI's endpoint, GA dialect, key from `OPENAI_API_KEY`.
    pub fn new() -> Self {
        Self {
            dialect: Dialect::Ga,
            endpoint: None,
            auth: Auth::FromEnv,
            azure: None,
            azure_env: None,
            headers: Vec::new(),
            sip_call_id: None,
            keep_alive: None,
            read_buffer: None,
            connect_timeout: None,
            max_message_size: None,
            max_frame_size: None,
            handshake_timeout: None,
            user_agent: None,
            tls: None,
            root_certificates: Vec::new(),
            proxy: None,
            recording: None,
        }
    }

    /// Records every frame of this model's connections, both directions, to a JSON-lines file
    /// that `realtime-testkit`'s replay plays back (see [`Recording`]). Clones of the model
    /// write to the same file. Off by default; it costs nothing when off.
    pub fn record(mut self, recording: Recording) -> Self {
        self.recording = Some((recording, Arc::default()));
        self
    }

    /// The dialect.
    pub fn dialect(mut self, dialect: Dialect) -> Self {
        self.dialect = dialect;
        self
    }

    /// The WebSocket endpoint, e.g. a local fake server's URL.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// How to authenticate.
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// Azure OpenAI (see [`ConnectionBuilder::azure`]).
    pub fn azure(
        mut self,
        resource: impl Into<String>,
        deployment: impl Into<String>,
        api_version: Option<&str>,
    ) -> Self {
        self.azure_env = None;
        self.azure = Some((
            resource.into(),
            deployment.into(),
            api_version.map(str::to_owned),
        ));
        self
    }

    /// Azure OpenAI from the environment: `AZURE_OPENAI_ENDPOINT`, `AZURE_OPENAI_API_KEY`, the
    /// deployment given or `AZURE_OPENAI_DEPLOYMENT` (see
    /// [`ConnectionBuilder::azure_from_env`]). Call [`Self::auth`] afterwards to authenticate
    /// otherwise (an Entra ID token as a bearer).
    pub fn azure_from_env(mut self, deployment: Option<&str>) -> Self {
        self.azure = None;
        self.azure_env = Some((deployment.map(str::to_owned), None));
        self.auth = Auth::AzureFromEnv;
        self
    }

    /// An extra request header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Attach to a SIP call instead of naming a model.
    pub fn sip_call_id(mut self, call_id: impl Into<String>) -> Self {
        self.sip_call_id = Some(call_id.into());
        self
    }

    /// Keep-alive ping interval (`None`: off) and pong timeout.
    pub fn keep_alive(mut self, interval: Option<Duration>, pong_timeout: Duration) -> Self {
        self.keep_alive = Some((interval, pong_timeout));
        self
    }

    /// The socket read buffer of each connection (see
    /// [`realtime_transport::DEFAULT_READ_BUFFER`]): larger reads fewer times under heavy
    /// traffic, smaller keeps many idle sessions cheaper.
    pub fn read_buffer(mut self, bytes: usize) -> Self {
        self.read_buffer = Some(bytes);
        self
    }

    /// Deadline for DNS and TCP.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Largest message accepted.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = Some(bytes);
        self
    }

    /// Largest frame accepted (see [`ConnectionBuilder::max_frame_size`]).
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = Some(bytes);
        self
    }

    /// Deadline for the TLS and WebSocket handshakes.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = Some(timeout);
        self
    }

    /// The `User-Agent` sent with the handshake.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = Some(user_agent.into());
        self
    }

    /// The TLS implementation (rustls by default; the platform's with the transport's
    /// `native-tls` feature).
    pub fn tls(mut self, backend: TlsBackend) -> Self {
        self.tls = Some(backend);
        self
    }

    /// Trusts an extra root certificate (DER), e.g. a TLS-inspecting proxy's.
    pub fn add_root_certificate(mut self, der: impl Into<Vec<u8>>) -> Self {
        self.root_certificates.push(der.into());
        self
    }

    /// How to reach the server (see [`Proxy`]): by default from `HTTPS_PROXY` / `NO_PROXY`.
    pub fn proxy(mut self, proxy: Proxy) -> Self {
        self.proxy = Some(proxy);
        self
    }

    /// The configured dialect.
    pub fn configured_dialect(&self) -> Dialect {
        self.dialect
    }

    fn builder<P: Protocol>(&self, options: &ModelConnectOptions) -> ConnectionBuilder<P> {
        let mut b = RealtimeConnection::<P>::builder().auth(self.auth.clone());
        if let Some(e) = &self.endpoint {
            b = b.endpoint(e);
        }
        if let Some(m) = &options.model {
            b = b.model(m);
        }
        if let Some((r, d, v)) = &self.azure {
            b = b.azure(r, d, v.as_deref());
        }
        if let Some((d, v)) = &self.azure_env {
            // `azure_from_env` also picks the env key; the model's auth is set after it.
            b = b
                .azure_from_env(d.as_deref(), v.as_deref())
                .auth(self.auth.clone());
        }
        for (k, v) in &self.headers {
            b = b.header(k, v);
        }
        if let Some(c) = options.sip_call_id.as_ref().or(self.sip_call_id.as_ref()) {
            b = b.sip_call_id(c);
        }
        if let Some((i, t)) = self.keep_alive {
            b = b.keep_alive(i, t);
        }
        if let Some(r) = self.read_buffer {
            b = b.read_buffer(r);
        }
        if let Some(t) = self.connect_timeout {
            b = b.connect_timeout(t);
        }
        if let Some(m) = self.max_message_size {
            b = b.max_message_size(m);
        }
        if let Some(m) = self.max_frame_size {
            b = b.max_frame_size(m);
        }
        if let Some(t) = self.handshake_timeout {
            b = b.handshake_timeout(t);
        }
        if let Some(ua) = &self.user_agent {
            b = b.user_agent(ua);
        }
        if let Some(tls) = self.tls {
            b = b.tls(tls);
        }
        for der in &self.root_certificates {
            b = b.add_root_certificate(der.clone());
        }
        if let Some(p) = &self.proxy {
            b = b.proxy(p.clone());
        }
        b
    }

    async fn connect_as<P: Adapter>(
        &self,
        options: ModelConnectOptions,
    ) -> Result<ModelConnection, RunnerError> {
        let (tx, rx) = self.builder::<P>(&options).connect().await?.split();
        let rec = match &self.recording {
            Some((recording, state)) => Some(Arc::new(
                state
                    .connection(recording, P::DIALECT)
                    .await
                    .map_err(|e| RunnerError::Model {
                        message: format!("cannot record to {}: {e}", recording.path.display()),
                    })?,
            )),
            None => None,
        };
        Ok(ModelConnection {
            sender: Arc::new(Sender {
                tx,
                rec: rec.clone(),
            }),
            events: Box::pin(Events::<P> {
                rx,
                last_ids: LastIds::default(),
                pending: VecDeque::new(),
                raw: options.raw_events,
                done: false,
                rec,
            }),
        })
    }
}

#[async_trait]
impl RealtimeModel for OpenAIRealtimeModel {
    async fn connect(&self, options: ModelConnectOptions) -> Result<ModelConnection, RunnerError> {
        match self.dialect {
            Dialect::Beta => self.connect_as::<realtime_protocol::Beta>(options).await,
            _ => self.connect_as::<realtime_protocol::Ga>(options).await,
        }
    }
}

struct Sender<P: Protocol> {
    tx: EventSender<P>,
    rec: Option<Arc<record::Recorder>>,
}

impl<P: Adapter> Sender<P> {
    async fn write_text(&self, text: String, flush: bool) -> Result<(), RunnerError> {
        if let Some(rec) = &self.rec {
            rec.client(&text);
        }
        if flush {
            Ok(self.tx.send_raw(text).await?)
        } else {
            Ok(self.tx.feed_raw(text).await?)
        }
    }

    async fn write(&self, input: ModelInput, flush: bool) -> Result<(), RunnerError> {
        if let ModelInput::Raw(text) = input {
            return self.write_text(text, flush).await;
        }
        if let Some(text) = wire_text::encode(&input) {
            return self.write_text(text, flush).await;
        }
        let events = P::encode(input)?;
        let last = events.len().saturating_sub(1);
        for (i, e) in events.into_iter().enumerate() {
            // An input of several events flushes once, after its last.
            let flush = flush && i == last;
            match e {
                // Encoded here only when recording; else on the transport's path as always.
                Encoded::Event(ev) if self.rec.is_some() => {
                    let text =
                        P::encode_client(&ev).map_err(|e| RunnerError::Transport(e.into()))?;
                    self.write_text(text, flush).await?;
                }
                Encoded::Event(ev) if flush => self.tx.send(&ev).await?,
                Encoded::Event(ev) => self.tx.feed(&ev).await?,
                Encoded::Text(t) => self.write_text(t, flush).await?,
            }
        }
        Ok(())
    }
}

#[async_trait]
impl<P: Adapter> ModelSender for Sender<P> {
    async fn send(&self, input: ModelInput) -> Result<(), RunnerError> {
        self.write(input, true).await
    }

    async fn feed(&self, input: ModelInput) -> Result<(), RunnerError> {
        self.write(input, false).await
    }

    fn flush(&self) {
        self.tx.flush();
    }

    async fn close(&self) {
        // The close handshake writes fed frames first.
        let _ = self.tx.close().await;
        if let Some(rec) = &self.rec {
            rec.end();
        }
    }
}

/// The model's events: the transport's typed stream, converted in place (no extra task).
struct Events<P: Protocol> {
    rx: EventReceiver<P>,
    last_ids: LastIds,
    pending: VecDeque<ModelEvent>,
    raw: bool,
    done: bool,
    rec: Option<Arc<record::Recorder>>,
}

impl<P: Adapter> Stream for Events<P> {
    type Item = ModelEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ModelEvent>> {
        let this = &mut *self;
        loop {
            if let Some(e) = this.pending.pop_front() {
                return Poll::Ready(Some(e));
            }
            if this.done {
                return Poll::Ready(None);
            }
            match this.rx.poll_next_raw(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(text))) => {
                    if let Some(rec) = &this.rec {
                        rec.server(text.as_str());
                    }
                    // Deltas, most of the traffic, and the other frequent events skip the
                    // typed event.
                    if !this.raw {
                        match fast::<P>(text.as_str(), &mut this.last_ids) {
                            lean::Lean::Event(ev) => return Poll::Ready(Some(ev)),
                            lean::Lean::Two(first, second) => {
                                this.pending.push_back(second);
                                return Poll::Ready(Some(first));
                            }
                            lean::Lean::Nothing => continue,
                            lean::Lean::Full => {}
                        }
                    }
                    match P::decode_server(text.as_str()) {
                        Ok(ev) => P::decode(ev, &mut this.pending, this.raw),
                        Err(e) => {
                            let message = match std::error::Error::source(&e) {
                                Some(cause) => {
                                    format!("failed to decode a server event: {e}: {cause}")
                                }
                                None => format!("failed to decode a server event: {e}"),
                            };
                            this.pending.push_back(ModelEvent::DecodeError {
                                message,
                                raw: e.raw().map(str::to_owned),
                            });
                        }
                    }
                }
                Poll::Ready(Some(Err(e))) if !e.is_fatal() => {
                    let raw = match &e {
                        realtime_transport::TransportError::Decode(p) => p.raw().map(str::to_owned),
                        _ => None,
                    };
                    let message = match std::error::Error::source(&e) {
                        Some(cause) => format!("{e}: {cause}"),
                        None => e.to_string(),
                    };
                    this.pending
                        .push_back(ModelEvent::DecodeError { message, raw });
                }
                Poll::Ready(Some(Err(e))) => {
                    this.done = true;
                    if let Some(rec) = &this.rec {
                        rec.end();
                    }
                    this.pending.push_back(ModelEvent::Closed(Some(Arc::new(
                        RunnerError::Transport(e),
                    ))));
                }
                Poll::Ready(None) => {
                    this.done = true;
                    if let Some(rec) = &this.rec {
                        rec.end();
                    }
                    this.pending.push_back(ModelEvent::Closed(None));
                }
            }
        }
    }
}

/// A response's usage object in either dialect (the same shape; GA's has image counts).
pub(crate) trait WireUsage {
    /// The counts; missing ones are zero. Once per response, field by field.
    fn usage(&self) -> crate::model::Usage;
}

/// A token count: missing or negative is zero.
fn count(n: Option<i64>) -> u64 {
    n.and_then(|n| u64::try_from(n).ok()).unwrap_or(0)
}

impl WireUsage for realtime_protocol::ga::ResponseUsage {
    fn usage(&self) -> crate::model::Usage {
        let input = self.input_token_details.as_ref();
        let cached = input.and_then(|i| i.cached_tokens_details.as_ref());
        let output = self.output_token_details.as_ref();
        crate::model::Usage {
            requests: 1,
            input_tokens: count(self.input_tokens),
            output_tokens: count(self.output_tokens),
            total_tokens: count(self.total_tokens),
            input_text_tokens: count(input.and_then(|i| i.text_tokens)),
            input_audio_tokens: count(input.and_then(|i| i.audio_tokens)),
            input_image_tokens: count(input.and_then(|i| i.image_tokens)),
            cached_tokens: count(input.and_then(|i| i.cached_tokens)),
            cached_text_tokens: count(cached.and_then(|c| c.text_tokens)),
            cached_audio_tokens: count(cached.and_then(|c| c.audio_tokens)),
            cached_image_tokens: count(cached.and_then(|c| c.image_tokens)),
            output_text_tokens: count(output.and_then(|o| o.text_tokens)),
            output_audio_tokens: count(output.and_then(|o| o.audio_tokens)),
        }
    }
}

impl WireUsage for realtime_protocol::beta::ResponseUsage {
    fn usage(&self) -> crate::model::Usage {
        let input = self.input_token_details.as_ref();
        let output = self.output_token_details.as_ref();
        crate::model::Usage {
            requests: 1,
            input_tokens: count(self.input_tokens),
            output_tokens: count(self.output_tokens),
            total_tokens: count(self.total_tokens),
            input_text_tokens: count(input.and_then(|i| i.text_tokens)),
            input_audio_tokens: count(input.and_then(|i| i.audio_tokens)),
            cached_tokens: count(input.and_then(|i| i.cached_tokens)),
            output_text_tokens: count(output.and_then(|o| o.text_tokens)),
            output_audio_tokens: count(output.and_then(|o| o.audio_tokens)),
            ..crate::model::Usage::default()
        }
    }
}

/// Usage from either dialect's usage object.
pub(crate) fn usage(wire: &impl WireUsage) -> crate::model::Usage {
    wire.usage()
}

pub(crate) fn index(i: i64) -> u32 {
    u32::try_from(i).unwrap_or(0)
}

pub(crate) fn ms(i: i64) -> u64 {
    u64::try_from(i).unwrap_or(0)
}

/// The GA session object of these settings (`session.update`'s `session`, a SIP accept's body).
pub(crate) fn ga_session_json(settings: &crate::settings::SessionSettings) -> serde_json::Value {
    serde_json::to_value(ga::session(settings)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use realtime_protocol::{Beta, Ga};

    #[test]
    fn usage_details_are_read_in_both_dialects() {
        let wire = serde_json::json!({
            "total_tokens": 1600, "input_tokens": 1000, "output_tokens": 600,
            "input_token_details": {
                "text_tokens": 400, "audio_tokens": 500, "image_tokens": 100, "cached_tokens": 300,
                "cached_tokens_details": {"text_tokens": 200, "audio_tokens": 100, "image_tokens": 0}
            },
            "output_token_details": {"text_tokens": 100, "audio_tokens": 500}
        });
        let g: realtime_protocol::ga::ResponseUsage = serde_json::from_value(wire.clone()).unwrap();
        let u = usage(&g);
        assert_eq!(
            (u.requests, u.input_tokens, u.output_tokens, u.total_tokens),
            (1, 1000, 600, 1600)
        );
        assert_eq!(
            (
                u.input_text_tokens,
                u.input_audio_tokens,
                u.input_image_tokens
            ),
            (400, 500, 100)
        );
        assert_eq!(
            (u.cached_tokens, u.cached_text_tokens, u.cached_audio_tokens),
            (300, 200, 100)
        );
        assert_eq!((u.output_text_tokens, u.output_audio_tokens), (100, 500));
        // Beta has no image counts; the rest is the same.
        let b: realtime_protocol::beta::ResponseUsage = serde_json::from_value(wire).unwrap();
        let ub = usage(&b);
        assert_eq!(
            (
                ub.input_audio_tokens,
                ub.cached_tokens,
                ub.output_audio_tokens
            ),
            (500, 300, 500)
        );
        assert_eq!(ub.input_image_tokens, 0);
        assert_eq!((ub.cached_text_tokens, ub.cached_audio_tokens), (0, 0));
        // Missing details and negative counts are zero.
        let sparse: realtime_protocol::ga::ResponseUsage =
            serde_json::from_value(serde_json::json!({"input_tokens": -5, "output_tokens": 7}))
                .unwrap();
        let us = usage(&sparse);
        assert_eq!(
            us,
            crate::model::Usage {
                requests: 1,
                output_tokens: 7,
                ..crate::model::Usage::default()
            }
        );
    }

    fn frame(kind: &str, output_index: &str, delta: &str) -> String {
        format!(
            r#"{{"type":"{kind}","event_id":"e","response_id":"r","item_id":"i","output_index":{output_index},"content_index":1,"delta":"{delta}"}}"#
        )
    }

    /// Whatever the scanner accepts, serde parses to the same fields: thousands of frames
    /// mutated at random (a fixed seed) around the JSON's significant characters.
    #[test]
    fn the_delta_scanner_agrees_with_serde() {
        let base = frame(Ga::TRANSCRIPT_DELTA, "0", "Hello there");
        let alphabet: &[u8] = b"\"\\:,{} \t\n0123456789-.eE_aZ\x01";
        let mut seed: u64 = 0x5eed_1234_abcd_0001;
        let mut next = move |n: usize| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((seed >> 33) as usize) % n
        };
        let (mut scanned, mut refused) = (0, 0);
        for _ in 0..20_000 {
            let mut bytes = base.clone().into_bytes();
            for _ in 0..1 + next(3) {
                let at = next(bytes.len() + 1);
                let c = alphabet[next(alphabet.len())];
                match next(3) {
                    0 if at < bytes.len() => bytes[at] = c,
                    1 if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    _ => bytes.insert(at, c),
                }
            }
            let Ok(text) = String::from_utf8(bytes) else {
                continue;
            };
            // The delta itself is checked by the caller (`plain`, or the base64 decoder).
            match delta_scan::scan(&text).filter(|d| delta_scan::plain(d.delta)) {
                Some(d) => {
                    scanned += 1;
                    let full: DeltaRef<'_> = serde_json::from_str(&text)
                        .unwrap_or_else(|e| panic!("scanned, serde refused ({e}): {text}"));
                    assert_eq!(d.response_id, full.response_id, "{text}");
                    assert_eq!(d.item_id, full.item_id, "{text}");
                    assert_eq!(d.content_index, full.content_index, "{text}");
                    assert_eq!(d.delta, full.delta, "{text}");
                }
                None => refused += 1,
            }
        }
        // The mutations reach both sides.
        assert!(scanned > 1_000 && refused > 1_000, "{scanned} {refused}");
    }

    /// The fast path accepts exactly what the full decode accepts, with the same result: audio
    /// and transcript deltas, both dialects.
    #[test]
    fn fast_delta_path_matches_the_full_decode() {
        fn check<P: Adapter>(text: &str, fast: bool) {
            let got = fast_delta::<P>(text, &mut LastIds::default());
            assert_eq!(got.is_some(), fast, "{text}");
            if let Some(got) = got {
                let mut out = VecDeque::new();
                P::decode(P::decode_server(text).unwrap(), &mut out, false);
                let full = out.pop_front().unwrap();
                assert_eq!(format!("{got:?}"), format!("{full:?}"), "{text}");
                assert!(out.is_empty());
            }
        }
        let b64 = realtime_protocol::audio::encode_base64(&[1, 2, 3, 4]);
        check::<Ga>(&frame(Ga::AUDIO_DELTA, "0", &b64), true);
        check::<Ga>(&frame(Ga::AUDIO_DELTA, "\"0\"", &b64), false);
        check::<Ga>(&frame(Ga::AUDIO_DELTA, "0", "not base64!"), false);
        check::<Ga>(&frame(Beta::AUDIO_DELTA, "0", &b64), false);
        check::<Ga>(
            r#"{"type":"response.output_audio.delta","delta":"AAAA"}"#,
            false,
        );
        check::<Beta>(&frame(Beta::AUDIO_DELTA, "0", &b64), true);
        check::<Beta>(&frame(Ga::AUDIO_DELTA, "0", &b64), false);
        for (text, fast) in [
            (frame(Ga::TRANSCRIPT_DELTA, "0", "Hello"), true),
            // An escape: the delta is unescaped, as the full decode does.
            (
                frame(Ga::TRANSCRIPT_DELTA, "0", "say \\\"hi\\\" \\u00e9"),
                true,
            ),
            (frame(Ga::TRANSCRIPT_DELTA, "\"0\"", "Hello"), false),
            // A raw control character: invalid JSON, the full decode reports it.
            (frame(Ga::TRANSCRIPT_DELTA, "0", "a\tb"), false),
            // An unknown field: past the scanner, serde ignores it.
            (
                frame(Ga::TRANSCRIPT_DELTA, "0", "Hello")
                    .replace(r#""event_id""#, r#""extra":[1,{"a":2}],"event_id""#),
                true,
            ),
            // Whitespace and another key order.
            (
                format!(
                    " {{ \"delta\" : \"Hi\" , \"content_index\":1, \"item_id\":\"i\",\n\"output_index\":0,\"response_id\":\"r\",\"event_id\":\"e\",\"type\":\"{}\" }} ",
                    Ga::TRANSCRIPT_DELTA
                ),
                true,
            ),
            (
                r#"{"type":"response.output_audio_transcript.delta","delta":"Hi"}"#.to_owned(),
                false,
            ),
        ] {
            check::<Ga>(&text, fast);
        }
        check::<Beta>(&frame(Beta::TRANSCRIPT_DELTA, "0", "Hello"), true);
        check::<Beta>(&frame(Ga::TRANSCRIPT_DELTA, "0", "Hello"), false);

        // Deltas in a row share their ids; a new item gets its own.
        let ids = |ev: Option<ModelEvent>| match ev {
            Some(ModelEvent::AudioDelta {
                response_id,
                item_id,
                ..
            }) => (response_id, item_id),
            other => panic!("{other:?}"),
        };
        let mut last = LastIds::default();
        let first = frame(Ga::AUDIO_DELTA, "0", &b64);
        let next_item = first.replace(r#""item_id":"i""#, r#""item_id":"j""#);
        let (r1, i1) = ids(fast_delta::<Ga>(&first, &mut last));
        let (r2, i2) = ids(fast_delta::<Ga>(&first, &mut last));
        let (r3, i3) = ids(fast_delta::<Ga>(&next_item, &mut last));
        assert_eq!((r1.as_str(), i1.as_str()), ("r", "i"));
        assert_eq!((r2, i2), (r1.clone(), i1));
        assert_eq!((r3, i3.as_str()), (r1, "j"));
    }
}
