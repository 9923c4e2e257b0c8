//! One record per assistant audio item: how much was received, whether it is complete or
//! was truncated, and when it would start playing. Barge-in asks these records which items
//! are still playing, whatever response is current, and where to cut each.
//!
//! Where playback is: the [`PlaybackTracker`] when the application feeds it (an item it has
//! not reported yet has not started; one before the item it reports has finished), else an
//! estimate for an application that plays audio as it arrives, item after item: an item
//! starts when it arrives or when the audio queued before it ends, whichever is later.

use crate::playback::{bytes_to_ms as ms, PlaybackTracker};
use realtime_protocol::{ItemId, ResponseId};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

/// Items remembered; older ones have long finished playing.
const KEEP_ITEMS: usize = 16;

pub(super) struct AudioItem {
    pub(super) item_id: ItemId,
    pub(super) content_index: u32,
    pub(super) response_id: ResponseId,
    pub(super) bytes: usize,
    pub(super) done: bool,
    pub(super) truncated: bool,
    /// When playback of the item starts, by the estimate.
    play_start: Instant,
}

/// Where an item's audio is cut.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Cut {
    pub(super) item_id: ItemId,
    pub(super) content_index: u32,
    pub(super) response_id: ResponseId,
    pub(super) audio_end_ms: u64,
}

#[derive(Default)]
pub(super) struct AudioItems {
    items: VecDeque<AudioItem>,
}

impl AudioItems {
    /// Audio arrived. `false` when the item was truncated already: the delta must not be
    /// played, and is not counted. Only a new item reads the clock.
    pub(super) fn on_delta(
        &mut self,
        response_id: &ResponseId,
        item_id: &ItemId,
        content_index: u32,
        bytes: usize,
        bytes_per_ms: f64,
    ) -> bool {
        // Newest first: the item being streamed is almost always the last one.
        if let Some(a) = self
            .items
            .iter_mut()
            .rev()
            .find(|a| &a.item_id == item_id && a.content_index == content_index)
        {
            if a.truncated {
                return false;
            }
            a.bytes += bytes;
            return true;
        }
        let now = Instant::now();
        // It plays once the audio before it has played (unless that was cut).
        let starts = match self.items.back() {
            Some(prev) if !prev.truncated => {
                let end = prev.play_start
                    + Duration::from_secs_f64(ms(prev.bytes, bytes_per_ms) / 1000.0);
                end.max(now)
            }
            _ => now,
        };
        if self.items.len() >= KEEP_ITEMS {
            self.items.pop_front();
        }
        self.items.push_back(AudioItem {
            item_id: item_id.clone(),
            content_index,
            response_id: response_id.clone(),
            bytes,
            done: false,
            truncated: false,
            play_start: starts,
        });
        true
    }

    /// The item's audio is complete.
    pub(super) fn on_done(&mut self, item_id: &ItemId, content_index: u32) {
        if let Some(a) = self
            .items
            .iter_mut()
            .rev()
            .find(|a| &a.item_id == item_id && a.content_index == content_index)
        {
            a.done = true;
        }
    }

    /// Milliseconds of the item's audio received.
    pub(super) fn received_ms(
        &self,
        item_id: &ItemId,
        content_index: u32,
        bytes_per_ms: f64,
    ) -> Option<f64> {
        self.items
            .iter()
            .rev()
            .find(|a| &a.item_id == item_id && a.content_index == content_index)
            .map(|a| ms(a.bytes, bytes_per_ms))
    }

    /// Cuts every item still playing or waiting to play (only `response`'s when given): each
    /// at its played position, clamped to what was received. An item is cut at most once.
    pub(super) fn cut(
        &mut self,
        tracker: &PlaybackTracker,
        bytes_per_ms: f64,
        now: Instant,
        response: Option<&ResponseId>,
    ) -> Vec<Cut> {
        let fed = tracker.is_fed();
        let reported = if fed { tracker.current() } else { None };
        let reported_at = reported.as_ref().and_then(|(id, ci, _)| {
            self.items
                .iter()
                .position(|a| &a.item_id == id && a.content_index == *ci)
        });
        let mut cuts = Vec::new();
        for (i, a) in self.items.iter_mut().enumerate() {
            if a.truncated || response.is_some_and(|r| r != &a.response_id) {
                continue;
            }
            let received = ms(a.bytes, bytes_per_ms);
            let played = match (&reported, reported_at) {
                (Some((_, _, played)), Some(at)) if at == i => *played,
                // The application plays a later item: this one finished.
                (_, Some(at)) if at > i => continue,
                _ if fed => 0.0,
                _ => now.saturating_duration_since(a.play_start).as_secs_f64() * 1000.0,
            };
            if a.done && played >= received {
                continue;
            }
            a.truncated = true;
            cuts.push(Cut {
                item_id: a.item_id.clone(),
                content_index: a.content_index,
                response_id: a.response_id.clone(),
                audio_end_ms: played.min(received).max(0.0).floor() as u64,
            });
        }
        cuts
    }

    /// Forgets every item (a new connection: the old items cannot be truncated there).
    pub(super) fn clear(&mut self) {
        self.items.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BPM: f64 = 48.0;

    fn delta(items: &mut AudioItems, r: &str, i: &str, ms: usize) -> bool {
        items.on_delta(&r.into(), &i.into(), 0, ms * 48, BPM)
    }

    fn cuts(c: &[Cut]) -> Vec<(&str, u64)> {
        c.iter()
            .map(|c| (c.item_id.as_str(), c.audio_end_ms))
            .collect()
    }

    async fn advance(ms: u64) {
        tokio::time::advance(Duration::from_millis(ms)).await;
    }

    #[tokio::test(start_paused = true)]
    async fn the_wall_clock_estimate_plays_items_one_after_another() {
        let mut items = AudioItems::default();
        // 1 s of item a arrives at once, then item b (next response) 100 ms later: b starts
        // playing when a ends.
        delta(&mut items, "r1", "a", 1000);
        items.on_done(&"a".into(), 0);
        advance(100).await;
        delta(&mut items, "r2", "b", 500);
        advance(300).await;
        let tracker = PlaybackTracker::new();
        let c = items.cut(&tracker, BPM, Instant::now(), None);
        assert_eq!(cuts(&c), [("a", 400), ("b", 0)]);
        // Cut once: later deltas of a truncated item are refused, a second cut is empty.
        assert!(!delta(&mut items, "r1", "a", 20));
        assert!(items.cut(&tracker, BPM, Instant::now(), None).is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_finished_item_is_not_cut_and_the_cut_is_clamped_to_what_arrived() {
        let mut items = AudioItems::default();
        delta(&mut items, "r1", "a", 200);
        items.on_done(&"a".into(), 0);
        advance(200).await;
        delta(&mut items, "r2", "b", 100);
        // At 700 ms: a finished at 200, b has played its 100 ms but is not complete.
        advance(500).await;
        let tracker = PlaybackTracker::new();
        let c = items.cut(&tracker, BPM, Instant::now(), None);
        assert_eq!(cuts(&c), [("b", 100)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_fed_tracker_is_trusted_item_by_item() {
        let mut items = AudioItems::default();
        delta(&mut items, "r1", "a", 1000);
        delta(&mut items, "r1", "b", 1000);
        delta(&mut items, "r2", "c", 1000);
        advance(30_000).await;
        let tracker = PlaybackTracker::new();
        // Fed chunk by chunk, as applications do: b plays, so a has finished and c waits.
        for _ in 0..5 {
            tracker.on_play_bytes(&"b".into(), 0, 48 * 40);
        }
        let c = items.cut(&tracker, BPM, Instant::now(), None);
        assert_eq!(cuts(&c), [("b", 200), ("c", 0)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_response_filter_cuts_only_that_response() {
        let mut items = AudioItems::default();
        delta(&mut items, "r1", "a", 1000);
        delta(&mut items, "r2", "b", 1000);
        let tracker = PlaybackTracker::new();
        let c = items.cut(&tracker, BPM, Instant::now(), Some(&"r2".into()));
        assert_eq!(cuts(&c), [("b", 0)]);
        assert_eq!(items.received_ms(&"a".into(), 0, BPM), Some(1000.0));
    }

    #[tokio::test(start_paused = true)]
    async fn an_item_after_a_cut_starts_when_it_arrives() {
        let mut items = AudioItems::default();
        delta(&mut items, "r1", "a", 5000);
        advance(100).await;
        let tracker = PlaybackTracker::new();
        assert_eq!(
            cuts(&items.cut(&tracker, BPM, Instant::now(), None)),
            [("a", 100)]
        );
        delta(&mut items, "r2", "b", 1000);
        advance(250).await;
        assert_eq!(
            cuts(&items.cut(&tracker, BPM, Instant::now(), None)),
            [("b", 250)]
        );
    }
}
