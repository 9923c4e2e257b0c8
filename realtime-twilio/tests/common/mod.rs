//! A fake Twilio caller on a real socket, and the pieces a bridge test needs: the fake
//! Realtime server, a runner pointed at it, and the bridge served on a local port.
#![allow(dead_code, unreachable_pub)]

use futures_util::{SinkExt, StreamExt};
use realtime_runner::protocol::Dialect;
use realtime_runner::transport::Auth;
use realtime_runner::{OpenAIRealtimeModel, RealtimeRunner, RunConfig};
use realtime_testkit::FakeRealtimeServer;
use realtime_twilio::{CallEvent, CallSummary, TwilioBridge};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const WAIT: Duration = Duration::from_secs(15);
pub const CHUNK_MS: u64 = 20;

pub fn model(server: &FakeRealtimeServer, dialect: Dialect) -> OpenAIRealtimeModel {
    OpenAIRealtimeModel::new()
        .dialect(dialect)
        .endpoint(server.base_url())
        .auth(Auth::api_key("sk-twilio-test-0001"))
}

/// G.711 µ-law of one linear sample.
pub fn ulaw(sample: i16) -> u8 {
    realtime_runner::protocol::audio::ulaw_encode(sample)
}

/// Speech-like µ-law: a 220 Hz tone with a 4 Hz syllable envelope at about −20 dBFS.
pub fn speech(ms: u64) -> Vec<u8> {
    (0..ms * 8)
        .map(|n| {
            let t = n as f64 / 8_000.0;
            let syllables = 0.6 + 0.4 * (2.0 * std::f64::consts::PI * 4.0 * t).sin().abs();
            let v = (2.0 * std::f64::consts::PI * 220.0 * t).sin() * 6_000.0 * syllables;
            ulaw(v as i16)
        })
        .collect()
}

pub fn silence(ms: u64) -> Vec<u8> {
    vec![ulaw(0); (ms * 8) as usize]
}

/// Serves the bridge on a local port for one call. Call events go to the returned receiver;
/// the call's outcome comes from the join handle.
pub async fn serve_bridge<Ctx: Send + Sync + Default + 'static>(
    bridge: TwilioBridge<Ctx>,
) -> (
    String,
    mpsc::UnboundedReceiver<CallEvent>,
    JoinHandle<Vec<Result<CallSummary, String>>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/media-stream", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        // One call per test.
        let (stream, _) = tokio::time::timeout(Duration::from_secs(20), listener.accept())
            .await
            .expect("no call")
            .unwrap();
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .read_buffer_size(realtime_twilio::READ_BUFFER);
        let ws = tokio_tungstenite::accept_async_with_config(stream, Some(config))
            .await
            .unwrap();
        let served = bridge
            .serve(
                ws,
                |_| Ctx::default(),
                move |_, e| {
                    let _ = tx.send(e.clone());
                },
            )
            .await
            .map_err(|e| e.to_string());
        vec![served]
    });
    (url, rx, task)
}

pub fn runner_config() -> RunConfig {
    realtime_twilio::phone_config(RunConfig::default())
}

pub fn runner<Ctx: Send + Sync + 'static>(
    server: &FakeRealtimeServer,
    agent: realtime_agent::RealtimeAgent<Ctx>,
) -> RealtimeRunner<Ctx> {
    RealtimeRunner::builder(agent)
        .config(runner_config())
        .model(model(server, Dialect::Ga))
        .build()
}

/// What the caller's phone has queued to play: audio chunks and the marks between them.
enum Queued {
    Audio(usize),
    Mark(String),
}

/// A phone on a Twilio stream: sends the caller's audio at real-time pace, plays what it gets
/// at real-time pace, echoes a mark when the audio before it has played, and on `clear` drops
/// what is queued and echoes every pending mark, as Twilio does.
pub struct Caller {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    stream_sid: String,
    queue: VecDeque<Queued>,
    seq: u64,
    /// Milliseconds of the current answer played (reset by a clear).
    pub played_ms: u64,
    /// `played_ms` when each clear arrived.
    pub cleared_at: Vec<u64>,
    /// Audio received, in bytes.
    pub received_bytes: usize,
    /// Raw messages received.
    pub received: Vec<Value>,
}

impl Caller {
    pub async fn dial(url: &str, params: Value) -> Caller {
        let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .unwrap()
            .unwrap();
        let mut c = Caller {
            ws,
            stream_sid: "MZ0001".into(),
            queue: VecDeque::new(),
            seq: 0,
            played_ms: 0,
            cleared_at: Vec::new(),
            received_bytes: 0,
            received: Vec::new(),
        };
        c.send(json!({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
            .await;
        let start = json!({"event": "start", "sequenceNumber": "1", "streamSid": c.stream_sid, "start": {
            "accountSid": "AC0001", "streamSid": c.stream_sid, "callSid": "CA0001", "tracks": ["inbound"],
            "customParameters": params,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}});
        c.send(start).await;
        c
    }

    pub async fn send(&mut self, v: Value) {
        self.ws.send(Message::text(v.to_string())).await.unwrap();
    }

    pub async fn send_raw(&mut self, s: &str) {
        self.ws.send(Message::text(s.to_owned())).await.unwrap();
    }

    pub async fn dtmf(&mut self, digit: &str) {
        self.seq += 1;
        let v = json!({"event": "dtmf", "streamSid": self.stream_sid, "sequenceNumber": self.seq.to_string(), "dtmf": {"track": "inbound_track", "digit": digit}});
        self.send(v).await;
    }

    pub async fn stop(&mut self) {
        let v = json!({"event": "stop", "sequenceNumber": "999", "streamSid": self.stream_sid, "stop": {"accountSid": "AC0001", "callSid": "CA0001"}});
        self.send(v).await;
    }

    /// Talks (streams `audio` in 20 ms chunks at real-time pace) while playing what arrives.
    /// `until` stops early when it returns true.
    pub async fn talk(&mut self, audio: &[u8], mut until: impl FnMut(&Caller) -> bool) {
        let mut tick = tokio::time::interval(Duration::from_millis(CHUNK_MS));
        let mut chunks = audio.chunks(160);
        let mut chunk_no = 0u64;
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    self.play_one().await;
                    let Some(chunk) = chunks.next() else { return };
                    chunk_no += 1;
                    self.seq += 1;
                    let payload = realtime_runner::protocol::audio::encode_base64(chunk);
                    let v = json!({"event": "media", "sequenceNumber": self.seq.to_string(), "streamSid": self.stream_sid,
                        "media": {"track": "inbound", "chunk": chunk_no.to_string(), "timestamp": (chunk_no * CHUNK_MS).to_string(), "payload": payload}});
                    self.send(v).await;
                    if until(self) {
                        return;
                    }
                }
                m = self.ws.next() => {
                    if !self.on_message(m) { return; }
                    self.echo_ready().await;
                }
            }
        }
    }

    /// Plays for `ms` without talking.
    pub async fn listen(&mut self, ms: u64) {
        self.talk(&silence(ms), |_| false).await;
    }

    fn on_message(
        &mut self,
        m: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    ) -> bool {
        let Some(Ok(Message::Text(t))) = m else {
            return false;
        };
        let v: Value = serde_json::from_str(t.as_str()).unwrap();
        match v["event"].as_str() {
            Some("media") => {
                let bytes = realtime_runner::protocol::audio::decode_base64(
                    v["media"]["payload"].as_str().unwrap(),
                )
                .unwrap()
                .len();
                self.received_bytes += bytes;
                self.queue.push_back(Queued::Audio(bytes));
            }
            Some("mark") => self
                .queue
                .push_back(Queued::Mark(v["mark"]["name"].as_str().unwrap().to_owned())),
            Some("clear") => {
                self.cleared_at.push(self.played_ms);
                self.played_ms = 0;
                let marks: Vec<String> = self
                    .queue
                    .drain(..)
                    .filter_map(|q| match q {
                        Queued::Mark(n) => Some(n),
                        Queued::Audio(_) => None,
                    })
                    .collect();
                self.queue.extend(marks.into_iter().map(Queued::Mark));
            }
            _ => {}
        }
        self.received.push(v);
        true
    }

    /// Echoes the marks at the head of the queue (their audio has played).
    async fn echo_ready(&mut self) {
        while let Some(Queued::Mark(_)) = self.queue.front() {
            let Some(Queued::Mark(name)) = self.queue.pop_front() else {
                break;
            };
            self.seq += 1;
            let v = json!({"event": "mark", "sequenceNumber": self.seq.to_string(), "streamSid": self.stream_sid, "mark": {"name": name}});
            self.send(v).await;
        }
    }

    /// Plays one 20 ms chunk (if any is queued), then echoes the marks it reached.
    async fn play_one(&mut self) {
        self.echo_ready().await;
        if let Some(Queued::Audio(bytes)) = self.queue.front() {
            self.played_ms += (*bytes as u64) / 8;
            self.queue.pop_front();
        }
        self.echo_ready().await;
    }

    /// Waits for the socket to close; returns the close code.
    pub async fn closed(&mut self) -> Option<u16> {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next()).await.ok()? {
                Some(Ok(Message::Close(f))) => return f.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                _ => return None,
            }
        }
    }
}
