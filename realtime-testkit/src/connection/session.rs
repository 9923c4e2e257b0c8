//! The session object: its defaults per dialect, `session.update`, and what it says about turn
//! detection and output modalities.

use super::{Connection, End, Sink};
use crate::ids::IdGen;
use crate::model::{ItemKind, Part, Role};
use crate::vad::{Encoding, VadSettings};
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
            return self.missing_session(sink, eid).await;
        };
        let kind = update.get("type").and_then(Value::as_str);
        if self.ga() && self.transcription && kind.is_some_and(|k| k != "transcription") {
            let msg = "Cannot change the session type of a transcription session to 'realtime'.";
            return self.invalid_value(sink, msg, "session.type", eid).await;
        }
        if !self.ga() && self.transcription {
            let msg = "A transcription session is configured with 'transcription_session.update'.";
            return self.invalid_value(sink, msg, "type", eid).await;
        }
        if self.ga() && !self.transcription && kind == Some("transcription") {
            let msg = "Cannot change the session type of a realtime session to 'transcription'.";
            return self.invalid_value(sink, msg, "session.type", eid).await;
        }
        if let Some(t) = update.get("tracing") {
            let old = self.session.get("tracing").unwrap_or(&Value::Null);
            if !t.is_null() && !old.is_null() && t != old {
                let msg = "Tracing configuration cannot be modified once it has been set.";
                return self.invalid_value(sink, msg, "session.tracing", eid).await;
            }
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
        let encoding = self.input_encoding();
        self.vad.set_encoding(encoding);
        let ev = json!({"type": "session.updated", "session": self.session.clone()});
        let end = self.send(sink, ev).await;
        if !matches!(end, End::Continue) {
            return end;
        }
        self.list_mcp_servers(sink).await
    }

    /// Beta's `transcription_session.update`: only on a transcription connection.
    pub(super) async fn on_transcription_session_update(
        &mut self,
        sink: &mut Sink,
        raw: &Value,
        eid: Option<String>,
    ) -> End {
        if !self.transcription {
            let msg = "'transcription_session.update' is only valid in a transcription session (connect with ?intent=transcription).";
            return self.invalid_value(sink, msg, "type", eid).await;
        }
        let Some(update) = raw.get("session").filter(|s| s.is_object()) else {
            return self.missing_session(sink, eid).await;
        };
        merge(&mut self.session, update, false);
        self.sync_session();
        let encoding = self.input_encoding();
        self.vad.set_encoding(encoding);
        let ev = json!({"type": "transcription_session.updated", "session": self.session.clone()});
        self.send(sink, ev).await
    }

    async fn missing_session(&mut self, sink: &mut Sink, eid: Option<String>) -> End {
        self.send_error(
            sink,
            "invalid_request_error",
            Some("missing_required_parameter"),
            "Missing required parameter: 'session'.",
            Some("session"),
            eid,
        )
        .await
    }

    /// Whether the session asked for the transcript's log probabilities.
    pub(super) fn wants_logprobs(&self) -> bool {
        self.session
            .get("include")
            .and_then(Value::as_array)
            .is_some_and(|i| {
                i.iter()
                    .any(|x| x == "item.input_audio_transcription.logprobs")
            })
    }

    pub(super) fn turn_detection(&self) -> Option<&Value> {
        let td = if self.ga() {
            self.session.pointer("/audio/input/turn_detection")
        } else {
            self.session.get("turn_detection")
        };
        td.filter(|v| v.is_object())
    }

    /// The session's input audio encoding.
    pub(super) fn input_encoding(&self) -> Encoding {
        if self.ga() {
            ga_encoding(self.session.pointer("/audio/input/format"))
        } else {
            beta_encoding(self.session.get("input_audio_format"))
        }
    }

    /// The session's output audio encoding.
    pub(super) fn output_encoding(&self) -> Encoding {
        if self.ga() {
            ga_encoding(self.session.pointer("/audio/output/format"))
        } else {
            beta_encoding(self.session.get("output_audio_format"))
        }
    }

    /// The detector's settings when turn detection is `server_vad` or `semantic_vad`.
    pub(super) fn vad_settings(&self) -> Option<VadSettings> {
        let td = self.turn_detection()?;
        let num = |k: &str| td.get(k).and_then(Value::as_f64);
        let ms = |k: &str| td.get(k).and_then(Value::as_u64);
        match td
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("server_vad")
        {
            "server_vad" => Some(VadSettings {
                threshold: num("threshold").unwrap_or(0.5),
                prefix_padding_ms: ms("prefix_padding_ms").unwrap_or(300),
                silence_duration_ms: ms("silence_duration_ms").unwrap_or(500),
            }),
            // Semantic VAD waits longer or shorter for the end of a turn by eagerness.
            "semantic_vad" => Some(VadSettings {
                threshold: 0.5,
                prefix_padding_ms: 300,
                silence_duration_ms: match td.get("eagerness").and_then(Value::as_str) {
                    Some("low") => 1_000,
                    Some("high") => 250,
                    _ => 500,
                },
            }),
            _ => None,
        }
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

/// The session a connection starts with: the dialect's defaults, with a minted key's or an
/// accepted call's configuration (GA) merged over them.
pub(crate) fn initial_session(
    dialect: Dialect,
    ids: &mut IdGen,
    now: i64,
    over: Option<Value>,
) -> Value {
    let mut session = default_session(dialect, ids, now);
    if let Some(over) = over.filter(|_| dialect == Dialect::Ga) {
        merge_session(&mut session, &over);
    }
    session
}

/// A transcription session's defaults (`?intent=transcription`): server VAD, no model yet.
pub(crate) fn transcription_session(dialect: Dialect, ids: &mut IdGen) -> Value {
    let id = ids.next("sess");
    let vad = json!({"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 200});
    match dialect {
        Dialect::Beta => json!({
            "id": id,
            "object": "realtime.transcription_session",
            "input_audio_format": "pcm16",
            "input_audio_transcription": null,
            "turn_detection": vad,
            "input_audio_noise_reduction": null,
            "include": null,
        }),
        _ => json!({
            "type": "transcription",
            "object": "realtime.transcription_session",
            "id": id,
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "transcription": null,
                    "noise_reduction": null,
                    "turn_detection": vad,
                },
            },
            "include": null,
        }),
    }
}

/// Merges a GA session configuration over a session (nested objects merge).
pub(crate) fn merge_session(session: &mut Value, over: &Value) {
    merge(session, over, true);
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

/// A GA format object (`{"type": "audio/pcm", "rate": 24000}`, `audio/pcmu`, `audio/pcma`).
fn ga_encoding(format: Option<&Value>) -> Encoding {
    match format.and_then(|f| f.get("type")).and_then(Value::as_str) {
        Some("audio/pcmu") => Encoding::Ulaw,
        Some("audio/pcma") => Encoding::Alaw,
        _ => Encoding::Pcm16 {
            rate: format
                .and_then(|f| f.get("rate"))
                .and_then(Value::as_u64)
                .and_then(|r| u32::try_from(r).ok())
                .unwrap_or(24_000),
        },
    }
}

/// A beta format name (`pcm16`, `g711_ulaw`, `g711_alaw`).
fn beta_encoding(format: Option<&Value>) -> Encoding {
    match format.and_then(Value::as_str) {
        Some("g711_ulaw") => Encoding::Ulaw,
        Some("g711_alaw") => Encoding::Alaw,
        _ => Encoding::Pcm16 { rate: 24_000 },
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
