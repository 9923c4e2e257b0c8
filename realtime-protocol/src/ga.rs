//! The GA dialect: the current Realtime API (`response.output_audio.delta`, `session.type`,
//! nested `session.audio`). This is the default dialect of the SDK.
//!
//! Everything here is generated from the spec, plus a few hand-written constructors for the
//! events a voice agent sends most.

pub use crate::generated::ga::*;

use crate::ids::{CallId, ItemId};
use crate::ProtocolError;

crate::codec::event_union_api!(ClientEvent);
crate::codec::event_union_api!(ServerEvent);

impl ResponseOutputAudioDelta {
    /// The audio of this delta, decoded from base64 (PCM16 unless the session says otherwise).
    ///
    /// # Errors
    /// [`ProtocolError::InvalidBase64`] when the delta is not base64.
    pub fn decode_pcm(&self) -> Result<Vec<u8>, ProtocolError> {
        crate::audio::decode_base64(&self.delta)
    }

    /// Like [`Self::decode_pcm`], appending to a buffer the caller reuses.
    ///
    /// # Errors
    /// [`ProtocolError::InvalidBase64`]; `out` is left as it was.
    pub fn decode_pcm_into(&self, out: &mut Vec<u8>) -> Result<(), ProtocolError> {
        crate::audio::decode_base64_into(&self.delta, out)
    }
}

impl ClientEvent {
    /// `input_audio_buffer.append` with raw audio bytes (base64-encoded here).
    pub fn input_audio_append(audio: &[u8]) -> Self {
        InputAudioBufferAppend::default()
            .with_audio(crate::audio::encode_base64(audio))
            .into()
    }

    /// `input_audio_buffer.commit`.
    pub fn input_audio_commit() -> Self {
        InputAudioBufferCommit::default().into()
    }

    /// `input_audio_buffer.clear`.
    pub fn input_audio_clear() -> Self {
        InputAudioBufferClear::default().into()
    }

    /// `conversation.item.create` with a user message of one `input_text` part.
    pub fn user_text(text: impl Into<String>) -> Self {
        Self::create_item(ConversationItem::MessageUser(user_message(text.into())))
    }

    /// `conversation.item.create` with any item, appended to the conversation.
    pub fn create_item(item: ConversationItem) -> Self {
        ConversationItemCreate::default().with_item(item).into()
    }

    /// `conversation.item.create` for the output of a function call, echoing its `call_id`.
    pub fn function_call_output(call_id: impl Into<CallId>, output: impl Into<String>) -> Self {
        let item = ConversationItemFunctionCallOutput::default()
            .with_call_id(call_id)
            .with_output(output);
        Self::create_item(ConversationItem::FunctionCallOutput(item))
    }

    /// `response.create` with the session's defaults.
    pub fn response_create() -> Self {
        ResponseCreate::default().into()
    }

    /// `response.create` with per-response settings.
    pub fn response_create_with(params: ResponseCreateParams) -> Self {
        ResponseCreate::default().with_response(params).into()
    }

    /// `response.cancel` for the active response.
    pub fn response_cancel() -> Self {
        ResponseCancel::default().into()
    }

    /// `conversation.item.truncate`: drops the assistant audio after `audio_end_ms`.
    pub fn truncate(item_id: impl Into<ItemId>, content_index: u32, audio_end_ms: u64) -> Self {
        ConversationItemTruncate::default()
            .with_item_id(item_id)
            .with_content_index(i64::from(content_index))
            .with_audio_end_ms(i64::try_from(audio_end_ms).unwrap_or(i64::MAX))
            .into()
    }

    /// `conversation.item.delete`.
    pub fn delete_item(item_id: impl Into<ItemId>) -> Self {
        ConversationItemDelete::default()
            .with_item_id(item_id)
            .into()
    }

    /// `session.update` with a realtime session configuration, e.g. from [`SessionUpdateBuilder`].
    pub fn session_update(session: impl Into<SessionConfig>) -> Self {
        SessionUpdate::default().with_session(session).into()
    }
}

fn user_message(text: String) -> ConversationItemMessageUser {
    ConversationItemMessageUser::default().with_content(vec![UserContentPart::default()
        .with_type(UserContentPartType::InputText)
        .with_text(text)])
}

impl From<SessionCreateRequest> for SessionConfig {
    fn from(session: SessionCreateRequest) -> Self {
        Self::Realtime(session)
    }
}

impl From<TranscriptionSessionCreateRequest> for SessionConfig {
    fn from(session: TranscriptionSessionCreateRequest) -> Self {
        Self::Transcription(session)
    }
}

/// Builds the `session` of a GA `session.update` for a voice agent without spelling out the
/// nested `audio.input` / `audio.output` objects.
///
/// ```
/// use realtime_protocol::ga::{ClientEvent, SessionUpdateBuilder, Voice};
///
/// let session = SessionUpdateBuilder::new()
///     .instructions("You are a helpful assistant.")
///     .voice(Voice::Marin)
///     .pcm16_audio()
///     .server_vad()
///     .build();
/// let json = ClientEvent::session_update(session).to_json()?;
/// assert!(json.contains(r#""type":"realtime""#));
/// # Ok::<(), realtime_protocol::ProtocolError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct SessionUpdateBuilder {
    session: SessionCreateRequest,
    input: SessionCreateRequestAudioInput,
    output: SessionCreateRequestAudioOutput,
    touched_input: bool,
    touched_output: bool,
}

impl SessionUpdateBuilder {
    /// An empty update: only `type: realtime` is sent.
    pub fn new() -> Self {
        Self::default()
    }

    /// The system instructions.
    pub fn instructions(mut self, instructions: impl Into<String>) -> Self {
        self.session.instructions = Some(instructions.into());
        self
    }

    /// The model, e.g. `gpt-realtime`.
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.session.model = Some(Model::from(model.into()));
        self
    }

    /// The output voice.
    pub fn voice(mut self, voice: impl Into<Voice>) -> Self {
        self.output.voice = Some(VoiceOrCustomVoice::Voice(voice.into()));
        self.touched_output = true;
        self
    }

    /// What the model answers with: `[Audio]` (audio with a transcript) or `[Text]`.
    pub fn output_modalities(
        mut self,
        modalities: impl IntoIterator<Item = OutputModality>,
    ) -> Self {
        self.session.output_modalities = Some(modalities.into_iter().collect());
        self
    }

    /// PCM16 at 24 kHz in both directions.
    pub fn pcm16_audio(self) -> Self {
        let pcm = AudioFormat::AudioPcm(
            PcmAudioFormat::default()
                .with_type(PcmAudioFormatType::AudioPcm)
                .with_rate(24_000),
        );
        self.input_format(pcm.clone()).output_format(pcm)
    }

    /// The format of the audio the client sends.
    pub fn input_format(mut self, format: AudioFormat) -> Self {
        self.input.format = Some(format);
        self.touched_input = true;
        self
    }

    /// The format of the audio the model sends.
    pub fn output_format(mut self, format: AudioFormat) -> Self {
        self.output.format = Some(format);
        self.touched_output = true;
        self
    }

    /// Turn detection; `None` turns it off (sent as `null`).
    pub fn turn_detection(mut self, turn_detection: Option<TurnDetection>) -> Self {
        self.input.turn_detection = Some(turn_detection);
        self.touched_input = true;
        self
    }

    /// Server VAD with the service's defaults.
    pub fn server_vad(self) -> Self {
        let vad =
            TurnDetectionServerVad::default().with_type(TurnDetectionServerVadType::ServerVad);
        self.turn_detection(Some(TurnDetection::ServerVad(vad)))
    }

    /// Semantic VAD; `interrupt_response` makes speech cancel the active response.
    pub fn semantic_vad(self, interrupt_response: bool) -> Self {
        let vad = TurnDetectionSemanticVad::default()
            .with_type(TurnDetectionSemanticVadType::SemanticVad)
            .with_interrupt_response(interrupt_response);
        self.turn_detection(Some(TurnDetection::SemanticVad(vad)))
    }

    /// Input transcription with a model such as `gpt-4o-mini-transcribe`; `None` turns it off.
    pub fn transcription(mut self, model: Option<&str>) -> Self {
        self.input.transcription =
            Some(model.map(|m| {
                AudioTranscription::default().with_model(AudioTranscriptionModel::from(m))
            }));
        self.touched_input = true;
        self
    }

    /// Noise reduction (`near_field` / `far_field`); `None` turns it off.
    pub fn noise_reduction(mut self, kind: Option<NoiseReductionType>) -> Self {
        self.input.noise_reduction = Some(kind.map(|k| NoiseReduction::default().with_type(k)));
        self.touched_input = true;
        self
    }

    /// The tools the model may call (replaces any earlier list).
    pub fn tools(mut self, tools: impl IntoIterator<Item = Tool>) -> Self {
        self.session.tools = Some(tools.into_iter().collect());
        self
    }

    /// A function tool with a JSON schema for its parameters.
    pub fn function_tool(
        mut self,
        name: impl Into<String>,
        description: impl Into<String>,
        parameters: serde_json::Value,
    ) -> Self {
        let tool = FunctionTool::default()
            .with_type(FunctionToolType::Function)
            .with_name(name)
            .with_description(description)
            .with_parameters(parameters);
        self.session
            .tools
            .get_or_insert_with(Vec::new)
            .push(Tool::Function(tool));
        self
    }

    /// How the model chooses tools.
    pub fn tool_choice(mut self, choice: ToolChoice) -> Self {
        self.session.tool_choice = Some(choice);
        self
    }

    /// Tracing: `auto`, a configuration, or `None` to disable it (sent as `null`).
    pub fn tracing(mut self, tracing: Option<Tracing>) -> Self {
        self.session.tracing = Some(tracing);
        self
    }

    /// The finished session configuration.
    pub fn build(self) -> SessionCreateRequest {
        let mut session = self.session;
        session.r#type = SessionCreateRequestType::Realtime;
        if self.touched_input || self.touched_output {
            let mut audio = session.audio.take().unwrap_or_default();
            if self.touched_input {
                audio.input = Some(self.input);
            }
            if self.touched_output {
                audio.output = Some(self.output);
            }
            session.audio = Some(audio);
        }
        session
    }
}
