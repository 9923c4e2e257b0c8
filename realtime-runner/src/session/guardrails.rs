//! Output guardrails: each response's text is checked off the loop, debounced, with the
//! guardrails of the agent that made the response plus the run's; a trip interrupts that
//! response (also its audio still playing after it ended), once, and asks the model to
//! apologize and go on.

use super::barge_in::Cause;
use super::event_loop::Loop;
use super::responses::{GuardResult, GuardState};
use crate::events::SessionEvent;
use crate::model::{ModelInput, UserMessage};
use realtime_agent::{GuardrailOutput, OutputGuardrail, RealtimeAgent};
use realtime_protocol::ResponseId;
use std::sync::Arc;

impl<Ctx: Send + Sync + 'static> Loop<Ctx> {
    /// The guardrails for `agent`'s responses: its own, then the run's that it does not
    /// carry under the same name.
    fn guardrails_for(&self, agent: &RealtimeAgent<Ctx>) -> Vec<Arc<dyn OutputGuardrail<Ctx>>> {
        let mut all: Vec<Arc<dyn OutputGuardrail<Ctx>>> = agent.output_guardrails().to_vec();
        for g in self.runner_guardrails.iter() {
            if !all.iter().any(|a| a.name() == g.name()) {
                all.push(g.clone());
            }
        }
        all
    }

    /// The guardrail state a new response of `agent` starts with.
    pub(super) fn new_guard(&self, agent: &RealtimeAgent<Ctx>) -> GuardState {
        GuardState::new(
            !agent.output_guardrails().is_empty() || !self.runner_guardrails.is_empty(),
            self.config.guardrail_debounce_chars,
        )
    }

    /// The response ended: the text not checked yet is checked now.
    pub(super) fn final_guard_check(&mut self, response_id: &ResponseId) {
        let due = self.responses.get_mut(response_id).is_some_and(|rec| {
            let g = &rec.guard;
            g.enabled && !g.tripped && !g.text.is_empty() && g.checked_len != g.text.len()
        });
        if due {
            self.spawn_guard_check(response_id);
        }
    }

    pub(super) fn spawn_guard_check(&mut self, response_id: &ResponseId) {
        let Some(agent) = self
            .responses
            .get_mut(response_id)
            .map(|rec| rec.agent.clone())
        else {
            return;
        };
        let guardrails = self.guardrails_for(&agent);
        let Some(rec) = self.responses.get_mut(response_id) else {
            return;
        };
        if guardrails.is_empty() {
            return;
        }
        rec.guard.checked_len = rec.guard.text.len();
        let text = rec.guard.text.clone();
        let ctx = self.ctx.clone();
        let response_id = response_id.clone();
        self.guard_tasks.spawn(async move {
            let checks = guardrails.iter().map(|g| {
                let (ctx, agent, text) = (&ctx, &agent, &text);
                async move { (g.name().to_owned(), g.check(ctx, agent, text).await) }
            });
            let results = futures_util::future::join_all(checks).await;
            (response_id, text, results)
        });
    }

    pub(super) async fn on_guardrails(&mut self, (response_id, text, results): GuardResult) {
        // One trip per response; a result for a forgotten response is dropped.
        let Some(rec) = self.responses.get_mut(&response_id) else {
            return;
        };
        if rec.guard.tripped {
            return;
        }
        let tripped: Vec<(String, GuardrailOutput)> = results
            .into_iter()
            .filter(|(_, o)| o.tripwire_triggered)
            .collect();
        if tripped.is_empty() {
            return;
        }
        rec.guard.tripped = true;
        let guardrails: Vec<String> = tripped.iter().map(|(n, _)| n.clone()).collect();
        let info = tripped.into_iter().map(|(_, o)| o.info).collect();
        self.emit(SessionEvent::GuardrailTripped {
            guardrails: guardrails.clone(),
            info,
            text,
            response_id: response_id.clone(),
        });
        // Streaming or finished, the response's audio still playing is cut.
        self.interrupt(Cause::Guardrail(response_id)).await;
        let message = format!(
            "guardrail triggered: {}. Your last response violated this rule; apologize briefly and continue without repeating it.",
            guardrails.join(", ")
        );
        self.send(ModelInput::UserMessage(UserMessage::text(message)))
            .await;
        self.request_response().await;
    }
}
