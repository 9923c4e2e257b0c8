//! What the handle and the loop share: the commands the handle sends, and the state both
//! read (history, usage, the current agent's name, and the events the loop could not queue
//! before it ended).

use crate::error::Result;
use crate::events::SessionEvent;
use crate::history::{History, HistoryItem};
use crate::model::{Usage, UserMessage};
use crate::settings::SessionSettings;
use realtime_agent::RealtimeAgent;
use realtime_protocol::CallId;
use std::collections::VecDeque;
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;
use tokio::sync::oneshot;

/// What the handle asks of the loop. Closing is not a command: it is a cancellation token the
/// loop checks first, so a full command queue can never delay it.
pub(super) enum Command<Ctx> {
    /// A user message; the reply says whether it reached the connection (or why not).
    Message {
        message: UserMessage,
        reply: oneshot::Sender<Result<()>>,
    },
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
}

/// State the handle reads without asking the loop (short, uncontended locks).
#[derive(Debug, Default)]
pub(super) struct Shared {
    pub(super) history: Mutex<History>,
    pub(super) usage: Mutex<Usage>,
    pub(super) agent: Mutex<String>,
    pub(super) closed: AtomicBool,
    /// Events the loop had not queued when it ended (the application had stopped reading):
    /// the stream yields them after the queue, so nothing is lost at close.
    pub(super) tail: Mutex<VecDeque<SessionEvent>>,
    /// Whether the stream has yielded `Closed` (it yields exactly one).
    pub(super) closed_seen: AtomicBool,
}
