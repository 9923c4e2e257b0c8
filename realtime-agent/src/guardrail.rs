//! Output guardrails: checks on what the agent says. The runner decides when they run (as the
//! transcript grows, and when a response ends) and what happens when one trips.

use crate::agent::RealtimeAgent;
use crate::context::RunContext;
use async_trait::async_trait;
use futures_util::future::BoxFuture;
use serde_json::Value;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

/// The verdict of a guardrail.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct GuardrailOutput {
    /// Whether the text broke the rule.
    pub tripwire_triggered: bool,
    /// Anything the guardrail wants to report (why it tripped, scores…).
    pub info: Value,
}

impl GuardrailOutput {
    /// The text is fine.
    pub fn pass() -> Self {
        Self::default()
    }

    /// The text broke the rule.
    pub fn trip(info: impl Into<Value>) -> Self {
        Self {
            tripwire_triggered: true,
            info: info.into(),
        }
    }
}

/// A check on the agent's output text.
#[async_trait]
pub trait OutputGuardrail<Ctx>: Send + Sync + 'static {
    /// The guardrail's name (in events and logs).
    fn name(&self) -> &str;

    /// Checks `text`, everything the agent has said so far in the current response.
    async fn check(
        &self,
        ctx: &RunContext<Ctx>,
        agent: &RealtimeAgent<Ctx>,
        text: &str,
    ) -> GuardrailOutput;
}

type CheckFn<Ctx> = Arc<
    dyn Fn(RunContext<Ctx>, RealtimeAgent<Ctx>, String) -> BoxFuture<'static, GuardrailOutput>
        + Send
        + Sync,
>;

/// A guardrail from an async closure.
pub struct GuardrailFn<Ctx> {
    name: String,
    f: CheckFn<Ctx>,
}

impl<Ctx> fmt::Debug for GuardrailFn<Ctx> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardrailFn")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<Ctx: Send + Sync + 'static> GuardrailFn<Ctx> {
    /// A guardrail named `name` that runs `f` on the text.
    pub fn new<F, Fut>(name: impl Into<String>, f: F) -> Self
    where
        F: Fn(RunContext<Ctx>, RealtimeAgent<Ctx>, String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = GuardrailOutput> + Send + 'static,
    {
        let f = Arc::new(f);
        Self {
            name: name.into(),
            f: Arc::new(move |c, a, t| Box::pin(f(c, a, t))),
        }
    }
}

#[async_trait]
impl<Ctx: Send + Sync + 'static> OutputGuardrail<Ctx> for GuardrailFn<Ctx> {
    fn name(&self) -> &str {
        &self.name
    }

    async fn check(
        &self,
        ctx: &RunContext<Ctx>,
        agent: &RealtimeAgent<Ctx>,
        text: &str,
    ) -> GuardrailOutput {
        (self.f)(ctx.clone(), agent.clone(), text.to_owned()).await
    }
}
