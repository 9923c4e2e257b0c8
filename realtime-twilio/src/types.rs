//! What a call is and what it tells the application: options, the call's start, its events,
//! how it ended, its summary, and the bridge's errors.

use crate::messages::{MediaFormat, StreamStart};
use realtime_runner::protocol::ItemId;
use realtime_runner::{AudioFormat, RunConfig, RunnerError, SessionEvent};
use std::collections::BTreeMap;
use std::time::Duration;

/// A run config set up for a phone line: G.711 µ-law in and out, everything else as given.
pub fn phone_config(config: RunConfig) -> RunConfig {
    let settings = config
        .settings
        .clone()
        .with_audio_format(AudioFormat::G711Ulaw);
    config.with_settings(settings)
}

/// How the bridge behaves.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BridgeOptions {
    /// How long to wait for Twilio's `start` message. Default 10 s.
    pub start_timeout: Duration,
    /// Messages (audio chunks and their marks) queued for Twilio; when full, audio is dropped
    /// and counted ([`CallEvent::OutboundDropped`]). Default 1,000 (10 s of audio).
    pub outbound_queue: usize,
    /// Also tell the model about key presses, as a user message ("The caller pressed 5.").
    /// Default off: the app gets [`CallEvent::Dtmf`] either way.
    pub dtmf_to_model: bool,
    /// How long closing the Twilio socket may take once the call ended. Default 2 s.
    pub close_timeout: Duration,
}

impl Default for BridgeOptions {
    fn default() -> Self {
        Self {
            start_timeout: Duration::from_secs(10),
            outbound_queue: 1_000,
            dtmf_to_model: false,
            close_timeout: Duration::from_secs(2),
        }
    }
}

impl BridgeOptions {
    /// Sets [`Self::dtmf_to_model`].
    pub fn with_dtmf_to_model(mut self, on: bool) -> Self {
        self.dtmf_to_model = on;
        self
    }

    /// Sets [`Self::outbound_queue`] (at least 2).
    pub fn with_outbound_queue(mut self, messages: usize) -> Self {
        self.outbound_queue = messages.max(2);
        self
    }

    /// Sets [`Self::start_timeout`].
    pub fn with_start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }
}

/// The call, as Twilio's `start` describes it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CallStart {
    /// The Twilio account.
    pub account_sid: String,
    /// The call.
    pub call_sid: String,
    /// The media stream.
    pub stream_sid: String,
    /// The `<Parameter>`s of the TwiML `<Stream>` (e.g. the caller's number).
    pub custom_parameters: BTreeMap<String, String>,
    /// The audio format (µ-law 8 kHz mono).
    pub media_format: MediaFormat,
}

impl CallStart {
    pub(crate) fn from_start(s: StreamStart, stream_sid: Option<String>) -> Self {
        let stream_sid = if s.stream_sid.is_empty() {
            stream_sid.unwrap_or_default()
        } else {
            s.stream_sid
        };
        Self {
            account_sid: s.account_sid,
            call_sid: s.call_sid,
            stream_sid,
            custom_parameters: s.custom_parameters,
            media_format: s.media_format,
        }
    }
}

/// What happened on a call, for the application.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CallEvent {
    /// The call started and its session is running.
    Started(CallStart),
    /// An event of the call's session (who speaks, tools, handoffs, interruptions…).
    Session(SessionEvent),
    /// The caller pressed a key.
    Dtmf {
        /// `0`–`9`, `*` or `#`.
        digit: String,
    },
    /// The bridge sent `clear`: the caller stopped hearing this item.
    Cleared {
        /// The interrupted item.
        item_id: ItemId,
    },
    /// Twilio sent a message of an event this crate does not know; ignored.
    UnknownMessage {
        /// Its `event`.
        event: String,
    },
    /// Twilio sent something that is not a message; ignored.
    MalformedMessage {
        /// Why it is not.
        error: String,
    },
    /// Audio chunks dropped because Twilio's socket did not keep up (running total).
    OutboundDropped {
        /// Chunks dropped on this call so far.
        total: u64,
    },
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallEnd {
    /// Twilio sent `stop`.
    Stopped,
    /// Twilio's socket closed (or failed) without `stop`.
    SocketClosed,
    /// The session ended first; the Twilio socket was closed with code 1011.
    SessionEnded {
        /// Why, as logged.
        reason: String,
    },
}

/// What a call amounted to.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CallSummary {
    /// The call.
    pub call_sid: String,
    /// The media stream.
    pub stream_sid: String,
    /// How it ended.
    pub end: CallEnd,
    /// `media` messages received from the caller.
    pub media_in: u64,
    /// Audio chunks sent to the caller.
    pub media_out: u64,
    /// Mark echoes that proved audio played.
    pub marks_played: u64,
    /// `clear` messages sent.
    pub clears: u64,
    /// Audio chunks dropped because Twilio's socket did not keep up.
    pub outbound_dropped: u64,
    /// Messages of unknown events ignored.
    pub unknown_messages: u64,
    /// Malformed messages ignored.
    pub malformed_messages: u64,
}

/// Why a call could not be served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BridgeError {
    /// The runner is not set up for a phone line (G.711 µ-law both ways); see
    /// [`phone_config`]. Fatal for this runner.
    #[error("the runner's audio format is {input:?} in and {output:?} out; a phone line needs G.711 µ-law both ways (use `phone_config`)")]
    AudioFormat {
        /// The input format configured.
        input: Option<AudioFormat>,
        /// The output format configured.
        output: Option<AudioFormat>,
    },
    /// Twilio's socket closed, or `start_timeout` passed, before the `start` message.
    #[error("no `start` message from Twilio: {0}")]
    NoStart(String),
    /// The session could not start; the Twilio socket was closed with code 1011.
    #[error("the call's session could not start")]
    Session(#[source] RunnerError),
}
