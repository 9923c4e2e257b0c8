//! The session loop driven by arbitrary sequences of model events through the `RealtimeModel`
//! seam (no socket), with user commands interleaved: never panics, never hangs, and the
//! history never holds an item twice.
#![no_main]

use async_trait::async_trait;
use libfuzzer_sys::fuzz_target;
use realtime_agent::{FunctionTool, Handoff, RealtimeAgent, ToolContext};
use realtime_runner::{
    ContentPart, HistoryItem, ModelConnectOptions, ModelConnection, ModelEvent, ModelInput, ModelSender, RealtimeModel,
    RealtimeRunner, Role, RunnerError, ServerError, SessionEvent, Usage,
};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime"))
}

struct Sink;

#[async_trait]
impl ModelSender for Sink {
    async fn send(&self, _input: ModelInput) -> Result<(), RunnerError> {
        Ok(())
    }
    async fn close(&self) {}
}

struct Scripted(Mutex<Option<Vec<ModelEvent>>>);

#[async_trait]
impl RealtimeModel for Scripted {
    async fn connect(&self, _o: ModelConnectOptions) -> Result<ModelConnection, RunnerError> {
        let events = self.0.lock().ok().and_then(|mut e| e.take()).unwrap_or_default();
        Ok(ModelConnection { sender: Arc::new(Sink), events: Box::pin(futures_util::stream::iter(events)) })
    }
}

fn event(op: &[u8]) -> ModelEvent {
    let item = |b: u8| format!("item_{}", b % 4).into();
    let resp = |b: u8| format!("resp_{}", b % 3).into();
    let text = |b: u8| ["", "hi", "ü€𝄞", "forbidden"][usize::from(b % 4)].to_owned();
    let (a, b, c) = (op[1], op[2], op[3]);
    match op[0] % 16 {
        0 => ModelEvent::ResponseCreated { response_id: resp(a) },
        1 => ModelEvent::ResponseDone { response_id: resp(a), status: "completed".into(), usage: Some(Usage::default()) },
        2 => ModelEvent::AudioDelta { response_id: resp(a), item_id: item(b), content_index: u32::from(c % 2), pcm: vec![c; usize::from(c)] },
        3 => ModelEvent::AudioDone { item_id: item(b), content_index: u32::from(c % 2) },
        4 => ModelEvent::TranscriptDelta { response_id: resp(a), item_id: item(b), content_index: u32::from(c % 3), delta: text(c) },
        5 => ModelEvent::TextDelta { response_id: resp(a), item_id: item(b), content_index: u32::from(c % 3), delta: text(c) },
        6 => ModelEvent::FunctionCall {
            call_id: format!("call_{}", a % 3).into(),
            name: ["get", "transfer_to_other", "missing"][usize::from(b % 3)].into(),
            arguments: ["{}", "{\"x\":1}", "not json", ""][usize::from(c % 4)].into(),
            item_id: item(b),
            response_id: Some(resp(a)),
        },
        7 => ModelEvent::ItemUpdated {
            item: HistoryItem::Message {
                item_id: item(a),
                role: [Role::User, Role::Assistant, Role::System][usize::from(b % 3)],
                content: vec![ContentPart::audio(None); usize::from(c % 3)],
                status: None,
            },
            previous_item_id: (b % 2 == 0).then(|| item(c)),
        },
        8 => ModelEvent::ItemDeleted { item_id: item(a) },
        9 => ModelEvent::InputTranscriptCompleted { item_id: item(a), content_index: u32::from(b % 3), transcript: text(c) },
        10 => ModelEvent::SpeechStarted { item_id: item(a), audio_start_ms: u64::from(b) },
        11 => ModelEvent::Error(
            ServerError::new("invalid_request_error", "x")
                .with_code("conversation_already_has_active_response")
                .with_event_id(format!("evt_rrs_{}", a % 4)),
        ),
        12 => ModelEvent::DecodeError { message: "bad".into(), raw: Some(text(a)) },
        13 => ModelEvent::ItemUpdated {
            item: HistoryItem::FunctionCallOutput { item_id: item(a), call_id: format!("call_{}", b % 3).into(), output: text(c) },
            previous_item_id: None,
        },
        14 => ModelEvent::ItemTruncated { item_id: item(a), content_index: u32::from(c % 2), audio_end_ms: u64::from(b) },
        _ => ModelEvent::SessionUpdated,
    }
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Empty {}

fuzz_target!(|data: &[u8]| {
    let events: Vec<ModelEvent> = data.chunks_exact(4).take(200).map(event).collect();
    let commands: Vec<u8> = data.iter().step_by(7).copied().take(10).collect();
    runtime().block_on(async move {
        let tool = FunctionTool::new("get", "", |_t: ToolContext<()>, _e: Empty| async { Ok::<_, String>("ok") }).expect("tool");
        let other = RealtimeAgent::<()>::builder("Other").build().expect("agent");
        let agent = RealtimeAgent::builder("Main").tool(tool).handoff(Handoff::to(&other)).build().expect("agent");
        let runner = RealtimeRunner::builder(agent).model(Scripted(Mutex::new(Some(events)))).build();
        let session = runner.run(()).await.expect("run");
        for c in commands {
            let _ = match c % 3 {
                0 => session.interrupt().await,
                1 => session.send_message("hello").await,
                _ => session.request_response().await,
            };
        }
        let done = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(ev) = session.next_event().await {
                if matches!(ev, SessionEvent::Closed) {
                    break;
                }
            }
        })
        .await;
        assert!(done.is_ok(), "the session did not end after its events ran out");
        let ids: Vec<_> = session.history().iter().map(|i| i.item_id().clone()).collect();
        let unique: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "an item is in the history twice");
        session.close().await;
    });
});
