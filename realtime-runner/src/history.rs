//! The conversation history as the session sees it: items in server order, kept up to date
//! from item events and deltas. Items are `Serialize + Deserialize`, so applications can
//! persist them and restore a session from them.

use realtime_protocol::{CallId, ItemId};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Role {
    /// The user.
    User,
    /// The model.
    Assistant,
    /// The system.
    System,
}

/// One content part of a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ContentPart {
    /// Text from the user or the system.
    InputText {
        /// The text.
        text: String,
    },
    /// Audio from the user, with its transcript once known.
    InputAudio {
        /// The transcript.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transcript: Option<String>,
    },
    /// An image from the user.
    InputImage {
        /// Its URL.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        image_url: Option<String>,
    },
    /// Text from the model.
    Text {
        /// The text.
        text: String,
    },
    /// Audio from the model, with its transcript.
    Audio {
        /// The transcript; for a truncated reply, only the part the user heard.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transcript: Option<String>,
        /// Where playback was cut (barge-in or `interrupt()`), when it was: the server then
        /// holds only the audio up to here and no transcript, and a replay of this item
        /// (restore, `set_history`, reconnect) sends only the heard text.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        truncated_at_ms: Option<u64>,
    },
}

impl ContentPart {
    /// The text or transcript of the part, if any.
    pub fn text(&self) -> Option<&str> {
        match self {
            ContentPart::InputText { text } | ContentPart::Text { text } => Some(text),
            ContentPart::InputAudio { transcript } | ContentPart::Audio { transcript, .. } => {
                transcript.as_deref()
            }
            ContentPart::InputImage { .. } => None,
        }
    }

    /// Assistant audio with `transcript`, not truncated.
    pub fn audio(transcript: Option<String>) -> Self {
        ContentPart::Audio {
            transcript,
            truncated_at_ms: None,
        }
    }
}

/// One item of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum HistoryItem {
    /// A message.
    Message {
        /// The item id.
        item_id: ItemId,
        /// Who said it.
        role: Role,
        /// Its parts.
        content: Vec<ContentPart>,
        /// `in_progress`, `completed` or `incomplete`, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<String>,
    },
    /// A function call by the model, with its output once the client sent it.
    FunctionCall {
        /// The item id.
        item_id: ItemId,
        /// The call id.
        call_id: CallId,
        /// The function.
        name: String,
        /// The JSON arguments.
        arguments: String,
        /// The output, once sent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        output: Option<String>,
        /// The status, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<String>,
    },
    /// The output of a function call.
    FunctionCallOutput {
        /// The item id.
        item_id: ItemId,
        /// The call it answers.
        call_id: CallId,
        /// The output.
        output: String,
    },
    /// An item type the runner does not model (MCP calls…), as JSON.
    Other {
        /// The item id.
        item_id: ItemId,
        /// The item's JSON.
        raw: serde_json::Value,
    },
}

impl HistoryItem {
    /// The item id.
    pub fn item_id(&self) -> &ItemId {
        match self {
            HistoryItem::Message { item_id, .. }
            | HistoryItem::FunctionCall { item_id, .. }
            | HistoryItem::FunctionCallOutput { item_id, .. }
            | HistoryItem::Other { item_id, .. } => item_id,
        }
    }

    /// A user text message.
    pub fn user_text(item_id: impl Into<ItemId>, text: impl Into<String>) -> Self {
        HistoryItem::Message {
            item_id: item_id.into(),
            role: Role::User,
            content: vec![ContentPart::InputText { text: text.into() }],
            status: Some("completed".into()),
        }
    }

    /// An assistant text message.
    pub fn assistant_text(item_id: impl Into<ItemId>, text: impl Into<String>) -> Self {
        HistoryItem::Message {
            item_id: item_id.into(),
            role: Role::Assistant,
            content: vec![ContentPart::Text { text: text.into() }],
            status: Some("completed".into()),
        }
    }

    /// The role, for a message.
    pub fn role(&self) -> Option<Role> {
        match self {
            HistoryItem::Message { role, .. } => Some(*role),
            _ => None,
        }
    }

    /// All text of the item: message text and transcripts, or a function output.
    pub fn text(&self) -> Option<String> {
        match self {
            HistoryItem::Message { content, .. } => {
                let parts: Vec<&str> = content.iter().filter_map(ContentPart::text).collect();
                (!parts.is_empty()).then(|| parts.concat())
            }
            HistoryItem::FunctionCallOutput { output, .. } => Some(output.clone()),
            _ => None,
        }
    }

    /// Merges a newer version of the same item: content comes from `newer`, except transcripts
    /// and text `newer` lacks, which are kept (the server often omits them in later events).
    fn merge_from(&mut self, newer: HistoryItem) {
        match (&mut *self, newer) {
            (
                HistoryItem::Message {
                    content,
                    status,
                    role,
                    ..
                },
                HistoryItem::Message {
                    content: new_content,
                    status: new_status,
                    role: new_role,
                    ..
                },
            ) => {
                *role = new_role;
                if new_status.is_some() {
                    *status = new_status;
                }
                let mut merged = new_content;
                for (i, part) in merged.iter_mut().enumerate() {
                    let old = content.get(i);
                    match (part, old) {
                        // A truncated part is what the user heard: the server's later copies
                        // (with the full or no transcript) do not replace it.
                        (
                            part @ ContentPart::Audio { .. },
                            Some(
                                old @ ContentPart::Audio {
                                    truncated_at_ms: Some(_),
                                    ..
                                },
                            ),
                        ) => {
                            *part = old.clone();
                        }
                        (
                            ContentPart::Audio { transcript, .. },
                            Some(ContentPart::Audio {
                                transcript: old_t, ..
                            }),
                        )
                        | (
                            ContentPart::InputAudio { transcript },
                            Some(ContentPart::InputAudio { transcript: old_t }),
                        ) if transcript.as_deref().is_none_or(str::is_empty) && old_t.is_some() => {
                            transcript.clone_from(old_t);
                        }
                        (
                            ContentPart::Text { text },
                            Some(ContentPart::Text { text: old_text }),
                        ) if text.is_empty() => {
                            text.clone_from(old_text);
                        }
                        _ => {}
                    }
                }
                // Parts the newer version does not have yet (deltas ahead of the item event).
                if merged.len() < content.len() {
                    merged.extend(content.drain(merged.len()..));
                }
                *content = merged;
            }
            (
                HistoryItem::FunctionCall { output, .. },
                HistoryItem::FunctionCall {
                    item_id,
                    call_id,
                    name,
                    arguments,
                    output: new_out,
                    status,
                },
            ) => {
                let keep = output.take();
                *self = HistoryItem::FunctionCall {
                    item_id,
                    call_id,
                    name,
                    arguments,
                    output: new_out.or(keep),
                    status,
                };
            }
            (slot, newer) => *slot = newer,
        }
    }
}

/// What an update did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    Added,
    Updated,
}

/// The ordered items. Lookups search from the end, where the action is, and an id that is not
/// in the history at all (every new item) is known without a search, so the cost of an update
/// does not grow with the length of the conversation in practice.
#[derive(Debug, Default, Clone)]
pub(crate) struct History {
    items: Vec<HistoryItem>,
    /// How many items carry each id (one, unless a replaced history repeated one).
    ids: HashMap<ItemId, usize>,
}

impl History {
    pub(crate) fn items(&self) -> &[HistoryItem] {
        &self.items
    }

    pub(crate) fn replace_all(&mut self, items: Vec<HistoryItem>) {
        self.ids.clear();
        for item in &items {
            *self.ids.entry(item.item_id().clone()).or_default() += 1;
        }
        self.items = items;
    }

    fn position(&self, id: &ItemId) -> Option<usize> {
        if !self.ids.contains_key(id) {
            return None;
        }
        self.items.iter().rposition(|i| i.item_id() == id)
    }

    #[cfg(test)]
    pub(crate) fn get(&self, id: &ItemId) -> Option<&HistoryItem> {
        self.position(id).map(|i| &self.items[i])
    }

    /// Adds or updates an item; a new item goes after `previous` when that is known, else at
    /// the end.
    pub(crate) fn upsert(
        &mut self,
        item: HistoryItem,
        previous: Option<&ItemId>,
    ) -> (Change, usize) {
        if let Some(i) = self.position(item.item_id()) {
            self.items[i].merge_from(item);
            return (Change::Updated, i);
        }
        let at = match previous {
            Some(p) => self.position(p).map_or(self.items.len(), |i| i + 1),
            None => self.items.len(),
        };
        // A tool output fills in its call.
        if let HistoryItem::FunctionCallOutput {
            call_id, output, ..
        } = &item
        {
            if let Some(HistoryItem::FunctionCall { output: slot, .. }) =
                self.items.iter_mut().rev().find(
                    |i| matches!(i, HistoryItem::FunctionCall { call_id: c, .. } if c == call_id),
                )
            {
                *slot = Some(output.clone());
            }
        }
        *self.ids.entry(item.item_id().clone()).or_default() += 1;
        self.items.insert(at, item);
        (Change::Added, at)
    }

    pub(crate) fn remove(&mut self, id: &ItemId) -> bool {
        match self.position(id) {
            Some(i) => {
                self.items.remove(i);
                if let Some(n) = self.ids.get_mut(id) {
                    *n -= 1;
                    if *n == 0 {
                        self.ids.remove(id);
                    }
                }
                true
            }
            None => false,
        }
    }

    /// Appends assistant transcript or text to an item's part; creates the part when missing.
    pub(crate) fn append_text(
        &mut self,
        id: &ItemId,
        content_index: u32,
        delta: &str,
        audio: bool,
    ) -> Option<usize> {
        let i = self.position(id)?;
        if let HistoryItem::Message { content, .. } = &mut self.items[i] {
            let ci = content_index as usize;
            while content.len() <= ci {
                content.push(if audio {
                    ContentPart::audio(None)
                } else {
                    ContentPart::Text {
                        text: String::new(),
                    }
                });
            }
            match &mut content[ci] {
                // The user did not hear what comes after the cut.
                ContentPart::Audio {
                    truncated_at_ms: Some(_),
                    ..
                } => {}
                ContentPart::Audio { transcript, .. } | ContentPart::InputAudio { transcript } => {
                    transcript.get_or_insert_with(String::new).push_str(delta);
                }
                ContentPart::Text { text } | ContentPart::InputText { text } => {
                    text.push_str(delta)
                }
                ContentPart::InputImage { .. } => {}
            }
        }
        Some(i)
    }

    /// Sets the transcript of a user audio part.
    pub(crate) fn set_input_transcript(
        &mut self,
        id: &ItemId,
        content_index: u32,
        transcript: &str,
    ) -> Option<usize> {
        let i = self.position(id)?;
        if let HistoryItem::Message { content, .. } = &mut self.items[i] {
            let ci = content_index as usize;
            while content.len() <= ci {
                content.push(ContentPart::InputAudio { transcript: None });
            }
            if let ContentPart::InputAudio { transcript: t }
            | ContentPart::Audio { transcript: t, .. } = &mut content[ci]
            {
                *t = Some(transcript.to_owned());
            }
        }
        Some(i)
    }

    pub(crate) fn at(&self, i: usize) -> Option<&HistoryItem> {
        self.items.get(i)
    }

    /// The item's audio was cut at `audio_end_ms` of the `received_ms` the session had
    /// received: its transcript keeps the words the user heard (in proportion, cut back to a
    /// word boundary, never an unheard word) and the part records the cut. An item is cut
    /// once; a second report changes nothing.
    pub(crate) fn truncate_audio(
        &mut self,
        id: &ItemId,
        content_index: u32,
        audio_end_ms: u64,
        received_ms: Option<f64>,
    ) -> Option<usize> {
        let i = self.position(id)?;
        let HistoryItem::Message { content, .. } = &mut self.items[i] else {
            return None;
        };
        let ContentPart::Audio {
            transcript,
            truncated_at_ms,
        } = content.get_mut(content_index as usize)?
        else {
            return None;
        };
        if truncated_at_ms.is_some() {
            return None;
        }
        *truncated_at_ms = Some(audio_end_ms);
        let heard = match received_ms {
            Some(r) if r > 0.0 => (audio_end_ms as f64 / r).clamp(0.0, 1.0),
            // Nothing known of the audio: nothing can be shown as heard for sure.
            _ => 0.0,
        };
        if let Some(t) = transcript {
            *t = heard_prefix(t, heard);
        }
        Some(i)
    }
}

/// The first `fraction` of `text`, cut back to a word boundary.
fn heard_prefix(text: &str, fraction: f64) -> String {
    if fraction >= 1.0 {
        return text.to_owned();
    }
    let chars = text.chars().count();
    let keep = (chars as f64 * fraction).floor() as usize;
    let end = text.char_indices().nth(keep).map_or(text.len(), |(b, _)| b);
    let (head, rest) = text.split_at(end);
    // Inside a word: back to its start, unless the word ends right here.
    let whole = rest.starts_with(char::is_whitespace) || rest.is_empty();
    let head = if whole {
        head
    } else {
        head.rfind(char::is_whitespace).map_or("", |at| &head[..at])
    };
    head.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audio_msg(id: &str, transcript: Option<&str>) -> HistoryItem {
        HistoryItem::Message {
            item_id: id.into(),
            role: Role::Assistant,
            content: vec![ContentPart::audio(transcript.map(str::to_owned))],
            status: None,
        }
    }

    #[test]
    fn insert_after_previous_and_update_in_place() {
        let mut h = History::default();
        h.upsert(HistoryItem::user_text("a", "1"), None);
        h.upsert(HistoryItem::user_text("c", "3"), Some(&"a".into()));
        h.upsert(HistoryItem::user_text("b", "2"), Some(&"a".into()));
        h.upsert(HistoryItem::user_text("z", "?"), Some(&"missing".into()));
        let ids: Vec<&str> = h.items().iter().map(|i| i.item_id().as_str()).collect();
        assert_eq!(ids, ["a", "b", "c", "z"]);
        assert_eq!(
            h.upsert(HistoryItem::user_text("b", "two"), None).0,
            Change::Updated
        );
        assert_eq!(h.get(&"b".into()).unwrap().text().unwrap(), "two");
        assert!(h.remove(&"b".into()));
        assert!(!h.remove(&"b".into()));
    }

    #[test]
    fn transcripts_survive_updates_that_lack_them() {
        let mut h = History::default();
        h.upsert(audio_msg("x", None), None);
        h.append_text(&"x".into(), 0, "Hel", true);
        h.append_text(&"x".into(), 0, "lo", true);
        h.upsert(audio_msg("x", None), None);
        assert_eq!(h.get(&"x".into()).unwrap().text().unwrap(), "Hello");
        h.upsert(audio_msg("x", Some("Hello!")), None);
        assert_eq!(h.get(&"x".into()).unwrap().text().unwrap(), "Hello!");
    }

    #[test]
    fn a_truncated_reply_keeps_the_heard_words_only_and_once() {
        let mut h = History::default();
        h.upsert(audio_msg("x", None), None);
        h.append_text(&"x".into(), 0, "One two three four", true);
        // Half of 2 s heard: "One two th|ree four" -> back to "One two".
        assert_eq!(
            h.truncate_audio(&"x".into(), 0, 1000, Some(2000.0)),
            Some(0)
        );
        let part = |h: &History| match h.get(&"x".into()) {
            Some(HistoryItem::Message { content, .. }) => content[0].clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            part(&h),
            ContentPart::Audio {
                transcript: Some("One two".into()),
                truncated_at_ms: Some(1000)
            }
        );
        // Later deltas, a second cut and the server's later copy change nothing.
        h.append_text(&"x".into(), 0, " five", true);
        assert_eq!(h.truncate_audio(&"x".into(), 0, 10, Some(2000.0)), None);
        h.upsert(audio_msg("x", Some("One two three four five")), None);
        assert_eq!(h.get(&"x".into()).unwrap().text().unwrap(), "One two");
        // Serde keeps the cut.
        let json = serde_json::to_value(h.get(&"x".into()).unwrap()).unwrap();
        assert_eq!(json["content"][0]["truncated_at_ms"], 1000);
    }

    #[test]
    fn heard_prefixes_end_on_words() {
        for (text, fraction, want) in [
            ("hello world", 1.0, "hello world"),
            ("hello world", 0.0, ""),
            ("hello world", 0.5, "hello"),
            ("hello world", 0.45, ""),
            ("hello world", 0.6, "hello"),
            ("hello world", 0.4, ""),
            ("héllo wörld again", 0.7, "héllo wörld"),
        ] {
            assert_eq!(heard_prefix(text, fraction), want, "{text} {fraction}");
        }
    }

    #[test]
    fn tool_output_fills_its_call() {
        let mut h = History::default();
        let call = HistoryItem::FunctionCall {
            item_id: "f".into(),
            call_id: "c1".into(),
            name: "t".into(),
            arguments: "{}".into(),
            output: None,
            status: None,
        };
        h.upsert(call.clone(), None);
        h.upsert(
            HistoryItem::FunctionCallOutput {
                item_id: "o".into(),
                call_id: "c1".into(),
                output: "42".into(),
            },
            None,
        );
        assert!(
            matches!(h.get(&"f".into()), Some(HistoryItem::FunctionCall { output: Some(o), .. }) if o == "42")
        );
        // A later update of the call keeps the output.
        h.upsert(call, None);
        assert!(
            matches!(h.get(&"f".into()), Some(HistoryItem::FunctionCall { output: Some(o), .. }) if o == "42")
        );
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Upsert {
            id: u8,
            prev: Option<u8>,
            text: String,
        },
        Delete(u8),
        Transcript {
            id: u8,
            delta: String,
        },
        InputTranscript {
            id: u8,
            text: String,
        },
        /// The whole history replaced (reversed), as `replace_history` does.
        ReplaceReversed,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..12, proptest::option::of(0u8..12), "[a-z ]{0,8}")
                .prop_map(|(id, prev, text)| Op::Upsert { id, prev, text }),
            (0u8..12).prop_map(Op::Delete),
            (0u8..12, "[a-z ]{0,5}").prop_map(|(id, delta)| Op::Transcript { id, delta }),
            (0u8..12, "[a-z ]{0,8}").prop_map(|(id, text)| Op::InputTranscript { id, text }),
            Just(Op::ReplaceReversed),
        ]
    }

    fn id(n: u8) -> ItemId {
        ItemId::new(format!("item_{n}"))
    }

    proptest! {
        /// Against a simple model (an ordered list of ids): no item is lost or duplicated, a new
        /// item lands right after its `previous_item_id` when that exists, updates stay in place.
        #[test]
        fn history_follows_the_model(ops in proptest::collection::vec(op(), 0..80)) {
            let mut h = History::default();
            let mut model: Vec<u8> = Vec::new();
            for op in ops {
                match op {
                    Op::Upsert { id: n, prev, text } => {
                        let item = HistoryItem::Message { item_id: id(n), role: Role::Assistant, content: vec![ContentPart::audio(Some(text))], status: None };
                        let (change, at) = h.upsert(item, prev.map(id).as_ref());
                        if let Some(pos) = model.iter().position(|m| *m == n) {
                            prop_assert_eq!(change, Change::Updated);
                            prop_assert_eq!(at, pos);
                        } else {
                            prop_assert_eq!(change, Change::Added);
                            let want = match prev.and_then(|p| model.iter().position(|m| *m == p)) {
                                Some(p) => p + 1,
                                None => model.len(),
                            };
                            model.insert(want, n);
                            prop_assert_eq!(at, want);
                        }
                    }
                    Op::ReplaceReversed => {
                        let reversed = h.items().iter().rev().cloned().collect();
                        h.replace_all(reversed);
                        model.reverse();
                    }
                    Op::Delete(n) => {
                        let existed = model.iter().position(|m| *m == n);
                        prop_assert_eq!(h.remove(&id(n)), existed.is_some());
                        if let Some(p) = existed {
                            model.remove(p);
                        }
                    }
                    Op::Transcript { id: n, delta } => {
                        let part0 = |h: &History| match h.items().iter().find(|i| *i.item_id() == id(n)) {
                            Some(HistoryItem::Message { content, .. }) => content.first().and_then(|p| p.text().map(str::to_owned)).unwrap_or_default(),
                            _ => String::new(),
                        };
                        let before = part0(&h);
                        let at = h.append_text(&id(n), 0, &delta, true);
                        prop_assert_eq!(at.is_some(), model.contains(&n));
                        if at.is_some() {
                            let after = part0(&h);
                            prop_assert_eq!(after, format!("{before}{delta}"));
                        }
                    }
                    Op::InputTranscript { id: n, text } => {
                        prop_assert_eq!(h.set_input_transcript(&id(n), 1, &text).is_some(), model.contains(&n));
                    }
                }
                let ids: Vec<ItemId> = h.items().iter().map(|i| i.item_id().clone()).collect();
                let want: Vec<ItemId> = model.iter().map(|n| id(*n)).collect();
                prop_assert_eq!(ids, want);
            }
        }
    }
}
