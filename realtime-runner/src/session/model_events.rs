//! The model's events, turned into session events through the records: a response's
//! events belong to its record's agent, audio and text of an interrupted response are
//! dropped (and counted), and the history follows the server's items, including the cut of
//! a truncated reply.

use super::barge_in::Cause;
use super::event_loop::{Flow, Loop};
use crate::events::{ErrorEvent, ErrorKind, SessionEvent};
use crate::history::Change;
use crate::model::{ModelEvent, ModelInput};
use realtime_protocol::{ItemId, ResponseId};

impl<Ctx: Send + Sync + 'static> Loop<Ctx> {
    pub(super) async fn on_model_event(&mut self, ev: ModelEvent) -> Flow {
        match ev {
            ModelEvent::Mcp(m) => self.on_mcp(m).await,
            ModelEvent::AudioDelta {
                response_id,
                item_id,
                content_index,
                pcm,
            } => self.on_audio(response_id, item_id, content_index, pcm),
            ModelEvent::AudioDone {
                item_id,
                content_index,
            } => {
                self.audio.on_done(&item_id, content_index);
                self.emit(SessionEvent::AudioEnd {
                    item_id,
                    content_index,
                });
            }
            ModelEvent::TranscriptDelta {
                response_id,
                item_id,
                content_index,
                delta,
            } => self.on_assistant_text(response_id, item_id, content_index, delta, true),
            ModelEvent::TextDelta {
                response_id,
                item_id,
                content_index,
                delta,
            } => self.on_assistant_text(response_id, item_id, content_index, delta, false),
            ModelEvent::ResponseCreated { response_id } => {
                let guard = self.new_guard(&self.agent);
                let rec = self
                    .responses
                    .on_created(response_id.clone(), &self.agent, guard);
                let agent = rec.agent.name().to_owned();
                // Interrupted before it existed: cancelled as soon as it does.
                let cancel = rec.interrupted && !rec.cancel_sent;
                if cancel {
                    rec.cancel_sent = true;
                }
                self.emit(SessionEvent::AgentStart { agent, response_id });
                if cancel {
                    self.send(ModelInput::CancelResponse).await;
                }
            }
            ModelEvent::ResponseDone {
                response_id,
                status,
                usage,
            } => {
                let (agent, dropped) = match self.responses.on_done(&response_id) {
                    Some(rec) => (
                        rec.agent.name().to_owned(),
                        (rec.dropped_audio_bytes, rec.dropped_text_chars),
                    ),
                    None => (self.agent.name().to_owned(), (0, 0)),
                };
                if let Some(u) = usage {
                    if let Ok(mut total) = self.shared.usage.lock() {
                        total.add(&u);
                    }
                    self.emit(SessionEvent::Usage { usage: u });
                }
                if dropped != (0, 0) {
                    self.emit(SessionEvent::OutputDropped {
                        response_id: response_id.clone(),
                        audio_bytes: dropped.0,
                        text_chars: dropped.1,
                    });
                }
                self.emit(SessionEvent::AgentEnd {
                    agent,
                    response_id: response_id.clone(),
                    status,
                });
                self.final_guard_check(&response_id);
                self.try_create_response().await;
            }
            ModelEvent::FunctionCall {
                call_id,
                name,
                arguments,
                response_id,
                ..
            } => self.on_call(call_id, name, arguments, response_id).await,
            ModelEvent::ItemUpdated {
                item,
                previous_item_id,
            } => {
                let updated = self.hist(|h| {
                    let (change, at) = h.upsert(item, previous_item_id.as_ref());
                    h.at(at).cloned().map(|item| (change, item))
                });
                if let Some((change, item)) = updated.flatten() {
                    let ev = match change {
                        Change::Added => SessionEvent::HistoryAdded { item },
                        Change::Updated => SessionEvent::HistoryUpdated { item },
                    };
                    self.emit(ev);
                }
            }
            ModelEvent::ItemDeleted { item_id } => {
                if self.hist(|h| h.remove(&item_id)).unwrap_or(false) {
                    self.emit(SessionEvent::HistoryDeleted { item_id });
                }
            }
            ModelEvent::ItemTruncated {
                item_id,
                content_index,
                audio_end_ms,
            } => self.on_item_truncated(item_id, content_index, audio_end_ms),
            ModelEvent::SessionCreated { session_id } => {
                tracing::Span::current().record("session_id", session_id.as_str());
                tracing::debug!(session_id, "session created");
            }
            ModelEvent::SessionUpdated | ModelEvent::SpeechStopped { .. } => {}
            ModelEvent::InputTranscriptDelta { item_id, delta } => {
                self.emit(SessionEvent::InputTranscriptDelta { item_id, delta });
            }
            ModelEvent::InputTranscriptCompleted {
                item_id,
                content_index,
                transcript,
            } => {
                let updated = self
                    .hist(|h| {
                        h.set_input_transcript(&item_id, content_index, &transcript)
                            .and_then(|i| h.at(i).cloned())
                    })
                    .flatten();
                self.emit(SessionEvent::InputTranscriptCompleted {
                    item_id,
                    transcript,
                });
                if let Some(item) = updated {
                    self.emit(SessionEvent::HistoryUpdated { item });
                }
            }
            ModelEvent::SpeechStarted { .. } => self.interrupt(Cause::Speech).await,
            ModelEvent::InputAudioTimeout {
                item_id,
                audio_start_ms,
                audio_end_ms,
            } => self.emit(SessionEvent::InputAudioTimeout {
                item_id,
                audio_start_ms,
                audio_end_ms,
            }),
            ModelEvent::Error(e) => {
                let mut released = false;
                if let Some(event_id) = &e.event_id {
                    // Our response.create failed: released, and retried after the active
                    // response when that was the reason.
                    released = self.responses.request_failed(event_id, e.code.as_deref())
                        && e.code.as_deref() != Some("conversation_already_has_active_response");
                }
                let message = match &e.code {
                    Some(code) => format!("server error ({code}): {}", e.message),
                    None => format!("server error: {}", e.message),
                };
                let mut err = ErrorEvent::new(ErrorKind::Server, message);
                err.server = Some(e);
                self.emit(SessionEvent::Error(err));
                if released {
                    // A response wanted meanwhile (or a tool follow-up) goes out now.
                    self.try_create_response().await;
                }
            }
            ModelEvent::DecodeError { message, raw } => {
                let mut err = ErrorEvent::new(ErrorKind::Decode, message);
                err.raw = raw;
                self.emit(SessionEvent::Error(err));
            }
            ModelEvent::Raw(raw) => self.emit(SessionEvent::Raw(raw)),
            ModelEvent::Closed(err) => return self.on_disconnect(err),
        }
        Flow::Continue
    }

    fn on_audio(
        &mut self,
        response_id: ResponseId,
        item_id: ItemId,
        content_index: u32,
        pcm: Vec<u8>,
    ) {
        if let Some(rec) = self.responses.get_mut(&response_id) {
            if rec.interrupted {
                rec.dropped_audio_bytes += pcm.len();
                return;
            }
        }
        let bpm = self.out_bytes_per_ms();
        let playable = self
            .audio
            .on_delta(&response_id, &item_id, content_index, pcm.len(), bpm);
        if !playable {
            if let Some(rec) = self.responses.get_mut(&response_id) {
                rec.dropped_audio_bytes += pcm.len();
            }
            return;
        }
        self.assistant_audio = true;
        self.emit(SessionEvent::Audio {
            pcm,
            item_id,
            content_index,
            response_id,
        });
    }

    /// Assistant text as it streams: the transcript of its audio (`audio`) or its text output.
    fn on_assistant_text(
        &mut self,
        response_id: ResponseId,
        item_id: ItemId,
        content_index: u32,
        delta: String,
        audio: bool,
    ) {
        let debounce = self.config.guardrail_debounce_chars;
        let check_due = match self.responses.get_mut(&response_id) {
            Some(rec) if rec.interrupted => {
                rec.dropped_text_chars += delta.chars().count();
                return;
            }
            Some(rec) => rec.guard.push(&delta, debounce),
            None => false,
        };
        self.hist(|h| h.append_text(&item_id, content_index, &delta, audio));
        if check_due {
            self.spawn_guard_check(&response_id);
        }
        let ev = if audio {
            SessionEvent::TranscriptDelta {
                item_id,
                response_id,
                delta,
            }
        } else {
            SessionEvent::TextDelta {
                item_id,
                response_id,
                delta,
            }
        };
        self.emit(ev);
    }

    /// The server truncated an item's audio (and deleted its transcript): the history keeps
    /// what the user heard, marked as cut there.
    fn on_item_truncated(&mut self, item_id: ItemId, content_index: u32, audio_end_ms: u64) {
        let received = self
            .audio
            .received_ms(&item_id, content_index, self.out_bytes_per_ms());
        let updated = self
            .hist(|h| {
                h.truncate_audio(&item_id, content_index, audio_end_ms, received)
                    .and_then(|i| h.at(i).cloned())
            })
            .flatten();
        if let Some(item) = updated {
            self.emit(SessionEvent::HistoryUpdated { item });
        }
    }
}
