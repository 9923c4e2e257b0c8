//! The default microphone and speakers through cpal, wired to a [`Capture`] and a
//! [`Playback`]. Everything that decides what is heard lives in those two (tested with
//! synthetic callbacks); this file only moves samples between them and the device.

use super::{AudioError, Capture, Playback};
use crate::PlaybackTracker;
use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, SizedSample};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Microphone chunks waiting for the session (20 ms each: one second). When the app falls
/// further behind, new chunks are dropped and counted.
const MIC_QUEUE: usize = 50;

/// Options of [`DeviceAudio::open`].
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct DeviceOptions {
    /// Silence the microphone while the assistant is heard: for speakers without echo
    /// cancellation, so the assistant does not interrupt itself. Off by default (headphones).
    pub half_duplex: bool,
}

impl DeviceOptions {
    /// Sets [`Self::half_duplex`].
    pub fn with_half_duplex(mut self, on: bool) -> Self {
        self.half_duplex = on;
        self
    }
}

/// The default input and output devices, running. Dropping it stops both streams.
///
/// Microphone audio arrives as 20 ms chunks of 24 kHz PCM16 on the receiver [`Self::open`]
/// returns: pass each to [`crate::RealtimeSession::send_audio`]. Assistant audio goes to
/// [`Self::playback`].
pub struct DeviceAudio {
    _input: cpal::Stream,
    _output: cpal::Stream,
    playback: Playback,
    input: String,
    output: String,
    dropped_chunks: Arc<AtomicU64>,
}

impl std::fmt::Debug for DeviceAudio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceAudio")
            .field("input", &self.input)
            .field("output", &self.output)
            .field("playback", &self.playback)
            .finish_non_exhaustive()
    }
}

fn device_error(what: &str, e: impl std::fmt::Display) -> AudioError {
    AudioError::Device(format!("{what}: {e}"))
}

impl DeviceAudio {
    /// Opens the default microphone and speakers at their own rates, feeding `tracker` (the
    /// session's [`crate::RealtimeSession::playback_tracker`]) from the output callback.
    ///
    /// # Errors
    /// No default device, or a device refused its own default configuration.
    pub fn open(
        tracker: PlaybackTracker,
        options: DeviceOptions,
    ) -> Result<(Self, mpsc::Receiver<Vec<u8>>), AudioError> {
        let host = cpal::default_host();
        let input = host
            .default_input_device()
            .ok_or_else(|| AudioError::Device("no default input device".into()))?;
        let output = host
            .default_output_device()
            .ok_or_else(|| AudioError::Device("no default output device".into()))?;
        let name = |d: &cpal::Device| {
            d.description()
                .map(|x| x.name().to_owned())
                .unwrap_or_else(|_| "?".into())
        };
        let in_config = input
            .default_input_config()
            .map_err(|e| device_error("input configuration", e))?;
        let out_config = output
            .default_output_config()
            .map_err(|e| device_error("output configuration", e))?;

        let playback = Playback::new(out_config.sample_rate(), out_config.channels(), tracker)?;
        let capture = Capture::new(in_config.sample_rate(), in_config.channels())?;
        let (tx, rx) = mpsc::channel(MIC_QUEUE);
        let dropped_chunks = Arc::new(AtomicU64::new(0));
        let mic = Mic {
            capture,
            tx,
            dropped: dropped_chunks.clone(),
            gate: options.half_duplex.then(|| playback.clone()),
            scratch: Vec::new(),
        };
        let input_stream = match in_config.sample_format() {
            cpal::SampleFormat::F32 => build_input::<f32>(&input, in_config.into(), mic),
            cpal::SampleFormat::I16 => build_input::<i16>(&input, in_config.into(), mic),
            cpal::SampleFormat::I32 => build_input::<i32>(&input, in_config.into(), mic),
            cpal::SampleFormat::U16 => build_input::<u16>(&input, in_config.into(), mic),
            other => Err(AudioError::Format(format!("input sample format {other}"))),
        }?;
        let speaker = playback.clone();
        let output_stream = match out_config.sample_format() {
            cpal::SampleFormat::F32 => build_output::<f32>(&output, out_config.into(), speaker),
            cpal::SampleFormat::I16 => build_output::<i16>(&output, out_config.into(), speaker),
            cpal::SampleFormat::I32 => build_output::<i32>(&output, out_config.into(), speaker),
            cpal::SampleFormat::U16 => build_output::<u16>(&output, out_config.into(), speaker),
            other => Err(AudioError::Format(format!("output sample format {other}"))),
        }?;
        input_stream
            .play()
            .map_err(|e| device_error("starting the microphone", e))?;
        output_stream
            .play()
            .map_err(|e| device_error("starting the speakers", e))?;
        Ok((
            Self {
                _input: input_stream,
                _output: output_stream,
                playback,
                input: name(&input),
                output: name(&output),
                dropped_chunks,
            },
            rx,
        ))
    }

    /// Where the assistant's audio goes: [`Playback::push`], [`Playback::end_item`],
    /// [`Playback::interrupt`].
    pub fn playback(&self) -> &Playback {
        &self.playback
    }

    /// The input and output devices' names.
    pub fn names(&self) -> (&str, &str) {
        (&self.input, &self.output)
    }

    /// Microphone chunks dropped because the app did not take them in time.
    pub fn dropped_chunks(&self) -> u64 {
        self.dropped_chunks.load(Ordering::Relaxed)
    }
}

/// What the input callback owns.
struct Mic {
    capture: Capture,
    tx: mpsc::Sender<Vec<u8>>,
    dropped: Arc<AtomicU64>,
    gate: Option<Playback>,
    scratch: Vec<f32>,
}

impl Mic {
    fn on_input(&mut self, samples: &[f32]) {
        if let Some(playback) = &self.gate {
            self.capture.set_gated(playback.is_active());
        }
        self.capture.push_f32(samples);
        while let Some(chunk) = self.capture.next_chunk() {
            if self.tx.try_send(chunk).is_err() {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn report(e: cpal::Error) {
    tracing::warn!(error = %e, "audio stream error");
}

fn build_input<T>(
    device: &cpal::Device,
    config: cpal::StreamConfig,
    mut mic: Mic,
) -> Result<cpal::Stream, AudioError>
where
    T: SizedSample,
    f32: FromSample<T>,
{
    device
        .build_input_stream(
            config,
            move |data: &[T], _: &cpal::InputCallbackInfo| {
                let mut scratch = std::mem::take(&mut mic.scratch);
                scratch.clear();
                scratch.extend(data.iter().map(|s| s.to_sample::<f32>()));
                mic.on_input(&scratch);
                mic.scratch = scratch;
            },
            report,
            None,
        )
        .map_err(|e| device_error("opening the microphone", e))
}

fn build_output<T>(
    device: &cpal::Device,
    config: cpal::StreamConfig,
    playback: Playback,
) -> Result<cpal::Stream, AudioError>
where
    T: SizedSample + FromSample<f32>,
{
    let mut scratch: Vec<f32> = Vec::new();
    device
        .build_output_stream(
            config,
            move |data: &mut [T], _: &cpal::OutputCallbackInfo| {
                scratch.resize(data.len(), 0.0);
                playback.fill_f32(&mut scratch);
                for (out, s) in data.iter_mut().zip(&scratch) {
                    *out = T::from_sample(*s);
                }
            },
            report,
            None,
        )
        .map_err(|e| device_error("opening the speakers", e))
}
