//! The [`RealtimeModel`] seam: what the session loop sends to a model and what it gets back,
//! in one dialect-neutral vocabulary. [`crate::OpenAIRealtimeModel`] implements it over the
//! WebSocket transport for both dialects; tests and other providers can implement it too.

use crate::error::RunnerError;
use crate::history::HistoryItem;
use crate::mcp::McpEvent;
use crate::settings::SessionSettings;
use async_trait::async_trait;
use futures_util::Stream;
use realtime_protocol::{CallId, ItemId, ResponseId};
use std::pin::Pin;
use std::sync::Arc;

/// What a session asks the model to do.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ModelInput {
    /// Replace the session configuration (`session.update`).
    UpdateSession(Box<SessionSettings>),
    /// A user message (`conversation.item.create`).
    UserMessage(UserMessage),
    /// Append audio to the input buffer, optionally committing it.
    Audio {
        /// The audio, in the session's input format.
        pcm: Vec<u8>,
        /// Commit the buffer after appending.
        commit: bool,
    },
    /// Commit the input audio buffer.
    CommitAudio,
    /// Clear the input audio buffer.
    ClearAudio,
    /// The output of a function call, echoing its call id.
    ToolOutput {
        /// The call's id.
        call_id: CallId,
        /// The output text.
        output: String,
    },
    /// Start a response. `event_id` lets errors be tied back to this request.
    CreateResponse {
        /// The client event id to send.
        event_id: String,
    },
    /// Cancel the active response.
    CancelResponse,
    /// Truncate an assistant item's audio at `audio_end_ms`.
    Truncate {
        /// The item.
        item_id: ItemId,
        /// The audio content part.
        content_index: u32,
        /// Where playback stopped.
        audio_end_ms: u64,
    },
    /// Create an item (history restore), after `previous_item_id` (`None`: at the end).
    CreateItem {
        /// The item.
        item: Box<HistoryItem>,
        /// The item it follows.
        previous_item_id: Option<ItemId>,
    },
    /// Delete an item.
    DeleteItem {
        /// The item.
        item_id: ItemId,
    },
    /// Answer a hosted MCP tool's approval request (GA): an `mcp_approval_response` item.
    McpApproval {
        /// The `mcp_approval_request` item.
        approval_request_id: ItemId,
        /// Whether the call may run.
        approve: bool,
        /// Why, when rejected.
        reason: Option<String>,
    },
    /// A raw JSON client event, sent as it is.
    Raw(String),
}

/// A user message: text and images.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct UserMessage {
    /// Its parts, in order.
    pub parts: Vec<UserContent>,
}

/// One part of a user message.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum UserContent {
    /// Text.
    Text(String),
    /// An image, as a URL or a `data:` URL.
    Image {
        /// The URL.
        url: String,
        /// `low`, `high` or `auto`.
        detail: Option<String>,
    },
}

impl From<&str> for UserMessage {
    fn from(text: &str) -> Self {
        Self {
            parts: vec![UserContent::Text(text.to_owned())],
        }
    }
}

impl From<String> for UserMessage {
    fn from(text: String) -> Self {
        Self {
            parts: vec![UserContent::Text(text)],
        }
    }
}

impl UserMessage {
    /// A message of text.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            parts: vec![UserContent::Text(text.into())],
        }
    }

    /// Adds an image part.
    pub fn with_image(mut self, url: impl Into<String>, detail: Option<&str>) -> Self {
        self.parts.push(UserContent::Image {
            url: url.into(),
            detail: detail.map(str::to_owned),
        });
        self
    }

    /// Adds a text part.
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.parts.push(UserContent::Text(text.into()));
        self
    }
}

/// An error the server reported (`error` event).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ServerError {
    /// The error type, e.g. `invalid_request_error`.
    pub kind: String,
    /// The code, e.g. `conversation_already_has_active_response`.
    pub code: Option<String>,
    /// The message.
    pub message: String,
    /// The parameter concerned.
    pub param: Option<String>,
    /// The client event that caused it.
    pub event_id: Option<String>,
}

impl ServerError {
    /// An error of type `kind` with `message`.
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            code: None,
            message: message.into(),
            param: None,
            event_id: None,
        }
    }

    /// Sets [`Self::code`].
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Sets [`Self::param`].
    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    /// Sets [`Self::event_id`].
    pub fn with_event_id(mut self, event_id: impl Into<String>) -> Self {
        self.event_id = Some(event_id.into());
        self
    }
}

/// Token usage of a response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct Usage {
    /// Responses counted.
    pub requests: u64,
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Input + output tokens.
    pub total_tokens: u64,
    /// Input tokens that were text (cached ones included).
    pub input_text_tokens: u64,
    /// Input tokens that were audio (cached ones included).
    pub input_audio_tokens: u64,
    /// Input tokens that were images (cached ones included; GA).
    pub input_image_tokens: u64,
    /// Input tokens served from the cache, all kinds.
    pub cached_tokens: u64,
    /// Cached text input tokens.
    pub cached_text_tokens: u64,
    /// Cached audio input tokens.
    pub cached_audio_tokens: u64,
    /// Cached image input tokens (GA).
    pub cached_image_tokens: u64,
    /// Output tokens that were text (transcripts included).
    pub output_text_tokens: u64,
    /// Output tokens that were audio.
    pub output_audio_tokens: u64,
}

impl Usage {
    /// Adds another response's usage.
    pub fn add(&mut self, other: &Usage) {
        self.requests += other.requests;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.total_tokens += other.total_tokens;
        self.input_text_tokens += other.input_text_tokens;
        self.input_audio_tokens += other.input_audio_tokens;
        self.input_image_tokens += other.input_image_tokens;
        self.cached_tokens += other.cached_tokens;
        self.cached_text_tokens += other.cached_text_tokens;
        self.cached_audio_tokens += other.cached_audio_tokens;
        self.cached_image_tokens += other.cached_image_tokens;
        self.output_text_tokens += other.output_text_tokens;
        self.output_audio_tokens += other.output_audio_tokens;
    }

    /// What these tokens cost at `rates` (prices per million tokens, in your currency).
    /// Cached input is priced at the cached rate, the rest of each kind at its own.
    pub fn cost(&self, rates: &TokenRates) -> f64 {
        let m = |tokens: u64, per_million: f64| tokens as f64 * per_million / 1_000_000.0;
        let fresh = |all: u64, cached: u64| all.saturating_sub(cached);
        m(
            fresh(self.input_text_tokens, self.cached_text_tokens),
            rates.text_input,
        ) + m(self.cached_text_tokens, rates.cached_text_input)
            + m(
                fresh(self.input_audio_tokens, self.cached_audio_tokens),
                rates.audio_input,
            )
            + m(self.cached_audio_tokens, rates.cached_audio_input)
            + m(
                fresh(self.input_image_tokens, self.cached_image_tokens),
                rates.image_input,
            )
            + m(self.cached_image_tokens, rates.cached_image_input)
            + m(self.output_text_tokens, rates.text_output)
            + m(self.output_audio_tokens, rates.audio_output)
    }
}

/// Prices per million tokens, by kind, for [`Usage::cost`]. Take them from the model's price
/// page; the SDK ships none (they change).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[non_exhaustive]
pub struct TokenRates {
    /// Text input.
    pub text_input: f64,
    /// Cached text input.
    pub cached_text_input: f64,
    /// Audio input.
    pub audio_input: f64,
    /// Cached audio input.
    pub cached_audio_input: f64,
    /// Image input.
    pub image_input: f64,
    /// Cached image input.
    pub cached_image_input: f64,
    /// Text output.
    pub text_output: f64,
    /// Audio output.
    pub audio_output: f64,
}

impl TokenRates {
    /// Text rates: input, cached input, output (per million tokens).
    pub fn with_text(mut self, input: f64, cached_input: f64, output: f64) -> Self {
        self.text_input = input;
        self.cached_text_input = cached_input;
        self.text_output = output;
        self
    }

    /// Audio rates: input, cached input, output (per million tokens).
    pub fn with_audio(mut self, input: f64, cached_input: f64, output: f64) -> Self {
        self.audio_input = input;
        self.cached_audio_input = cached_input;
        self.audio_output = output;
        self
    }

    /// Image input rates: input, cached input (per million tokens).
    pub fn with_image(mut self, input: f64, cached_input: f64) -> Self {
        self.image_input = input;
        self.cached_image_input = cached_input;
        self
    }
}

/// A server event in its dialect, for [`crate::SessionEvent::Raw`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RawServerEvent {
    /// A GA event.
    Ga(Arc<realtime_protocol::ga::ServerEvent>),
    /// A beta event.
    Beta(Arc<realtime_protocol::beta::ServerEvent>),
}

impl serde::Serialize for RawServerEvent {
    /// `{"dialect": "ga" | "beta", "event": <the event as on the wire>}`.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("RawServerEvent", 2)?;
        match self {
            Self::Ga(e) => {
                st.serialize_field("dialect", "ga")?;
                st.serialize_field("event", e.as_ref())?;
            }
            Self::Beta(e) => {
                st.serialize_field("dialect", "beta")?;
                st.serialize_field("event", e.as_ref())?;
            }
        }
        st.end()
    }
}

impl RawServerEvent {
    /// The event's wire `type`.
    pub fn event_type(&self) -> &str {
        match self {
            Self::Ga(e) => e.event_type(),
            Self::Beta(e) => e.event_type(),
        }
    }
}

/// What a model reports, dialect-neutral.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ModelEvent {
    /// The server created the session (`session.created`).
    SessionCreated {
        /// The server's session id (`sess_…`).
        session_id: String,
    },
    /// The session configuration was applied.
    SessionUpdated,
    /// A response started.
    ResponseCreated {
        /// Its id.
        response_id: ResponseId,
    },
    /// A response ended.
    ResponseDone {
        /// Its id.
        response_id: ResponseId,
        /// `completed`, `cancelled`, `failed` or `incomplete`.
        status: String,
        /// Its usage, when reported.
        usage: Option<Usage>,
    },
    /// Decoded assistant audio.
    AudioDelta {
        /// The response.
        response_id: ResponseId,
        /// The item.
        item_id: ItemId,
        /// The content part.
        content_index: u32,
        /// The audio bytes.
        pcm: Vec<u8>,
    },
    /// An item's audio is complete.
    AudioDone {
        /// The item.
        item_id: ItemId,
        /// The content part.
        content_index: u32,
    },
    /// Assistant transcript of its audio.
    TranscriptDelta {
        /// The response.
        response_id: ResponseId,
        /// The item.
        item_id: ItemId,
        /// The content part.
        content_index: u32,
        /// The new text.
        delta: String,
    },
    /// Assistant text (text modality).
    TextDelta {
        /// The response.
        response_id: ResponseId,
        /// The item.
        item_id: ItemId,
        /// The content part.
        content_index: u32,
        /// The new text.
        delta: String,
    },
    /// The model called a function (its item is complete).
    FunctionCall {
        /// The call id, echoed by the output.
        call_id: CallId,
        /// The function name.
        name: String,
        /// The JSON arguments.
        arguments: String,
        /// The call's item.
        item_id: ItemId,
        /// The response it belongs to.
        response_id: Option<ResponseId>,
    },
    /// An item was created or changed.
    ItemUpdated {
        /// The item as the server has it.
        item: HistoryItem,
        /// The item it follows, when the server said.
        previous_item_id: Option<ItemId>,
    },
    /// An item was deleted.
    ItemDeleted {
        /// The item.
        item_id: ItemId,
    },
    /// An item's audio was truncated.
    ItemTruncated {
        /// The item.
        item_id: ItemId,
        /// The audio content part.
        content_index: u32,
        /// Where.
        audio_end_ms: u64,
    },
    /// Part of the transcript of the user's audio.
    InputTranscriptDelta {
        /// The user item.
        item_id: ItemId,
        /// The new text.
        delta: String,
    },
    /// The transcript of the user's audio.
    InputTranscriptCompleted {
        /// The user item.
        item_id: ItemId,
        /// The content part.
        content_index: u32,
        /// The transcript.
        transcript: String,
    },
    /// Server VAD heard the user start speaking.
    SpeechStarted {
        /// The user item to come.
        item_id: ItemId,
        /// Where in the input audio.
        audio_start_ms: u64,
    },
    /// The user stayed silent for the turn detection's idle timeout (GA): the server
    /// committed the buffer and will answer.
    InputAudioTimeout {
        /// The committed item.
        item_id: ItemId,
        /// Where the silent stretch started in the input audio.
        audio_start_ms: u64,
        /// Where it ended.
        audio_end_ms: u64,
    },
    /// Server VAD heard the user stop.
    SpeechStopped {
        /// The user item.
        item_id: ItemId,
    },
    /// The server reported an error.
    Error(ServerError),
    /// A frame could not be decoded; the connection goes on.
    DecodeError {
        /// What failed.
        message: String,
        /// The frame's text, when known.
        raw: Option<String>,
    },
    /// A hosted MCP server's progress, tool list, call or approval request (GA).
    Mcp(McpEvent),
    /// The server event itself (only when raw events are asked for).
    Raw(RawServerEvent),
    /// The connection ended; `None` for a normal close.
    Closed(Option<Arc<RunnerError>>),
}

/// Sends inputs to a connected model. Usable from many tasks.
#[async_trait]
pub trait ModelSender: Send + Sync + 'static {
    /// Sends one input.
    ///
    /// # Errors
    /// The connection is closed, or the input could not be encoded.
    async fn send(&self, input: ModelInput) -> Result<(), RunnerError>;

    /// Sends one input that may wait for [`flush`](Self::flush) before it goes out, so that
    /// the inputs of one burst leave together (one write to the socket). The session loop
    /// feeds what it sends and flushes whenever it is about to wait, and at once after a
    /// barge-in. The default sends at once.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    async fn feed(&self, input: ModelInput) -> Result<(), RunnerError> {
        self.send(input).await
    }

    /// Sends what was fed. Never waits. The default does nothing (nothing waits).
    fn flush(&self) {}

    /// Closes the connection gracefully. Idempotent.
    async fn close(&self);
}

/// The events of a connected model. The stream ends after [`ModelEvent::Closed`].
pub type ModelEventStream = Pin<Box<dyn Stream<Item = ModelEvent> + Send>>;

/// A connected model: a sender and its event stream.
pub struct ModelConnection {
    /// Sends inputs.
    pub sender: Arc<dyn ModelSender>,
    /// The model's events.
    pub events: ModelEventStream,
}

impl std::fmt::Debug for ModelConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelConnection").finish_non_exhaustive()
    }
}

/// What a model needs to connect.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ModelConnectOptions {
    /// The model name, when the run config sets one.
    pub model: Option<String>,
    /// Emit [`ModelEvent::Raw`] for every server event.
    pub raw_events: bool,
    /// Attach to this SIP call (`?call_id=`) instead of naming a model.
    pub sip_call_id: Option<String>,
}

/// A realtime model provider: connects and returns a [`ModelConnection`].
#[async_trait]
pub trait RealtimeModel: Send + Sync + 'static {
    /// Opens a connection.
    ///
    /// # Errors
    /// The connection could not be opened.
    async fn connect(&self, options: ModelConnectOptions) -> Result<ModelConnection, RunnerError>;
}
