//! [`RunConfig`] and its parts: how sessions run (queues, timeouts, reconnect, barge-in).

use crate::settings::SessionSettings;
use realtime_protocol::Dialect;
use std::time::Duration;

/// What a session does when its consumer reads events slower than they come.
///
/// Under either policy a session whose application stops reading stays in the
/// application's control: it stops reading the server and collecting tool and guardrail
/// results, but commands (`interrupt`, approvals, updates) still take effect at once and
/// `close` returns within about a second. Keep-alive does not count the stall against the
/// server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventQueuePolicy {
    /// The session waits for the consumer (and stops reading the socket, so TCP pushes back
    /// on the server). Nothing is lost; memory stays bounded. The default.
    #[default]
    Wait,
    /// When the queue is full, audio events are dropped and counted (reported by
    /// [`crate::SessionEvent::EventsDropped`] once there is room); other events wait.
    DropAudioWhenFull,
}

/// Reconnecting after the socket dies unexpectedly.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ReconnectPolicy {
    /// Attempts before giving up (then a final connection error ends the session).
    pub max_attempts: u32,
    /// Delay before the first attempt; doubled each time.
    pub initial_backoff: Duration,
    /// The longest delay.
    pub max_backoff: Duration,
}

impl ReconnectPolicy {
    /// Up to `max_attempts` attempts, waiting `initial_backoff` before the first and doubling
    /// up to `max_backoff`.
    pub fn new(max_attempts: u32, initial_backoff: Duration, max_backoff: Duration) -> Self {
        Self {
            max_attempts,
            initial_backoff,
            max_backoff,
        }
    }
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(8),
        }
    }
}

/// The defaults of [`RunConfig`]'s fields.
pub mod defaults {
    use std::time::Duration;

    /// A tool call is abandoned after this long unless the tool sets its own timeout.
    pub const TOOL_TIMEOUT: Duration = Duration::from_secs(60);
    /// Events buffered for the consumer.
    pub const EVENT_QUEUE: usize = 1024;
    /// Commands (messages, interrupts…) buffered for the session loop; callers wait when full.
    pub const COMMAND_QUEUE: usize = 64;
    /// Output guardrails run each time the response's text grows by this many characters.
    pub const GUARDRAIL_DEBOUNCE: usize = 100;
}

/// How sessions run. Start from `default()` and chain `with_*`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RunConfig {
    /// Session settings over the SDK's defaults (see [`SessionSettings::defaults`]); the
    /// agent's settings and the instructions and tools go over these.
    pub settings: SessionSettings,
    /// The dialect of the default OpenAI model. GA by default.
    pub dialect: Dialect,
    /// The tool timeout unless a tool sets its own.
    pub tool_timeout: Duration,
    /// Capacity of the event queue.
    pub event_queue: usize,
    /// What happens when the event queue is full.
    pub event_policy: EventQueuePolicy,
    /// Emit [`crate::SessionEvent::Raw`] for every server event (costs a clone per event).
    pub raw_events: bool,
    /// Output guardrails run on every agent's responses, besides the agent's own.
    pub guardrail_debounce_chars: usize,
    /// Reconnect after an unexpected disconnect; `None` (the default) ends the session.
    pub reconnect: Option<ReconnectPolicy>,
    /// Send `response.cancel` on every barge-in, even when the session's turn detection has
    /// `interrupt_response` on and the server cancels by itself (the server then answers
    /// `response_cancel_not_active`, reported as an error event). Off by default; for servers
    /// that do not honour `interrupt_response`.
    pub always_cancel_on_barge_in: bool,
    /// Turn the session's tracing off (`tracing: null`), whatever the settings say. Off by
    /// default: sessions trace with `auto` (see [`crate::Tracing`]).
    pub tracing_disabled: bool,
    /// After a hosted MCP tool call completes, ask for a response so the model speaks about
    /// its result (as the JS SDK does). On by default.
    pub mcp_auto_response: bool,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            settings: SessionSettings::default(),
            dialect: Dialect::Ga,
            tool_timeout: defaults::TOOL_TIMEOUT,
            event_queue: defaults::EVENT_QUEUE,
            event_policy: EventQueuePolicy::default(),
            raw_events: false,
            guardrail_debounce_chars: defaults::GUARDRAIL_DEBOUNCE,
            reconnect: None,
            always_cancel_on_barge_in: false,
            tracing_disabled: false,
            mcp_auto_response: true,
        }
    }
}

impl RunConfig {
    /// Sets [`Self::settings`].
    pub fn with_settings(mut self, settings: SessionSettings) -> Self {
        self.settings = settings;
        self
    }

    /// Sets [`Self::dialect`].
    pub fn with_dialect(mut self, dialect: Dialect) -> Self {
        self.dialect = dialect;
        self
    }

    /// Sets [`Self::tool_timeout`].
    pub fn with_tool_timeout(mut self, timeout: Duration) -> Self {
        self.tool_timeout = timeout;
        self
    }

    /// Sets [`Self::event_queue`] (at least 1).
    pub fn with_event_queue(mut self, capacity: usize, policy: EventQueuePolicy) -> Self {
        self.event_queue = capacity.max(1);
        self.event_policy = policy;
        self
    }

    /// Sets [`Self::raw_events`].
    pub fn with_raw_events(mut self, on: bool) -> Self {
        self.raw_events = on;
        self
    }

    /// Sets [`Self::guardrail_debounce_chars`].
    pub fn with_guardrail_debounce(mut self, chars: usize) -> Self {
        self.guardrail_debounce_chars = chars.max(1);
        self
    }

    /// Sets [`Self::always_cancel_on_barge_in`].
    pub fn with_always_cancel_on_barge_in(mut self, on: bool) -> Self {
        self.always_cancel_on_barge_in = on;
        self
    }

    /// Sets [`Self::tracing_disabled`].
    pub fn with_tracing_disabled(mut self, disabled: bool) -> Self {
        self.tracing_disabled = disabled;
        self
    }

    /// Sets [`Self::mcp_auto_response`].
    pub fn with_mcp_auto_response(mut self, on: bool) -> Self {
        self.mcp_auto_response = on;
        self
    }

    /// The settings sessions start from: [`Self::settings`], with tracing off when
    /// [`Self::tracing_disabled`] says so.
    pub(crate) fn base_settings(&self) -> SessionSettings {
        let mut s = self.settings.clone();
        if self.tracing_disabled {
            s.tracing = Some(None);
        }
        s
    }

    /// Sets [`Self::reconnect`].
    pub fn with_reconnect(mut self, policy: Option<ReconnectPolicy>) -> Self {
        self.reconnect = policy;
        self
    }
}
