//! GA's conversation items, read lean: the events that carry an item
//! (`response.output_item.added/done`, `conversation.item.added/done`) come four times per
//! assistant message and twice per user message, and the full decode reads each item through
//! the nested decoding of GA's tagged unions (held entries, a second deserializer over them).
//! Here one flat struct takes the fields of every item the session models, and the item is
//! built from it as `ga.rs` builds it from the typed item.
//!
//! Only what the full decode would accept, and read the same, is taken: a message whose role
//! is `system`, `user` or `assistant`, a function call and a function call's output, with
//! their required fields, each field of the type the typed item has (or stricter). Anything
//! else (an MCP item, an unknown type or role, a missing field, a field of another type)
//! goes through the full decode.

use super::ga::{assistant_part, user_part};
use super::lean::Lean;
use crate::history::{ContentPart, HistoryItem, Role};
use crate::model::ModelEvent;
use realtime_protocol::ids::{CallId, EventId, ItemId, ResponseId};
use serde::de::{Deserializer, Visitor};
use serde::Deserialize;
use std::fmt;

/// `response.output_item.added` / `response.output_item.done`.
#[derive(Deserialize)]
struct OutputItemEvent {
    // Required by the schema, as in the typed event.
    #[allow(dead_code)]
    event_id: EventId,
    response_id: ResponseId,
    #[allow(dead_code)]
    output_index: i64,
    item: Item,
}

/// `conversation.item.added` / `conversation.item.done`.
#[derive(Deserialize)]
struct ConversationItemEvent {
    #[allow(dead_code)]
    event_id: EventId,
    #[serde(default)]
    previous_item_id: Option<ItemId>,
    item: Item,
}

/// The fields of every item the session models; which ones an item needs depends on its
/// `type` (and a message's `role`).
#[derive(Deserialize)]
struct Item {
    #[serde(default)]
    id: Option<ItemId>,
    #[serde(default)]
    #[allow(dead_code)]
    object: Option<AnyStr>,
    r#type: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    content: Option<Vec<Part>>,
    #[serde(default)]
    call_id: Option<CallId>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
    #[serde(default)]
    output: Option<String>,
}

/// A content part of any role.
#[derive(Deserialize)]
struct Part {
    #[serde(default)]
    r#type: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    transcript: Option<String>,
    #[serde(default)]
    image_url: Option<String>,
    // Typed in the full decode (strings), not used by the session: checked, not kept.
    #[serde(default)]
    #[allow(dead_code)]
    audio: Option<AnyStr>,
    #[serde(default)]
    #[allow(dead_code)]
    detail: Option<AnyStr>,
}

/// A string, checked and not kept (an audio part's base64 can be long).
struct AnyStr;

impl<'de> Deserialize<'de> for AnyStr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = AnyStr;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<AnyStr, E> {
                Ok(AnyStr)
            }
        }
        d.deserialize_str(V)
    }
}

impl Item {
    /// The session's item, when the full decode would give the same; else `None`.
    fn into_history(self) -> Option<HistoryItem> {
        let item_id = self.id.unwrap_or_default();
        let status = self.status;
        Some(match self.r#type.as_str() {
            "message" => {
                let role = match self.role.as_deref()? {
                    "system" => Role::System,
                    "user" => Role::User,
                    "assistant" => Role::Assistant,
                    _ => return None,
                };
                let content = self
                    .content?
                    .into_iter()
                    .map(|p| {
                        let kind = p.r#type.as_deref();
                        match role {
                            Role::System => ContentPart::InputText {
                                text: p.text.unwrap_or_default(),
                            },
                            Role::User => user_part(kind, p.text, p.transcript, p.image_url),
                            Role::Assistant => assistant_part(kind, p.text, p.transcript),
                        }
                    })
                    .collect();
                HistoryItem::Message {
                    item_id,
                    role,
                    status,
                    content,
                }
            }
            "function_call" => HistoryItem::FunctionCall {
                item_id,
                call_id: self.call_id.unwrap_or_default(),
                name: self.name?,
                arguments: self.arguments?,
                output: None,
                status,
            },
            "function_call_output" => HistoryItem::FunctionCallOutput {
                item_id,
                call_id: self.call_id?,
                output: self.output?,
            },
            _ => return None,
        })
    }
}

/// The lean decode of a GA event that carries an item; [`Lean::Full`] for any other kind.
pub(super) fn decode(kind: &str, text: &str) -> Lean {
    match kind {
        "response.output_item.added" | "response.output_item.done" => {
            let Ok(e) = serde_json::from_str::<OutputItemEvent>(text) else {
                return Lean::Full;
            };
            let Some(item) = e.item.into_history() else {
                return Lean::Full;
            };
            let call = match kind {
                "response.output_item.done" => super::call_of(&item, e.response_id),
                _ => None,
            };
            let updated = ModelEvent::ItemUpdated {
                item,
                previous_item_id: None,
            };
            match call {
                Some(call) => Lean::Two(updated, call),
                None => Lean::Event(updated),
            }
        }
        "conversation.item.added" | "conversation.item.done" => {
            let Ok(e) = serde_json::from_str::<ConversationItemEvent>(text) else {
                return Lean::Full;
            };
            match e.item.into_history() {
                Some(item) => Lean::Event(ModelEvent::ItemUpdated {
                    item,
                    previous_item_id: e.previous_item_id,
                }),
                None => Lean::Full,
            }
        }
        _ => Lean::Full,
    }
}

#[cfg(test)]
mod tests {
    use crate::openai::lean::Lean;
    use crate::openai::{fast, Adapter, LastIds};
    use proptest::prelude::*;
    use realtime_protocol::{Ga, Protocol};
    use std::collections::VecDeque;

    /// The session's events for `text` through the lean path; `None` when it is not taken.
    fn lean(text: &str) -> Option<Vec<String>> {
        match fast::<Ga>(text, &mut LastIds::default()) {
            Lean::Event(ev) => Some(vec![format!("{ev:?}")]),
            Lean::Two(a, b) => Some(vec![format!("{a:?}"), format!("{b:?}")]),
            Lean::Nothing => Some(Vec::new()),
            Lean::Full => None,
        }
    }

    /// The session's events for `text` through the full decode; `None` when it refuses it.
    fn full(text: &str) -> Option<Vec<String>> {
        let ev = Ga::decode_server(text).ok()?;
        let mut out = VecDeque::new();
        Ga::decode(ev, &mut out, false);
        Some(out.iter().map(|e| format!("{e:?}")).collect())
    }

    const ASSISTANT: &str = r#"{"id":"item_1","object":"realtime.item","type":"message","status":"completed","role":"assistant","content":[{"type":"output_audio","transcript":"Hello there."}]}"#;
    const USER: &str = r#"{"id":"item_2","object":"realtime.item","type":"message","status":"completed","role":"user","content":[{"type":"input_text","text":"Hi"},{"type":"input_audio","transcript":null},{"type":"input_image","image_url":"data:image/png;base64,AAAA","detail":"low"}]}"#;
    const SYSTEM: &str = r#"{"id":"item_3","type":"message","role":"system","content":[{"type":"input_text","text":"Be brief."}]}"#;
    const CALL: &str = r#"{"id":"item_4","object":"realtime.item","type":"function_call","status":"completed","name":"get_weather","call_id":"call_1","arguments":"{\"city\":\"Paris\"}"}"#;
    const OUTPUT: &str =
        r#"{"id":"item_5","type":"function_call_output","call_id":"call_1","output":"sunny"}"#;

    fn output_item(kind: &str, item: &str) -> String {
        format!(
            r#"{{"type":"response.output_item.{kind}","event_id":"event_1","response_id":"resp_1","output_index":0,"item":{item}}}"#
        )
    }

    fn conversation_item(kind: &str, item: &str) -> String {
        format!(
            r#"{{"type":"conversation.item.{kind}","event_id":"event_2","previous_item_id":"item_0","item":{item}}}"#
        )
    }

    #[test]
    fn the_items_the_service_sends_are_read_lean_as_the_full_decode_reads_them() {
        for item in [ASSISTANT, USER, SYSTEM, CALL, OUTPUT] {
            for text in [
                output_item("added", item),
                output_item("done", item),
                conversation_item("added", item),
                conversation_item("done", item),
            ] {
                let got = lean(&text).unwrap_or_else(|| panic!("not lean: {text}"));
                assert_eq!(Some(got), full(&text), "{text}");
            }
        }
        // A finished function call is its item, then the call.
        let done = lean(&output_item("done", CALL)).unwrap();
        assert_eq!(done.len(), 2);
        assert!(done[1].starts_with("FunctionCall"), "{done:?}");
        assert_eq!(lean(&output_item("added", CALL)).unwrap().len(), 1);
    }

    #[test]
    fn unusual_items_take_the_full_decode() {
        for item in [
            // MCP items, an unknown type, an unknown or missing role.
            r#"{"id":"i","type":"mcp_call","server_label":"s","name":"n","arguments":"{}"}"#,
            r#"{"id":"i","type":"reasoning"}"#,
            r#"{"id":"i","type":"message","role":"developer","content":[]}"#,
            r#"{"id":"i","type":"message","content":[]}"#,
            // Required fields missing, or of another type.
            r#"{"id":"i","type":"message","role":"user"}"#,
            r#"{"id":"i","type":"function_call","name":"f"}"#,
            r#"{"id":"i","type":"function_call_output","output":"x"}"#,
            r#"{"id":"i","type":"message","role":"user","content":[{"type":"input_text","text":7}]}"#,
            r#"{"id":"i","type":"message","role":"assistant","content":[{"type":"output_audio","audio":1}]}"#,
            r#"{"id":7,"type":"message","role":"user","content":[]}"#,
            r#"{"type":7}"#,
        ] {
            let text = conversation_item("done", item);
            assert_eq!(lean(&text), None, "{text}");
        }
        // The event's own fields.
        let no_event_id = output_item("done", ASSISTANT).replace(r#""event_id":"event_1","#, "");
        assert_eq!(lean(&no_event_id), None);
        let index_text =
            output_item("done", ASSISTANT).replace(r#""output_index":0"#, r#""output_index":"0""#);
        assert_eq!(lean(&index_text), None);
        let no_response = output_item("added", ASSISTANT).replace(r#""response_id":"resp_1","#, "");
        assert_eq!(lean(&no_response), None);
    }

    /// JSON kept as written: keys in order, repeats allowed.
    #[derive(Clone, Debug)]
    enum Json {
        Lit(String),
        Obj(Vec<(String, Json)>),
        Arr(Vec<Json>),
    }

    impl Json {
        fn text(&self) -> String {
            match self {
                Json::Lit(s) => s.clone(),
                Json::Obj(entries) => {
                    let e: Vec<String> = entries
                        .iter()
                        .map(|(k, v)| format!("\"{k}\":{}", v.text()))
                        .collect();
                    format!("{{{}}}", e.join(","))
                }
                Json::Arr(items) => {
                    let e: Vec<String> = items.iter().map(Json::text).collect();
                    format!("[{}]", e.join(","))
                }
            }
        }
    }

    /// Values a field may wrongly (or rightly) hold.
    const VALUES: &[&str] = &[
        "null",
        "7",
        "-1.5",
        "true",
        "[]",
        "{}",
        r#"{"type":"message"}"#,
        r#""""#,
        r#""message""#,
        r#""user""#,
        r#""assistant""#,
        r#""system""#,
        r#""developer""#,
        r#""function_call""#,
        r#""function_call_output""#,
        r#""mcp_call""#,
        r#""input_text""#,
        r#""input_audio""#,
        r#""input_image""#,
        r#""output_audio""#,
        r#""output_text""#,
        r#""audio""#,
        r#""text""#,
        r#""completed""#,
        r#""x\"y\u00e9""#,
    ];

    /// `json` changed as the bytes say: entries dropped, replaced by another value,
    /// repeated, an unknown entry added, the order rotated; most are left alone.
    fn mutate(json: &Json, next: &mut dyn FnMut() -> u8) -> Json {
        match json {
            Json::Lit(s) => Json::Lit(s.clone()),
            Json::Arr(items) => {
                let mut out: Vec<Json> = Vec::new();
                for item in items {
                    out.push(mutate(item, next));
                }
                if next().is_multiple_of(16) {
                    out.pop();
                }
                Json::Arr(out)
            }
            Json::Obj(entries) => {
                let mut out = Vec::new();
                for (k, v) in entries {
                    match next() % 40 {
                        0 => {}
                        1 | 2 => {
                            let v = VALUES[usize::from(next()) % VALUES.len()];
                            out.push((k.clone(), Json::Lit(v.to_owned())));
                        }
                        3 => {
                            out.push((k.clone(), v.clone()));
                            out.push((k.clone(), v.clone()));
                        }
                        _ => out.push((k.clone(), mutate(v, next))),
                    }
                }
                if next().is_multiple_of(8) {
                    let v = VALUES[usize::from(next()) % VALUES.len()];
                    out.push(("other".to_owned(), Json::Lit(v.to_owned())));
                }
                if !out.is_empty() {
                    let by = usize::from(next()) % out.len();
                    out.rotate_left(by);
                }
                Json::Obj(out)
            }
        }
    }

    /// The item events the service sends, as [`Json`]; the `type` stays first (the session
    /// peeks it there).
    fn events() -> Vec<(String, Json)> {
        let lit = |s: &str| Json::Lit(s.to_owned());
        let obj = |e: &[(&str, Json)]| {
            Json::Obj(
                e.iter()
                    .map(|(k, v)| ((*k).to_owned(), v.clone()))
                    .collect(),
            )
        };
        let part =
            |kind: &str, key: &str, value: &str| obj(&[("type", lit(kind)), (key, lit(value))]);
        let message = |role: &str, parts: Vec<Json>| {
            obj(&[
                ("id", lit(r#""item_1""#)),
                ("object", lit(r#""realtime.item""#)),
                ("type", lit(r#""message""#)),
                ("status", lit(r#""completed""#)),
                ("role", lit(role)),
                ("content", Json::Arr(parts)),
            ])
        };
        let items = [
            message(
                r#""assistant""#,
                vec![part(r#""output_audio""#, "transcript", r#""Hello.""#)],
            ),
            message(
                r#""assistant""#,
                vec![part(r#""output_text""#, "text", r#""Hi""#)],
            ),
            message(
                r#""user""#,
                vec![
                    part(r#""input_text""#, "text", r#""Hi""#),
                    part(r#""input_audio""#, "transcript", "null"),
                    part(
                        r#""input_image""#,
                        "image_url",
                        r#""data:image/png;base64,AA""#,
                    ),
                ],
            ),
            message(
                r#""system""#,
                vec![part(r#""input_text""#, "text", r#""Be brief.""#)],
            ),
            obj(&[
                ("id", lit(r#""item_2""#)),
                ("type", lit(r#""function_call""#)),
                ("status", lit(r#""completed""#)),
                ("name", lit(r#""f""#)),
                ("call_id", lit(r#""call_1""#)),
                ("arguments", lit(r#""{}""#)),
            ]),
            obj(&[
                ("id", lit(r#""item_3""#)),
                ("type", lit(r#""function_call_output""#)),
                ("call_id", lit(r#""call_1""#)),
                ("output", lit(r#""ok""#)),
            ]),
        ];
        let mut out = Vec::new();
        for item in items {
            for end in ["added", "done"] {
                out.push((
                    format!("response.output_item.{end}"),
                    obj(&[
                        ("event_id", lit(r#""event_1""#)),
                        ("response_id", lit(r#""resp_1""#)),
                        ("output_index", lit("0")),
                        ("item", item.clone()),
                    ]),
                ));
                out.push((
                    format!("conversation.item.{end}"),
                    obj(&[
                        ("event_id", lit(r#""event_2""#)),
                        ("previous_item_id", lit(r#""item_0""#)),
                        ("item", item.clone()),
                    ]),
                ));
            }
        }
        out
    }

    fn event_text(kind: &str, body: &Json) -> String {
        let body = body.text();
        format!("{{\"type\":\"{kind}\",{}", &body[1..]).replace(",}", "}")
    }

    /// Whatever the lean path reads, the full decode reads the same; checked on every item
    /// event the service sends, mutated at random. Returns how many took the lean path.
    fn check_mutated(cases: &[(usize, Vec<u8>)]) -> usize {
        let events = events();
        let mut taken = 0;
        for (which, bytes) in cases {
            let (kind, body) = &events[which % events.len()];
            let mut bytes = bytes.iter().copied();
            let text = event_text(kind, &mutate(body, &mut || bytes.next().unwrap_or(255)));
            if let Some(got) = lean(&text) {
                taken += 1;
                assert_eq!(Some(got), full(&text), "{text}");
            }
        }
        taken
    }

    #[test]
    fn mutated_item_events_are_read_lean_only_as_the_full_decode_reads_them() {
        // A fixed seed: the same cases every run.
        let mut seed: u64 = 0x1ea0_17e5_5eed_0002;
        let mut byte = move || {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) as u8
        };
        let cases: Vec<(usize, Vec<u8>)> = (0..20_000)
            .map(|_| (usize::from(byte()), (0..64).map(|_| byte()).collect()))
            .collect();
        let taken = check_mutated(&cases);
        // Both sides of the line are exercised: most cases are read lean, many are not.
        assert!(
            taken > 5_000 && taken < 19_000,
            "{taken} of 20000 read lean"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        /// The same property, with proptest's cases and shrinking.
        #[test]
        fn the_lean_path_reads_only_what_the_full_decode_reads(
            which in 0usize..64,
            bytes in prop::collection::vec(any::<u8>(), 0..64),
        ) {
            check_mutated(&[(which, bytes)]);
        }
    }
}
