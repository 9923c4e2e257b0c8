//! `RealtimeRunner` and `RealtimeSession`: the voice-agent event loop over the OpenAI Realtime
//! API, in the GA and beta dialects.
//!
//! A [`RealtimeRunner`] starts sessions of a [`realtime_agent::RealtimeAgent`]. A
//! [`RealtimeSession`] keeps one connection open and is a `Stream` of [`SessionEvent`]s: audio
//! (decoded), transcripts, tool calls, handoffs, history changes, errors. It runs tools off the
//! read loop, concurrently, and sends their output with the call's `call_id`; it never sends
//! `response.create` while a response is active; on barge-in it truncates the item being
//! played at the playback position; it keeps the conversation history.
//!
//! The [`RealtimeModel`] trait is the seam under the session: [`OpenAIRealtimeModel`] is the
//! WebSocket implementation for both dialects, and every dialect difference lives there.
//!
//! ```no_run
//! use futures_util::StreamExt;
//! use realtime_agent::RealtimeAgent;
//! use realtime_runner::{RealtimeRunner, SessionEvent};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let agent = RealtimeAgent::<()>::builder("Assistant").instructions("Be brief.").build()?;
//! let mut session = RealtimeRunner::new(agent).run(()).await?;
//! session.send_message("What's new?").await?;
//! while let Some(event) = session.next().await {
//!     match event {
//!         SessionEvent::Audio { pcm, .. } => { /* play it */ let _ = pcm; }
//!         SessionEvent::AgentEnd { .. } => break,
//!         _ => {}
//!     }
//! }
//! session.close().await;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "audio")]
#[cfg_attr(docsrs, doc(cfg(feature = "audio")))]
pub mod audio;
mod client_secret;
mod config;
mod error;
mod events;
mod history;
mod mcp;
mod model;
mod openai;
mod playback;
mod runner;
mod session;
mod settings;
mod sip;
mod transcriber;

pub use client_secret::ClientSecret;
pub use config::{defaults, EventQueuePolicy, ReconnectPolicy, RunConfig};
pub use error::{Result, RunnerError};
pub use events::{
    ClosedBy, ConnectionStatus, ErrorEvent, ErrorKind, SessionEvent, ToolGuardrailStage,
};
pub use history::{ContentPart, HistoryItem, Role};
pub use mcp::{McpEvent, McpToolInfo};
pub use model::{
    ModelConnectOptions, ModelConnection, ModelEvent, ModelEventStream, ModelInput, ModelSender,
    RawServerEvent, RealtimeModel, ServerError, TokenRates, Usage, UserContent, UserMessage,
};
pub use openai::{AudioPayloads, OpenAIRealtimeModel, Recording};
pub use playback::PlaybackTracker;
pub use runner::{RealtimeRunner, RealtimeRunnerBuilder};
pub use session::RealtimeSession;
pub use settings::{
    AudioFormat, Eagerness, MaxOutputTokens, Modality, NoiseReduction, PromptRef, SessionSettings,
    Tracing, TranscriptionSettings, Truncation, TurnDetection,
};
pub use sip::{IncomingCall, SipCalls, WebhookError, WebhookVerifier};
pub use transcriber::{
    RealtimeTranscriber, TokenLogprob, TranscriberHandle, TranscriberInput, TranscriberSender,
    TranscriberSettings, TranscriptionEvent,
};

/// The crates users name alongside the runner.
pub use realtime_agent as agent;
pub use realtime_protocol as protocol;
pub use realtime_transport as transport;
