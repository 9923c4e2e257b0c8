//! The server-side conversation, kept dialect-neutral, and its JSON in each dialect.

use realtime_protocol::Dialect;
use serde_json::{json, Map, Value};

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Role {
    /// The end user.
    User,
    /// The model.
    Assistant,
    /// The system.
    System,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::System => "system",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(Role::User),
            "assistant" => Some(Role::Assistant),
            "system" => Some(Role::System),
            _ => None,
        }
    }
}

/// One content part of a message.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Part {
    /// Text the client sent (`input_text`).
    InputText(String),
    /// Audio the client sent (`input_audio`), with its length and transcript if known.
    InputAudio {
        /// Bytes of PCM16 audio.
        audio_bytes: usize,
        /// The transcript, when there is one.
        transcript: Option<String>,
    },
    /// An image the client sent (`input_image`).
    InputImage,
    /// Text the model produced.
    Text(String),
    /// Audio the model produced: how many bytes were streamed, and its transcript.
    Audio {
        /// Bytes of audio streamed so far (kept to the heard part after a truncation), in the
        /// session's output encoding.
        audio_bytes: usize,
        /// The transcript streamed so far; `None` once a truncation deleted it, as the
        /// service does.
        transcript: Option<String>,
    },
}

/// What an item is.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ItemKind {
    /// A message.
    Message {
        /// Who said it.
        role: Role,
        /// Its parts.
        content: Vec<Part>,
    },
    /// A function call by the model.
    FunctionCall {
        /// The call id the output must echo.
        call_id: String,
        /// The function name.
        name: String,
        /// The JSON arguments, as text.
        arguments: String,
    },
    /// The output of a function call, sent by the client.
    FunctionCallOutput {
        /// The call id it answers.
        call_id: String,
        /// The output text.
        output: String,
    },
    /// An item type the fake server does not model, kept as JSON.
    Other(Value),
}

/// One item of the server-side conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The item id.
    pub id: String,
    /// What it is.
    pub kind: ItemKind,
    /// `in_progress`, `completed` or `incomplete`.
    pub status: &'static str,
}

impl Item {
    /// The text a responder sees: input text, transcripts, output text.
    pub fn text(&self) -> Option<String> {
        match &self.kind {
            ItemKind::Message { content, .. } => {
                let texts: Vec<&str> = content
                    .iter()
                    .filter_map(|p| match p {
                        Part::InputText(t) | Part::Text(t) => Some(t.as_str()),
                        Part::InputAudio { transcript, .. } => transcript.as_deref(),
                        Part::Audio { transcript, .. } => transcript.as_deref(),
                        Part::InputImage => None,
                    })
                    .collect();
                (!texts.is_empty()).then(|| texts.join(" "))
            }
            ItemKind::FunctionCallOutput { output, .. } => Some(output.clone()),
            _ => None,
        }
    }

    /// The role, for a message.
    pub fn role(&self) -> Option<Role> {
        match &self.kind {
            ItemKind::Message { role, .. } => Some(*role),
            _ => None,
        }
    }

    /// Reads an item a client sent (any dialect; both use the same field names).
    pub(crate) fn from_client_json(id: String, v: &Value) -> Self {
        let s = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let kind = match v.get("type").and_then(Value::as_str) {
            Some("message") => {
                let role = v
                    .get("role")
                    .and_then(Value::as_str)
                    .and_then(Role::parse)
                    .unwrap_or(Role::User);
                let content = v
                    .get("content")
                    .and_then(Value::as_array)
                    .map(|parts| parts.iter().filter_map(part_from_json).collect())
                    .unwrap_or_default();
                ItemKind::Message { role, content }
            }
            Some("function_call") => ItemKind::FunctionCall {
                call_id: s("call_id"),
                name: s("name"),
                arguments: s("arguments"),
            },
            Some("function_call_output") => ItemKind::FunctionCallOutput {
                call_id: s("call_id"),
                output: s("output"),
            },
            _ => ItemKind::Other(v.clone()),
        };
        Item {
            id,
            kind,
            status: "completed",
        }
    }

    /// The item as the service would send it in `dialect`.
    pub(crate) fn to_json(&self, dialect: Dialect) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id));
        m.insert("object".into(), json!("realtime.item"));
        match &self.kind {
            ItemKind::Message { role, content } => {
                m.insert("type".into(), json!("message"));
                m.insert("status".into(), json!(self.status));
                m.insert("role".into(), json!(role.as_str()));
                m.insert(
                    "content".into(),
                    Value::Array(content.iter().map(|p| part_json(p, dialect)).collect()),
                );
            }
            ItemKind::FunctionCall {
                call_id,
                name,
                arguments,
            } => {
                m.insert("type".into(), json!("function_call"));
                m.insert("status".into(), json!(self.status));
                m.insert("call_id".into(), json!(call_id));
                m.insert("name".into(), json!(name));
                m.insert("arguments".into(), json!(arguments));
            }
            ItemKind::FunctionCallOutput { call_id, output } => {
                m.insert("type".into(), json!("function_call_output"));
                if dialect == Dialect::Ga {
                    m.insert("status".into(), json!(self.status));
                }
                m.insert("call_id".into(), json!(call_id));
                m.insert("output".into(), json!(output));
            }
            ItemKind::Other(v) => {
                let mut v = v.clone();
                if let Some(o) = v.as_object_mut() {
                    o.insert("id".into(), json!(self.id));
                }
                return v;
            }
        }
        Value::Object(m)
    }

    /// Bytes of audio in the content part at `index`, if it is an audio part.
    pub fn audio_bytes(&self, index: usize) -> Option<usize> {
        match &self.kind {
            ItemKind::Message { content, .. } => match content.get(index)? {
                Part::Audio { audio_bytes, .. } | Part::InputAudio { audio_bytes, .. } => {
                    Some(*audio_bytes)
                }
                _ => None,
            },
            _ => None,
        }
    }
}

fn part_from_json(p: &Value) -> Option<Part> {
    let text = || {
        p.get("text")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    Some(match p.get("type").and_then(Value::as_str)? {
        "input_text" => Part::InputText(text()),
        "input_audio" => {
            let audio_bytes = p
                .get("audio")
                .and_then(Value::as_str)
                .and_then(|a| realtime_protocol::audio::decode_base64(a).ok())
                .map_or(0, |b| b.len());
            let transcript = p
                .get("transcript")
                .and_then(Value::as_str)
                .map(str::to_owned);
            Part::InputAudio {
                audio_bytes,
                transcript,
            }
        }
        "input_image" => Part::InputImage,
        "text" | "output_text" => Part::Text(text()),
        "audio" | "output_audio" => Part::Audio {
            audio_bytes: 0,
            transcript: p
                .get("transcript")
                .and_then(Value::as_str)
                .map(str::to_owned),
        },
        _ => return None,
    })
}

/// A content part as an item carries it.
pub(crate) fn part_json(p: &Part, dialect: Dialect) -> Value {
    let ga = dialect == Dialect::Ga;
    match p {
        Part::InputText(t) => json!({"type": "input_text", "text": t}),
        Part::InputAudio { transcript, .. } => {
            json!({"type": "input_audio", "transcript": transcript})
        }
        Part::InputImage => json!({"type": "input_image"}),
        Part::Text(t) => json!({"type": if ga { "output_text" } else { "text" }, "text": t}),
        Part::Audio { transcript, .. } => {
            json!({"type": if ga { "output_audio" } else { "audio" }, "transcript": transcript})
        }
    }
}

/// A content part as `response.content_part.*` carries it (the spec says `text` / `audio` in
/// both dialects).
pub(crate) fn event_part_json(p: &Part) -> Value {
    match p {
        Part::Text(t) => json!({"type": "text", "text": t}),
        Part::Audio { transcript, .. } => json!({"type": "audio", "transcript": transcript}),
        other => part_json(other, Dialect::Beta),
    }
}
