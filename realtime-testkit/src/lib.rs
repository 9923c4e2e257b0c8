//! A local fake of the OpenAI Realtime API, for tests, offline examples and your own tests.
//!
//! [`FakeRealtimeServer`] listens on `127.0.0.1`, speaks **GA** or **beta** per connection
//! (chosen like the service: the `OpenAI-Beta: realtime=v1` header means beta), checks the API
//! key in the handshake, keeps the session, the conversation and the input audio buffer, and
//! answers each client event as the service does, errors included. What the "model" says comes
//! from a [`Responder`]: [`Echo`], [`Scripted`], [`ToolCaller`] or your own.
//!
//! Tests can inspect every client event the server received ([`ConnectionHandle`]), inject
//! server-VAD events, and inject faults: dropped sockets, malformed or unknown events, huge
//! frames, stalls, close codes, unanswered pings.
//!
//! Or the server plays back a recorded session ([`Replay`], `fake-realtime-server --replay`):
//! record a conversation once with `realtime-runner`'s `OpenAIRealtimeModel::record` (live
//! with a key, or against this server), commit the file, and replay it in CI; the first client
//! event that differs from the recording fails the replay with both events and their
//! difference ([`ReplayError`]).
//!
//! It is as strict as the service: every client event is checked against the spec's schema of
//! its dialect and refused with the service's error (`unknown_parameter`,
//! `missing_required_parameter`, `invalid_type`, `invalid_value`, … with `param` naming the
//! field), unless [`Validation::Lenient`] is chosen. Frames go out as the service writes them:
//! `type` first, then `event_id`, then the spec's order.
//!
//! It hears: with `server_vad` or `semantic_vad` turn detection, speech in the appended audio
//! (PCM16 or G.711) starts and ends turns and interrupts responses, as a caller's voice would.
//! And it answers the REST calls beside the WebSocket: ephemeral keys
//! (`POST /v1/realtime/client_secrets`) and SIP call control, with simulated incoming calls
//! delivered as signed webhooks ([`FakeRealtimeServer::incoming_call`]).
//!
//! What it does not model is listed in the crate's README: it does not recognize words
//! (committed audio gets a transcript from the [`Responder`] or the configuration), does not
//! run a model, and does not implement WebRTC, MCP or the transcription-only sessions.
//!
//! ```
//! use realtime_testkit::{FakeRealtimeServer, FakeServerConfig, ResponsePlan, Scripted};
//! use futures_util::{SinkExt, StreamExt};
//! use std::time::Duration;
//! use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = FakeServerConfig::default().with_responder(Scripted::new([ResponsePlan::text("Hi!")]));
//! let server = FakeRealtimeServer::start(config).await?;
//! let mut request = server.url().into_client_request()?;
//! request.headers_mut().insert("Authorization", "Bearer sk-test".parse()?);
//! let (mut ws, _) = tokio_tungstenite::connect_async(request).await?;
//! ws.send(Message::text(r#"{"type":"response.create"}"#)).await?;
//! let conn = server.next_connection(Duration::from_secs(5)).await.ok_or("no connection")?;
//! let sent = conn.next_client_event(Duration::from_secs(5)).await.ok_or("nothing received")?;
//! assert_eq!(sent.event_type(), "response.create");
//! while let Some(Ok(Message::Text(frame))) = ws.next().await {
//!     if frame.contains(r#""type":"response.done""#) { break; }
//! }
//! server.shutdown().await;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod config;
mod connection;
mod generated;
mod http;
mod ids;
mod mcp;
mod model;
mod registry;
mod replay;
mod responder;
mod rest;
mod schema;
mod server;
mod vad;
mod validate;
mod wire;

pub use config::{Auth, Clock, FakeServerConfig, Fault, Pacing, Validation};
pub use connection::{ConnectionHandle, HandshakeInfo, ReceivedEvent};
pub use mcp::{McpOutcome, McpServerScript};
pub use model::{Item, ItemKind, Part, Role};
pub use replay::{Replay, ReplayError, ReplayPacing};
pub use responder::{
    tone, tone_for_text, CommittedAudio, Echo, FnResponder, Responder, ResponseContext,
    ResponsePart, ResponsePlan, Scripted, ToolCaller,
};
pub use rest::{CallAction, IncomingCall, WebhookError};
pub use server::FakeRealtimeServer;
