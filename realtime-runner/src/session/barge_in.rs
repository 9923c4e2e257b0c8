//! Interruptions: the application's `interrupt()`, the user speaking over the assistant
//! (server VAD), and a guardrail trip. Each cuts the audio items still playing at what was
//! heard, marks their responses interrupted (their late output is dropped, not played), and
//! cancels the streaming response when the server will not.

use super::event_loop::Loop;
use crate::events::SessionEvent;
use crate::model::ModelInput;
use realtime_protocol::ResponseId;
use tokio::time::Instant;

/// Why the assistant is interrupted.
pub(super) enum Cause {
    /// `RealtimeSession::interrupt`: also stops a response requested but not yet created.
    App,
    /// The user started speaking (server VAD).
    Speech,
    /// A guardrail tripped on this response: only its audio is cut.
    Guardrail(ResponseId),
}

impl<Ctx: Send + Sync + 'static> Loop<Ctx> {
    /// `RealtimeSession::interrupt`.
    pub(super) async fn interrupt_by_app(&mut self) {
        self.interrupt(Cause::App).await;
    }

    pub(super) async fn interrupt(&mut self, cause: Cause) {
        let only = match &cause {
            Cause::Guardrail(r) => Some(r.clone()),
            _ => None,
        };
        let bpm = self.out_bytes_per_ms();
        let cuts = self
            .audio
            .cut(&self.tracker, bpm, Instant::now(), only.as_ref());
        if !cuts.is_empty() {
            self.tracker.on_interrupted();
        }
        for cut in cuts {
            self.mark_interrupted(&cut.response_id);
            self.send(ModelInput::Truncate {
                item_id: cut.item_id.clone(),
                content_index: cut.content_index,
                audio_end_ms: cut.audio_end_ms,
            })
            .await;
            self.emit(SessionEvent::AudioInterrupted {
                item_id: cut.item_id,
                content_index: cut.content_index,
                response_id: cut.response_id,
                audio_end_ms: cut.audio_end_ms,
            });
        }
        // The response being streamed. The server cancels it by itself on speech when turn
        // detection says so; otherwise (or for the app and guardrails) the session does.
        let server_cancels =
            self.settings.server_interrupts() && !self.config.always_cancel_on_barge_in;
        let cancel = match self.responses.current_mut() {
            Some(rec) if only.as_ref().is_none_or(|r| r == &rec.id) => {
                let id = rec.id.clone();
                let wanted = !matches!(cause, Cause::Speech) || !server_cancels;
                let send = wanted && !rec.cancel_sent;
                if send {
                    rec.cancel_sent = true;
                }
                self.mark_interrupted(&id);
                send
            }
            _ => false,
        };
        if cancel {
            self.send(ModelInput::CancelResponse).await;
        }
        if matches!(cause, Cause::App) {
            self.responses.interrupt_pending();
        }
        // The cut and the cancel go out now, not after the frames still queued behind them.
        self.flush_now = true;
    }

    /// From now on nothing more of the response reaches the application as playable output;
    /// what already waits in the backlog is taken back.
    fn mark_interrupted(&mut self, response_id: &ResponseId) {
        let discarded = self.out.discard_audio_of(response_id);
        if let Some(rec) = self.responses.get_mut(response_id) {
            rec.interrupted = true;
            rec.dropped_audio_bytes += discarded;
        }
    }
}
