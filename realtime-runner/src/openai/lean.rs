//! The lean decode of the frequent server events whose typed form the session does not need
//! (only when the application does not ask for raw events):
//!
//! - an event the session ignores (a content part, a finished transcript or text, rate
//!   limits, ...) is only checked to be JSON;
//! - `response.created` and `response.done` are read for the fields the session uses (the
//!   response's id, status and usage), the rest of the response skipped;
//! - GA's item events are read through one flat struct (`lean_items.rs`) instead of the
//!   nested decoding of its tagged unions.
//!
//! A voice agent is idle most of the time, and after a silence every line of code an event
//! touches comes from far away: these events came once per turn each, and their full decode
//! (the whole response object, its items and parts) was most of what a turn cost beyond the
//! deltas. Anything unusual (a missing required field, a field of another type, broken
//! JSON) goes through the full decode, which reports it as before.

use super::{Adapter, WireUsage};
use crate::model::ModelEvent;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Deserialize;

/// What the lean decode made of an event.
pub(super) enum Lean {
    /// The session's event.
    Event(ModelEvent),
    /// Two events, in order (a finished function call's item, then the call).
    Two(ModelEvent, ModelEvent),
    /// An event the session does not use: nothing.
    Nothing,
    /// Not one of the lean events, or unusual: the full decode.
    Full,
}

/// `response.created` / `response.done`, with what the session reads of the response.
#[derive(Deserialize)]
#[serde(bound = "U: DeserializeOwned")]
struct ResponseEvent<U> {
    // Required by the schema: an event without it takes the full path and gets its error.
    #[allow(dead_code)]
    event_id: String,
    response: ResponseRef<U>,
}

#[derive(Deserialize)]
#[serde(bound = "U: DeserializeOwned")]
struct ResponseRef<U> {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    usage: Option<U>,
}

/// The lean decode of an event of type `kind` (not a delta: those have their own path).
pub(super) fn decode<P: Adapter>(kind: &str, text: &str) -> Lean {
    match kind {
        "response.created" | "response.done" => {
            let Ok(ResponseEvent { response: r, .. }) =
                serde_json::from_str::<ResponseEvent<P::Usage>>(text)
            else {
                return Lean::Full;
            };
            let response_id = r.id.unwrap_or_default().into();
            Lean::Event(if kind == "response.created" {
                ModelEvent::ResponseCreated { response_id }
            } else {
                ModelEvent::ResponseDone {
                    response_id,
                    status: r.status.unwrap_or_else(|| "completed".into()),
                    usage: r.usage.map(|u| u.usage()),
                }
            })
        }
        // Every item event: GA's items are tagged unions, read lean in `lean_items.rs`.
        "response.output_item.added"
        | "response.output_item.done"
        | "conversation.item.added"
        | "conversation.item.done"
            if P::LEAN_ITEMS =>
        {
            super::lean_items::decode(kind, text)
        }
        k if IGNORED_BOTH.contains(&k) || P::IGNORED.contains(&k) => ignored(text),
        _ => Lean::Full,
    }
}

/// The wire types, spelled alike in both dialects, of the events [`Adapter::decode`] turns
/// into nothing (without raw events); each dialect adds its own in [`Adapter::IGNORED`].
const IGNORED_BOTH: &[&str] = &[
    "response.content_part.added",
    "response.content_part.done",
    "response.function_call_arguments.delta",
    "response.function_call_arguments.done",
    "rate_limits.updated",
    "input_audio_buffer.committed",
    "input_audio_buffer.cleared",
];

/// An event the session ignores: checked to be JSON.
fn ignored(text: &str) -> Lean {
    match serde_json::from_str::<IgnoredAny>(text) {
        Ok(_) => Lean::Nothing,
        Err(_) => Lean::Full,
    }
}

#[cfg(test)]
mod tests {
    use super::Lean;
    use crate::openai::{fast, Adapter, LastIds};
    use realtime_protocol::{Beta, Ga};
    use std::collections::VecDeque;

    /// The session's events for `text` through the full decode; `None` when it refuses it.
    fn full<P: Adapter>(text: &str) -> Option<Vec<String>> {
        let ev = P::decode_server(text).ok()?;
        let mut out = VecDeque::new();
        P::decode(ev, &mut out, false);
        Some(out.iter().map(|e| format!("{e:?}")).collect())
    }

    /// Every server event of the corpus (valid and invalid): what the fast paths decode is
    /// what the full decode makes of it. Returns how many took a fast path, and how many of
    /// those the full decode refuses (an invalid field the session does not read; the
    /// corpus has none: its invalid events all take the full decode).
    fn agrees<P: Adapter>(corpus: &str) -> (usize, usize) {
        let (mut fast_n, mut lenient) = (0, 0);
        for line in corpus.lines() {
            let entry: serde_json::Value = serde_json::from_str(line).unwrap();
            let text = entry["event"].to_string();
            let got = match fast::<P>(&text, &mut LastIds::default()) {
                Lean::Event(ev) => vec![format!("{ev:?}")],
                Lean::Two(a, b) => vec![format!("{a:?}"), format!("{b:?}")],
                Lean::Nothing => Vec::new(),
                Lean::Full => continue,
            };
            fast_n += 1;
            match full::<P>(&text) {
                Some(want) => assert_eq!(got, want, "{}", entry["id"]),
                None => {
                    assert_eq!(entry["valid"], false, "{}", entry["id"]);
                    lenient += 1;
                }
            }
        }
        (fast_n, lenient)
    }

    #[test]
    fn the_lean_decode_agrees_with_the_full_decode_on_the_corpus() {
        let (n, lenient) = agrees::<Beta>(include_str!(
            "../../../realtime-protocol/tests/data/corpus/beta-server.jsonl"
        ));
        assert!(n >= 60, "{n} beta events took a fast path");
        assert_eq!(lenient, 0, "of {n}");
        let (n, lenient) = agrees::<Ga>(include_str!(
            "../../../realtime-protocol/tests/data/corpus/ga-server.jsonl"
        ));
        assert!(n >= 60, "{n} GA events took a fast path");
        assert_eq!(lenient, 0, "of {n}");
    }

    #[test]
    fn anything_unusual_takes_the_full_decode() {
        let full_path =
            |text: &str| matches!(fast::<Ga>(text, &mut LastIds::default()), Lean::Full);
        // The forms the service sends.
        assert!(matches!(
            fast::<Ga>(
                r#"{"type":"response.created","event_id":"e","response":{"id":"r","status":"in_progress","output":[]}}"#,
                &mut LastIds::default()
            ),
            Lean::Event(_)
        ));
        assert!(matches!(
            fast::<Ga>(
                r#"{"type":"response.content_part.added","event_id":"e","part":{"type":"audio"}}"#,
                &mut LastIds::default()
            ),
            Lean::Nothing
        ));
        // No event id, a response of another type, an id of another type, broken JSON.
        assert!(full_path(
            r#"{"type":"response.created","response":{"id":"r"}}"#
        ));
        assert!(full_path(
            r#"{"type":"response.created","event_id":"e","response":"r"}"#
        ));
        assert!(full_path(
            r#"{"type":"response.done","event_id":"e","response":{"id":7}}"#
        ));
        assert!(full_path(
            r#"{"type":"response.done","event_id":"e","response":{"usage":{"input_tokens":"x"}}}"#
        ));
        assert!(full_path(
            r#"{"type":"response.content_part.added","event_id":"e","#
        ));
        // Another dialect's ignored event is the full decode's to judge.
        assert!(full_path(
            r#"{"type":"response.audio_transcript.done","event_id":"e"}"#
        ));
        // Events the session reads whole.
        assert!(full_path(
            r#"{"type":"conversation.item.done","event_id":"e","item":{"id":"i","type":"message"}}"#
        ));
    }
}
