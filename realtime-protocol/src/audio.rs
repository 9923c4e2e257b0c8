//! Audio helpers: base64 on the wire, 16-bit little-endian PCM in memory.

use crate::error::ProtocolError;
use base64::Engine as _;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Decodes base64 audio and appends the bytes to `out`, reusing its allocation.
///
/// # Errors
/// [`ProtocolError::InvalidBase64`]; `out` keeps what it had before.
pub fn decode_base64_into(b64: &str, out: &mut Vec<u8>) -> Result<(), ProtocolError> {
    let before = out.len();
    B64.decode_vec(b64, out).map_err(|source| {
        out.truncate(before);
        ProtocolError::InvalidBase64 { source }
    })
}

/// Decodes base64 audio into a new buffer.
///
/// # Errors
/// [`ProtocolError::InvalidBase64`].
pub fn decode_base64(b64: &str) -> Result<Vec<u8>, ProtocolError> {
    let mut out = Vec::with_capacity(b64.len() / 4 * 3);
    decode_base64_into(b64, &mut out)?;
    Ok(out)
}

/// Encodes audio bytes as base64 for the wire.
pub fn encode_base64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// Reads 16-bit little-endian PCM as samples. A trailing odd byte is ignored.
pub fn pcm16_to_samples(bytes: &[u8]) -> Vec<i16> {
    bytes
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}

/// Writes samples as 16-bit little-endian PCM.
pub fn samples_to_pcm16(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

/// The playing time of `bytes` of 16-bit mono PCM at `sample_rate` Hz, in milliseconds.
pub fn pcm16_duration_ms(bytes: usize, sample_rate: u32) -> f64 {
    if sample_rate == 0 {
        return 0.0;
    }
    (bytes / 2) as f64 * 1000.0 / f64::from(sample_rate)
}

/// The sample rate of the API's `pcm16` / `audio/pcm` format.
pub const PCM16_SAMPLE_RATE: u32 = 24_000;
