//! How a [`crate::FakeRealtimeServer`] behaves: auth, responder, pacing, ids, faults.

use crate::mcp::McpServerScript;
use crate::replay::Replay;
use crate::responder::{Echo, Responder};
use std::sync::Arc;
use std::time::Duration;

/// Which API keys the handshake accepts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Auth {
    /// Any non-empty key, as `Authorization: Bearer …` or Azure's `api-key` header. The default.
    /// An ephemeral key (`ek_…`) must have been minted by this server's `client_secrets` and
    /// not have expired, with every `Auth` but `Open`.
    #[default]
    AnyKey,
    /// Only these keys.
    Keys(Vec<String>),
    /// No key needed.
    Open,
}

impl Auth {
    /// Only the given keys.
    pub fn keys(keys: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self::Keys(keys.into_iter().map(Into::into).collect())
    }
}

/// How fast responses are streamed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Pacing {
    /// As fast as the socket takes them. The default, for tests.
    #[default]
    Fast,
    /// Audio at playback speed: each delta is sent when the audio before it has had time to
    /// play (20 ms of audio per 20 ms).
    RealTime,
}

/// Where `expires_at` and similar timestamps come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Clock {
    /// A fixed Unix time in seconds, for stable snapshots. The default (`1_767_225_600`,
    /// 2026-01-01).
    Fixed(i64),
    /// The system clock.
    System,
}

impl Default for Clock {
    fn default() -> Self {
        Self::Fixed(1_767_225_600)
    }
}

impl Clock {
    pub(crate) fn now(self) -> i64 {
        match self {
            Clock::Fixed(t) => t,
            Clock::System => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or_default(),
        }
    }
}

/// How strictly client events are checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Validation {
    /// Like the service: every client event is checked against the spec's schema of the
    /// connection's dialect. Unknown parameters (the other dialect's fields included), missing
    /// required ones, wrong JSON types, values out of range or not in an enum are refused with
    /// the service's error (`unknown_parameter`, `missing_required_parameter`, `invalid_type`,
    /// `invalid_value`, `decimal_above_max_value`…), `param` naming the field and the client's
    /// `event_id` echoed; a refused event changes nothing. The default.
    #[default]
    Strict,
    /// Only what the SDK's typed events need: an event that parses is accepted, extra fields
    /// are ignored.
    Lenient,
}

/// A fault applied to every connection, counted in frames the server has sent on it
/// (`session.created` is frame 1).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Fault {
    /// Drop the TCP connection without a close frame once `frames` frames were sent.
    DropAfterFrames(usize),
    /// Send a close frame with this code and reason once `frames` frames were sent.
    CloseAfterFrames {
        /// Frames sent before closing.
        frames: usize,
        /// The close code, e.g. 1011.
        code: u16,
        /// The close reason.
        reason: String,
    },
    /// Send one frame of malformed JSON once `frames` frames were sent.
    MalformedAfterFrames(usize),
    /// Send one event of an unknown type once `frames` frames were sent.
    UnknownEventAfterFrames(usize),
    /// Send one valid but huge event (`bytes` long) once `frames` frames were sent.
    OversizedAfterFrames {
        /// Frames sent before it.
        frames: usize,
        /// Its size in bytes.
        bytes: usize,
    },
    /// Go silent (send nothing, read nothing) for `duration` once `frames` frames were sent.
    StallAfterFrames {
        /// Frames sent before the stall.
        frames: usize,
        /// How long it lasts.
        duration: Duration,
    },
    /// Never read from the socket after the handshake, so pings go unanswered (and client
    /// events are not received): a hung peer.
    IgnorePings,
}

/// The configuration of a fake server. Start from `default()` and chain `with_*`.
#[derive(Clone)]
#[non_exhaustive]
pub struct FakeServerConfig {
    /// Which keys the handshake accepts.
    pub auth: Auth,
    /// What the fake model answers. Default: [`Echo`] (text or audio, following the session).
    pub responder: Arc<dyn Responder>,
    /// How fast responses stream.
    pub pacing: Pacing,
    /// Bytes of PCM per audio delta. Default 960: 20 ms of 24 kHz PCM16.
    pub audio_chunk_bytes: usize,
    /// Seed of the generated ids.
    pub seed: u64,
    /// Where timestamps come from.
    pub clock: Clock,
    /// Faults applied to every connection.
    pub faults: Vec<Fault>,
    /// The transcript given to committed user audio (the fake does not recognize speech).
    /// Override per turn with `ConnectionHandle::set_input_transcript`.
    pub input_transcript: String,
    /// Send `rate_limits.updated` after each `response.done`, as the service does. Default on.
    pub rate_limit_events: bool,
    /// At most this many client events are recorded per connection; older ones are dropped
    /// (and counted) beyond it. Default 100 000.
    pub max_recorded_events: usize,
    /// At most this many closed connections stay listed by `connections()` and
    /// `next_connection` (with their handshakes and recorded events); older closed ones are
    /// forgotten, so a long-running server stays bounded. Open connections are always listed.
    /// Default 1024.
    pub max_finished_connections: usize,
    /// Play a recorded session instead of a responder: the k-th connection plays the
    /// recording's connection k (see [`Replay`]). Such connections are not listed by
    /// `next_connection`; their outcome is [`Replay::outcome`].
    pub replay: Option<Arc<Replay>>,
    /// How strictly client events are checked. Default: [`Validation::Strict`].
    pub validation: Validation,
    /// The hosted MCP servers the fake plays (GA).
    pub mcp_servers: Vec<McpServerScript>,
}

impl std::fmt::Debug for FakeServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeServerConfig")
            .field("auth", &self.auth)
            .field("pacing", &self.pacing)
            .field("audio_chunk_bytes", &self.audio_chunk_bytes)
            .field("seed", &self.seed)
            .field("clock", &self.clock)
            .field("faults", &self.faults)
            .field("replay", &self.replay.is_some())
            .field("validation", &self.validation)
            .finish_non_exhaustive()
    }
}

impl Default for FakeServerConfig {
    fn default() -> Self {
        Self {
            auth: Auth::default(),
            responder: Arc::new(Echo::default()),
            pacing: Pacing::default(),
            audio_chunk_bytes: 960,
            seed: 0x5EED,
            clock: Clock::default(),
            faults: Vec::new(),
            input_transcript: "Hello there.".to_owned(),
            rate_limit_events: true,
            max_recorded_events: 100_000,
            max_finished_connections: 1024,
            replay: None,
            validation: Validation::default(),
            mcp_servers: Vec::new(),
        }
    }
}

impl FakeServerConfig {
    /// Sets [`Self::replay`].
    pub fn with_replay(mut self, replay: Arc<Replay>) -> Self {
        self.replay = Some(replay);
        self
    }

    /// Adds a hosted MCP server to [`Self::mcp_servers`].
    pub fn with_mcp_server(mut self, server: McpServerScript) -> Self {
        self.mcp_servers.push(server);
        self
    }

    /// Sets [`Self::validation`].
    pub fn with_validation(mut self, validation: Validation) -> Self {
        self.validation = validation;
        self
    }

    /// Sets [`Self::auth`].
    pub fn with_auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// Sets [`Self::responder`].
    pub fn with_responder(mut self, responder: impl Responder) -> Self {
        self.responder = Arc::new(responder);
        self
    }

    /// Sets [`Self::responder`] from a shared responder.
    pub fn with_shared_responder(mut self, responder: Arc<dyn Responder>) -> Self {
        self.responder = responder;
        self
    }

    /// Sets [`Self::pacing`].
    pub fn with_pacing(mut self, pacing: Pacing) -> Self {
        self.pacing = pacing;
        self
    }

    /// Sets [`Self::audio_chunk_bytes`] (at least 2).
    pub fn with_audio_chunk_bytes(mut self, bytes: usize) -> Self {
        self.audio_chunk_bytes = bytes.max(2) & !1;
        self
    }

    /// Sets [`Self::seed`].
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets [`Self::clock`].
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Adds a fault to every connection.
    pub fn with_fault(mut self, fault: Fault) -> Self {
        self.faults.push(fault);
        self
    }

    /// Sets [`Self::input_transcript`].
    pub fn with_input_transcript(mut self, transcript: impl Into<String>) -> Self {
        self.input_transcript = transcript.into();
        self
    }

    /// Sets [`Self::max_finished_connections`].
    pub fn with_max_finished_connections(mut self, n: usize) -> Self {
        self.max_finished_connections = n;
        self
    }

    /// Sets [`Self::rate_limit_events`].
    pub fn with_rate_limit_events(mut self, on: bool) -> Self {
        self.rate_limit_events = on;
        self
    }
}
