//! Phone calls for realtime-rs voice agents: a bridge between Twilio Media Streams and a
//! [`realtime_runner::RealtimeSession`], right at the edges of a live call.
//!
//! - **µ-law end to end.** The session runs G.711 µ-law in and out ([`phone_config`]); the
//!   caller's audio and the agent's are forwarded as they are, never decoded or resampled;
//!   handoffs keep the format.
//! - **Barge-in at what the caller heard.** A mark follows every 20 ms chunk sent to Twilio;
//!   Twilio echoes a mark when the audio before it has played (and also when a `clear` dropped
//!   it, which the bridge does not count). The echoes feed the session's
//!   [`realtime_runner::PlaybackTracker`], so when the caller talks over the agent the answer is
//!   truncated where the caller stopped hearing it, `clear` goes out at once, and late audio of
//!   the interrupted answer is not forwarded.
//! - **Robust.** Unknown messages are ignored (and counted), malformed ones are reported as
//!   events; neither ends the call. `stop` closes the session and then the socket; a closed
//!   socket closes the session; a failed session closes the socket (1011) with a logged reason.
//!   A slow Twilio socket never blocks the session: audio to Twilio goes through a bounded
//!   queue, dropped and counted when full.
//! - **Key presses** arrive as [`CallEvent::Dtmf`] (and, opt-in, as a user message to the
//!   model).
//!
//! ```no_run
//! # #[cfg(feature = "axum")]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use realtime_runner::{agent::RealtimeAgent, RealtimeRunner, RunConfig};
//! use realtime_twilio::{phone_config, router, TwilioBridge};
//!
//! let agent = RealtimeAgent::<()>::builder("Receptionist")
//!     .instructions("Answer the phone politely.")
//!     .build()?;
//! let runner = RealtimeRunner::builder(agent)
//!     .config(phone_config(RunConfig::default()))
//!     .build();
//! let bridge = TwilioBridge::new(runner)?;
//! // Point the Twilio number's voice webhook at POST https://your.host/twiml.
//! let app = router(bridge, |_call| (), |call, _session, event| {
//!     println!("{}: {event:?}", call.call_sid);
//! });
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! Any WebSocket works with [`TwilioBridge::serve`]: axum's (feature `axum`, on by default)
//! and tokio-tungstenite's (feature `tungstenite`, on by default), or your own through
//! [`TwilioSocketMessage`].
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "axum")]
mod axum_routes;
mod bridge;
mod call;
mod marks;
pub mod messages;
mod socket;
pub mod twiml;
mod types;

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use axum_routes::router;

/// The WebSocket read buffer to give Twilio's socket (2 KiB): Media Streams messages are a few
/// hundred bytes, and tungstenite zeroes its whole read buffer (128 KiB by default) every time
/// the socket is polled, which would cost more than everything else the bridge does. `router` sets it; with
/// tokio-tungstenite, pass `WebSocketConfig::default().read_buffer_size(READ_BUFFER)` when
/// accepting.
pub const READ_BUFFER: usize = 2 * 1024;
pub use bridge::TwilioBridge;
pub use socket::TwilioSocketMessage;
pub use types::{
    phone_config, BridgeError, BridgeOptions, CallEnd, CallEvent, CallStart, CallSummary,
};
