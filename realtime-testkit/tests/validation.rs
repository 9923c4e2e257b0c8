//! The fake server refuses what the service refuses, the way it refuses it: one row per rule and
//! dialect, each sent on a real socket, each answered by an `error` naming the field, echoing the
//! client's `event_id`, and changing nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use realtime_protocol::Dialect;
use realtime_testkit::{FakeServerConfig, Validation};
use serde_json::{json, Value};

mod common;
use common::*;

struct Row {
    rule: &'static str,
    event: Value,
    code: &'static str,
    param: &'static str,
}

fn row(rule: &'static str, event: Value, code: &'static str, param: &'static str) -> Row {
    Row {
        rule,
        event,
        code,
        param,
    }
}

fn user_item(content: Value) -> Value {
    json!({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": content}})
}

fn ga_rows() -> Vec<Row> {
    vec![
        row(
            "unknown session field",
            json!({"type": "session.update", "session": {"type": "realtime", "foo": 1}}),
            "unknown_parameter",
            "session.foo",
        ),
        row(
            "beta field on GA",
            json!({"type": "session.update", "session": {"type": "realtime", "temperature": 0.8}}),
            "unknown_parameter",
            "session.temperature",
        ),
        row(
            "beta voice place on GA",
            json!({"type": "session.update", "session": {"type": "realtime", "voice": "alloy"}}),
            "unknown_parameter",
            "session.voice",
        ),
        row(
            "unknown item field",
            json!({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "bogus": true, "content": [{"type": "input_text", "text": "hi"}]}}),
            "unknown_parameter",
            "item.bogus",
        ),
        row(
            "unknown top-level field",
            json!({"type": "response.cancel", "extra": 1}),
            "unknown_parameter",
            "extra",
        ),
        row(
            "nested unknown field",
            json!({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000, "bits": 16}}}}}),
            "unknown_parameter",
            "session.audio.input.format.bits",
        ),
        row(
            "content part without type",
            user_item(json!([{"text": "hi"}])),
            "missing_required_parameter",
            "item.content[0].type",
        ),
        row(
            "session without type",
            json!({"type": "session.update", "session": {"instructions": "x"}}),
            "missing_required_parameter",
            "session.type",
        ),
        row(
            "missing top-level field",
            json!({"type": "input_audio_buffer.append"}),
            "missing_required_parameter",
            "audio",
        ),
        row(
            "string where object",
            json!({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"format": "pcm16"}}}}),
            "invalid_type",
            "session.audio.input.format",
        ),
        row(
            "number where string",
            json!({"type": "session.update", "session": {"type": "realtime", "instructions": 5}}),
            "invalid_type",
            "session.instructions",
        ),
        row(
            "object where array",
            user_item(json!({"type": "input_text"})),
            "invalid_type",
            "item.content",
        ),
        row(
            "enum value",
            json!({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["video"]}}),
            "invalid_value",
            "session.output_modalities[0]",
        ),
        row(
            "unknown item type",
            json!({"type": "conversation.item.create", "item": {"type": "note", "text": "x"}}),
            "invalid_value",
            "item.type",
        ),
        row(
            "content part type of another role",
            user_item(json!([{"type": "output_text", "text": "hi"}])),
            "invalid_value",
            "item.content[0].type",
        ),
        row(
            "above maximum",
            json!({"type": "session.update", "session": {"type": "realtime", "audio": {"output": {"speed": 9.0}}}}),
            "decimal_above_max_value",
            "session.audio.output.speed",
        ),
        row(
            "integer below minimum",
            json!({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"turn_detection": {"type": "server_vad", "idle_timeout_ms": 10}}}}}),
            "integer_below_min_value",
            "session.audio.input.turn_detection.idle_timeout_ms",
        ),
        row(
            "event_id too long",
            json!({"type": "response.cancel", "event_id": "e".repeat(600)}),
            "string_above_max_length",
            "event_id",
        ),
    ]
}

fn beta_rows() -> Vec<Row> {
    vec![
        row(
            "GA session.type on beta",
            json!({"type": "session.update", "session": {"type": "realtime"}}),
            "unknown_parameter",
            "session.type",
        ),
        row(
            "GA session.audio on beta",
            json!({"type": "session.update", "session": {"audio": {"output": {"voice": "alloy"}}}}),
            "unknown_parameter",
            "session.audio",
        ),
        row(
            "unknown item field",
            json!({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "bogus": true, "content": [{"type": "input_text", "text": "hi"}]}}),
            "unknown_parameter",
            "item.bogus",
        ),
        row(
            "unknown top-level field",
            json!({"type": "input_audio_buffer.clear", "extra": 1}),
            "unknown_parameter",
            "extra",
        ),
        row(
            "content part without type",
            user_item(json!([{"text": "hi"}])),
            "missing_required_parameter",
            "item.content[0].type",
        ),
        row(
            "missing top-level field",
            json!({"type": "conversation.item.delete"}),
            "missing_required_parameter",
            "item_id",
        ),
        row(
            "number where string",
            json!({"type": "session.update", "session": {"instructions": 5}}),
            "invalid_type",
            "session.instructions",
        ),
        row(
            "object where enum string",
            json!({"type": "session.update", "session": {"output_audio_format": {"type": "audio/pcm"}}}),
            "invalid_type",
            "session.output_audio_format",
        ),
        row(
            "enum value",
            json!({"type": "session.update", "session": {"modalities": ["video"]}}),
            "invalid_value",
            "session.modalities[0]",
        ),
        row(
            "temperature above range",
            json!({"type": "session.update", "session": {"temperature": 5.0}}),
            "decimal_above_max_value",
            "session.temperature",
        ),
        row(
            "temperature below range",
            json!({"type": "session.update", "session": {"temperature": 0.1}}),
            "decimal_below_min_value",
            "session.temperature",
        ),
    ]
}

#[tokio::test]
async fn each_rule_in_each_dialect_is_refused_like_the_service() {
    for (dialect, rows) in [(Dialect::Ga, ga_rows()), (Dialect::Beta, beta_rows())] {
        let (server, mut c, conn) = start(FakeServerConfig::default(), dialect).await;
        let session_before = conn.session();
        for (i, r) in rows.into_iter().enumerate() {
            let mut event = r.event;
            let eid = format!("evt_row{i}");
            if event.get("event_id").is_none() {
                event["event_id"] = json!(eid);
            }
            let sent_eid = event["event_id"].clone();
            c.send(event).await;
            let v = c.recv().await;
            let what = format!("{dialect:?} row {i} ({}): {v}", r.rule);
            assert_eq!(v["type"], "error", "{what}");
            assert_eq!(v["error"]["type"], "invalid_request_error", "{what}");
            assert_eq!(v["error"]["code"], r.code, "{what}");
            assert_eq!(v["error"]["param"], r.param, "{what}");
            assert_eq!(v["error"]["event_id"], sent_eid, "{what}");
            let message = v["error"]["message"].as_str().unwrap_or_default();
            // The service's wording: every message names the field, except an enum value's,
            // which names the value and what is supported.
            if r.code == "invalid_value" {
                assert!(message.starts_with("Invalid value: '"), "{what}");
                assert!(message.contains("Supported values are: '"), "{what}");
            } else {
                assert!(
                    message.contains(r.param),
                    "{what}: the message names the field"
                );
            }
        }
        // Nothing changed: the session is as it was and no item was added.
        assert_eq!(conn.session(), session_before, "{dialect:?}");
        assert!(conn.conversation().is_empty(), "{dialect:?}");
        // The connection goes on: a valid event is answered.
        c.send(json!({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "still here"}]}})).await;
        let v = c.recv().await;
        assert_ne!(v["type"], "error", "{v}");
        server.shutdown().await;
    }
}

#[tokio::test]
async fn nulls_for_optional_fields_are_accepted_as_the_service_does() {
    let (server, mut c, _conn) = start(FakeServerConfig::default(), Dialect::Ga).await;
    c.send(json!({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"turn_detection": null, "transcription": null}}, "tracing": null}})).await;
    let v = c.recv().await;
    assert_eq!(v["type"], "session.updated", "{v}");
    assert_eq!(
        v["session"]["audio"]["input"]["turn_detection"],
        Value::Null
    );
    server.shutdown().await;
}

#[tokio::test]
async fn lenient_servers_accept_unknown_parameters() {
    let config = FakeServerConfig::default().with_validation(Validation::Lenient);
    let (server, mut c, _conn) = start(config, Dialect::Ga).await;
    c.send(json!({"type": "session.update", "session": {"type": "realtime", "foo": 1}}))
        .await;
    let v = c.recv().await;
    assert_eq!(v["type"], "session.updated", "{v}");
    server.shutdown().await;
}
