//! [`TwilioBridge`]: one phone call, from Twilio's `start` to its `stop`, served by one
//! [`RealtimeSession`].
//!
//! - µ-law 8 kHz end to end: the runner must be configured for G.711 µ-law in and out
//!   ([`crate::phone_config`]); payloads are forwarded as they are, never decoded or resampled.
//! - Playback truth from marks: a mark follows every 20 ms chunk sent; the echoes feed the
//!   session's [`realtime_runner::PlaybackTracker`], so a barge-in truncates at what the caller
//!   heard.
//! - Barge-in: on the session's `AudioInterrupted` the bridge sends `clear` at once (ahead of
//!   any queued audio) and forwards no more audio of that item.
//! - Bounded both ways: the caller's audio waits for the session (Twilio's socket absorbs it);
//!   audio to Twilio goes through a bounded queue written by a task of its own, and when a slow
//!   socket lets it fill, chunks are dropped and counted, so the session loop never waits on
//!   Twilio.

use crate::call::{finish_writer, wait_for_start, write_to_twilio, Call, Control};
use crate::messages::{self, Inbound, Outbound, Parsed};
use crate::socket::TwilioSocketMessage;
use crate::types::{BridgeError, BridgeOptions, CallEnd, CallEvent, CallStart, CallSummary};
use base64::Engine as _;
use futures_util::{Sink, Stream, StreamExt};
use realtime_runner::{AudioFormat, RealtimeRunner, RealtimeSession, SessionEvent};
use tokio::sync::mpsc;
use tokio_util::task::AbortOnDropHandle;

/// Serves phone calls with one runner: one [`TwilioBridge::serve`] per call, any number at
/// the same time. Cheap to clone.
#[derive(Debug)]
pub struct TwilioBridge<Ctx> {
    runner: RealtimeRunner<Ctx>,
    options: BridgeOptions,
}

impl<Ctx> Clone for TwilioBridge<Ctx> {
    fn clone(&self) -> Self {
        Self {
            runner: self.runner.clone(),
            options: self.options.clone(),
        }
    }
}

impl<Ctx: Send + Sync + 'static> TwilioBridge<Ctx> {
    /// A bridge over `runner`, which must be configured for G.711 µ-law in and out
    /// ([`crate::phone_config`]).
    ///
    /// # Errors
    /// [`BridgeError::AudioFormat`] when it is not.
    pub fn new(runner: RealtimeRunner<Ctx>) -> Result<Self, BridgeError> {
        let s = &runner.config().settings;
        let ulaw = Some(AudioFormat::G711Ulaw);
        if s.input_audio_format != ulaw || s.output_audio_format != ulaw {
            return Err(BridgeError::AudioFormat {
                input: s.input_audio_format,
                output: s.output_audio_format,
            });
        }
        Ok(Self {
            runner,
            options: BridgeOptions::default(),
        })
    }

    /// Sets the options.
    pub fn with_options(mut self, options: BridgeOptions) -> Self {
        self.options = options;
        self
    }

    /// The runner.
    pub fn runner(&self) -> &RealtimeRunner<Ctx> {
        &self.runner
    }

    /// Serves one call on `socket` (Twilio's WebSocket, any `Stream + Sink` of text-capable
    /// messages) until it ends: waits for `start`, makes the session's context with
    /// `make_ctx`, and runs the session. `on_event` sees every [`CallEvent`] with the session
    /// (to act on a key press, say); keep it quick, it runs on the call's loop.
    ///
    /// # Errors
    /// No `start` came, or the session could not start. Problems after that end the call
    /// and are reported in the [`CallSummary`].
    pub async fn serve<S, M, E, F, H>(
        &self,
        socket: S,
        make_ctx: F,
        mut on_event: H,
    ) -> Result<CallSummary, BridgeError>
    where
        S: Stream<Item = Result<M, E>> + Sink<M> + Send + 'static,
        M: TwilioSocketMessage,
        E: std::fmt::Display,
        F: FnOnce(&CallStart) -> Ctx,
        H: FnMut(&RealtimeSession<Ctx>, &CallEvent),
    {
        let (sink, mut stream) = socket.split();
        let (control_tx, control_rx) = mpsc::channel::<Control<M>>(8);
        let (out_tx, out_rx) = mpsc::channel::<(u64, M)>(self.options.outbound_queue.max(2));
        let writer =
            AbortOnDropHandle::new(tokio::spawn(write_to_twilio(sink, control_rx, out_rx)));
        let mut call = Call::<M>::new(out_tx);
        let start = tokio::time::timeout(
            self.options.start_timeout,
            wait_for_start(&mut stream, &mut call),
        )
        .await;
        let start = match start {
            Ok(Ok(s)) => s,
            Ok(Err(why)) => return Err(BridgeError::NoStart(why)),
            Err(_) => return Err(BridgeError::NoStart("timed out".into())),
        };
        tracing::info!(call_sid = %start.call_sid, stream_sid = %start.stream_sid, "call started");
        call.stream_sid = start.stream_sid.clone();
        let ctx = make_ctx(&start);
        let session = match self.runner.run(ctx).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(call_sid = %start.call_sid, error = %e, "the call's session could not start");
                let _ = control_tx
                    .send(Control::Close(M::close(1011, "session failed to start")))
                    .await;
                finish_writer(writer, self.options.close_timeout).await;
                return Err(BridgeError::Session(e));
            }
        };
        on_event(&session, &CallEvent::Started(start.clone()));
        let end = self
            .run_call(&session, &mut stream, &mut call, &control_tx, &mut on_event)
            .await;
        session.close().await;
        match &end {
            CallEnd::Stopped => {
                let _ = control_tx.send(Control::Close(M::close(1000, ""))).await;
            }
            CallEnd::SessionEnded { reason } => {
                tracing::warn!(call_sid = %start.call_sid, %reason, "the call's session ended; closing Twilio's socket");
                let _ = control_tx
                    .send(Control::Close(M::close(1011, "session ended")))
                    .await;
            }
            CallEnd::SocketClosed => {}
        }
        drop(control_tx);
        drop(call.out);
        finish_writer(writer, self.options.close_timeout).await;
        tracing::info!(call_sid = %start.call_sid, end = ?end, "call ended");
        Ok(CallSummary {
            call_sid: start.call_sid,
            stream_sid: start.stream_sid,
            end,
            media_in: call.counts.media_in,
            media_out: call.counts.media_out,
            marks_played: call.counts.marks_played,
            clears: call.counts.clears,
            outbound_dropped: call.counts.outbound_dropped,
            unknown_messages: call.counts.unknown,
            malformed_messages: call.counts.malformed,
        })
    }

    async fn run_call<St, M, E, H>(
        &self,
        session: &RealtimeSession<Ctx>,
        stream: &mut St,
        call: &mut Call<M>,
        control: &mpsc::Sender<Control<M>>,
        on_event: &mut H,
    ) -> CallEnd
    where
        St: Stream<Item = Result<M, E>> + Unpin,
        M: TwilioSocketMessage,
        E: std::fmt::Display,
        H: FnMut(&RealtimeSession<Ctx>, &CallEvent),
    {
        let tracker = session.playback_tracker();
        loop {
            tokio::select! {
                biased;
                frame = stream.next() => {
                    let text = match frame {
                        Some(Ok(m)) if m.is_close() => return CallEnd::SocketClosed,
                        Some(Ok(m)) => match m.as_text() {
                            Some(t) => t.to_owned(),
                            None => continue,
                        },
                        Some(Err(e)) => {
                            tracing::debug!(error = %e, "Twilio's socket failed");
                            return CallEnd::SocketClosed;
                        }
                        None => return CallEnd::SocketClosed,
                    };
                    match messages::parse(&text) {
                        Parsed::Message(Inbound::Stop { .. }) => return CallEnd::Stopped,
                        Parsed::Message(Inbound::Media { media, .. }) => {
                            if media.track.is_empty() || media.track == "inbound" {
                                call.counts.media_in += 1;
                                match base64::engine::general_purpose::STANDARD.decode(media.payload.as_bytes()) {
                                    Ok(ulaw) => {
                                        if let Err(e) = session.send_audio(&ulaw, false).await {
                                            return CallEnd::SessionEnded { reason: e.to_string() };
                                        }
                                    }
                                    Err(e) => {
                                        call.counts.malformed += 1;
                                        on_event(session, &CallEvent::MalformedMessage { error: format!("media payload is not base64: {e}") });
                                    }
                                }
                            }
                        }
                        Parsed::Message(Inbound::Mark { mark, .. }) => {
                            if let Some(played) = call.marks.echo(&mark.name) {
                                call.counts.marks_played += 1;
                                tracker.on_play_bytes(&played.item_id, played.content_index, played.bytes);
                            }
                        }
                        Parsed::Message(Inbound::Dtmf { dtmf, .. }) => {
                            on_event(session, &CallEvent::Dtmf { digit: dtmf.digit.clone() });
                            if self.options.dtmf_to_model {
                                let text = format!("The caller pressed {} on the keypad.", dtmf.digit);
                                if let Err(e) = session.send_message(text).await {
                                    return CallEnd::SessionEnded { reason: e.to_string() };
                                }
                            }
                        }
                        Parsed::Message(_) => {}
                        Parsed::Unknown { event } => {
                            call.counts.unknown += 1;
                            tracing::debug!(%event, "ignoring an unknown Twilio message");
                            on_event(session, &CallEvent::UnknownMessage { event });
                        }
                        Parsed::Malformed { error } => {
                            call.counts.malformed += 1;
                            tracing::warn!(%error, "ignoring a malformed Twilio message");
                            on_event(session, &CallEvent::MalformedMessage { error });
                        }
                    }
                }
                event = session.next_event() => {
                    let Some(event) = event else {
                        return CallEnd::SessionEnded { reason: "the session's events ended".into() };
                    };
                    match &event {
                        SessionEvent::Audio { pcm, item_id, content_index, .. } if !call.interrupted.contains(item_id) => {
                            if let Some(total) = call.forward(pcm, item_id, *content_index) {
                                on_event(session, &CallEvent::OutboundDropped { total });
                            }
                        }
                        SessionEvent::AudioInterrupted { item_id, .. } if !call.interrupted.contains(item_id) => {
                            {
                                call.remember_interrupted(item_id);
                                call.generation += 1;
                                call.marks.clear();
                                call.counts.clears += 1;
                                let message = M::text(Outbound::clear(call.stream_sid.as_str()).to_json());
                                let _ = control.send(Control::Clear { message, generation: call.generation }).await;
                                tracker.on_interrupted();
                                on_event(session, &CallEvent::Cleared { item_id: item_id.clone() });
                            }
                        }
                        _ => {}
                    }
                    let closed = matches!(event, SessionEvent::Closed);
                    on_event(session, &CallEvent::Session(event));
                    if closed {
                        return CallEnd::SessionEnded { reason: "the session closed".into() };
                    }
                }
            }
        }
    }
}
