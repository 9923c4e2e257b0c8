//! One browser connection served by one [`RealtimeSession`]: the page's microphone audio and
//! commands in, the session's audio and events out (protocol v1, see [`crate::protocol`]).

use crate::protocol::{audio_frame, Down, Speaker, Up, PROTOCOL_VERSION, SAMPLE_RATE};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use realtime_runner::protocol::ItemId;
use realtime_runner::{RealtimeRunner, RealtimeSession, SessionEvent, SessionSettings};
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

/// Audio the page may send, in bytes per second, before the relay drops it: a token bucket
/// refilled at this rate, holding one second's worth.
#[derive(Debug)]
pub(crate) struct Bucket {
    rate: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    pub(crate) fn new(bytes_per_second: u32) -> Self {
        let rate = f64::from(bytes_per_second);
        Self {
            rate,
            tokens: rate,
            at: Instant::now(),
        }
    }

    /// Takes `n` bytes if the rate allows.
    pub(crate) fn take(&mut self, n: usize) -> bool {
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate).min(self.rate);
        self.at = now;
        if self.tokens >= n as f64 {
            self.tokens -= n as f64;
            true
        } else {
            false
        }
    }
}

/// What the relay remembers of the conversation to label what it sends.
#[derive(Default)]
struct Labels {
    /// The agent of each response that is still going.
    agents: HashMap<String, String>,
    /// The last playback position the page reported: item and ms.
    played: Option<(String, f64)>,
}

async fn send(tx: &mut futures_util::stream::SplitSink<WebSocket, Message>, down: &Down) -> bool {
    tx.send(Message::Text(down.to_json().into())).await.is_ok()
}

/// Serves one page until it leaves or the session ends.
pub(crate) async fn serve<Ctx: Send + Sync + 'static>(
    socket: WebSocket,
    runner: RealtimeRunner<Ctx>,
    ctx: Ctx,
    audio_rate: u32,
) {
    let (mut tx, mut rx) = socket.split();
    let session = match runner.run(ctx).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "a page's session could not start");
            let down = Down::Error {
                message: format!("the session could not start: {e}"),
                code: Some("session_failed".into()),
            };
            let _ = send(&mut tx, &down).await;
            let _ = tx
                .send(Message::Close(Some(CloseFrame {
                    code: 1011,
                    reason: "session failed".into(),
                })))
                .await;
            return;
        }
    };
    let ready = Down::Ready {
        protocol: PROTOCOL_VERSION,
        agent: runner.agent().name().to_owned(),
        sample_rate: SAMPLE_RATE,
    };
    if !send(&mut tx, &ready).await {
        session.close().await;
        return;
    }
    let tracker = session.playback_tracker();
    let mut bucket = Bucket::new(audio_rate);
    let mut warned_rate = false;
    let mut labels = Labels::default();
    let reason = loop {
        tokio::select! {
            m = rx.next() => {
                let m = match m {
                    Some(Ok(m)) => m,
                    _ => break "the page left".to_owned(),
                };
                match m {
                    Message::Binary(pcm) => {
                        if bucket.take(pcm.len()) {
                            warned_rate = false;
                            if let Err(e) = session.send_audio(&pcm, false).await {
                                break format!("the session ended: {e}");
                            }
                        } else if !warned_rate {
                            warned_rate = true;
                            let down = Down::Error {
                                message: format!("microphone audio faster than {audio_rate} bytes/s is dropped"),
                                code: Some("audio_rate".into()),
                            };
                            if !send(&mut tx, &down).await {
                                break "the page left".to_owned();
                            }
                        }
                    }
                    Message::Text(t) => {
                        if let Err(why) = on_text(&session, &runner, &tracker, &mut labels, t.as_str()).await {
                            let down = Down::Error { message: why, code: Some("bad_message".into()) };
                            if !send(&mut tx, &down).await {
                                break "the page left".to_owned();
                            }
                        }
                    }
                    Message::Close(_) => break "the page left".to_owned(),
                    _ => {}
                }
            }
            ev = session.next_event() => {
                let Some(ev) = ev else { break "the session ended".to_owned() };
                if matches!(ev, SessionEvent::Closed) {
                    break "the session ended".to_owned();
                }
                for out in translate(&ev, &mut labels) {
                    let ok = match out {
                        Out::Text(d) => send(&mut tx, &d).await,
                        Out::Audio(frame) => tx.send(Message::Binary(frame.into())).await.is_ok(),
                    };
                    if !ok {
                        session.close().await;
                        return;
                    }
                }
            }
        }
    };
    session.close().await;
    let _ = send(&mut tx, &Down::Closed { reason }).await;
    let close = Message::Close(Some(CloseFrame {
        code: 1000,
        reason: "".into(),
    }));
    let _ = tokio::time::timeout(Duration::from_secs(1), tx.send(close)).await;
}

async fn on_text<Ctx: Send + Sync + 'static>(
    session: &RealtimeSession<Ctx>,
    runner: &RealtimeRunner<Ctx>,
    tracker: &realtime_runner::PlaybackTracker,
    labels: &mut Labels,
    text: &str,
) -> Result<(), String> {
    let up: Up = match serde_json::from_str(text) {
        Ok(u) => u,
        // Unknown types are ignored (the protocol may grow); bad JSON is reported.
        Err(_) if serde_json::from_str::<serde_json::Value>(text).is_ok() => return Ok(()),
        Err(e) => return Err(format!("not a protocol message: {e}")),
    };
    let result = match up {
        Up::Played { item_id, ms } => {
            let before = match &labels.played {
                Some((id, at)) if *id == item_id => *at,
                _ => 0.0,
            };
            if ms > before {
                tracker.on_play_ms(&ItemId::from(item_id.as_str()), 0, ms - before);
                labels.played = Some((item_id, ms));
            }
            Ok(())
        }
        Up::Interrupt => session.interrupt().await,
        Up::Text { text } => session.send_message(text).await,
        Up::PushToTalk { on } => {
            // Off: the run's own turn detection (its settings over the SDK's defaults).
            let run = SessionSettings::defaults().overlay(&runner.config().settings);
            let td = if on {
                None
            } else {
                run.turn_detection.flatten()
            };
            session
                .update_settings(SessionSettings::default().with_turn_detection(td))
                .await
        }
        Up::Commit => match session.send_audio(&[], true).await {
            Ok(()) => session.request_response().await,
            Err(e) => Err(e),
        },
    };
    result.map_err(|e| e.to_string())
}

enum Out {
    Text(Down),
    Audio(Vec<u8>),
}

fn translate(ev: &SessionEvent, labels: &mut Labels) -> Vec<Out> {
    match ev {
        SessionEvent::AgentStart {
            agent, response_id, ..
        } => {
            labels
                .agents
                .insert(response_id.as_str().to_owned(), agent.clone());
            vec![Out::Text(Down::Speaking {
                agent: agent.clone(),
            })]
        }
        SessionEvent::AgentEnd { response_id, .. } => {
            labels.agents.remove(response_id.as_str());
            Vec::new()
        }
        SessionEvent::Audio { pcm, item_id, .. } => {
            vec![Out::Audio(audio_frame(item_id.as_str(), pcm))]
        }
        SessionEvent::TranscriptDelta {
            item_id,
            response_id,
            delta,
            ..
        }
        | SessionEvent::TextDelta {
            item_id,
            response_id,
            delta,
            ..
        } => {
            vec![Out::Text(Down::Transcript {
                role: Speaker::Assistant,
                item_id: item_id.as_str().to_owned(),
                agent: labels.agents.get(response_id.as_str()).cloned(),
                text: delta.clone(),
                is_final: false,
            })]
        }
        SessionEvent::InputTranscriptCompleted {
            item_id,
            transcript,
            ..
        } => vec![Out::Text(Down::Transcript {
            role: Speaker::User,
            item_id: item_id.as_str().to_owned(),
            agent: None,
            text: transcript.clone(),
            is_final: true,
        })],
        SessionEvent::ToolStart {
            agent,
            tool,
            arguments,
            ..
        } => vec![Out::Text(Down::ToolStart {
            agent: agent.clone(),
            tool: tool.clone(),
            arguments: arguments.clone(),
        })],
        SessionEvent::ToolEnd {
            agent,
            tool,
            output,
            ..
        } => vec![Out::Text(Down::ToolEnd {
            agent: agent.clone(),
            tool: tool.clone(),
            output: output.clone(),
        })],
        SessionEvent::Handoff { from, to, .. } => vec![Out::Text(Down::Handoff {
            from: from.clone(),
            to: to.clone(),
        })],
        SessionEvent::AudioInterrupted {
            item_id,
            audio_end_ms,
            ..
        } => {
            labels.played = None;
            vec![Out::Text(Down::Interrupted {
                item_id: item_id.as_str().to_owned(),
                audio_end_ms: *audio_end_ms,
            })]
        }
        SessionEvent::Error(e) => vec![Out::Text(Down::Error {
            message: e.message.clone(),
            code: None,
        })],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_bucket_allows_the_rate_and_a_second_of_burst() {
        let mut b = Bucket::new(48_000);
        assert!(b.take(48_000));
        assert!(!b.take(960));
        tokio::time::advance(Duration::from_millis(20)).await;
        assert!(b.take(960));
        assert!(!b.take(960));
    }
}
