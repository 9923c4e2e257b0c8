//! Property tests: generated events of many shapes decode, encode and decode again to the same
//! value; arbitrary text never panics the decoder.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use realtime_protocol::{beta, ga};
use serde_json::{json, Value};

fn id() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_]{1,30}"
}

fn text() -> impl Strategy<Value = String> {
    proptest::string::string_regex("(?s).{0,40}").unwrap()
}

/// Server events of several kinds with arbitrary values, in both dialects' spelling.
fn server_event(beta: bool) -> impl Strategy<Value = Value> {
    let audio = if beta {
        "response.audio.delta"
    } else {
        "response.output_audio.delta"
    };
    let transcript = if beta {
        "response.audio_transcript.delta"
    } else {
        "response.output_audio_transcript.delta"
    };
    prop_oneof![
        (id(), id(), id(), 0i64..5, 0i64..5, proptest::collection::vec(any::<u8>(), 0..200)).prop_map(move |(e, r, i, o, c, pcm)| json!({
            "type": audio, "event_id": e, "response_id": r, "item_id": i, "output_index": o, "content_index": c,
            "delta": realtime_protocol::audio::encode_base64(&pcm)})),
        (id(), id(), id(), 0i64..5, 0i64..5, text()).prop_map(move |(e, r, i, o, c, d)| json!({
            "type": transcript, "event_id": e, "response_id": r, "item_id": i, "output_index": o, "content_index": c, "delta": d})),
        (id(), text(), proptest::option::of(text()), proptest::option::of(id())).prop_map(|(e, m, code, ev)| json!({
            "type": "error", "event_id": e, "error": {"type": "invalid_request_error", "message": m, "code": code, "event_id": ev}})),
        (id(), id(), 0i64..100_000).prop_map(|(e, i, ms)| json!({
            "type": "input_audio_buffer.speech_stopped", "event_id": e, "item_id": i, "audio_end_ms": ms})),
        (id(), id(), proptest::option::of(id())).prop_map(|(e, i, prev)| json!({
            "type": "input_audio_buffer.committed", "event_id": e, "item_id": i, "previous_item_id": prev})),
        (id(), proptest::collection::vec(("[a-z_]{1,12}", 0i64..1_000_000, 0i64..1_000_000, 0.0f64..100.0), 0..4)).prop_map(|(e, limits)| json!({
            "type": "rate_limits.updated", "event_id": e,
            "rate_limits": limits.into_iter().map(|(n, l, r, s)| json!({"name": n, "limit": l, "remaining": r, "reset_seconds": s})).collect::<Vec<_>>()})),
        (id(), "[a-z_.]{1,30}", text()).prop_map(|(e, t, x)| json!({"type": format!("future.{t}"), "event_id": e, "x": x})),
    ]
}

/// JSON equality where `1` and `1.0` are one number.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let x: Vec<_> = x.iter().filter(|(_, v)| !v.is_null()).collect();
            let y: Vec<_> = y.iter().filter(|(_, v)| !v.is_null()).collect();
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.iter().any(|(k2, v2)| k == k2 && same(v, v2)))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same(v, w))
        }
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

proptest! {
    #[test]
    fn ga_server_events_round_trip(v in server_event(false)) {
        let raw = v.to_string();
        let ev = ga::ServerEvent::from_json(&raw).unwrap();
        let back: Value = serde_json::from_str(&ev.to_json().unwrap()).unwrap();
        prop_assert!(same(&v, &back), "{} became {}", v, back);
        prop_assert_eq!(ga::ServerEvent::from_json(&back.to_string()).unwrap(), ev);
    }

    #[test]
    fn beta_server_events_round_trip(v in server_event(true)) {
        let raw = v.to_string();
        let ev = beta::ServerEvent::from_json(&raw).unwrap();
        let back: Value = serde_json::from_str(&ev.to_json().unwrap()).unwrap();
        prop_assert!(same(&v, &back), "{} became {}", v, back);
        prop_assert_eq!(beta::ServerEvent::from_json(&back.to_string()).unwrap(), ev);
    }

    #[test]
    fn arbitrary_text_never_panics(s in proptest::string::string_regex("(?s).{0,300}").unwrap()) {
        let _ = ga::ServerEvent::from_json(&s);
        let _ = beta::ServerEvent::from_json(&s);
        let _ = ga::ClientEvent::from_json(&s);
        let _ = beta::ClientEvent::from_json(&s);
    }

    #[test]
    fn client_constructors_round_trip(text in text(), pcm in proptest::collection::vec(any::<u8>(), 0..500), ms in 0u64..10_000_000) {
        for ev in [ga::ClientEvent::user_text(text.clone()), ga::ClientEvent::input_audio_append(&pcm), ga::ClientEvent::truncate("item_x", 0, ms)] {
            prop_assert_eq!(ga::ClientEvent::from_json(&ev.to_json().unwrap()).unwrap(), ev);
        }
        for ev in [beta::ClientEvent::user_text(text), beta::ClientEvent::input_audio_append(&pcm), beta::ClientEvent::truncate("item_x", 0, ms)] {
            prop_assert_eq!(beta::ClientEvent::from_json(&ev.to_json().unwrap()).unwrap(), ev);
        }
    }
}
