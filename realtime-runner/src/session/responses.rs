//! One record per response: which agent started it, where it is (requested, streaming,
//! done), whether it was interrupted, its guardrail state and what was dropped of it. Every
//! response-scoped event is derived from its record, never from "the current agent", so the
//! order in which tool tasks and server events finish cannot change who said what.

use realtime_agent::{GuardrailOutput, RealtimeAgent};
use realtime_protocol::ResponseId;
use std::collections::VecDeque;

/// Finished records kept for events that arrive late (guardrail results, late deltas).
const KEEP_FINISHED: usize = 8;

/// What output guardrails have seen of one response.
#[derive(Debug, Default)]
pub(super) struct GuardState {
    /// Whether any guardrail applies to the response's agent.
    pub(super) enabled: bool,
    pub(super) text: String,
    /// Characters in `text`, counted as it grows (not recounted per delta).
    chars: usize,
    pub(super) next_check: usize,
    pub(super) tripped: bool,
    pub(super) checked_len: usize,
}

impl GuardState {
    /// A response's guardrail state: checks every `debounce` characters when `enabled`.
    pub(super) fn new(enabled: bool, debounce: usize) -> Self {
        Self {
            enabled,
            next_check: debounce,
            ..Self::default()
        }
    }

    /// More text of the response; whether a check is due (it grew by `debounce` characters
    /// since the last one).
    pub(super) fn push(&mut self, delta: &str, debounce: usize) -> bool {
        if !self.enabled || self.tripped {
            return false;
        }
        self.text.push_str(delta);
        self.chars += delta.chars().count();
        if self.chars < self.next_check {
            return false;
        }
        self.next_check += debounce;
        true
    }
}

/// A guardrail check's result: the response, the text checked, each guardrail's output.
pub(super) type GuardResult = (ResponseId, String, Vec<(String, GuardrailOutput)>);

pub(super) struct ResponseRecord<Ctx> {
    pub(super) id: ResponseId,
    /// The agent that started the response: it owns every event of the response.
    pub(super) agent: RealtimeAgent<Ctx>,
    /// Interrupted (by the app, a barge-in or a guardrail): its output is not playable.
    pub(super) interrupted: bool,
    /// `response.cancel` was sent for it.
    pub(super) cancel_sent: bool,
    pub(super) done: bool,
    pub(super) guard: GuardState,
    /// Output that arrived after the interruption and was not delivered.
    pub(super) dropped_audio_bytes: usize,
    pub(super) dropped_text_chars: usize,
    /// The event id of the `response.create` it was taken for, if it was taken for ours.
    request: Option<String>,
}

/// Our `response.create`, sent and not yet answered.
struct Requested<Ctx> {
    event_id: String,
    agent: RealtimeAgent<Ctx>,
    interrupted: bool,
}

/// The session's responses: at most one requested and one streaming (the service runs one
/// response at a time), and the last few finished ones.
pub(super) struct Responses<Ctx> {
    requested: Option<Requested<Ctx>>,
    current: Option<ResponseRecord<Ctx>>,
    finished: VecDeque<ResponseRecord<Ctx>>,
    /// A response is wanted once nothing is requested or streaming.
    pub(super) pending_create: bool,
    /// Tool outputs were sent: a response is wanted once no call is in flight either.
    pub(super) tool_followup: bool,
    next_event_id: u64,
}

impl<Ctx> Default for Responses<Ctx> {
    fn default() -> Self {
        Self {
            requested: None,
            current: None,
            finished: VecDeque::new(),
            pending_create: false,
            tool_followup: false,
            next_event_id: 0,
        }
    }
}

impl<Ctx> Responses<Ctx> {
    /// Whether a response is requested or streaming (so no other may be requested).
    pub(super) fn is_busy(&self) -> bool {
        self.requested.is_some() || self.current.is_some()
    }

    /// The event id of a `response.create` to send now, if one is wanted and allowed; the
    /// request is recorded with the agent that makes it.
    pub(super) fn next_request(
        &mut self,
        calls_settled: bool,
        agent: &RealtimeAgent<Ctx>,
    ) -> Option<String> {
        let wanted = self.pending_create || (self.tool_followup && calls_settled);
        if !wanted || self.is_busy() {
            return None;
        }
        self.pending_create = false;
        self.tool_followup = false;
        self.next_event_id += 1;
        let event_id = format!("evt_rrs_{}", self.next_event_id);
        self.requested = Some(Requested {
            event_id: event_id.clone(),
            agent: agent.clone(),
            interrupted: false,
        });
        Some(event_id)
    }

    /// The server rejected the request `event_id`: release it; retry later when the server
    /// said another response is active. Whether it was ours.
    pub(super) fn request_failed(&mut self, event_id: &str, code: Option<&str>) -> bool {
        let pending = self
            .requested
            .as_ref()
            .is_some_and(|r| r.event_id == event_id);
        // The server started a response of its own (turn detection) just before refusing
        // ours: the one taken for ours was not ours after all.
        let taken = self
            .current
            .as_mut()
            .filter(|c| c.request.as_deref() == Some(event_id));
        match taken {
            Some(c) if !pending => c.request = None,
            _ if pending => self.requested = None,
            _ => return false,
        }
        if code == Some("conversation_already_has_active_response") {
            self.pending_create = true;
        }
        true
    }

    /// A response started: ours when one was requested (it keeps the requesting agent and
    /// an interrupt that came before it), else the server's own (turn detection), which
    /// belongs to `agent`.
    pub(super) fn on_created(
        &mut self,
        id: ResponseId,
        agent: &RealtimeAgent<Ctx>,
        guard: GuardState,
    ) -> &mut ResponseRecord<Ctx> {
        if let Some(old) = self.current.take() {
            self.retire(old);
        }
        let (agent, interrupted, request) = match self.requested.take() {
            Some(r) => (r.agent, r.interrupted, Some(r.event_id)),
            None => (agent.clone(), false, None),
        };
        self.current.insert(ResponseRecord {
            id,
            agent,
            interrupted,
            cancel_sent: false,
            done: false,
            guard,
            dropped_audio_bytes: 0,
            dropped_text_chars: 0,
            request,
        })
    }

    /// A response ended; its record, when known.
    pub(super) fn on_done(&mut self, id: &ResponseId) -> Option<&mut ResponseRecord<Ctx>> {
        if self.current.as_ref().is_some_and(|c| &c.id == id) {
            if let Some(mut rec) = self.current.take() {
                rec.done = true;
                self.retire(rec);
            }
            return self.finished.back_mut();
        }
        let rec = self.finished.iter_mut().rev().find(|r| &r.id == id)?;
        rec.done = true;
        Some(rec)
    }

    fn retire(&mut self, rec: ResponseRecord<Ctx>) {
        if self.finished.len() >= KEEP_FINISHED {
            self.finished.pop_front();
        }
        self.finished.push_back(rec);
    }

    /// The record of `id`: the streaming response first (almost every lookup), then the
    /// finished ones.
    pub(super) fn get_mut(&mut self, id: &ResponseId) -> Option<&mut ResponseRecord<Ctx>> {
        match &mut self.current {
            Some(c) if &c.id == id => Some(c),
            _ => self.finished.iter_mut().rev().find(|r| &r.id == id),
        }
    }

    /// The streaming response.
    pub(super) fn current_mut(&mut self) -> Option<&mut ResponseRecord<Ctx>> {
        self.current.as_mut()
    }

    /// The application interrupted: a response wanted but not sent is not requested, and one
    /// requested but not yet created is cancelled as soon as it is.
    pub(super) fn interrupt_pending(&mut self) {
        self.pending_create = false;
        self.tool_followup = false;
        if let Some(r) = &mut self.requested {
            r.interrupted = true;
        }
    }

    /// The connection died: a response requested or streaming that was not interrupted is
    /// wanted again on the next connection. Whether one is.
    pub(super) fn connection_lost(&mut self) -> bool {
        let requested = self.requested.take().is_some_and(|r| !r.interrupted);
        let streaming = match self.current.take() {
            Some(mut rec) => {
                let wanted = !rec.interrupted;
                rec.done = true;
                self.retire(rec);
                wanted
            }
            None => false,
        };
        if requested || streaming {
            self.pending_create = true;
        }
        self.pending_create
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(name: &str) -> RealtimeAgent<()> {
        RealtimeAgent::builder(name).build().unwrap()
    }

    #[test]
    fn one_request_at_a_time_and_the_requesting_agent_owns_the_response() {
        let (a, b) = (agent("A"), agent("B"));
        let mut r = Responses::<()>::default();
        assert_eq!(r.next_request(true, &a), None, "nothing wanted");
        r.pending_create = true;
        let first = r.next_request(true, &a).unwrap();
        r.pending_create = true;
        assert_eq!(r.next_request(true, &a), None, "one is requested already");
        // The agent changed (a handoff) before the server created it: it is still A's.
        let rec = r.on_created("r1".into(), &b, GuardState::default());
        assert_eq!(rec.agent.name(), "A");
        assert!(r.is_busy());
        assert_eq!(r.on_done(&"r1".into()).unwrap().agent.name(), "A");
        // The wanted one goes now; a response the server starts by itself is the current
        // agent's.
        let second = r.next_request(true, &b).unwrap();
        assert_ne!(first, second);
        assert!(r.request_failed(&second, Some("conversation_already_has_active_response")));
        assert!(r.pending_create, "retried after the active response");
        r.pending_create = false;
        let rec = r.on_created("r2".into(), &b, GuardState::default());
        assert_eq!(rec.agent.name(), "B");
        assert!(!r.request_failed("evt_other", None), "not ours");
    }

    #[test]
    fn a_request_refused_after_the_server_started_its_own_response_is_retried() {
        let a = agent("A");
        let mut r = Responses::<()> {
            pending_create: true,
            ..Default::default()
        };
        let ours = r.next_request(true, &a).unwrap();
        // The server's own response is created first and taken for ours...
        r.on_created("vad".into(), &a, GuardState::default());
        // ...then ours is refused: it is wanted again once that one is done.
        assert!(r.request_failed(&ours, Some("conversation_already_has_active_response")));
        assert!(r.pending_create);
        r.on_done(&"vad".into());
        assert!(r.next_request(true, &a).is_some());
    }

    #[test]
    fn tool_followups_wait_for_every_call() {
        let a = agent("A");
        let mut r = Responses::<()> {
            tool_followup: true,
            ..Default::default()
        };
        assert_eq!(r.next_request(false, &a), None, "a call is still running");
        assert!(r.next_request(true, &a).is_some());
        assert!(!r.tool_followup);
    }

    #[test]
    fn an_interrupt_reaches_a_response_not_created_yet() {
        let a = agent("A");
        let mut r = Responses::<()> {
            pending_create: true,
            ..Default::default()
        };
        r.next_request(true, &a).unwrap();
        r.tool_followup = true;
        r.interrupt_pending();
        assert!(!r.tool_followup && !r.pending_create);
        let rec = r.on_created("r1".into(), &a, GuardState::default());
        assert!(rec.interrupted, "cancelled as soon as it exists");
    }

    #[test]
    fn a_lost_connection_wants_the_interrupted_work_no_more() {
        let a = agent("A");
        let mut r = Responses::<()>::default();
        assert!(!r.connection_lost(), "nothing in flight");
        r.pending_create = true;
        r.next_request(true, &a).unwrap();
        r.on_created("r1".into(), &a, GuardState::default());
        assert!(
            r.connection_lost(),
            "the streaming response is wanted again"
        );
        assert!(!r.is_busy());
        r.pending_create = true;
        r.next_request(true, &a).unwrap();
        r.on_created("r2".into(), &a, GuardState::default());
        r.current_mut().unwrap().interrupted = true;
        r.pending_create = false;
        assert!(!r.connection_lost(), "an interrupted one is not");
        // Records stay reachable for late events, up to a bound.
        assert!(r.get_mut(&"r2".into()).is_some_and(|rec| rec.done));
        for i in 0..(KEEP_FINISHED + 2) {
            r.on_created(format!("x{i}").into(), &a, GuardState::default());
            r.on_done(&format!("x{i}").into());
        }
        assert!(r.get_mut(&"r1".into()).is_none());
        assert_eq!(r.finished.len(), KEEP_FINISHED);
    }
}
