//! The GA dialect: `response.output_audio.*`, `conversation.item.added/done`, nested
//! `session.audio`.

use super::wire_text::audio_append_json;
use super::{index, mcp, ms, usage, Adapter, Encoded};
use crate::error::RunnerError;
use crate::history::{ContentPart, HistoryItem, Role};
use crate::mcp::McpEvent;
use crate::model::{ModelEvent, ModelInput, RawServerEvent, ServerError, UserContent};
use crate::settings::{
    self, AudioFormat, Eagerness, Modality, NoiseReduction, SessionSettings, TurnDetection,
};
use realtime_protocol::ga::{self, ClientEvent, ServerEvent};
use realtime_protocol::{Ga, ItemId};
use std::collections::VecDeque;
use std::sync::Arc;

/// A user message's content part, from its wire fields.
pub(super) fn user_part(
    kind: Option<&str>,
    text: Option<String>,
    transcript: Option<String>,
    image_url: Option<String>,
) -> ContentPart {
    match kind {
        Some("input_audio") => ContentPart::InputAudio { transcript },
        Some("input_image") => ContentPart::InputImage { image_url },
        _ => ContentPart::InputText {
            text: text.unwrap_or_default(),
        },
    }
}

/// An assistant message's content part, from its wire fields.
pub(super) fn assistant_part(
    kind: Option<&str>,
    text: Option<String>,
    transcript: Option<String>,
) -> ContentPart {
    match kind {
        Some("output_audio") | Some("audio") => ContentPart::audio(transcript),
        _ => ContentPart::Text {
            text: text.unwrap_or_default(),
        },
    }
}

fn item_from_wire(item: ga::ConversationItem) -> HistoryItem {
    let id = |i: Option<ItemId>| i.unwrap_or_default();
    let status = |s: Option<&str>| s.map(str::to_owned);
    match item {
        ga::ConversationItem::MessageUser(m) => HistoryItem::Message {
            item_id: id(m.id),
            role: Role::User,
            status: status(m.status.as_ref().map(|s| s.as_str())),
            content: m
                .content
                .into_iter()
                .map(|p| {
                    user_part(
                        p.r#type.as_ref().map(|t| t.as_str()),
                        p.text,
                        p.transcript,
                        p.image_url,
                    )
                })
                .collect(),
        },
        ga::ConversationItem::MessageSystem(m) => HistoryItem::Message {
            item_id: id(m.id),
            role: Role::System,
            status: status(m.status.as_ref().map(|s| s.as_str())),
            content: m
                .content
                .into_iter()
                .map(|p| ContentPart::InputText {
                    text: p.text.unwrap_or_default(),
                })
                .collect(),
        },
        ga::ConversationItem::MessageAssistant(m) => HistoryItem::Message {
            item_id: id(m.id),
            role: Role::Assistant,
            status: status(m.status.as_ref().map(|s| s.as_str())),
            content: m
                .content
                .into_iter()
                .map(|p| {
                    assistant_part(p.r#type.as_ref().map(|t| t.as_str()), p.text, p.transcript)
                })
                .collect(),
        },
        ga::ConversationItem::FunctionCall(f) => HistoryItem::FunctionCall {
            item_id: id(f.id),
            call_id: f.call_id.unwrap_or_default(),
            name: f.name,
            arguments: f.arguments,
            output: None,
            status: status(f.status.as_ref().map(|s| s.as_str())),
        },
        ga::ConversationItem::FunctionCallOutput(f) => HistoryItem::FunctionCallOutput {
            item_id: id(f.id),
            call_id: f.call_id,
            output: f.output,
        },
        other => {
            let raw = serde_json::to_value(&other).unwrap_or_default();
            let item_id = raw
                .get("id")
                .and_then(|v| v.as_str())
                .map(ItemId::from)
                .unwrap_or_default();
            HistoryItem::Other { item_id, raw }
        }
    }
}

fn item_to_wire(item: HistoryItem) -> ga::ConversationItem {
    match item {
        HistoryItem::Message {
            item_id,
            role,
            content,
            ..
        } => {
            let texts = content.iter().filter_map(|p| p.text().map(str::to_owned));
            match role {
                Role::User => ga::ConversationItem::MessageUser(
                    ga::ConversationItemMessageUser::default()
                        .with_id(item_id)
                        .with_content(
                            content
                                .iter()
                                .map(|p| match p {
                                    ContentPart::InputImage {
                                        image_url: Some(url),
                                    } => ga::UserContentPart::default()
                                        .with_type(ga::UserContentPartType::InputImage)
                                        .with_image_url(url.clone()),
                                    p => ga::UserContentPart::default()
                                        .with_type(ga::UserContentPartType::InputText)
                                        .with_text(p.text().unwrap_or_default().to_owned()),
                                })
                                .collect::<Vec<_>>(),
                        ),
                ),
                Role::System => ga::ConversationItem::MessageSystem(
                    ga::ConversationItemMessageSystem::default()
                        .with_id(item_id)
                        .with_content(
                            texts
                                .map(|t| {
                                    ga::SystemContentPart::default()
                                        .with_type(ga::SystemContentPartType::InputText)
                                        .with_text(t)
                                })
                                .collect::<Vec<_>>(),
                        ),
                ),
                // Assistant audio is replayed as text: the audio itself is not kept.
                Role::Assistant => ga::ConversationItem::MessageAssistant(
                    ga::ConversationItemMessageAssistant::default()
                        .with_id(item_id)
                        .with_content(
                            texts
                                .map(|t| {
                                    ga::AssistantContentPart::default()
                                        .with_type(ga::AssistantContentPartType::OutputText)
                                        .with_text(t)
                                })
                                .collect::<Vec<_>>(),
                        ),
                ),
            }
        }
        HistoryItem::FunctionCall {
            item_id,
            call_id,
            name,
            arguments,
            ..
        } => ga::ConversationItem::FunctionCall(
            ga::ConversationItemFunctionCall::default()
                .with_id(item_id)
                .with_call_id(call_id)
                .with_name(name)
                .with_arguments(arguments),
        ),
        HistoryItem::FunctionCallOutput {
            item_id,
            call_id,
            output,
        } => ga::ConversationItem::FunctionCallOutput(
            ga::ConversationItemFunctionCallOutput::default()
                .with_id(item_id)
                .with_call_id(call_id)
                .with_output(output),
        ),
        HistoryItem::Other { raw, .. } => ga::ConversationItem::Unknown(raw),
    }
}

fn format(f: AudioFormat) -> ga::AudioFormat {
    match f {
        AudioFormat::Pcm16 => ga::AudioFormat::AudioPcm(
            ga::PcmAudioFormat::default()
                .with_type(ga::PcmAudioFormatType::AudioPcm)
                .with_rate(24_000),
        ),
        AudioFormat::G711Ulaw => ga::AudioFormat::AudioPcmu(
            ga::PcmuAudioFormat::default().with_type(ga::PcmuAudioFormatType::AudioPcmu),
        ),
        AudioFormat::G711Alaw => ga::AudioFormat::AudioPcma(
            ga::PcmaAudioFormat::default().with_type(ga::PcmaAudioFormatType::AudioPcma),
        ),
    }
}

fn turn_detection(td: &TurnDetection) -> ga::TurnDetection {
    let i = |v: Option<u32>| v.map(i64::from);
    match td {
        TurnDetection::ServerVad {
            threshold,
            prefix_padding_ms,
            silence_duration_ms,
            create_response,
            interrupt_response,
            idle_timeout_ms,
        } => {
            let mut v = ga::TurnDetectionServerVad::default();
            v.threshold = *threshold;
            v.prefix_padding_ms = i(*prefix_padding_ms);
            v.silence_duration_ms = i(*silence_duration_ms);
            v.create_response = *create_response;
            v.interrupt_response = *interrupt_response;
            v.idle_timeout_ms = i(*idle_timeout_ms);
            ga::TurnDetection::ServerVad(v)
        }
        TurnDetection::SemanticVad {
            eagerness,
            create_response,
            interrupt_response,
        } => {
            let mut v = ga::TurnDetectionSemanticVad::default();
            v.eagerness = eagerness
                .map(|e| ga::TurnDetectionSemanticVadEagerness::from(settings_eagerness(e)));
            v.create_response = *create_response;
            v.interrupt_response = *interrupt_response;
            ga::TurnDetection::SemanticVad(v)
        }
    }
}

pub(super) fn settings_eagerness(e: Eagerness) -> &'static str {
    match e {
        Eagerness::Low => "low",
        Eagerness::Medium => "medium",
        Eagerness::High => "high",
        Eagerness::Auto => "auto",
    }
}

pub(super) fn noise(n: NoiseReduction) -> &'static str {
    match n {
        NoiseReduction::NearField => "near_field",
        NoiseReduction::FarField => "far_field",
    }
}

pub(crate) fn session(s: &SessionSettings) -> ga::SessionCreateRequest {
    let mut req = ga::SessionCreateRequest::default();
    req.model = s.model.as_deref().map(ga::Model::from);
    req.instructions.clone_from(&s.instructions);
    req.output_modalities = s.output_modality.map(|m| {
        vec![match m {
            Modality::Audio => ga::OutputModality::Audio,
            Modality::Text => ga::OutputModality::Text,
        }]
    });
    let mut input = ga::SessionCreateRequestAudioInput::default();
    input.format = s.input_audio_format.map(format);
    input.transcription = s.input_transcription.as_ref().map(|t| {
        t.as_ref().map(|t| {
            let mut a = ga::AudioTranscription::default();
            a.model = t.model.as_deref().map(ga::AudioTranscriptionModel::from);
            a.language.clone_from(&t.language);
            a.prompt.clone_from(&t.prompt);
            a
        })
    });
    input.noise_reduction = s.noise_reduction.map(|n| {
        n.map(|n| ga::NoiseReduction::default().with_type(ga::NoiseReductionType::from(noise(n))))
    });
    input.turn_detection = s
        .turn_detection
        .as_ref()
        .map(|t| t.as_ref().map(turn_detection));
    let mut output = ga::SessionCreateRequestAudioOutput::default();
    output.format = s.output_audio_format.map(format);
    output.voice = s.voice.as_deref().map(|v| {
        if settings::is_custom_voice(v) {
            ga::VoiceOrCustomVoice::Object(ga::CustomVoice::default().with_id(v))
        } else {
            ga::VoiceOrCustomVoice::Voice(ga::Voice::from(v))
        }
    });
    output.speed = s.speed;
    if input != ga::SessionCreateRequestAudioInput::default()
        || output != ga::SessionCreateRequestAudioOutput::default()
    {
        let mut audio = ga::SessionCreateRequestAudio::default();
        if input != ga::SessionCreateRequestAudioInput::default() {
            audio.input = Some(input);
        }
        if output != ga::SessionCreateRequestAudioOutput::default() {
            audio.output = Some(output);
        }
        req.audio = Some(audio);
    }
    req.tools = match (&s.tools, &s.mcp_tools) {
        (None, None) => None,
        (tools, mcp) => Some(
            tools
                .iter()
                .flatten()
                .map(|d| d.to_ga())
                .chain(mcp.iter().flatten().map(|m| m.to_ga()))
                .collect(),
        ),
    };
    req.tool_choice = s.tool_choice.as_deref().map(|c| match c {
        "auto" | "none" | "required" => ga::ToolChoice::Options(ga::ToolChoiceOptions::from(c)),
        name => ga::ToolChoice::Object(ga::ToolChoiceObject::Function(
            ga::ToolChoiceFunction::default().with_name(name),
        )),
    });
    req.tracing = s.tracing.as_ref().map(|t| {
        t.as_ref().map(|t| match t {
            settings::Tracing::Auto => ga::Tracing::String(ga::TracingMode::Auto),
            settings::Tracing::Config {
                workflow_name,
                group_id,
                metadata,
            } => {
                let mut c = ga::TracingConfig::default();
                c.workflow_name.clone_from(workflow_name);
                c.group_id.clone_from(group_id);
                c.metadata = metadata.clone().map(serde_json::Value::Object);
                ga::Tracing::Object(c)
            }
        })
    });
    req.prompt = s.prompt.as_ref().map(|p| {
        let mut w = ga::Prompt::default().with_id(p.id.clone());
        w.version.clone_from(&p.version);
        if !p.variables.is_empty() {
            w.variables =
                serde_json::from_value(serde_json::Value::Object(p.variables.clone())).ok();
        }
        w
    });
    req.max_output_tokens = s.max_output_tokens.map(|m| match m {
        settings::MaxOutputTokens::Limit(n) => ga::MaxOutputTokens::Integer(i64::from(n)),
        settings::MaxOutputTokens::Infinite => {
            ga::MaxOutputTokens::String(ga::MaxOutputTokensStr::Inf)
        }
    });
    req.truncation = s.truncation.map(|t| match t {
        settings::Truncation::Auto => ga::Truncation::String(ga::TruncationStr::Auto),
        settings::Truncation::Disabled => ga::Truncation::String(ga::TruncationStr::Disabled),
        settings::Truncation::RetentionRatio(r) => {
            let mut o = ga::TruncationObject::default();
            o.retention_ratio = r;
            ga::Truncation::Object(o)
        }
    });
    req.parallel_tool_calls = s.parallel_tool_calls;
    req.include = s.include_input_logprobs.map(|on| {
        if on {
            vec![ga::IncludeItem::ItemInputAudioTranscriptionLogprobs]
        } else {
            Vec::new()
        }
    });
    req
}

impl Adapter for Ga {
    const AUDIO_DELTA: &'static str = "response.output_audio.delta";
    const TRANSCRIPT_DELTA: &'static str = "response.output_audio_transcript.delta";
    const IGNORED: &'static [&'static str] = &[
        "response.output_audio_transcript.done",
        "response.output_text.done",
    ];
    const LEAN_ITEMS: bool = true;
    type Usage = realtime_protocol::ga::ResponseUsage;

    fn encode(input: ModelInput) -> Result<Vec<Encoded<ClientEvent>>, RunnerError> {
        use Encoded::{Event, Text};
        Ok(match input {
            ModelInput::UpdateSession(s) => {
                let event = ClientEvent::session_update(session(&s));
                vec![super::session_update(event, s.extra.as_ref())?]
            }
            ModelInput::UserMessage(m) => {
                let parts: Vec<ga::UserContentPart> = m
                    .parts
                    .into_iter()
                    .map(|p| match p {
                        UserContent::Text(t) => ga::UserContentPart::default()
                            .with_type(ga::UserContentPartType::InputText)
                            .with_text(t),
                        UserContent::Image { url, detail } => {
                            let mut part = ga::UserContentPart::default()
                                .with_type(ga::UserContentPartType::InputImage)
                                .with_image_url(url);
                            part.detail = detail.as_deref().map(ga::UserContentPartDetail::from);
                            part
                        }
                    })
                    .collect();
                let item = ga::ConversationItem::MessageUser(
                    ga::ConversationItemMessageUser::default().with_content(parts),
                );
                vec![Event(ClientEvent::create_item(item))]
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
                ga::ResponseCreate::default().with_event_id(event_id).into(),
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
            } => {
                let mut ev = ga::ConversationItemCreate::default().with_item(item_to_wire(*item));
                ev.previous_item_id = previous_item_id;
                vec![Event(ev.into())]
            }
            ModelInput::DeleteItem { item_id } => vec![Event(ClientEvent::delete_item(item_id))],
            ModelInput::McpApproval {
                approval_request_id,
                approve,
                reason,
            } => {
                // The item's id is derived from the request's (unique, at most 32 bytes).
                let id = approval_request_id.as_str();
                let skip = id.chars().count().saturating_sub(28);
                let tail: String = id.chars().skip(skip).collect();
                let mut item = serde_json::json!({
                    "type": "mcp_approval_response",
                    "id": format!("apr_{tail}"),
                    "approval_request_id": approval_request_id,
                    "approve": approve,
                });
                if let Some(r) = reason {
                    item["reason"] = serde_json::Value::String(r);
                }
                let ev = serde_json::json!({
                    "type": "conversation.item.create",
                    "previous_item_id": approval_request_id,
                    "item": item,
                });
                vec![Text(ev.to_string())]
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
            audio: ResponseOutputAudioDelta,
            audio_done: ResponseOutputAudioDone,
            transcript: ResponseOutputAudioTranscriptDelta,
            text: ResponseOutputTextDelta,
            {
            ServerEvent::ConversationItemAdded(e) => out.push_back(ModelEvent::ItemUpdated {
                item: item_from_wire(e.item),
                previous_item_id: e.previous_item_id,
            }),
            ServerEvent::ConversationItemDone(e) => {
                let mcp = mcp::item_done(&e.item);
                out.push_back(ModelEvent::ItemUpdated {
                    item: item_from_wire(e.item),
                    previous_item_id: e.previous_item_id,
                });
                if let Some(m) = mcp {
                    out.push_back(ModelEvent::Mcp(m));
                }
            }
            ServerEvent::McpListToolsInProgress(e) => {
                out.push_back(ModelEvent::Mcp(McpEvent::ListToolsInProgress { item_id: e.item_id }))
            }
            ServerEvent::McpListToolsCompleted(e) => {
                out.push_back(ModelEvent::Mcp(McpEvent::ListToolsCompleted { item_id: e.item_id }))
            }
            ServerEvent::McpListToolsFailed(e) => {
                out.push_back(ModelEvent::Mcp(McpEvent::ListToolsFailed { item_id: e.item_id }))
            }
            ServerEvent::ResponseMcpCallInProgress(e) => {
                out.push_back(ModelEvent::Mcp(McpEvent::CallInProgress { item_id: e.item_id }))
            }
            ServerEvent::ResponseMcpCallArgumentsDone(e) => {
                out.push_back(ModelEvent::Mcp(McpEvent::CallArguments {
                    item_id: e.item_id,
                    arguments: e.arguments,
                }))
            }
            ServerEvent::SessionCreated(e) => {
                if let ga::SessionState::Realtime(s) = e.session {
                    out.push_back(ModelEvent::SessionCreated { session_id: s.id });
                }
            }
            ServerEvent::InputAudioBufferTimeoutTriggered(e) => {
                out.push_back(ModelEvent::InputAudioTimeout {
                    item_id: e.item_id,
                    audio_start_ms: super::ms(e.audio_start_ms),
                    audio_end_ms: super::ms(e.audio_end_ms),
                })
            }
            }
        );
        if let Some(ev) = raw_event {
            out.push_back(ModelEvent::Raw(RawServerEvent::Ga(ev)));
        }
    }
}
