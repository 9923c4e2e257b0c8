//! [`RealtimeSession`]: the handle the application holds. Commands go to the session loop
//! through a bounded queue; events come back through another; audio input goes straight to
//! the connection.

use super::shared::{Command, Shared};
use crate::error::{Result, RunnerError};
use crate::events::SessionEvent;
use crate::history::HistoryItem;
use crate::model::{ModelInput, ModelSender, Usage, UserMessage};
use crate::playback::PlaybackTracker;
use crate::settings::SessionSettings;
use futures_util::Stream;
use realtime_agent::RealtimeAgent;
use realtime_protocol::CallId;
use std::fmt;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long [`RealtimeSession::close`] lets the loop finish on its own before it is aborted.
const CLOSE_GRACE: Duration = Duration::from_millis(800);

pub(super) struct Inner<Ctx> {
    pub(super) commands: mpsc::Sender<Command<Ctx>>,
    pub(super) events: Mutex<super::queue::EventRx>,
    pub(super) shared: Arc<Shared>,
    pub(super) task: Mutex<Option<JoinHandle<()>>>,
    pub(super) finished: watch::Receiver<bool>,
    pub(super) tracker: PlaybackTracker,
    pub(super) model_slot: Arc<Mutex<Arc<dyn ModelSender>>>,
    pub(super) cancel: CancellationToken,
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
/// task. The queue is bounded ([`crate::RunConfig::event_queue`]). When the application
/// stops reading, the session stops reading the server (TCP pushes back; memory stays
/// bounded) but keeps obeying commands: [`interrupt`](Self::interrupt), approvals, updates
/// and [`close`](Self::close) take effect at once, whatever the application does with the
/// stream. Nothing is dropped silently (see [`crate::EventQueuePolicy`]).
pub struct RealtimeSession<Ctx = ()> {
    pub(super) inner: Arc<Inner<Ctx>>,
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
        if self.inner.cancel.is_cancelled() {
            return Err(RunnerError::SessionClosed);
        }
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
    /// response, after the active one if there is one. Returns once the message was handed to
    /// the connection; while the session reconnects, once it was sent on the new connection.
    ///
    /// # Cancel safety
    /// Once the message is queued for the session, dropping the future does not withdraw it.
    ///
    /// # Errors
    /// [`RunnerError::SessionClosed`]; [`RunnerError::Unsupported`] for content the dialect
    /// cannot carry (images in beta); [`RunnerError::ConnectionLost`] when the session was
    /// reconnecting and gave up; or the connection's error.
    pub async fn send_message(&self, message: impl Into<UserMessage>) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.command(Command::Message {
            message: message.into(),
            reply,
        })
        .await?;
        answer.await.unwrap_or(Err(RunnerError::SessionClosed))
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
    /// [`RunnerError::SessionClosed`], or the connection's error (also while reconnecting:
    /// audio is live, it is not held for later).
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

    /// Stops the assistant: every audio item still playing is truncated at the playback
    /// position, the streaming response is cancelled, and a response requested but not yet
    /// started is not requested (or cancelled as soon as the server creates it). Nothing more
    /// of the interrupted responses is delivered as playable output. Takes effect even when
    /// the application is not reading events.
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
    /// created in order (assistant audio as the text of its transcript: for a truncated
    /// reply, only what the user heard).
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

    /// Closes the session: closes the connection, stops every tool task and ends the event
    /// stream (after every event not read yet, then a final `Closed`). Returns within about a
    /// second whatever the application does with the stream and whatever the server does:
    /// past that, the session's task is aborted (the socket is dropped without the close
    /// handshake). Idempotent.
    pub async fn close(&self) {
        self.inner.cancel.cancel();
        let mut finished = self.inner.finished.clone();
        let graceful = tokio::time::timeout(CLOSE_GRACE, finished.wait_for(|f| *f))
            .await
            .is_ok();
        let task = self.inner.task.lock().ok().and_then(|mut t| t.take());
        if let Some(t) = task {
            if !graceful {
                t.abort();
            }
            let _ = t.await;
        }
        self.inner.shared.closed.store(true, Ordering::Release);
    }

    /// The next event (`None` once the session has ended and every event was read).
    ///
    /// # Cancel safety
    /// Cancel safe: no event is lost if the future is dropped.
    pub async fn next_event(&self) -> Option<SessionEvent> {
        std::future::poll_fn(|cx| self.poll_event(cx)).await
    }

    fn poll_event(&self, cx: &mut Context<'_>) -> Poll<Option<SessionEvent>> {
        let polled = match self.inner.events.lock() {
            Ok(mut rx) => rx.poll_recv(cx),
            Err(_) => Poll::Ready(None),
        };
        let shared = &self.inner.shared;
        let next = match polled {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Some(ev)) => Some(ev),
            // The loop has ended: what it could not queue, then exactly one `Closed`.
            Poll::Ready(None) => shared.tail.lock().ok().and_then(|mut t| t.pop_front()),
        };
        Poll::Ready(match next {
            Some(ev) => {
                if matches!(ev, SessionEvent::Closed) {
                    shared.closed_seen.store(true, Ordering::Release);
                }
                Some(ev)
            }
            None => {
                (!shared.closed_seen.swap(true, Ordering::AcqRel)).then_some(SessionEvent::Closed)
            }
        })
    }
}

impl<Ctx: Send + Sync + 'static> Stream for RealtimeSession<Ctx> {
    type Item = SessionEvent;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<SessionEvent>> {
        self.poll_event(cx)
    }
}
