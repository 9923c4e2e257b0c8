//! Audio helpers: base64 on the wire, 16-bit little-endian PCM in memory.

use crate::error::ProtocolError;

/// Decodes base64 audio and appends the bytes to `out`, reusing its allocation. SIMD-accelerated
/// where the CPU has it (a 20 ms PCM16 delta decodes in about 0.1 µs).
///
/// # Errors
/// [`ProtocolError::InvalidBase64`]; `out` keeps what it had before.
pub fn decode_base64_into(b64: &str, out: &mut Vec<u8>) -> Result<(), ProtocolError> {
    let before = out.len();
    base64_simd::STANDARD.decode_append(b64, out).map_err(|_| {
        out.truncate(before);
        ProtocolError::InvalidBase64
    })
}

/// Decodes base64 audio into a new buffer.
///
/// # Errors
/// [`ProtocolError::InvalidBase64`].
pub fn decode_base64(b64: &str) -> Result<Vec<u8>, ProtocolError> {
    base64_simd::STANDARD
        .decode_to_vec(b64)
        .map_err(|_| ProtocolError::InvalidBase64)
}

/// Encodes audio bytes as base64 for the wire.
pub fn encode_base64(bytes: &[u8]) -> String {
    base64_simd::STANDARD.encode_to_string(bytes)
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

/// Resamples 16-bit mono samples from `from_hz` to `to_hz` by linear interpolation (good for
/// speech; not a studio resampler).
pub fn resample_linear(samples: &[i16], from_hz: u32, to_hz: u32) -> Vec<i16> {
    if from_hz == to_hz || samples.is_empty() || from_hz == 0 || to_hz == 0 {
        return samples.to_vec();
    }
    let out_len = (samples.len() as u64 * u64::from(to_hz) / u64::from(from_hz)) as usize;
    let step = f64::from(from_hz) / f64::from(to_hz);
    (0..out_len)
        .map(|i| {
            let pos = i as f64 * step;
            let idx = pos.floor() as usize;
            let frac = pos - idx as f64;
            let a = f64::from(samples[idx.min(samples.len() - 1)]);
            let b = f64::from(samples[(idx + 1).min(samples.len() - 1)]);
            (a + (b - a) * frac)
                .round()
                .clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16
        })
        .collect()
}

/// Averages interleaved channels into mono.
pub fn to_mono(samples: &[i16], channels: u16) -> Vec<i16> {
    if channels <= 1 {
        return samples.to_vec();
    }
    samples
        .chunks(usize::from(channels))
        .map(|frame| {
            (frame.iter().map(|&s| i32::from(s)).sum::<i32>() / i32::from(channels)) as i16
        })
        .collect()
}

const ULAW_BIAS: i32 = 0x84;
const ULAW_CLIP: i32 = 32_635;

/// Encodes one sample as G.711 µ-law (the API's `g711_ulaw` / `audio/pcmu`, 8 kHz).
pub fn ulaw_encode(sample: i16) -> u8 {
    let mut s = i32::from(sample);
    let sign = if s < 0 { 0x80 } else { 0 };
    if s < 0 {
        s = -s;
    }
    s = s.min(ULAW_CLIP) + ULAW_BIAS;
    let exponent = (7 - (s.leading_zeros() as i32 - 17).clamp(0, 7)) as u8;
    let mantissa = ((s >> (exponent + 3)) & 0x0F) as u8;
    !(sign | (exponent << 4) | mantissa)
}

/// Decodes one G.711 µ-law byte.
pub fn ulaw_decode(byte: u8) -> i16 {
    let b = !byte;
    let sign = b & 0x80;
    let exponent = (b >> 4) & 0x07;
    let mantissa = i32::from(b & 0x0F);
    let magnitude = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
    (if sign != 0 { -magnitude } else { magnitude }) as i16
}

/// Encodes one sample as G.711 A-law (the API's `g711_alaw` / `audio/pcma`, 8 kHz).
pub fn alaw_encode(sample: i16) -> u8 {
    let s = i32::from(sample);
    let sign: u8 = if s >= 0 { 0x80 } else { 0 };
    let mut m = if s < 0 { (-s - 1).max(0) } else { s };
    m = m.min(32_767) >> 3;
    let (exponent, mantissa) = if m < 32 {
        (0u8, (m >> 1) as u8)
    } else {
        let e = (31 - (m as u32).leading_zeros()) as u8 - 4;
        (e, ((m >> e) & 0x0F) as u8)
    };
    (sign | (exponent << 4) | mantissa) ^ 0x55
}

/// Decodes one G.711 A-law byte.
pub fn alaw_decode(byte: u8) -> i16 {
    let b = byte ^ 0x55;
    let sign = b & 0x80;
    let exponent = (b >> 4) & 0x07;
    let mantissa = i32::from(b & 0x0F);
    let magnitude = if exponent == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (exponent - 1)
    };
    (if sign != 0 { magnitude } else { -magnitude }) as i16
}

/// Encodes samples as µ-law bytes.
pub fn encode_ulaw(samples: &[i16]) -> Vec<u8> {
    samples.iter().map(|&s| ulaw_encode(s)).collect()
}

/// Decodes µ-law bytes into samples.
pub fn decode_ulaw(bytes: &[u8]) -> Vec<i16> {
    bytes.iter().map(|&b| ulaw_decode(b)).collect()
}

/// Encodes samples as A-law bytes.
pub fn encode_alaw(samples: &[i16]) -> Vec<u8> {
    samples.iter().map(|&s| alaw_encode(s)).collect()
}

/// Decodes A-law bytes into samples.
pub fn decode_alaw(bytes: &[u8]) -> Vec<i16> {
    bytes.iter().map(|&b| alaw_decode(b)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g711_round_trips_within_quantization_error() {
        for s in (-32768i32..=32767).step_by(7) {
            let s = s as i16;
            let u = ulaw_decode(ulaw_encode(s));
            let a = alaw_decode(alaw_encode(s));
            // Logarithmic quantization: the error grows with the magnitude (about 1/16 of it).
            let tol = (i32::from(s).abs() / 16).max(16);
            assert!(
                (i32::from(u) - i32::from(s)).abs() <= tol,
                "ulaw {s} -> {u}"
            );
            assert!(
                (i32::from(a) - i32::from(s)).abs() <= tol,
                "alaw {s} -> {a}"
            );
        }
    }

    #[test]
    fn g711_reference_values() {
        // ITU-T G.711 reference points.
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(ulaw_decode(0x80), 32_124);
        assert_eq!(ulaw_decode(0x00), -32_124);
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(alaw_decode(0xD5), 8);
        assert_eq!(alaw_decode(0xAA), 32_256);
        assert_eq!(alaw_decode(0x2A), -32_256);
        // Every code decodes and re-encodes to itself.
        for b in 0..=255u8 {
            assert_eq!(alaw_encode(alaw_decode(b)), b, "alaw {b:#x}");
            let u = ulaw_encode(ulaw_decode(b));
            assert!(u == b || (b == 0x7F && u == 0xFF), "ulaw {b:#x} -> {u:#x}");
        }
    }

    #[test]
    fn resampling_keeps_duration_and_shape() {
        let s: Vec<i16> = (0..480)
            .map(|i| ((i as f64 / 480.0 * std::f64::consts::TAU).sin() * 10_000.0) as i16)
            .collect();
        let up = resample_linear(&s, 8_000, 24_000);
        assert_eq!(up.len(), 1440);
        let down = resample_linear(&up, 24_000, 8_000);
        assert_eq!(down.len(), 480);
        let err: i64 = s
            .iter()
            .zip(&down)
            .map(|(a, b)| (i64::from(*a) - i64::from(*b)).abs())
            .max()
            .unwrap_or(0);
        assert!(err < 200, "{err}");
        assert_eq!(to_mono(&[100, 300, -100, -300], 2), [200, -200]);
        assert_eq!(resample_linear(&[], 8_000, 24_000), Vec::<i16>::new());
    }
}
