//! [`SessionSettings`]: the session configuration in one vocabulary for both dialects.

use realtime_agent::{HostedMcpTool, RealtimeAgent, RunContext, ToolDefinition};

/// What the model answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Modality {
    /// Text only.
    Text,
    /// Audio, with its transcript.
    Audio,
}

/// An audio format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AudioFormat {
    /// 16-bit little-endian PCM, mono, at 24 kHz (the only rate the API takes).
    Pcm16,
    /// G.711 µ-law, 8 kHz (telephony).
    G711Ulaw,
    /// G.711 A-law, 8 kHz (telephony).
    G711Alaw,
}

impl AudioFormat {
    /// Bytes per millisecond of audio in this format.
    pub fn bytes_per_ms(self) -> f64 {
        match self {
            AudioFormat::Pcm16 => 48.0,
            AudioFormat::G711Ulaw | AudioFormat::G711Alaw => 8.0,
        }
    }
}

/// Input transcription.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct TranscriptionSettings {
    /// The model, e.g. `gpt-4o-mini-transcribe`.
    pub model: Option<String>,
    /// The input language (ISO-639-1), if known.
    pub language: Option<String>,
    /// A prompt to guide transcription.
    pub prompt: Option<String>,
}

impl TranscriptionSettings {
    /// Transcription with `model`.
    pub fn model(model: impl Into<String>) -> Self {
        Self {
            model: Some(model.into()),
            ..Self::default()
        }
    }
}

/// How eagerly semantic VAD ends a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Eagerness {
    /// Waits longer.
    Low,
    /// The middle.
    Medium,
    /// Ends turns quickly.
    High,
    /// The service decides.
    Auto,
}

/// Turn detection (VAD).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TurnDetection {
    /// Silence-based VAD.
    ServerVad {
        /// Activation threshold, 0 to 1.
        threshold: Option<f64>,
        /// Audio kept before speech starts.
        prefix_padding_ms: Option<u32>,
        /// Silence that ends a turn.
        silence_duration_ms: Option<u32>,
        /// Start a response when the user stops.
        create_response: Option<bool>,
        /// Cancel the active response when the user starts.
        interrupt_response: Option<bool>,
        /// GA (5000 ms or more): after this much silence following the assistant's answer,
        /// the server commits the (empty) buffer and asks the model to go on, and the
        /// session reports [`crate::SessionEvent::InputAudioTimeout`]. Not in beta.
        idle_timeout_ms: Option<u32>,
    },
    /// Model-based VAD.
    SemanticVad {
        /// How eagerly to end turns.
        eagerness: Option<Eagerness>,
        /// Start a response when the user stops.
        create_response: Option<bool>,
        /// Cancel the active response when the user starts.
        interrupt_response: Option<bool>,
    },
}

impl TurnDetection {
    /// Semantic VAD that interrupts responses (the SDK's default).
    pub fn semantic() -> Self {
        Self::SemanticVad {
            eagerness: None,
            create_response: Some(true),
            interrupt_response: Some(true),
        }
    }

    /// Server VAD with the service's defaults, interrupting responses.
    pub fn server() -> Self {
        Self::ServerVad {
            threshold: None,
            prefix_padding_ms: None,
            silence_duration_ms: None,
            create_response: Some(true),
            interrupt_response: Some(true),
            idle_timeout_ms: None,
        }
    }

    /// Whether speech cancels the active response on the server (default: yes).
    pub fn interrupts_response(&self) -> bool {
        match self {
            Self::ServerVad {
                interrupt_response, ..
            }
            | Self::SemanticVad {
                interrupt_response, ..
            } => interrupt_response.unwrap_or(true),
        }
    }
}

/// Noise reduction of the input audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoiseReduction {
    /// Close microphones (headsets).
    NearField,
    /// Far microphones (laptops, rooms).
    FarField,
}

/// Tracing of the session in the OpenAI dashboard (Traces).
///
/// Sessions trace with [`Tracing::Auto`] unless told otherwise (as the Python SDK does);
/// [`crate::RunConfig::tracing_disabled`] or `SessionSettings::with_tracing(None)` turn it off.
/// The service accepts tracing once per connection: the session sends it in its first
/// `session.update` only (and again after a reconnect), so a later change has no effect.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Tracing {
    /// Default names.
    Auto,
    /// Named traces.
    Config {
        /// The workflow name.
        workflow_name: Option<String>,
        /// The group id, to link traces (e.g. a call's session with a back-end run).
        group_id: Option<String>,
        /// Metadata to filter traces by.
        metadata: Option<serde_json::Map<String, serde_json::Value>>,
    },
}

impl Tracing {
    /// Traces named `workflow_name`.
    pub fn workflow(workflow_name: impl Into<String>) -> Self {
        Tracing::Config {
            workflow_name: Some(workflow_name.into()),
            group_id: None,
            metadata: None,
        }
    }

    /// With a group id (turns `Auto` into a named config).
    pub fn with_group_id(self, group: impl Into<String>) -> Self {
        match self {
            Tracing::Auto => Tracing::Config {
                workflow_name: None,
                group_id: Some(group.into()),
                metadata: None,
            },
            Tracing::Config {
                workflow_name,
                metadata,
                ..
            } => Tracing::Config {
                workflow_name,
                group_id: Some(group.into()),
                metadata,
            },
        }
    }

    /// With one metadata entry (turns `Auto` into a named config).
    pub fn with_metadata(
        self,
        key: impl Into<String>,
        value: impl Into<serde_json::Value>,
    ) -> Self {
        let (workflow_name, group_id, mut metadata) = match self {
            Tracing::Auto => (None, None, None),
            Tracing::Config {
                workflow_name,
                group_id,
                metadata,
            } => (workflow_name, group_id, metadata),
        };
        metadata
            .get_or_insert_with(Default::default)
            .insert(key.into(), value.into());
        Tracing::Config {
            workflow_name,
            group_id,
            metadata,
        }
    }
}

/// A stored prompt (GA): its id, optional version, and the values of its variables.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct PromptRef {
    /// The prompt's id, e.g. `pmpt_123`.
    pub id: String,
    /// A version; the current one when unset.
    pub version: Option<String>,
    /// Values for the prompt's variables (strings, or input items as JSON).
    pub variables: serde_json::Map<String, serde_json::Value>,
}

impl PromptRef {
    /// The prompt `id`, current version, no variables.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            ..Self::default()
        }
    }

    /// A version.
    pub fn with_version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// A variable's value.
    pub fn with_variable(
        mut self,
        name: impl Into<String>,
        value: impl Into<serde_json::Value>,
    ) -> Self {
        self.variables.insert(name.into(), value.into());
        self
    }
}

/// The most tokens a response may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MaxOutputTokens {
    /// At most this many (1 to 4096).
    Limit(u32),
    /// The model's maximum (`"inf"`).
    Infinite,
}

/// How the server shortens a conversation that outgrows the model's input limit (GA).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Truncation {
    /// The server's default.
    Auto,
    /// Never truncate: a conversation over the limit is an error.
    Disabled,
    /// Truncate to this fraction of the limit (0 to 1) when it overflows, keeping the
    /// cache-friendly prefix longer.
    RetentionRatio(f64),
}

/// The session configuration. `None` means "not set here": layers are merged with
/// [`SessionSettings::overlay`], and unset values keep what the session had.
///
/// Fields that can be turned off (`input_transcription`, `turn_detection`, `noise_reduction`,
/// `tracing`) are `Option<Option<_>>`: `Some(None)` turns them off.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct SessionSettings {
    /// The model.
    pub model: Option<String>,
    /// System instructions (set by the runner from the agent).
    pub instructions: Option<String>,
    /// The voice: a built-in name (`marin`, `cedar`, `ash`…), or a custom voice's id
    /// (`voice_…`, GA only), which is sent as `{"id": "voice_…"}`.
    pub voice: Option<String>,
    /// Text or audio output.
    pub output_modality: Option<Modality>,
    /// The format of audio the client sends.
    pub input_audio_format: Option<AudioFormat>,
    /// The format of audio the model sends.
    pub output_audio_format: Option<AudioFormat>,
    /// Input transcription; `Some(None)` turns it off.
    pub input_transcription: Option<Option<TranscriptionSettings>>,
    /// Turn detection; `Some(None)` turns it off.
    pub turn_detection: Option<Option<TurnDetection>>,
    /// Noise reduction; `Some(None)` turns it off.
    pub noise_reduction: Option<Option<NoiseReduction>>,
    /// Speaking speed, 0.25 to 1.5.
    pub speed: Option<f64>,
    /// Sampling temperature (beta only).
    pub temperature: Option<f64>,
    /// `auto`, `none`, `required`, or a function name.
    pub tool_choice: Option<String>,
    /// The tools (set by the runner from the agent).
    pub tools: Option<Vec<ToolDefinition>>,
    /// GA: the hosted MCP servers (set by the runner from the agent).
    pub mcp_tools: Option<Vec<HostedMcpTool>>,
    /// Tracing; `Some(None)` turns it off.
    pub tracing: Option<Option<Tracing>>,
    /// GA: a stored prompt.
    pub prompt: Option<PromptRef>,
    /// The most tokens per response (beta: `max_response_output_tokens`).
    pub max_output_tokens: Option<MaxOutputTokens>,
    /// GA: how the conversation is truncated when it outgrows the model.
    pub truncation: Option<Truncation>,
    /// GA: whether the model may call tools in parallel (reasoning models only).
    pub parallel_tool_calls: Option<bool>,
    /// GA: include the input transcription's logprobs (`item.input_audio_transcription.logprobs`).
    pub include_input_logprobs: Option<bool>,
    /// Any other session fields, merged into `session.update`'s `session` object as they are
    /// (both dialects; last, so they win): for fields the typed settings do not have yet.
    pub extra: Option<serde_json::Map<String, serde_json::Value>>,
}

impl SessionSettings {
    /// The SDK's defaults: voice `ash`, audio output, PCM16 at 24 kHz both ways, input
    /// transcription with `gpt-4o-mini-transcribe`, semantic VAD that interrupts responses,
    /// tracing `auto`.
    pub fn defaults() -> Self {
        Self {
            tracing: Some(Some(Tracing::Auto)),
            voice: Some("ash".into()),
            output_modality: Some(Modality::Audio),
            input_audio_format: Some(AudioFormat::Pcm16),
            output_audio_format: Some(AudioFormat::Pcm16),
            input_transcription: Some(Some(TranscriptionSettings::model("gpt-4o-mini-transcribe"))),
            turn_detection: Some(Some(TurnDetection::semantic())),
            ..Self::default()
        }
    }

    /// `self` with every value `top` sets replaced by `top`'s.
    pub fn overlay(mut self, top: &SessionSettings) -> Self {
        macro_rules! take {
            ($($f:ident),*) => { $( if top.$f.is_some() { self.$f = top.$f.clone(); } )* };
        }
        take!(
            model,
            instructions,
            voice,
            output_modality,
            input_audio_format,
            output_audio_format,
            input_transcription,
            turn_detection,
            noise_reduction,
            speed,
            temperature,
            tool_choice,
            tools,
            mcp_tools,
            tracing,
            prompt,
            max_output_tokens,
            truncation,
            parallel_tool_calls,
            include_input_logprobs
        );
        if let Some(extra) = &top.extra {
            let mut merged = self.extra.take().unwrap_or_default();
            merged.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
            self.extra = Some(merged);
        }
        self
    }

    /// Sets [`Self::voice`].
    pub fn with_voice(mut self, voice: impl Into<String>) -> Self {
        self.voice = Some(voice.into());
        self
    }

    /// Sets [`Self::output_modality`].
    pub fn with_output_modality(mut self, modality: Modality) -> Self {
        self.output_modality = Some(modality);
        self
    }

    /// Sets both audio formats.
    pub fn with_audio_format(mut self, format: AudioFormat) -> Self {
        self.input_audio_format = Some(format);
        self.output_audio_format = Some(format);
        self
    }

    /// Sets [`Self::turn_detection`] (`None` turns it off).
    pub fn with_turn_detection(mut self, td: Option<TurnDetection>) -> Self {
        self.turn_detection = Some(td);
        self
    }

    /// Sets [`Self::input_transcription`] (`None` turns it off).
    pub fn with_input_transcription(mut self, t: Option<TranscriptionSettings>) -> Self {
        self.input_transcription = Some(t);
        self
    }

    /// Sets [`Self::noise_reduction`] (`None` turns it off).
    pub fn with_noise_reduction(mut self, n: Option<NoiseReduction>) -> Self {
        self.noise_reduction = Some(n);
        self
    }

    /// Sets [`Self::tracing`] (`None` turns it off).
    pub fn with_tracing(mut self, t: Option<Tracing>) -> Self {
        self.tracing = Some(t);
        self
    }

    /// Sets [`Self::model`].
    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// Sets [`Self::tool_choice`].
    pub fn with_tool_choice(mut self, choice: impl Into<String>) -> Self {
        self.tool_choice = Some(choice.into());
        self
    }

    /// Sets [`Self::prompt`].
    pub fn with_prompt(mut self, prompt: PromptRef) -> Self {
        self.prompt = Some(prompt);
        self
    }

    /// Sets [`Self::max_output_tokens`].
    pub fn with_max_output_tokens(mut self, max: MaxOutputTokens) -> Self {
        self.max_output_tokens = Some(max);
        self
    }

    /// Sets [`Self::truncation`].
    pub fn with_truncation(mut self, truncation: Truncation) -> Self {
        self.truncation = Some(truncation);
        self
    }

    /// Sets [`Self::parallel_tool_calls`].
    pub fn with_parallel_tool_calls(mut self, on: bool) -> Self {
        self.parallel_tool_calls = Some(on);
        self
    }

    /// Sets [`Self::include_input_logprobs`].
    pub fn with_input_logprobs(mut self, on: bool) -> Self {
        self.include_input_logprobs = Some(on);
        self
    }

    /// Adds a raw session field to [`Self::extra`].
    pub fn with_extra(
        mut self,
        name: impl Into<String>,
        value: impl Into<serde_json::Value>,
    ) -> Self {
        self.extra
            .get_or_insert_with(Default::default)
            .insert(name.into(), value.into());
        self
    }

    /// Sets [`Self::speed`].
    pub fn with_speed(mut self, speed: f64) -> Self {
        self.speed = Some(speed);
        self
    }

    /// Whether speech cancels responses on the server, under these settings.
    pub(crate) fn server_interrupts(&self) -> bool {
        matches!(&self.turn_detection, Some(Some(td)) if td.interrupts_response())
    }
}

/// Whether `voice` names a custom voice (`voice_…`) rather than a built-in one.
pub(crate) fn is_custom_voice(voice: &str) -> bool {
    voice.starts_with("voice_")
}

/// The settings for `agent`: `base` over the SDK's defaults, then the agent's voice (unless
/// `with_voice` is off: the service refuses a voice change once the assistant has spoken),
/// its instructions and tools.
pub(crate) async fn agent_settings<Ctx: Send + Sync + 'static>(
    base: &SessionSettings,
    agent: &RealtimeAgent<Ctx>,
    ctx: &RunContext<Ctx>,
    with_voice: bool,
) -> crate::error::Result<SessionSettings> {
    let tools = agent.tool_definitions(ctx)?;
    let mut s = SessionSettings::defaults().overlay(base);
    if with_voice {
        if let Some(v) = &agent.settings().voice {
            s.voice = Some(v.clone());
        }
    }
    s.instructions = Some(agent.instructions(ctx).await);
    s.tools = Some(tools);
    s.mcp_tools = Some(agent.mcp_tools().to_vec());
    Ok(s)
}
