//! The session loop: one task per session owns all its state and reacts to four sources,
//! in this order of priority: closing, room in the event queue, the application's commands,
//! finished tool and guardrail tasks, and the model's events (or, while disconnected, the
//! reconnect attempt). What each reaction does lives beside it: `model_events.rs`,
//! `barge_in.rs`, `tool_flow.rs`, `guardrails.rs`, `reconnect.rs`.

use super::audio::AudioItems;
use super::calls::Calls;
use super::mcp::McpServers;
use super::outbox::Outbox;
use super::responses::{GuardResult, Responses};
use super::shared::{Command, Shared};
use crate::config::RunConfig;
use crate::error::{Result, RunnerError};
use crate::events::{ClosedBy, ConnectionStatus, ErrorEvent, ErrorKind, SessionEvent};
use crate::history::{History, HistoryItem};
use crate::model::{
    ModelEvent, ModelEventStream, ModelInput, ModelSender, RealtimeModel, UserMessage,
};
use crate::playback::PlaybackTracker;
use crate::settings::{agent_settings, AudioFormat, SessionSettings};
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use realtime_agent::{OutputGuardrail, RealtimeAgent, RunContext};
use realtime_protocol::ItemId;
use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How long closing waits for the server's close frame before dropping the socket, so that
/// [`crate::RealtimeSession::close`] returns within a second whatever the peer does.
const CLOSE_HANDSHAKE_BUDGET: Duration = Duration::from_millis(500);

/// How many events the loop may handle, while it never waits, before what it fed is
/// flushed: a few microseconds of delay at most, for far fewer writes.
const MAX_UNFLUSHED_EVENTS: u32 = 8;

/// How many model events already read may be handled in one turn of the loop before it looks
/// at its other sources again (closing, finished tool tasks). The application's commands
/// still come first: a burst ends as soon as one is queued.
const MODEL_BURST: u32 = 32;

/// A reply owed to the caller of `send_message`.
pub(super) type Reply = oneshot::Sender<Result<()>>;

/// The connection is being re-established.
pub(super) struct Reconnecting {
    pub(super) attempt: u32,
    pub(super) backoff: Duration,
    pub(super) cause: Arc<RunnerError>,
    /// The current attempt: the backoff sleep, then the connect.
    pub(super) step: BoxFuture<'static, Result<crate::model::ModelConnection>>,
    /// Conversation inputs made meanwhile (messages, tool outputs, item changes), sent on
    /// the new connection after the restore, in order; a message's caller waits for it.
    pub(super) held: VecDeque<(ModelInput, Option<Reply>)>,
}

/// Whether the loop goes on.
pub(super) enum Flow {
    Continue,
    Stop,
}

pub(super) struct Loop<Ctx> {
    pub(super) config: Arc<RunConfig>,
    pub(super) model: Arc<dyn RealtimeModel>,
    /// Output guardrails of the run, for every agent (besides each agent's own).
    pub(super) runner_guardrails: Arc<[Arc<dyn OutputGuardrail<Ctx>>]>,
    pub(super) ctx: RunContext<Ctx>,
    pub(super) agent: RealtimeAgent<Ctx>,
    pub(super) settings: SessionSettings,
    pub(super) sender: Arc<dyn ModelSender>,
    pub(super) events: ModelEventStream,
    pub(super) model_slot: Arc<Mutex<Arc<dyn ModelSender>>>,
    pub(super) out: Outbox,
    pub(super) shared: Arc<Shared>,
    pub(super) tracker: PlaybackTracker,
    pub(super) calls: Calls<Ctx>,
    pub(super) mcp: McpServers,
    pub(super) responses: Responses<Ctx>,
    pub(super) audio: AudioItems,
    /// Whether the assistant has produced audio (the voice is then fixed).
    pub(super) assistant_audio: bool,
    /// The SIP call attached to, if any.
    pub(super) sip_call_id: Option<String>,
    pub(super) guard_tasks: JoinSet<GuardResult>,
    pub(super) reconnecting: Option<Reconnecting>,
    pub(super) cancel: CancellationToken,
    /// Who ends the connection, reported when the session ends (the application unless the
    /// server or a failure did).
    pub(super) closed_by: ClosedBy,
    /// What was fed must go out at the end of this turn of the loop (a barge-in, a command).
    pub(super) flush_now: bool,
    /// Events handled since the last flush while the loop never waited.
    pub(super) unflushed_events: u32,
}

impl<Ctx: Send + Sync + 'static> Loop<Ctx> {
    pub(super) async fn run(mut self, mut commands: mpsc::Receiver<Command<Ctx>>) {
        let cancel = self.cancel.clone();
        // One registration for the whole session, not one per event.
        let cancelled = cancel.cancelled();
        tokio::pin!(cancelled);
        // What the loop sends is fed, not flushed (see `send`); the writes of one burst leave
        // together when the loop is about to wait.
        let mut flusher = Arc::clone(&self.sender);
        loop {
            let stalled = self.out.is_stalled();
            let flow = {
                let turn = async {
                    tokio::select! {
                        biased;
                        () = &mut cancelled => Flow::Stop,
                        () = self.out.flush(), if stalled => Flow::Continue,
                        cmd = commands.recv(), if !self.out.is_full() => match cmd {
                            Some(c) => {
                                let flow = self.on_command(c).await;
                                // The application's commands go out at once.
                                self.flush_now = true;
                                flow
                            }
                            None => Flow::Stop,
                        },
                        Some((running, outcome)) = self.calls.join_next(), if !stalled && self.calls.has_tasks() => {
                            self.on_call_done(running, outcome).await;
                            Flow::Continue
                        }
                        Some(done) = self.guard_tasks.join_next(), if !stalled && !self.guard_tasks.is_empty() => match done {
                            Ok(result) => { self.on_guardrails(result).await; Flow::Continue }
                            Err(_) => Flow::Continue,
                        },
                        step = poll_reconnect(&mut self.reconnecting), if !stalled && self.reconnecting.is_some() => {
                            self.on_reconnect_step(step).await
                        }
                        ev = self.events.next(), if !stalled && self.reconnecting.is_none() => match ev {
                            Some(ev) => self.on_model_burst(ev, &commands).await,
                            None => self.on_disconnect(None),
                        },
                    }
                };
                tokio::pin!(turn);
                std::future::poll_fn(|cx| {
                    let polled = turn.as_mut().poll(cx);
                    if polled.is_pending() {
                        // The loop waits: nothing it fed may wait with it.
                        flusher.flush();
                    }
                    polled
                })
                .await
            };
            if matches!(flow, Flow::Stop) {
                break;
            }
            self.settle();
            if !Arc::ptr_eq(&flusher, &self.sender) {
                flusher = Arc::clone(&self.sender);
            }
        }
        self.shutdown().await;
    }

    /// After each handled event or command. While events keep coming the loop never waits;
    /// a bounded number of events later what it fed goes out anyway, and a barge-in or a
    /// command goes out at once.
    fn settle(&mut self) {
        self.unflushed_events += 1;
        if self.flush_now || self.unflushed_events >= MAX_UNFLUSHED_EVENTS {
            self.flush_now = false;
            self.unflushed_events = 0;
            self.sender.flush();
        }
    }

    /// Handles `first`, then the model events already read behind it, without going back
    /// through the loop's `select!` for each: a burst of deltas is one turn of the loop.
    ///
    /// The burst ends at the first event not ready yet, when the application queued a
    /// command (commands keep their priority), when the event queue fills (the loop then
    /// stalls), when something must go out at once (a barge-in), when the connection ends,
    /// and after [`MODEL_BURST`] events.
    async fn on_model_burst(
        &mut self,
        first: ModelEvent,
        commands: &mpsc::Receiver<Command<Ctx>>,
    ) -> Flow {
        let mut flow = self.on_model_event(first).await;
        for _ in 1..MODEL_BURST {
            if matches!(flow, Flow::Stop)
                || self.flush_now
                || self.out.is_stalled()
                || self.reconnecting.is_some()
                || !commands.is_empty()
            {
                break;
            }
            // Only what is ready now: a pending poll registers this task, as the
            // `select!` would.
            let next =
                std::future::poll_fn(|cx| Poll::Ready(self.events.poll_next_unpin(cx))).await;
            let ev = match next {
                Poll::Pending => break,
                Poll::Ready(Some(ev)) => ev,
                Poll::Ready(None) => return self.on_disconnect(None),
            };
            self.settle();
            flow = self.on_model_event(ev).await;
        }
        flow
    }

    async fn shutdown(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        if let Some(r) = self.reconnecting.take() {
            for (_, reply) in r.held {
                if let Some(reply) = reply {
                    let _ = reply.send(Err(RunnerError::SessionClosed));
                }
            }
        }
        self.calls.shutdown().await;
        self.guard_tasks.abort_all();
        while self.guard_tasks.join_next().await.is_some() {}
        // A bounded close: past the budget the socket is dropped with the loop.
        let _ = tokio::time::timeout(CLOSE_HANDSHAKE_BUDGET, self.sender.close()).await;
        self.emit(SessionEvent::Connection {
            status: ConnectionStatus::disconnected(self.closed_by),
        });
        let tail = self.out.finish();
        if let Ok(mut t) = self.shared.tail.lock() {
            *t = tail;
        }
    }

    // ----- events out -----

    /// Emits an event. Never waits: a full queue stalls the loop instead (see `outbox.rs`).
    pub(super) fn emit(&mut self, ev: SessionEvent) {
        super::trace::event(&ev);
        self.out.push(ev);
    }

    pub(super) fn error(&mut self, kind: ErrorKind, message: impl Into<String>) {
        self.emit(SessionEvent::Error(ErrorEvent::new(kind, message)));
    }

    /// Sends an input to the model. While reconnecting, conversation inputs are held for the
    /// new connection and the rest is dropped (the restore re-sends the session's state).
    pub(super) async fn send(&mut self, input: ModelInput) {
        if let Some(r) = &mut self.reconnecting {
            if holds(&input) {
                r.held.push_back((input, None));
            }
            return;
        }
        // Fed: the loop flushes when it is about to wait (see `run`).
        if let Err(e) = self.sender.feed(input).await {
            self.error(ErrorKind::Send, e.to_string());
        }
    }

    /// A user message: sent now, or after the reconnect in progress; the caller learns which
    /// way it went.
    async fn send_message(&mut self, message: UserMessage, reply: Reply) {
        let input = ModelInput::UserMessage(message);
        if let Some(r) = &mut self.reconnecting {
            r.held.push_back((input, Some(reply)));
            self.responses.pending_create = true;
            return;
        }
        match self.sender.feed(input).await {
            Ok(()) => {
                let _ = reply.send(Ok(()));
                self.request_response().await;
            }
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    // ----- commands -----

    async fn on_command(&mut self, c: Command<Ctx>) -> Flow {
        match c {
            Command::Message { message, reply } => self.send_message(message, reply).await,
            Command::Respond => self.request_response().await,
            Command::Interrupt => self.interrupt_by_app().await,
            Command::UpdateAgent(agent) => {
                let with_voice = !self.assistant_audio;
                match agent_settings(&self.current_base(), &agent, &self.ctx, with_voice).await {
                    Ok(settings) => {
                        let from = self.agent.name().to_owned();
                        self.switch_agent(agent, settings).await;
                        let to = self.agent.name().to_owned();
                        self.emit(SessionEvent::Handoff { from, to });
                    }
                    Err(e) => self.error(ErrorKind::Agent, e.to_string()),
                }
            }
            Command::UpdateSettings(mut s) => {
                if s.tracing.is_some() && s.tracing != self.settings.tracing {
                    tracing::warn!(
                        "tracing cannot change once a session has started; the change is ignored"
                    );
                    s.tracing = None;
                }
                self.settings = self.settings.clone().overlay(&s);
                self.tracker.set_bytes_per_ms(self.out_bytes_per_ms());
                self.send_settings().await;
            }
            Command::Approve { call_id, always } => {
                self.on_approval(call_id, true, always, None).await
            }
            Command::Reject {
                call_id,
                always,
                message,
            } => self.on_approval(call_id, false, always, message).await,
            Command::ReplaceHistory(items) => self.replace_history(items).await,
        }
        Flow::Continue
    }

    /// The settings other than the agent's (what a new agent's settings build on).
    pub(super) fn current_base(&self) -> SessionSettings {
        let mut s = self.settings.clone();
        s.instructions = None;
        s.tools = None;
        s.mcp_tools = None;
        s
    }

    pub(super) fn out_bytes_per_ms(&self) -> f64 {
        self.settings
            .output_audio_format
            .unwrap_or(AudioFormat::Pcm16)
            .bytes_per_ms()
    }

    pub(super) async fn switch_agent(
        &mut self,
        agent: RealtimeAgent<Ctx>,
        mut settings: SessionSettings,
    ) {
        if self.assistant_audio {
            // The service refuses a voice change once the assistant has spoken.
            settings.voice.clone_from(&self.settings.voice);
        }
        self.agent = agent;
        if let Ok(mut a) = self.shared.agent.lock() {
            *a = self.agent.name().to_owned();
        }
        self.settings = settings;
        self.send_settings().await;
        self.refresh_mcp_tools();
    }

    /// Sends the session's settings. Tracing went out with the connection's first update and
    /// the service refuses to change it, so later updates leave it out.
    async fn send_settings(&mut self) {
        let mut s = self.settings.clone();
        s.tracing = None;
        self.send(ModelInput::UpdateSession(Box::new(s))).await;
    }

    async fn replace_history(&mut self, items: Vec<HistoryItem>) {
        let old: Vec<ItemId> = self
            .hist(|h| h.items().iter().map(|i| i.item_id().clone()).collect())
            .unwrap_or_default();
        for item_id in old {
            self.send(ModelInput::DeleteItem { item_id }).await;
        }
        let mut previous = None;
        for item in items {
            let id = item.item_id().clone();
            self.send(ModelInput::CreateItem {
                item: Box::new(item),
                previous_item_id: previous.clone(),
            })
            .await;
            previous = Some(id);
        }
    }

    // ----- response sequencing -----

    pub(super) async fn request_response(&mut self) {
        self.responses.pending_create = true;
        self.try_create_response().await;
    }

    /// Sends `response.create` when one is wanted and none is requested or streaming: the
    /// runner never has two responses in flight.
    pub(super) async fn try_create_response(&mut self) {
        if self.reconnecting.is_some() {
            return;
        }
        let settled = self.calls.is_settled();
        if let Some(event_id) = self.responses.next_request(settled, &self.agent) {
            self.send(ModelInput::CreateResponse { event_id }).await;
        }
    }

    /// Runs `f` on the shared history (a short, uncontended lock; no copy).
    pub(super) fn hist<R>(&self, f: impl FnOnce(&mut History) -> R) -> Option<R> {
        self.shared.history.lock().ok().map(|mut h| f(&mut h))
    }
}

/// Inputs that change the conversation: held while reconnecting, never dropped.
fn holds(input: &ModelInput) -> bool {
    matches!(
        input,
        ModelInput::UserMessage(_)
            | ModelInput::ToolOutput { .. }
            | ModelInput::CreateItem { .. }
            | ModelInput::DeleteItem { .. }
    )
}

async fn poll_reconnect(r: &mut Option<Reconnecting>) -> Result<crate::model::ModelConnection> {
    match r {
        Some(r) => (&mut r.step).await,
        None => std::future::pending().await,
    }
}
