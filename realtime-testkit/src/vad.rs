//! Server VAD from audio: an energy detector over 10 ms frames of the input audio, shaped by the
//! session's `threshold`, `prefix_padding_ms` and `silence_duration_ms`, in PCM16 or G.711.
//!
//! It is not the service's model, but it hears what a test or a caller sends: at the default
//! threshold (0.5) a frame at −30 dBFS RMS or louder is speech and one below −50 dBFS (digital
//! silence, line noise) is not. The threshold maps linearly onto that scale: 0.5 is −40 dBFS,
//! each 0.1 moves it 4 dB (1.0 is −20 dBFS, 0.0 is −60 dBFS).
//!
//! Times are milliseconds of audio appended since the session started, as the service counts
//! `audio_start_ms` and `audio_end_ms`.

use realtime_protocol::audio::{alaw_decode, ulaw_decode};

/// Input audio encodings the detector reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// 16-bit little-endian PCM at `rate` Hz.
    Pcm16 { rate: u32 },
    /// G.711 µ-law, 8 kHz.
    Ulaw,
    /// G.711 A-law, 8 kHz.
    Alaw,
}

impl Encoding {
    /// Bytes per millisecond of audio.
    pub(crate) fn bytes_per_ms(self) -> f64 {
        match self {
            Encoding::Pcm16 { rate } => f64::from(rate) * 2.0 / 1000.0,
            Encoding::Ulaw | Encoding::Alaw => 8.0,
        }
    }

    fn bytes_per_sample(self) -> usize {
        match self {
            Encoding::Pcm16 { .. } => 2,
            _ => 1,
        }
    }

    fn rate(self) -> u32 {
        match self {
            Encoding::Pcm16 { rate } => rate,
            _ => 8_000,
        }
    }

    /// The linear sample of one encoded sample.
    fn sample(self, b: &[u8]) -> i16 {
        match self {
            Encoding::Pcm16 { .. } => i16::from_le_bytes([b[0], b.get(1).copied().unwrap_or(0)]),
            Encoding::Ulaw => ulaw_decode(b[0]),
            Encoding::Alaw => alaw_decode(b[0]),
        }
    }
}

/// The detector's settings, from the session's turn detection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct VadSettings {
    pub(crate) threshold: f64,
    pub(crate) prefix_padding_ms: u64,
    pub(crate) silence_duration_ms: u64,
}

impl VadSettings {
    /// The RMS level (dBFS) at or above which a frame is speech.
    fn threshold_dbfs(&self) -> f64 {
        -40.0 + (self.threshold.clamp(0.0, 1.0) - 0.5) * 40.0
    }
}

/// What the detector heard in an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VadEvent {
    /// Speech began; `audio_start_ms` includes the prefix padding.
    Started { audio_start_ms: u64 },
    /// Speech ended at `audio_end_ms` (the end of its last voiced frame), confirmed by
    /// `silence_duration_ms` of silence after it.
    Stopped { audio_end_ms: u64 },
}

/// Speech needs this many voiced milliseconds in a row to start (a click is not speech).
const MIN_SPEECH_MS: u64 = 30;
const FRAME_MS: u64 = 10;

/// The detector's state across appends.
#[derive(Debug, Clone)]
pub(crate) struct Vad {
    encoding: Encoding,
    /// Bytes of an unfinished frame carried to the next append.
    partial: Vec<u8>,
    /// Milliseconds of audio seen (whole frames).
    ms: u64,
    /// Voiced milliseconds in a row before speech started, and where that run began.
    run: Option<(u64, u64)>,
    /// Speech in progress: where it started, the end of its last voiced frame.
    speaking: Option<(u64, u64)>,
}

impl Vad {
    pub(crate) fn new(encoding: Encoding) -> Self {
        Self {
            encoding,
            partial: Vec::new(),
            ms: 0,
            run: None,
            speaking: None,
        }
    }

    /// Milliseconds of audio seen so far.
    pub(crate) fn position_ms(&self) -> u64 {
        self.ms
    }

    /// Whether speech is in progress (or may be starting).
    pub(crate) fn is_speaking(&self) -> bool {
        self.speaking.is_some() || self.run.is_some()
    }

    /// Changes the encoding (a `session.update` changed the input format); an unfinished frame
    /// of the old encoding is dropped.
    pub(crate) fn set_encoding(&mut self, encoding: Encoding) {
        if encoding != self.encoding {
            self.encoding = encoding;
            self.partial.clear();
        }
    }

    /// Forgets speech in progress (the buffer was cleared or committed by hand).
    pub(crate) fn reset_speech(&mut self) {
        self.run = None;
        self.speaking = None;
    }

    /// Reads appended audio; returns what it heard, in order.
    pub(crate) fn push(&mut self, audio: &[u8], settings: &VadSettings) -> Vec<VadEvent> {
        let mut events = Vec::new();
        let frame_bytes = (self.encoding.rate() as usize / 1000)
            * FRAME_MS as usize
            * self.encoding.bytes_per_sample();
        let mut data = std::mem::take(&mut self.partial);
        data.extend_from_slice(audio);
        let mut chunks = data.chunks_exact(frame_bytes);
        for frame in chunks.by_ref() {
            let voiced = self.level_dbfs(frame) >= settings.threshold_dbfs();
            self.frame(voiced, settings, &mut events);
        }
        self.partial = chunks.remainder().to_vec();
        events
    }

    fn level_dbfs(&self, frame: &[u8]) -> f64 {
        let step = self.encoding.bytes_per_sample();
        let (mut sum, mut n) = (0f64, 0usize);
        for s in frame.chunks_exact(step) {
            let v = f64::from(self.encoding.sample(s)) / 32_768.0;
            sum += v * v;
            n += 1;
        }
        if n == 0 || sum == 0.0 {
            return f64::NEG_INFINITY;
        }
        10.0 * (sum / n as f64).log10()
    }

    fn frame(&mut self, voiced: bool, settings: &VadSettings, events: &mut Vec<VadEvent>) {
        let start = self.ms;
        self.ms += FRAME_MS;
        match (self.speaking, voiced) {
            (Some((began, _)), true) => self.speaking = Some((began, self.ms)),
            (Some((_, last_voiced)), false) => {
                if self.ms - last_voiced >= settings.silence_duration_ms.max(FRAME_MS) {
                    self.speaking = None;
                    events.push(VadEvent::Stopped {
                        audio_end_ms: last_voiced,
                    });
                }
            }
            (None, true) => {
                let (run_start, voiced_ms) = self.run.unwrap_or((start, 0));
                let voiced_ms = voiced_ms + FRAME_MS;
                if voiced_ms >= MIN_SPEECH_MS {
                    self.run = None;
                    self.speaking = Some((run_start, self.ms));
                    events.push(VadEvent::Started {
                        audio_start_ms: run_start.saturating_sub(settings.prefix_padding_ms),
                    });
                } else {
                    self.run = Some((run_start, voiced_ms));
                }
            }
            (None, false) => self.run = None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use realtime_protocol::audio::{alaw_encode, ulaw_encode};

    const DEFAULT: VadSettings = VadSettings {
        threshold: 0.5,
        prefix_padding_ms: 300,
        silence_duration_ms: 200,
    };

    /// A 300 Hz tone at `dbfs` RMS, `ms` long, PCM16 24 kHz.
    fn tone(dbfs: f64, ms: u64) -> Vec<u8> {
        let amp = 10f64.powf(dbfs / 20.0) * std::f64::consts::SQRT_2 * 32_768.0;
        (0..ms * 24)
            .flat_map(|n| {
                let v = (2.0 * std::f64::consts::PI * 300.0 * n as f64 / 24_000.0).sin() * amp;
                (v.round() as i16).to_le_bytes()
            })
            .collect()
    }

    fn silence(ms: u64) -> Vec<u8> {
        vec![0; (ms * 48) as usize]
    }

    #[test]
    fn speech_at_minus_30_dbfs_starts_and_stops_with_the_right_times() {
        let mut vad = Vad::new(Encoding::Pcm16 { rate: 24_000 });
        let mut events = vad.push(&silence(1_000), &DEFAULT);
        assert!(events.is_empty());
        // Fed in odd-sized pieces, as clients do.
        let speech = tone(-30.0, 800);
        for piece in speech.chunks(1_234) {
            events.extend(vad.push(piece, &DEFAULT));
        }
        events.extend(vad.push(&silence(500), &DEFAULT));
        assert_eq!(
            events,
            [
                VadEvent::Started {
                    audio_start_ms: 700
                },
                VadEvent::Stopped {
                    audio_end_ms: 1_800
                }
            ]
        );
    }

    #[test]
    fn silence_and_noise_below_minus_50_dbfs_are_not_speech() {
        let mut vad = Vad::new(Encoding::Pcm16 { rate: 24_000 });
        assert!(vad.push(&silence(2_000), &DEFAULT).is_empty());
        assert!(vad.push(&tone(-52.0, 2_000), &DEFAULT).is_empty());
        assert!(!vad.is_speaking());
        assert_eq!(vad.position_ms(), 4_000);
    }

    #[test]
    fn threshold_moves_the_level() {
        let strict = VadSettings {
            threshold: 0.9,
            ..DEFAULT
        };
        let mut vad = Vad::new(Encoding::Pcm16 { rate: 24_000 });
        assert!(vad.push(&tone(-30.0, 500), &strict).is_empty());
        let mut vad = Vad::new(Encoding::Pcm16 { rate: 24_000 });
        assert!(!vad.push(&tone(-30.0, 500), &DEFAULT).is_empty());
    }

    #[test]
    fn g711_speech_is_heard() {
        for (encoding, encode) in [
            (Encoding::Ulaw, ulaw_encode as fn(i16) -> u8),
            (Encoding::Alaw, alaw_encode),
        ] {
            // 8 kHz: keep every third sample of the 24 kHz tone.
            let pcm = tone(-25.0, 600);
            let g711: Vec<u8> = pcm
                .chunks_exact(2)
                .step_by(3)
                .map(|b| encode(i16::from_le_bytes([b[0], b[1]])))
                .collect();
            let mut vad = Vad::new(encoding);
            let mut events = vad.push(&vec![encode(0); 8 * 400], &DEFAULT);
            events.extend(vad.push(&g711, &DEFAULT));
            events.extend(vad.push(&vec![encode(0); 8 * 400], &DEFAULT));
            assert_eq!(
                events,
                [
                    VadEvent::Started {
                        audio_start_ms: 100
                    },
                    VadEvent::Stopped {
                        audio_end_ms: 1_000
                    }
                ],
                "{encoding:?}"
            );
        }
    }
}
