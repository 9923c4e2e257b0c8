//! [`Recording`]: every frame of a model's connections, both directions, written as JSON
//! lines for `realtime-testkit`'s replay.
//!
//! The file: a header line `{"realtime_recording":1,"dialect":"ga"}`, then one line per
//! frame, `{"conn":1,"t_ms":12.5,"dir":"client"|"server","frame":{…}}`, `conn` counting the
//! model's connections from 1 (a reconnect is the next one) and `t_ms` the time since the
//! recording started (monotonic). Frames are the JSON that crossed the socket: the API key
//! and the handshake's headers are never in them. With [`AudioPayloads::Digest`] the base64
//! audio of `input_audio_buffer.append` and of audio deltas is replaced by
//! `{"$audio":{"bytes":N,"fnv1a64":"…"}}`. When the file reaches its size limit, a last line
//! `{"cut":"…"}` says so and nothing more is written. When a connection ends, the line
//! `{"conn":1,"t_ms":…,"end":true}` says so.
//!
//! Writing happens on a thread of its own (the runtime never waits on the disk), fed through a
//! bounded queue: if the disk cannot keep up, frames are dropped and counted, and the file's
//! last line says how many (`{"incomplete":N}`).

use realtime_protocol::Dialect;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Lines queued for the writer thread.
const QUEUE: usize = 4096;

/// What a recording keeps of audio payloads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum AudioPayloads {
    /// The audio itself (the default): a replay sends the recorded audio.
    #[default]
    Keep,
    /// Its length and a hash: small files; a replay sends silence of the same length.
    Digest,
}

/// Where and how [`crate::OpenAIRealtimeModel::record`] writes its connections' frames.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Recording {
    /// The file (created or truncated when the first connection opens).
    pub path: PathBuf,
    /// What is kept of audio payloads.
    pub audio: AudioPayloads,
    /// The file's size limit in bytes (default 64 MiB).
    pub max_bytes: u64,
}

impl Recording {
    /// Records to `path`, audio kept, up to 64 MiB.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            audio: AudioPayloads::Keep,
            max_bytes: 64 << 20,
        }
    }

    /// Sets [`Self::audio`].
    pub fn with_audio(mut self, audio: AudioPayloads) -> Self {
        self.audio = audio;
        self
    }

    /// Sets [`Self::max_bytes`].
    pub fn with_max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = bytes;
        self
    }
}

/// The writer shared by a model's connections: started by the first one.
#[derive(Debug, Default)]
pub(crate) struct RecordingState {
    writer: Mutex<Option<Arc<Writer>>>,
    conns: AtomicU64,
}

#[derive(Debug)]
struct Writer {
    tx: SyncSender<String>,
    started: Instant,
    audio: AudioPayloads,
    dropped: Arc<AtomicU64>,
}

impl RecordingState {
    /// The recorder of a new connection (the writer thread starts with the first).
    ///
    /// # Errors
    /// The file cannot be created.
    pub(crate) async fn connection(
        &self,
        recording: &Recording,
        dialect: Dialect,
    ) -> std::io::Result<Recorder> {
        let existing = self.writer.lock().ok().and_then(|w| w.clone());
        let writer = match existing {
            Some(w) => w,
            None => {
                let w = Arc::new(start_writer(recording.clone(), dialect).await?);
                if let Ok(mut slot) = self.writer.lock() {
                    slot.get_or_insert_with(|| w.clone()).clone()
                } else {
                    w
                }
            }
        };
        let conn = self.conns.fetch_add(1, Ordering::Relaxed) + 1;
        Ok(Recorder {
            writer,
            conn,
            ended: AtomicBool::new(false),
        })
    }
}

async fn start_writer(recording: Recording, dialect: Dialect) -> std::io::Result<Writer> {
    let path = recording.path.clone();
    let file = tokio::task::spawn_blocking(move || std::fs::File::create(path))
        .await
        .map_err(std::io::Error::other)??;
    let (tx, rx) = mpsc::sync_channel::<String>(QUEUE);
    let dropped = Arc::new(AtomicU64::new(0));
    let header = format!(
        "{{\"realtime_recording\":1,\"dialect\":\"{}\"}}\n",
        dialect.as_str()
    );
    let thread_dropped = dropped.clone();
    let max = recording.max_bytes;
    std::thread::Builder::new()
        .name("realtime-recording".into())
        .spawn(move || write_lines(file, &header, &rx, max, &thread_dropped))?;
    Ok(Writer {
        tx,
        started: Instant::now(),
        audio: recording.audio,
        dropped,
    })
}

/// The writer thread: lines until every recorder is gone, within the size limit.
fn write_lines(
    file: std::fs::File,
    header: &str,
    rx: &mpsc::Receiver<String>,
    max: u64,
    dropped: &AtomicU64,
) {
    let mut out = std::io::BufWriter::new(file);
    let mut written = header.len() as u64;
    let mut cut = out.write_all(header.as_bytes()).is_err();
    while let Ok(line) = rx.recv() {
        let mut batch = Some(line);
        while let Some(line) = batch.take().or_else(|| rx.try_recv().ok()) {
            if cut {
                continue;
            }
            if written + line.len() as u64 + 1 > max {
                let note = format!(
                    "{{\"cut\":\"the recording reached its limit of {max} bytes; raise Recording::max_bytes or record audio as AudioPayloads::Digest\"}}\n"
                );
                tracing::warn!(max_bytes = max, "recording cut at its size limit");
                let _ = out.write_all(note.as_bytes());
                cut = true;
                continue;
            }
            written += line.len() as u64 + 1;
            cut = out.write_all(line.as_bytes()).is_err() || out.write_all(b"\n").is_err();
        }
        let _ = out.flush();
    }
    let lost = dropped.load(Ordering::Relaxed);
    if lost > 0 && !cut {
        let _ = writeln!(out, "{{\"incomplete\":{lost}}}");
    }
    let _ = out.flush();
}

/// Records one connection's frames; its end is recorded when it is dropped (with the
/// connection), so a replay can tell a complete connection from a cut one.
#[derive(Debug)]
pub(crate) struct Recorder {
    writer: Arc<Writer>,
    conn: u64,
    ended: AtomicBool,
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.end();
    }
}

impl Recorder {
    /// The connection ended (closed by either side, or failed); recorded once.
    pub(crate) fn end(&self) {
        if self.ended.swap(true, Ordering::AcqRel) {
            return;
        }
        let t_ms = self.writer.started.elapsed().as_secs_f64() * 1000.0;
        let line = format!("{{\"conn\":{},\"t_ms\":{t_ms:.3},\"end\":true}}", self.conn);
        let _ = self.writer.tx.try_send(line);
    }

    /// A frame the client sent.
    pub(crate) fn client(&self, text: &str) {
        self.record("client", text);
    }

    /// A frame the server sent.
    pub(crate) fn server(&self, text: &str) {
        self.record("server", text);
    }

    fn record(&self, dir: &str, text: &str) {
        let w = &self.writer;
        let t_ms = w.started.elapsed().as_secs_f64() * 1000.0;
        let frame = match w.audio {
            AudioPayloads::Digest => digest_audio(text),
            AudioPayloads::Keep => None,
        };
        let frame = frame.as_deref().unwrap_or(text);
        let line = format!(
            "{{\"conn\":{},\"t_ms\":{t_ms:.3},\"dir\":\"{dir}\",\"frame\":{frame}}}",
            self.conn
        );
        match w.tx.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                if w.dropped.fetch_add(1, Ordering::Relaxed) == 0 {
                    tracing::warn!("the recording cannot keep up; frames are being dropped");
                }
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

/// The frame with its audio payload replaced by length and hash, when it carries audio.
fn digest_audio(text: &str) -> Option<String> {
    let kind = realtime_protocol::peek_event_type(text).ok()?;
    let field = match kind.as_ref() {
        "input_audio_buffer.append" => "audio",
        "response.output_audio.delta" | "response.audio.delta" => "delta",
        _ => return None,
    };
    let mut v: serde_json::Value = serde_json::from_str(text).ok()?;
    let b64 = v.get(field)?.as_str()?;
    let pcm = realtime_protocol::audio::decode_base64(b64).ok()?;
    v[field] = serde_json::json!({"$audio": {"bytes": pcm.len(), "fnv1a64": format!("{:016x}", fnv1a64(&pcm))}});
    serde_json::to_string(&v).ok()
}

/// FNV-1a, 64 bits: a fingerprint of the audio, not a security hash.
pub(crate) fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_becomes_length_and_hash() {
        let b64 = realtime_protocol::audio::encode_base64(&[1, 2, 3, 4]);
        let text =
            format!(r#"{{"type":"response.output_audio.delta","delta":"{b64}","item_id":"i"}}"#);
        let v: serde_json::Value = serde_json::from_str(&digest_audio(&text).unwrap()).unwrap();
        assert_eq!(v["delta"]["$audio"]["bytes"], 4);
        assert_eq!(v["item_id"], "i");
        assert_eq!(
            v["delta"]["$audio"]["fnv1a64"],
            format!("{:016x}", fnv1a64(&[1, 2, 3, 4]))
        );
        assert!(digest_audio(r#"{"type":"response.done"}"#).is_none());
    }
}
