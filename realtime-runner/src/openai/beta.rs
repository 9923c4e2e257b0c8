//! The beta dialect (`OpenAI-Beta: realtime=v1`): `response.audio.*`, `response.text.*`,
//! `conversation.item.created`, a flat session.

use super::ga::{noise, settings_eagerness};
use super::wire_text::audio_append_json;
use super::{index, ms, usage, Adapter, Encoded};
use crate::error::RunnerError;
use crate::history::{ContentPart, HistoryItem, Role};
use crate::model::{ModelEvent, ModelInput, RawServerEvent, ServerError, UserContent};
use crate::settings::{self, AudioFormat, Modality, SessionSettings, TurnDetection};
use realtime_protocol::beta::{self, ClientEvent, ServerEvent};
use realtime_protocol::Beta;
use std::collections::VecDeque;
use std::sync::Arc;

fn item_from_wire(item: beta::ConversationItem) -> HistoryItem {
    let item_id = item.id.clone().unwrap_or_default();
    let status = item.status.as_ref().map(|s| s.as_str().to_owned());
    match item.r#type.as_ref().map(|t| t.as_str()) {
        Some("message") => {
            let role = match item.role.as_ref().map(|r| r.as_str()) {
                Some("assistant") => Role::Assistant,
                Some("system") => Role::System,
                _ => Role::User,
            };
            let content = item
                .content
                .unwrap_or_default()
                .into_iter()
                .map(|p| match p.r#type.as_ref().map(|t| t.as_str()) {
                    Some("input_audio") => ContentPart::InputAudio {
                        transcript: p.transcript,
                    },
                    Some("audio") => ContentPart::audio(p.transcript),
                    Some("text") => ContentPart::Text {
                        text: p.text.unwrap_or_default(),
                    },
                    _ => ContentPart::InputText {
                        text: p.text.unwrap_or_default(),
                    },
                })
                .collect();
            HistoryItem::Message {
                item_id,
                role,
                content,
                status,
            }
        }
        Some("function_call") => HistoryItem::FunctionCall {
            item_id,
            call_id: item.call_id.unwrap_or_default(),
            name: item.name.unwrap_or_default(),
            arguments: item.arguments.unwrap_or_default(),
            output: None,
            status,
        },
        Some("function_call_output") => HistoryItem::FunctionCallOutput {
            item_id,
            call_id: item.call_id.unwrap_or_default(),
            output: item.output.unwrap_or_default(),
        },
        _ => HistoryItem::Other {
            item_id,
            raw: serde_json::to_value(&item).unwrap_or_default(),
        },
    }
}

fn message(
    role: beta::ConversationItemRole,
    parts: Vec<beta::ContentPart>,
) -> beta::ConversationItem {
    beta::ConversationItem::default()
        .with_type(beta::ConversationItemType::Message)
        .with_role(role)
        .with_content(parts)
}

fn text_part(kind: beta::ContentPartType, text: String) -> beta::ContentPart {
    beta::ContentPart::default().with_type(kind).with_text(text)
}

fn item_to_wire(item: HistoryItem) -> Option<beta::ConversationItem> {
    Some(match item {
        HistoryItem::Message {
            item_id,
            role,
            content,
            ..
        } => {
            let texts: Vec<String> = content
                .iter()
                .filter_map(|p| p.text().map(str::to_owned))
                .collect();
            let (r, kind) = match role {
                Role::User => (
                    beta::ConversationItemRole::User,
                    beta::ContentPartType::InputText,
                ),
                Role::System => (
                    beta::ConversationItemRole::System,
                    beta::ContentPartType::InputText,
                ),
                // Assistant audio is replayed as text: the audio itself is not kept.
                Role::Assistant => (
                    beta::ConversationItemRole::Assistant,
                    beta::ContentPartType::Text,
                ),
            };
            message(
                r,
                texts
                    .into_iter()
                    .map(|t| text_part(kind.clone(), t))
                    .collect(),
            )
            .with_id(item_id)
        }
        HistoryItem::FunctionCall {
            item_id,
            call_id,
            name,
            arguments,
            ..
        } => beta::ConversationItem::default()
            .with_id(item_id)
            .with_type(beta::ConversationItemType::FunctionCall)
            .with_call_id(call_id)
            .with_name(name)
            .with_arguments(arguments),
        HistoryItem::FunctionCallOutput {
            item_id,
            call_id,
            output,
        } => beta::ConversationItem::default()
            .with_id(item_id)
            .with_type(beta::ConversationItemType::FunctionCallOutput)
            .with_call_id(call_id)
            .with_output(output),
        HistoryItem::Other { raw, .. } => serde_json::from_value(raw).ok()?,
    })
}

fn format(f: AudioFormat) -> beta::AudioFormat {
    match f {
        AudioFormat::Pcm16 => beta::AudioFormat::Pcm16,
        AudioFormat::G711Ulaw => beta::AudioFormat::G711Ulaw,
        AudioFormat::G711Alaw => beta::AudioFormat::G711Alaw,
    }
}

/// The first setting the beta API has no field for, if any.
fn ga_only(s: &SessionSettings) -> Option<&'static str> {
    let idle = matches!(
        &s.turn_detection,
        Some(Some(TurnDetection::ServerVad {
            idle_timeout_ms: Some(_),
            ..
        }))
    );
    [
        (s.prompt.is_some(), "a stored prompt"),
        (s.truncation.is_some(), "truncation"),
        (s.parallel_tool_calls.is_some(), "parallel_tool_calls"),
        (
            s.include_input_logprobs.is_some(),
            "input transcription logprobs",
        ),
        (idle, "turn detection idle_timeout_ms"),
        (
            s.mcp_tools.as_ref().is_some_and(|m| !m.is_empty()),
            "hosted MCP tools",
        ),
        (
            s.voice
                .as_deref()
                .is_some_and(crate::settings::is_custom_voice),
            "a custom voice",
        ),
    ]
    .into_iter()
    .find_map(|(set, name)| set.then_some(name))
}

pub(super) fn session(s: &SessionSettings) -> beta::SessionCreateRequest {
    let mut req = beta::SessionCreateRequest::default();
    req.model = s.model.as_deref().map(beta::Model::from);
    req.instructions.clone_from(&s.instructions);
    req.modalities = s.output_modality.map(|m| match m {
        Modality::Audio => vec![beta::Modality::Text, beta::Modality::Audio],
        Modality::Text => vec![beta::Modality::Text],
    });
    req.voice = s.voice.as_deref().map(beta::Voice::from);
    req.input_audio_format = s.input_audio_format.map(format);
    req.output_audio_format = s.output_audio_format.map(format);
    req.input_audio_transcription = s.input_transcription.as_ref().map(|t| {
        t.as_ref().map(|t| {
            let mut a = beta::SessionCreateRequestInputAudioTranscription::default();
            a.model.clone_from(&t.model);
            a.language.clone_from(&t.language);
            a.prompt.clone_from(&t.prompt);
            a
        })
    });
    req.turn_detection = s.turn_detection.as_ref().map(|t| {
        t.as_ref().map(|td| {
            let mut v = beta::SessionCreateRequestTurnDetection::default();
            match td {
                TurnDetection::ServerVad {
                    threshold,
                    prefix_padding_ms,
                    silence_duration_ms,
                    create_response,
                    interrupt_response,
                    idle_timeout_ms: _, // refused by `ga_only` before
                } => {
                    v.r#type = Some(beta::SessionCreateRequestTurnDetectionType::ServerVad);
                    v.threshold = *threshold;
                    v.prefix_padding_ms = prefix_padding_ms.map(i64::from);
                    v.silence_duration_ms = silence_duration_ms.map(i64::from);
                    v.create_response = *create_response;
                    v.interrupt_response = *interrupt_response;
                }
                TurnDetection::SemanticVad {
                    eagerness,
                    create_response,
                    interrupt_response,
                } => {
                    v.r#type = Some(beta::SessionCreateRequestTurnDetectionType::SemanticVad);
                    v.eagerness = eagerness.map(|e| {
                        beta::SessionCreateRequestTurnDetectionEagerness::from(settings_eagerness(
                            e,
                        ))
                    });
                    v.create_response = *create_response;
                    v.interrupt_response = *interrupt_response;
                }
            }
            v
        })
    });
    req.input_audio_noise_reduction = s.noise_reduction.map(|n| {
        n.map(|n| {
            beta::SessionCreateRequestInputAudioNoiseReduction::default()
                .with_type(beta::SessionCreateRequestInputAudioNoiseReductionType::from(noise(n)))
        })
    });
    req.speed = s.speed;
    req.temperature = s.temperature;
    req.max_response_output_tokens = s.max_output_tokens.map(|m| match m {
        settings::MaxOutputTokens::Limit(n) => beta::MaxResponseOutputTokens::Integer(i64::from(n)),
        settings::MaxOutputTokens::Infinite => {
            beta::MaxResponseOutputTokens::String(beta::MaxResponseOutputTokensStr::Inf)
        }
    });
    req.tools = s
        .tools
        .as_ref()
        .map(|t| t.iter().map(|d| d.to_beta()).collect());
    req.tool_choice.clone_from(&s.tool_choice);
    req.tracing = s.tracing.as_ref().map(|t| {
        t.as_ref().map(|t| match t {
            settings::Tracing::Auto => beta::Tracing::String(beta::TracingMode::Auto),
            settings::Tracing::Config {
                workflow_name,
                group_id,
                metadata,
            } => {
                let mut c = beta::TracingConfig::default();
                c.workflow_name.clone_from(workflow_name);
                c.group_id.clone_from(group_id);
                c.metadata = metadata.clone().map(serde_json::Value::Object);
                beta::Tracing::Object(c)
            }
        })
    });
    req
}

impl Adapter for Beta {
    const AUDIO_DELTA: &'static str = "response.audio.delta";
    const TRANSCRIPT_DELTA: &'static str = "response.audio_transcript.delta";
    const IGNORED: &'static [&'static str] =
        &["response.audio_transcript.done", "response.text.done"];
    const LEAN_ITEMS: bool = false;
    type Usage = realtime_protocol::beta::ResponseUsage;

    fn encode(input: ModelInput) -> Result<Vec<Encoded<ClientEvent>>, RunnerError> {
        use Encoded::{Event, Text};
        Ok(match input {
            ModelInput::UpdateSession(s) => {
                if let Some(feature) = ga_only(&s) {
                    return Err(RunnerError::Unsupported {
                        dialect: "beta",
                        feature: feature.into(),
                    });
                }
                let event = ClientEvent::session_update(session(&s));
                vec![super::session_update(event, s.extra.as_ref())?]
            }
            ModelInput::UserMessage(m) => {
                let mut parts = Vec::with_capacity(m.parts.len());
                for p in m.parts {
                    match p {
                        UserContent::Text(t) => {
                            parts.push(text_part(beta::ContentPartType::InputText, t))
                        }
                        // The beta API takes no images: refuse the message, never turn the
                        // image into text the model would read.
                        UserContent::Image { .. } => {
                            return Err(RunnerError::Unsupported {
                                dialect: "beta",
                                feature: "image input (use the GA dialect)".into(),
                            })
                        }
                    }
                }
                vec![Event(ClientEvent::create_item(message(
                    beta::ConversationItemRole::User,
                    parts,
                )))]
            }
            ModelInput::Audio { pcm, commit } => {
                let mut out = vec![Text(audio_append_json(&pcm))];
                if commit {
                    out.push(Event(ClientEvent::input_audio_commit()));
                }
                out
            }
            ModelInput::CommitAudio => vec![Event(ClientEvent::input_audio_commit())],
            ModelInput::ClearAudio => vec![Event(ClientEvent::input_audio_clear())],
            ModelInput::ToolOutput { call_id, output } => {
                vec![Event(ClientEvent::function_call_output(call_id, output))]
            }
            ModelInput::CreateResponse { event_id } => vec![Event(
                beta::ResponseCreate::default()
                    .with_event_id(event_id)
                    .into(),
            )],
            ModelInput::CancelResponse => vec![Event(ClientEvent::response_cancel())],
            ModelInput::Truncate {
                item_id,
                content_index,
                audio_end_ms,
            } => {
                vec![Event(ClientEvent::truncate(
                    item_id,
                    content_index,
                    audio_end_ms,
                ))]
            }
            ModelInput::CreateItem {
                item,
                previous_item_id,
            } => match item_to_wire(*item) {
                Some(wire) => {
                    let mut ev = beta::ConversationItemCreate::default().with_item(wire);
                    ev.previous_item_id = previous_item_id;
                    vec![Event(ev.into())]
                }
                None => Vec::new(),
            },
            ModelInput::DeleteItem { item_id } => vec![Event(ClientEvent::delete_item(item_id))],
            ModelInput::McpApproval { .. } => {
                return Err(RunnerError::Unsupported {
                    dialect: "beta",
                    feature: "hosted MCP tools".into(),
                })
            }
            ModelInput::Raw(text) => vec![Text(text)],
        })
    }

    fn decode(event: ServerEvent, out: &mut VecDeque<ModelEvent>, raw: bool) {
        let raw_event = if raw {
            Some(Arc::new(event.clone()))
        } else {
            None
        };
        super::decode_server_event!(
            event,
            out,
            audio: ResponseAudioDelta,
            audio_done: ResponseAudioDone,
            transcript: ResponseAudioTranscriptDelta,
            text: ResponseTextDelta,
            {
            ServerEvent::SessionCreated(e) => {
                if let Some(session_id) = e.session.id {
                    out.push_back(ModelEvent::SessionCreated { session_id });
                }
            }
            }
        );
        if let Some(ev) = raw_event {
            out.push_back(ModelEvent::Raw(RawServerEvent::Beta(ev)));
        }
    }
}
