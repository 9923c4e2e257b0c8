//! Faults the configuration schedules by frame count, and the odd frames tests inject.

use super::{Connection, End, Sink};
use crate::config::Fault;
use futures_util::SinkExt;
use std::sync::atomic::Ordering;
use tokio_tungstenite::tungstenite::Message;

pub(super) const MALFORMED: &str =
    r#"{"type":"response.output_text.delta","event_id":"event_malformed","delta":"#;
pub(super) const UNKNOWN_EVENT: &str =
    r#"{"type":"response.future_feature.delta","event_id":"event_unknown","payload":{"x":1}}"#;

pub(super) fn oversized_event(bytes: usize) -> String {
    let head = r#"{"type":"response.future_feature.delta","event_id":"event_oversized","delta":""#;
    let tail = r#""}"#;
    let fill = bytes.saturating_sub(head.len() + tail.len());
    let mut s = String::with_capacity(bytes);
    s.push_str(head);
    s.extend(std::iter::repeat_n('a', fill));
    s.push_str(tail);
    s
}

impl Connection {
    pub(super) async fn apply_faults(&mut self, sink: &mut Sink) -> End {
        let sent = self.shared.frames_sent.load(Ordering::Relaxed);
        for i in 0..self.config.faults.len() {
            if self.fired.contains(&i) {
                continue;
            }
            let fault = self.config.faults[i].clone();
            let extra = match fault {
                Fault::DropAfterFrames(n) if sent >= n => return End::Drop,
                Fault::CloseAfterFrames {
                    frames,
                    code,
                    reason,
                } if sent >= frames => return End::Close(code, reason),
                Fault::MalformedAfterFrames(n) if sent >= n => Some(MALFORMED.to_owned()),
                Fault::UnknownEventAfterFrames(n) if sent >= n => Some(UNKNOWN_EVENT.to_owned()),
                Fault::OversizedAfterFrames { frames, bytes } if sent >= frames => {
                    Some(oversized_event(bytes))
                }
                Fault::StallAfterFrames { frames, duration } if sent >= frames => {
                    self.fired.push(i);
                    tokio::time::sleep(duration).await;
                    None
                }
                _ => continue,
            };
            self.fired.push(i);
            if let Some(text) = extra {
                if sink.send(Message::text(text)).await.is_err() {
                    return End::Drop;
                }
                self.shared.frames_sent.fetch_add(1, Ordering::Relaxed);
            }
        }
        End::Continue
    }
}
