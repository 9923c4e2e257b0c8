//! The client events every turn sends, written as JSON text directly: a user's text message,
//! `response.create`, a barge-in's `response.cancel` and `conversation.item.truncate`, a
//! tool's output, the input audio buffer's commit and clear. Both dialects spell these alike.
//!
//! A voice agent is idle between turns, and the code an event touches after a silence is
//! cold: serializing these through the typed events (the item union, its parts, serde's map
//! machinery) cost more than the writing itself. The text written here is the JSON the typed
//! events serialize to (the tests compare them, in both dialects); every other input, and a
//! message with an image, goes through the typed events.

use crate::model::{ModelInput, UserContent};
use std::fmt::Write as _;

/// The JSON text of `input`, when it is one of the events written here.
pub(super) fn encode(input: &ModelInput) -> Option<String> {
    let mut out = String::with_capacity(96);
    match input {
        ModelInput::UserMessage(m) => {
            out.push_str(
                r#"{"type":"conversation.item.create","item":{"type":"message","role":"user","content":["#,
            );
            for (i, part) in m.parts.iter().enumerate() {
                let UserContent::Text(text) = part else {
                    return None;
                };
                if i > 0 {
                    out.push(',');
                }
                out.push_str(r#"{"type":"input_text","text":"#);
                push_str(&mut out, text);
                out.push('}');
            }
            out.push_str("]}}");
        }
        ModelInput::ToolOutput { call_id, output } => {
            out.push_str(
                r#"{"type":"conversation.item.create","item":{"type":"function_call_output","call_id":"#,
            );
            push_str(&mut out, call_id.as_str());
            out.push_str(r#","output":"#);
            push_str(&mut out, output);
            out.push_str("}}");
        }
        ModelInput::CreateResponse { event_id } => {
            out.push_str(r#"{"type":"response.create","event_id":"#);
            push_str(&mut out, event_id);
            out.push('}');
        }
        ModelInput::CancelResponse => out.push_str(r#"{"type":"response.cancel"}"#),
        ModelInput::Truncate {
            item_id,
            content_index,
            audio_end_ms,
        } => {
            out.push_str(r#"{"type":"conversation.item.truncate","item_id":"#);
            push_str(&mut out, item_id.as_str());
            // The wire's integers are i64, as in the typed event.
            let audio_end_ms = i64::try_from(*audio_end_ms).unwrap_or(i64::MAX);
            // Writing to a String cannot fail.
            let _ = write!(
                out,
                r#","content_index":{content_index},"audio_end_ms":{audio_end_ms}}}"#
            );
        }
        ModelInput::CommitAudio => out.push_str(r#"{"type":"input_audio_buffer.commit"}"#),
        ModelInput::ClearAudio => out.push_str(r#"{"type":"input_audio_buffer.clear"}"#),
        _ => return None,
    }
    Some(out)
}

/// `{"type":"input_audio_buffer.append","audio":"<base64>"}`, built without serde.
pub(crate) fn audio_append_json(pcm: &[u8]) -> String {
    let b64 = realtime_protocol::audio::encode_base64(pcm);
    let mut s = String::with_capacity(b64.len() + 52);
    s.push_str(r#"{"type":"input_audio_buffer.append","audio":""#);
    s.push_str(&b64);
    s.push_str(r#""}"#);
    s
}

/// `s` as a JSON string: quoted, with `"`, `\` and control characters escaped.
fn push_str(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        // Every escaped byte is ASCII, so `start..i` ends on a character boundary.
        out.push_str(&s[start..i]);
        if short.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(short);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::encode;
    use crate::model::{ModelInput, UserContent, UserMessage};
    use crate::openai::{Adapter, Encoded};
    use realtime_protocol::{Beta, Ga};
    use serde_json::Value;

    /// The JSON of `input` through the dialect's typed events.
    fn typed<P: Adapter>(input: ModelInput) -> Value {
        let mut events = P::encode(input).unwrap();
        assert_eq!(events.len(), 1);
        let text = match events.remove(0) {
            Encoded::Event(e) => P::encode_client(&e).unwrap(),
            Encoded::Text(t) => t,
        };
        serde_json::from_str(&text).unwrap()
    }

    fn same_as_typed(input: ModelInput) {
        let text = encode(&input).unwrap_or_else(|| panic!("not written: {input:?}"));
        let ours: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(ours, typed::<Ga>(input.clone()), "GA: {text}");
        assert_eq!(ours, typed::<Beta>(input), "beta: {text}");
    }

    /// Strings that need escaping, and some that do not.
    const STRINGS: &[&str] = &[
        "",
        "Hello, world.",
        "say \"hi\" \\ back",
        "line\nbreak\r\ttab\u{8}\u{c}",
        "\u{0}\u{1}\u{1f}\u{7f}",
        "é, 日本語, 🎙️",
        "</script>",
    ];

    #[test]
    fn the_text_is_the_json_of_the_typed_events_in_both_dialects() {
        for s in STRINGS {
            same_as_typed(ModelInput::UserMessage(UserMessage::from(*s)));
            same_as_typed(ModelInput::UserMessage(UserMessage {
                parts: vec![
                    UserContent::Text((*s).into()),
                    UserContent::Text("two".into()),
                ],
            }));
            same_as_typed(ModelInput::ToolOutput {
                call_id: (*s).into(),
                output: format!("{{\"result\":\"{s}\"}}"),
            });
            same_as_typed(ModelInput::CreateResponse {
                event_id: (*s).into(),
            });
            same_as_typed(ModelInput::Truncate {
                item_id: (*s).into(),
                content_index: 0,
                audio_end_ms: 1234,
            });
        }
        same_as_typed(ModelInput::UserMessage(UserMessage { parts: Vec::new() }));
        same_as_typed(ModelInput::Truncate {
            item_id: "item_1".into(),
            content_index: u32::MAX,
            audio_end_ms: u64::MAX,
        });
        same_as_typed(ModelInput::CancelResponse);
        same_as_typed(ModelInput::CommitAudio);
        same_as_typed(ModelInput::ClearAudio);
    }

    #[test]
    fn every_control_character_is_escaped() {
        for c in (0u8..0x20).map(char::from) {
            let input = ModelInput::CreateResponse {
                event_id: format!("a{c}b"),
            };
            let text = encode(&input).unwrap();
            assert!(!text.contains(c), "{text:?}");
            same_as_typed(input);
        }
    }

    #[test]
    fn other_inputs_take_the_typed_events() {
        let image = ModelInput::UserMessage(UserMessage {
            parts: vec![
                UserContent::Text("look".into()),
                UserContent::Image {
                    url: "data:image/png;base64,AAAA".into(),
                    detail: None,
                },
            ],
        });
        assert!(encode(&image).is_none());
        assert!(encode(&ModelInput::DeleteItem {
            item_id: "item_1".into()
        })
        .is_none());
        assert!(encode(&ModelInput::Raw("{}".into())).is_none());
    }
}
