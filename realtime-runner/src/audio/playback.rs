//! [`Playback`]: the assistant's 24 kHz PCM16 in, the speaker's frames out at the device's
//! rate, with a small jitter buffer, an immediate flush on interruption, and the
//! [`PlaybackTracker`] fed with what the device actually played.

use super::{to_f32, AudioError, Resampler, API_RATE};
use crate::PlaybackTracker;
use realtime_protocol::ItemId;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// Default audio held before playback starts (and restarts after running dry).
const DEFAULT_PREBUFFER_MS: u32 = 60;
/// Default time the speakers may still sound after the last audio left the buffer (the
/// device's and the sound server's own buffering): the half-duplex gate stays closed for it.
const DEFAULT_ECHO_TAIL_MS: u32 = 400;
/// Default most audio held; beyond it new audio is dropped (and counted).
const DEFAULT_MAX_QUEUED_MS: u32 = 300_000;

/// What playback did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[non_exhaustive]
pub struct PlaybackStats {
    /// Assistant audio played, in ms.
    pub played_ms: f64,
    /// Audio dropped by interruptions, in ms.
    pub interrupted_ms: f64,
    /// Audio dropped because the queue was full, in ms.
    pub overflow_ms: f64,
    /// Output callbacks that ran dry while audio was expected (a gap was heard).
    pub underruns: u64,
    /// Output callbacks that found the buffer busy and played silence instead of waiting.
    pub busy_callbacks: u64,
}

struct Segment {
    item_id: ItemId,
    content_index: u32,
    samples: VecDeque<i16>,
}

struct Inner {
    queue: VecDeque<Segment>,
    queued: usize,
    max_queued: usize,
    prebuffer: usize,
    playing: bool,
    /// Device samples of silence written since the last audio, capped at `echo_tail`.
    silent_for: usize,
    echo_tail: usize,
    /// The item whose audio the resampler is in the middle of.
    streaming: Option<(ItemId, u32)>,
    /// Whether that item's audio is complete (nothing more will come; play out the rest).
    ended: bool,
    resampler: Resampler,
    scratch_in: Vec<i16>,
    scratch_out: Vec<i16>,
    stats: PlaybackStats,
}

/// The speaker side of a session. Cheap to clone: keep one clone where session events are
/// handled ([`Self::push`], [`Self::end_item`], [`Self::interrupt`]) and one in the output
/// device's callback ([`Self::fill_f32`] / [`Self::fill_i16`]).
///
/// The output callback never waits: if the event side holds the buffer at that instant, the
/// callback plays silence and counts it ([`PlaybackStats::busy_callbacks`]).
#[derive(Clone)]
pub struct Playback {
    inner: Arc<Mutex<Inner>>,
    tracker: PlaybackTracker,
    device_rate: u32,
    channels: usize,
}

impl std::fmt::Debug for Playback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Playback")
            .field("device_rate", &self.device_rate)
            .field("channels", &self.channels)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Playback {
    /// Playback to a device at `device_rate` Hz with `channels` channels, feeding `tracker`
    /// (the session's [`crate::RealtimeSession::playback_tracker`]).
    ///
    /// # Errors
    /// A zero rate or channel count.
    pub fn new(
        device_rate: u32,
        channels: u16,
        tracker: PlaybackTracker,
    ) -> Result<Self, AudioError> {
        if channels == 0 {
            return Err(AudioError::Format("a device with no channels".into()));
        }
        let per_ms = device_rate as usize / 1000;
        Ok(Self {
            inner: Arc::new(Mutex::new(Inner {
                queue: VecDeque::new(),
                queued: 0,
                max_queued: per_ms * DEFAULT_MAX_QUEUED_MS as usize,
                prebuffer: per_ms * DEFAULT_PREBUFFER_MS as usize,
                playing: false,
                silent_for: usize::MAX,
                echo_tail: per_ms * DEFAULT_ECHO_TAIL_MS as usize,
                streaming: None,
                ended: false,
                resampler: Resampler::new(API_RATE, device_rate)?,
                scratch_in: Vec::new(),
                scratch_out: Vec::new(),
                stats: PlaybackStats::default(),
            })),
            tracker,
            device_rate,
            channels: usize::from(channels),
        })
    }

    /// Audio held before playback starts or resumes after running dry (default 60 ms):
    /// more smooths network jitter, less answers sooner.
    pub fn with_prebuffer_ms(self, ms: u32) -> Self {
        if let Ok(mut inner) = self.inner.lock() {
            inner.prebuffer = self.device_rate as usize / 1000 * ms as usize;
        }
        self
    }

    /// How long after the last audio the speakers may still sound (default 400 ms: the
    /// device's and the sound server's buffers): [`Self::is_active`] stays true for it.
    pub fn with_echo_tail_ms(self, ms: u32) -> Self {
        if let Ok(mut inner) = self.inner.lock() {
            inner.echo_tail = self.device_rate as usize / 1000 * ms as usize;
        }
        self
    }

    /// The most audio held (default 300 s); audio beyond it is dropped and counted.
    pub fn with_max_queued_ms(self, ms: u32) -> Self {
        if let Ok(mut inner) = self.inner.lock() {
            inner.max_queued = self.device_rate as usize / 1000 * ms as usize;
        }
        self
    }

    fn ms(&self, samples: usize) -> f64 {
        samples as f64 * 1000.0 / f64::from(self.device_rate)
    }

    /// Queues a chunk of the assistant's audio (a [`crate::SessionEvent::Audio`]'s PCM16 at
    /// 24 kHz).
    pub fn push(&self, item_id: &ItemId, content_index: u32, pcm: &[u8]) {
        let Ok(mut guard) = self.inner.lock() else {
            return;
        };
        let inner = &mut *guard;
        if inner.streaming.as_ref().map(|(i, c)| (i, *c)) != Some((item_id, content_index)) {
            let dropped = inner.finish_stream();
            inner.stats.overflow_ms += self.ms(dropped);
            inner.streaming = Some((item_id.clone(), content_index));
            inner.ended = false;
        }
        inner.scratch_in.clear();
        inner.scratch_in.extend(
            pcm.chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]])),
        );
        inner.scratch_out.clear();
        let Inner {
            resampler,
            scratch_in,
            scratch_out,
            ..
        } = inner;
        resampler.process(scratch_in, scratch_out);
        let out = std::mem::take(&mut inner.scratch_out);
        let dropped = inner.enqueue(item_id, content_index, &out);
        inner.stats.overflow_ms += self.ms(dropped);
        inner.scratch_out = out;
    }

    /// The item's audio is complete ([`crate::SessionEvent::AudioEnd`]): the resampler's tail
    /// is queued and the rest plays out even below the prebuffer.
    pub fn end_item(&self, item_id: &ItemId, content_index: u32) {
        let Ok(mut guard) = self.inner.lock() else {
            return;
        };
        let inner = &mut *guard;
        if inner.streaming.as_ref().map(|(i, c)| (i, *c)) == Some((item_id, content_index)) {
            let dropped = inner.finish_stream();
            inner.stats.overflow_ms += self.ms(dropped);
            inner.ended = true;
        }
    }

    /// Drops everything queued at once ([`crate::SessionEvent::AudioInterrupted`], or the
    /// user's own stop). The tracker keeps what was played.
    pub fn interrupt(&self) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let dropped = inner.queued;
        inner.stats.interrupted_ms += self.ms(dropped);
        inner.queue.clear();
        inner.queued = 0;
        inner.playing = false;
        inner.streaming = None;
        inner.ended = false;
        inner.resampler.reset();
    }

    /// Whether assistant audio is queued, playing, or may still sound from the device's
    /// buffers (the echo tail): the half-duplex gate for [`super::Capture::set_gated`].
    pub fn is_active(&self) -> bool {
        self.inner
            .lock()
            .map(|i| i.queued > 0 || i.playing || i.silent_for < i.echo_tail)
            .unwrap_or(false)
    }

    /// Audio queued, in ms.
    pub fn queued_ms(&self) -> f64 {
        self.inner.lock().map(|i| self.ms(i.queued)).unwrap_or(0.0)
    }

    /// What playback did so far.
    pub fn stats(&self) -> PlaybackStats {
        self.inner.lock().map(|i| i.stats).unwrap_or_default()
    }

    /// Fills one output callback's interleaved float buffer: queued audio, or silence.
    pub fn fill_f32(&self, out: &mut [f32]) {
        self.fill(out.len(), |frame, sample| {
            let v = to_f32(sample);
            for s in &mut out[frame * self.channels..(frame + 1) * self.channels] {
                *s = v;
            }
        });
    }

    /// Fills one output callback's interleaved 16-bit buffer: queued audio, or silence.
    pub fn fill_i16(&self, out: &mut [i16]) {
        self.fill(out.len(), |frame, sample| {
            for s in &mut out[frame * self.channels..(frame + 1) * self.channels] {
                *s = sample;
            }
        });
    }

    /// Writes `len / channels` frames through `write(frame, sample)` (silence included) and
    /// feeds the tracker with what was played of each item.
    fn fill(&self, len: usize, mut write: impl FnMut(usize, i16)) {
        let frames = len / self.channels;
        let Ok(mut guard) = self.inner.try_lock() else {
            for f in 0..frames {
                write(f, 0);
            }
            if let Ok(mut inner) = self.inner.lock() {
                inner.stats.busy_callbacks += 1;
            }
            return;
        };
        let inner = &mut *guard;
        if !inner.playing
            && (inner.queued >= inner.prebuffer.max(1) || (inner.ended && inner.queued > 0))
        {
            inner.playing = true;
        }
        let mut frame = 0;
        while inner.playing && frame < frames {
            let Some(seg) = inner.queue.front_mut() else {
                break;
            };
            let take = seg.samples.len().min(frames - frame);
            for s in seg.samples.drain(..take) {
                write(frame, s);
                frame += 1;
            }
            // Neighbouring segments are different items (`enqueue` merges the same one), so
            // each is reported once per callback. The tracker has its own lock, never held
            // while this one is taken: no allocation, no wait beyond it.
            self.tracker
                .on_play_ms(&seg.item_id, seg.content_index, self.ms(take));
            inner.queued -= take;
            if seg.samples.is_empty() {
                inner.queue.pop_front();
            }
        }
        let played = frame;
        if frame < frames {
            if inner.playing && !inner.ended {
                // Ran dry mid-answer: a gap is heard; buffer up again before resuming.
                inner.stats.underruns += 1;
            }
            inner.playing = inner.queued > 0;
            for f in frame..frames {
                write(f, 0);
            }
        }
        inner.stats.played_ms += self.ms(played);
        inner.silent_for = if played < frames {
            let silence = frames - played;
            if played > 0 {
                silence
            } else {
                inner.silent_for.saturating_add(silence)
            }
        } else {
            0
        };
    }
}

impl Inner {
    /// Appends samples of an item, up to the queue's bound. Returns how many were dropped.
    fn enqueue(&mut self, item_id: &ItemId, content_index: u32, samples: &[i16]) -> usize {
        let kept = samples
            .len()
            .min(self.max_queued.saturating_sub(self.queued));
        if kept > 0 {
            match self.queue.back_mut() {
                Some(seg) if seg.item_id == *item_id && seg.content_index == content_index => {
                    seg.samples.extend(&samples[..kept]);
                }
                _ => self.queue.push_back(Segment {
                    item_id: item_id.clone(),
                    content_index,
                    samples: samples[..kept].iter().copied().collect(),
                }),
            }
            self.queued += kept;
        }
        samples.len() - kept
    }

    /// Queues the resampler's tail of the item in progress, if any. Returns how many samples
    /// were dropped.
    fn finish_stream(&mut self) -> usize {
        let Some((item_id, content_index)) = self.streaming.take() else {
            return 0;
        };
        let mut tail = Vec::new();
        self.resampler.flush(&mut tail);
        self.enqueue(&item_id, content_index, &tail)
    }
}
