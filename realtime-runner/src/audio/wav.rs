//! WAV files (hound): read any PCM or float WAV as the API's 24 kHz mono PCM16, write PCM16.

use super::{resample, AudioError, API_RATE};
use std::path::Path;

/// A WAV file's audio as 16-bit mono samples, and what the file was.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WavAudio {
    /// The samples at [`Self::sample_rate`], mono (channels mixed down).
    pub samples: Vec<i16>,
    /// Their rate: the API's 24 kHz after [`read_wav`].
    pub sample_rate: u32,
    /// The file's own rate.
    pub file_rate: u32,
    /// The file's channel count.
    pub file_channels: u16,
}

impl WavAudio {
    /// The samples as PCM16 little-endian bytes, as `send_audio` takes them.
    pub fn pcm16(&self) -> Vec<u8> {
        realtime_protocol::audio::samples_to_pcm16(&self.samples)
    }
}

fn file_error(path: &Path, message: impl std::fmt::Display) -> AudioError {
    AudioError::File {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

/// Reads a WAV file (8/16/24/32-bit integer or 32-bit float, any rate, any channels) as 24 kHz
/// mono PCM16: channels mixed down, rate converted with the anti-aliasing [`resample`].
///
/// # Errors
/// The file cannot be opened or is not a WAV file hound reads.
pub fn read_wav(path: impl AsRef<Path>) -> Result<WavAudio, AudioError> {
    let path = path.as_ref();
    let mut reader = hound::WavReader::open(path).map_err(|e| file_error(path, e))?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels.max(1));
    let floats: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader
            .samples::<f32>()
            .collect::<Result<_, _>>()
            .map_err(|e| file_error(path, e))?,
        hound::SampleFormat::Int => {
            let scale = 2f32.powi(i32::from(spec.bits_per_sample.clamp(1, 32)) - 1);
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| v as f32 / scale))
                .collect::<Result<_, _>>()
                .map_err(|e| file_error(path, e))?
        }
    };
    let mut mono = Vec::with_capacity(floats.len() / channels);
    super::mono(&floats, channels, &mut mono);
    let mono: Vec<i16> = mono.into_iter().map(super::to_i16).collect();
    Ok(WavAudio {
        samples: resample(&mono, spec.sample_rate, API_RATE)?,
        sample_rate: API_RATE,
        file_rate: spec.sample_rate,
        file_channels: spec.channels,
    })
}

/// Writes PCM16 little-endian mono audio at `sample_rate` as a WAV file.
///
/// # Errors
/// The file cannot be created or written.
pub fn write_wav(path: impl AsRef<Path>, pcm16: &[u8], sample_rate: u32) -> Result<(), AudioError> {
    let path = path.as_ref();
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).map_err(|e| file_error(path, e))?;
    for pair in pcm16.chunks_exact(2) {
        w.write_sample(i16::from_le_bytes([pair[0], pair[1]]))
            .map_err(|e| file_error(path, e))?;
    }
    w.finalize().map_err(|e| file_error(path, e))
}
