//! What a function call means for the conversation: a handoff or a tool of the agent that
//! made the response, asked for approval or run at once; its output sent back with its
//! call id; and one follow-up response once every call of the turn is settled.

use super::calls::{
    Call, CallFailed, CallKind, CallOutcome, PendingApproval, Rejection, Running, ToolDone,
};
use super::event_loop::Loop;
use crate::events::{ErrorKind, SessionEvent, ToolGuardrailStage};
use crate::model::ModelInput;
use realtime_agent::{RealtimeAgent, Tool, ToolError};
use realtime_protocol::{CallId, ResponseId};
use std::sync::Arc;

impl<Ctx: Send + Sync + 'static> Loop<Ctx> {
    /// The agent that made `response_id` (the current agent when unknown).
    fn agent_of(&mut self, response_id: Option<&ResponseId>) -> RealtimeAgent<Ctx> {
        response_id
            .and_then(|r| self.responses.get_mut(r))
            .map_or_else(|| self.agent.clone(), |rec| rec.agent.clone())
    }

    pub(super) async fn on_call(
        &mut self,
        call_id: CallId,
        name: String,
        arguments: String,
        response_id: Option<ResponseId>,
    ) {
        if !self.calls.first_time(&call_id) {
            return;
        }
        let agent = self.agent_of(response_id.as_ref());
        let agent_name = agent.name().to_owned();
        if let Some(handoff) = agent.find_handoff(&self.ctx, &name).cloned() {
            let call = Call {
                call_id,
                name,
                agent: agent_name,
            };
            let base = self.current_base();
            let with_voice = !self.assistant_audio;
            self.calls
                .spawn_handoff(&self.ctx, handoff, call, arguments, base, with_voice);
            return;
        }
        let Some(tool) = agent.find_tool(&self.ctx, &name).cloned() else {
            let err = ToolError::NotFound { tool: name.clone() };
            let output = realtime_agent::default_error_text(&err);
            self.error(ErrorKind::Tool, err.to_string());
            self.finish_call(agent_name, call_id, name, output, true)
                .await;
            return;
        };
        if self.calls.always_rejects(&name) {
            self.reject_call(agent_name, call_id, name, None).await;
            return;
        }
        if !tool.input_guardrails().is_empty() {
            let call = Call {
                call_id,
                name,
                agent: agent_name,
            };
            self.calls
                .spawn_input_guard(&self.ctx, call, tool, arguments);
            return;
        }
        self.approve_or_start(agent_name, call_id, name, arguments, tool);
    }

    /// Asks for approval when the tool wants it, else runs it.
    fn approve_or_start(
        &mut self,
        agent_name: String,
        call_id: CallId,
        name: String,
        arguments: String,
        tool: Arc<dyn Tool<Ctx>>,
    ) {
        let args_value: serde_json::Value =
            serde_json::from_str(&arguments).unwrap_or(serde_json::Value::Null);
        if !self.calls.always_approves(&name) && tool.needs_approval(&self.ctx, &args_value) {
            self.calls.wait_for_approval(
                call_id.clone(),
                PendingApproval {
                    tool,
                    name: name.clone(),
                    agent: agent_name.clone(),
                    arguments: arguments.clone(),
                },
            );
            self.emit(SessionEvent::ToolApprovalRequested {
                agent: agent_name,
                tool: name,
                call_id,
                arguments,
                mcp_server: None,
            });
            return;
        }
        self.start_tool(agent_name, call_id, name, arguments, tool);
    }

    fn start_tool(
        &mut self,
        agent: String,
        call_id: CallId,
        name: String,
        arguments: String,
        tool: Arc<dyn Tool<Ctx>>,
    ) {
        self.emit(SessionEvent::ToolStart {
            agent: agent.clone(),
            tool: name.clone(),
            call_id: call_id.clone(),
            arguments: arguments.clone(),
        });
        let timeout = tool.timeout().unwrap_or(self.config.tool_timeout);
        let call = Call {
            call_id,
            name,
            agent,
        };
        self.calls
            .spawn_tool(&self.ctx, call, tool, arguments, timeout);
    }

    /// The application approved or rejected a call waiting for it.
    pub(super) async fn on_approval(
        &mut self,
        call_id: CallId,
        approve: bool,
        always: bool,
        message: Option<String>,
    ) {
        let Some(p) = self.calls.take_approval(&call_id, approve, always) else {
            self.on_mcp_approval(&call_id, approve, always, message)
                .await;
            return;
        };
        if approve {
            self.start_tool(p.agent, call_id, p.name, p.arguments, p.tool);
        } else {
            self.reject_call(p.agent, call_id, p.name, message).await;
        }
    }

    async fn reject_call(
        &mut self,
        agent: String,
        call_id: CallId,
        name: String,
        message: Option<String>,
    ) {
        let output = message.unwrap_or_else(|| format!("The user rejected the call to `{name}`."));
        self.finish_call(agent, call_id, name, output, true).await;
    }

    /// A tool guardrail stopped the call: reported, and its message is the call's output.
    async fn guardrail_rejected(
        &mut self,
        call: Call,
        stage: ToolGuardrailStage,
        rejection: Rejection,
    ) {
        let Call {
            call_id,
            name,
            agent,
        } = call;
        self.emit(SessionEvent::ToolGuardrailTripped {
            agent: agent.clone(),
            tool: name.clone(),
            call_id: call_id.clone(),
            guardrail: rejection.guardrail,
            stage,
            message: rejection.message.clone(),
            info: rejection.info,
        });
        self.finish_call(agent, call_id, name, rejection.message, true)
            .await;
    }

    /// Sends a call's output and, when no other call is in flight, asks for the follow-up
    /// response.
    async fn finish_call(
        &mut self,
        agent: String,
        call_id: CallId,
        name: String,
        output: String,
        is_error: bool,
    ) {
        self.finish_call_with(agent, call_id, name, output, is_error, true)
            .await;
    }

    /// Sends a call's output; `respond` asks for the turn's follow-up response (a background
    /// output does not, though another call of the turn may).
    async fn finish_call_with(
        &mut self,
        agent: String,
        call_id: CallId,
        name: String,
        output: String,
        is_error: bool,
        respond: bool,
    ) {
        self.emit(SessionEvent::ToolEnd {
            agent,
            tool: name,
            call_id: call_id.clone(),
            output: output.clone(),
            is_error,
        });
        self.send(ModelInput::ToolOutput { call_id, output }).await;
        // One follow-up response for all the calls of a turn that want one: once none is in
        // flight and the response that made them is done.
        if respond {
            self.responses.tool_followup = true;
        }
        self.try_create_response().await;
    }

    pub(super) async fn on_call_done(
        &mut self,
        running: Running<Ctx>,
        outcome: Result<CallOutcome<Ctx>, CallFailed>,
    ) {
        let Running { call, kind } = running;
        let (kind, outcome) = match (kind, outcome) {
            (CallKind::InputGuard { tool, arguments }, Ok(CallOutcome::InputGuard(None))) => {
                self.approve_or_start(call.agent, call.call_id, call.name, arguments, tool);
                return;
            }
            (CallKind::InputGuard { .. }, Ok(CallOutcome::InputGuard(Some(rejection)))) => {
                self.guardrail_rejected(call, ToolGuardrailStage::Input, rejection)
                    .await;
                return;
            }
            (CallKind::Tool(_), Ok(CallOutcome::Tool(Ok(ToolDone::Rejected(rejection))))) => {
                self.guardrail_rejected(call, ToolGuardrailStage::Output, rejection)
                    .await;
                return;
            }
            other => other,
        };
        let Call {
            call_id,
            name,
            agent,
        } = call;
        match (kind, outcome) {
            (CallKind::Tool(_), Ok(CallOutcome::Tool(Ok(ToolDone::Output(output))))) => {
                self.finish_call_with(agent, call_id, name, output.text, false, output.respond)
                    .await;
            }
            (CallKind::InputGuard { .. }, Err(failed)) => {
                // A guardrail that fails cannot vouch for the call: it does not run.
                let message = if failed == CallFailed::Panicked {
                    "a tool input guardrail panicked"
                } else {
                    "a tool input guardrail was cancelled"
                };
                self.error(ErrorKind::Tool, format!("{message} (`{name}`)"));
                let output =
                    format!("The call to `{name}` could not be checked, so it was not run.");
                self.finish_call(agent, call_id, name, output, true).await;
            }
            (CallKind::Tool(tool), Ok(CallOutcome::Tool(Err(err)))) => {
                self.error(ErrorKind::Tool, err.to_string());
                let output = tool.format_error(&err);
                self.finish_call(agent, call_id, name, output, true).await;
            }
            (CallKind::Tool(tool), Err(failed)) => {
                let err = if failed == CallFailed::Panicked {
                    ToolError::Panicked { tool: name.clone() }
                } else {
                    ToolError::Failed {
                        tool: name.clone(),
                        message: "cancelled".into(),
                    }
                };
                self.error(ErrorKind::Tool, err.to_string());
                let output = tool.format_error(&err);
                self.finish_call(agent, call_id, name, output, true).await;
            }
            (CallKind::Handoff, Ok(CallOutcome::Handoff(Ok(target)))) => {
                let (to_agent, settings) = *target;
                match settings {
                    Ok(settings) => {
                        let from = self.agent.name().to_owned();
                        let to = to_agent.name().to_owned();
                        self.switch_agent(to_agent, settings).await;
                        self.emit(SessionEvent::Handoff {
                            from,
                            to: to.clone(),
                        });
                        let output = serde_json::json!({ "assistant": to }).to_string();
                        self.finish_call(agent, call_id, name, output, false).await;
                    }
                    Err(e) => {
                        self.error(ErrorKind::Handoff, e.to_string());
                        let output = format!("The handoff failed: {e}");
                        self.finish_call(agent, call_id, name, output, true).await;
                    }
                }
            }
            (CallKind::Handoff, Ok(CallOutcome::Handoff(Err(e)))) => {
                self.error(ErrorKind::Handoff, e.to_string());
                let output = realtime_agent::default_error_text(&e);
                self.finish_call(agent, call_id, name, output, true).await;
            }
            (CallKind::Handoff, Err(_)) => {
                let err = ToolError::Panicked { tool: name.clone() };
                self.error(ErrorKind::Handoff, err.to_string());
                let output = realtime_agent::default_error_text(&err);
                self.finish_call(agent, call_id, name, output, true).await;
            }
            // A task whose outcome does not match its kind cannot be made; answer the model
            // all the same, so the turn never hangs.
            (_, Ok(_)) => {
                let output = "The call could not be completed.".to_owned();
                self.finish_call(agent, call_id, name, output, true).await;
            }
        }
    }
}
