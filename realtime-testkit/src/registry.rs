//! The server's record of its connections, for tests to inspect: every open connection, and
//! the most recent finished ones up to a bound, so a long-running server (the standalone
//! binary, a load test) does not grow with every connection it ever served.

use crate::connection::ConnectionHandle;
use std::collections::VecDeque;
use std::sync::Mutex;
use tokio::sync::Notify;

/// The connections a server remembers, in the order they were registered.
pub(crate) struct Registry {
    records: Mutex<Records>,
    notify: Notify,
    keep_finished: usize,
}

#[derive(Default)]
struct Records {
    /// Registration number and handle, numbers increasing.
    kept: VecDeque<(u64, ConnectionHandle)>,
    /// Numbers of the finished connections still kept, oldest finish first.
    finished: VecDeque<u64>,
    next_number: u64,
    /// The first registration number `next_connection` has not returned yet.
    next_untaken: u64,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("keep_finished", &self.keep_finished)
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// A registry keeping at most `keep_finished` finished connections.
    pub(crate) fn new(keep_finished: usize) -> Self {
        Self {
            records: Mutex::new(Records::default()),
            notify: Notify::new(),
            keep_finished,
        }
    }

    /// Records a new connection and wakes `next_connection` waiters. Returns its number, for
    /// [`Self::finish`].
    pub(crate) fn register(&self, handle: ConnectionHandle) -> u64 {
        let number = match self.records.lock() {
            Ok(mut records) => {
                let number = records.next_number;
                records.next_number += 1;
                records.kept.push_back((number, handle));
                number
            }
            Err(_) => u64::MAX,
        };
        self.notify.notify_waiters();
        number
    }

    /// Marks a connection finished; forgets the oldest finished ones beyond the bound.
    pub(crate) fn finish(&self, number: u64) {
        let Ok(mut records) = self.records.lock() else {
            return;
        };
        records.finished.push_back(number);
        while records.finished.len() > self.keep_finished {
            let Some(oldest) = records.finished.pop_front() else {
                break;
            };
            if let Ok(at) = records.kept.binary_search_by_key(&oldest, |(n, _)| *n) {
                records.kept.remove(at);
            }
        }
    }

    /// The oldest kept connection `take_next` has not returned yet, marking it returned.
    /// A connection forgotten before it was taken is skipped.
    pub(crate) fn take_next(&self) -> Option<ConnectionHandle> {
        let mut records = self.records.lock().ok()?;
        let from = records.next_untaken;
        let (number, handle) = records
            .kept
            .iter()
            .find(|(n, _)| *n >= from)
            .map(|(n, h)| (*n, h.clone()))?;
        records.next_untaken = number + 1;
        Some(handle)
    }

    /// A future resolving at the next [`Self::register`]; create it before `take_next` so a
    /// registration in between is not missed.
    pub(crate) fn registered(&self) -> tokio::sync::futures::Notified<'_> {
        self.notify.notified()
    }

    /// Every kept connection, in registration order.
    pub(crate) fn all(&self) -> Vec<ConnectionHandle> {
        self.records
            .lock()
            .map(|r| r.kept.iter().map(|(_, h)| h.clone()).collect())
            .unwrap_or_default()
    }
}
