//! The beta dialect (`OpenAI-Beta: realtime=v1`): `response.audio.delta`, a flat `session`.
//! This is what the Python Agents SDK 0.2.0 spoke; use it for deployments that still do.
//!
//! Everything here is generated from the spec, plus a few hand-written constructors for the
//! events a voice agent sends most.

pub use crate::generated::beta::*;

use crate::ids::{CallId, ItemId};
use crate::ProtocolError;

crate::codec::event_union_api!(ClientEvent);
crate::codec::event_union_api!(ServerEvent);

impl ResponseAudioDelta {
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
        let item = ConversationItem::default()
            .with_type(ConversationItemType::Message)
            .with_role(ConversationItemRole::User)
            .with_content(vec![ContentPart::default()
                .with_type(ContentPartType::InputText)
                .with_text(text)]);
        Self::create_item(item)
    }

    /// `conversation.item.create` with any item, appended to the conversation.
    pub fn create_item(item: ConversationItem) -> Self {
        ConversationItemCreate::default().with_item(item).into()
    }

    /// `conversation.item.create` for the output of a function call, echoing its `call_id`.
    pub fn function_call_output(call_id: impl Into<CallId>, output: impl Into<String>) -> Self {
        let item = ConversationItem::default()
            .with_type(ConversationItemType::FunctionCallOutput)
            .with_call_id(call_id)
            .with_output(output);
        Self::create_item(item)
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

    /// `session.update` with a session configuration, e.g. from [`SessionUpdateBuilder`].
    pub fn session_update(session: SessionCreateRequest) -> Self {
        SessionUpdate::default().with_session(session).into()
    }
}

/// Builds the flat `session` of a beta `session.update`.
///
/// ```
/// use realtime_protocol::beta::{AudioFormat, ClientEvent, SessionUpdateBuilder};
///
/// let session = SessionUpdateBuilder::new()
///     .instructions("You are a helpful assistant.")
///     .voice("alloy")
///     .audio_format(AudioFormat::Pcm16)
///     .server_vad()
///     .build();
/// let json = ClientEvent::session_update(session).to_json()?;
/// assert!(json.contains(r#""input_audio_format":"pcm16""#));
/// # Ok::<(), realtime_protocol::ProtocolError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct SessionUpdateBuilder {
    session: SessionCreateRequest,
}

impl SessionUpdateBuilder {
    /// An empty update.
    pub fn new() -> Self {
        Self::default()
    }

    /// The system instructions.
    pub fn instructions(mut self, instructions: impl Into<String>) -> Self {
        self.session.instructions = Some(instructions.into());
        self
    }

    /// The model.
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.session.model = Some(Model::from(model.into()));
        self
    }

    /// The output voice.
    pub fn voice(mut self, voice: impl Into<Voice>) -> Self {
        self.session.voice = Some(voice.into());
        self
    }

    /// `["text"]` or `["text", "audio"]`.
    pub fn modalities(mut self, modalities: impl IntoIterator<Item = Modality>) -> Self {
        self.session.modalities = Some(modalities.into_iter().collect());
        self
    }

    /// The same audio format in both directions.
    pub fn audio_format(mut self, format: AudioFormat) -> Self {
        self.session.input_audio_format = Some(format.clone());
        self.session.output_audio_format = Some(format);
        self
    }

    /// Turn detection; `None` turns it off (sent as `null`).
    pub fn turn_detection(
        mut self,
        turn_detection: Option<SessionCreateRequestTurnDetection>,
    ) -> Self {
        self.session.turn_detection = Some(turn_detection);
        self
    }

    /// Server VAD with the service's defaults.
    pub fn server_vad(self) -> Self {
        let vad = SessionCreateRequestTurnDetection::default()
            .with_type(SessionCreateRequestTurnDetectionType::ServerVad);
        self.turn_detection(Some(vad))
    }

    /// Semantic VAD; `interrupt_response` makes speech cancel the active response.
    pub fn semantic_vad(self, interrupt_response: bool) -> Self {
        let vad = SessionCreateRequestTurnDetection::default()
            .with_type(SessionCreateRequestTurnDetectionType::SemanticVad)
            .with_interrupt_response(interrupt_response);
        self.turn_detection(Some(vad))
    }

    /// Input transcription with a model such as `whisper-1`; `None` turns it off.
    pub fn transcription(mut self, model: Option<&str>) -> Self {
        self.session.input_audio_transcription = Some(
            model.map(|m| SessionCreateRequestInputAudioTranscription::default().with_model(m)),
        );
        self
    }

    /// A function tool with a JSON schema for its parameters.
    pub fn function_tool(
        mut self,
        name: impl Into<String>,
        description: impl Into<String>,
        parameters: serde_json::Value,
    ) -> Self {
        let tool = Tool::default()
            .with_type(ToolType::Function)
            .with_name(name)
            .with_description(description)
            .with_parameters(parameters);
        self.session.tools.get_or_insert_with(Vec::new).push(tool);
        self
    }

    /// How the model chooses tools: `auto`, `none`, `required` or a function name.
    pub fn tool_choice(mut self, choice: impl Into<String>) -> Self {
        self.session.tool_choice = Some(choice.into());
        self
    }

    /// Sampling temperature.
    pub fn temperature(mut self, temperature: f64) -> Self {
        self.session.temperature = Some(temperature);
        self
    }

    /// The finished session configuration.
    pub fn build(self) -> SessionCreateRequest {
        self.session
    }
}
