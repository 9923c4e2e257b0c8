//! [`RealtimeTranscriber`]: speech to text only. A transcription session (GA
//! `session.type: "transcription"`, beta `transcription_session.update`) turns streamed audio
//! into transcripts, per committed item, with no model answering.

use crate::error::Result;
use crate::events::ErrorEvent;
use crate::settings::{AudioFormat, NoiseReduction, TranscriptionSettings, TurnDetection};
use async_trait::async_trait;
use futures_util::Stream;
use realtime_protocol::ItemId;
use serde::Serialize;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// A transcription session's configuration.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TranscriberSettings {
    /// The transcription model, language and prompt.
    pub transcription: TranscriptionSettings,
    /// The format of the audio sent. PCM16 24 kHz by default.
    pub input_audio_format: AudioFormat,
    /// Noise reduction, if any.
    pub noise_reduction: Option<NoiseReduction>,
    /// Turn detection: the server commits each utterance. `None`: the application commits
    /// ([`RealtimeTranscriber::commit`]). Server VAD by default. Response settings
    /// (`create_response`, `interrupt_response`, `idle_timeout_ms`) do not apply and are not
    /// sent.
    pub turn_detection: Option<TurnDetection>,
    /// Report the log probabilities of the transcript's tokens.
    pub logprobs: bool,
}

impl TranscriberSettings {
    /// Transcription with `model` (e.g. `gpt-4o-transcribe`), PCM16, server VAD.
    pub fn model(model: impl Into<String>) -> Self {
        Self {
            transcription: TranscriptionSettings::model(model),
            input_audio_format: AudioFormat::Pcm16,
            noise_reduction: None,
            turn_detection: Some(TurnDetection::server()),
            logprobs: false,
        }
    }

    /// The spoken language (ISO-639-1), which improves accuracy and latency.
    pub fn with_language(mut self, language: impl Into<String>) -> Self {
        self.transcription.language = Some(language.into());
        self
    }

    /// A prompt: expected words, spelling, style.
    pub fn with_prompt(mut self, prompt: impl Into<String>) -> Self {
        self.transcription.prompt = Some(prompt.into());
        self
    }

    /// The audio format.
    pub fn with_input_audio_format(mut self, format: AudioFormat) -> Self {
        self.input_audio_format = format;
        self
    }

    /// Noise reduction.
    pub fn with_noise_reduction(mut self, n: Option<NoiseReduction>) -> Self {
        self.noise_reduction = n;
        self
    }

    /// Turn detection (`None`: the application commits).
    pub fn with_turn_detection(mut self, td: Option<TurnDetection>) -> Self {
        self.turn_detection = td;
        self
    }

    /// Token log probabilities.
    pub fn with_logprobs(mut self, on: bool) -> Self {
        self.logprobs = on;
        self
    }
}

/// One token of a transcript and its log probability.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct TokenLogprob {
    /// The token.
    pub token: String,
    /// Its log probability.
    pub logprob: f64,
}

/// What a transcription session reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum TranscriptionEvent {
    /// The session's settings were applied.
    Ready,
    /// Turn detection heard speech start.
    #[non_exhaustive]
    SpeechStarted {
        /// The item the speech becomes.
        item_id: ItemId,
        /// Where, in the audio sent.
        audio_start_ms: u64,
    },
    /// Turn detection heard speech stop.
    #[non_exhaustive]
    SpeechStopped {
        /// The item.
        item_id: ItemId,
        /// Where, in the audio sent.
        audio_end_ms: u64,
    },
    /// Audio was committed as an item; its transcript follows.
    #[non_exhaustive]
    Committed {
        /// The item.
        item_id: ItemId,
        /// The item before it.
        previous_item_id: Option<ItemId>,
    },
    /// Part of an item's transcript.
    #[non_exhaustive]
    Delta {
        /// The item.
        item_id: ItemId,
        /// The new text.
        delta: String,
        /// Its tokens' log probabilities (when asked for).
        logprobs: Vec<TokenLogprob>,
    },
    /// An item's whole transcript.
    #[non_exhaustive]
    Completed {
        /// The item.
        item_id: ItemId,
        /// The transcript.
        transcript: String,
        /// Its tokens' log probabilities (when asked for).
        logprobs: Vec<TokenLogprob>,
    },
    /// An item could not be transcribed.
    #[non_exhaustive]
    Failed {
        /// The item.
        item_id: ItemId,
        /// Why.
        message: String,
    },
    /// The server reported an error, or a frame could not be read; the session goes on.
    Error(ErrorEvent),
    /// The connection ended: normally (`None`) or with this error. Nothing follows.
    #[non_exhaustive]
    Closed {
        /// Why, when it failed.
        error: Option<String>,
    },
}

/// What a transcription session is asked to do.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TranscriberInput {
    /// Apply these settings.
    Update(Box<TranscriberSettings>),
    /// Append audio (in the session's input format).
    Audio(Vec<u8>),
    /// Commit the buffer as an item.
    Commit,
    /// Drop the buffer.
    Clear,
}

/// Sends inputs to a transcription connection (implemented per dialect by
/// [`crate::OpenAIRealtimeModel`]).
#[async_trait]
pub trait TranscriberSender: Send + Sync + 'static {
    /// Sends one input.
    ///
    /// # Errors
    /// The connection is closed.
    async fn send(&self, input: TranscriberInput) -> Result<()>;
    /// Closes the connection. Idempotent.
    async fn close(&self);
}

/// A transcription session: send audio, read [`TranscriptionEvent`]s as a `Stream`.
///
/// ```no_run
/// use futures_util::StreamExt;
/// use realtime_runner::{OpenAIRealtimeModel, TranscriberSettings, TranscriptionEvent};
///
/// # async fn run(pcm: Vec<u8>) -> Result<(), realtime_runner::RunnerError> {
/// let settings = TranscriberSettings::model("gpt-4o-transcribe").with_language("en");
/// let mut t = OpenAIRealtimeModel::new().transcriber(settings).await?;
/// t.send_audio(&pcm).await?;
/// while let Some(ev) = t.next().await {
///     if let TranscriptionEvent::Completed { transcript, .. } = ev {
///         println!("{transcript}");
///     }
/// }
/// # Ok(()) }
/// ```
pub struct RealtimeTranscriber {
    sender: Arc<dyn TranscriberSender>,
    events: Pin<Box<dyn Stream<Item = TranscriptionEvent> + Send>>,
}

impl std::fmt::Debug for RealtimeTranscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RealtimeTranscriber")
            .finish_non_exhaustive()
    }
}

impl RealtimeTranscriber {
    /// A transcriber over a connection (what [`crate::OpenAIRealtimeModel::transcriber`]
    /// builds; other providers can too).
    pub fn new(
        sender: Arc<dyn TranscriberSender>,
        events: Pin<Box<dyn Stream<Item = TranscriptionEvent> + Send>>,
    ) -> Self {
        Self { sender, events }
    }

    /// A handle that sends from another task (audio from a capture loop, say).
    pub fn sender(&self) -> TranscriberHandle {
        TranscriberHandle {
            sender: self.sender.clone(),
        }
    }

    /// Appends audio in the session's input format.
    ///
    /// # Errors
    /// The connection is closed.
    pub async fn send_audio(&self, pcm: &[u8]) -> Result<()> {
        self.sender
            .send(TranscriberInput::Audio(pcm.to_vec()))
            .await
    }

    /// Commits the buffered audio as an item (without turn detection).
    ///
    /// # Errors
    /// The connection is closed.
    pub async fn commit(&self) -> Result<()> {
        self.sender.send(TranscriberInput::Commit).await
    }

    /// Drops the buffered audio.
    ///
    /// # Errors
    /// The connection is closed.
    pub async fn clear(&self) -> Result<()> {
        self.sender.send(TranscriberInput::Clear).await
    }

    /// Applies new settings.
    ///
    /// # Errors
    /// The connection is closed.
    pub async fn update(&self, settings: TranscriberSettings) -> Result<()> {
        self.sender
            .send(TranscriberInput::Update(Box::new(settings)))
            .await
    }

    /// Closes the connection; the stream then ends with `Closed`.
    pub async fn close(&self) {
        self.sender.close().await;
    }
}

impl Stream for RealtimeTranscriber {
    type Item = TranscriptionEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.events.as_mut().poll_next(cx)
    }
}

/// Sends to a [`RealtimeTranscriber`] from another task. Cheap to clone.
#[derive(Clone)]
pub struct TranscriberHandle {
    sender: Arc<dyn TranscriberSender>,
}

impl std::fmt::Debug for TranscriberHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TranscriberHandle").finish_non_exhaustive()
    }
}

impl TranscriberHandle {
    /// See [`RealtimeTranscriber::send_audio`].
    ///
    /// # Errors
    /// The connection is closed.
    pub async fn send_audio(&self, pcm: &[u8]) -> Result<()> {
        self.sender
            .send(TranscriberInput::Audio(pcm.to_vec()))
            .await
    }

    /// See [`RealtimeTranscriber::commit`].
    ///
    /// # Errors
    /// The connection is closed.
    pub async fn commit(&self) -> Result<()> {
        self.sender.send(TranscriberInput::Commit).await
    }
}
