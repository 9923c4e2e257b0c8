//! [`PlaybackTracker`]: where the application's playback of assistant audio is, so barge-in
//! truncates the item at what the user actually heard.

use realtime_protocol::ItemId;
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
struct State {
    item_id: Option<ItemId>,
    content_index: u32,
    played_ms: f64,
    /// Whether the application ever fed the tracker: from then on the session trusts it
    /// alone (an item it has not reported has not started playing).
    fed: bool,
}

/// The application's playback position, fed as audio is played. Cheap to clone; share it with
/// the audio output task.
///
/// Without feeding, the session estimates playback as the time since the item's first audio
/// delta (real-time playback starting at once), which is right for a client that plays audio
/// as it arrives.
#[derive(Debug, Clone, Default)]
pub struct PlaybackTracker {
    state: Arc<Mutex<State>>,
    bytes_per_ms: Arc<Mutex<f64>>,
}

impl PlaybackTracker {
    /// A tracker nobody has fed yet.
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn set_bytes_per_ms(&self, bpm: f64) {
        if let Ok(mut b) = self.bytes_per_ms.lock() {
            *b = bpm;
        }
    }

    /// `bytes` of the item's audio were played.
    pub fn on_play_bytes(&self, item_id: &ItemId, content_index: u32, bytes: usize) {
        let bpm = self.bytes_per_ms.lock().map(|b| *b).unwrap_or(0.0);
        self.on_play_ms(item_id, content_index, bytes_to_ms(bytes, bpm));
    }

    /// `ms` milliseconds of the item's audio were played.
    pub fn on_play_ms(&self, item_id: &ItemId, content_index: u32, ms: f64) {
        if let Ok(mut s) = self.state.lock() {
            if s.item_id.as_ref() != Some(item_id) || s.content_index != content_index {
                s.item_id = Some(item_id.clone());
                s.content_index = content_index;
                s.played_ms = 0.0;
            }
            s.played_ms += ms.max(0.0);
            s.fed = true;
        }
    }

    /// Playback was stopped (e.g. the app flushed its buffer).
    pub fn on_interrupted(&self) {
        if let Ok(mut s) = self.state.lock() {
            *s = State {
                fed: s.fed,
                ..State::default()
            };
        }
    }

    /// Whether the application has fed the tracker at all.
    pub fn is_fed(&self) -> bool {
        self.state.lock().map(|s| s.fed).unwrap_or(false)
    }

    /// The item the application reports playing, its content part and how much of it played.
    pub fn current(&self) -> Option<(ItemId, u32, f64)> {
        let s = self.state.lock().ok()?;
        s.item_id
            .clone()
            .map(|id| (id, s.content_index, s.played_ms))
    }

    /// How much of this item the application reported as played, if it reported anything.
    pub fn played_ms(&self, item_id: &ItemId, content_index: u32) -> Option<f64> {
        let s = self.state.lock().ok()?;
        (s.item_id.as_ref() == Some(item_id) && s.content_index == content_index)
            .then_some(s.played_ms)
    }
}

/// Milliseconds of audio in `bytes` at `bytes_per_ms` (PCM16 24 kHz's 48 when unknown).
pub(crate) fn bytes_to_ms(bytes: usize, bytes_per_ms: f64) -> f64 {
    let bpm = if bytes_per_ms > 0.0 {
        bytes_per_ms
    } else {
        48.0
    };
    bytes as f64 / bpm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fed_chunk_by_chunk_in_bytes_or_ms() {
        let t = PlaybackTracker::new();
        t.set_bytes_per_ms(48.0);
        let item = ItemId::from("a");
        assert!(!t.is_fed());
        for _ in 0..10 {
            t.on_play_bytes(&item, 0, 960);
        }
        t.on_play_ms(&item, 0, 5.0);
        assert_eq!(t.played_ms(&item, 0), Some(205.0));
        assert_eq!(t.played_ms(&item, 1), None, "another content part");
        // A new item starts from zero; an interruption forgets the item but not that the
        // application feeds the tracker.
        t.on_play_ms(&"b".into(), 0, 40.0);
        assert_eq!(t.played_ms(&item, 0), None);
        assert_eq!(t.current(), Some(("b".into(), 0, 40.0)));
        t.on_interrupted();
        assert_eq!(t.current(), None);
        assert!(t.is_fed());
    }

    #[test]
    fn g711_output_counts_eight_bytes_per_ms() {
        let t = PlaybackTracker::new();
        t.set_bytes_per_ms(8.0);
        let item = ItemId::from("call");
        for _ in 0..5 {
            t.on_play_bytes(&item, 0, 160); // 20 ms of µ-law each
        }
        assert_eq!(t.played_ms(&item, 0), Some(100.0));
    }
}
