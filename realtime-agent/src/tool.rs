//! Tools the model can call: [`FunctionTool`] from a typed async function, or any [`Tool`].

use crate::context::{RunContext, ToolContext};
use crate::error::{check_tool_name, Result};
use crate::tool_guardrail::{ToolInputGuardrail, ToolOutputGuardrail};
use crate::tool_output::{EncodedOutput, ToolOutput};
use async_trait::async_trait;
use futures_util::future::BoxFuture;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Why a tool call did not produce output. The runner turns it into text for the model (see
/// [`Tool::format_error`]) and an error event for the application; the session goes on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ToolError {
    /// The arguments were not JSON, or did not fit the parameters.
    #[error("invalid arguments for tool `{tool}`: {message}")]
    InvalidArguments {
        /// The tool.
        tool: String,
        /// What did not fit.
        message: String,
    },
    /// The tool ran and failed.
    #[error("tool `{tool}` failed: {message}")]
    Failed {
        /// The tool.
        tool: String,
        /// The tool's error, as text.
        message: String,
    },
    /// The tool did not finish within its timeout.
    #[error("tool `{tool}` timed out after {after:?}")]
    Timeout {
        /// The tool.
        tool: String,
        /// The timeout.
        after: Duration,
    },
    /// The tool panicked.
    #[error("tool `{tool}` panicked")]
    Panicked {
        /// The tool.
        tool: String,
    },
    /// The model called a tool the agent does not have.
    #[error("tool `{tool}` not found")]
    NotFound {
        /// The name the model used.
        tool: String,
    },
    /// A human (or policy) rejected the call.
    #[error("tool `{tool}` call was rejected")]
    Rejected {
        /// The tool.
        tool: String,
        /// The message for the model.
        message: Option<String>,
    },
}

/// The text the model gets for a failed call unless a tool formats it otherwise.
pub fn default_error_text(err: &ToolError) -> String {
    match err {
        ToolError::Rejected {
            message: Some(m), ..
        } => m.clone(),
        other => {
            format!("An error occurred while running the tool. Please try again. Error: {other}")
        }
    }
}

/// A tool the model can call.
///
/// Implement it for tools with a hand-written JSON schema; [`FunctionTool`] derives one from a
/// typed argument struct.
#[async_trait]
pub trait Tool<Ctx>: Send + Sync + 'static {
    /// The name the model calls it by.
    fn name(&self) -> &str;

    /// What it does, for the model.
    fn description(&self) -> &str;

    /// The JSON schema of its arguments (an object).
    fn parameters(&self) -> &Value;

    /// Whether the model may see and call it now. Default: always.
    fn is_enabled(&self, _ctx: &RunContext<Ctx>) -> bool {
        true
    }

    /// Whether this call needs a human's approval before it runs. Default: never.
    fn needs_approval(&self, _ctx: &RunContext<Ctx>, _arguments: &Value) -> bool {
        false
    }

    /// How long a call may take before it is abandoned. Default: no limit of its own (the
    /// runner's default applies).
    fn timeout(&self) -> Option<Duration> {
        None
    }

    /// The text the model gets when a call fails. Default: [`default_error_text`].
    fn format_error(&self, err: &ToolError) -> String {
        default_error_text(err)
    }

    /// Runs the tool with the model's JSON arguments (as text) and returns its output text.
    ///
    /// The runner polls the returned future once on the session's own task: a tool that
    /// answers without waiting has its output sent at once, with no task switch. A future that
    /// waits goes on in a task of its own. So never block the thread before the first
    /// `.await` (CPU-heavy or blocking work belongs in `tokio::task::spawn_blocking`): that
    /// would hold up the session's events.
    async fn invoke(&self, ctx: ToolContext<Ctx>, arguments: &str) -> Result<String, ToolError>;

    /// Runs the tool and says whether the model should answer its output now (see
    /// [`ToolOutput::background`]). The runner calls this. Default: [`Self::invoke`]'s text,
    /// answered.
    async fn call(&self, ctx: ToolContext<Ctx>, arguments: &str) -> Result<EncodedOutput, ToolError>
    where
        Ctx: Send + Sync + 'static,
    {
        self.invoke(ctx, arguments)
            .await
            .map(EncodedOutput::answered)
    }

    /// Checks on each call's arguments, run before approval is asked and before the tool
    /// runs. Default: none.
    fn input_guardrails(&self) -> &[Arc<dyn ToolInputGuardrail<Ctx>>] {
        &[]
    }

    /// Checks on each call's output, run before the model gets it. Default: none.
    fn output_guardrails(&self) -> &[Arc<dyn ToolOutputGuardrail<Ctx>>] {
        &[]
    }
}

/// A tool as the session configuration carries it, in neither dialect yet.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ToolDefinition {
    /// The name.
    pub name: String,
    /// The description.
    pub description: String,
    /// The JSON schema of the arguments.
    pub parameters: Value,
    /// Whether it is a handoff rather than a function.
    pub is_handoff: bool,
}

impl ToolDefinition {
    /// A definition.
    pub fn new(name: impl Into<String>, description: impl Into<String>, parameters: Value) -> Self {
        Self {
            name: name.into(),
            description: description.into(),
            parameters,
            is_handoff: false,
        }
    }

    /// As a GA session tool.
    pub fn to_ga(&self) -> realtime_protocol::ga::Tool {
        use realtime_protocol::ga::{FunctionTool as GaFn, FunctionToolType, Tool as GaTool};
        GaTool::Function(
            GaFn::default()
                .with_type(FunctionToolType::Function)
                .with_name(self.name.clone())
                .with_description(self.description.clone())
                .with_parameters(self.parameters.clone()),
        )
    }

    /// As a beta session tool.
    pub fn to_beta(&self) -> realtime_protocol::beta::Tool {
        use realtime_protocol::beta::{Tool as BetaTool, ToolType};
        BetaTool::default()
            .with_type(ToolType::Function)
            .with_name(self.name.clone())
            .with_description(self.description.clone())
            .with_parameters(self.parameters.clone())
    }
}

/// The model's arguments as JSON; the API sends `""` for a call without arguments.
pub(crate) fn parse_arguments(tool: &str, arguments: &str) -> Result<Value, ToolError> {
    let text = if arguments.trim().is_empty() {
        "{}"
    } else {
        arguments
    };
    serde_json::from_str(text).map_err(|e| ToolError::InvalidArguments {
        tool: tool.to_owned(),
        message: format!("not valid JSON: {e}"),
    })
}

/// Deserializes the model's arguments into `T`.
///
/// The published schema marks a field nullable when the model may leave it out (`Option`, or a
/// `#[serde(default)]` field: strict mode needs every property listed as required), so the
/// model sends `null` for it. serde takes `null` for an `Option` but not for a defaulted
/// field, so when the arguments do not fit as they are, they are tried once more with every
/// `null` object member removed: a defaulted field then takes its default. The first error is
/// reported when neither fits (it names the field that was `null`).
pub(crate) fn deserialize_arguments<T: DeserializeOwned>(
    mut value: Value,
) -> Result<T, serde_json::Error> {
    let first = match T::deserialize(&value) {
        Ok(t) => return Ok(t),
        Err(e) => e,
    };
    if !strip_null_members(&mut value) {
        return Err(first);
    }
    T::deserialize(&value).map_err(|_| first)
}

/// Removes `null` members from every object in `value`, recursively (array elements stay:
/// a `null` element is a value). Whether anything was removed.
fn strip_null_members(value: &mut Value) -> bool {
    match value {
        Value::Object(map) => {
            let before = map.len();
            map.retain(|_, v| !v.is_null());
            let mut changed = map.len() != before;
            for v in map.values_mut() {
                changed |= strip_null_members(v);
            }
            changed
        }
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |changed, v| strip_null_members(v) | changed),
        _ => false,
    }
}

type Handler<Ctx> = Arc<
    dyn Fn(ToolContext<Ctx>, Value) -> BoxFuture<'static, Result<EncodedOutput, ToolError>>
        + Send
        + Sync,
>;
type EnabledFn<Ctx> = Arc<dyn Fn(&RunContext<Ctx>) -> bool + Send + Sync>;
type ApprovalFn<Ctx> = Arc<dyn Fn(&RunContext<Ctx>, &Value) -> bool + Send + Sync>;
type ErrorFormatter = Arc<dyn Fn(&ToolError) -> String + Send + Sync>;

/// A tool made from an async Rust function of a typed argument struct.
///
/// The parameters schema is derived from the struct with schemars (doc comments become
/// descriptions) and normalized (see [`crate::parameters_schema`]). Arguments are checked by
/// deserializing them: bad JSON or a wrong shape becomes a [`ToolError::InvalidArguments`]
/// whose text goes back to the model, never a crash.
///
/// ```
/// use realtime_agent::{FunctionTool, ToolContext};
/// use schemars::JsonSchema;
/// use serde::Deserialize;
///
/// /// Arguments of `get_weather`.
/// #[derive(Deserialize, JsonSchema)]
/// struct Weather {
///     /// The city, e.g. "Paris".
///     city: String,
/// }
///
/// let tool = FunctionTool::new("get_weather", "Current weather for a city.", |_ctx: ToolContext<()>, args: Weather| async move {
///     Ok::<_, std::convert::Infallible>(format!("Sunny in {}", args.city))
/// })?;
/// assert_eq!(tool.parameters()["required"][0], "city");
/// # use realtime_agent::Tool;
/// # Ok::<(), realtime_agent::AgentError>(())
/// ```
pub struct FunctionTool<Ctx> {
    name: String,
    description: String,
    parameters: Value,
    handler: Handler<Ctx>,
    enabled: Option<EnabledFn<Ctx>>,
    approval: Option<ApprovalFn<Ctx>>,
    timeout: Option<Duration>,
    formatter: Option<ErrorFormatter>,
    input_guardrails: Vec<Arc<dyn ToolInputGuardrail<Ctx>>>,
    output_guardrails: Vec<Arc<dyn ToolOutputGuardrail<Ctx>>>,
}

impl<Ctx> fmt::Debug for FunctionTool<Ctx> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FunctionTool")
            .field("name", &self.name)
            .field("description", &self.description)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<Ctx: Send + Sync + 'static> FunctionTool<Ctx> {
    /// A tool calling `f` with the deserialized arguments.
    ///
    /// `f` returns `Result<R, E>`: `R` is a `String` (sent as it is) or any `Serialize` value
    /// (sent as JSON); `E`'s text goes to the model as a [`ToolError::Failed`].
    ///
    /// # Errors
    /// [`crate::AgentError::InvalidName`] for a name the API does not allow.
    pub fn new<A, R, E, F, Fut>(
        name: impl Into<String>,
        description: impl Into<String>,
        f: F,
    ) -> Result<Self>
    where
        A: DeserializeOwned + JsonSchema + Send + 'static,
        R: Serialize + Send + 'static,
        E: fmt::Display + Send + 'static,
        F: Fn(ToolContext<Ctx>, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<R, E>> + Send + 'static,
    {
        Self::with_output(name, description, move |ctx, args: A| {
            let result = f(ctx, args);
            async move {
                match result.await {
                    Ok(r) => Ok(ToolOutput::respond(r)),
                    Err(e) => Err(e),
                }
            }
        })
    }

    /// A tool whose function says, per call, whether the model answers its output now
    /// ([`ToolOutput::respond`]) or it is sent without a new response
    /// ([`ToolOutput::background`]). A `String` output is sent as it is, any other value as
    /// JSON; `E`'s text goes to the model as a [`ToolError::Failed`].
    ///
    /// # Errors
    /// [`crate::AgentError::InvalidName`] for a name the API does not allow.
    pub fn with_output<A, R, E, F, Fut>(
        name: impl Into<String>,
        description: impl Into<String>,
        f: F,
    ) -> Result<Self>
    where
        A: DeserializeOwned + JsonSchema + Send + 'static,
        R: Serialize + Send + 'static,
        E: fmt::Display + Send + 'static,
        F: Fn(ToolContext<Ctx>, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<ToolOutput<R>, E>> + Send + 'static,
    {
        let name = name.into();
        check_tool_name(&name)?;
        let tool = name.clone();
        let f = Arc::new(f);
        let handler: Handler<Ctx> = Arc::new(move |ctx, args| {
            let f = f.clone();
            let tool = tool.clone();
            Box::pin(async move {
                let args: A =
                    deserialize_arguments(args).map_err(|e| ToolError::InvalidArguments {
                        tool: tool.clone(),
                        message: e.to_string(),
                    })?;
                match f(ctx, args).await {
                    Ok(output) => output.encode(&tool),
                    Err(e) => Err(ToolError::Failed {
                        tool,
                        message: e.to_string(),
                    }),
                }
            })
        });
        Ok(Self {
            name,
            description: description.into(),
            parameters: crate::schema::parameters_schema::<A>(),
            handler,
            enabled: None,
            approval: None,
            timeout: None,
            formatter: None,
            input_guardrails: Vec::new(),
            output_guardrails: Vec::new(),
        })
    }

    /// Adds a guardrail on each call's arguments (run before approval and before the tool).
    pub fn input_guardrail(mut self, guardrail: impl ToolInputGuardrail<Ctx>) -> Self {
        self.input_guardrails.push(Arc::new(guardrail));
        self
    }

    /// Adds a guardrail on each call's output (run before the model gets it).
    pub fn output_guardrail(mut self, guardrail: impl ToolOutputGuardrail<Ctx>) -> Self {
        self.output_guardrails.push(Arc::new(guardrail));
        self
    }

    /// Enabled only when `f` says so.
    pub fn enabled_when(
        mut self,
        f: impl Fn(&RunContext<Ctx>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.enabled = Some(Arc::new(f));
        self
    }

    /// Enabled or not, fixed.
    pub fn enabled(self, enabled: bool) -> Self {
        self.enabled_when(move |_| enabled)
    }

    /// Every call needs approval.
    pub fn require_approval(self, needs: bool) -> Self {
        self.require_approval_when(move |_, _| needs)
    }

    /// A call needs approval when `f` says so, given its arguments.
    pub fn require_approval_when(
        mut self,
        f: impl Fn(&RunContext<Ctx>, &Value) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.approval = Some(Arc::new(f));
        self
    }

    /// A call is abandoned after `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The text the model gets when a call fails.
    pub fn with_error_formatter(
        mut self,
        f: impl Fn(&ToolError) -> String + Send + Sync + 'static,
    ) -> Self {
        self.formatter = Some(Arc::new(f));
        self
    }

    /// Replaces the derived parameters schema (it is used as given).
    pub fn with_parameters_schema(mut self, schema: Value) -> Self {
        self.parameters = schema;
        self
    }
}

#[async_trait]
impl<Ctx: Send + Sync + 'static> Tool<Ctx> for FunctionTool<Ctx> {
    fn name(&self) -> &str {
        &self.name
    }

    fn description(&self) -> &str {
        &self.description
    }

    fn parameters(&self) -> &Value {
        &self.parameters
    }

    fn is_enabled(&self, ctx: &RunContext<Ctx>) -> bool {
        self.enabled.as_ref().is_none_or(|f| f(ctx))
    }

    fn needs_approval(&self, ctx: &RunContext<Ctx>, arguments: &Value) -> bool {
        self.approval.as_ref().is_some_and(|f| f(ctx, arguments))
    }

    fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    fn format_error(&self, err: &ToolError) -> String {
        match &self.formatter {
            Some(f) => f(err),
            None => default_error_text(err),
        }
    }

    async fn invoke(&self, ctx: ToolContext<Ctx>, arguments: &str) -> Result<String, ToolError> {
        self.call(ctx, arguments).await.map(|o| o.text)
    }

    async fn call(
        &self,
        ctx: ToolContext<Ctx>,
        arguments: &str,
    ) -> Result<EncodedOutput, ToolError> {
        let args = parse_arguments(&self.name, arguments)?;
        (self.handler)(ctx, args).await
    }

    fn input_guardrails(&self) -> &[Arc<dyn ToolInputGuardrail<Ctx>>] {
        &self.input_guardrails
    }

    fn output_guardrails(&self) -> &[Arc<dyn ToolOutputGuardrail<Ctx>>] {
        &self.output_guardrails
    }
}
