//! `cargo bench -p realtime-protocol`: the per-event decode cost on the hot path.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use realtime_protocol::{audio, beta, ga};
use std::hint::black_box;

fn audio_delta(kind: &str) -> String {
    // 20 ms of 24 kHz PCM16: 480 samples, 960 bytes.
    let pcm: Vec<u8> = (0..480i32)
        .flat_map(|i| (((i * 97) % 20_000 - 10_000) as i16).to_le_bytes())
        .collect();
    format!(
        r#"{{"type":"{kind}","event_id":"event_CkP1oC2s4A5Nd7XSzBe1v","response_id":"resp_CkP1oC9z0y1x2w3v4u5t6","item_id":"item_CkP1oD8y7x6w5v4u3t2s1","output_index":0,"content_index":0,"delta":"{}"}}"#,
        audio::encode_base64(&pcm)
    )
}

const TRANSCRIPT_DELTA: &str = r#"{"type":"response.output_audio_transcript.delta","event_id":"event_CkP1oC2s4A5Nd7XSzBe1w","response_id":"resp_CkP1oC9z0y1x2w3v4u5t6","item_id":"item_CkP1oD8y7x6w5v4u3t2s1","output_index":0,"content_index":0,"delta":" the weather"}"#;

const RESPONSE_DONE: &str = r#"{"type":"response.done","event_id":"event_CkP1oC2s4A5Nd7XSzBe1x","response":{"object":"realtime.response","id":"resp_CkP1oC9z0y1x2w3v4u5t6","status":"completed","status_details":null,"output":[{"id":"item_CkP1oD8y7x6w5v4u3t2s1","type":"message","status":"completed","role":"assistant","content":[{"type":"output_audio","transcript":"It is sunny and 21 degrees in Paris."}]}],"conversation_id":"conv_CkP1oC9z0y1x2w3v4u5t7","output_modalities":["audio"],"max_output_tokens":"inf","audio":{"output":{"format":{"type":"audio/pcm","rate":24000},"voice":"marin"}},"usage":{"total_tokens":253,"input_tokens":132,"output_tokens":121,"input_token_details":{"text_tokens":119,"audio_tokens":13,"image_tokens":0,"cached_tokens":64,"cached_tokens_details":{"text_tokens":64,"audio_tokens":0,"image_tokens":0}},"output_token_details":{"text_tokens":30,"audio_tokens":91}},"metadata":null}}"#;

const SESSION_UPDATED: &str = r#"{"type":"session.updated","event_id":"event_CkP1oC2s4A5Nd7XSzBe1y","session":{"type":"realtime","object":"realtime.session","id":"sess_CkP1oC9z0y1x2w3v4u5t8","model":"gpt-realtime","output_modalities":["audio"],"instructions":"You are a helpful assistant. Keep answers short.","tools":[{"type":"function","name":"get_weather","description":"Current weather for a city.","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}],"tool_choice":"auto","max_output_tokens":"inf","tracing":null,"prompt":null,"expires_at":1767225600,"audio":{"input":{"format":{"type":"audio/pcm","rate":24000},"transcription":{"model":"gpt-4o-mini-transcribe"},"noise_reduction":null,"turn_detection":{"type":"semantic_vad","eagerness":"auto","create_response":true,"interrupt_response":true}},"output":{"format":{"type":"audio/pcm","rate":24000},"voice":"marin","speed":1.0}},"include":null}}"#;

const OUTPUT_ITEM_DONE: &str = r#"{"type":"response.output_item.done","event_id":"event_CkP1oC2s4A5Nd7XSzBe1z","response_id":"resp_CkP1oC9z0y1x2w3v4u5t6","output_index":0,"item":{"id":"item_CkP1oD8y7x6w5v4u3t2s2","type":"function_call","status":"completed","name":"get_weather","call_id":"call_CkP1oD1a2b3c4d5e","arguments":"{\"city\":\"Paris\"}"}}"#;

fn bench(c: &mut Criterion) {
    let ga_audio = audio_delta("response.output_audio.delta");
    let beta_audio = audio_delta("response.audio.delta");
    let mut g = c.benchmark_group("from_json");
    g.throughput(Throughput::Elements(1));
    g.bench_function("ga/audio_delta_20ms", |b| {
        b.iter(|| ga::ServerEvent::from_json(black_box(&ga_audio)).unwrap())
    });
    g.bench_function("beta/audio_delta_20ms", |b| {
        b.iter(|| beta::ServerEvent::from_json(black_box(&beta_audio)).unwrap())
    });
    g.bench_function("ga/transcript_delta", |b| {
        b.iter(|| ga::ServerEvent::from_json(black_box(TRANSCRIPT_DELTA)).unwrap())
    });
    g.bench_function("ga/response_done_usage", |b| {
        b.iter(|| ga::ServerEvent::from_json(black_box(RESPONSE_DONE)).unwrap())
    });
    g.bench_function("ga/output_item_done_call", |b| {
        b.iter(|| ga::ServerEvent::from_json(black_box(OUTPUT_ITEM_DONE)).unwrap())
    });
    g.bench_function("ga/session_updated", |b| {
        b.iter(|| ga::ServerEvent::from_json(black_box(SESSION_UPDATED)).unwrap())
    });
    g.finish();

    let ga::ServerEvent::ResponseOutputAudioDelta(delta) =
        ga::ServerEvent::from_json(&ga_audio).unwrap()
    else {
        unreachable!("the fixture is an audio delta")
    };
    let mut g = c.benchmark_group("audio");
    g.throughput(Throughput::Bytes(960));
    let mut buf = Vec::with_capacity(960);
    g.bench_function("decode_pcm_into_20ms", |b| {
        b.iter(|| {
            buf.clear();
            black_box(&delta).decode_pcm_into(&mut buf).unwrap();
        })
    });
    g.bench_function("decode_pcm_20ms", |b| {
        b.iter(|| black_box(&delta).decode_pcm().unwrap())
    });
    g.bench_function("parse_and_decode_20ms", |b| {
        b.iter(|| {
            let ev = ga::ServerEvent::from_json(black_box(&ga_audio)).unwrap();
            if let ga::ServerEvent::ResponseOutputAudioDelta(d) = ev {
                buf.clear();
                d.decode_pcm_into(&mut buf).unwrap();
            }
        })
    });
    let client = ga::ClientEvent::input_audio_append(&vec![7u8; 960]);
    g.bench_function("encode_append_20ms", |b| {
        b.iter(|| black_box(&client).to_json().unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
