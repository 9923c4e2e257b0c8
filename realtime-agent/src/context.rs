//! The context a run carries, and what a tool sees of it.

use realtime_protocol::CallId;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// The application's context for one run (one session), shared by instructions, tools,
/// handoffs and guardrails. Cheap to clone.
pub struct RunContext<Ctx> {
    context: Arc<Ctx>,
}

impl<Ctx> RunContext<Ctx> {
    /// Wraps the application's context.
    pub fn new(context: Ctx) -> Self {
        Self {
            context: Arc::new(context),
        }
    }

    /// Wraps a shared context.
    pub fn from_arc(context: Arc<Ctx>) -> Self {
        Self { context }
    }

    /// The application's context.
    pub fn context(&self) -> &Ctx {
        &self.context
    }

    /// The shared context.
    pub fn context_arc(&self) -> &Arc<Ctx> {
        &self.context
    }
}

impl<Ctx> Clone for RunContext<Ctx> {
    fn clone(&self) -> Self {
        Self {
            context: self.context.clone(),
        }
    }
}

impl<Ctx> Deref for RunContext<Ctx> {
    type Target = Ctx;

    fn deref(&self) -> &Ctx {
        &self.context
    }
}

impl<Ctx> fmt::Debug for RunContext<Ctx> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunContext").finish_non_exhaustive()
    }
}

impl Default for RunContext<()> {
    fn default() -> Self {
        Self::new(())
    }
}

/// What a tool invocation sees: the run context, the call id and the tool's name.
pub struct ToolContext<Ctx> {
    /// The run's context.
    pub run: RunContext<Ctx>,
    /// The model's id for this call.
    pub call_id: CallId,
    /// The tool's name.
    pub tool_name: String,
}

impl<Ctx> ToolContext<Ctx> {
    /// A tool context.
    pub fn new(
        run: RunContext<Ctx>,
        call_id: impl Into<CallId>,
        tool_name: impl Into<String>,
    ) -> Self {
        Self {
            run,
            call_id: call_id.into(),
            tool_name: tool_name.into(),
        }
    }

    /// The application's context.
    pub fn context(&self) -> &Ctx {
        self.run.context()
    }
}

impl<Ctx> Clone for ToolContext<Ctx> {
    fn clone(&self) -> Self {
        Self {
            run: self.run.clone(),
            call_id: self.call_id.clone(),
            tool_name: self.tool_name.clone(),
        }
    }
}

impl<Ctx> fmt::Debug for ToolContext<Ctx> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToolContext")
            .field("call_id", &self.call_id)
            .field("tool_name", &self.tool_name)
            .finish()
    }
}
