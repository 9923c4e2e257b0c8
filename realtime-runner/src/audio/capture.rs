//! [`Capture`]: microphone frames at the device's rate and channels in, 24 kHz mono PCM16
//! chunks of a fixed duration out.

use super::{to_f32, to_i16, AudioError, Resampler, API_RATE};

/// Turns microphone callbacks into chunks for [`crate::RealtimeSession::send_audio`].
///
/// Feed it each input callback's interleaved samples ([`Self::push_f32`] or
/// [`Self::push_i16`]); take the finished chunks with [`Self::next_chunk`]. Each chunk is
/// `chunk_ms` of 24 kHz mono PCM16 (20 ms by default).
///
/// **Half-duplex**: while [`Self::set_gated`] is on (e.g. while the assistant is heard
/// through speakers, with no echo cancellation), the microphone's samples are replaced by
/// silence, so the assistant does not hear itself and interrupt; the stream keeps its timing
/// (the server's VAD still sees time pass).
#[derive(Debug)]
pub struct Capture {
    channels: usize,
    resampler: Resampler,
    chunk_samples: usize,
    gated: bool,
    mono_i16: Vec<i16>,
    ready: Vec<i16>,
    gated_samples: u64,
}

impl Capture {
    /// A capture of a device running at `device_rate` Hz with `channels` channels.
    ///
    /// # Errors
    /// A zero rate or channel count.
    pub fn new(device_rate: u32, channels: u16) -> Result<Self, AudioError> {
        if channels == 0 {
            return Err(AudioError::Format("a device with no channels".into()));
        }
        Ok(Self {
            channels: usize::from(channels),
            resampler: Resampler::new(device_rate, API_RATE)?,
            chunk_samples: API_RATE as usize / 50,
            gated: false,
            mono_i16: Vec::new(),
            ready: Vec::new(),
            gated_samples: 0,
        })
    }

    /// The duration of each chunk (default 20 ms; at least 1 ms).
    pub fn with_chunk_ms(mut self, ms: u32) -> Self {
        self.chunk_samples = (API_RATE as usize * ms.max(1) as usize) / 1000;
        self
    }

    /// Half-duplex gate: while on, the microphone is heard as silence.
    pub fn set_gated(&mut self, gated: bool) {
        self.gated = gated;
    }

    /// How many 24 kHz samples the gate silenced so far.
    pub fn gated_samples(&self) -> u64 {
        self.gated_samples
    }

    /// One input callback's interleaved float samples (−1.0..1.0).
    pub fn push_f32(&mut self, interleaved: &[f32]) {
        let n = self.channels;
        self.mono_i16.clear();
        self.mono_i16.extend(
            interleaved
                .chunks_exact(n)
                .map(|f| to_i16(f.iter().sum::<f32>() / n as f32)),
        );
        self.push_mono();
    }

    /// One input callback's interleaved 16-bit samples.
    pub fn push_i16(&mut self, interleaved: &[i16]) {
        let n = self.channels;
        self.mono_i16.clear();
        self.mono_i16.extend(
            interleaved
                .chunks_exact(n)
                .map(|f| to_i16(f.iter().map(|&s| to_f32(s)).sum::<f32>() / n as f32)),
        );
        self.push_mono();
    }

    fn push_mono(&mut self) {
        let before = self.ready.len();
        self.resampler.process(&self.mono_i16, &mut self.ready);
        if self.gated {
            let new = &mut self.ready[before..];
            self.gated_samples += new.len() as u64;
            new.fill(0);
        }
    }

    /// The next finished chunk, as PCM16 little-endian bytes.
    pub fn next_chunk(&mut self) -> Option<Vec<u8>> {
        if self.ready.len() < self.chunk_samples {
            return None;
        }
        let chunk: Vec<u8> = self.ready[..self.chunk_samples]
            .iter()
            .flat_map(|s| s.to_le_bytes())
            .collect();
        self.ready.drain(..self.chunk_samples);
        Some(chunk)
    }
}
