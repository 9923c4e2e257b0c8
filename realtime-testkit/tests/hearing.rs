//! The fake server hears: server VAD from appended audio (PCM16 and G.711), barge-in by voice,
//! G.711 output, and truncation that leaves the item as the service leaves it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use realtime_protocol::Dialect;
use realtime_testkit::{
    CommittedAudio, FakeServerConfig, Pacing, Responder, ResponseContext, ResponsePart,
    ResponsePlan, Scripted,
};
use serde_json::{json, Value};

mod common;
use common::*;

/// A 300 Hz tone at `dbfs` RMS, PCM16 24 kHz.
fn speech(dbfs: f64, ms: u64) -> Vec<u8> {
    let amp = 10f64.powf(dbfs / 20.0) * std::f64::consts::SQRT_2 * 32_768.0;
    (0..ms * 24)
        .flat_map(|n| {
            let v = (2.0 * std::f64::consts::PI * 300.0 * n as f64 / 24_000.0).sin() * amp;
            (v.round() as i16).to_le_bytes()
        })
        .collect()
}

fn silence(ms: u64) -> Vec<u8> {
    vec![0; (ms * 48) as usize]
}

fn b64(bytes: &[u8]) -> String {
    realtime_protocol::audio::encode_base64(bytes)
}

/// Appends audio in 20 ms chunks.
async fn stream(c: &mut Client, audio: &[u8], bytes_per_20ms: usize) {
    for chunk in audio.chunks(bytes_per_20ms) {
        c.send(json!({"type": "input_audio_buffer.append", "audio": b64(chunk)}))
            .await;
    }
}

fn of_type<'a>(frames: &'a [Value], t: &str) -> Vec<&'a Value> {
    frames.iter().filter(|f| f["type"] == t).collect()
}

struct Hears;

#[async_trait::async_trait]
impl Responder for Hears {
    async fn respond(&self, ctx: &ResponseContext) -> ResponsePlan {
        let heard = ctx.last_user_text().unwrap_or_default();
        ResponsePlan::new([ResponsePart::Audio {
            pcm: realtime_testkit::tone(440.0, 2_000),
            transcript: format!("You said: {heard}"),
        }])
    }

    async fn transcribe(&self, audio: &CommittedAudio) -> Option<String> {
        Some(format!("turn {} of {} ms", audio.index, audio.duration_ms))
    }
}

#[tokio::test]
async fn speech_in_the_audio_starts_a_turn_and_talking_over_the_answer_interrupts_it() {
    for dialect in [Dialect::Ga, Dialect::Beta] {
        let config = FakeServerConfig::default()
            .with_responder(Hears)
            .with_pacing(Pacing::RealTime);
        let (server, mut c, conn) = start(config, dialect).await;
        // Silence, speech at -30 dBFS, silence: one turn.
        stream(&mut c, &silence(500), 960).await;
        stream(&mut c, &speech(-30.0, 1_000), 960).await;
        stream(&mut c, &silence(700), 960).await;
        let frames = c.recv_until("response.created").await;
        let started = of_type(&frames, "input_audio_buffer.speech_started");
        let stopped = of_type(&frames, "input_audio_buffer.speech_stopped");
        assert_eq!(started.len(), 1, "{dialect:?}: {frames:?}");
        // Default prefix padding 300 ms before the onset at 500 ms.
        assert_eq!(started[0]["audio_start_ms"], 200, "{dialect:?}");
        assert_eq!(stopped[0]["audio_end_ms"], 1_500, "{dialect:?}");
        assert_eq!(started[0]["item_id"], stopped[0]["item_id"]);
        let committed = of_type(&frames, "input_audio_buffer.committed");
        assert_eq!(committed[0]["item_id"], started[0]["item_id"]);
        // The transcript came from the responder.
        let item = &conn.conversation()[0];
        assert!(
            item.text().unwrap().starts_with("turn 0 of "),
            "{:?}",
            item.text()
        );
        // The answer streams at playback speed; the caller talks over it.
        let audio_delta = if dialect == Dialect::Ga {
            "response.output_audio.delta"
        } else {
            "response.audio.delta"
        };
        c.recv_until(audio_delta).await;
        stream(&mut c, &speech(-20.0, 300), 960).await;
        let frames = c.recv_until("response.done").await;
        assert_eq!(
            of_type(&frames, "input_audio_buffer.speech_started").len(),
            1,
            "{dialect:?}: {frames:?}"
        );
        let done = frames.last().unwrap();
        assert_eq!(done["response"]["status"], "cancelled", "{dialect:?}");
        assert_eq!(
            done["response"]["status_details"]["reason"],
            "turn_detected"
        );
        server.shutdown().await;
    }
}

#[tokio::test]
async fn silence_and_quiet_noise_are_not_speech() {
    let (server, mut c, conn) = start(FakeServerConfig::default(), Dialect::Ga).await;
    stream(&mut c, &silence(1_000), 960).await;
    stream(&mut c, &speech(-55.0, 1_000), 960).await;
    // A round trip proves every append was read before it.
    c.send(json!({"type": "input_audio_buffer.clear"})).await;
    let v = c.recv().await;
    assert_eq!(v["type"], "input_audio_buffer.cleared", "{v}");
    assert!(conn.conversation().is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn vad_off_hears_nothing() {
    let (server, mut c, _conn) = start(FakeServerConfig::default(), Dialect::Ga).await;
    c.send(json!({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"turn_detection": null}}}})).await;
    assert_eq!(c.recv().await["type"], "session.updated");
    stream(&mut c, &speech(-20.0, 1_000), 960).await;
    stream(&mut c, &silence(1_000), 960).await;
    c.send(json!({"type": "input_audio_buffer.clear"})).await;
    assert_eq!(c.recv().await["type"], "input_audio_buffer.cleared");
    server.shutdown().await;
}

fn ulaw(pcm24k: &[u8]) -> Vec<u8> {
    // 8 kHz: every third sample.
    let samples: Vec<i16> = pcm24k
        .chunks_exact(2)
        .step_by(3)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    realtime_protocol::audio::encode_ulaw(&samples)
}

#[tokio::test]
async fn a_g711_session_is_heard_and_answered_in_g711() {
    for dialect in [Dialect::Ga, Dialect::Beta] {
        let config = FakeServerConfig::default().with_responder(Scripted::new([
            ResponsePlan::new([ResponsePart::Audio {
                pcm: vec![0u8; 48_000],
                transcript: "one second".into(),
            }]),
        ]));
        let (server, mut c, _conn) = start(config, dialect).await;
        let update = if dialect == Dialect::Ga {
            json!({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcmu"}}, "output": {"format": {"type": "audio/pcmu"}}}}})
        } else {
            json!({"type": "session.update", "session": {"input_audio_format": "g711_ulaw", "output_audio_format": "g711_ulaw"}})
        };
        c.send(update).await;
        assert_eq!(c.recv().await["type"], "session.updated");
        let mut audio = ulaw(&silence(400));
        audio.extend(ulaw(&speech(-25.0, 600)));
        audio.extend(ulaw(&silence(600)));
        stream(&mut c, &audio, 160).await;
        let frames = c.recv_until("response.done").await;
        let started = of_type(&frames, "input_audio_buffer.speech_started");
        assert_eq!(started[0]["audio_start_ms"], 100, "{dialect:?}: {frames:?}");
        let stopped = of_type(&frames, "input_audio_buffer.speech_stopped");
        assert_eq!(stopped[0]["audio_end_ms"], 1_000, "{dialect:?}");
        // One second of answer is 8,000 bytes of µ-law, in 20 ms (160-byte) deltas.
        let delta = if dialect == Dialect::Ga {
            "response.output_audio.delta"
        } else {
            "response.audio.delta"
        };
        let bytes: Vec<usize> = of_type(&frames, delta)
            .iter()
            .map(|f| {
                realtime_protocol::audio::decode_base64(f["delta"].as_str().unwrap())
                    .unwrap()
                    .len()
            })
            .collect();
        assert_eq!(bytes.iter().sum::<usize>(), 8_000, "{dialect:?}");
        assert!(bytes.iter().all(|&b| b == 160), "{bytes:?}");
        server.shutdown().await;
    }
}

#[tokio::test]
async fn truncation_keeps_the_heard_audio_and_deletes_the_transcript() {
    for dialect in [Dialect::Ga, Dialect::Beta] {
        let config = FakeServerConfig::default()
            .with_responder(Scripted::new([
                ResponsePlan::new([ResponsePart::Audio {
                    pcm: vec![0u8; 48_000],
                    transcript: "one second".into(),
                }]),
                ResponsePlan::text("no audio here"),
            ]))
            .with_rate_limit_events(false);
        let (server, mut c, conn) = start(config, dialect).await;
        c.send(json!({"type": "response.create"})).await;
        let frames = c.recv_until("response.done").await;
        let item = frames.last().unwrap()["response"]["output"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        c.send(json!({"type": "conversation.item.truncate", "item_id": item, "content_index": 0, "audio_end_ms": 400})).await;
        assert_eq!(c.recv().await["type"], "conversation.item.truncated");
        c.send(json!({"type": "conversation.item.retrieve", "item_id": item}))
            .await;
        let v = c.recv().await;
        assert_eq!(v["type"], "conversation.item.retrieved", "{v}");
        assert_eq!(v["item"]["content"][0]["transcript"], Value::Null, "{v}");
        assert_eq!(conn.conversation()[0].audio_bytes(0), Some(400 * 48));
        // Beyond what is left: refused.
        c.send(json!({"type": "conversation.item.truncate", "item_id": item, "content_index": 0, "audio_end_ms": 500})).await;
        let v = c.recv().await;
        assert_eq!(
            (v["error"]["code"].as_str(), v["error"]["param"].as_str()),
            (Some("invalid_value"), Some("audio_end_ms")),
            "{v}"
        );
        // An item without audio: refused.
        c.send(json!({"type": "response.create", "response": {}}))
            .await;
        let frames = c.recv_until("response.done").await;
        let text_item = frames.last().unwrap()["response"]["output"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        c.send(json!({"type": "conversation.item.truncate", "item_id": text_item, "content_index": 0, "audio_end_ms": 0})).await;
        let v = c.recv().await;
        assert_eq!(v["error"]["code"], "invalid_value", "{v}");
        server.shutdown().await;
    }
}
