//! The session object: its defaults per dialect, `session.update`, and what it says about turn
//! detection and output modalities.

use super::{Connection, End, Sink};
use crate::ids::IdGen;
use crate::model::{ItemKind, Part, Role};
use realtime_protocol::Dialect;
use serde_json::{json, Value};

impl Connection {
    pub(super) async fn on_session_update(
        &mut self,
        sink: &mut Sink,
        raw: &Value,
        eid: Option<String>,
    ) -> End {
        let Some(update) = raw.get("session").and_then(Value::as_object) else {
            return self
                .send_error(
                    sink,
                    "invalid_request_error",
                    Some("missing_required_parameter"),
                    "Missing required parameter: 'session'.",
                    Some("session"),
                    eid,
                )
                .await;
        };
        if self.ga() && update.get("type").and_then(Value::as_str) == Some("transcription") {
            let msg = "Cannot change the session type of a realtime session to 'transcription'.";
            return self
                .send_error(
                    sink,
                    "invalid_request_error",
                    Some("invalid_value"),
                    msg,
                    Some("session.type"),
                    eid,
                )
                .await;
        }
        let new_voice = if self.ga() {
            raw.pointer("/session/audio/output/voice")
        } else {
            update.get("voice")
        };
        let old_voice = if self.ga() {
            self.session.pointer("/audio/output/voice")
        } else {
            self.session.get("voice")
        };
        if let Some(v) = new_voice {
            let has_assistant_audio = self.conversation.iter().any(|i| {
                matches!(&i.kind, ItemKind::Message { role: Role::Assistant, content } if content.iter().any(|p| matches!(p, Part::Audio { .. })))
            });
            if Some(v) != old_voice && has_assistant_audio {
                let msg = "Cannot update a conversation's voice if assistant audio is present.";
                return self
                    .send_error(
                        sink,
                        "invalid_request_error",
                        Some("cannot_update_voice"),
                        msg,
                        Some("session.voice"),
                        eid,
                    )
                    .await;
            }
        }
        let update = Value::Object(update.clone());
        let deep = self.ga();
        merge(&mut self.session, &update, deep);
        self.sync_session();
        let ev = json!({"type": "session.updated", "session": self.session.clone()});
        self.send(sink, ev).await
    }

    pub(super) fn turn_detection(&self) -> Option<&Value> {
        let td = if self.ga() {
            self.session.pointer("/audio/input/turn_detection")
        } else {
            self.session.get("turn_detection")
        };
        td.filter(|v| v.is_object())
    }

    pub(super) fn output_audio(&self, response: Option<&Value>) -> bool {
        let key = if self.ga() {
            "output_modalities"
        } else {
            "modalities"
        };
        let modalities = response
            .and_then(|r| r.get(key))
            .or_else(|| self.session.get(key));
        match modalities.and_then(Value::as_array) {
            Some(m) => m.iter().any(|v| v == "audio"),
            None => true,
        }
    }
}

/// Merges a session update into the session: objects merge recursively in GA (nested
/// `audio.input`…), everything else is replaced.
pub(super) fn merge(session: &mut Value, update: &Value, deep: bool) {
    let (Some(s), Some(u)) = (session.as_object_mut(), update.as_object()) else {
        return;
    };
    for (k, v) in u {
        match (s.get_mut(k), v) {
            (Some(existing @ Value::Object(_)), Value::Object(_))
                if deep && k != "turn_detection" && k != "format" =>
            {
                merge(existing, v, deep)
            }
            _ => {
                s.insert(k.clone(), v.clone());
            }
        }
    }
}

pub(super) fn default_session(dialect: Dialect, ids: &mut IdGen, now: i64) -> Value {
    let id = ids.next("sess");
    match dialect {
        Dialect::Beta => json!({
            "id": id,
            "object": "realtime.session",
            "model": "gpt-4o-realtime-preview",
            "modalities": ["text", "audio"],
            "instructions": "",
            "voice": "alloy",
            "input_audio_format": "pcm16",
            "output_audio_format": "pcm16",
            "input_audio_transcription": null,
            "turn_detection": {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 200, "create_response": true, "interrupt_response": true},
            "input_audio_noise_reduction": null,
            "tools": [],
            "tool_choice": "auto",
            "temperature": 0.8,
            "max_response_output_tokens": "inf",
            "speed": 1.0,
            "tracing": null,
        }),
        _ => json!({
            "type": "realtime",
            "object": "realtime.session",
            "id": id,
            "model": "gpt-realtime",
            "output_modalities": ["audio"],
            "instructions": "",
            "tools": [],
            "tool_choice": "auto",
            "max_output_tokens": "inf",
            "tracing": null,
            "prompt": null,
            "expires_at": now + 3600,
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "transcription": null,
                    "noise_reduction": null,
                    "turn_detection": {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 200, "idle_timeout_ms": null, "create_response": true, "interrupt_response": true},
                },
                "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin", "speed": 1.0},
            },
            "include": null,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ga_merge_is_deep_but_replaces_turn_detection() {
        let mut s = json!({"audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 0.5}, "format": {"type": "audio/pcm"}}}});
        merge(
            &mut s,
            &json!({"audio": {"input": {"turn_detection": {"type": "semantic_vad"}}}}),
            true,
        );
        assert_eq!(
            s,
            json!({"audio": {"input": {"turn_detection": {"type": "semantic_vad"}, "format": {"type": "audio/pcm"}}}})
        );
        merge(
            &mut s,
            &json!({"audio": {"input": {"turn_detection": null}}}),
            true,
        );
        assert_eq!(s["audio"]["input"]["turn_detection"], Value::Null);
    }
}
