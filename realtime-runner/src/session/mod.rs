//! The session: [`RealtimeSession`] (the handle, `handle.rs`) and the loop behind it, one
//! task per session that owns all its state, in rooms by job:
//!
//! - `event_loop.rs`: the loop itself (its sources and their priorities), commands, sending,
//!   response sequencing; `model_events.rs`: what each model event does;
//! - `responses.rs`: one record per response (its agent, requested / streaming / done,
//!   interrupted, guardrail state, what was dropped); `audio.rs`: one record per audio item
//!   (received, done, truncated, where playback is);
//! - `barge_in.rs`: interruptions; `tool_flow.rs` and `calls.rs`: tool and handoff calls and
//!   approvals; `guardrails.rs`: output guardrails; `reconnect.rs`: reconnecting;
//! - `outbox.rs`: the event queue and the stall policy; `shared.rs`: what the handle and the
//!   loop share.
//!
//! The loop gets what it needs from the runner when it is spawned ([`SessionSetup`]) and
//! never reaches back into it.

mod audio;
mod barge_in;
mod calls;
mod event_loop;
mod guardrails;
mod handle;
mod mcp;
mod mcp_flow;
mod model_events;
mod outbox;
mod queue;
mod reconnect;
mod responses;
mod shared;
mod tool_flow;
mod trace;

pub use handle::RealtimeSession;

use crate::config::RunConfig;
use crate::history::HistoryItem;
use crate::model::{ModelConnection, ModelSender, RealtimeModel};
use crate::playback::PlaybackTracker;
use crate::settings::{AudioFormat, SessionSettings};
use event_loop::Loop;
use handle::Inner;
use outbox::Outbox;
use realtime_agent::{OutputGuardrail, RealtimeAgent, RunContext};
use shared::Shared;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Everything a session needs from the runner, handed over once.
pub(crate) struct SessionSetup<Ctx> {
    pub(crate) config: Arc<RunConfig>,
    pub(crate) model: Arc<dyn RealtimeModel>,
    pub(crate) guardrails: Arc<[Arc<dyn OutputGuardrail<Ctx>>]>,
    pub(crate) ctx: RunContext<Ctx>,
    pub(crate) agent: RealtimeAgent<Ctx>,
    pub(crate) settings: SessionSettings,
    pub(crate) conn: ModelConnection,
    pub(crate) history: Vec<HistoryItem>,
    /// The SIP call the session is attached to, re-attached on reconnect.
    pub(crate) sip_call_id: Option<String>,
}

pub(crate) fn spawn<Ctx: Send + Sync + 'static>(setup: SessionSetup<Ctx>) -> RealtimeSession<Ctx> {
    let (cmd_tx, cmd_rx) = mpsc::channel(crate::config::defaults::COMMAND_QUEUE);
    let (ev_tx, ev_rx) = queue::channel(setup.config.event_queue);
    let (fin_tx, fin_rx) = watch::channel(false);
    let shared = Arc::new(Shared::default());
    if let Ok(mut a) = shared.agent.lock() {
        *a = setup.agent.name().to_owned();
    }
    if let Ok(mut h) = shared.history.lock() {
        h.replace_all(setup.history);
    }
    let tracker = PlaybackTracker::new();
    tracker.set_bytes_per_ms(
        setup
            .settings
            .output_audio_format
            .unwrap_or(AudioFormat::Pcm16)
            .bytes_per_ms(),
    );
    let model_slot: Arc<Mutex<Arc<dyn ModelSender>>> =
        Arc::new(Mutex::new(setup.conn.sender.clone()));
    let cancel = CancellationToken::new();
    let out = Outbox::new(ev_tx, setup.config.event_policy);
    let looped = Loop {
        config: setup.config,
        model: setup.model,
        runner_guardrails: setup.guardrails,
        ctx: setup.ctx,
        agent: setup.agent,
        settings: setup.settings,
        sender: setup.conn.sender,
        events: setup.conn.events,
        model_slot: model_slot.clone(),
        out,
        shared: shared.clone(),
        tracker: tracker.clone(),
        calls: Default::default(),
        mcp: Default::default(),
        responses: Default::default(),
        audio: Default::default(),
        assistant_audio: false,
        guard_tasks: JoinSet::new(),
        reconnecting: None,
        cancel: cancel.clone(),
        closed_by: crate::events::ClosedBy::Client,
        flush_now: false,
        unflushed_events: 0,
        sip_call_id: setup.sip_call_id,
    };
    let span = trace::session_span(looped.config.dialect, looped.agent.name());
    let task = tokio::spawn(
        async move {
            looped.run(cmd_rx).await;
            let _ = fin_tx.send(true);
        }
        .instrument(span),
    );
    RealtimeSession {
        inner: Arc::new(Inner {
            commands: cmd_tx,
            events: Mutex::new(ev_rx),
            shared,
            task: Mutex::new(Some(task)),
            finished: fin_rx,
            tracker,
            model_slot,
            cancel,
        }),
    }
}
