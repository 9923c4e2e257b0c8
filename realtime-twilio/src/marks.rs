//! Playback truth from marks: the bridge sends a mark after each chunk of audio it forwards;
//! Twilio echoes a mark when the audio before it has played, and also when a `clear` dropped
//! it. Only the echoes of marks sent after the last `clear` count as played.

use realtime_runner::protocol::ItemId;
use std::collections::VecDeque;

/// Prefix of our mark names; anything else echoed is not ours.
const PREFIX: &str = "rt-";

/// Marks awaiting their echo, at most (60 s of 20 ms chunks): a peer that never echoes must
/// not make the list grow for the whole call. The oldest are forgotten first.
const MAX_PENDING: usize = 3_000;

#[derive(Debug)]
struct Pending {
    n: u64,
    item_id: ItemId,
    content_index: u32,
    bytes: usize,
    cleared: bool,
}

/// Audio that played, as an echoed mark proves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Played {
    pub(crate) item_id: ItemId,
    pub(crate) content_index: u32,
    pub(crate) bytes: usize,
}

/// The marks sent and not yet echoed, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Marks {
    next: u64,
    pending: VecDeque<Pending>,
}

impl Marks {
    /// Records a chunk of `bytes` of an item sent; returns the mark's name to send after it.
    pub(crate) fn push(&mut self, item_id: &ItemId, content_index: u32, bytes: usize) -> String {
        self.next += 1;
        if self.pending.len() == MAX_PENDING {
            self.pending.pop_front();
        }
        self.pending.push_back(Pending {
            n: self.next,
            item_id: item_id.clone(),
            content_index,
            bytes,
            cleared: false,
        });
        format!("{PREFIX}{}", self.next)
    }

    /// A `clear` went out: the echoes of every mark sent so far prove nothing played.
    pub(crate) fn clear(&mut self) {
        for p in &mut self.pending {
            p.cleared = true;
        }
    }

    /// Marks sent and not yet echoed.
    #[cfg(test)]
    pub(crate) fn outstanding(&self) -> usize {
        self.pending.len()
    }

    /// An echo arrived: what it proves played, if anything. Twilio echoes in order, so marks
    /// before it that were never echoed (their audio was dropped) are forgotten too.
    pub(crate) fn echo(&mut self, name: &str) -> Option<Played> {
        let n: u64 = name.strip_prefix(PREFIX)?.parse().ok()?;
        while let Some(front) = self.pending.front() {
            if front.n > n {
                return None;
            }
            let p = self.pending.pop_front()?;
            if p.n == n {
                return (!p.cleared).then_some(Played {
                    item_id: p.item_id,
                    content_index: p.content_index,
                    bytes: p.bytes,
                });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_echoes_before_a_clear_count_as_played() {
        let item = ItemId::from("item_1");
        let mut m = Marks::default();
        let a = m.push(&item, 0, 160);
        let b = m.push(&item, 0, 160);
        let c = m.push(&item, 0, 160);
        assert_eq!(m.echo(&a).map(|p| p.bytes), Some(160));
        m.clear();
        // Twilio echoes the dropped marks after a clear: they prove nothing.
        assert_eq!(m.echo(&b), None);
        assert_eq!(m.echo(&c), None);
        let d = m.push(&item, 0, 80);
        assert_eq!(m.echo(&d).map(|p| p.bytes), Some(80));
        assert_eq!(m.outstanding(), 0);
        // Not ours, unknown, or out of order: nothing.
        assert_eq!(m.echo("greeting-done"), None);
        assert_eq!(m.echo("rt-99"), None);
    }

    #[test]
    fn marks_never_echoed_do_not_pile_up() {
        let item = ItemId::from("item_1");
        let mut m = Marks::default();
        for _ in 0..MAX_PENDING + 10 {
            m.push(&item, 0, 160);
        }
        assert_eq!(m.outstanding(), MAX_PENDING);
        let last = m.push(&item, 0, 160);
        assert!(m.echo(&last).is_some());
    }

    #[test]
    fn an_echo_skips_marks_never_echoed() {
        let item = ItemId::from("item_1");
        let mut m = Marks::default();
        let _lost = m.push(&item, 0, 160);
        let b = m.push(&item, 0, 160);
        assert!(m.echo(&b).is_some());
        assert_eq!(m.outstanding(), 0);
    }
}
