//! One call's state on the bridge's loop (marks, interruptions, counts), the audio queued for
//! Twilio, and the writer task that drains it: control messages first, audio of a generation
//! older than the last `clear` skipped.

use crate::marks::Marks;
use crate::messages::{self, Inbound, Outbound, Parsed};
use crate::socket::TwilioSocketMessage;
use crate::types::CallStart;
use base64::Engine as _;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use realtime_runner::protocol::ItemId;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::task::AbortOnDropHandle;

/// 20 ms of µ-law at 8 kHz.
const CHUNK: usize = 160;
/// Messages written to Twilio per flush, at most.
const WRITE_BATCH: usize = 32;
/// Interrupted items remembered, so late audio of theirs is not forwarded.
const REMEMBERED_INTERRUPTIONS: usize = 32;

/// What goes to the writer task ahead of queued audio.
pub(crate) enum Control<M> {
    /// Send `clear` and skip every queued message of an older generation.
    Clear { message: M, generation: u64 },
    /// Close the socket.
    Close(M),
}

#[derive(Debug, Default)]
pub(crate) struct Counts {
    pub(crate) media_in: u64,
    pub(crate) media_out: u64,
    pub(crate) marks_played: u64,
    pub(crate) clears: u64,
    pub(crate) outbound_dropped: u64,
    pub(crate) unknown: u64,
    pub(crate) malformed: u64,
}

/// One call's state on the bridge's loop.
pub(crate) struct Call<M> {
    pub(crate) stream_sid: String,
    pub(crate) out: mpsc::Sender<(u64, M)>,
    pub(crate) marks: Marks,
    /// Bumped at every `clear`: the writer skips queued audio of older generations.
    pub(crate) generation: u64,
    pub(crate) interrupted: VecDeque<ItemId>,
    pub(crate) counts: Counts,
}

impl<M: TwilioSocketMessage> Call<M> {
    pub(crate) fn new(out: mpsc::Sender<(u64, M)>) -> Self {
        Self {
            stream_sid: String::new(),
            out,
            marks: Marks::default(),
            generation: 0,
            interrupted: VecDeque::new(),
            counts: Counts::default(),
        }
    }

    pub(crate) fn remember_interrupted(&mut self, item_id: &ItemId) {
        if self.interrupted.len() == REMEMBERED_INTERRUPTIONS {
            self.interrupted.pop_front();
        }
        self.interrupted.push_back(item_id.clone());
    }

    /// Queues the audio in 20 ms chunks, each followed by its mark. Returns the running total
    /// of dropped chunks when this call dropped some.
    pub(crate) fn forward(
        &mut self,
        ulaw: &[u8],
        item_id: &ItemId,
        content_index: u32,
    ) -> Option<u64> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut dropped = false;
        for chunk in ulaw.chunks(CHUNK) {
            // Room for the chunk and its mark, or neither.
            if self.out.capacity() < 2 {
                self.counts.outbound_dropped += 1;
                dropped = true;
                continue;
            }
            let media = Outbound::media(self.stream_sid.as_str(), b64.encode(chunk));
            let name = self.marks.push(item_id, content_index, chunk.len());
            let mark = Outbound::mark(self.stream_sid.as_str(), name);
            let g = self.generation;
            let sent = self.out.try_send((g, M::text(media.to_json()))).is_ok()
                && self.out.try_send((g, M::text(mark.to_json()))).is_ok();
            if sent {
                self.counts.media_out += 1;
            } else {
                self.counts.outbound_dropped += 1;
                dropped = true;
            }
        }
        dropped.then_some(self.counts.outbound_dropped)
    }
}

/// Reads until Twilio's `start`.
pub(crate) async fn wait_for_start<St, M, E>(
    stream: &mut St,
    call: &mut Call<M>,
) -> Result<CallStart, String>
where
    St: Stream<Item = Result<M, E>> + Unpin,
    M: TwilioSocketMessage,
    E: std::fmt::Display,
{
    while let Some(frame) = stream.next().await {
        let m = frame.map_err(|e| format!("Twilio's socket failed: {e}"))?;
        if m.is_close() {
            break;
        }
        let Some(text) = m.as_text() else { continue };
        match messages::parse(text) {
            Parsed::Message(Inbound::Start {
                start, stream_sid, ..
            }) => return Ok(CallStart::from_start(start, stream_sid)),
            Parsed::Message(Inbound::Stop { .. }) => return Err("`stop` before `start`".into()),
            Parsed::Message(_) => {}
            Parsed::Unknown { .. } => call.counts.unknown += 1,
            Parsed::Malformed { .. } => call.counts.malformed += 1,
        }
    }
    Err("the socket closed".into())
}

/// Writes to Twilio: control messages first; queued audio of a generation older than the last
/// `clear` is skipped.
pub(crate) async fn write_to_twilio<Si, M>(
    mut sink: Si,
    mut control: mpsc::Receiver<Control<M>>,
    mut out: mpsc::Receiver<(u64, M)>,
) where
    Si: Sink<M> + Unpin,
{
    let mut current = 0u64;
    let (mut control_open, mut out_open) = (true, true);
    loop {
        tokio::select! {
            biased;
            c = control.recv(), if control_open => match c {
                Some(Control::Clear { message, generation }) => {
                    current = generation;
                    if sink.send(message).await.is_err() {
                        return;
                    }
                }
                Some(Control::Close(message)) => {
                    let _ = sink.send(message).await;
                    let _ = sink.close().await;
                    return;
                }
                None => control_open = false,
            },
            m = out.recv(), if out_open => match m {
                Some((generation, message)) => {
                    // Everything queued goes out in one flush (a chunk and its mark at least),
                    // up to a bound, so the socket sees few writes.
                    let mut pending = Some((generation, message));
                    let mut batched = 0;
                    while let Some((g, m)) = pending.take() {
                        if g >= current && sink.feed(m).await.is_err() {
                            return;
                        }
                        batched += 1;
                        if batched < WRITE_BATCH {
                            pending = out.try_recv().ok();
                        }
                    }
                    if sink.flush().await.is_err() {
                        return;
                    }
                }
                None => out_open = false,
            },
            else => return,
        }
    }
}

pub(crate) async fn finish_writer(writer: AbortOnDropHandle<()>, timeout: Duration) {
    // Past the timeout the handle is dropped, which aborts the writer.
    let _ = tokio::time::timeout(timeout, writer).await;
}
