//! The session loop driven through the `RealtimeModel` seam by a model the test scripts
//! event by event: for the orderings a real server only produces by chance.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use async_trait::async_trait;
use realtime_agent::RealtimeAgent;
use realtime_protocol::{ItemId, ResponseId};
use realtime_runner::{
    ModelConnectOptions, ModelConnection, ModelEvent, ModelInput, ModelSender, RealtimeModel,
    RealtimeRunner, RealtimeSession, RunnerError, ServerError, SessionEvent,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(5);

/// A model whose events the test pushes and whose inputs it reads.
#[derive(Clone, Default)]
struct ScriptedModel {
    inputs: Arc<Mutex<Vec<ModelInput>>>,
    events: Arc<Mutex<Option<mpsc::Receiver<ModelEvent>>>>,
}

struct Recorder(Arc<Mutex<Vec<ModelInput>>>);

#[async_trait]
impl ModelSender for Recorder {
    async fn send(&self, input: ModelInput) -> Result<(), RunnerError> {
        self.0.lock().unwrap().push(input);
        Ok(())
    }

    async fn close(&self) {}
}

#[async_trait]
impl RealtimeModel for ScriptedModel {
    async fn connect(&self, _: ModelConnectOptions) -> Result<ModelConnection, RunnerError> {
        let rx = self.events.lock().unwrap().take().expect("one connection");
        let events =
            futures_util::stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|e| (e, rx)) },
            );
        Ok(ModelConnection {
            sender: Arc::new(Recorder(self.inputs.clone())),
            events: Box::pin(events),
        })
    }
}

async fn session() -> (RealtimeSession, mpsc::Sender<ModelEvent>, ScriptedModel) {
    let (tx, rx) = mpsc::channel(64);
    let model = ScriptedModel::default();
    *model.events.lock().unwrap() = Some(rx);
    let agent = RealtimeAgent::builder("A").build().unwrap();
    let runner = RealtimeRunner::builder(agent).model(model.clone()).build();
    (runner.run(()).await.unwrap(), tx, model)
}

async fn until(
    session: &RealtimeSession,
    pred: impl Fn(&SessionEvent) -> bool,
) -> Vec<SessionEvent> {
    let mut seen = Vec::new();
    loop {
        let ev = tokio::time::timeout(WAIT, session.next_event())
            .await
            .unwrap_or_else(|_| panic!("timed out; saw {seen:?}"))
            .expect("stream ended");
        let done = pred(&ev);
        seen.push(ev);
        if done {
            return seen;
        }
    }
}

fn created(r: &str) -> ModelEvent {
    ModelEvent::ResponseCreated {
        response_id: r.into(),
    }
}

fn done(r: &str, status: &str) -> ModelEvent {
    ModelEvent::ResponseDone {
        response_id: r.into(),
        status: status.into(),
        usage: None,
    }
}

fn delta(r: &str, i: &str, bytes: usize) -> ModelEvent {
    ModelEvent::AudioDelta {
        response_id: ResponseId::from(r),
        item_id: ItemId::from(i),
        content_index: 0,
        pcm: vec![0; bytes],
    }
}

/// Output the server still streams for an interrupted response is not delivered, and the
/// count is reported once, when the response ends.
#[tokio::test]
async fn output_after_an_interrupt_is_dropped_and_counted() {
    let (session, tx, model) = session().await;
    tx.send(created("r1")).await.unwrap();
    tx.send(delta("r1", "i1", 4800)).await.unwrap();
    until(&session, |e| matches!(e, SessionEvent::Audio { .. })).await;
    session.interrupt().await.unwrap();
    until(&session, |e| {
        matches!(e, SessionEvent::AudioInterrupted { .. })
    })
    .await;
    // In flight when the interrupt left: more audio and transcript, then the end.
    tx.send(delta("r1", "i1", 960)).await.unwrap();
    tx.send(delta("r1", "i1", 960)).await.unwrap();
    tx.send(ModelEvent::TranscriptDelta {
        response_id: "r1".into(),
        item_id: "i1".into(),
        content_index: 0,
        delta: "unheard".into(),
    })
    .await
    .unwrap();
    tx.send(done("r1", "cancelled")).await.unwrap();
    let seen = until(&session, |e| matches!(e, SessionEvent::AgentEnd { .. })).await;
    let kinds: Vec<&str> = seen.iter().map(SessionEvent::kind).collect();
    assert_eq!(kinds, ["output_dropped", "agent_end"]);
    let SessionEvent::OutputDropped {
        response_id,
        audio_bytes,
        text_chars,
        ..
    } = &seen[0]
    else {
        unreachable!()
    };
    assert_eq!(
        (response_id.as_str(), *audio_bytes, *text_chars),
        ("r1", 1920, 7)
    );
    let inputs = model.inputs.lock().unwrap().clone();
    let truncates = inputs
        .iter()
        .filter(|i| matches!(i, ModelInput::Truncate { .. }))
        .count();
    let cancels = inputs
        .iter()
        .filter(|i| matches!(i, ModelInput::CancelResponse))
        .count();
    assert_eq!((truncates, cancels), (1, 1));
    session.close().await;
}

fn creates(model: &ScriptedModel) -> Vec<String> {
    model
        .inputs
        .lock()
        .unwrap()
        .iter()
        .filter_map(|i| match i {
            ModelInput::CreateResponse { event_id } => Some(event_id.clone()),
            _ => None,
        })
        .collect()
}

/// The error that refuses our `response.create` (matched by its event id) releases it, and
/// it is asked again after the active response; an error about another event changes nothing.
#[tokio::test]
async fn a_refused_response_create_is_released_and_retried() {
    let (session, tx, model) = session().await;
    tx.send(created("server_own")).await.unwrap();
    until(&session, |e| matches!(e, SessionEvent::AgentStart { .. })).await;
    // The server runs a response of its own: our message's response waits for it.
    session.send_message("hi").await.unwrap();
    tx.send(done("server_own", "completed")).await.unwrap();
    until(&session, |e| matches!(e, SessionEvent::AgentEnd { .. })).await;
    let first = creates(&model);
    assert_eq!(first.len(), 1, "asked once the active response ended");
    // An error about some other event: still waiting for ours, nothing new is sent.
    let error = |event_id: &str| {
        ModelEvent::Error(
            realtime_runner::ServerError::new("invalid_request_error", "busy")
                .with_code("conversation_already_has_active_response")
                .with_event_id(event_id),
        )
    };
    tx.send(error("evt_other")).await.unwrap();
    until(&session, |e| matches!(e, SessionEvent::Error(_))).await;
    session.request_response().await.unwrap();
    assert_eq!(creates(&model).len(), 1, "one request at a time");
    // Ours is refused: released, and asked again after the response that is active.
    tx.send(error(&first[0])).await.unwrap();
    until(&session, |e| matches!(e, SessionEvent::Error(_))).await;
    tx.send(created("other")).await.unwrap();
    tx.send(done("other", "completed")).await.unwrap();
    until(&session, |e| matches!(e, SessionEvent::AgentEnd { .. })).await;
    let all = creates(&model);
    assert_eq!(all.len(), 2, "{all:?}");
    assert_ne!(all[0], all[1]);
    session.close().await;
}

/// The `response.create` event ids the model was sent, waiting (bounded) for `n` of them.
async fn creates_waiting(model: &ScriptedModel, n: usize) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let ids: Vec<String> = model
            .inputs
            .lock()
            .unwrap()
            .iter()
            .filter_map(|i| match i {
                ModelInput::CreateResponse { event_id, .. } => Some(event_id.clone()),
                _ => None,
            })
            .collect();
        if ids.len() >= n || tokio::time::Instant::now() > deadline {
            return ids;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn refused(event_id: &str, code: &str) -> ModelEvent {
    ModelEvent::Error(
        ServerError::new("invalid_request_error", "refused")
            .with_code(code)
            .with_event_id(event_id),
    )
}

/// Refused for another reason than an active response: the matching error releases the
/// request, and a response wanted meanwhile goes out at once (it used to wait for some later
/// trigger); an error about another event releases nothing.
#[tokio::test]
async fn a_request_refused_outright_lets_the_held_one_go() {
    let (session, tx, model) = session().await;
    session.request_response().await.unwrap();
    let first = creates_waiting(&model, 1).await;
    assert_eq!(first.len(), 1);
    // Another event's error: still waiting for ours, so a second request is held.
    tx.send(refused("evt_someone_else", "invalid_value"))
        .await
        .unwrap();
    until(&session, |e| matches!(e, SessionEvent::Error(_))).await;
    session.request_response().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        creates_waiting(&model, 2).await.len(),
        1,
        "two creates in flight"
    );
    // Ours is refused: released, and the held request is sent now.
    tx.send(refused(&first[0], "invalid_value")).await.unwrap();
    until(&session, |e| matches!(e, SessionEvent::Error(_))).await;
    let after = creates_waiting(&model, 2).await;
    assert_eq!(after.len(), 2, "the held request never went out: {after:?}");
    assert_ne!(after[0], after[1]);
    session.close().await;
}

/// What the loop did, in order: inputs fed or sent, flushes, events taken from the model, and
/// the moments it found no event and waited.
type Log = Arc<Mutex<Vec<&'static str>>>;

fn kind(input: &ModelInput) -> &'static str {
    match input {
        ModelInput::UserMessage(_) => "message",
        ModelInput::CreateResponse { .. } => "create",
        ModelInput::CancelResponse => "cancel",
        ModelInput::Truncate { .. } => "truncate",
        ModelInput::UpdateSession(_) => "update",
        _ => "other",
    }
}

struct Flushing(Log);

#[async_trait]
impl ModelSender for Flushing {
    async fn send(&self, input: ModelInput) -> Result<(), RunnerError> {
        self.0.lock().unwrap().push(match kind(&input) {
            "message" => "send:message",
            "create" => "send:create",
            "cancel" => "send:cancel",
            "truncate" => "send:truncate",
            "update" => "send:update",
            _ => "send:other",
        });
        Ok(())
    }

    async fn feed(&self, input: ModelInput) -> Result<(), RunnerError> {
        self.0.lock().unwrap().push(match kind(&input) {
            "message" => "feed:message",
            "create" => "feed:create",
            "cancel" => "feed:cancel",
            "truncate" => "feed:truncate",
            "update" => "feed:update",
            _ => "feed:other",
        });
        Ok(())
    }

    fn flush(&self) {
        self.0.lock().unwrap().push("flush");
    }

    async fn close(&self) {}
}

/// A model that logs what the loop does with it.
#[derive(Clone, Default)]
struct LoggedModel {
    log: Log,
    events: Arc<Mutex<Option<mpsc::Receiver<ModelEvent>>>>,
}

#[async_trait]
impl RealtimeModel for LoggedModel {
    async fn connect(&self, _: ModelConnectOptions) -> Result<ModelConnection, RunnerError> {
        let mut rx = self.events.lock().unwrap().take().expect("one connection");
        let log = self.log.clone();
        let events = futures_util::stream::poll_fn(move |cx| {
            let polled = rx.poll_recv(cx);
            log.lock().unwrap().push(match &polled {
                std::task::Poll::Pending => "wait",
                std::task::Poll::Ready(_) => "event",
            });
            polled
        });
        Ok(ModelConnection {
            sender: Arc::new(Flushing(self.log.clone())),
            events: Box::pin(events),
        })
    }
}

async fn logged_session() -> (RealtimeSession, mpsc::Sender<ModelEvent>, Log) {
    let (tx, rx) = mpsc::channel(64);
    let model = LoggedModel::default();
    *model.events.lock().unwrap() = Some(rx);
    let agent = RealtimeAgent::builder("A").build().unwrap();
    let runner = RealtimeRunner::builder(agent).model(model.clone()).build();
    (runner.run(()).await.unwrap(), tx, model.log)
}

/// Nothing fed is left behind when the loop waits for the model.
fn assert_flushed_before_every_wait(log: &[&str]) {
    let mut fed = false;
    for (i, step) in log.iter().enumerate() {
        match *step {
            s if s.starts_with("feed:") => fed = true,
            "flush" => fed = false,
            "wait" => assert!(!fed, "the loop waited with fed inputs at {i}: {log:?}"),
            _ => {}
        }
    }
}

/// The inputs of one burst leave together: a message and its `response.create` are fed, then
/// flushed once; and whatever the loop feeds is flushed before it waits.
#[tokio::test]
async fn a_message_and_its_response_request_are_flushed_together() {
    let (session, _tx, log) = logged_session().await;
    session.send_message("hi").await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    let burst = loop {
        let log = log.lock().unwrap().clone();
        if let Some(at) = log.iter().position(|s| *s == "feed:message") {
            if log[at..].contains(&"flush") {
                break log[at..].to_vec();
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "{log:?}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    assert_eq!(
        burst[..3],
        ["feed:message", "feed:create", "flush"],
        "{burst:?}"
    );
    session.close().await;
    assert_flushed_before_every_wait(&log.lock().unwrap());
}

/// A barge-in's cancel goes out at once, not after the events already queued behind the
/// speech: while events keep coming the loop never waits, so it must flush by itself.
#[tokio::test]
async fn a_barge_in_is_flushed_before_the_events_queued_behind_it() {
    let (session, tx, log) = logged_session().await;
    tx.send(created("r1")).await.unwrap();
    tx.send(delta("r1", "i1", 4800)).await.unwrap();
    until(&session, |e| matches!(e, SessionEvent::Audio { .. })).await;
    // The speech and twenty more deltas, all queued before the loop sees the speech.
    tx.send(ModelEvent::SpeechStarted {
        item_id: "u1".into(),
        audio_start_ms: 100,
    })
    .await
    .unwrap();
    for _ in 0..20 {
        tx.send(delta("r1", "i1", 960)).await.unwrap();
    }
    tx.send(done("r1", "cancelled")).await.unwrap();
    until(&session, |e| matches!(e, SessionEvent::AgentEnd { .. })).await;
    let log = log.lock().unwrap().clone();
    // The cut of the audio playing (and a cancel, when the loop owns the response).
    let cancel = log
        .iter()
        .position(|s| *s == "feed:truncate" || *s == "feed:cancel")
        .unwrap_or_else(|| panic!("no barge-in: {log:?}"));
    let next_flush = cancel + log[cancel..].iter().position(|s| *s == "flush").unwrap();
    let next_event = cancel
        + log[cancel..]
            .iter()
            .position(|s| *s == "event")
            .unwrap_or(log.len() - cancel);
    assert!(
        next_flush < next_event,
        "the cancel waited behind queued events: {log:?}"
    );
    session.close().await;
    assert_flushed_before_every_wait(&log);
}
