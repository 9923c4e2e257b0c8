//! Guardrails of one tool: input guardrails see a call's arguments before it runs (and before
//! approval is asked); output guardrails see its output before the model does. A rejection
//! replaces the call's output with a message the model sees; the tool body never runs on a
//! rejected input.

use crate::context::ToolContext;
use async_trait::async_trait;
use futures_util::future::BoxFuture;
use serde_json::Value;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

/// A tool guardrail's verdict.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ToolGuardrailOutput {
    /// The call goes on.
    Allow,
    /// The call is stopped: the model gets `message` as the call's output (an error output),
    /// and the session reports `info`.
    Reject {
        /// What the model is told.
        message: String,
        /// Anything to report (why, scores…).
        info: Value,
    },
}

impl ToolGuardrailOutput {
    /// The call goes on.
    pub fn allow() -> Self {
        Self::Allow
    }

    /// The call is stopped; the model gets `message`.
    pub fn reject(message: impl Into<String>) -> Self {
        Self::Reject {
            message: message.into(),
            info: Value::Null,
        }
    }

    /// The call is stopped; the model gets `message`, the session reports `info`.
    pub fn reject_with_info(message: impl Into<String>, info: impl Into<Value>) -> Self {
        Self::Reject {
            message: message.into(),
            info: info.into(),
        }
    }
}

/// Checks a call's arguments before the tool runs.
#[async_trait]
pub trait ToolInputGuardrail<Ctx>: Send + Sync + 'static {
    /// Its name, reported when it rejects.
    fn name(&self) -> &str;

    /// Checks the call's JSON arguments.
    async fn check(&self, ctx: &ToolContext<Ctx>, arguments: &Value) -> ToolGuardrailOutput;
}

/// Checks a call's output before the model gets it.
#[async_trait]
pub trait ToolOutputGuardrail<Ctx>: Send + Sync + 'static {
    /// Its name, reported when it rejects.
    fn name(&self) -> &str;

    /// Checks the call's output text, given its JSON arguments.
    async fn check(
        &self,
        ctx: &ToolContext<Ctx>,
        arguments: &Value,
        output: &str,
    ) -> ToolGuardrailOutput;
}

type InputFn<Ctx> =
    Arc<dyn Fn(ToolContext<Ctx>, Value) -> BoxFuture<'static, ToolGuardrailOutput> + Send + Sync>;
type OutputFn<Ctx> = Arc<
    dyn Fn(ToolContext<Ctx>, Value, String) -> BoxFuture<'static, ToolGuardrailOutput>
        + Send
        + Sync,
>;

/// An input guardrail from an async function of the call's context and arguments.
pub struct ToolInputGuardrailFn<Ctx> {
    name: String,
    f: InputFn<Ctx>,
}

impl<Ctx> fmt::Debug for ToolInputGuardrailFn<Ctx> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToolInputGuardrailFn")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<Ctx: Send + Sync + 'static> ToolInputGuardrailFn<Ctx> {
    /// A guardrail named `name` that runs `f` on each call's arguments.
    pub fn new<F, Fut>(name: impl Into<String>, f: F) -> Self
    where
        F: Fn(ToolContext<Ctx>, Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ToolGuardrailOutput> + Send + 'static,
    {
        let f = Arc::new(f);
        Self {
            name: name.into(),
            f: Arc::new(move |c, a| Box::pin(f(c, a))),
        }
    }
}

#[async_trait]
impl<Ctx: Send + Sync + 'static> ToolInputGuardrail<Ctx> for ToolInputGuardrailFn<Ctx> {
    fn name(&self) -> &str {
        &self.name
    }

    async fn check(&self, ctx: &ToolContext<Ctx>, arguments: &Value) -> ToolGuardrailOutput {
        (self.f)(ctx.clone(), arguments.clone()).await
    }
}

/// An output guardrail from an async function of the call's context, arguments and output.
pub struct ToolOutputGuardrailFn<Ctx> {
    name: String,
    f: OutputFn<Ctx>,
}

impl<Ctx> fmt::Debug for ToolOutputGuardrailFn<Ctx> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToolOutputGuardrailFn")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<Ctx: Send + Sync + 'static> ToolOutputGuardrailFn<Ctx> {
    /// A guardrail named `name` that runs `f` on each call's output.
    pub fn new<F, Fut>(name: impl Into<String>, f: F) -> Self
    where
        F: Fn(ToolContext<Ctx>, Value, String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ToolGuardrailOutput> + Send + 'static,
    {
        let f = Arc::new(f);
        Self {
            name: name.into(),
            f: Arc::new(move |c, a, o| Box::pin(f(c, a, o))),
        }
    }
}

#[async_trait]
impl<Ctx: Send + Sync + 'static> ToolOutputGuardrail<Ctx> for ToolOutputGuardrailFn<Ctx> {
    fn name(&self) -> &str {
        &self.name
    }

    async fn check(
        &self,
        ctx: &ToolContext<Ctx>,
        arguments: &Value,
        output: &str,
    ) -> ToolGuardrailOutput {
        (self.f)(ctx.clone(), arguments.clone(), output.to_owned()).await
    }
}
