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
//! Writing happens on a thread of its own (the runtime never waits on the disk): frames are
//! appended to a bounded buffer the thread takes in batches; if the disk cannot keep up,
//! frames are dropped and counted, and the file's last line says how many
//! (`{"incomplete":N}`).

use realtime_protocol::Dialect;
use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

/// The writer thread wakes when this much waits…
const BATCH: usize = 256 << 10;
/// …or this often.
const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(50);
/// Beyond this much waiting (a disk that cannot keep up), lines are dropped and counted.
const MAX_PENDING: usize = 16 << 20;

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
    writer: tokio::sync::OnceCell<Arc<Writer>>,
    conns: AtomicU64,
}

/// Lines waiting for the writer thread.
#[derive(Debug, Default)]
struct Pending {
    text: String,
    /// Every recorder and the model are gone: write what is left and stop.
    done: bool,
}

#[derive(Debug)]
struct Writer {
    pending: Arc<(Mutex<Pending>, Condvar)>,
    started: Instant,
    audio: AudioPayloads,
    dropped: Arc<AtomicU64>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        let (lock, ready) = &*self.pending;
        if let Ok(mut p) = lock.lock() {
            p.done = true;
        }
        ready.notify_one();
    }
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
        // Started once, also when the first connections open at the same time.
        let writer = self
            .writer
            .get_or_try_init(|| async {
                start_writer(recording.clone(), dialect).await.map(Arc::new)
            })
            .await?
            .clone();
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
    let pending: Arc<(Mutex<Pending>, Condvar)> = Arc::default();
    let dropped = Arc::new(AtomicU64::new(0));
    let header = format!(
        "{{\"realtime_recording\":1,\"dialect\":\"{}\"}}\n",
        dialect.as_str()
    );
    let (thread_pending, thread_dropped) = (pending.clone(), dropped.clone());
    let max = recording.max_bytes;
    std::thread::Builder::new()
        .name("realtime-recording".into())
        .spawn(move || write_lines(file, &header, &thread_pending, max, &thread_dropped))?;
    Ok(Writer {
        pending,
        started: Instant::now(),
        audio: recording.audio,
        dropped,
    })
}

/// The writer thread: takes what is pending when there is a batch's worth or every
/// `FLUSH_EVERY`, writes it within the size limit, and ends once every recorder is gone.
fn write_lines(
    file: std::fs::File,
    header: &str,
    pending: &(Mutex<Pending>, Condvar),
    max: u64,
    dropped: &AtomicU64,
) {
    let (lock, ready) = pending;
    let mut out = std::io::BufWriter::new(file);
    let mut written = header.len() as u64;
    let mut cut = out.write_all(header.as_bytes()).is_err();
    loop {
        let (batch, done) = {
            let Ok(mut p) = lock.lock() else { return };
            if p.text.len() < BATCH && !p.done {
                p = match ready.wait_timeout(p, FLUSH_EVERY) {
                    Ok((p, _)) => p,
                    Err(_) => return,
                };
            }
            (std::mem::take(&mut p.text), p.done)
        };
        if !cut && !batch.is_empty() {
            // Whole lines only: cut at the last line that fits.
            let room = usize::try_from(max.saturating_sub(written)).unwrap_or(usize::MAX);
            let fits = if batch.len() <= room {
                batch.len()
            } else {
                batch.as_bytes()[..room]
                    .iter()
                    .rposition(|b| *b == b'\n')
                    .map_or(0, |i| i + 1)
            };
            cut = out.write_all(&batch.as_bytes()[..fits]).is_err();
            written += fits as u64;
            if fits < batch.len() {
                tracing::warn!(max_bytes = max, "recording cut at its size limit");
                let _ = writeln!(
                    out,
                    "{{\"cut\":\"the recording reached its limit of {max} bytes; raise Recording::max_bytes or record audio as AudioPayloads::Digest\"}}"
                );
                cut = true;
            }
            let _ = out.flush();
        }
        if done {
            break;
        }
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
        self.push(|text| {
            let _ = write!(
                text,
                "{{\"conn\":{},\"t_ms\":{t_ms:.3},\"end\":true}}",
                self.conn
            );
        });
    }

    /// A frame the client sent.
    pub(crate) fn client(&self, text: &str) {
        self.record("client", text);
    }

    /// A frame the server sent.
    pub(crate) fn server(&self, text: &str) {
        self.record("server", text);
    }

    fn record(&self, dir: &str, frame: &str) {
        let w = &self.writer;
        let t_ms = w.started.elapsed().as_secs_f64() * 1000.0;
        let digested = match w.audio {
            AudioPayloads::Digest => digest_audio(frame),
            AudioPayloads::Keep => None,
        };
        let frame = digested.as_deref().unwrap_or(frame);
        self.push(|text| {
            let _ = write!(
                text,
                "{{\"conn\":{},\"t_ms\":{t_ms:.3},\"dir\":\"{dir}\",\"frame\":{frame}}}",
                self.conn
            );
        });
    }

    /// Appends one line to what waits for the writer (no allocation of its own, no thread
    /// wake-up unless a batch is ready). Beyond `MAX_PENDING` the line is dropped and counted.
    fn push(&self, line: impl FnOnce(&mut String)) {
        let (lock, ready) = &*self.writer.pending;
        let Ok(mut p) = lock.lock() else { return };
        if p.text.len() >= MAX_PENDING {
            drop(p);
            if self.writer.dropped.fetch_add(1, Ordering::Relaxed) == 0 {
                tracing::warn!("the recording cannot keep up; frames are being dropped");
            }
            return;
        }
        line(&mut p.text);
        p.text.push('\n');
        if p.text.len() >= BATCH {
            ready.notify_one();
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

    async fn written(path: &std::path::Path, done: impl Fn(&str) -> bool) -> String {
        for _ in 0..200 {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            if done(&text) {
                return text;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("never finished: {}", path.display());
    }

    #[tokio::test]
    async fn a_recording_keeps_whole_lines_within_its_limit_and_says_where_it_was_cut() {
        let path =
            std::env::temp_dir().join(format!("realtime-rs-cap-{}.jsonl", std::process::id()));
        let state = RecordingState::default();
        let recording = Recording::new(&path).with_max_bytes(600);
        let rec = state.connection(&recording, Dialect::Ga).await.unwrap();
        for i in 0..20 {
            rec.server(&format!(
                r#"{{"type":"response.output_text.delta","delta":"chunk {i}"}}"#
            ));
        }
        drop(rec);
        drop(state);
        let text = written(&path, |t| t.contains("\"cut\"")).await;
        assert!(text.len() < 800, "{}", text.len());
        for line in text.lines() {
            serde_json::from_str::<serde_json::Value>(line).unwrap();
        }
        assert!(text
            .lines()
            .last()
            .unwrap()
            .contains("raise Recording::max_bytes"));
        let _ = std::fs::remove_file(&path);
    }

    #[tokio::test]
    async fn connections_are_numbered_and_their_ends_recorded() {
        let path =
            std::env::temp_dir().join(format!("realtime-rs-conns-{}.jsonl", std::process::id()));
        let state = RecordingState::default();
        let recording = Recording::new(&path);
        let first = state.connection(&recording, Dialect::Beta).await.unwrap();
        first.client(r#"{"type":"response.create"}"#);
        first.end();
        first.end();
        let second = state.connection(&recording, Dialect::Beta).await.unwrap();
        second.server(r#"{"type":"session.created"}"#);
        drop((first, second, state));
        let text = written(&path, |t| t.matches("\"end\":true").count() == 2).await;
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["dialect"], "beta");
        let ends: Vec<u64> = lines
            .iter()
            .filter(|l| l["end"] == true)
            .map(|l| l["conn"].as_u64().unwrap())
            .collect();
        assert_eq!(ends, [1, 2], "one end per connection");
        assert_eq!(lines[1]["frame"]["type"], "response.create");
        assert_eq!(lines[1]["dir"], "client");
        let _ = std::fs::remove_file(&path);
    }
}
