//! [`RealtimeAgent`]: instructions, tools, handoffs and output guardrails.

use crate::context::RunContext;
use crate::error::{AgentError, Result};
use crate::guardrail::OutputGuardrail;
use crate::handoff::Handoff;
use crate::mcp::HostedMcpTool;
use crate::tool::{Tool, ToolDefinition};
use futures_util::future::BoxFuture;
use std::collections::BTreeSet;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

type SyncInstructions<Ctx> =
    Arc<dyn Fn(&RunContext<Ctx>, &RealtimeAgent<Ctx>) -> String + Send + Sync>;
type AsyncInstructions<Ctx> =
    Arc<dyn Fn(RunContext<Ctx>, RealtimeAgent<Ctx>) -> BoxFuture<'static, String> + Send + Sync>;

/// Where an agent's instructions come from.
pub enum Instructions<Ctx> {
    /// Fixed text.
    Text(String),
    /// Computed from the run context and the agent.
    Sync(SyncInstructions<Ctx>),
    /// Computed asynchronously (e.g. looked up in a database).
    Async(AsyncInstructions<Ctx>),
}

impl<Ctx> Clone for Instructions<Ctx> {
    fn clone(&self) -> Self {
        match self {
            Self::Text(t) => Self::Text(t.clone()),
            Self::Sync(f) => Self::Sync(f.clone()),
            Self::Async(f) => Self::Async(f.clone()),
        }
    }
}

impl<Ctx> fmt::Debug for Instructions<Ctx> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Text(t) => f.debug_tuple("Text").field(t).finish(),
            Self::Sync(_) => f.write_str("Sync(..)"),
            Self::Async(_) => f.write_str("Async(..)"),
        }
    }
}

/// Per-agent session settings. What is unset keeps the session's value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AgentSettings {
    /// The voice, e.g. `marin`. The service refuses a voice change once the assistant has
    /// spoken in the session, so the runner only applies it before that.
    pub voice: Option<String>,
}

struct Inner<Ctx> {
    name: String,
    instructions: Instructions<Ctx>,
    tools: Vec<Arc<dyn Tool<Ctx>>>,
    mcp_tools: Vec<HostedMcpTool>,
    handoffs: Vec<Handoff<Ctx>>,
    guardrails: Vec<Arc<dyn OutputGuardrail<Ctx>>>,
    handoff_description: Option<String>,
    settings: AgentSettings,
}

/// A voice agent: a name, instructions, tools, the agents it can hand off to, and the rules
/// its speech must obey. Cheap to clone (shared inside).
///
/// ```
/// use realtime_agent::{RealtimeAgent, RunContext};
///
/// struct Caller { name: String }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), realtime_agent::AgentError> {
/// let agent = RealtimeAgent::<Caller>::builder("Greeter")
///     .instructions_fn(|ctx, _agent| format!("Greet {} warmly.", ctx.context().name))
///     .build()?;
/// let ctx = RunContext::new(Caller { name: "Ada".into() });
/// assert_eq!(agent.instructions(&ctx).await, "Greet Ada warmly.");
/// # Ok(()) }
/// ```
pub struct RealtimeAgent<Ctx = ()> {
    inner: Arc<Inner<Ctx>>,
}

impl<Ctx> Clone for RealtimeAgent<Ctx> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<Ctx: Send + Sync + 'static> fmt::Debug for RealtimeAgent<Ctx> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tools: Vec<&str> = self.inner.tools.iter().map(|t| t.name()).collect();
        let handoffs: Vec<&str> = self.inner.handoffs.iter().map(|h| h.name()).collect();
        let guardrails: Vec<&str> = self.inner.guardrails.iter().map(|g| g.name()).collect();
        f.debug_struct("RealtimeAgent")
            .field("name", &self.inner.name)
            .field("instructions", &self.inner.instructions)
            .field("tools", &tools)
            .field("mcp_tools", &self.inner.mcp_tools)
            .field("handoffs", &handoffs)
            .field("output_guardrails", &guardrails)
            .finish_non_exhaustive()
    }
}

impl<Ctx> PartialEq for RealtimeAgent<Ctx> {
    /// Two handles on the same agent.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl<Ctx> RealtimeAgent<Ctx> {
    /// The name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// What other agents' handoff tools say about this one.
    pub fn handoff_description(&self) -> Option<&str> {
        self.inner.handoff_description.as_deref()
    }

    /// The per-agent settings.
    pub fn settings(&self) -> &AgentSettings {
        &self.inner.settings
    }

    /// The hosted MCP servers whose tools this agent offers.
    pub fn mcp_tools(&self) -> &[HostedMcpTool] {
        &self.inner.mcp_tools
    }
}

impl<Ctx: Send + Sync + 'static> RealtimeAgent<Ctx> {
    /// A builder for an agent named `name`.
    pub fn builder(name: impl Into<String>) -> RealtimeAgentBuilder<Ctx> {
        RealtimeAgentBuilder {
            name: name.into(),
            instructions: Instructions::Text(String::new()),
            tools: Vec::new(),
            mcp_tools: Vec::new(),
            handoffs: Vec::new(),
            guardrails: Vec::new(),
            handoff_description: None,
            settings: AgentSettings::default(),
        }
    }

    /// A builder starting from this agent, to derive a variant (a new agent; this one is
    /// unchanged).
    pub fn to_builder(&self) -> RealtimeAgentBuilder<Ctx> {
        RealtimeAgentBuilder {
            name: self.inner.name.clone(),
            instructions: self.inner.instructions.clone(),
            tools: self.inner.tools.clone(),
            mcp_tools: self.inner.mcp_tools.clone(),
            handoffs: self.inner.handoffs.clone(),
            guardrails: self.inner.guardrails.clone(),
            handoff_description: self.inner.handoff_description.clone(),
            settings: self.inner.settings.clone(),
        }
    }

    /// The function tools (enabled or not).
    pub fn tools(&self) -> &[Arc<dyn Tool<Ctx>>] {
        &self.inner.tools
    }

    /// The handoffs (enabled or not).
    pub fn handoffs(&self) -> &[Handoff<Ctx>] {
        &self.inner.handoffs
    }

    /// The output guardrails.
    pub fn output_guardrails(&self) -> &[Arc<dyn OutputGuardrail<Ctx>>] {
        &self.inner.guardrails
    }

    /// The instructions for this run.
    pub async fn instructions(&self, ctx: &RunContext<Ctx>) -> String {
        match &self.inner.instructions {
            Instructions::Text(t) => t.clone(),
            Instructions::Sync(f) => f(ctx, self),
            Instructions::Async(f) => f(ctx.clone(), self.clone()).await,
        }
    }

    /// The enabled tool with this name.
    pub fn find_tool(&self, ctx: &RunContext<Ctx>, name: &str) -> Option<&Arc<dyn Tool<Ctx>>> {
        self.inner
            .tools
            .iter()
            .find(|t| t.name() == name && t.is_enabled(ctx))
    }

    /// The enabled handoff with this tool name.
    pub fn find_handoff(&self, ctx: &RunContext<Ctx>, name: &str) -> Option<&Handoff<Ctx>> {
        self.inner
            .handoffs
            .iter()
            .find(|h| h.name() == name && h.is_enabled(ctx))
    }

    /// The enabled function tools and handoffs, as session tool definitions (convert each with
    /// [`ToolDefinition::to_ga`] or [`ToolDefinition::to_beta`]).
    ///
    /// # Errors
    /// [`AgentError::DuplicateToolName`] when two enabled tools share a name.
    pub fn tool_definitions(&self, ctx: &RunContext<Ctx>) -> Result<Vec<ToolDefinition>> {
        let mut defs: Vec<ToolDefinition> = self
            .inner
            .tools
            .iter()
            .filter(|t| t.is_enabled(ctx))
            .map(|t| ToolDefinition::new(t.name(), t.description(), t.parameters().clone()))
            .collect();
        defs.extend(
            self.inner
                .handoffs
                .iter()
                .filter(|h| h.is_enabled(ctx))
                .map(Handoff::definition),
        );
        let mut seen = BTreeSet::new();
        for d in &defs {
            if !seen.insert(d.name.as_str()) {
                return Err(AgentError::DuplicateToolName {
                    agent: self.inner.name.clone(),
                    name: d.name.clone(),
                });
            }
        }
        Ok(defs)
    }
}

/// Builds a [`RealtimeAgent`].
pub struct RealtimeAgentBuilder<Ctx> {
    name: String,
    instructions: Instructions<Ctx>,
    tools: Vec<Arc<dyn Tool<Ctx>>>,
    mcp_tools: Vec<HostedMcpTool>,
    handoffs: Vec<Handoff<Ctx>>,
    guardrails: Vec<Arc<dyn OutputGuardrail<Ctx>>>,
    handoff_description: Option<String>,
    settings: AgentSettings,
}

impl<Ctx> fmt::Debug for RealtimeAgentBuilder<Ctx> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RealtimeAgentBuilder")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<Ctx: Send + Sync + 'static> RealtimeAgentBuilder<Ctx> {
    /// Renames the agent (useful with [`RealtimeAgent::to_builder`]).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Fixed instructions.
    pub fn instructions(mut self, text: impl Into<String>) -> Self {
        self.instructions = Instructions::Text(text.into());
        self
    }

    /// Instructions computed from the context and the agent.
    pub fn instructions_fn(
        mut self,
        f: impl Fn(&RunContext<Ctx>, &RealtimeAgent<Ctx>) -> String + Send + Sync + 'static,
    ) -> Self {
        self.instructions = Instructions::Sync(Arc::new(f));
        self
    }

    /// Instructions computed asynchronously.
    pub fn instructions_async<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(RunContext<Ctx>, RealtimeAgent<Ctx>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = String> + Send + 'static,
    {
        let f = Arc::new(f);
        self.instructions = Instructions::Async(Arc::new(move |c, a| Box::pin(f(c, a))));
        self
    }

    /// Adds a tool.
    pub fn tool(mut self, tool: impl Tool<Ctx>) -> Self {
        self.tools.push(Arc::new(tool));
        self
    }

    /// Adds a shared tool.
    pub fn shared_tool(mut self, tool: Arc<dyn Tool<Ctx>>) -> Self {
        self.tools.push(tool);
        self
    }

    /// Adds a hosted MCP server's tools (GA; the service calls them).
    pub fn hosted_mcp_tool(mut self, tool: HostedMcpTool) -> Self {
        self.mcp_tools.push(tool);
        self
    }

    /// Adds a handoff.
    pub fn handoff(mut self, handoff: Handoff<Ctx>) -> Self {
        self.handoffs.push(handoff);
        self
    }

    /// Adds a handoff to `agent` with the default name and description.
    pub fn handoff_to(self, agent: &RealtimeAgent<Ctx>) -> Self {
        self.handoff(Handoff::to(agent))
    }

    /// Adds an output guardrail.
    pub fn output_guardrail(mut self, guardrail: impl OutputGuardrail<Ctx>) -> Self {
        self.guardrails.push(Arc::new(guardrail));
        self
    }

    /// What other agents' handoff tools say about this one.
    pub fn handoff_description(mut self, description: impl Into<String>) -> Self {
        self.handoff_description = Some(description.into());
        self
    }

    /// The voice this agent speaks with.
    pub fn voice(mut self, voice: impl Into<String>) -> Self {
        self.settings.voice = Some(voice.into());
        self
    }

    /// All per-agent settings.
    pub fn settings(mut self, settings: AgentSettings) -> Self {
        self.settings = settings;
        self
    }

    /// The agent.
    ///
    /// # Errors
    /// [`AgentError::InvalidName`] for an empty name.
    pub fn build(self) -> Result<RealtimeAgent<Ctx>> {
        if self.name.trim().is_empty() {
            return Err(AgentError::InvalidName {
                name: self.name,
                reason: "an agent needs a name".into(),
            });
        }
        let mut labels = std::collections::HashSet::new();
        for m in &self.mcp_tools {
            if m.server_label().trim().is_empty() {
                return Err(AgentError::InvalidName {
                    name: m.server_label().to_owned(),
                    reason: "an MCP server needs a label".into(),
                });
            }
            if !labels.insert(m.server_label()) {
                return Err(AgentError::DuplicateToolName {
                    agent: self.name,
                    name: m.server_label().to_owned(),
                });
            }
        }
        Ok(RealtimeAgent {
            inner: Arc::new(Inner {
                name: self.name,
                instructions: self.instructions,
                tools: self.tools,
                mcp_tools: self.mcp_tools,
                handoffs: self.handoffs,
                guardrails: self.guardrails,
                handoff_description: self.handoff_description,
                settings: self.settings,
            }),
        })
    }
}
