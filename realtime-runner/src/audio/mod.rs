//! Audio at the edges of a session: the microphone's samples in, the assistant's audio out,
//! at whatever rate and channel count the device has. Behind features, so a server that only
//! relays audio pays for none of it:
//!
//! - `audio`: [`Resampler`] (rubato, with an anti-aliasing filter), [`Capture`] (device
//!   frames → 24 kHz PCM16 chunks for [`crate::RealtimeSession::send_audio`], with a
//!   half-duplex gate) and [`Playback`] (assistant audio → device frames, a small jitter
//!   buffer, dropped at once on interruption, the [`crate::PlaybackTracker`] fed with what was
//!   really played so barge-in truncates at what the user heard).
//! - `wav` (on by default): `read_wav` and `write_wav` (hound).
//! - `device`: `device::DeviceAudio`, the default microphone and speakers through cpal wired
//!   to a [`Capture`] and a [`Playback`] (the `talk` example).
//!
//! [`Capture`] and [`Playback`] do no I/O: they are driven by the device callbacks, so tests
//! drive them with synthetic ones.

mod capture;
#[cfg(feature = "device")]
#[cfg_attr(docsrs, doc(cfg(feature = "device")))]
pub mod device;
mod playback;
mod resample;
#[cfg(feature = "wav")]
mod wav;

pub use capture::Capture;
pub use playback::{Playback, PlaybackStats};
pub use resample::{resample, Resampler};
#[cfg(feature = "wav")]
#[cfg_attr(docsrs, doc(cfg(feature = "wav")))]
pub use wav::{read_wav, write_wav, WavAudio};

/// The Realtime API's PCM16 rate.
pub const API_RATE: u32 = 24_000;

/// What went wrong with audio.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AudioError {
    /// A rate, channel count or sample format that cannot be used.
    #[error("unsupported audio format: {0}")]
    Format(String),
    /// Reading or writing a file.
    #[error("audio file {path}: {message}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The audio device (no device, a refused configuration, a stream error).
    #[error("audio device: {0}")]
    Device(String),
}

/// Mixes interleaved frames of `channels` channels down to mono (WAV files; the capture
/// path mixes straight to 16-bit).
#[cfg(feature = "wav")]
pub(crate) fn mono(interleaved: &[f32], channels: usize, out: &mut Vec<f32>) {
    let channels = channels.max(1);
    out.extend(
        interleaved
            .chunks_exact(channels)
            .map(|frame| frame.iter().sum::<f32>() / channels as f32),
    );
}

pub(crate) fn to_i16(s: f32) -> i16 {
    (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

pub(crate) fn to_f32(s: i16) -> f32 {
    f32::from(s) / 32768.0
}
