//! Tool and handoff calls: the tasks that run them (concurrently, each with a deadline), the
//! calls waiting for approval, and the per-session approve/reject-always choices. The loop
//! decides what a finished call means for the conversation.
//!
//! A call's future is polled once on the loop's task when it starts. One that is ready at
//! once (a tool that computes its answer without waiting) finishes there, with no task to
//! spawn and no task switch before its output is sent; it is handed to the loop the same way
//! as a task's, just first. Only a call that waits gets its own task. A panic in that first
//! poll is caught and reported like a task's.

use crate::error::Result;
use crate::settings::{agent_settings, SessionSettings};
use realtime_agent::{
    EncodedOutput, RealtimeAgent, RunContext, Tool, ToolContext, ToolError, ToolGuardrailOutput,
};
use realtime_protocol::CallId;
use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
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

/// Why a call ended without an outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CallFailed {
    Panicked,
    Cancelled,
}

impl From<JoinError> for CallFailed {
    fn from(e: JoinError) -> Self {
        if e.is_panic() {
            Self::Panicked
        } else {
            Self::Cancelled
        }
    }
}

/// A call that ended, with what it returned.
pub(super) type Finished<Ctx> = (
    Running<Ctx>,
    std::result::Result<CallOutcome<Ctx>, CallFailed>,
);

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
    /// Calls that finished at their first poll, handed to the loop before any task's.
    ready: VecDeque<Finished<Ctx>>,
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
            ready: VecDeque::new(),
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

    /// No call runs, waits for approval, or has an outcome the loop has not taken.
    pub(super) fn is_settled(&self) -> bool {
        self.running.is_empty() && self.ready.is_empty() && self.approvals.is_empty()
    }

    /// Whether a call runs or has finished (the loop polls [`Self::join_next`] only then).
    pub(super) fn has_tasks(&self) -> bool {
        !self.ready.is_empty() || !self.tasks.is_empty()
    }

    /// Starts a call: polls its future once here, and spawns it only when it has to wait.
    fn start(
        &mut self,
        call: Running<Ctx>,
        future: impl Future<Output = CallOutcome<Ctx>> + Send + 'static,
    ) {
        let mut future = Box::pin(future);
        // Nothing is woken by this poll: a future that is pending is polled again, with its
        // task's waker, as soon as the task is spawned below.
        let mut cx = Context::from_waker(Waker::noop());
        let first = std::panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(&mut cx)));
        match first {
            Ok(Poll::Ready(outcome)) => self.ready.push_back((call, Ok(outcome))),
            Ok(Poll::Pending) => {
                let handle = self.tasks.spawn(future);
                self.running.insert(handle.id(), call);
            }
            Err(_panic) => self.ready.push_back((call, Err(CallFailed::Panicked))),
        }
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
        let future = async move {
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
        };
        let kind = CallKind::Tool(tool);
        self.start(Running { call, kind }, future);
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
        let future = async move {
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
        };
        let kind = CallKind::InputGuard { tool, arguments };
        self.start(Running { call, kind }, future);
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
        let future = async move {
            let outcome = match handoff.invoke(ctx.clone(), &arguments).await {
                Ok(agent) => {
                    let settings = agent_settings(&base, &agent, &ctx, with_voice).await;
                    Ok(Box::new((agent, settings)))
                }
                Err(e) => Err(e),
            };
            CallOutcome::Handoff(outcome)
        };
        let kind = CallKind::Handoff;
        self.start(Running { call, kind }, future);
    }

    /// The next call to finish, with what it returned (or why it failed): first those that
    /// finished at their first poll, in the order they started.
    ///
    /// Cancel safe: a finished call is taken only when it is returned.
    pub(super) async fn join_next(&mut self) -> Option<Finished<Ctx>> {
        if let Some(finished) = self.ready.pop_front() {
            return Some(finished);
        }
        loop {
            let (id, outcome) = match self.tasks.join_next_with_id().await? {
                Ok((id, outcome)) => (id, Ok(outcome)),
                Err(e) => (e.id(), Err(CallFailed::from(e))),
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
        self.ready.clear();
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn handoff_call(id: &str) -> Running<()> {
        Running {
            call: Call {
                call_id: CallId::from(id),
                name: "transfer".into(),
                agent: "A".into(),
            },
            kind: CallKind::Handoff,
        }
    }

    fn id_of(finished: &Finished<()>) -> &str {
        finished.0.call.call_id.as_str()
    }

    #[tokio::test]
    async fn a_call_ready_at_once_finishes_without_a_task_and_first() {
        let mut calls = Calls::<()>::default();
        calls.start(handoff_call("waits"), async {
            tokio::task::yield_now().await;
            CallOutcome::InputGuard(None)
        });
        calls.start(handoff_call("ready"), async {
            CallOutcome::InputGuard(None)
        });
        assert_eq!(calls.tasks.len(), 1, "only the call that waits has a task");
        assert!(calls.has_tasks() && !calls.is_settled());
        let first = calls.join_next().await.unwrap();
        assert_eq!(id_of(&first), "ready");
        assert!(matches!(first.1, Ok(CallOutcome::InputGuard(None))));
        let second = calls.join_next().await.unwrap();
        assert_eq!(id_of(&second), "waits");
        assert!(second.1.is_ok());
        assert!(!calls.has_tasks() && calls.is_settled());
        assert!(calls.join_next().await.is_none());
    }

    #[tokio::test]
    async fn a_call_that_waits_is_woken_by_its_own_task() {
        let mut calls = Calls::<()>::default();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        calls.start(handoff_call("waits"), async move {
            let _ = rx.await;
            CallOutcome::InputGuard(None)
        });
        assert!(!calls.is_settled());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let _ = tx.send(());
        });
        let done = tokio::time::timeout(Duration::from_secs(5), calls.join_next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(id_of(&done), "waits");
        assert!(calls.is_settled());
    }

    #[tokio::test]
    async fn a_panic_at_the_first_poll_or_later_is_reported_as_a_panic() {
        let mut calls = Calls::<()>::default();
        calls.start(handoff_call("at once"), async {
            if std::hint::black_box(true) {
                panic!("on purpose, at the first poll");
            }
            CallOutcome::InputGuard(None)
        });
        calls.start(handoff_call("later"), async {
            tokio::task::yield_now().await;
            if std::hint::black_box(true) {
                panic!("on purpose, after a wait");
            }
            CallOutcome::InputGuard(None)
        });
        for expected in ["at once", "later"] {
            let done = calls.join_next().await.unwrap();
            assert_eq!(id_of(&done), expected);
            assert_eq!(done.1.err(), Some(CallFailed::Panicked));
        }
        assert!(calls.is_settled());
    }

    #[tokio::test]
    async fn shutdown_drops_finished_and_running_calls() {
        let mut calls = Calls::<()>::default();
        let dropped = Arc::new(AtomicBool::new(false));
        struct Flag(Arc<AtomicBool>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let flag = Flag(dropped.clone());
        calls.start(handoff_call("ready"), async {
            CallOutcome::InputGuard(None)
        });
        calls.start(handoff_call("never"), async move {
            let _flag = flag;
            std::future::pending::<()>().await;
            CallOutcome::InputGuard(None)
        });
        calls.shutdown().await;
        assert!(calls.is_settled() && !calls.has_tasks());
        assert!(
            dropped.load(Ordering::SeqCst),
            "the waiting call was dropped"
        );
    }
}
