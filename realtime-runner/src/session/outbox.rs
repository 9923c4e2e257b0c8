//! The session's outgoing events: the bounded queue the application reads, and what happens
//! when the application stops reading.
//!
//! The policy: events are never dropped silently and memory never grows without bound.
//! When the queue is full, events wait in a small backlog and the loop *stalls*: it stops
//! reading the model (TCP then pushes back on the server) and stops collecting tool and
//! guardrail results, but it keeps serving commands (interrupt, approve, update, close), so
//! the application stays in control of a session it is not reading. With
//! [`EventQueuePolicy::DropAudioWhenFull`], audio that finds the queue full is dropped and
//! counted instead ([`SessionEvent::EventsDropped`] reports it in order, where the gap is).

use super::queue::{EventTx, TrySendError};
use crate::config::EventQueuePolicy;
use crate::events::SessionEvent;
use realtime_protocol::ResponseId;
use std::collections::VecDeque;

/// While the backlog holds this many events, commands wait too (only closing goes on): a
/// bound on what an application that sends commands but never reads can pile up.
pub(super) const BACKLOG_LIMIT: usize = 256;

pub(super) struct Outbox {
    tx: EventTx,
    backlog: VecDeque<SessionEvent>,
    policy: EventQueuePolicy,
    dropped: u64,
}

impl Outbox {
    pub(super) fn new(tx: EventTx, policy: EventQueuePolicy) -> Self {
        Self {
            tx,
            backlog: VecDeque::new(),
            policy,
            dropped: 0,
        }
    }

    /// Queues `ev`, or keeps it in the backlog when the queue is full. Never waits.
    pub(super) fn push(&mut self, ev: SessionEvent) {
        if self.policy == EventQueuePolicy::DropAudioWhenFull
            && matches!(ev, SessionEvent::Audio { .. })
            && (!self.backlog.is_empty() || self.tx.capacity() == 0)
        {
            self.dropped += 1;
            return;
        }
        if self.dropped > 0 {
            let count = std::mem::take(&mut self.dropped);
            self.deliver(SessionEvent::EventsDropped { count });
        }
        self.deliver(ev);
    }

    fn deliver(&mut self, ev: SessionEvent) {
        if !self.backlog.is_empty() {
            self.backlog.push_back(ev);
            return;
        }
        match self.tx.try_send(ev) {
            // A closed queue means every handle is gone; the task is being aborted anyway.
            Ok(()) | Err(TrySendError::Closed) => {}
            Err(TrySendError::Full(ev)) => self.backlog.push_back(ev),
        }
    }

    /// Whether events wait for the application (the loop then stalls).
    pub(super) fn is_stalled(&self) -> bool {
        !self.backlog.is_empty()
    }

    /// Whether commands should wait as well.
    pub(super) fn is_full(&self) -> bool {
        self.backlog.len() >= BACKLOG_LIMIT
    }

    /// Waits for room, then moves as much of the backlog into the queue as fits.
    ///
    /// Cancel safe: an event leaves the backlog only together with its queue slot.
    pub(super) async fn flush(&mut self) {
        if !self.tx.room().await {
            // Nobody reads any more.
            self.backlog.clear();
            return;
        }
        while let Some(ev) = self.backlog.pop_front() {
            if let Err(e) = self.tx.try_send(ev) {
                match e {
                    TrySendError::Full(ev) => self.backlog.push_front(ev),
                    TrySendError::Closed => self.backlog.clear(),
                }
                break;
            }
        }
    }

    /// Removes the audio of `response_id` that still waits in the backlog (the response was
    /// interrupted: it must not be played). The bytes removed.
    pub(super) fn discard_audio_of(&mut self, response_id: &ResponseId) -> usize {
        let mut bytes = 0;
        self.backlog.retain(|ev| match ev {
            SessionEvent::Audio {
                response_id: r,
                pcm,
                ..
            } if r == response_id => {
                bytes += pcm.len();
                false
            }
            _ => true,
        });
        bytes
    }

    /// The loop ends: what is still in the backlog, then `Closed`, for the handle to yield
    /// after the queue.
    pub(super) fn finish(&mut self) -> VecDeque<SessionEvent> {
        self.push(SessionEvent::Closed);
        std::mem::take(&mut self.backlog)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::ConnectionStatus;

    fn connected() -> SessionEvent {
        SessionEvent::Connection {
            status: ConnectionStatus::Connected,
        }
    }

    fn audio(r: &str, n: usize) -> SessionEvent {
        SessionEvent::Audio {
            pcm: vec![0; n],
            item_id: "i".into(),
            content_index: 0,
            response_id: r.into(),
        }
    }

    #[tokio::test]
    async fn a_full_queue_fills_the_backlog_in_order_and_flush_drains_it() {
        let (tx, mut rx) = crate::session::queue::channel(2);
        let mut out = Outbox::new(tx, EventQueuePolicy::Wait);
        for i in 0..5 {
            out.push(SessionEvent::Connection {
                status: ConnectionStatus::reconnecting(i),
            });
        }
        assert!(out.is_stalled());
        assert_eq!(out.backlog.len(), 3);
        let mut got = Vec::new();
        while got.len() < 5 {
            got.push(rx.recv().await.unwrap());
            out.flush().await;
        }
        assert!(!out.is_stalled());
        let attempts: Vec<u32> = got
            .iter()
            .map(|e| match e {
                SessionEvent::Connection {
                    status: ConnectionStatus::Reconnecting { attempt },
                } => *attempt,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(attempts, [0, 1, 2, 3, 4]);
    }

    #[tokio::test]
    async fn dropped_audio_is_counted_where_the_gap_is() {
        let (tx, mut rx) = crate::session::queue::channel(1);
        let mut out = Outbox::new(tx, EventQueuePolicy::DropAudioWhenFull);
        out.push(audio("r", 1));
        out.push(audio("r", 1));
        out.push(audio("r", 1));
        assert!(!out.is_stalled(), "audio never stalls under this policy");
        out.push(connected());
        assert!(matches!(rx.recv().await, Some(SessionEvent::Audio { .. })));
        out.flush().await;
        assert_eq!(
            rx.recv().await,
            Some(SessionEvent::EventsDropped { count: 2 })
        );
        out.flush().await;
        assert_eq!(rx.recv().await, Some(connected()));
    }

    #[tokio::test]
    async fn interrupted_audio_leaves_the_backlog_and_finish_keeps_the_rest() {
        let (tx, _rx) = crate::session::queue::channel(1);
        let mut out = Outbox::new(tx, EventQueuePolicy::Wait);
        out.push(connected());
        out.push(audio("r1", 10));
        out.push(audio("r2", 20));
        out.push(audio("r1", 30));
        assert_eq!(out.discard_audio_of(&"r1".into()), 40);
        let tail = out.finish();
        let kinds: Vec<&str> = tail.iter().map(SessionEvent::kind).collect();
        assert_eq!(kinds, ["audio", "closed"]);
    }
}
