//! Reconnecting after the socket dies unexpectedly (with a [`crate::ReconnectPolicy`]): each
//! attempt waits its backoff and connects as a future the loop polls beside its commands, so
//! closing during backoff is immediate; the restore re-sends the session configuration and
//! the history; then what was held meanwhile is sent and the response that was requested or
//! streaming when the socket died is requested again.

use super::event_loop::{Flow, Loop, Reconnecting};
use crate::error::{Result, RunnerError};
use crate::events::{ClosedBy, ConnectionStatus, ErrorKind, SessionEvent};
use crate::model::{ModelConnectOptions, ModelConnection, ModelInput, RealtimeModel};
use crate::settings::SessionSettings;
use futures_util::future::BoxFuture;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

/// One attempt: wait `backoff`, then connect.
fn attempt(
    model: Arc<dyn RealtimeModel>,
    options: ModelConnectOptions,
    backoff: Duration,
) -> BoxFuture<'static, Result<ModelConnection>> {
    Box::pin(async move {
        tokio::time::sleep(backoff).await;
        model.connect(options).await
    })
}

impl<Ctx: Send + Sync + 'static> Loop<Ctx> {
    fn connect_options(&self) -> ModelConnectOptions {
        ModelConnectOptions {
            model: self.settings.model.clone(),
            raw_events: self.config.raw_events,
            sip_call_id: self.sip_call_id.clone(),
        }
    }

    /// The connection ended: a normal close ends the session; a failure starts reconnecting
    /// when the run allows it, else ends the session with a connection error.
    pub(super) fn on_disconnect(&mut self, err: Option<Arc<RunnerError>>) -> Flow {
        let Some(err) = err else {
            self.closed_by = ClosedBy::Server;
            return Flow::Stop;
        };
        let Some(policy) = self.config.reconnect.clone() else {
            self.closed_by = ClosedBy::Error;
            self.error(ErrorKind::Connection, err.to_string());
            return Flow::Stop;
        };
        if policy.max_attempts == 0 {
            self.closed_by = ClosedBy::Error;
            self.error(ErrorKind::Connection, err.to_string());
            return Flow::Stop;
        }
        self.responses.connection_lost();
        self.emit(SessionEvent::Connection {
            status: ConnectionStatus::reconnecting(1),
        });
        let step = attempt(
            self.model.clone(),
            self.connect_options(),
            policy.initial_backoff,
        );
        self.reconnecting = Some(Reconnecting {
            attempt: 1,
            backoff: policy.initial_backoff,
            cause: err,
            step,
            held: VecDeque::new(),
        });
        Flow::Continue
    }

    pub(super) async fn on_reconnect_step(&mut self, step: Result<ModelConnection>) -> Flow {
        let restored = match step {
            Ok(conn) => {
                restore(
                    conn,
                    &self.settings,
                    self.hist(|h| h.items().to_vec()).unwrap_or_default(),
                )
                .await
            }
            Err(e) => Err(e),
        };
        match restored {
            Ok(conn) => {
                self.on_reconnected(conn).await;
                Flow::Continue
            }
            Err(e) => self.next_attempt(e),
        }
    }

    fn next_attempt(&mut self, failure: RunnerError) -> Flow {
        let policy = self.config.reconnect.clone().unwrap_or_default();
        let Some(r) = &mut self.reconnecting else {
            return Flow::Continue;
        };
        if r.attempt >= policy.max_attempts {
            let Some(r) = self.reconnecting.take() else {
                return Flow::Stop;
            };
            let message = format!(
                "{} (reconnecting failed {} times; last: {failure})",
                r.cause, r.attempt
            );
            for (_, reply) in r.held {
                if let Some(reply) = reply {
                    let _ = reply.send(Err(RunnerError::ConnectionLost {
                        message: message.clone(),
                    }));
                }
            }
            self.closed_by = ClosedBy::Error;
            self.error(ErrorKind::Connection, message);
            return Flow::Stop;
        }
        r.attempt += 1;
        r.backoff = (r.backoff * 2).min(policy.max_backoff);
        let (attempt_no, backoff) = (r.attempt, r.backoff);
        let step = attempt(self.model.clone(), self.connect_options(), backoff);
        if let Some(r) = &mut self.reconnecting {
            r.step = step;
        }
        self.emit(SessionEvent::Connection {
            status: ConnectionStatus::reconnecting(attempt_no),
        });
        Flow::Continue
    }

    async fn on_reconnected(&mut self, conn: ModelConnection) {
        self.sender = conn.sender;
        if let Ok(mut slot) = self.model_slot.lock() {
            *slot = self.sender.clone();
        }
        self.events = conn.events;
        // The old items cannot be truncated on the new connection (they come back as text).
        self.audio.clear();
        let held = self.reconnecting.take().map(|r| r.held).unwrap_or_default();
        self.emit(SessionEvent::Connection {
            status: ConnectionStatus::Connected,
        });
        for (input, reply) in held {
            let result = self.sender.send(input).await;
            match reply {
                Some(reply) => {
                    let _ = reply.send(result);
                }
                None => {
                    if let Err(e) = result {
                        self.error(ErrorKind::Send, e.to_string());
                    }
                }
            }
        }
        self.try_create_response().await;
    }
}

/// Re-sends the configuration and the history on a new connection.
async fn restore(
    conn: ModelConnection,
    settings: &SessionSettings,
    history: Vec<crate::history::HistoryItem>,
) -> Result<ModelConnection> {
    conn.sender
        .send(ModelInput::UpdateSession(Box::new(settings.clone())))
        .await?;
    let mut previous = None;
    for item in history {
        let id = item.item_id().clone();
        conn.sender
            .send(ModelInput::CreateItem {
                item: Box::new(item),
                previous_item_id: previous.clone(),
            })
            .await?;
        previous = Some(id);
    }
    Ok(conn)
}
