//! Handoffs: a tool that, when the model calls it, makes another agent the current one.

use crate::agent::RealtimeAgent;
use crate::context::RunContext;
use crate::error::{check_tool_name, AgentError, Result};
use crate::tool::{ToolDefinition, ToolError};
use futures_util::future::BoxFuture;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, OnceLock};

type OnHandoff<Ctx> =
    Arc<dyn Fn(RunContext<Ctx>, Value) -> BoxFuture<'static, Result<(), String>> + Send + Sync>;
type EnabledFn<Ctx> = Arc<dyn Fn(&RunContext<Ctx>) -> bool + Send + Sync>;

/// A late-bound agent, for agents that hand off to each other (A → B → A), which cannot be
/// built one before the other. Create it with the agent's name, give it to handoffs, then
/// [`set`](Self::set) it once the agent is built.
///
/// The graph then holds itself alive: build such graphs once and share them (agents are
/// cheap to clone), rather than per session.
pub struct AgentRef<Ctx> {
    name: String,
    slot: Arc<OnceLock<RealtimeAgent<Ctx>>>,
}

impl<Ctx> Clone for AgentRef<Ctx> {
    fn clone(&self) -> Self {
        Self {
            name: self.name.clone(),
            slot: self.slot.clone(),
        }
    }
}

impl<Ctx> fmt::Debug for AgentRef<Ctx> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentRef")
            .field("name", &self.name)
            .field("set", &self.slot.get().is_some())
            .finish()
    }
}

impl<Ctx> AgentRef<Ctx> {
    /// A reference to the agent that will be named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            slot: Arc::new(OnceLock::new()),
        }
    }

    /// Binds the agent. Returns `false` (and changes nothing) when it was bound already.
    pub fn set(&self, agent: RealtimeAgent<Ctx>) -> bool {
        self.slot.set(agent).is_ok()
    }

    /// The agent, once bound.
    pub fn get(&self) -> Option<&RealtimeAgent<Ctx>> {
        self.slot.get()
    }
}

enum Target<Ctx> {
    Agent(RealtimeAgent<Ctx>),
    Late(AgentRef<Ctx>),
}

impl<Ctx> Clone for Target<Ctx> {
    fn clone(&self) -> Self {
        match self {
            Target::Agent(a) => Target::Agent(a.clone()),
            Target::Late(r) => Target::Late(r.clone()),
        }
    }
}

/// A handoff to another agent, offered to the model as a tool.
///
/// Default tool name `transfer_to_<agent_name in snake_case>`; default description names the
/// agent and adds its `handoff_description`. Both can be overridden. The call can carry typed
/// input ([`with_input`](Self::with_input)), validated before `on_handoff` runs.
pub struct Handoff<Ctx> {
    tool_name: String,
    tool_description: String,
    input_schema: Value,
    target: Target<Ctx>,
    on_handoff: Option<OnHandoff<Ctx>>,
    enabled: Option<EnabledFn<Ctx>>,
}

impl<Ctx> Clone for Handoff<Ctx> {
    fn clone(&self) -> Self {
        Self {
            tool_name: self.tool_name.clone(),
            tool_description: self.tool_description.clone(),
            input_schema: self.input_schema.clone(),
            target: self.target.clone(),
            on_handoff: self.on_handoff.clone(),
            enabled: self.enabled.clone(),
        }
    }
}

impl<Ctx> fmt::Debug for Handoff<Ctx> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handoff")
            .field("tool_name", &self.tool_name)
            .field("agent", &self.agent_name())
            .finish_non_exhaustive()
    }
}

/// `Billing Agent` → `billing_agent`: lowercase, anything but letters and digits becomes `_`.
pub fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.trim().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').to_owned()
}

fn empty_object_schema() -> Value {
    serde_json::json!({"type": "object", "properties": {}, "required": [], "additionalProperties": false})
}

impl<Ctx> Handoff<Ctx> {
    /// The tool name.
    pub fn name(&self) -> &str {
        &self.tool_name
    }

    /// The tool description.
    pub fn description(&self) -> &str {
        &self.tool_description
    }

    /// The JSON schema of the input.
    pub fn input_schema(&self) -> &Value {
        &self.input_schema
    }

    /// The target agent's name.
    pub fn agent_name(&self) -> &str {
        match &self.target {
            Target::Agent(a) => a.name(),
            Target::Late(r) => &r.name,
        }
    }
}

impl<Ctx: Send + Sync + 'static> Handoff<Ctx> {
    fn with_target(name: &str, description: Option<&str>, target: Target<Ctx>) -> Self {
        let tool_description = match description.map(str::trim).filter(|d| !d.is_empty()) {
            Some(d) => format!("Handoff to the {name} agent to handle the request. {d}"),
            None => format!("Handoff to the {name} agent to handle the request."),
        };
        Self {
            tool_name: format!("transfer_to_{}", snake_case(name)),
            tool_description,
            input_schema: empty_object_schema(),
            target,
            on_handoff: None,
            enabled: None,
        }
    }

    /// A handoff to `agent`.
    pub fn to(agent: &RealtimeAgent<Ctx>) -> Self {
        Self::with_target(
            agent.name(),
            agent.handoff_description(),
            Target::Agent(agent.clone()),
        )
    }

    /// A handoff to an agent bound later (see [`AgentRef`]); `description` stands in for its
    /// `handoff_description`.
    pub fn to_ref(agent: &AgentRef<Ctx>, description: Option<&str>) -> Self {
        Self::with_target(&agent.name, description, Target::Late(agent.clone()))
    }

    /// Overrides the tool name.
    ///
    /// # Errors
    /// [`AgentError::InvalidName`] for a name the API does not allow.
    pub fn tool_name(mut self, name: impl Into<String>) -> Result<Self> {
        let name = name.into();
        check_tool_name(&name)?;
        self.tool_name = name;
        Ok(self)
    }

    /// Overrides the tool description.
    pub fn tool_description(mut self, description: impl Into<String>) -> Self {
        self.tool_description = description.into();
        self
    }

    /// Runs `f` when the handoff happens (before the switch).
    pub fn on_handoff<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(RunContext<Ctx>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let f = Arc::new(f);
        self.on_handoff = Some(Arc::new(move |ctx, _| {
            let fut = f(ctx);
            Box::pin(async move {
                fut.await;
                Ok(())
            })
        }));
        self
    }

    /// The model must pass input of type `T` (its schema is derived like a tool's); `f` gets it
    /// when the handoff happens. Input that does not fit fails the handoff, and the model is
    /// told why.
    pub fn with_input<T, F, Fut>(mut self, f: F) -> Self
    where
        T: DeserializeOwned + JsonSchema + Send + 'static,
        F: Fn(RunContext<Ctx>, T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.input_schema = crate::schema::parameters_schema::<T>();
        let f = Arc::new(f);
        self.on_handoff = Some(Arc::new(move |ctx, value| {
            let f = f.clone();
            Box::pin(async move {
                let input: T =
                    crate::tool::deserialize_arguments(value).map_err(|e| e.to_string())?;
                f(ctx, input).await;
                Ok(())
            })
        }));
        self
    }

    /// Offered to the model only when `f` says so.
    pub fn enabled_when(
        mut self,
        f: impl Fn(&RunContext<Ctx>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.enabled = Some(Arc::new(f));
        self
    }

    /// Offered or not, fixed.
    pub fn enabled(self, enabled: bool) -> Self {
        self.enabled_when(move |_| enabled)
    }

    /// Whether it is offered now.
    pub fn is_enabled(&self, ctx: &RunContext<Ctx>) -> bool {
        self.enabled.as_ref().is_none_or(|f| f(ctx))
    }

    /// The target agent.
    ///
    /// # Errors
    /// [`AgentError::UnresolvedHandoff`] when an [`AgentRef`] target was never set.
    pub fn agent(&self) -> Result<RealtimeAgent<Ctx>> {
        match &self.target {
            Target::Agent(a) => Ok(a.clone()),
            Target::Late(r) => r
                .get()
                .cloned()
                .ok_or_else(|| AgentError::UnresolvedHandoff {
                    name: r.name.clone(),
                }),
        }
    }

    /// The session tool definition.
    pub fn definition(&self) -> ToolDefinition {
        let mut d = ToolDefinition::new(
            &self.tool_name,
            &self.tool_description,
            self.input_schema.clone(),
        );
        d.is_handoff = true;
        d
    }

    /// Performs the handoff for a call with `arguments`: validates the input, runs
    /// `on_handoff`, and returns the agent to switch to.
    ///
    /// # Errors
    /// [`ToolError::InvalidArguments`] for input that does not fit; [`ToolError::Failed`] when
    /// the target cannot be resolved.
    pub async fn invoke(
        &self,
        ctx: RunContext<Ctx>,
        arguments: &str,
    ) -> Result<RealtimeAgent<Ctx>, ToolError> {
        let tool = || self.tool_name.clone();
        let value = crate::tool::parse_arguments(&self.tool_name, arguments)?;
        let agent = self.agent().map_err(|e| ToolError::Failed {
            tool: tool(),
            message: e.to_string(),
        })?;
        if let Some(f) = &self.on_handoff {
            f(ctx, value)
                .await
                .map_err(|message| ToolError::InvalidArguments {
                    tool: tool(),
                    message,
                })?;
        }
        Ok(agent)
    }
}
