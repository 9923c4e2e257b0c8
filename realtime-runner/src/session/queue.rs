//! The bounded queue of a session's events, from its loop (one sender) to the application
//! (one receiver, behind the handle's lock).
//!
//! Lighter than a general channel, for the one shape it has: the receiver takes everything
//! queued at once under one short lock and hands it out from its own buffer, so a burst of
//! events costs the application one lock, and each event a counter update. The capacity
//! counts every event not yet handed out, wherever it waits.

use crate::events::SessionEvent;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// Why [`EventTx::try_send`] handed the event back.
#[derive(Debug)]
pub(super) enum TrySendError {
    /// The queue holds its capacity.
    Full(SessionEvent),
    /// The receiver is gone.
    Closed,
}

struct Shared {
    locked: Mutex<Slots>,
    /// Events queued and not handed out yet (in `locked.items` or the receiver's buffer).
    len: AtomicUsize,
    cap: usize,
    /// The sender waits for room: the receiver wakes it when it hands an event out.
    sender_waits: AtomicBool,
    receiver_gone: AtomicBool,
}

#[derive(Default)]
struct Slots {
    items: VecDeque<SessionEvent>,
    receiver: Option<Waker>,
    sender: Option<Waker>,
    sender_gone: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Slots> {
        // The lock guards plain data and no code under it panics; a poisoned lock keeps
        // working with the data as it is.
        self.locked.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The loop's end.
pub(super) struct EventTx {
    shared: Arc<Shared>,
}

/// The application's end.
pub(super) struct EventRx {
    shared: Arc<Shared>,
    /// Events taken from the queue, handed out in order.
    buffer: VecDeque<SessionEvent>,
}

/// A queue of at most `capacity` (at least 1) events.
pub(super) fn channel(capacity: usize) -> (EventTx, EventRx) {
    let shared = Arc::new(Shared {
        locked: Mutex::new(Slots::default()),
        len: AtomicUsize::new(0),
        cap: capacity.max(1),
        sender_waits: AtomicBool::new(false),
        receiver_gone: AtomicBool::new(false),
    });
    (
        EventTx {
            shared: shared.clone(),
        },
        EventRx {
            shared,
            buffer: VecDeque::new(),
        },
    )
}

impl EventTx {
    /// Queues `ev` if there is room. Never waits.
    // A full queue hands the event back by value, as a channel does: boxing it would cost an
    // allocation on the path that is already the slow one.
    #[allow(clippy::result_large_err)]
    pub(super) fn try_send(&self, ev: SessionEvent) -> Result<(), TrySendError> {
        let s = &*self.shared;
        if s.receiver_gone.load(SeqCst) {
            return Err(TrySendError::Closed);
        }
        if s.len.load(SeqCst) >= s.cap {
            return Err(TrySendError::Full(ev));
        }
        let waker = {
            let mut slots = s.lock();
            slots.items.push_back(ev);
            s.len.fetch_add(1, SeqCst);
            slots.receiver.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// The room left.
    pub(super) fn capacity(&self) -> usize {
        self.shared.cap.saturating_sub(self.shared.len.load(SeqCst))
    }

    /// Waits until there is room (`true`) or the receiver is gone (`false`).
    pub(super) async fn room(&self) -> bool {
        poll_fn(|cx| self.poll_room(cx)).await
    }

    fn poll_room(&self, cx: &mut Context<'_>) -> Poll<bool> {
        let s = &*self.shared;
        if s.receiver_gone.load(SeqCst) {
            return Poll::Ready(false);
        }
        if s.len.load(SeqCst) < s.cap {
            return Poll::Ready(true);
        }
        s.lock().sender = Some(cx.waker().clone());
        s.sender_waits.store(true, SeqCst);
        // Checked again after saying so: the receiver either sees the flag or made room
        // before this check.
        if s.receiver_gone.load(SeqCst) {
            return Poll::Ready(false);
        }
        if s.len.load(SeqCst) < s.cap {
            s.sender_waits.store(false, SeqCst);
            return Poll::Ready(true);
        }
        Poll::Pending
    }
}

impl Drop for EventTx {
    fn drop(&mut self) {
        let waker = {
            let mut slots = self.shared.lock();
            slots.sender_gone = true;
            slots.receiver.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl EventRx {
    /// The next event; `None` once the sender is gone and everything was handed out.
    pub(super) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<SessionEvent>> {
        if self.buffer.is_empty() {
            let mut slots = self.shared.lock();
            if slots.items.is_empty() {
                if slots.sender_gone {
                    return Poll::Ready(None);
                }
                match &mut slots.receiver {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    slot => *slot = Some(cx.waker().clone()),
                }
                return Poll::Pending;
            }
            std::mem::swap(&mut slots.items, &mut self.buffer);
        }
        let ev = self.buffer.pop_front();
        self.handed_out();
        Poll::Ready(ev)
    }

    /// The next event, waiting for it.
    #[cfg(test)]
    pub(super) async fn recv(&mut self) -> Option<SessionEvent> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// One event left the queue: room for the sender, woken if it waits.
    fn handed_out(&self) {
        let s = &*self.shared;
        s.len.fetch_sub(1, SeqCst);
        if s.sender_waits.load(SeqCst) {
            s.sender_waits.store(false, SeqCst);
            self.wake_sender();
        }
    }

    fn wake_sender(&self) {
        let waker = self.shared.lock().sender.take();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl Drop for EventRx {
    fn drop(&mut self) {
        self.shared.receiver_gone.store(true, SeqCst);
        self.wake_sender();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::ConnectionStatus;
    use std::time::Duration;

    fn ev(attempt: u32) -> SessionEvent {
        SessionEvent::Connection {
            status: ConnectionStatus::reconnecting(attempt),
        }
    }

    fn attempt(ev: Option<SessionEvent>) -> u32 {
        match ev {
            Some(SessionEvent::Connection {
                status: ConnectionStatus::Reconnecting { attempt },
            }) => attempt,
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn events_come_out_in_order_and_the_capacity_counts_the_buffered_ones() {
        let (tx, mut rx) = channel(3);
        for i in 0..3 {
            tx.try_send(ev(i)).unwrap();
        }
        assert!(matches!(tx.try_send(ev(9)), Err(TrySendError::Full(_))));
        // One handed out, two in the receiver's buffer: room for exactly one.
        assert_eq!(attempt(rx.recv().await), 0);
        assert_eq!(tx.capacity(), 1);
        tx.try_send(ev(3)).unwrap();
        assert!(matches!(tx.try_send(ev(9)), Err(TrySendError::Full(_))));
        for want in 1..4 {
            assert_eq!(attempt(rx.recv().await), want);
        }
        assert_eq!(tx.capacity(), 3);
    }

    #[tokio::test]
    async fn the_end_comes_after_every_event() {
        let (tx, mut rx) = channel(4);
        tx.try_send(ev(0)).unwrap();
        tx.try_send(ev(1)).unwrap();
        drop(tx);
        assert_eq!(attempt(rx.recv().await), 0);
        assert_eq!(attempt(rx.recv().await), 1);
        assert!(rx.recv().await.is_none());
        assert!(rx.recv().await.is_none());
    }

    #[tokio::test]
    async fn a_waiting_receiver_is_woken_by_an_event_and_by_the_end() {
        let (tx, mut rx) = channel(4);
        let reader = tokio::spawn(async move {
            let first = rx.recv().await;
            let end = rx.recv().await;
            (first, end)
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        tx.try_send(ev(7)).unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(tx);
        let (first, end) = tokio::time::timeout(Duration::from_secs(5), reader)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(attempt(first), 7);
        assert!(end.is_none());
    }

    #[tokio::test]
    async fn a_sender_waiting_for_room_is_woken_when_an_event_is_read() {
        let (tx, mut rx) = channel(1);
        tx.try_send(ev(0)).unwrap();
        let writer = tokio::spawn(async move {
            let room = tx.room().await;
            (room, tx.try_send(ev(1)).is_ok(), tx)
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!writer.is_finished(), "no room yet");
        assert_eq!(attempt(rx.recv().await), 0);
        let (room, sent, _tx) = tokio::time::timeout(Duration::from_secs(5), writer)
            .await
            .unwrap()
            .unwrap();
        assert!(room && sent);
        assert_eq!(attempt(rx.recv().await), 1);
    }

    #[tokio::test]
    async fn a_gone_receiver_closes_the_queue_and_frees_a_waiting_sender() {
        let (tx, rx) = channel(1);
        tx.try_send(ev(0)).unwrap();
        let writer = tokio::spawn(async move { tx.room().await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(rx);
        let room = tokio::time::timeout(Duration::from_secs(5), writer)
            .await
            .unwrap()
            .unwrap();
        assert!(!room);
        let (tx, rx) = channel(1);
        drop(rx);
        assert!(matches!(tx.try_send(ev(0)), Err(TrySendError::Closed)));
    }

    /// Two threads, a small queue, many events: none lost, none reordered, nobody stuck.
    #[test]
    fn a_fast_sender_and_a_slow_receiver_on_two_threads() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            const N: u32 = 20_000;
            let (tx, mut rx) = channel(8);
            let writer = tokio::spawn(async move {
                for i in 0..N {
                    let mut ev = ev(i);
                    loop {
                        match tx.try_send(ev) {
                            Ok(()) => break,
                            Err(TrySendError::Full(back)) => {
                                ev = back;
                                assert!(tx.room().await);
                            }
                            Err(TrySendError::Closed) => panic!("closed"),
                        }
                    }
                }
            });
            let reader = tokio::spawn(async move {
                for want in 0..N {
                    assert_eq!(attempt(rx.recv().await), want);
                    if want % 97 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
                assert!(rx.recv().await.is_none());
            });
            tokio::time::timeout(Duration::from_secs(30), async {
                writer.await.unwrap();
                reader.await.unwrap();
            })
            .await
            .unwrap();
        });
    }
}
