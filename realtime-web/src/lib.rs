//! Browser voice for realtime-rs agents: a relay (an axum [`Router`](axum::Router)) that gives
//! each browser connection its own `RealtimeSession` on the server, and the voice page it
//! serves. The agent, its tools and the API key stay on the server.
//!
//! - `GET /`: the page (HTML and two JavaScript modules embedded in the binary; no bundler, no
//!   build step). Microphone capture in an AudioWorklet converted to 24 kHz PCM16 from any
//!   device rate, playback in an AudioWorklet with a 60 ms jitter buffer, hands-free (server
//!   VAD) or push-to-talk, mute, a live transcript with agent names, tool activity and the
//!   connection's status. For automation: `#start`, `#stop`, `#transcript` (one child per
//!   turn) and `window.realtimeDebug = { state, micMsSent, playedMs, interruptions,
//!   lastInterruption, items, transcript: [{ role, agent, text }] }` (`items`: milliseconds
//!   played per assistant item).
//! - `GET /ws`: one browser connection, one session; the protocol is [`protocol`] (version 1).
//!   Barge-in: the page reports how much of each assistant item it played; the relay feeds the
//!   session's `PlaybackTracker`, so an interruption truncates at what the person heard, and
//!   the page drops its queued audio when told.
//! - Limits: [`WebOptions`]: concurrent sessions, microphone audio rate, allowed origins, an
//!   authorization hook.
//! - `POST /session-token` (opt-in): an ephemeral key minted with the agent's settings
//!   (`RealtimeRunner::create_client_secret`), for pages that connect to OpenAI directly.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use realtime_runner::{agent::RealtimeAgent, RealtimeRunner};
//! use realtime_web::{router, WebOptions};
//!
//! let agent = RealtimeAgent::<()>::builder("Assistant").instructions("Be brief.").build()?;
//! let app = router(RealtimeRunner::new(agent), |_headers| (), WebOptions::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub mod protocol;
mod relay;
mod routes;

pub use routes::{router, Authorize, WebOptions};
