//! The conversation: inserting, announcing, retrieving, deleting and truncating items.

use super::{Connection, End, Sink};
use crate::model::{Item, ItemKind, Part, Role};
use serde_json::{json, Value};

impl Connection {
    pub(super) fn index_of(&self, id: &str) -> Option<usize> {
        self.conversation.iter().position(|i| i.id == id)
    }

    /// Inserts after `previous` (`None`: at the end; `"root"`: at the start); returns the id of
    /// the item before it.
    pub(super) fn insert(
        &mut self,
        item: Item,
        previous: Option<&str>,
    ) -> Result<Option<String>, String> {
        let at = match previous {
            None => self.conversation.len(),
            Some("root") => 0,
            Some(p) => match self.index_of(p) {
                Some(i) => i + 1,
                None => {
                    return Err(format!(
                        "Error adding item: the previous item with id '{p}' does not exist."
                    ))
                }
            },
        };
        let prev = at
            .checked_sub(1)
            .and_then(|i| self.conversation.get(i))
            .map(|i| i.id.clone());
        self.conversation.insert(at, item);
        self.sync_conversation();
        Ok(prev)
    }

    pub(super) async fn announce_item(
        &mut self,
        sink: &mut Sink,
        item_id: &str,
        previous: Option<String>,
    ) -> End {
        let Some(item) = self
            .index_of(item_id)
            .map(|i| self.conversation[i].to_json(self.dialect))
        else {
            return End::Continue;
        };
        if self.ga() {
            let end = self.send(sink, json!({"type": "conversation.item.added", "previous_item_id": previous, "item": item})).await;
            if !matches!(end, End::Continue) {
                return end;
            }
            self.send(sink, json!({"type": "conversation.item.done", "previous_item_id": previous, "item": item})).await
        } else {
            self.send(sink, json!({"type": "conversation.item.created", "previous_item_id": previous, "item": item})).await
        }
    }

    pub(super) async fn on_item_create(
        &mut self,
        sink: &mut Sink,
        raw: &Value,
        eid: Option<String>,
    ) -> End {
        let Some(item_json) = raw.get("item") else {
            return self
                .send_error(
                    sink,
                    "invalid_request_error",
                    Some("missing_required_parameter"),
                    "Missing required parameter: 'item'.",
                    Some("item"),
                    eid,
                )
                .await;
        };
        let id = match item_json.get("id").and_then(Value::as_str) {
            Some(id) if self.index_of(id).is_some() => {
                let msg = format!("Item with id '{id}' already exists.");
                return self.invalid_value(sink, &msg, "item.id", eid).await;
            }
            Some(id) => id.to_owned(),
            None => self.ids.next("item"),
        };
        if let Err(msg) = self.check_approval_response(item_json) {
            return self
                .invalid_value(sink, &msg, "item.approval_request_id", eid)
                .await;
        }
        let item = Item::from_client_json(id.clone(), item_json);
        let previous = raw
            .get("previous_item_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        match self.insert(item, previous.as_deref()) {
            Ok(prev) => self.announce_item(sink, &id, prev).await,
            Err(msg) => {
                self.invalid_value(sink, &msg, "previous_item_id", eid)
                    .await
            }
        }
    }

    pub(super) async fn on_item_retrieve(
        &mut self,
        sink: &mut Sink,
        raw: &Value,
        eid: Option<String>,
    ) -> End {
        let id = raw
            .get("item_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match self.index_of(id) {
            Some(i) => {
                let item = self.conversation[i].to_json(self.dialect);
                self.send(
                    sink,
                    json!({"type": "conversation.item.retrieved", "item": item}),
                )
                .await
            }
            None => self.item_not_found(sink, "retrieving", id, eid).await,
        }
    }

    pub(super) async fn on_item_delete(
        &mut self,
        sink: &mut Sink,
        raw: &Value,
        eid: Option<String>,
    ) -> End {
        let id = raw
            .get("item_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        match self.index_of(&id) {
            Some(i) => {
                self.conversation.remove(i);
                self.sync_conversation();
                self.send(
                    sink,
                    json!({"type": "conversation.item.deleted", "item_id": id}),
                )
                .await
            }
            None => self.item_not_found(sink, "deleting", &id, eid).await,
        }
    }

    pub(super) async fn on_item_truncate(
        &mut self,
        sink: &mut Sink,
        raw: &Value,
        eid: Option<String>,
    ) -> End {
        let id = raw
            .get("item_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let content_index = raw
            .get("content_index")
            .and_then(Value::as_u64)
            .unwrap_or(0) as usize;
        let audio_end_ms = raw.get("audio_end_ms").and_then(Value::as_u64).unwrap_or(0);
        let Some(i) = self.index_of(&id) else {
            return self.item_not_found(sink, "truncating", &id, eid).await;
        };
        let is_assistant = self.conversation[i].role() == Some(Role::Assistant);
        let Some(bytes) = self.conversation[i]
            .audio_bytes(content_index)
            .filter(|_| is_assistant)
        else {
            let msg = "Only assistant messages with audio content can be truncated.";
            return self.invalid_value(sink, msg, "item_id", eid).await;
        };
        let per_ms = self.output_encoding().bytes_per_ms();
        let audio_ms = (bytes as f64 / per_ms) as u64;
        if audio_end_ms > audio_ms {
            let msg =
                format!("Audio content of {audio_ms}ms is already shorter than {audio_end_ms}ms");
            return self.invalid_value(sink, &msg, "audio_end_ms", eid).await;
        }
        if let ItemKind::Message { content, .. } = &mut self.conversation[i].kind {
            if let Some(Part::Audio {
                audio_bytes,
                transcript,
            }) = content.get_mut(content_index)
            {
                *audio_bytes = (audio_end_ms as f64 * per_ms) as usize;
                // As the spec says: the server-side transcript is deleted.
                *transcript = None;
            }
        }
        self.sync_conversation();
        let ev = json!({"type": "conversation.item.truncated", "item_id": id, "content_index": content_index, "audio_end_ms": audio_end_ms});
        self.send(sink, ev).await
    }

    pub(super) fn item_mut(&mut self, id: &str) -> Option<&mut Item> {
        self.conversation.iter_mut().find(|i| i.id == id)
    }

    pub(super) fn item_json(&self, id: &str) -> Value {
        self.index_of(id)
            .map(|i| self.conversation[i].to_json(self.dialect))
            .unwrap_or(Value::Null)
    }

    pub(super) fn last_part(&self, id: &str) -> Option<Part> {
        match &self.conversation.get(self.index_of(id)?)?.kind {
            ItemKind::Message { content, .. } => content.last().cloned(),
            _ => None,
        }
    }
}
