//! Conformance against the public corpus (`tests/data/corpus/*.jsonl`, copied from the spec's
//! corpus): every line is decoded in its dialect and direction and checked against its verdict.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use realtime_protocol::{beta, ga, ProtocolError};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

#[derive(Deserialize)]
struct Line<'a> {
    id: String,
    protocol: String,
    direction: String,
    #[serde(rename = "type")]
    kind: Option<String>,
    valid: bool,
    #[serde(borrow)]
    event: &'a RawValue,
}

/// What decoding one payload gave, independent of dialect and direction.
#[derive(Debug)]
enum Outcome {
    Known { event_type: String, json: String },
    Unknown { event_type: String, raw: String },
    Error(ProtocolError),
}

fn decode(protocol: &str, direction: &str, raw: &str) -> (Outcome, &'static [&'static str]) {
    macro_rules! run {
        ($ty:ty) => {{
            let outcome = match <$ty>::from_json(raw) {
                Ok(ev) if ev.is_unknown() => {
                    let json = ev.to_json().unwrap();
                    Outcome::Unknown {
                        event_type: ev.event_type().to_owned(),
                        raw: json,
                    }
                }
                Ok(ev) => Outcome::Known {
                    event_type: ev.event_type().to_owned(),
                    json: ev.to_json().unwrap(),
                },
                Err(e) => Outcome::Error(e),
            };
            (outcome, <$ty>::TYPES)
        }};
    }
    match (protocol, direction) {
        ("ga", "server") => run!(ga::ServerEvent),
        ("ga", "client") => run!(ga::ClientEvent),
        ("beta", "server") => run!(beta::ServerEvent),
        ("beta", "client") => run!(beta::ClientEvent),
        other => panic!("unexpected corpus line kind {other:?}"),
    }
}

/// Invalid payloads of a known type: what we do with each, and why.
/// `Err`: a required field is missing or a field has the wrong JSON type.
/// `Ok`: the only problem is a value the spec does not list (open enums, unknown item types),
/// which we keep for forward compatibility.
const INVALID_KNOWN: &[(&str, Expect)] = &[
    // Required `audio_end_ms` missing.
    (
        "beta-client-conversation.item.truncate-tricky-01",
        Expect::Err,
    ),
    // An item type the spec does not list (`web_search_call`): kept as an unknown item.
    (
        "beta-server-conversation.item.created-tricky-04",
        Expect::Ok,
    ),
    ("ga-server-conversation.item.added-tricky-03", Expect::Ok),
    // A rate-limit name the spec does not list: kept in `Other`.
    ("beta-server-rate_limits.updated-tricky-04", Expect::Ok),
    ("ga-server-rate_limits.updated-tricky-04", Expect::Ok),
    // The spec's own example lacks the "required" `client_secret`, as every
    // `transcription_session.updated` on a WebSocket does (the field exists only for sessions
    // created over REST): `overrides.json` makes it optional, so the event decodes.
    (
        "beta-server-transcription_session.updated-spec-example-01",
        Expect::Ok,
    ),
    // `item_reference` inputs: the spec allows them, the Python SDK does not; kept as unknown items.
    ("ga-client-response.create-spec-example-01", Expect::Ok),
    // GA `session.update` without `session.type`.
    ("ga-client-session.update-tricky-01", Expect::Err),
    ("ga-client-session.update-tricky-02", Expect::Err),
    // Required top-level `event_id` missing.
    ("ga-server-error-tricky-04", Expect::Err),
    // `output_index` is a string.
    (
        "ga-server-response.output_audio.delta-tricky-04",
        Expect::Err,
    ),
    // Beta-era content part types (`text`) in a GA item: kept in `Other`.
    (
        "ga-server-response.output_item.done-spec-example-01",
        Expect::Ok,
    ),
];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    Ok,
    Err,
}

/// Drops keys whose value is null, recursively: the round trip may omit them.
fn strip_nulls(v: &Value) -> Value {
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

/// Checks that `out` (what we serialized) says exactly what `orig` said, except for fields of
/// `orig` that the types do not define, which are listed in `dropped`.
fn compare(orig: &Value, out: &Value, path: &str, dropped: &mut Vec<String>) -> Result<(), String> {
    match (orig, out) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, bv) in b {
                let av = a
                    .get(k)
                    .ok_or_else(|| format!("{path}.{k}: added by the round trip"))?;
                compare(av, bv, &format!("{path}.{k}"), dropped)?;
            }
            for k in a.keys().filter(|k| !b.contains_key(*k)) {
                dropped.push(format!("{path}.{k}"));
            }
            Ok(())
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (av, bv)) in a.iter().zip(b).enumerate() {
                compare(av, bv, &format!("{path}[{i}]"), dropped)?;
            }
            Ok(())
        }
        (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => Ok(()),
        (a, b) if a == b => Ok(()),
        (a, b) => Err(format!("{path}: {a} became {b}")),
    }
}

/// Fields of corpus lines that no schema of their dialect defines, so the typed round trip drops
/// them. Each is listed by line and path: nothing else may go missing.
const NOT_IN_SPEC: &[(&str, &str)] = &[
    // Forward-compatibility lines: unknown fields at the top level and nested.
    (
        "ga-server-conversation.item.added-tricky-02",
        ".item.content[0].annotations",
    ),
    (
        "ga-server-conversation.item.added-tricky-02",
        ".item.created_by",
    ),
    (
        "beta-server-conversation.item.created-tricky-03",
        ".item.content[0].annotations",
    ),
    (
        "beta-server-conversation.item.created-tricky-03",
        ".item.created_by",
    ),
    (
        "ga-server-response.output_audio_transcript.delta-tricky-01",
        ".x_future_field",
    ),
    (
        "ga-server-response.output_audio_transcript.delta-tricky-01",
        ".obfuscation",
    ),
    ("ga-client-session.update-tricky-03", ".session.future_knob"),
    ("beta-client-response.cancel-tricky-01", ".x_debug"),
    // A beta spec example uses fields of the GA schema.
    (
        "beta-server-response.done-spec-example-01",
        ".response.usage.input_token_details.cached_tokens_details",
    ),
    (
        "beta-client-response.create-spec-example-01",
        ".response.max_output_tokens",
    ),
];

fn check(line: &Line<'_>) -> Result<(), String> {
    let raw = line.event.get();
    let (outcome, types) = decode(&line.protocol, &line.direction, raw);
    let known_type = line.kind.as_deref().filter(|k| types.contains(k));
    match (known_type, &outcome) {
        // No `type` at all: an error that keeps the text.
        (None, Outcome::Error(e)) if line.kind.is_none() => {
            if e.raw() != Some(raw) {
                return Err(format!("error lost the raw text: {e:?}"));
            }
            Ok(())
        }
        (
            None,
            Outcome::Unknown {
                event_type,
                raw: kept,
            },
        ) if line.kind.is_some() => {
            if Some(event_type.as_str()) != line.kind.as_deref() {
                return Err(format!("unknown event kept type {event_type}"));
            }
            if kept != raw {
                return Err("unknown event did not keep its raw JSON verbatim".into());
            }
            Ok(())
        }
        (None, other) => Err(format!("expected Unknown or an error, got {other:?}")),
        (Some(kind), _) if line.valid => {
            let Outcome::Known { event_type, json } = outcome else {
                return Err(format!("valid `{kind}` did not decode: {outcome:?}"));
            };
            if event_type != kind {
                return Err(format!("decoded as {event_type}"));
            }
            let orig = strip_nulls(&serde_json::from_str(raw).unwrap());
            let out = strip_nulls(&serde_json::from_str(&json).unwrap());
            let mut dropped = Vec::new();
            compare(&orig, &out, "", &mut dropped)?;
            let unexpected: Vec<_> = dropped
                .iter()
                .filter(|p| !NOT_IN_SPEC.contains(&(line.id.as_str(), p.as_str())))
                .collect();
            if !unexpected.is_empty() {
                return Err(format!("round trip dropped spec fields {unexpected:?}"));
            }
            Ok(())
        }
        (Some(_), _) => {
            let expect = INVALID_KNOWN
                .iter()
                .find(|(id, _)| *id == line.id)
                .map(|(_, e)| *e)
                .ok_or("invalid line of a known type is not classified in INVALID_KNOWN")?;
            match (expect, &outcome) {
                (
                    Expect::Err,
                    Outcome::Error(ProtocolError::InvalidEvent {
                        event_type,
                        raw: kept,
                        ..
                    }),
                ) => {
                    if Some(event_type.as_str()) != line.kind.as_deref() || kept != raw {
                        return Err("error does not carry the type and the raw text".into());
                    }
                    Ok(())
                }
                (Expect::Ok, Outcome::Known { .. }) => Ok(()),
                (e, o) => Err(format!("expected {e:?}, got {o:?}")),
            }
        }
    }
}

#[test]
fn corpus_conforms() {
    let mut failures = Vec::new();
    let mut counts = std::collections::BTreeMap::new();
    for file in ["ga-server", "ga-client", "beta-server", "beta-client"] {
        let path = format!(
            "{}/tests/data/corpus/{file}.jsonl",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap();
        for (n, text_line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let line: Line<'_> =
                serde_json::from_str(text_line).unwrap_or_else(|e| panic!("{path}:{}: {e}", n + 1));
            *counts.entry(file).or_insert(0) += 1;
            if let Err(why) = check(&line) {
                failures.push(format!("{}: {why}", line.id));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} corpus lines fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        counts.values().all(|c| *c > 20),
        "corpus looks truncated: {counts:?}"
    );
}

/// Every event type of every union appears, valid, in the corpus: nothing is untested.
#[test]
fn corpus_covers_every_event_type() {
    let mut missing = Vec::new();
    for (file, types) in [
        ("ga-server", ga::ServerEvent::TYPES),
        ("ga-client", ga::ClientEvent::TYPES),
        ("beta-server", beta::ServerEvent::TYPES),
        ("beta-client", beta::ClientEvent::TYPES),
    ] {
        let path = format!(
            "{}/tests/data/corpus/{file}.jsonl",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap();
        for t in types {
            let needle = format!("\"type\":\"{t}\",\"valid\":true");
            if !text.contains(&needle) {
                missing.push(format!("{file}: {t}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "event types with no valid corpus line: {missing:?}"
    );
}
