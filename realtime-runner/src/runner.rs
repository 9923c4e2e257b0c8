//! [`RealtimeRunner`] and [`RunConfig`]: how sessions are started.

use crate::config::RunConfig;
use crate::error::{Result, RunnerError};
use crate::history::HistoryItem;
use crate::model::{ModelConnectOptions, ModelInput, RealtimeModel};
use crate::openai::OpenAIRealtimeModel;
use crate::session::{self, RealtimeSession, SessionSetup};
use crate::settings::{agent_settings, SessionSettings};
use crate::sip::SipCalls;
use realtime_agent::{OutputGuardrail, RealtimeAgent, RunContext};
use std::fmt;
use std::sync::Arc;

struct RunnerInner<Ctx> {
    agent: RealtimeAgent<Ctx>,
    config: Arc<RunConfig>,
    model: Arc<dyn RealtimeModel>,
    guardrails: Arc<[Arc<dyn OutputGuardrail<Ctx>>]>,
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
            agent_settings(&self.inner.config.base_settings(), &agent, &ctx, true).await?;
        self.start(ctx, agent, settings, history, None).await
    }

    /// Accepts an incoming SIP call (see [`crate::WebhookVerifier`]) with the session settings
    /// of this runner's agent (instructions, tools, voice, audio settings), then runs a session
    /// attached to the call (`?call_id=`), which re-attaches if the connection drops.
    ///
    /// # Errors
    /// The agent's tools are misconfigured, the runner speaks beta (SIP is GA only), the
    /// accept was refused (the call is gone, or was already accepted), or the connection failed.
    pub async fn accept_sip_call(
        &self,
        calls: &SipCalls,
        call_id: &str,
        context: Ctx,
    ) -> Result<RealtimeSession<Ctx>> {
        let (ctx, settings) = self.ga_settings(context, "SIP calls").await?;
        let agent = self.inner.agent.clone();
        calls.accept(call_id, &settings).await?;
        self.start(ctx, agent, settings, Vec::new(), Some(call_id.to_owned()))
            .await
    }

    /// Mints an ephemeral key for a client that connects to OpenAI itself (a browser), with
    /// the session settings of this runner's agent (instructions, tools, voice, audio), valid
    /// for `expires_after` (10 s to 2 h; 10 minutes when `None`). The agent's tools then run
    /// in that client, not here.
    ///
    /// # Errors
    /// The agent's tools are misconfigured, the runner speaks beta (client secrets are GA), or
    /// the request failed or was refused.
    pub async fn create_client_secret(
        &self,
        rest: &realtime_transport::RestClient,
        context: Ctx,
        expires_after: Option<std::time::Duration>,
    ) -> Result<crate::ClientSecret> {
        let (_, settings) = self.ga_settings(context, "client secrets").await?;
        let session = crate::openai::ga_session_json(&settings);
        Ok(crate::client_secret::mint(rest, session, expires_after).await?)
    }

    /// The starting agent's session settings for a GA-only REST feature.
    async fn ga_settings(
        &self,
        context: Ctx,
        feature: &str,
    ) -> Result<(RunContext<Ctx>, SessionSettings)> {
        if self.inner.config.dialect == realtime_protocol::Dialect::Beta {
            return Err(RunnerError::Unsupported {
                dialect: "beta",
                feature: feature.into(),
            });
        }
        let ctx = RunContext::new(context);
        let settings = agent_settings(
            &self.inner.config.base_settings(),
            &self.inner.agent,
            &ctx,
            true,
        )
        .await?;
        Ok((ctx, settings))
    }

    async fn start(
        &self,
        ctx: RunContext<Ctx>,
        agent: RealtimeAgent<Ctx>,
        settings: SessionSettings,
        history: Vec<HistoryItem>,
        sip_call_id: Option<String>,
    ) -> Result<RealtimeSession<Ctx>> {
        let options = ModelConnectOptions {
            model: settings.model.clone(),
            raw_events: self.inner.config.raw_events,
            sip_call_id: sip_call_id.clone(),
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
            config: self.inner.config.clone(),
            model: self.inner.model.clone(),
            guardrails: self.inner.guardrails.clone(),
            ctx,
            agent,
            settings,
            conn,
            history,
            sip_call_id,
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
                config: Arc::new(self.config),
                model,
                guardrails: self.guardrails.into(),
            }),
        }
    }
}
