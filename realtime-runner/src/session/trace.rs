//! The session's `tracing` output: one span per session (`realtime_session`, with a
//! process-wide session number, the server's session id once known, the dialect and the
//! current agent), and an event for each
//! turn of the conversation that matters when reading logs: responses, tool calls, handoffs,
//! guardrail trips, interruptions, errors and the connection. Never a key, never audio, never
//! a tool's arguments or output (only their sizes): logs leave the process.

use crate::events::{ConnectionStatus, SessionEvent};
use crate::mcp::McpEvent;
use realtime_protocol::Dialect;
use std::sync::atomic::{AtomicU64, Ordering};
use tracing::{debug, info, warn, Span};

static SESSIONS: AtomicU64 = AtomicU64::new(0);

/// The span a session's loop runs in.
pub(super) fn session_span(dialect: Dialect, agent: &str) -> Span {
    let n = SESSIONS.fetch_add(1, Ordering::Relaxed) + 1;
    let dialect = match dialect {
        Dialect::Ga => "ga",
        Dialect::Beta => "beta",
        _ => "other",
    };
    tracing::info_span!(
        "realtime_session",
        session = n,
        session_id = tracing::field::Empty,
        dialect,
        agent
    )
}

/// Logs what `ev` says, if it is worth a line (deltas and audio are not).
pub(super) fn event(ev: &SessionEvent) {
    match ev {
        SessionEvent::Audio { .. }
        | SessionEvent::TranscriptDelta { .. }
        | SessionEvent::TextDelta { .. }
        | SessionEvent::InputTranscriptDelta { .. }
        | SessionEvent::HistoryAdded { .. }
        | SessionEvent::HistoryUpdated { .. }
        | SessionEvent::Raw(_) => {}
        SessionEvent::AgentStart {
            agent, response_id, ..
        } => {
            debug!(%response_id, agent, "response started")
        }
        SessionEvent::AgentEnd {
            agent,
            response_id,
            status,
            ..
        } => debug!(%response_id, agent, status, "response ended"),
        SessionEvent::Handoff { from, to, .. } => {
            Span::current().record("agent", to.as_str());
            info!(from, to, "handoff")
        }
        SessionEvent::ToolStart {
            agent,
            tool,
            call_id,
            arguments,
            ..
        } => debug!(%call_id, agent, tool, arguments_bytes = arguments.len(), "tool call started"),
        SessionEvent::ToolEnd {
            tool,
            call_id,
            output,
            is_error,
            ..
        } => {
            if *is_error {
                warn!(%call_id, tool, output_bytes = output.len(), "tool call failed")
            } else {
                debug!(%call_id, tool, output_bytes = output.len(), "tool call ended")
            }
        }
        SessionEvent::ToolApprovalRequested {
            tool,
            call_id,
            mcp_server,
            ..
        } => {
            info!(%call_id, tool, mcp_server = mcp_server.as_deref(), "tool call waits for approval")
        }
        SessionEvent::ToolGuardrailTripped {
            tool,
            call_id,
            guardrail,
            stage,
            ..
        } => info!(%call_id, tool, guardrail, ?stage, "tool guardrail tripped"),
        SessionEvent::GuardrailTripped {
            guardrails,
            response_id,
            ..
        } => info!(%response_id, ?guardrails, "output guardrail tripped"),
        SessionEvent::AudioInterrupted {
            item_id,
            response_id,
            audio_end_ms,
            ..
        } => debug!(%item_id, %response_id, audio_end_ms, "playback interrupted"),
        SessionEvent::OutputDropped {
            response_id,
            audio_bytes,
            text_chars,
            ..
        } => debug!(%response_id, audio_bytes, text_chars, "interrupted output dropped"),
        SessionEvent::InputAudioTimeout { item_id, .. } => {
            debug!(%item_id, "input audio idle timeout")
        }
        SessionEvent::EventsDropped { count, .. } => {
            warn!(
                count,
                "audio events dropped: the application reads too slowly"
            )
        }
        SessionEvent::Error(e) => warn!(kind = ?e.kind, message = %e.message, "session error"),
        SessionEvent::Connection { status, .. } => match status {
            ConnectionStatus::Reconnecting { attempt, .. } => {
                warn!(attempt, "connection lost; reconnecting")
            }
            ConnectionStatus::Connected => info!("reconnected"),
            ConnectionStatus::Disconnected { by, .. } => info!(?by, "disconnected"),
        },
        SessionEvent::Mcp(m) => match m {
            McpEvent::CallCompleted {
                name,
                server_label,
                output,
                ..
            } => {
                debug!(
                    server_label,
                    tool = name,
                    output_bytes = output.len(),
                    "MCP call completed"
                )
            }
            McpEvent::CallFailed {
                name, server_label, ..
            } => {
                warn!(server_label, tool = name, "MCP call failed")
            }
            McpEvent::ListToolsFailed { item_id, .. } => {
                warn!(%item_id, "MCP server could not list its tools")
            }
            _ => {}
        },
        _ => {}
    }
}
