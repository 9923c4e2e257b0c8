//! [`RealtimeSession`] and the session loop: one task per session owns all its state (the
//! current agent, settings, history, response sequencing, audio tracking, tool tasks), so
//! nothing needs a lock on the hot path except the history snapshot.

use crate::error::{Result, RunnerError};
use crate::events::{ErrorEvent, ErrorKind, SessionEvent};
use crate::history::{Change, History, HistoryItem};
use crate::model::{
    ModelConnectOptions, ModelConnection, ModelEvent, ModelEventStream, ModelInput, ModelSender,
    Usage, UserMessage,
};
use crate::playback::PlaybackTracker;
use crate::runner::{EventQueuePolicy, RunnerInner};
use crate::settings::SessionSettings;
use futures_util::{Stream, StreamExt};
use realtime_agent::{
    GuardrailOutput, OutputGuardrail, RealtimeAgent, RunContext, Tool, ToolContext, ToolError,
};
use realtime_protocol::{CallId, ItemId, ResponseId};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

/// The settings for `agent`: `base` over the SDK's defaults, then the agent's voice, its
/// instructions and tools.
pub(crate) async fn agent_settings<Ctx: Send + Sync + 'static>(
    base: &SessionSettings,
    agent: &RealtimeAgent<Ctx>,
    ctx: &RunContext<Ctx>,
    with_voice: bool,
) -> Result<SessionSettings> {
    let tools = agent.tool_definitions(ctx)?;
    let mut s = SessionSettings::defaults().overlay(base);
    if with_voice {
        if let Some(v) = &agent.settings().voice {
            s.voice = Some(v.clone());
        }
    }
    s.instructions = Some(agent.instructions(ctx).await);
    s.tools = Some(tools);
    Ok(s)
}

enum Command<Ctx> {
    Message(UserMessage),
    Respond,
    Interrupt,
    UpdateAgent(RealtimeAgent<Ctx>),
    Approve {
        call_id: CallId,
        always: bool,
    },
    Reject {
        call_id: CallId,
        always: bool,
        message: Option<String>,
    },
    ReplaceHistory(Vec<HistoryItem>),
    UpdateSettings(Box<SessionSettings>),
    Close,
}

#[derive(Debug, Default)]
struct Shared {
    history: Mutex<History>,
    usage: Mutex<Usage>,
    agent: Mutex<String>,
    closed: AtomicBool,
}

struct Inner<Ctx> {
    commands: mpsc::Sender<Command<Ctx>>,
    events: Mutex<mpsc::Receiver<SessionEvent>>,
    shared: Arc<Shared>,
    task: Mutex<Option<JoinHandle<()>>>,
    finished: watch::Receiver<bool>,
    tracker: PlaybackTracker,
    model_slot: Arc<Mutex<Arc<dyn ModelSender>>>,
}

impl<Ctx> Drop for Inner<Ctx> {
    fn drop(&mut self) {
        if let Ok(mut t) = self.task.lock() {
            if let Some(t) = t.take() {
                t.abort();
            }
        }
    }
}

/// A running session: a cloneable handle (`Send + 'static`, usable from many tasks) and the
/// stream of its [`SessionEvent`]s.
///
/// Clones share one event queue: each event goes to one poller, so poll the stream from one
/// task. The queue is bounded ([`crate::RunConfig::event_queue`]); when the consumer is slow the
/// session waits (or drops audio, with [`EventQueuePolicy::DropAudioWhenFull`]), never growing
/// without bound and never dropping anything silently.
pub struct RealtimeSession<Ctx = ()> {
    inner: Arc<Inner<Ctx>>,
}

impl<Ctx> Clone for RealtimeSession<Ctx> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<Ctx> fmt::Debug for RealtimeSession<Ctx> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RealtimeSession")
            .field("closed", &self.inner.shared.closed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<Ctx: Send + Sync + 'static> RealtimeSession<Ctx> {
    async fn command(&self, c: Command<Ctx>) -> Result<()> {
        self.inner
            .commands
            .send(c)
            .await
            .map_err(|_| RunnerError::SessionClosed)
    }

    fn model(&self) -> Arc<dyn ModelSender> {
        self.inner
            .model_slot
            .lock()
            .map(|m| m.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    /// Sends a user message (text, or structured content with images) and asks for a
    /// response, after the active one if there is one.
    ///
    /// # Errors
    /// [`RunnerError::SessionClosed`].
    pub async fn send_message(&self, message: impl Into<UserMessage>) -> Result<()> {
        self.command(Command::Message(message.into())).await
    }

    /// Asks for a response (after the active one, if any), e.g. after committing push-to-talk
    /// audio with turn detection off.
    ///
    /// # Errors
    /// [`RunnerError::SessionClosed`].
    pub async fn request_response(&self) -> Result<()> {
        self.command(Command::Respond).await
    }

    /// Sends audio in the session's input format; `commit` commits the input buffer (for
    /// push-to-talk without server VAD). Goes straight to the connection, not through the loop.
    ///
    /// # Errors
    /// [`RunnerError::SessionClosed`], or the connection's error.
    pub async fn send_audio(&self, pcm: &[u8], commit: bool) -> Result<()> {
        if self.inner.shared.closed.load(Ordering::Acquire) {
            return Err(RunnerError::SessionClosed);
        }
        self.model()
            .send(ModelInput::Audio {
                pcm: pcm.to_vec(),
                commit,
            })
            .await
    }

    /// Stops the assistant: truncates the item being played at the playback position and
    /// cancels the active response.
    ///
    /// # Errors
    /// [`RunnerError::SessionClosed`].
    pub async fn interrupt(&self) -> Result<()> {
        self.command(Command::Interrupt).await
    }

    /// Switches to `agent` without a handoff tool call (its instructions, tools and, while no
    /// audio has been produced, voice).
    ///
    /// # Errors
    /// [`RunnerError::SessionClosed`].
    pub async fn update_agent(&self, agent: RealtimeAgent<Ctx>) -> Result<()> {
        self.command(Command::UpdateAgent(agent)).await
    }

    /// Changes session settings (over the current ones).
    ///
    /// # Errors
    /// [`RunnerError::SessionClosed`].
    pub async fn update_settings(&self, settings: SessionSettings) -> Result<()> {
        self.command(Command::UpdateSettings(Box::new(settings)))
            .await
    }

    /// Approves a call that asked for approval; `always` approves every later call of that
    /// tool in this session.
    ///
    /// # Errors
    /// [`RunnerError::SessionClosed`].
    pub async fn approve_tool_call(&self, call_id: impl Into<CallId>, always: bool) -> Result<()> {
        self.command(Command::Approve {
            call_id: call_id.into(),
            always,
        })
        .await
    }

    /// Rejects a call that asked for approval: the model gets `message` (or a default text) as
    /// the output; `always` rejects every later call of that tool in this session.
    ///
    /// # Errors
    /// [`RunnerError::SessionClosed`].
    pub async fn reject_tool_call(
        &self,
        call_id: impl Into<CallId>,
        always: bool,
        message: Option<String>,
    ) -> Result<()> {
        self.command(Command::Reject {
            call_id: call_id.into(),
            always,
            message,
        })
        .await
    }

    /// Replaces the conversation with `items`: the server's items are deleted and `items`
    /// created in order (assistant audio as text).
    ///
    /// # Errors
    /// [`RunnerError::SessionClosed`].
    pub async fn set_history(&self, items: Vec<HistoryItem>) -> Result<()> {
        self.command(Command::ReplaceHistory(items)).await
    }

    /// Sends a raw JSON client event as it is.
    ///
    /// # Errors
    /// [`RunnerError::SessionClosed`], or the connection's error.
    pub async fn send_raw(&self, json: impl Into<String>) -> Result<()> {
        self.model().send(ModelInput::Raw(json.into())).await
    }

    /// A snapshot of the history.
    pub fn history(&self) -> Vec<HistoryItem> {
        self.inner
            .shared
            .history
            .lock()
            .map(|h| h.items().to_vec())
            .unwrap_or_default()
    }

    /// The token usage so far.
    pub fn usage(&self) -> Usage {
        self.inner
            .shared
            .usage
            .lock()
            .map(|u| *u)
            .unwrap_or_default()
    }

    /// The current agent's name.
    pub fn current_agent(&self) -> String {
        self.inner
            .shared
            .agent
            .lock()
            .map(|a| a.clone())
            .unwrap_or_default()
    }

    /// The playback tracker to feed with what the application played (optional).
    pub fn playback_tracker(&self) -> PlaybackTracker {
        self.inner.tracker.clone()
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        self.inner.shared.closed.load(Ordering::Acquire)
    }

    /// Closes the session: closes the connection, stops every tool task, ends the event stream
    /// (after a final `Closed` event), and waits until every task the session spawned is done.
    /// Idempotent.
    pub async fn close(&self) {
        let _ = self.inner.commands.send(Command::Close).await;
        let mut finished = self.inner.finished.clone();
        let _ = finished.wait_for(|f| *f).await;
        let task = self.inner.task.lock().ok().and_then(|mut t| t.take());
        if let Some(t) = task {
            let _ = t.await;
        }
    }

    /// The next event (`None` once the session has ended and every event was read).
    ///
    /// # Cancel safety
    /// Cancel safe: no event is lost if the future is dropped.
    pub async fn next_event(&self) -> Option<SessionEvent> {
        std::future::poll_fn(|cx| self.poll_event(cx)).await
    }

    fn poll_event(&self, cx: &mut Context<'_>) -> Poll<Option<SessionEvent>> {
        match self.inner.events.lock() {
            Ok(mut rx) => rx.poll_recv(cx),
            Err(_) => Poll::Ready(None),
        }
    }
}

impl<Ctx: Send + Sync + 'static> Stream for RealtimeSession<Ctx> {
    type Item = SessionEvent;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<SessionEvent>> {
        self.poll_event(cx)
    }
}

pub(crate) struct SessionSetup<Ctx> {
    pub(crate) runner: Arc<RunnerInner<Ctx>>,
    pub(crate) ctx: RunContext<Ctx>,
    pub(crate) agent: RealtimeAgent<Ctx>,
    pub(crate) settings: SessionSettings,
    pub(crate) conn: ModelConnection,
    pub(crate) history: Vec<HistoryItem>,
}

pub(crate) fn spawn<Ctx: Send + Sync + 'static>(setup: SessionSetup<Ctx>) -> RealtimeSession<Ctx> {
    let config = &setup.runner.config;
    let (cmd_tx, cmd_rx) = mpsc::channel(crate::runner::defaults::COMMAND_QUEUE);
    let (ev_tx, ev_rx) = mpsc::channel(config.event_queue);
    let (fin_tx, fin_rx) = watch::channel(false);
    let shared = Arc::new(Shared::default());
    if let Ok(mut a) = shared.agent.lock() {
        *a = setup.agent.name().to_owned();
    }
    let tracker = PlaybackTracker::new();
    let bpm = setup
        .settings
        .output_audio_format
        .unwrap_or(crate::settings::AudioFormat::Pcm16)
        .bytes_per_ms();
    tracker.set_bytes_per_ms(bpm);
    let model_slot: Arc<Mutex<Arc<dyn ModelSender>>> =
        Arc::new(Mutex::new(setup.conn.sender.clone()));
    if let Ok(mut h) = shared.history.lock() {
        h.replace_all(setup.history.clone());
    }
    let mut guardrails: Vec<Arc<dyn OutputGuardrail<Ctx>>> = setup.runner.guardrails.clone();
    guardrails.retain(|g| {
        !setup
            .agent
            .output_guardrails()
            .iter()
            .any(|a| a.name() == g.name())
    });
    let looped = Loop {
        runner: setup.runner.clone(),
        ctx: setup.ctx,
        agent: setup.agent,
        settings: setup.settings,
        sender: setup.conn.sender,
        events: setup.conn.events,
        model_slot: model_slot.clone(),
        out: ev_tx,
        dropped: 0,
        shared: shared.clone(),
        tracker: tracker.clone(),
        tools: JoinSet::new(),
        running: HashMap::new(),
        seen_calls: HashSet::new(),
        approvals: HashMap::new(),
        always_approve: HashSet::new(),
        always_reject: HashSet::new(),
        active: None,
        awaiting: None,
        pending_create: false,
        tool_followup: false,
        next_event_id: 0,
        audio: AudioItems::default(),
        last_audio: None,
        assistant_audio: false,
        guard: GuardState::default(),
        guard_tasks: JoinSet::new(),
        has_guardrails: false,
        runner_guardrails: guardrails,
    };
    let mut looped = looped;
    looped.has_guardrails = !looped.guardrails().is_empty();
    let task = tokio::spawn(async move {
        looped.run(cmd_rx).await;
        let _ = fin_tx.send(true);
    });
    RealtimeSession {
        inner: Arc::new(Inner {
            commands: cmd_tx,
            events: Mutex::new(ev_rx),
            shared,
            task: Mutex::new(Some(task)),
            finished: fin_rx,
            tracker,
            model_slot,
        }),
    }
}

/// A tool (or handoff) call in flight.
struct Running<Ctx> {
    call_id: CallId,
    name: String,
    agent: String,
    kind: CallKind<Ctx>,
}

enum CallKind<Ctx> {
    Tool(Arc<dyn Tool<Ctx>>),
    Handoff,
}

/// The agent a handoff switches to, and its session settings.
type HandoffTarget<Ctx> = (RealtimeAgent<Ctx>, Result<SessionSettings>);

enum CallOutcome<Ctx> {
    Tool(Result<String, ToolError>),
    Handoff(Result<Box<HandoffTarget<Ctx>>, ToolError>),
}

struct PendingApproval<Ctx> {
    tool: Arc<dyn Tool<Ctx>>,
    name: String,
    arguments: String,
}

/// Audio items of the current response, newest last. Almost always one: a linear search with
/// a string compare beats hashing the id on every delta.
#[derive(Default)]
struct AudioItems(Vec<(ItemId, AudioItem)>);

impl AudioItems {
    fn get_mut(&mut self, id: &ItemId) -> Option<&mut AudioItem> {
        self.0
            .iter_mut()
            .rev()
            .find(|(i, _)| i == id)
            .map(|(_, a)| a)
    }

    fn get(&self, id: &ItemId) -> Option<&AudioItem> {
        self.0.iter().rev().find(|(i, _)| i == id).map(|(_, a)| a)
    }

    fn insert(&mut self, id: ItemId, item: AudioItem) {
        self.0.push((id, item));
    }

    fn remove(&mut self, id: &ItemId) -> Option<AudioItem> {
        let at = self.0.iter().rposition(|(i, _)| i == id)?;
        Some(self.0.remove(at).1)
    }
}

/// Audio received for one item.
struct AudioItem {
    response_id: ResponseId,
    content_index: u32,
    first_delta: Instant,
    bytes: usize,
    done: bool,
}

#[derive(Default)]
struct GuardState {
    response_id: Option<ResponseId>,
    text: String,
    next_check: usize,
    tripped: bool,
    checked_len: usize,
}

type GuardResult = (ResponseId, String, Vec<(String, GuardrailOutput)>);

struct Loop<Ctx> {
    runner: Arc<RunnerInner<Ctx>>,
    ctx: RunContext<Ctx>,
    agent: RealtimeAgent<Ctx>,
    settings: SessionSettings,
    sender: Arc<dyn ModelSender>,
    events: ModelEventStream,
    model_slot: Arc<Mutex<Arc<dyn ModelSender>>>,
    out: mpsc::Sender<SessionEvent>,
    dropped: u64,
    shared: Arc<Shared>,
    tracker: PlaybackTracker,
    tools: JoinSet<CallOutcome<Ctx>>,
    running: HashMap<tokio::task::Id, Running<Ctx>>,
    seen_calls: HashSet<CallId>,
    approvals: HashMap<CallId, PendingApproval<Ctx>>,
    always_approve: HashSet<String>,
    always_reject: HashSet<String>,
    /// The response the server is streaming.
    active: Option<ResponseId>,
    /// The event id of our `response.create` not yet answered by `response.created`.
    awaiting: Option<String>,
    /// A response is wanted once the current one is done.
    pending_create: bool,
    /// Tool outputs were sent: a response is wanted once no call is in flight either.
    tool_followup: bool,
    next_event_id: u64,
    audio: AudioItems,
    last_audio: Option<ItemId>,
    assistant_audio: bool,
    guard: GuardState,
    guard_tasks: JoinSet<GuardResult>,
    runner_guardrails: Vec<Arc<dyn OutputGuardrail<Ctx>>>,
    /// Whether any guardrail applies (the current agent's or the runner's).
    has_guardrails: bool,
}

/// Whether the loop goes on.
enum Flow {
    Continue,
    Stop,
}

impl<Ctx: Send + Sync + 'static> Loop<Ctx> {
    async fn run(mut self, mut commands: mpsc::Receiver<Command<Ctx>>) {
        loop {
            let flow = tokio::select! {
                biased;
                cmd = commands.recv() => match cmd {
                    Some(Command::Close) | None => Flow::Stop,
                    Some(c) => self.on_command(c).await,
                },
                Some(done) = self.tools.join_next_with_id(), if !self.tools.is_empty() => self.on_call_done(done).await,
                Some(done) = self.guard_tasks.join_next(), if !self.guard_tasks.is_empty() => match done {
                    Ok(result) => self.on_guardrails(result).await,
                    Err(_) => Flow::Continue,
                },
                ev = self.events.next() => match ev {
                    Some(ev) => self.on_model_event(ev).await,
                    None => self.on_disconnect(None).await,
                },
            };
            if matches!(flow, Flow::Stop) {
                break;
            }
        }
        self.shutdown().await;
    }

    async fn shutdown(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        self.tools.abort_all();
        while self.tools.join_next().await.is_some() {}
        self.guard_tasks.abort_all();
        while self.guard_tasks.join_next().await.is_some() {}
        // A bounded close: the transport's own close timeout applies.
        self.sender.close().await;
        self.emit(SessionEvent::Closed).await;
    }

    // ----- events out -----

    async fn emit(&mut self, ev: SessionEvent) {
        if self.dropped > 0 && self.out.capacity() > 0 {
            let count = std::mem::take(&mut self.dropped);
            let _ = self.out.try_send(SessionEvent::EventsDropped { count });
        }
        match self.runner.config.event_policy {
            EventQueuePolicy::DropAudioWhenFull if matches!(ev, SessionEvent::Audio { .. }) => {
                match self.out.try_send(ev) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => self.dropped += 1,
                    Err(mpsc::error::TrySendError::Closed(_)) => {}
                }
            }
            // The common case needs no future: only a full queue waits. A closed queue means
            // every handle is gone, and dropping the last one aborts this task anyway.
            _ => match self.out.try_send(ev) {
                Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
                Err(mpsc::error::TrySendError::Full(ev)) => {
                    let _ = self.out.send(ev).await;
                }
            },
        }
    }

    async fn error(&mut self, kind: ErrorKind, message: impl Into<String>) {
        self.emit(SessionEvent::Error(ErrorEvent::new(kind, message)))
            .await;
    }

    async fn send(&mut self, input: ModelInput) {
        if let Err(e) = self.sender.send(input).await {
            self.error(ErrorKind::Send, e.to_string()).await;
        }
    }

    // ----- commands -----

    async fn on_command(&mut self, c: Command<Ctx>) -> Flow {
        match c {
            Command::Message(m) => {
                self.send(ModelInput::UserMessage(m)).await;
                self.request_response().await;
            }
            Command::Respond => self.request_response().await,
            Command::Interrupt => self.interrupt(true).await,
            Command::UpdateAgent(agent) => {
                let with_voice = !self.assistant_audio;
                match agent_settings(&self.current_base(), &agent, &self.ctx, with_voice).await {
                    Ok(settings) => {
                        let from = self.agent.name().to_owned();
                        self.switch_agent(agent, settings).await;
                        let to = self.agent.name().to_owned();
                        self.emit(SessionEvent::Handoff { from, to }).await;
                    }
                    Err(e) => self.error(ErrorKind::Agent, e.to_string()).await,
                }
            }
            Command::UpdateSettings(s) => {
                self.settings = self.settings.clone().overlay(&s);
                self.tracker.set_bytes_per_ms(self.out_bytes_per_ms());
                self.send(ModelInput::UpdateSession(Box::new(self.settings.clone())))
                    .await;
            }
            Command::Approve { call_id, always } => {
                if let Some(p) = self.approvals.remove(&call_id) {
                    if always {
                        self.always_approve.insert(p.name.clone());
                    }
                    self.start_tool(call_id, p.name, p.arguments, p.tool).await;
                }
            }
            Command::Reject {
                call_id,
                always,
                message,
            } => {
                if let Some(p) = self.approvals.remove(&call_id) {
                    if always {
                        self.always_reject.insert(p.name.clone());
                    }
                    self.reject_call(call_id, p.name, message).await;
                }
            }
            Command::ReplaceHistory(items) => self.replace_history(items).await,
            Command::Close => return Flow::Stop,
        }
        Flow::Continue
    }

    /// The settings other than the agent's (what a new agent's settings build on).
    fn current_base(&self) -> SessionSettings {
        let mut s = self.settings.clone();
        s.instructions = None;
        s.tools = None;
        s
    }

    fn out_bytes_per_ms(&self) -> f64 {
        self.settings
            .output_audio_format
            .unwrap_or(crate::settings::AudioFormat::Pcm16)
            .bytes_per_ms()
    }

    async fn switch_agent(&mut self, agent: RealtimeAgent<Ctx>, mut settings: SessionSettings) {
        if self.assistant_audio {
            // The service refuses a voice change once the assistant has spoken.
            settings.voice.clone_from(&self.settings.voice);
        }
        self.agent = agent;
        self.has_guardrails = !self.guardrails().is_empty();
        if let Ok(mut a) = self.shared.agent.lock() {
            *a = self.agent.name().to_owned();
        }
        self.settings = settings;
        self.send(ModelInput::UpdateSession(Box::new(self.settings.clone())))
            .await;
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

    async fn request_response(&mut self) {
        self.pending_create = true;
        self.try_create_response().await;
    }

    async fn try_create_response(&mut self) {
        let calls_settled = self.running.is_empty() && self.approvals.is_empty();
        let wanted = self.pending_create || (self.tool_followup && calls_settled);
        if !wanted || self.active.is_some() || self.awaiting.is_some() {
            return;
        }
        self.pending_create = false;
        self.tool_followup = false;
        self.next_event_id += 1;
        let event_id = format!("evt_rrs_{}", self.next_event_id);
        self.awaiting = Some(event_id.clone());
        self.send(ModelInput::CreateResponse { event_id }).await;
    }

    // ----- model events -----

    async fn on_model_event(&mut self, ev: ModelEvent) -> Flow {
        match ev {
            ModelEvent::AudioDelta {
                response_id,
                item_id,
                content_index,
                pcm,
            } => {
                self.assistant_audio = true;
                // No key clone on the hot path: only a new item allocates.
                match self.audio.get_mut(&item_id) {
                    Some(a) => a.bytes += pcm.len(),
                    None => {
                        let a = AudioItem {
                            response_id: response_id.clone(),
                            content_index,
                            first_delta: Instant::now(),
                            bytes: pcm.len(),
                            done: false,
                        };
                        self.audio.insert(item_id.clone(), a);
                    }
                }
                if self.last_audio.as_ref() != Some(&item_id) {
                    self.last_audio = Some(item_id.clone());
                }
                self.emit(SessionEvent::Audio {
                    pcm,
                    item_id,
                    content_index,
                    response_id,
                })
                .await;
            }
            ModelEvent::AudioDone {
                item_id,
                content_index,
            } => {
                if let Some(a) = self.audio.get_mut(&item_id) {
                    a.done = true;
                }
                self.emit(SessionEvent::AudioEnd {
                    item_id,
                    content_index,
                })
                .await;
            }
            ModelEvent::TranscriptDelta {
                response_id,
                item_id,
                content_index,
                delta,
            } => {
                self.on_assistant_text(response_id, item_id, content_index, delta, true)
                    .await
            }
            ModelEvent::TextDelta {
                response_id,
                item_id,
                content_index,
                delta,
            } => {
                self.on_assistant_text(response_id, item_id, content_index, delta, false)
                    .await
            }
            ModelEvent::ResponseCreated { response_id } => {
                self.active = Some(response_id.clone());
                self.awaiting = None;
                // Audio tracking is per response: older items can no longer be interrupted.
                self.audio.0.retain(|(_, a)| a.response_id == response_id);
                self.guard = GuardState {
                    response_id: Some(response_id.clone()),
                    next_check: self.runner.config.guardrail_debounce_chars,
                    ..GuardState::default()
                };
                let agent = self.agent.name().to_owned();
                self.emit(SessionEvent::AgentStart { agent, response_id })
                    .await;
            }
            ModelEvent::ResponseDone {
                response_id,
                status,
                usage,
            } => {
                if self.active.as_ref() == Some(&response_id) || self.active.is_none() {
                    self.active = None;
                }
                if let Some(u) = usage {
                    if let Ok(mut total) = self.shared.usage.lock() {
                        total.add(&u);
                    }
                    self.emit(SessionEvent::Usage { usage: u }).await;
                }
                let agent = self.agent.name().to_owned();
                self.emit(SessionEvent::AgentEnd {
                    agent,
                    response_id: response_id.clone(),
                    status,
                })
                .await;
                self.final_guard_check(&response_id);
                self.try_create_response().await;
            }
            ModelEvent::FunctionCall {
                call_id,
                name,
                arguments,
                ..
            } => self.on_call(call_id, name, arguments).await,
            ModelEvent::ItemUpdated {
                item,
                previous_item_id,
            } => {
                let updated = self.hist(|h| {
                    let (change, at) = h.upsert(item, previous_item_id.as_ref());
                    h.at(at).cloned().map(|item| (change, item))
                });
                if let Some((change, item)) = updated.flatten() {
                    let ev = match change {
                        Change::Added => SessionEvent::HistoryAdded { item },
                        Change::Updated => SessionEvent::HistoryUpdated { item },
                    };
                    self.emit(ev).await;
                }
            }
            ModelEvent::ItemDeleted { item_id } => {
                if self.hist(|h| h.remove(&item_id)).unwrap_or(false) {
                    self.emit(SessionEvent::HistoryDeleted { item_id }).await;
                }
            }
            ModelEvent::ItemTruncated { .. }
            | ModelEvent::SessionUpdated
            | ModelEvent::SpeechStopped { .. } => {}
            ModelEvent::InputTranscriptDelta { item_id, delta } => {
                self.emit(SessionEvent::InputTranscriptDelta { item_id, delta })
                    .await;
            }
            ModelEvent::InputTranscriptCompleted {
                item_id,
                content_index,
                transcript,
            } => {
                let updated = self
                    .hist(|h| {
                        h.set_input_transcript(&item_id, content_index, &transcript)
                            .and_then(|i| h.at(i).cloned())
                    })
                    .flatten();
                self.emit(SessionEvent::InputTranscriptCompleted {
                    item_id,
                    transcript,
                })
                .await;
                if let Some(item) = updated {
                    self.emit(SessionEvent::HistoryUpdated { item }).await;
                }
            }
            ModelEvent::SpeechStarted { .. } => self.interrupt(false).await,
            ModelEvent::Error(e) => {
                if e.event_id.is_some() && e.event_id == self.awaiting {
                    // Our response.create failed: release it; retry after the active response
                    // when the server said one is active.
                    self.awaiting = None;
                    if e.code.as_deref() == Some("conversation_already_has_active_response") {
                        self.pending_create = true;
                    }
                }
                let message = match &e.code {
                    Some(code) => format!("server error ({code}): {}", e.message),
                    None => format!("server error: {}", e.message),
                };
                let mut err = ErrorEvent::new(ErrorKind::Server, message);
                err.server = Some(e);
                self.emit(SessionEvent::Error(err)).await;
            }
            ModelEvent::DecodeError { message, raw } => {
                let mut err = ErrorEvent::new(ErrorKind::Decode, message);
                err.raw = raw;
                self.emit(SessionEvent::Error(err)).await;
            }
            ModelEvent::Raw(raw) => self.emit(SessionEvent::Raw(raw)).await,
            ModelEvent::Closed(err) => return self.on_disconnect(err).await,
        }
        Flow::Continue
    }

    /// Assistant text as it streams: the transcript of its audio (`audio`) or its text output.
    async fn on_assistant_text(
        &mut self,
        response_id: ResponseId,
        item_id: ItemId,
        content_index: u32,
        delta: String,
        audio: bool,
    ) {
        self.hist(|h| h.append_text(&item_id, content_index, &delta, audio));
        self.guard_text(&response_id, &delta);
        let ev = if audio {
            SessionEvent::TranscriptDelta {
                item_id,
                response_id,
                delta,
            }
        } else {
            SessionEvent::TextDelta {
                item_id,
                response_id,
                delta,
            }
        };
        self.emit(ev).await;
    }

    /// Runs `f` on the shared history (a short, uncontended lock; no copy).
    fn hist<R>(&self, f: impl FnOnce(&mut History) -> R) -> Option<R> {
        self.shared.history.lock().ok().map(|mut h| f(&mut h))
    }

    async fn on_disconnect(&mut self, err: Option<Arc<RunnerError>>) -> Flow {
        let Some(err) = err else { return Flow::Stop };
        if let Some(policy) = self.runner.config.reconnect.clone() {
            let mut backoff = policy.initial_backoff;
            for attempt in 1..=policy.max_attempts {
                self.emit(SessionEvent::Reconnecting { attempt }).await;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(policy.max_backoff);
                if self.reconnect().await.is_ok() {
                    self.emit(SessionEvent::Reconnected).await;
                    return Flow::Continue;
                }
            }
        }
        self.error(ErrorKind::Connection, err.to_string()).await;
        Flow::Stop
    }

    async fn reconnect(&mut self) -> Result<()> {
        let options = ModelConnectOptions {
            model: self.settings.model.clone(),
            raw_events: self.runner.config.raw_events,
        };
        let conn = self.runner.model.connect(options).await?;
        conn.sender
            .send(ModelInput::UpdateSession(Box::new(self.settings.clone())))
            .await?;
        let mut previous = None;
        for item in self.hist(|h| h.items().to_vec()).unwrap_or_default() {
            let id = item.item_id().clone();
            conn.sender
                .send(ModelInput::CreateItem {
                    item: Box::new(item),
                    previous_item_id: previous.clone(),
                })
                .await?;
            previous = Some(id);
        }
        self.sender = conn.sender;
        if let Ok(mut slot) = self.model_slot.lock() {
            *slot = self.sender.clone();
        }
        self.events = conn.events;
        self.active = None;
        self.awaiting = None;
        self.audio.0.clear();
        self.last_audio = None;
        Ok(())
    }

    // ----- barge-in -----

    /// Truncates the item being played at the playback position, and cancels the response
    /// when the server will not (or when `forced`).
    async fn interrupt(&mut self, forced: bool) {
        if let Some(item_id) = self.last_audio.take() {
            if let Some(a) = self.audio.remove(&item_id) {
                let bpm = self.out_bytes_per_ms();
                let received_ms = a.bytes as f64 / bpm;
                let played_ms = self
                    .tracker
                    .played_ms(&item_id, a.content_index)
                    .unwrap_or_else(|| a.first_delta.elapsed().as_secs_f64() * 1000.0);
                let finished = a.done && played_ms >= received_ms;
                if !finished {
                    let audio_end_ms = played_ms.min(received_ms).max(0.0).floor() as u64;
                    self.send(ModelInput::Truncate {
                        item_id: item_id.clone(),
                        content_index: a.content_index,
                        audio_end_ms,
                    })
                    .await;
                    self.tracker.on_interrupted();
                    self.emit(SessionEvent::AudioInterrupted {
                        item_id,
                        content_index: a.content_index,
                        response_id: a.response_id,
                        audio_end_ms,
                    })
                    .await;
                }
            }
        }
        let server_cancels =
            self.settings.server_interrupts() && !self.runner.config.always_cancel_on_barge_in;
        if self.active.is_some() && (forced || !server_cancels) {
            self.send(ModelInput::CancelResponse).await;
        }
    }

    // ----- tools and handoffs -----

    async fn on_call(&mut self, call_id: CallId, name: String, arguments: String) {
        if !self.seen_calls.insert(call_id.clone()) {
            return;
        }
        if let Some(handoff) = self.agent.find_handoff(&self.ctx, &name).cloned() {
            let ctx = self.ctx.clone();
            let base = self.current_base();
            let with_voice = !self.assistant_audio;
            let args = arguments.clone();
            let handle = self.tools.spawn(async move {
                let outcome = match handoff.invoke(ctx.clone(), &args).await {
                    Ok(agent) => {
                        let settings = agent_settings(&base, &agent, &ctx, with_voice).await;
                        Ok(Box::new((agent, settings)))
                    }
                    Err(e) => Err(e),
                };
                CallOutcome::Handoff(outcome)
            });
            let agent = self.agent.name().to_owned();
            self.running.insert(
                handle.id(),
                Running {
                    call_id,
                    name,
                    agent,
                    kind: CallKind::Handoff,
                },
            );
            return;
        }
        let Some(tool) = self.agent.find_tool(&self.ctx, &name).cloned() else {
            let err = ToolError::NotFound { tool: name.clone() };
            let output = realtime_agent::default_error_text(&err);
            self.error(ErrorKind::Tool, err.to_string()).await;
            self.finish_call(call_id, name, output, true).await;
            return;
        };
        if self.always_reject.contains(&name) {
            self.reject_call(call_id, name, None).await;
            return;
        }
        let args_value: serde_json::Value =
            serde_json::from_str(&arguments).unwrap_or(serde_json::Value::Null);
        if !self.always_approve.contains(&name) && tool.needs_approval(&self.ctx, &args_value) {
            let agent = self.agent.name().to_owned();
            self.approvals.insert(
                call_id.clone(),
                PendingApproval {
                    tool,
                    name: name.clone(),
                    arguments: arguments.clone(),
                },
            );
            self.emit(SessionEvent::ToolApprovalRequested {
                agent,
                tool: name,
                call_id,
                arguments,
            })
            .await;
            return;
        }
        self.start_tool(call_id, name, arguments, tool).await;
    }

    async fn start_tool(
        &mut self,
        call_id: CallId,
        name: String,
        arguments: String,
        tool: Arc<dyn Tool<Ctx>>,
    ) {
        let agent = self.agent.name().to_owned();
        self.emit(SessionEvent::ToolStart {
            agent: agent.clone(),
            tool: name.clone(),
            call_id: call_id.clone(),
            arguments: arguments.clone(),
        })
        .await;
        let timeout = tool.timeout().unwrap_or(self.runner.config.tool_timeout);
        let tctx = ToolContext::new(self.ctx.clone(), call_id.clone(), name.clone());
        let t = tool.clone();
        let tool_name = name.clone();
        let handle = self.tools.spawn(async move {
            let result = match tokio::time::timeout(timeout, t.invoke(tctx, &arguments)).await {
                Ok(r) => r,
                Err(_) => Err(ToolError::Timeout {
                    tool: tool_name,
                    after: timeout,
                }),
            };
            CallOutcome::Tool(result)
        });
        self.running.insert(
            handle.id(),
            Running {
                call_id,
                name,
                agent,
                kind: CallKind::Tool(tool),
            },
        );
    }

    async fn reject_call(&mut self, call_id: CallId, name: String, message: Option<String>) {
        let output = message.unwrap_or_else(|| format!("The user rejected the call to `{name}`."));
        self.finish_call(call_id, name, output, true).await;
    }

    /// Sends a call's output and, when no other call is in flight, asks for the follow-up
    /// response.
    async fn finish_call(&mut self, call_id: CallId, name: String, output: String, is_error: bool) {
        let agent = self.agent.name().to_owned();
        self.finish_call_of(agent, call_id, name, output, is_error)
            .await;
    }

    async fn finish_call_of(
        &mut self,
        agent: String,
        call_id: CallId,
        name: String,
        output: String,
        is_error: bool,
    ) {
        self.emit(SessionEvent::ToolEnd {
            agent,
            tool: name,
            call_id: call_id.clone(),
            output: output.clone(),
            is_error,
        })
        .await;
        self.send(ModelInput::ToolOutput { call_id, output }).await;
        // One follow-up response for all the calls of a turn: once none is in flight and the
        // response that made them is done.
        self.tool_followup = true;
        self.try_create_response().await;
    }

    async fn on_call_done(
        &mut self,
        done: std::result::Result<(tokio::task::Id, CallOutcome<Ctx>), tokio::task::JoinError>,
    ) -> Flow {
        let (id, outcome) = match done {
            Ok((id, outcome)) => (id, Ok(outcome)),
            Err(e) => (e.id(), Err(e)),
        };
        let Some(running) = self.running.remove(&id) else {
            return Flow::Continue;
        };
        match (running.kind, outcome) {
            (CallKind::Tool(_), Ok(CallOutcome::Tool(Ok(output)))) => {
                self.finish_call_of(running.agent, running.call_id, running.name, output, false)
                    .await;
            }
            (CallKind::Tool(tool), Ok(CallOutcome::Tool(Err(err)))) => {
                self.error(ErrorKind::Tool, err.to_string()).await;
                let output = tool.format_error(&err);
                self.finish_call_of(running.agent, running.call_id, running.name, output, true)
                    .await;
            }
            (CallKind::Tool(tool), Err(join)) => {
                let err = if join.is_panic() {
                    ToolError::Panicked {
                        tool: running.name.clone(),
                    }
                } else {
                    ToolError::Failed {
                        tool: running.name.clone(),
                        message: "cancelled".into(),
                    }
                };
                self.error(ErrorKind::Tool, err.to_string()).await;
                let output = tool.format_error(&err);
                self.finish_call_of(running.agent, running.call_id, running.name, output, true)
                    .await;
            }
            (CallKind::Handoff, Ok(CallOutcome::Handoff(Ok(boxed)))) if boxed.1.is_ok() => {
                let (agent, settings) = *boxed;
                let Ok(settings) = settings else {
                    return Flow::Continue;
                };
                let from = self.agent.name().to_owned();
                let to = agent.name().to_owned();
                self.switch_agent(agent, settings).await;
                self.emit(SessionEvent::Handoff {
                    from,
                    to: to.clone(),
                })
                .await;
                let output = serde_json::json!({ "assistant": to }).to_string();
                self.finish_call_of(running.agent, running.call_id, running.name, output, false)
                    .await;
            }
            (CallKind::Handoff, Ok(CallOutcome::Handoff(Ok(boxed)))) => {
                let e = match boxed.1 {
                    Err(e) => e,
                    Ok(_) => return Flow::Continue,
                };
                self.error(ErrorKind::Handoff, e.to_string()).await;
                let output = format!("The handoff failed: {e}");
                self.finish_call_of(running.agent, running.call_id, running.name, output, true)
                    .await;
            }
            (CallKind::Handoff, Ok(CallOutcome::Handoff(Err(e)))) => {
                self.error(ErrorKind::Handoff, e.to_string()).await;
                let output = realtime_agent::default_error_text(&e);
                self.finish_call_of(running.agent, running.call_id, running.name, output, true)
                    .await;
            }
            (CallKind::Handoff, Err(_)) => {
                let err = ToolError::Panicked {
                    tool: running.name.clone(),
                };
                self.error(ErrorKind::Handoff, err.to_string()).await;
                let output = realtime_agent::default_error_text(&err);
                self.finish_call_of(running.agent, running.call_id, running.name, output, true)
                    .await;
            }
            (_, Ok(_)) => {}
        }
        Flow::Continue
    }

    // ----- output guardrails -----

    fn guardrails(&self) -> Vec<Arc<dyn OutputGuardrail<Ctx>>> {
        let mut all: Vec<Arc<dyn OutputGuardrail<Ctx>>> = self.agent.output_guardrails().to_vec();
        all.extend(
            self.runner_guardrails
                .iter()
                .filter(|g| !all.iter().any(|a| a.name() == g.name()))
                .cloned()
                .collect::<Vec<_>>(),
        );
        all
    }

    fn guard_text(&mut self, response_id: &ResponseId, delta: &str) {
        if self.guard.response_id.as_ref() != Some(response_id)
            || self.guard.tripped
            || !self.has_guardrails
        {
            return;
        }
        self.guard.text.push_str(delta);
        if self.guard.text.chars().count() >= self.guard.next_check {
            self.guard.next_check += self.runner.config.guardrail_debounce_chars;
            self.spawn_guard_check(response_id.clone());
        }
    }

    fn final_guard_check(&mut self, response_id: &ResponseId) {
        if self.guard.response_id.as_ref() == Some(response_id)
            && !self.guard.tripped
            && !self.guard.text.is_empty()
            && self.guard.checked_len != self.guard.text.len()
        {
            self.spawn_guard_check(response_id.clone());
        }
    }

    fn spawn_guard_check(&mut self, response_id: ResponseId) {
        let guardrails = self.guardrails();
        if guardrails.is_empty() {
            return;
        }
        self.guard.checked_len = self.guard.text.len();
        let text = self.guard.text.clone();
        let ctx = self.ctx.clone();
        let agent = self.agent.clone();
        self.guard_tasks.spawn(async move {
            let checks = guardrails.iter().map(|g| {
                let (ctx, agent, text) = (&ctx, &agent, &text);
                async move { (g.name().to_owned(), g.check(ctx, agent, text).await) }
            });
            let results = futures_util::future::join_all(checks).await;
            (response_id, text, results)
        });
    }

    async fn on_guardrails(&mut self, (response_id, text, results): GuardResult) -> Flow {
        // A result for an older response never touches a newer one; one trip per response.
        if self.guard.response_id.as_ref() != Some(&response_id) || self.guard.tripped {
            return Flow::Continue;
        }
        let tripped: Vec<(String, GuardrailOutput)> = results
            .into_iter()
            .filter(|(_, o)| o.tripwire_triggered)
            .collect();
        if tripped.is_empty() {
            return Flow::Continue;
        }
        self.guard.tripped = true;
        let guardrails: Vec<String> = tripped.iter().map(|(n, _)| n.clone()).collect();
        let info = tripped.into_iter().map(|(_, o)| o.info).collect();
        self.emit(SessionEvent::GuardrailTripped {
            guardrails: guardrails.clone(),
            info,
            text,
            response_id: response_id.clone(),
        })
        .await;
        if self.active.as_ref() == Some(&response_id) {
            self.interrupt(true).await;
        } else if self
            .last_audio
            .as_ref()
            .and_then(|i| self.audio.get(i))
            .is_some_and(|a| a.response_id == response_id)
        {
            // The response ended but its audio may still be playing.
            self.interrupt(false).await;
        }
        let message = format!(
            "guardrail triggered: {}. Your last response violated this rule; apologize briefly and continue without repeating it.",
            guardrails.join(", ")
        );
        self.send(ModelInput::UserMessage(UserMessage::text(message)))
            .await;
        self.request_response().await;
        Flow::Continue
    }
}
