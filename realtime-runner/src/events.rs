//! [`SessionEvent`]: everything a session reports, in order.

use crate::history::HistoryItem;
use crate::mcp::McpEvent;
use crate::model::{RawServerEvent, ServerError, Usage};
use realtime_protocol::{CallId, ItemId, ResponseId};
use serde::Serialize;

/// What kind of problem an [`ErrorEvent`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The server sent an `error` event; the session goes on.
    Server,
    /// A frame could not be decoded; the session goes on.
    Decode,
    /// A tool failed, timed out, panicked or was not found; the model got an error text.
    Tool,
    /// A handoff failed; the model got an error text.
    Handoff,
    /// The connection died. This is the last event before `Closed`.
    Connection,
    /// Something the session asked of the model could not be sent.
    Send,
    /// An agent or guardrail problem.
    Agent,
}

/// An error, as data: the session goes on unless `kind` is `Connection`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ErrorEvent {
    /// What kind of problem.
    pub kind: ErrorKind,
    /// A readable description.
    pub message: String,
    /// The server's error, for `Server`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerError>,
    /// The raw frame, for `Decode`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
}

impl ErrorEvent {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            server: None,
            raw: None,
        }
    }
}

/// Who ended a session's connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClosedBy {
    /// The application: `close()`, or every handle of the session dropped.
    Client,
    /// The server closed the connection normally.
    Server,
    /// The connection failed (and could not be re-established); an `Error` event of kind
    /// `Connection` said why.
    Error,
}

/// The state of a session's connection, as [`SessionEvent::Connection`] reports it. A session
/// starts connected (`run` returns once it is).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ConnectionStatus {
    /// The socket died and the session is connecting again (with a
    /// [`crate::ReconnectPolicy`]): `attempt` counts from 1. Messages and tool outputs are held
    /// meanwhile; audio is refused.
    #[non_exhaustive]
    Reconnecting {
        /// The attempt, from 1.
        attempt: u32,
    },
    /// Connected again: the configuration and history were restored.
    Connected,
    /// The connection is gone and the session ends; `Closed` follows.
    #[non_exhaustive]
    Disconnected {
        /// Who ended it.
        by: ClosedBy,
    },
}

impl ConnectionStatus {
    /// Reconnecting, attempt `attempt`.
    pub fn reconnecting(attempt: u32) -> Self {
        ConnectionStatus::Reconnecting { attempt }
    }

    /// Disconnected by `by`.
    pub fn disconnected(by: ClosedBy) -> Self {
        ConnectionStatus::Disconnected { by }
    }
}

fn base64<S: serde::Serializer>(pcm: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&realtime_protocol::audio::encode_base64(pcm))
}

/// Which side of a tool call a tool guardrail checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolGuardrailStage {
    /// The arguments, before approval and before the tool ran.
    Input,
    /// The output, before the model got it.
    Output,
}

/// One event of a [`crate::RealtimeSession`].
///
/// Serializes as JSON with a `type` tag (the [`SessionEvent::kind`] name) and the variant's
/// fields; audio as base64 (`pcm`), raw server events as `{dialect, event}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SessionEvent {
    /// A response (a turn of the agent) started.
    #[non_exhaustive]
    AgentStart {
        /// The agent that made the response (the agent current when it was requested, or
        /// when the server started it).
        agent: String,
        /// The response.
        response_id: ResponseId,
    },
    /// A response ended.
    #[non_exhaustive]
    AgentEnd {
        /// The agent that made the response (as in its `AgentStart`, even when a handoff
        /// finished before it ended).
        agent: String,
        /// The response.
        response_id: ResponseId,
        /// `completed`, `cancelled`, `failed` or `incomplete`.
        status: String,
    },
    /// The current agent changed.
    #[non_exhaustive]
    Handoff {
        /// The agent handing off.
        from: String,
        /// The new current agent.
        to: String,
    },
    /// A tool call started.
    #[non_exhaustive]
    ToolStart {
        /// The agent whose tool it is.
        agent: String,
        /// The tool.
        tool: String,
        /// The call id.
        call_id: CallId,
        /// The JSON arguments.
        arguments: String,
    },
    /// A tool call ended; `output` went to the model.
    #[non_exhaustive]
    ToolEnd {
        /// The agent whose tool it is.
        agent: String,
        /// The tool.
        tool: String,
        /// The call id.
        call_id: CallId,
        /// What the model got.
        output: String,
        /// Whether it is an error text.
        is_error: bool,
    },
    /// A tool guardrail stopped a call: on its arguments (the tool did not run) or on its
    /// output (the model did not get it). The model got `message` as the call's output.
    #[non_exhaustive]
    ToolGuardrailTripped {
        /// The agent whose tool it is.
        agent: String,
        /// The tool.
        tool: String,
        /// The call id.
        call_id: CallId,
        /// The guardrail that rejected the call.
        guardrail: String,
        /// Whether it checked the arguments or the output.
        stage: ToolGuardrailStage,
        /// What the model was told.
        message: String,
        /// What the guardrail reported.
        info: serde_json::Value,
    },
    /// A tool call waits for [`crate::RealtimeSession::approve_tool_call`] or
    /// [`crate::RealtimeSession::reject_tool_call`].
    #[non_exhaustive]
    ToolApprovalRequested {
        /// The agent whose tool it is.
        agent: String,
        /// The tool.
        tool: String,
        /// The call id.
        call_id: CallId,
        /// The JSON arguments.
        arguments: String,
        /// For a hosted MCP tool, its server's label (the call id is then the
        /// `mcp_approval_request` item's id); `None` for function tools.
        mcp_server: Option<String>,
    },
    /// Assistant audio, decoded.
    #[non_exhaustive]
    Audio {
        /// The audio bytes (the session's output format, PCM16 24 kHz by default).
        #[serde(serialize_with = "base64")]
        pcm: Vec<u8>,
        /// The item.
        item_id: ItemId,
        /// The content part.
        content_index: u32,
        /// The response.
        response_id: ResponseId,
    },
    /// An item's audio is complete.
    #[non_exhaustive]
    AudioEnd {
        /// The item.
        item_id: ItemId,
        /// The content part.
        content_index: u32,
    },
    /// Playback was cut (barge-in or `interrupt()`): stop playing this item's audio.
    #[non_exhaustive]
    AudioInterrupted {
        /// The item.
        item_id: ItemId,
        /// The content part.
        content_index: u32,
        /// The response.
        response_id: ResponseId,
        /// Where the audio was truncated.
        audio_end_ms: u64,
    },
    /// The user said nothing for the turn detection's `idle_timeout_ms` after the assistant's
    /// answer (GA): the server committed the silent buffer and asks the model to go on.
    #[non_exhaustive]
    InputAudioTimeout {
        /// The committed user item.
        item_id: ItemId,
        /// Where the silence started in the input audio.
        audio_start_ms: u64,
        /// Where it ended.
        audio_end_ms: u64,
    },
    /// Part of the transcript of the user's speech.
    #[non_exhaustive]
    InputTranscriptDelta {
        /// The user item.
        item_id: ItemId,
        /// The new text.
        delta: String,
    },
    /// The transcript of the user's speech.
    #[non_exhaustive]
    InputTranscriptCompleted {
        /// The user item.
        item_id: ItemId,
        /// The transcript.
        transcript: String,
    },
    /// Part of the transcript of the assistant's audio.
    #[non_exhaustive]
    TranscriptDelta {
        /// The item.
        item_id: ItemId,
        /// The response.
        response_id: ResponseId,
        /// The new text.
        delta: String,
    },
    /// Part of the assistant's text (text output).
    #[non_exhaustive]
    TextDelta {
        /// The item.
        item_id: ItemId,
        /// The response.
        response_id: ResponseId,
        /// The new text.
        delta: String,
    },
    /// An item joined the history.
    #[non_exhaustive]
    HistoryAdded {
        /// The item.
        item: HistoryItem,
    },
    /// An item of the history changed.
    #[non_exhaustive]
    HistoryUpdated {
        /// The item as it is now.
        item: HistoryItem,
    },
    /// An item left the history.
    #[non_exhaustive]
    HistoryDeleted {
        /// The item.
        item_id: ItemId,
    },
    /// A response's token usage (the session's running total is
    /// [`crate::RealtimeSession::usage`]).
    #[non_exhaustive]
    Usage {
        /// This response's usage.
        usage: Usage,
    },
    /// An output guardrail tripped; the response was interrupted.
    #[non_exhaustive]
    GuardrailTripped {
        /// The guardrails that tripped.
        guardrails: Vec<String>,
        /// What they reported.
        info: Vec<serde_json::Value>,
        /// The text that tripped them.
        text: String,
        /// The response.
        response_id: ResponseId,
    },
    /// After an interruption, the server still streamed output of the response; it was not
    /// delivered (it must not be played). Reported once, when the response ends.
    #[non_exhaustive]
    OutputDropped {
        /// The interrupted response.
        response_id: ResponseId,
        /// Audio bytes not delivered.
        audio_bytes: usize,
        /// Transcript or text characters not delivered.
        text_chars: usize,
    },
    /// A hosted MCP server's progress, tool list or call (GA).
    Mcp(McpEvent),
    /// Something went wrong; the session goes on unless this is a connection error.
    Error(ErrorEvent),
    /// The server event itself (when raw events are on).
    Raw(RawServerEvent),
    /// Events were dropped because the consumer was slow (only with
    /// [`crate::EventQueuePolicy::DropAudioWhenFull`]).
    #[non_exhaustive]
    EventsDropped {
        /// How many audio events were dropped since the last report.
        count: u64,
    },
    /// The connection changed: reconnecting (with a reconnect policy), connected again,
    /// or gone (just before `Closed`).
    #[non_exhaustive]
    Connection {
        /// What it is now.
        status: ConnectionStatus,
    },
    /// The session ended. No event follows.
    Closed,
}

impl SessionEvent {
    /// A short name of the event kind (`audio`, `tool_start`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            SessionEvent::AgentStart { .. } => "agent_start",
            SessionEvent::AgentEnd { .. } => "agent_end",
            SessionEvent::Handoff { .. } => "handoff",
            SessionEvent::ToolStart { .. } => "tool_start",
            SessionEvent::ToolEnd { .. } => "tool_end",
            SessionEvent::ToolApprovalRequested { .. } => "tool_approval_requested",
            SessionEvent::Audio { .. } => "audio",
            SessionEvent::AudioEnd { .. } => "audio_end",
            SessionEvent::AudioInterrupted { .. } => "audio_interrupted",
            SessionEvent::InputAudioTimeout { .. } => "input_audio_timeout",
            SessionEvent::InputTranscriptDelta { .. } => "input_transcript_delta",
            SessionEvent::InputTranscriptCompleted { .. } => "input_transcript_completed",
            SessionEvent::TranscriptDelta { .. } => "transcript_delta",
            SessionEvent::TextDelta { .. } => "text_delta",
            SessionEvent::HistoryAdded { .. } => "history_added",
            SessionEvent::HistoryUpdated { .. } => "history_updated",
            SessionEvent::HistoryDeleted { .. } => "history_deleted",
            SessionEvent::Usage { .. } => "usage",
            SessionEvent::GuardrailTripped { .. } => "guardrail_tripped",
            SessionEvent::ToolGuardrailTripped { .. } => "tool_guardrail_tripped",
            SessionEvent::OutputDropped { .. } => "output_dropped",
            SessionEvent::Mcp(_) => "mcp",
            SessionEvent::Error(_) => "error",
            SessionEvent::Raw(_) => "raw",
            SessionEvent::EventsDropped { .. } => "events_dropped",
            SessionEvent::Connection { .. } => "connection",
            SessionEvent::Closed => "closed",
        }
    }
}
