//! [`Resampler`]: streaming sample-rate conversion with an anti-aliasing filter (rubato's FFT
//! resampler), for microphone and speaker audio at whatever rate the device runs.

use super::AudioError;
use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler as _};

/// Converts a mono stream of 16-bit samples from one rate to another, chunk by chunk, with a
/// band-limiting (anti-aliasing) filter: downsampling 48 kHz to 24 kHz removes what lies above
/// 12 kHz instead of folding it back as noise, as linear interpolation does.
///
/// Feed any chunk sizes with [`Self::process`]; output comes in 10 ms blocks of input, delayed
/// by the filter's latency (trimmed: the first output sample is the first input sample).
/// [`Self::flush`] pushes the tail out at the end of a stream; [`Self::reset`] starts a new
/// stream (after a barge-in).
pub struct Resampler {
    from_hz: u32,
    to_hz: u32,
    inner: Option<Fft<f32>>,
    pending: Vec<f32>,
    scratch: Vec<f32>,
    /// Output samples still to drop: the filter's delay at the start of a stream.
    skip: usize,
    /// Input samples since the stream started, and output samples given out.
    input_total: u64,
    output_total: u64,
}

impl std::fmt::Debug for Resampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resampler")
            .field("from_hz", &self.from_hz)
            .field("to_hz", &self.to_hz)
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl Resampler {
    /// A resampler from `from_hz` to `to_hz` (equal rates pass samples through).
    ///
    /// # Errors
    /// A rate is zero or the pair is one rubato cannot build.
    pub fn new(from_hz: u32, to_hz: u32) -> Result<Self, AudioError> {
        if from_hz == 0 || to_hz == 0 {
            return Err(AudioError::Format(format!(
                "sample rates must be positive ({from_hz} Hz to {to_hz} Hz)"
            )));
        }
        let inner = if from_hz == to_hz {
            None
        } else {
            let chunk = (from_hz as usize / 100).max(1);
            let fft = Fft::<f32>::new(from_hz as usize, to_hz as usize, chunk, 1, FixedSync::Input)
                .map_err(|e| AudioError::Format(format!("resampler {from_hz}->{to_hz} Hz: {e}")))?;
            Some(fft)
        };
        let mut r = Self {
            from_hz,
            to_hz,
            inner,
            pending: Vec::new(),
            scratch: Vec::new(),
            skip: 0,
            input_total: 0,
            output_total: 0,
        };
        r.reset();
        Ok(r)
    }

    /// The input rate.
    pub fn from_hz(&self) -> u32 {
        self.from_hz
    }

    /// The output rate.
    pub fn to_hz(&self) -> u32 {
        self.to_hz
    }

    /// Forgets buffered input and the filter's state: the next sample starts a new stream.
    pub fn reset(&mut self) {
        self.pending.clear();
        self.input_total = 0;
        self.output_total = 0;
        if let Some(fft) = &mut self.inner {
            fft.reset();
            self.skip = fft.output_delay();
            self.scratch = vec![0.0; fft.output_frames_max()];
        }
    }

    /// Converts `input`, appending what is ready to `out`.
    pub fn process(&mut self, input: &[i16], out: &mut Vec<i16>) {
        if self.inner.is_none() {
            out.extend_from_slice(input);
            return;
        }
        self.input_total += input.len() as u64;
        self.pending
            .extend(input.iter().map(|&s| f32::from(s) / 32768.0));
        while self
            .inner
            .as_ref()
            .is_some_and(|fft| self.pending.len() >= fft.input_frames_next())
        {
            if !self.chunk(out, u64::MAX) {
                break;
            }
        }
    }

    /// Pushes out what is buffered and the filter's tail, as if silence followed, so the
    /// stream's output is as long as its input at the new rate; then starts a new stream.
    pub fn flush(&mut self, out: &mut Vec<i16>) {
        if self.inner.is_none() {
            return;
        }
        let target = (self.input_total as f64 * f64::from(self.to_hz) / f64::from(self.from_hz))
            .round() as u64;
        // Bounded: each chunk yields 10 ms of output once the delay is skipped.
        for _ in 0..1_000 {
            if self.output_total >= target {
                break;
            }
            let need = self.inner.as_ref().map_or(0, |f| f.input_frames_next());
            if self.pending.len() < need {
                self.pending.resize(need, 0.0);
            }
            if !self.chunk(out, target) {
                break;
            }
        }
        self.reset();
    }

    /// Runs one chunk of pending input through the filter; output beyond `limit` samples in
    /// total is dropped. False when rubato refused (it cannot with these sizes).
    fn chunk(&mut self, out: &mut Vec<i16>, limit: u64) -> bool {
        let Some(fft) = &mut self.inner else {
            return false;
        };
        let frames = fft.input_frames_next();
        let Ok(adapter_in) = InterleavedSlice::new(&self.pending[..frames], 1, frames) else {
            return false;
        };
        let capacity = self.scratch.len();
        let Ok(mut adapter_out) = InterleavedSlice::new_mut(&mut self.scratch, 1, capacity) else {
            return false;
        };
        let Ok((_, produced)) = fft.process_into_buffer(&adapter_in, &mut adapter_out, None) else {
            return false;
        };
        let mut block = &self.scratch[..produced];
        let dropped = self.skip.min(block.len());
        self.skip -= dropped;
        block = &block[dropped..];
        let room = usize::try_from(limit.saturating_sub(self.output_total)).unwrap_or(usize::MAX);
        block = &block[..block.len().min(room)];
        self.output_total += block.len() as u64;
        out.extend(
            block
                .iter()
                .map(|&s| (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16),
        );
        self.pending.drain(..frames);
        true
    }
}

/// Converts a whole clip (convenience over [`Resampler`]).
///
/// # Errors
/// As [`Resampler::new`].
pub fn resample(samples: &[i16], from_hz: u32, to_hz: u32) -> Result<Vec<i16>, AudioError> {
    let mut r = Resampler::new(from_hz, to_hz)?;
    let mut out = Vec::with_capacity(samples.len() * to_hz as usize / from_hz as usize + 16);
    r.process(samples, &mut out);
    r.flush(&mut out);
    Ok(out)
}
