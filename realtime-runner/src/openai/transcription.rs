//! Transcription sessions over the OpenAI connection: `?intent=transcription`, the settings as
//! each dialect takes them (GA `session.update` with `type: "transcription"`, beta
//! `transcription_session.update`), and the server's events read into
//! [`TranscriptionEvent`]s.

use super::OpenAIRealtimeModel;
use crate::error::RunnerError;
use crate::events::{ErrorEvent, ErrorKind};
use crate::model::{ModelConnectOptions, ServerError};
use crate::settings::{SessionSettings, TurnDetection};
use crate::transcriber::{
    RealtimeTranscriber, TokenLogprob, TranscriberInput, TranscriberSender, TranscriberSettings,
    TranscriptionEvent,
};
use async_trait::async_trait;
use futures_util::Stream;
use realtime_protocol::{beta, ga, Beta, Dialect, Ga, Protocol};
use realtime_transport::{EventReceiver, EventSender};
use serde_json::{json, Map, Value};
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// What differs between the dialects for a transcription session.
trait TxDialect: Protocol {
    /// The client event that applies `s`, as JSON text.
    fn update(s: &TranscriberSettings) -> String;
    /// The events a server event means.
    fn decode(ev: Self::ServerEvent, out: &mut VecDeque<TranscriptionEvent>);
}

/// The realtime settings that carry a transcriber's (the dialect code knows their wire form).
fn as_session(s: &TranscriberSettings) -> SessionSettings {
    SessionSettings {
        input_audio_format: Some(s.input_audio_format),
        input_transcription: Some(Some(s.transcription.clone())),
        noise_reduction: Some(s.noise_reduction),
        turn_detection: Some(s.turn_detection.clone()),
        ..SessionSettings::default()
    }
}

/// Turn detection without the response settings, which a transcription session has not.
fn turn_detection(v: Option<&Value>, td: Option<&TurnDetection>) -> Value {
    match (v, td) {
        (Some(Value::Object(o)), Some(_)) => {
            let mut o = o.clone();
            for k in ["create_response", "interrupt_response", "idle_timeout_ms"] {
                o.remove(k);
            }
            Value::Object(o)
        }
        _ => Value::Null,
    }
}

fn pick(from: &Value, keys: &[&str]) -> Map<String, Value> {
    keys.iter()
        .filter_map(|k| from.get(*k).map(|v| ((*k).to_owned(), v.clone())))
        .collect()
}

fn logprobs(l: Option<Vec<(String, f64)>>) -> Vec<TokenLogprob> {
    l.unwrap_or_default()
        .into_iter()
        .map(|(token, logprob)| TokenLogprob { token, logprob })
        .collect()
}

/// The transcription events of a server event: the same events in both dialects, but of each
/// dialect's own types (`$updated`: the event that confirms the settings).
macro_rules! decode_events {
    ($d:ident, $updated:ident, $ev:expr, $out:expr) => {{
        use $d::ServerEvent as E;
        let lp = |l: Option<Vec<$d::LogProbProperties>>| {
            logprobs(l.map(|v| v.into_iter().map(|p| (p.token, p.logprob)).collect()))
        };
        match $ev {
            E::$updated(_) => $out.push_back(TranscriptionEvent::Ready),
            E::InputAudioBufferSpeechStarted(e) => {
                $out.push_back(TranscriptionEvent::SpeechStarted {
                    item_id: e.item_id,
                    audio_start_ms: super::ms(e.audio_start_ms),
                })
            }
            E::InputAudioBufferSpeechStopped(e) => {
                $out.push_back(TranscriptionEvent::SpeechStopped {
                    item_id: e.item_id,
                    audio_end_ms: super::ms(e.audio_end_ms),
                })
            }
            E::InputAudioBufferCommitted(e) => $out.push_back(TranscriptionEvent::Committed {
                item_id: e.item_id,
                previous_item_id: e.previous_item_id,
            }),
            E::ConversationItemInputAudioTranscriptionDelta(e) => {
                $out.push_back(TranscriptionEvent::Delta {
                    item_id: e.item_id,
                    delta: e.delta.unwrap_or_default(),
                    logprobs: lp(e.logprobs),
                })
            }
            E::ConversationItemInputAudioTranscriptionCompleted(e) => {
                $out.push_back(TranscriptionEvent::Completed {
                    item_id: e.item_id,
                    transcript: e.transcript,
                    logprobs: lp(e.logprobs),
                })
            }
            E::ConversationItemInputAudioTranscriptionFailed(e) => {
                $out.push_back(TranscriptionEvent::Failed {
                    item_id: e.item_id,
                    message: e
                        .error
                        .message
                        .unwrap_or_else(|| "transcription failed".into()),
                })
            }
            E::Error(e) => $out.push_back(server_error(ServerError {
                kind: e.error.r#type,
                code: e.error.code,
                message: e.error.message,
                param: e.error.param,
                event_id: e.error.event_id.map(|id| id.into_string()),
            })),
            _ => {}
        }
    }};
}

impl TxDialect for Ga {
    fn update(s: &TranscriberSettings) -> String {
        let realtime = serde_json::to_value(super::ga::session(&as_session(s))).unwrap_or_default();
        let input = realtime
            .pointer("/audio/input")
            .cloned()
            .unwrap_or_default();
        let mut input = pick(&input, &["format", "transcription", "noise_reduction"]);
        input.insert(
            "noise_reduction".into(),
            input.get("noise_reduction").cloned().unwrap_or(Value::Null),
        );
        input.insert(
            "turn_detection".into(),
            turn_detection(
                realtime.pointer("/audio/input/turn_detection"),
                s.turn_detection.as_ref(),
            ),
        );
        let mut session = json!({"type": "transcription", "audio": {"input": input}});
        if s.logprobs {
            session["include"] = json!(["item.input_audio_transcription.logprobs"]);
        }
        json!({"type": "session.update", "session": session}).to_string()
    }

    fn decode(ev: ga::ServerEvent, out: &mut VecDeque<TranscriptionEvent>) {
        decode_events!(ga, SessionUpdated, ev, out);
    }
}

impl TxDialect for Beta {
    fn update(s: &TranscriberSettings) -> String {
        let realtime =
            serde_json::to_value(super::beta::session(&as_session(s))).unwrap_or_default();
        let mut session = pick(
            &realtime,
            &["input_audio_format", "input_audio_transcription"],
        );
        session.insert(
            "input_audio_noise_reduction".into(),
            realtime
                .get("input_audio_noise_reduction")
                .cloned()
                .unwrap_or(Value::Null),
        );
        session.insert(
            "turn_detection".into(),
            turn_detection(realtime.get("turn_detection"), s.turn_detection.as_ref()),
        );
        if s.logprobs {
            session.insert(
                "include".into(),
                json!(["item.input_audio_transcription.logprobs"]),
            );
        }
        json!({"type": "transcription_session.update", "session": session}).to_string()
    }

    fn decode(ev: beta::ServerEvent, out: &mut VecDeque<TranscriptionEvent>) {
        decode_events!(beta, TranscriptionSessionUpdated, ev, out);
    }
}

fn server_error(e: ServerError) -> TranscriptionEvent {
    let mut ev = ErrorEvent::new(ErrorKind::Server, format!("server error: {}", e.message));
    ev.server = Some(e);
    TranscriptionEvent::Error(ev)
}

impl OpenAIRealtimeModel {
    /// Opens a transcription session (speech to text only) with `settings`, in this model's
    /// dialect, endpoint, auth, TLS and proxy.
    ///
    /// # Errors
    /// The connection could not be opened.
    pub async fn transcriber(
        &self,
        settings: TranscriberSettings,
    ) -> Result<RealtimeTranscriber, RunnerError> {
        match self.dialect {
            Dialect::Beta => self.transcriber_as::<Beta>(settings).await,
            _ => self.transcriber_as::<Ga>(settings).await,
        }
    }

    async fn transcriber_as<P: TxDialect>(
        &self,
        settings: TranscriberSettings,
    ) -> Result<RealtimeTranscriber, RunnerError> {
        let (tx, rx) = self
            .builder::<P>(&ModelConnectOptions::default())
            .intent("transcription")
            .connect()
            .await?
            .split();
        let sender = Arc::new(TxSender::<P> { tx });
        sender
            .send(TranscriberInput::Update(Box::new(settings)))
            .await?;
        let events = TxEvents::<P> {
            rx,
            pending: VecDeque::new(),
            done: false,
        };
        Ok(RealtimeTranscriber::new(sender, Box::pin(events)))
    }
}

struct TxSender<P: Protocol> {
    tx: EventSender<P>,
}

#[async_trait]
impl<P: TxDialect> TranscriberSender for TxSender<P> {
    async fn send(&self, input: TranscriberInput) -> Result<(), RunnerError> {
        let text = match input {
            TranscriberInput::Update(s) => P::update(&s),
            TranscriberInput::Audio(pcm) => super::wire_text::audio_append_json(&pcm),
            TranscriberInput::Commit => r#"{"type":"input_audio_buffer.commit"}"#.to_owned(),
            TranscriberInput::Clear => r#"{"type":"input_audio_buffer.clear"}"#.to_owned(),
        };
        Ok(self.tx.send_raw(text).await?)
    }

    async fn close(&self) {
        let _ = self.tx.close().await;
    }
}

struct TxEvents<P: Protocol> {
    rx: EventReceiver<P>,
    pending: VecDeque<TranscriptionEvent>,
    done: bool,
}

impl<P: TxDialect> Stream for TxEvents<P> {
    type Item = TranscriptionEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(e) = this.pending.pop_front() {
                return Poll::Ready(Some(e));
            }
            if this.done {
                return Poll::Ready(None);
            }
            match Pin::new(&mut this.rx).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(ev))) => P::decode(ev, &mut this.pending),
                Poll::Ready(Some(Err(e))) if !e.is_fatal() => {
                    let mut ev = ErrorEvent::new(ErrorKind::Decode, super::error_chain(&e));
                    if let realtime_transport::TransportError::Decode(p) = &e {
                        ev.raw = p.raw().map(str::to_owned);
                    }
                    this.pending.push_back(TranscriptionEvent::Error(ev))
                }
                Poll::Ready(Some(Err(e))) => {
                    this.done = true;
                    this.pending.push_back(TranscriptionEvent::Closed {
                        error: Some(super::error_chain(&e)),
                    });
                }
                Poll::Ready(None) => {
                    this.done = true;
                    this.pending
                        .push_back(TranscriptionEvent::Closed { error: None });
                }
            }
        }
    }
}
