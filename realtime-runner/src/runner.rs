//! [`RealtimeRunner`] and [`RunConfig`]: how sessions are started.

use crate::error::Result;
use crate::history::HistoryItem;
use crate::model::{ModelConnectOptions, ModelInput, RealtimeModel};
use crate::openai::OpenAIRealtimeModel;
use crate::session::{self, RealtimeSession, SessionSetup};
use crate::settings::SessionSettings;
use realtime_agent::{OutputGuardrail, RealtimeAgent, RunContext};
use realtime_protocol::Dialect;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// What a session does when its consumer reads events slower than they come.
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

    /// Sets [`Self::reconnect`].
    pub fn with_reconnect(mut self, policy: Option<ReconnectPolicy>) -> Self {
        self.reconnect = policy;
        self
    }
}

pub(crate) struct RunnerInner<Ctx> {
    pub(crate) agent: RealtimeAgent<Ctx>,
    pub(crate) config: RunConfig,
    pub(crate) model: Arc<dyn RealtimeModel>,
    pub(crate) guardrails: Vec<Arc<dyn OutputGuardrail<Ctx>>>,
}

/// Starts sessions of an agent. Cheap to clone; share one across all sessions.
///
/// ```no_run
/// use realtime_agent::RealtimeAgent;
/// use realtime_runner::RealtimeRunner;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let agent = RealtimeAgent::<()>::builder("Assistant").instructions("Be brief.").build()?;
/// let runner = RealtimeRunner::new(agent);
/// let session = runner.run(()).await?;
/// session.send_message("Hello!").await?;
/// # Ok(()) }
/// ```
pub struct RealtimeRunner<Ctx = ()> {
    inner: Arc<RunnerInner<Ctx>>,
}

impl<Ctx> Clone for RealtimeRunner<Ctx> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<Ctx> fmt::Debug for RealtimeRunner<Ctx> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RealtimeRunner")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl<Ctx: Send + Sync + 'static> RealtimeRunner<Ctx> {
    /// A runner of `agent` with the default config and OpenAI's GA model (key from
    /// `OPENAI_API_KEY`).
    pub fn new(agent: RealtimeAgent<Ctx>) -> Self {
        Self::builder(agent).build()
    }

    /// A builder.
    pub fn builder(agent: RealtimeAgent<Ctx>) -> RealtimeRunnerBuilder<Ctx> {
        RealtimeRunnerBuilder {
            agent,
            config: RunConfig::default(),
            model: None,
            guardrails: Vec::new(),
        }
    }

    /// The starting agent.
    pub fn agent(&self) -> &RealtimeAgent<Ctx> {
        &self.inner.agent
    }

    /// The config.
    pub fn config(&self) -> &RunConfig {
        &self.inner.config
    }

    /// Connects, sends the session configuration (instructions, tools, settings) in one
    /// `session.update`, and returns the running session.
    ///
    /// # Errors
    /// The agent's tools are misconfigured (before anything connects), or the connection
    /// failed.
    pub async fn run(&self, context: Ctx) -> Result<RealtimeSession<Ctx>> {
        self.run_with_history(context, Vec::new()).await
    }

    /// Like [`run`](Self::run), then recreates `history` on the server (assistant audio turns
    /// as text), so the conversation continues where it was.
    ///
    /// # Errors
    /// As [`run`](Self::run).
    pub async fn run_with_history(
        &self,
        context: Ctx,
        history: Vec<HistoryItem>,
    ) -> Result<RealtimeSession<Ctx>> {
        let ctx = RunContext::new(context);
        let agent = self.inner.agent.clone();
        let settings =
            session::agent_settings(&self.inner.config.settings, &agent, &ctx, true).await?;
        let options = ModelConnectOptions {
            model: settings.model.clone(),
            raw_events: self.inner.config.raw_events,
        };
        let conn = self.inner.model.connect(options).await?;
        conn.sender
            .send(ModelInput::UpdateSession(Box::new(settings.clone())))
            .await?;
        let mut previous = None;
        for item in &history {
            conn.sender
                .send(ModelInput::CreateItem {
                    item: Box::new(item.clone()),
                    previous_item_id: previous.clone(),
                })
                .await?;
            previous = Some(item.item_id().clone());
        }
        Ok(session::spawn(SessionSetup {
            runner: self.inner.clone(),
            ctx,
            agent,
            settings,
            conn,
            history,
        }))
    }
}

/// Builds a [`RealtimeRunner`].
pub struct RealtimeRunnerBuilder<Ctx> {
    agent: RealtimeAgent<Ctx>,
    config: RunConfig,
    model: Option<Arc<dyn RealtimeModel>>,
    guardrails: Vec<Arc<dyn OutputGuardrail<Ctx>>>,
}

impl<Ctx> fmt::Debug for RealtimeRunnerBuilder<Ctx> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RealtimeRunnerBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<Ctx: Send + Sync + 'static> RealtimeRunnerBuilder<Ctx> {
    /// The run config.
    pub fn config(mut self, config: RunConfig) -> Self {
        self.config = config;
        self
    }

    /// The model (default: [`OpenAIRealtimeModel`] in the config's dialect).
    pub fn model(mut self, model: impl RealtimeModel) -> Self {
        self.model = Some(Arc::new(model));
        self
    }

    /// A shared model.
    pub fn shared_model(mut self, model: Arc<dyn RealtimeModel>) -> Self {
        self.model = Some(model);
        self
    }

    /// An output guardrail for every agent of the run (besides each agent's own; a guardrail
    /// given both ways runs once).
    pub fn output_guardrail(mut self, guardrail: impl OutputGuardrail<Ctx>) -> Self {
        self.guardrails.push(Arc::new(guardrail));
        self
    }

    /// The runner.
    pub fn build(self) -> RealtimeRunner<Ctx> {
        let model = self.model.unwrap_or_else(|| {
            Arc::new(OpenAIRealtimeModel::new().dialect(self.config.dialect))
                as Arc<dyn RealtimeModel>
        });
        RealtimeRunner {
            inner: Arc::new(RunnerInner {
                agent: self.agent,
                config: self.config,
                model,
                guardrails: self.guardrails,
            }),
        }
    }
}
