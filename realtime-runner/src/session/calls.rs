//! Tool and handoff calls: the tasks that run them (off the loop, concurrently, each with a
//! deadline), the calls waiting for approval, and the per-session approve/reject-always
//! choices. The loop decides what a finished call means for the conversation.

use crate::error::Result;
use crate::settings::{agent_settings, SessionSettings};
use realtime_agent::{
    EncodedOutput, RealtimeAgent, RunContext, Tool, ToolContext, ToolError, ToolGuardrailOutput,
};
use realtime_protocol::CallId;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::{Id, JoinError, JoinSet};

/// Which call: its id, the function, and the agent whose tool or handoff it is.
pub(super) struct Call {
    pub(super) call_id: CallId,
    pub(super) name: String,
    pub(super) agent: String,
}

/// A call in flight.
pub(super) struct Running<Ctx> {
    pub(super) call: Call,
    pub(super) kind: CallKind<Ctx>,
}

pub(super) enum CallKind<Ctx> {
    Tool(Arc<dyn Tool<Ctx>>),
    /// The tool's input guardrails, before approval and before it runs.
    InputGuard {
        tool: Arc<dyn Tool<Ctx>>,
        arguments: String,
    },
    Handoff,
}

/// A tool guardrail that stopped a call: its name, what the model is told, what it reported.
pub(super) struct Rejection {
    pub(super) guardrail: String,
    pub(super) message: String,
    pub(super) info: serde_json::Value,
}

/// What a tool's task produced: its output, or the output guardrail that rejected it.
pub(super) enum ToolDone {
    Output(EncodedOutput),
    Rejected(Rejection),
}

/// The agent a handoff switches to, and its session settings.
pub(super) type HandoffTarget<Ctx> = (RealtimeAgent<Ctx>, Result<SessionSettings>);

pub(super) enum CallOutcome<Ctx> {
    Tool(std::result::Result<ToolDone, ToolError>),
    /// The input guardrails' verdict: `None` lets the call go on.
    InputGuard(Option<Rejection>),
    Handoff(std::result::Result<Box<HandoffTarget<Ctx>>, ToolError>),
}

/// A call waiting for the application's approval.
pub(super) struct PendingApproval<Ctx> {
    pub(super) tool: Arc<dyn Tool<Ctx>>,
    pub(super) name: String,
    pub(super) agent: String,
    pub(super) arguments: String,
}

pub(super) struct Calls<Ctx> {
    tasks: JoinSet<CallOutcome<Ctx>>,
    running: HashMap<Id, Running<Ctx>>,
    seen: HashSet<CallId>,
    approvals: HashMap<CallId, PendingApproval<Ctx>>,
    always_approve: HashSet<String>,
    always_reject: HashSet<String>,
}

impl<Ctx> Default for Calls<Ctx> {
    fn default() -> Self {
        Self {
            tasks: JoinSet::new(),
            running: HashMap::new(),
            seen: HashSet::new(),
            approvals: HashMap::new(),
            always_approve: HashSet::new(),
            always_reject: HashSet::new(),
        }
    }
}

impl<Ctx: Send + Sync + 'static> Calls<Ctx> {
    /// Whether this call id is new (a repeated call is never run twice).
    pub(super) fn first_time(&mut self, call_id: &CallId) -> bool {
        self.seen.insert(call_id.clone())
    }

    /// No call runs or waits for approval.
    pub(super) fn is_settled(&self) -> bool {
        self.running.is_empty() && self.approvals.is_empty()
    }

    /// Whether tasks are running (the loop polls [`Self::join_next`] only then).
    pub(super) fn has_tasks(&self) -> bool {
        !self.tasks.is_empty()
    }

    pub(super) fn always_rejects(&self, name: &str) -> bool {
        self.always_reject.contains(name)
    }

    pub(super) fn always_approves(&self, name: &str) -> bool {
        self.always_approve.contains(name)
    }

    /// Runs a tool under `timeout`.
    pub(super) fn spawn_tool(
        &mut self,
        ctx: &RunContext<Ctx>,
        call: Call,
        tool: Arc<dyn Tool<Ctx>>,
        arguments: String,
        timeout: Duration,
    ) {
        let tctx = ToolContext::new(ctx.clone(), call.call_id.clone(), call.name.clone());
        let t = tool.clone();
        let tool_name = call.name.clone();
        let handle = self.tasks.spawn(async move {
            let result = match tokio::time::timeout(timeout, t.call(tctx.clone(), &arguments)).await
            {
                Ok(r) => r,
                Err(_) => Err(ToolError::Timeout {
                    tool: tool_name,
                    after: timeout,
                }),
            };
            let done = match result {
                Ok(output) if !t.output_guardrails().is_empty() => {
                    let args = arguments_value(&arguments);
                    let mut verdict = None;
                    for g in t.output_guardrails() {
                        if let ToolGuardrailOutput::Reject { message, info } =
                            g.check(&tctx, &args, &output.text).await
                        {
                            verdict = Some(Rejection {
                                guardrail: g.name().to_owned(),
                                message,
                                info,
                            });
                            break;
                        }
                    }
                    Ok(verdict.map_or(ToolDone::Output(output), ToolDone::Rejected))
                }
                other => other.map(ToolDone::Output),
            };
            CallOutcome::Tool(done)
        });
        let kind = CallKind::Tool(tool);
        self.running.insert(handle.id(), Running { call, kind });
    }

    /// Runs a tool's input guardrails on a call's arguments, in order, until one rejects.
    pub(super) fn spawn_input_guard(
        &mut self,
        ctx: &RunContext<Ctx>,
        call: Call,
        tool: Arc<dyn Tool<Ctx>>,
        arguments: String,
    ) {
        let tctx = ToolContext::new(ctx.clone(), call.call_id.clone(), call.name.clone());
        let t = tool.clone();
        let args = arguments_value(&arguments);
        let handle = self.tasks.spawn(async move {
            for g in t.input_guardrails() {
                if let ToolGuardrailOutput::Reject { message, info } = g.check(&tctx, &args).await {
                    return CallOutcome::InputGuard(Some(Rejection {
                        guardrail: g.name().to_owned(),
                        message,
                        info,
                    }));
                }
            }
            CallOutcome::InputGuard(None)
        });
        let kind = CallKind::InputGuard { tool, arguments };
        self.running.insert(handle.id(), Running { call, kind });
    }

    /// Runs a handoff: its input callback, then the target agent's settings over `base`.
    pub(super) fn spawn_handoff(
        &mut self,
        ctx: &RunContext<Ctx>,
        handoff: realtime_agent::Handoff<Ctx>,
        call: Call,
        arguments: String,
        base: SessionSettings,
        with_voice: bool,
    ) {
        let ctx = ctx.clone();
        let handle = self.tasks.spawn(async move {
            let outcome = match handoff.invoke(ctx.clone(), &arguments).await {
                Ok(agent) => {
                    let settings = agent_settings(&base, &agent, &ctx, with_voice).await;
                    Ok(Box::new((agent, settings)))
                }
                Err(e) => Err(e),
            };
            CallOutcome::Handoff(outcome)
        });
        let kind = CallKind::Handoff;
        self.running.insert(handle.id(), Running { call, kind });
    }

    /// The next call to finish, with what it returned (or why its task failed).
    ///
    /// Cancel safe: a finished task is taken only when it is returned.
    pub(super) async fn join_next(
        &mut self,
    ) -> Option<(
        Running<Ctx>,
        std::result::Result<CallOutcome<Ctx>, JoinError>,
    )> {
        loop {
            let (id, outcome) = match self.tasks.join_next_with_id().await? {
                Ok((id, outcome)) => (id, Ok(outcome)),
                Err(e) => (e.id(), Err(e)),
            };
            if let Some(running) = self.running.remove(&id) {
                return Some((running, outcome));
            }
        }
    }

    pub(super) fn wait_for_approval(&mut self, call_id: CallId, pending: PendingApproval<Ctx>) {
        self.approvals.insert(call_id, pending);
    }

    /// Takes the call waiting for approval; `always` remembers the choice for its tool.
    pub(super) fn take_approval(
        &mut self,
        call_id: &CallId,
        approve: bool,
        always: bool,
    ) -> Option<PendingApproval<Ctx>> {
        let p = self.approvals.remove(call_id)?;
        if always {
            let set = if approve {
                &mut self.always_approve
            } else {
                &mut self.always_reject
            };
            set.insert(p.name.clone());
        }
        Some(p)
    }

    /// Stops every call (the session ends) and waits until their tasks are gone.
    pub(super) async fn shutdown(&mut self) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        self.running.clear();
    }
}

/// A call's arguments as JSON for guardrails (`{}` when the model sent none, `null` when they
/// are not JSON: the tool itself reports that).
fn arguments_value(arguments: &str) -> serde_json::Value {
    if arguments.trim().is_empty() {
        return serde_json::json!({});
    }
    serde_json::from_str(arguments).unwrap_or(serde_json::Value::Null)
}
