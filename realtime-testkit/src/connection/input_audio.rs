//! The input audio buffer: append, commit, and the speech events of turn detection.

use super::{Connection, End, Sink};
use crate::model::{Item, ItemKind, Part, Role};
use crate::responder::CommittedAudio;
use crate::vad::VadEvent;
use serde_json::{json, Value};

impl Connection {
    pub(super) async fn on_audio_append(
        &mut self,
        sink: &mut Sink,
        raw: &Value,
        eid: Option<String>,
    ) -> End {
        let audio = raw.get("audio").and_then(Value::as_str).unwrap_or_default();
        let before = self.input_audio.len();
        match realtime_protocol::audio::decode_base64_into(audio, &mut self.input_audio) {
            Ok(()) => self.hear(sink, before).await,
            Err(_) => {
                // A refused append leaves the buffer as it was.
                self.input_audio.truncate(before);
                let msg = "Invalid 'audio'. Expected base64-encoded audio bytes.";
                self.invalid_value(sink, msg, "audio", eid).await
            }
        }
    }

    /// Runs server VAD over the audio appended from `from` on, when the session's turn
    /// detection is VAD: speech starts and stops as the detector hears it, with what follows
    /// (an interrupted response, a commit, a new response).
    async fn hear(&mut self, sink: &mut Sink, from: usize) -> End {
        let Some(settings) = self.vad_settings() else {
            return End::Continue;
        };
        let heard_from = self.vad.position_ms();
        let events = self.vad.push(&self.input_audio[from..], &settings);
        for event in events {
            let end = match event {
                VadEvent::Started { audio_start_ms } => {
                    self.on_speech_started(sink, audio_start_ms).await
                }
                VadEvent::Stopped { audio_end_ms } => {
                    self.on_speech_stopped(sink, audio_end_ms).await
                }
            };
            if !matches!(end, End::Continue) {
                return end;
            }
        }
        self.idle_check(sink, heard_from).await
    }

    /// GA `server_vad` with `idle_timeout_ms`: when the user stays silent that long (in
    /// appended audio) with no response running, the service reports
    /// `input_audio_buffer.timeout_triggered`, commits the buffer and answers.
    /// `heard_from` is where this append's audio began.
    async fn idle_check(&mut self, sink: &mut Sink, heard_from: u64) -> End {
        let timeout = self
            .turn_detection()
            .filter(|td| td.get("type").and_then(Value::as_str) == Some("server_vad"))
            .and_then(|td| td.get("idle_timeout_ms"))
            .and_then(Value::as_u64);
        let Some(timeout) = timeout.filter(|_| self.ga()) else {
            self.idle_since = None;
            return End::Continue;
        };
        if self.active.is_some() || self.vad.is_speaking() {
            self.idle_since = None;
            return End::Continue;
        }
        let now = self.vad.position_ms();
        let since = *self.idle_since.get_or_insert(heard_from);
        if now.saturating_sub(since) < timeout {
            return End::Continue;
        }
        self.idle_since = None;
        let id = self.ids.next("item");
        let ev = json!({"type": "input_audio_buffer.timeout_triggered", "audio_start_ms": since, "audio_end_ms": now, "item_id": id});
        let end = self.send(sink, ev).await;
        if !matches!(end, End::Continue) {
            return end;
        }
        let end = self
            .on_audio_commit(sink, None, Some((id, now.min(60_000))))
            .await;
        if !matches!(end, End::Continue) {
            return end;
        }
        self.start_response(sink, None).await
    }

    /// Commits the buffer as a user item. `vad_item` is the id VAD announced, if VAD commits.
    pub(super) async fn on_audio_commit(
        &mut self,
        sink: &mut Sink,
        eid: Option<String>,
        vad_item: Option<(String, u64)>,
    ) -> End {
        let per_ms = self.input_encoding().bytes_per_ms();
        let bytes = match &vad_item {
            // Injected VAD commits what it says it heard, even when the client streamed nothing.
            Some((_, ms)) => self.input_audio.len().max((*ms as f64 * per_ms) as usize),
            None => self.input_audio.len(),
        };
        if vad_item.is_none() && (bytes as f64) < 100.0 * per_ms {
            let msg = format!(
                "Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, but buffer only has {:.2}ms of audio.",
                bytes as f64 / per_ms
            );
            return self
                .send_error(
                    sink,
                    "invalid_request_error",
                    Some("input_audio_buffer_commit_empty"),
                    &msg,
                    None,
                    eid,
                )
                .await;
        }
        self.input_audio.clear();
        if vad_item.is_none() {
            self.vad.reset_speech();
        }
        let id = vad_item
            .map(|(id, _)| id)
            .unwrap_or_else(|| self.ids.next("item"));
        let transcribe = if self.ga() {
            self.session
                .pointer("/audio/input/transcription")
                .is_some_and(Value::is_object)
        } else {
            self.session
                .get("input_audio_transcription")
                .is_some_and(Value::is_object)
        };
        let committed = CommittedAudio {
            item_id: id.clone(),
            duration_ms: (bytes as f64 / per_ms) as u64,
            index: self.audio_turns,
            dialect: self.dialect,
        };
        self.audio_turns += 1;
        let transcript = match self.config.responder.transcribe(&committed).await {
            Some(t) => t,
            None => self.next_transcript.clone(),
        };
        let item = Item {
            id: id.clone(),
            kind: ItemKind::Message {
                role: Role::User,
                content: vec![Part::InputAudio {
                    audio_bytes: bytes,
                    transcript: None,
                }],
            },
            status: "completed",
        };
        let prev = self.insert(item, None).unwrap_or_default();
        let end = self.send(sink, json!({"type": "input_audio_buffer.committed", "previous_item_id": prev, "item_id": id})).await;
        if !matches!(end, End::Continue) {
            return end;
        }
        let end = self.announce_item(sink, &id, prev).await;
        if !matches!(end, End::Continue) {
            return end;
        }
        // The transcript is known to the responder either way; the event only when asked for.
        if let Some(i) = self.index_of(&id) {
            if let ItemKind::Message { content, .. } = &mut self.conversation[i].kind {
                if let Some(Part::InputAudio { transcript: t, .. }) = content.get_mut(0) {
                    *t = Some(transcript.clone());
                }
            }
            self.sync_conversation();
        }
        if transcribe && self.transcription {
            // A transcription session streams the transcript word by word first.
            let logprobs = self.wants_logprobs();
            for w in super::streaming::words(&transcript) {
                let mut ev = json!({"type": "conversation.item.input_audio_transcription.delta", "item_id": id, "content_index": 0, "delta": w});
                if logprobs {
                    ev["logprobs"] = json!([token_logprob(&w)]);
                }
                let end = self.send(sink, ev).await;
                if !matches!(end, End::Continue) {
                    return end;
                }
            }
        }
        if transcribe {
            let mut ev = json!({"type": "conversation.item.input_audio_transcription.completed", "item_id": id, "content_index": 0, "transcript": transcript});
            if self.transcription && self.wants_logprobs() {
                ev["logprobs"] = Value::Array(
                    super::streaming::words(&transcript)
                        .iter()
                        .map(|w| token_logprob(w))
                        .collect(),
                );
            }
            ev["usage"] = json!({"type": "duration", "seconds": (bytes as f64 / per_ms / 100.0).round() / 10.0});
            return self.send(sink, ev).await;
        }
        End::Continue
    }

    pub(super) async fn on_speech_started(&mut self, sink: &mut Sink, audio_start_ms: u64) -> End {
        let id = self.ids.next("item");
        self.pending_speech_item = Some(id.clone());
        let end = self.send(sink, json!({"type": "input_audio_buffer.speech_started", "audio_start_ms": audio_start_ms, "item_id": id})).await;
        if !matches!(end, End::Continue) {
            return end;
        }
        let interrupt = self
            .turn_detection()
            .is_some_and(|td| td.get("interrupt_response").and_then(Value::as_bool) != Some(false));
        if interrupt && self.active.is_some() {
            return self.cancel_active(sink, "turn_detected").await;
        }
        End::Continue
    }

    pub(super) async fn on_speech_stopped(&mut self, sink: &mut Sink, audio_end_ms: u64) -> End {
        let id = self
            .pending_speech_item
            .take()
            .unwrap_or_else(|| self.ids.next("item"));
        let end = self.send(sink, json!({"type": "input_audio_buffer.speech_stopped", "audio_end_ms": audio_end_ms, "item_id": id})).await;
        if !matches!(end, End::Continue) {
            return end;
        }
        let end = self
            .on_audio_commit(sink, None, Some((id, audio_end_ms.min(60_000))))
            .await;
        if !matches!(end, End::Continue) {
            return end;
        }
        let create = !self.transcription
            && self.turn_detection().is_some_and(|td| {
                td.get("create_response").and_then(Value::as_bool) != Some(false)
            });
        if create && self.active.is_none() {
            return self.start_response(sink, None).await;
        }
        End::Continue
    }
}

/// A token's log probability as the fake reports it: deterministic, from the token's length.
fn token_logprob(token: &str) -> Value {
    json!({"token": token, "logprob": -0.01 * token.chars().count() as f64, "bytes": token.bytes().collect::<Vec<u8>>()})
}
