//! Phone calls under load: N simulated Twilio calls through one process's bridges.
//!
//! ```sh
//! cargo bench -p realtime-twilio --bench calls -- --calls 1000 --seconds 20
//! ```
//!
//! Two processes, so each number belongs to what it measures:
//! - this one serves the calls: a `TwilioBridge` per call and its `RealtimeSession`, on one
//!   thread (a current-thread runtime: one core);
//! - a child (`--role load`) plays both ends: N Twilio callers (50 `media` messages/s each, 20
//!   ms of µ-law, marks echoed as they arrive) and the OpenAI side (a minimal Realtime server
//!   that answers every call with an endless spoken answer: 50 audio deltas/s of 20 ms).
//!
//! Reported: the serving process's CPU per call-second and its RSS per call (steady state
//! minus idle), and the delay from a caller's `media` message to the
//! `input_audio_buffer.append` carrying it at the OpenAI side (each chunk carries its call and
//! sequence number in its first bytes), p50 / p99 / max over the measured window.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

use futures_util::{SinkExt, StreamExt};
use realtime_runner::protocol::audio::{decode_base64, encode_base64};
use realtime_runner::protocol::Dialect;
use realtime_runner::{OpenAIRealtimeModel, RealtimeRunner, RunConfig, SessionSettings};
use realtime_twilio::{phone_config, TwilioBridge};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// Media Streams messages are small; tungstenite zeroes its whole read buffer on every read.
fn ws_config() -> Option<WebSocketConfig> {
    Some(WebSocketConfig::default().read_buffer_size(realtime_twilio::READ_BUFFER))
}

const RING: usize = 256;

struct Args {
    role: String,
    calls: usize,
    seconds: u64,
    warmup: u64,
    bridge: String,
    /// `sdk` (the bridge and its session) or `null` (the floor: a forwarder that parses each
    /// frame and passes payloads through, nothing else).
    client: String,
}

fn args() -> Args {
    let mut a = Args {
        role: "serve".into(),
        calls: 200,
        seconds: 10,
        warmup: 4,
        bridge: String::new(),
        client: "sdk".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().unwrap_or_default();
        match k.as_str() {
            "--role" => a.role = v(),
            "--calls" => a.calls = v().parse().unwrap_or(a.calls),
            "--seconds" => a.seconds = v().parse().unwrap_or(a.seconds),
            "--warmup" => a.warmup = v().parse().unwrap_or(a.warmup),
            "--bridge" => a.bridge = v(),
            "--client" => a.client = v(),
            _ => {} // `cargo bench` passes `--bench`
        }
    }
    a
}

fn main() {
    let a = args();
    if a.role == "load" {
        load(&a);
    } else {
        serve(&a);
    }
}

/// CPU seconds this process used (user + system), from `/proc/self/stat`.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|u| u.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn serve(a: &Args) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--role", "load", "--calls", &a.calls.to_string()])
            .args([
                "--seconds",
                &a.seconds.to_string(),
                "--warmup",
                &a.warmup.to_string(),
            ])
            .args(["--bridge", &format!("ws://{addr}/media-stream")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the load process starts");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let mock = line
            .trim()
            .strip_prefix("MOCK ")
            .expect("MOCK url")
            .to_owned();
        let settings = SessionSettings::default().with_turn_detection(None);
        let config = phone_config(RunConfig::default().with_settings(settings));
        let agent = realtime_runner::agent::RealtimeAgent::<()>::builder("Operator")
            .instructions("Answer the phone.")
            .build()
            .unwrap();
        let runner = RealtimeRunner::builder(agent)
            .config(config)
            .model(
                OpenAIRealtimeModel::new()
                    .dialect(Dialect::Ga)
                    .endpoint(mock.clone())
                    .auth(realtime_runner::transport::Auth::api_key("sk-bench")),
            )
            .build();
        let bridge = TwilioBridge::new(runner).unwrap();
        let null = a.client == "null";
        let mock_url = mock.clone();
        let idle_rss = rss_kib();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    break;
                };
                let bridge = bridge.clone();
                let mock_url = mock_url.clone();
                tokio::spawn(async move {
                    let _ = stream.set_nodelay(true);
                    if let Ok(ws) =
                        tokio_tungstenite::accept_async_with_config(stream, ws_config()).await
                    {
                        if null {
                            null_forward(ws, &mock_url).await;
                        } else {
                            let _ = bridge.serve(ws, |_| (), |_, _| {}).await;
                        }
                    }
                });
            }
        });
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "GO").unwrap();
        tokio::time::sleep(Duration::from_secs(a.warmup)).await;
        let (cpu0, t0) = (cpu_seconds(), Instant::now());
        let mut rss_peak = 0;
        while t0.elapsed() < Duration::from_secs(a.seconds) {
            tokio::time::sleep(Duration::from_millis(500)).await;
            rss_peak = rss_peak.max(rss_kib());
        }
        let (cpu, wall) = (cpu_seconds() - cpu0, t0.elapsed().as_secs_f64());
        let report = tokio::task::spawn_blocking(move || {
            let mut rest = String::new();
            let mut r = String::new();
            while out.read_line(&mut r).unwrap_or(0) > 0 {
                rest.push_str(&r);
                r.clear();
            }
            rest
        })
        .await
        .unwrap();
        accept.abort();
        let _ = child.wait();
        let call_seconds = a.calls as f64 * wall;
        println!(
            "client: {}   calls: {}   measured: {wall:.1} s   serving process (one thread):",
            a.client, a.calls
        );
        println!(
            "  CPU: {:.1} % of a core, {:.3} ms per call-second ({:.0} calls per core)",
            100.0 * cpu / wall,
            1_000.0 * cpu / call_seconds,
            a.calls as f64 / (cpu / wall)
        );
        println!(
            "  RSS: idle {idle_rss} KiB, peak {rss_peak} KiB: {:.1} KiB per call",
            (rss_peak.saturating_sub(idle_rss)) as f64 / a.calls as f64
        );
        print!("{report}");
    });
}

/// The child: the OpenAI side and the callers.
fn load(a: &Args) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let calls = a.calls;
    let sent: Arc<Vec<AtomicU64>> =
        Arc::new((0..calls * RING).map(|_| AtomicU64::new(0)).collect());
    let delays: Arc<Mutex<Vec<u64>>> = Arc::default();
    let epoch = Instant::now();
    let measuring = Arc::new(AtomicU64::new(0));
    rt.block_on(async {
        let mock = TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("MOCK ws://{}/v1/realtime", mock.local_addr().unwrap());
        std::io::stdout().flush().unwrap();
        let (s, d, m) = (sent.clone(), delays.clone(), measuring.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = mock.accept().await {
                let (s, d, m) = (s.clone(), d.clone(), m.clone());
                tokio::spawn(openai_side(stream, s, d, m, epoch));
            }
        });
        let mut go = String::new();
        tokio::task::spawn_blocking(move || std::io::stdin().read_line(&mut go)).await.unwrap().unwrap();
        let appended = Arc::new(AtomicU64::new(0));
        let mut callers = Vec::new();
        for c in 0..calls {
            let url = a.bridge.clone();
            let sent = sent.clone();
            callers.push(tokio::spawn(caller(url, c, sent, epoch, a.warmup + a.seconds + 1)));
            if c % 50 == 49 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let _ = appended;
        tokio::time::sleep(Duration::from_secs(a.warmup)).await;
        measuring.store(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(a.seconds)).await;
        measuring.store(0, Ordering::SeqCst);
        let mut sent_media = 0u64;
        let mut got_media = 0u64;
        for c in callers {
            if let Ok((s, g)) = c.await {
                sent_media += s;
                got_media += g;
            }
        }
        let mut d = delays.lock().unwrap().clone();
        d.sort_unstable();
        let pct = |p: f64| d.get(((d.len() as f64 * p) as usize).min(d.len().saturating_sub(1))).copied().unwrap_or(0);
        println!(
            "  Twilio media -> input_audio_buffer.append: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples)",
            pct(0.5) as f64 / 1e3,
            pct(0.99) as f64 / 1e3,
            d.last().copied().unwrap_or(0) as f64 / 1e3,
            d.len()
        );
        println!("  load process: {sent_media} media sent, {got_media} media received by callers");
    });
}

/// One caller: `media` every 20 ms (its first 8 bytes: call and sequence number), marks echoed.
async fn caller(
    url: String,
    call: usize,
    sent: Arc<Vec<AtomicU64>>,
    epoch: Instant,
    seconds: u64,
) -> (u64, u64) {
    let Ok((ws, _)) =
        tokio_tungstenite::connect_async_with_config(url.as_str(), ws_config(), true).await
    else {
        eprintln!("caller {call} could not connect");
        return (0, 0);
    };
    let (mut tx, mut rx) = ws.split();
    let sid = format!("MZ{call:06}");
    let start = format!(
        r#"{{"event":"start","sequenceNumber":"1","streamSid":"{sid}","start":{{"accountSid":"AC1","streamSid":"{sid}","callSid":"CA{call:06}","tracks":["inbound"],"customParameters":{{}},"mediaFormat":{{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}}}}}}"#
    );
    if tx.send(Message::text(start)).await.is_err() {
        return (0, 0);
    }
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut chunk = [0xFFu8; 160];
    let (mut seq, mut got) = (0u64, 0u64);
    let mut marks: Vec<String> = Vec::new();
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if Instant::now() > end {
                    let _ = tx.send(Message::text(format!(r#"{{"event":"stop","streamSid":"{sid}","stop":{{}}}}"#))).await;
                    break;
                }
                seq += 1;
                chunk[..4].copy_from_slice(&(call as u32).to_le_bytes());
                chunk[4..8].copy_from_slice(&(seq as u32).to_le_bytes());
                sent[call * RING + (seq as usize % RING)].store(epoch.elapsed().as_micros() as u64, Ordering::Relaxed);
                let media = format!(r#"{{"event":"media","streamSid":"{sid}","media":{{"track":"inbound","payload":"{}"}}}}"#, encode_base64(&chunk));
                if tx.send(Message::text(media)).await.is_err() {
                    break;
                }
                for name in marks.drain(..) {
                    let echo = format!(r#"{{"event":"mark","streamSid":"{sid}","mark":{{"name":"{name}"}}}}"#);
                    if tx.send(Message::text(echo)).await.is_err() {
                        return (seq, got);
                    }
                }
            }
            m = rx.next() => match m {
                Some(Ok(Message::Text(t))) => {
                    if t.contains(r#""event":"media""#) {
                        got += 1;
                    } else if let Some(i) = t.find(r#""name":""#) {
                        let rest = &t[i + 8..];
                        if let Some(j) = rest.find('"') {
                            marks.push(rest[..j].to_owned());
                        }
                    }
                }
                Some(Ok(_)) => {}
                _ => break,
            },
        }
    }
    (seq, got)
}

/// The OpenAI side of one call: session events, then an endless spoken answer (an audio delta
/// every 20 ms); every append's delay since its caller sent it is recorded.
async fn openai_side(
    stream: tokio::net::TcpStream,
    sent: Arc<Vec<AtomicU64>>,
    delays: Arc<Mutex<Vec<u64>>>,
    measuring: Arc<AtomicU64>,
    epoch: Instant,
) {
    let _ = stream.set_nodelay(true);
    let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let (mut tx, mut rx) = ws.split();
    let session = r#"{"type":"session.created","event_id":"e0","session":{"type":"realtime","object":"realtime.session","id":"sess_1","model":"gpt-realtime","output_modalities":["audio"],"instructions":"","tools":[],"tool_choice":"auto","max_output_tokens":"inf","tracing":null,"prompt":null,"expires_at":0,"audio":{"input":{"format":{"type":"audio/pcmu"},"transcription":null,"noise_reduction":null,"turn_detection":null},"output":{"format":{"type":"audio/pcmu"},"voice":"marin","speed":1.0}},"include":null}}"#;
    if tx.send(Message::text(session)).await.is_err() {
        return;
    }
    let delta = format!(
        r#"{{"type":"response.output_audio.delta","event_id":"e","response_id":"resp_1","item_id":"item_1","output_index":0,"content_index":0,"delta":"{}"}}"#,
        encode_base64(&[0x7Fu8; 160])
    );
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut answering = false;
    loop {
        tokio::select! {
            _ = tick.tick(), if answering => {
                if tx.send(Message::text(delta.clone())).await.is_err() {
                    return;
                }
            }
            m = rx.next() => {
                let Some(Ok(Message::Text(t))) = m else { return };
                if t.contains(r#""type":"input_audio_buffer.append""#) {
                    let Some(i) = t.find(r#""audio":""#) else { continue };
                    let b64 = &t[i + 9..];
                    let Some(j) = b64.find('"') else { continue };
                    let Ok(bytes) = decode_base64(&b64[..j]) else { continue };
                    if bytes.len() >= 8 && measuring.load(Ordering::Relaxed) == 1 {
                        let call = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
                        let seq = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
                        if let Some(at) = sent.get(call * RING + seq % RING) {
                            let now = epoch.elapsed().as_micros() as u64;
                            let d = now.saturating_sub(at.load(Ordering::Relaxed));
                            if let Ok(mut v) = delays.lock() {
                                v.push(d);
                            }
                        }
                    }
                } else if t.contains(r#""type":"session.update""#) && !answering {
                    answering = true;
                    let updated = session.replace("session.created", "session.updated");
                    let created = r#"{"type":"response.created","event_id":"e1","response":{"object":"realtime.response","id":"resp_1","status":"in_progress","status_details":null,"output":[],"conversation_id":"conv_1","output_modalities":["audio"],"max_output_tokens":"inf","audio":{"output":{"format":{"type":"audio/pcmu"},"voice":"marin"}},"usage":null,"metadata":null}}"#;
                    let item = r#"{"type":"response.output_item.added","event_id":"e2","response_id":"resp_1","output_index":0,"item":{"id":"item_1","type":"message","object":"realtime.item","status":"in_progress","role":"assistant","content":[]}}"#;
                    let part = r#"{"type":"response.content_part.added","event_id":"e3","response_id":"resp_1","item_id":"item_1","output_index":0,"content_index":0,"part":{"type":"audio","transcript":""}}"#;
                    for f in [updated.as_str(), created, item, part] {
                        if tx.send(Message::text(f.to_owned())).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
    }
}

/// The floor the bridge is measured against: per call, the same sockets and messages with no
/// SDK: each frame parsed as JSON, caller audio forwarded as appends, answer audio forwarded
/// as a `media` and a `mark` (one flush), mark echoes parsed and dropped.
async fn null_forward(
    twilio: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    mock: &str,
) {
    let Ok((openai, _)) =
        tokio_tungstenite::connect_async_with_config(mock, ws_config(), true).await
    else {
        return;
    };
    let (mut ttx, mut trx) = twilio.split();
    let (mut otx, mut orx) = openai.split();
    let update = r#"{"type":"session.update","session":{"type":"realtime"}}"#;
    if otx.send(Message::text(update)).await.is_err() {
        return;
    }
    let mut sid = String::new();
    let mut mark = 0u64;
    loop {
        tokio::select! {
            m = trx.next() => {
                let Some(Ok(Message::Text(t))) = m else { return };
                let Ok(v) = serde_json::from_str::<serde_json::Value>(t.as_str()) else { continue };
                match v["event"].as_str() {
                    Some("start") => sid = v["streamSid"].as_str().unwrap_or_default().to_owned(),
                    Some("media") => {
                        let payload = v["media"]["payload"].as_str().unwrap_or_default();
                        let append = format!(r#"{{"type":"input_audio_buffer.append","audio":"{payload}"}}"#);
                        if otx.send(Message::text(append)).await.is_err() {
                            return;
                        }
                    }
                    Some("stop") => return,
                    _ => {}
                }
            }
            m = orx.next() => {
                let Some(Ok(Message::Text(t))) = m else { return };
                let Ok(v) = serde_json::from_str::<serde_json::Value>(t.as_str()) else { continue };
                if v["type"] == "response.output_audio.delta" {
                    let delta = v["delta"].as_str().unwrap_or_default();
                    mark += 1;
                    let media = format!(r#"{{"event":"media","streamSid":"{sid}","media":{{"payload":"{delta}"}}}}"#);
                    let m2 = format!(r#"{{"event":"mark","streamSid":"{sid}","mark":{{"name":"n-{mark}"}}}}"#);
                    if ttx.feed(Message::text(media)).await.is_err() || ttx.send(Message::text(m2)).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}
