//! The public decoding and encoding API: error cases, constructors, audio helpers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use realtime_protocol::{audio, beta, ga, ProtocolError};

/// The outcome of decoding one GA server payload, as a short string a table row can name.
fn check(raw: &str) -> String {
    match ga::ServerEvent::from_json(raw) {
        Ok(ev) if ev.is_unknown() => format!("unknown {}", ev.event_type()),
        Ok(ev) => format!("ok {}", ev.event_type()),
        Err(e) => {
            assert_eq!(e.raw(), Some(raw), "the error must keep the raw text");
            match e {
                ProtocolError::InvalidJson { .. } => "invalid json".into(),
                ProtocolError::NotAnObject { .. } => "not an object".into(),
                ProtocolError::MissingType { .. } => "missing type".into(),
                ProtocolError::InvalidEvent { event_type, .. } => format!("invalid {event_type}"),
                other => format!("other {other}"),
            }
        }
    }
}

#[test]
fn decoding_table() {
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_obj = format!(
        r#"{{"type":"x","a":{}{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let cases: &[(&str, &str)] = &[
        ("", "invalid json"),
        ("   ", "invalid json"),
        ("nul", "invalid json"),
        ("{", "invalid json"),
        ("[1,2]", "not an object"),
        ("\"response.done\"", "not an object"),
        ("42", "not an object"),
        ("{}", "missing type"),
        (r#"{"type":null}"#, "missing type"),
        (r#"{"type":5}"#, "missing type"),
        (r#"{"type":"future.event","x":1}"#, "unknown future.event"),
        (r#"{"type":"future.event","x":}"#, "invalid json"),
        (
            r#"{"type":"response.audio.delta","delta":"AAAA"}"#,
            "unknown response.audio.delta",
        ),
        (
            r#"{"type":"input_audio_buffer.cleared","event_id":"e1"}"#,
            "ok input_audio_buffer.cleared",
        ),
        (
            r#"  {  "type" :  "input_audio_buffer.cleared" , "event_id":"e1"}"#,
            "ok input_audio_buffer.cleared",
        ),
        (
            r#"{"event_id":"e1","type":"input_audio_buffer.cleared"}"#,
            "ok input_audio_buffer.cleared",
        ),
        (
            r#"{"type":"input_audio_buffer.clea\u0072ed","event_id":"e1"}"#,
            "ok input_audio_buffer.cleared",
        ),
        // `type` last: read from the end, never from a nested object or inside a string.
        (
            r#"{"event_id":"e1","nested":{"type":"error"},"type":"input_audio_buffer.cleared"}  "#,
            "ok input_audio_buffer.cleared",
        ),
        (
            r#"{"event_id":"e1","nested":{"type":"input_audio_buffer.cleared"}}"#,
            "missing type",
        ),
        (
            r#"{"event_id":"e1","note":"x\",\"type\":\"error"}"#,
            "missing type",
        ),
        (
            r#"{"a":1,"type" : "input_audio_buffer.cleared" , "event_id":"e1"}"#,
            "ok input_audio_buffer.cleared",
        ),
        (
            "{\"event_id\":\"e1\", \"type\" :\"input_audio_buffer.cleared\"\n}",
            "ok input_audio_buffer.cleared",
        ),
        (
            r#"["x","type":"input_audio_buffer.cleared"}"#,
            "invalid json",
        ),
        (
            r#"{"event_id":"e1",,"type":"input_audio_buffer.cleared"}"#,
            "invalid json",
        ),
        (
            r#"{"type":"input_audio_buffer.cleared"}"#,
            "invalid input_audio_buffer.cleared",
        ),
        (
            r#"{"type":"input_audio_buffer.cleared","event_id":7}"#,
            "invalid input_audio_buffer.cleared",
        ),
        (
            r#"{"type":"input_audio_buffer.cleared","event_id":"e1""#,
            "invalid json",
        ),
        (
            r#"{"type":"input_audio_buffer.cleared","event_id":"e1"} trailing"#,
            "invalid json",
        ),
        (
            r#"{"type":"error","event_id":"e","error":{"type":"x","message":"m","code":null,"param":null}}"#,
            "ok error",
        ),
        (
            r#"{"type":"rate_limits.updated","event_id":"e","rate_limits":[{"name":"new_kind","limit":1}]}"#,
            "ok rate_limits.updated",
        ),
        (&deep, "not an object"),
        // Valid JSON however deep: kept as unknown, never a stack overflow.
        (&deep_obj, "unknown x"),
        ("{\"type\":\"future\u{0}\"}", "invalid json"),
    ];
    let mut failures = Vec::new();
    for (input, expected) in cases {
        let got = check(input);
        if got != *expected {
            failures.push(format!(
                "{:?}: expected {expected}, got {got}",
                &input[..input.len().min(80)]
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn open_enums_keep_unknown_values() {
    let raw = r#"{"type":"rate_limits.updated","event_id":"e","rate_limits":[{"name":"audio_seconds","limit":3600}]}"#;
    let ev = ga::ServerEvent::from_json(raw).unwrap();
    let ga::ServerEvent::RateLimitsUpdated(ev) = &ev else {
        panic!("wrong variant")
    };
    let name = ev.rate_limits[0].name.as_ref().unwrap();
    assert!(!name.is_known());
    assert_eq!(name.as_str(), "audio_seconds");
    let back = ga::ServerEvent::RateLimitsUpdated(ev.clone())
        .to_json()
        .unwrap();
    assert!(back.contains(r#""name":"audio_seconds""#), "{back}");
}

#[test]
fn unknown_items_keep_their_json() {
    let raw = r#"{"type":"conversation.item.added","event_id":"e","item":{"id":"ws_1","type":"web_search_call","status":"completed"}}"#;
    let ga::ServerEvent::ConversationItemAdded(ev) = ga::ServerEvent::from_json(raw).unwrap()
    else {
        panic!("wrong variant")
    };
    let ga::ConversationItem::Unknown(v) = &ev.item else {
        panic!("expected an unknown item")
    };
    assert_eq!(v["type"], "web_search_call");
}

#[test]
fn unknown_events_round_trip_verbatim() {
    let raw = r#"{"type":"future.event",  "z":1,"a":[true,null]}"#;
    let ev = ga::ServerEvent::from_json(raw).unwrap();
    assert_eq!(ev.event_type(), "future.event");
    assert_eq!(ev.to_json().unwrap(), raw);
    let ga::ServerEvent::Unknown(u) = &ev else {
        panic!("expected Unknown")
    };
    assert_eq!(u.raw(), raw);
    assert_eq!(u.to_value()["z"], 1);
    // Through serde too.
    let via_serde = serde_json::to_value(&ev).unwrap();
    assert_eq!(
        via_serde,
        serde_json::json!({"type": "future.event", "z": 1, "a": [true, null]})
    );
}

#[test]
fn serde_deserialize_uses_the_same_path() {
    let ev: ga::ServerEvent =
        serde_json::from_str(r#"{"type":"input_audio_buffer.cleared","event_id":"e1"}"#).unwrap();
    assert_eq!(ev.event_type(), "input_audio_buffer.cleared");
    let err = serde_json::from_str::<ga::ServerEvent>(r#"{"type":"input_audio_buffer.cleared"}"#)
        .unwrap_err();
    assert!(
        err.to_string().contains("missing field `event_id`"),
        "{err}"
    );
    let ev: ga::ClientEvent = "{\"type\":\"response.cancel\"}".parse().unwrap();
    assert_eq!(ev.event_type(), "response.cancel");
}

#[test]
fn audio_deltas_decode_in_both_dialects() {
    let pcm: Vec<u8> = (0..960u32).map(|i| (i * 7 % 251) as u8).collect();
    let b64 = audio::encode_base64(&pcm);
    let ga_raw = format!(
        r#"{{"type":"response.output_audio.delta","event_id":"e","response_id":"r","item_id":"i","output_index":0,"content_index":0,"delta":"{b64}"}}"#
    );
    let ga::ServerEvent::ResponseOutputAudioDelta(d) = ga::ServerEvent::from_json(&ga_raw).unwrap()
    else {
        panic!()
    };
    assert_eq!(d.decode_pcm().unwrap(), pcm);
    let beta_raw = ga_raw.replace("response.output_audio.delta", "response.audio.delta");
    let beta::ServerEvent::ResponseAudioDelta(d) = beta::ServerEvent::from_json(&beta_raw).unwrap()
    else {
        panic!()
    };
    let mut buf = vec![1, 2];
    d.decode_pcm_into(&mut buf).unwrap();
    assert_eq!(&buf[2..], &pcm[..]);
    assert_eq!(d.item_id, "i");
}

#[test]
fn invalid_base64_is_a_typed_error_and_keeps_the_buffer() {
    let mut buf = vec![9, 9];
    let err = audio::decode_base64_into("not base64!!", &mut buf).unwrap_err();
    assert!(matches!(err, ProtocolError::InvalidBase64), "{err:?}");
    assert_eq!(buf, [9, 9]);
    assert_eq!(err.to_string(), "audio payload is not valid base64");
}

#[test]
fn pcm_helpers() {
    let samples = [0i16, 1, -1, i16::MAX, i16::MIN];
    let bytes = audio::samples_to_pcm16(&samples);
    assert_eq!(audio::pcm16_to_samples(&bytes), samples);
    assert_eq!(audio::pcm16_duration_ms(48_000, 24_000), 1000.0);
    assert_eq!(audio::pcm16_duration_ms(960, 24_000), 20.0);
    assert_eq!(audio::pcm16_duration_ms(960, 0), 0.0);
}

#[test]
fn errors_display_without_repeating_their_cause() {
    let err = ga::ServerEvent::from_json(r#"{"type":"input_audio_buffer.cleared"}"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid `input_audio_buffer.cleared` event"
    );
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert!(cause.contains("missing field `event_id`"), "{cause}");
    assert_eq!(err.event_type(), Some("input_audio_buffer.cleared"));
}

#[test]
fn event_type_lists() {
    for (name, types) in [
        ("ga_client_event_types", ga::ClientEvent::TYPES),
        ("ga_server_event_types", ga::ServerEvent::TYPES),
        ("beta_client_event_types", beta::ClientEvent::TYPES),
        ("beta_server_event_types", beta::ServerEvent::TYPES),
    ] {
        insta::assert_snapshot!(name, format!("{} types\n{}", types.len(), types.join("\n")));
    }
    assert_eq!(ga::ClientEvent::TYPES.len(), 11);
    assert_eq!(ga::ServerEvent::TYPES.len(), 46);
    assert_eq!(beta::ClientEvent::TYPES.len(), 12);
    assert_eq!(beta::ServerEvent::TYPES.len(), 34);
}

#[test]
fn ga_client_constructors() {
    let session = ga::SessionUpdateBuilder::new()
        .instructions("Be brief.")
        .voice(ga::Voice::Marin)
        .output_modalities([ga::OutputModality::Audio])
        .pcm16_audio()
        .semantic_vad(true)
        .transcription(Some("gpt-4o-mini-transcribe"))
        .noise_reduction(None)
        .function_tool(
            "get_weather",
            "Current weather for a city.",
            serde_json::json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
        )
        .tracing(None)
        .build();
    let cases = [
        (
            "ga_input_audio_append",
            ga::ClientEvent::input_audio_append(&[0, 1, 2, 3]),
        ),
        (
            "ga_input_audio_commit",
            ga::ClientEvent::input_audio_commit(),
        ),
        ("ga_input_audio_clear", ga::ClientEvent::input_audio_clear()),
        ("ga_user_text", ga::ClientEvent::user_text("Hello, world")),
        (
            "ga_function_call_output",
            ga::ClientEvent::function_call_output("call_1", r#"{"temp":21}"#),
        ),
        ("ga_response_create", ga::ClientEvent::response_create()),
        ("ga_response_cancel", ga::ClientEvent::response_cancel()),
        ("ga_truncate", ga::ClientEvent::truncate("item_1", 0, 1234)),
        ("ga_delete_item", ga::ClientEvent::delete_item("item_1")),
        (
            "ga_session_update",
            ga::ClientEvent::session_update(session),
        ),
    ];
    for (name, ev) in cases {
        let json: serde_json::Value = serde_json::from_str(&ev.to_json().unwrap()).unwrap();
        // What we send must also be what we accept.
        let back = ga::ClientEvent::from_json(&json.to_string()).unwrap();
        assert_eq!(back, ev, "{name} does not round-trip");
        // Sorted keys: the workspace build unifies serde_json's `preserve_order` (xtask uses it),
        // and the snapshot must not depend on which packages are built together.
        insta::with_settings!({ sort_maps => true }, { insta::assert_json_snapshot!(name, json) });
    }
}

#[test]
fn beta_client_constructors() {
    let session = beta::SessionUpdateBuilder::new()
        .instructions("Be brief.")
        .voice("alloy")
        .modalities([beta::Modality::Text, beta::Modality::Audio])
        .audio_format(beta::AudioFormat::Pcm16)
        .server_vad()
        .transcription(Some("whisper-1"))
        .function_tool(
            "get_weather",
            "Current weather for a city.",
            serde_json::json!({"type": "object"}),
        )
        .tool_choice("auto")
        .temperature(0.8)
        .build();
    let cases = [
        (
            "beta_input_audio_append",
            beta::ClientEvent::input_audio_append(&[0, 1, 2, 3]),
        ),
        (
            "beta_input_audio_commit",
            beta::ClientEvent::input_audio_commit(),
        ),
        (
            "beta_user_text",
            beta::ClientEvent::user_text("Hello, world"),
        ),
        (
            "beta_function_call_output",
            beta::ClientEvent::function_call_output("call_1", "sunny"),
        ),
        ("beta_response_create", beta::ClientEvent::response_create()),
        ("beta_response_cancel", beta::ClientEvent::response_cancel()),
        (
            "beta_truncate",
            beta::ClientEvent::truncate("item_1", 0, 1234),
        ),
        (
            "beta_session_update",
            beta::ClientEvent::session_update(session),
        ),
        (
            "beta_session_vad_off",
            beta::ClientEvent::session_update(
                beta::SessionUpdateBuilder::new()
                    .turn_detection(None)
                    .build(),
            ),
        ),
    ];
    for (name, ev) in cases {
        let json: serde_json::Value = serde_json::from_str(&ev.to_json().unwrap()).unwrap();
        let back = beta::ClientEvent::from_json(&json.to_string()).unwrap();
        assert_eq!(back, ev, "{name} does not round-trip");
        // Sorted keys: the workspace build unifies serde_json's `preserve_order` (xtask uses it),
        // and the snapshot must not depend on which packages are built together.
        insta::with_settings!({ sort_maps => true }, { insta::assert_json_snapshot!(name, json) });
    }
}

/// Removes `//` comments and trailing commas, which some spec examples contain.
fn repair_example(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if c == '\\' {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '/' if chars.peek() == Some(&'/') => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            _ => out.push(c),
        }
    }
    // Trailing commas: `,` followed by whitespace and a closing bracket.
    let bytes: Vec<char> = out.chars().collect();
    let mut fixed = String::with_capacity(out.len());
    let mut in_string = false;
    let mut escaped = false;
    for (i, &c) in bytes.iter().enumerate() {
        if in_string {
            fixed.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        if c == '"' {
            in_string = true;
        }
        if c == ',' {
            let next = bytes[i + 1..].iter().find(|c| !c.is_whitespace());
            if matches!(next, Some('}') | Some(']')) {
                continue;
            }
        }
        fixed.push(c);
    }
    fixed
}

/// Every `x-oaiMeta` example of an event schema in the vendored spec decodes to its event type
/// and serializes back to the same JSON (nulls aside), except the examples the spec README lists
/// as broken, which must fail in the way described.
#[test]
fn spec_examples_round_trip() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let spec: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{dir}/spec/realtime-openapi.json")).unwrap(),
    )
    .unwrap();
    // Known spec problems ("Spec examples that fail the SDK types" in spec/README.md).
    let broken: &[(&str, &str)] = &[
        (
            "RealtimeServerEventInputAudioBufferDtmfEventReceived",
            "leading space in `type`, no event_id",
        ),
        ("RealtimeClientEventResponseCreate", "item_reference inputs"),
        (
            "RealtimeBetaServerEventConversationItemInputAudioTranscriptionCompleted",
            "no usage",
        ),
        (
            "RealtimeBetaServerEventTranscriptionSessionUpdated",
            "no client_secret",
        ),
        (
            "RealtimeBetaServerEventConversationItemRetrieved",
            "type is conversation.item.created",
        ),
        (
            "RealtimeServerEventConversationItemRetrieved",
            "beta-era content parts",
        ),
        (
            "RealtimeServerEventResponseOutputItemDone",
            "beta-era content parts",
        ),
        ("RealtimeBetaServerEventResponseDone", "GA usage fields"),
        (
            "RealtimeBetaClientEventResponseCreate",
            "GA max_output_tokens",
        ),
    ];
    let mut failures = Vec::new();
    let mut checked = 0;
    for dialect in ["ga", "beta"] {
        for list in ["client_events", "server_events"] {
            for ev in spec["x-realtime-index"][dialect][list].as_array().unwrap() {
                let schema = ev["schema"].as_str().unwrap();
                let kind = ev["type"].as_str().unwrap();
                let Some(example) =
                    spec["components"]["schemas"][schema]["x-oaiMeta"]["example"].as_str()
                else {
                    continue;
                };
                if broken.iter().any(|(s, _)| *s == schema) {
                    continue;
                }
                checked += 1;
                let raw = repair_example(example);
                let decoded = match (dialect, list) {
                    ("ga", "client_events") => ga::ClientEvent::from_json(&raw)
                        .map(|e| (e.event_type().to_owned(), e.to_json().unwrap())),
                    ("ga", _) => ga::ServerEvent::from_json(&raw)
                        .map(|e| (e.event_type().to_owned(), e.to_json().unwrap())),
                    (_, "client_events") => beta::ClientEvent::from_json(&raw)
                        .map(|e| (e.event_type().to_owned(), e.to_json().unwrap())),
                    _ => beta::ServerEvent::from_json(&raw)
                        .map(|e| (e.event_type().to_owned(), e.to_json().unwrap())),
                };
                match decoded {
                    Ok((t, json)) if t == kind => {
                        let a = strip_nulls(&serde_json::from_str(&raw).unwrap());
                        let b = strip_nulls(&serde_json::from_str(&json).unwrap());
                        if !same_json(&a, &b) {
                            failures.push(format!(
                                "{schema}: round trip differs\n  in:  {a}\n  out: {b}"
                            ));
                        }
                    }
                    Ok((t, _)) => failures.push(format!("{schema}: decoded as {t}")),
                    Err(e) => failures.push(format!(
                        "{schema}: {e}: {:?}",
                        std::error::Error::source(&e).map(|s| s.to_string())
                    )),
                }
            }
        }
    }
    assert!(checked > 80, "only {checked} examples checked");
    assert!(
        failures.is_empty(),
        "{} spec examples fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn strip_nulls(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_nulls).collect()),
        other => other.clone(),
    }
}

/// JSON equality where `1` and `1.0` are the same number.
fn same_json(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same_json(v, w))
        }
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}
