//! Hosted MCP servers (GA), as the service plays them: listing a server's tools when a
//! session first names it, an `mcp_call` streamed with its arguments and result, approval
//! requests when the session's `require_approval` covers the tool, and the client's answers
//! checked against them.

use super::streaming::Step;
use super::{Connection, End, Sink};
use crate::mcp::McpOutcome;
use crate::model::{Item, ItemKind};
use serde_json::{json, Value};
use std::collections::VecDeque;

/// One step of an MCP call in a streaming response.
#[derive(Debug)]
pub(super) enum McpStep {
    ArgsDelta {
        item_id: String,
        output_index: usize,
        delta: String,
    },
    ArgsDone {
        item_id: String,
        output_index: usize,
    },
    InProgress {
        item_id: String,
        output_index: usize,
    },
    /// The server answers: the item gets its output or error.
    Result {
        item_id: String,
        output_index: usize,
    },
}

impl Connection {
    /// The session's MCP tool entries.
    fn mcp_entries(&self) -> Vec<Value> {
        self.session
            .get("tools")
            .and_then(Value::as_array)
            .map(|t| {
                t.iter()
                    .filter(|x| x.get("type").and_then(Value::as_str) == Some("mcp"))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Lists the tools of every MCP server the session names for the first time, as the
    /// service does after `session.updated`.
    pub(super) async fn list_mcp_servers(&mut self, sink: &mut Sink) -> End {
        if !self.ga() {
            return End::Continue;
        }
        for entry in self.mcp_entries() {
            let label = entry
                .get("server_label")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            if self.mcp_listed.contains(&label) {
                continue;
            }
            self.mcp_listed.push(label.clone());
            let end = self.list_one(sink, &label, &entry).await;
            if !matches!(end, End::Continue) {
                return end;
            }
        }
        End::Continue
    }

    async fn list_one(&mut self, sink: &mut Sink, label: &str, entry: &Value) -> End {
        let script = self
            .config
            .mcp_servers
            .iter()
            .find(|s| s.label == label && s.reachable)
            .cloned();
        let item_id = self.ids.next("mcpl");
        let item = Item {
            id: item_id.clone(),
            kind: ItemKind::Other(
                json!({"type": "mcp_list_tools", "server_label": label, "tools": []}),
            ),
            status: "in_progress",
        };
        let prev = self.insert(item, None).unwrap_or_default();
        let events = [
            json!({"type": "mcp_list_tools.in_progress", "item_id": item_id}),
            json!({"type": "conversation.item.added", "previous_item_id": prev, "item": self.item_json(&item_id)}),
        ];
        for ev in events {
            let end = self.send(sink, ev).await;
            if !matches!(end, End::Continue) {
                return end;
            }
        }
        let Some(script) = script else {
            return self
                .send(
                    sink,
                    json!({"type": "mcp_list_tools.failed", "item_id": item_id}),
                )
                .await;
        };
        // Only the allowed tools are listed.
        let allowed: Option<Vec<String>> = match entry.get("allowed_tools") {
            Some(Value::Array(names)) => Some(
                names
                    .iter()
                    .filter_map(|n| n.as_str().map(str::to_owned))
                    .collect(),
            ),
            Some(Value::Object(f)) => f.get("tool_names").and_then(Value::as_array).map(|n| {
                n.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            }),
            _ => None,
        };
        let tools: Vec<Value> = script
            .tools
            .iter()
            .filter(|t| {
                let name = t.get("name").and_then(Value::as_str).unwrap_or_default();
                allowed.as_ref().is_none_or(|a| a.iter().any(|n| n == name))
            })
            .cloned()
            .collect();
        if let Some(ItemKind::Other(v)) = self.item_mut(&item_id).map(|i| &mut i.kind) {
            v["tools"] = Value::Array(tools);
        }
        self.sync_conversation();
        let end = self
            .send(
                sink,
                json!({"type": "mcp_list_tools.completed", "item_id": item_id}),
            )
            .await;
        if !matches!(end, End::Continue) {
            return end;
        }
        let prev = self
            .index_of(&item_id)
            .and_then(|i| i.checked_sub(1))
            .map(|i| self.conversation[i].id.clone());
        let item = self.item_json(&item_id);
        self.send(
            sink,
            json!({"type": "conversation.item.done", "previous_item_id": prev, "item": item}),
        )
        .await
    }

    /// Whether the session's `require_approval` covers `tool` of `label` (the service's
    /// default is to ask).
    fn needs_approval(&self, label: &str, tool: &str) -> bool {
        let entry = self
            .mcp_entries()
            .into_iter()
            .find(|e| e.get("server_label").and_then(Value::as_str) == Some(label));
        let Some(entry) = entry else { return true };
        let named = |filter: Option<&Value>| {
            filter
                .and_then(|f| f.get("tool_names"))
                .and_then(Value::as_array)
                .is_some_and(|n| n.iter().any(|x| x.as_str() == Some(tool)))
        };
        match entry.get("require_approval") {
            Some(Value::String(s)) => s != "never",
            Some(Value::Object(o)) => {
                if named(o.get("always")) {
                    true
                } else {
                    !named(o.get("never")) && o.get("always").is_none()
                }
            }
            _ => true,
        }
    }

    /// The answered approval request for this call, if any: `(request id, approved)`.
    fn approval_for(&self, label: &str, tool: &str, arguments: &str) -> Option<(String, bool)> {
        let request = self.conversation.iter().rev().find_map(|i| match &i.kind {
            ItemKind::Other(v)
                if v["type"] == "mcp_approval_request"
                    && v["server_label"] == label
                    && v["name"] == tool
                    && v["arguments"] == arguments =>
            {
                Some(i.id.clone())
            }
            _ => None,
        })?;
        let approve = self.conversation.iter().find_map(|i| match &i.kind {
            ItemKind::Other(v)
                if v["type"] == "mcp_approval_response" && v["approval_request_id"] == request =>
            {
                v["approve"].as_bool()
            }
            _ => None,
        })?;
        Some((request, approve))
    }

    /// Plans an MCP call: an approval request when one is needed and not given; nothing when
    /// it was refused; else the call with its result.
    pub(super) fn plan_mcp_call(
        &mut self,
        label: String,
        name: String,
        arguments: String,
        output_index: usize,
        steps: &mut VecDeque<Step>,
    ) {
        let approval = self.approval_for(&label, &name, &arguments);
        if self.needs_approval(&label, &name) && approval.is_none() {
            let item_id = self.ids.next("mcpr");
            let item = Item {
                id: item_id.clone(),
                kind: ItemKind::Other(json!({
                    "type": "mcp_approval_request",
                    "server_label": label,
                    "name": name,
                    "arguments": arguments,
                })),
                status: "completed",
            };
            steps.push_back(Step::ItemAdded { item, output_index });
            steps.push_back(Step::ItemDone {
                item_id,
                output_index,
            });
            return;
        }
        if approval.as_ref().is_some_and(|(_, ok)| !ok) {
            return;
        }
        let item_id = self.ids.next("mcp");
        let mut v = json!({
            "type": "mcp_call",
            "server_label": label,
            "name": name,
            "arguments": "",
        });
        if let Some((request, _)) = approval {
            v["approval_request_id"] = json!(request);
        }
        let item = Item {
            id: item_id.clone(),
            kind: ItemKind::Other(v),
            status: "in_progress",
        };
        steps.push_back(Step::ItemAdded { item, output_index });
        for delta in super::streaming::split_chunks(&arguments, 16) {
            steps.push_back(Step::Mcp(McpStep::ArgsDelta {
                item_id: item_id.clone(),
                output_index,
                delta,
            }));
        }
        steps.push_back(Step::Mcp(McpStep::ArgsDone {
            item_id: item_id.clone(),
            output_index,
        }));
        steps.push_back(Step::Mcp(McpStep::InProgress {
            item_id: item_id.clone(),
            output_index,
        }));
        steps.push_back(Step::Mcp(McpStep::Result {
            item_id: item_id.clone(),
            output_index,
        }));
        steps.push_back(Step::ItemDone {
            item_id,
            output_index,
        });
    }

    pub(super) async fn mcp_step(&mut self, sink: &mut Sink, rid: &str, step: McpStep) -> End {
        let call = |this: &mut Self, id: &str| match this.item_mut(id).map(|i| &mut i.kind) {
            Some(ItemKind::Other(v)) => Some(v.clone()),
            _ => None,
        };
        match step {
            McpStep::ArgsDelta {
                item_id,
                output_index,
                delta,
            } => {
                if let Some(ItemKind::Other(v)) = self.item_mut(&item_id).map(|i| &mut i.kind) {
                    let mut args = v["arguments"].as_str().unwrap_or_default().to_owned();
                    args.push_str(&delta);
                    v["arguments"] = json!(args);
                }
                self.sync_conversation();
                self.send(sink, json!({"type": "response.mcp_call_arguments.delta", "response_id": rid, "item_id": item_id, "output_index": output_index, "delta": delta})).await
            }
            McpStep::ArgsDone {
                item_id,
                output_index,
            } => {
                let arguments = call(self, &item_id)
                    .and_then(|v| v["arguments"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                self.send(sink, json!({"type": "response.mcp_call_arguments.done", "response_id": rid, "item_id": item_id, "output_index": output_index, "arguments": arguments})).await
            }
            McpStep::InProgress {
                item_id,
                output_index,
            } => {
                self.send(sink, json!({"type": "response.mcp_call.in_progress", "item_id": item_id, "output_index": output_index})).await
            }
            McpStep::Result {
                item_id,
                output_index,
            } => {
                let Some(v) = call(self, &item_id) else {
                    return End::Continue;
                };
                let label = v["server_label"].as_str().unwrap_or_default();
                let tool = v["name"].as_str().unwrap_or_default();
                let outcome = self
                    .config
                    .mcp_servers
                    .iter()
                    .find(|s| s.label == label)
                    .map(|s| s.outcome(tool))
                    .unwrap_or_else(|| {
                        McpOutcome::Error(format!("no MCP server labelled `{label}`"))
                    });
                let kind = match &outcome {
                    McpOutcome::Output(_) => "response.mcp_call.completed",
                    McpOutcome::Error(_) => "response.mcp_call.failed",
                };
                if let Some(ItemKind::Other(v)) = self.item_mut(&item_id).map(|i| &mut i.kind) {
                    match outcome {
                        McpOutcome::Output(o) => v["output"] = json!(o),
                        McpOutcome::Error(m) => {
                            v["error"] = json!({"type": "tool_execution_error", "message": m})
                        }
                    }
                }
                self.sync_conversation();
                self.send(
                    sink,
                    json!({"type": kind, "item_id": item_id, "output_index": output_index}),
                )
                .await
            }
        }
    }

    /// A client's `mcp_approval_response` must answer an approval request of this
    /// conversation, once.
    pub(super) fn check_approval_response(&self, item: &Value) -> Result<(), String> {
        if item.get("type").and_then(Value::as_str) != Some("mcp_approval_response") {
            return Ok(());
        }
        let id = item
            .get("approval_request_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let known = self.conversation.iter().any(|i| {
            i.id == id
                && matches!(&i.kind, ItemKind::Other(v) if v["type"] == "mcp_approval_request")
        });
        if !known {
            return Err(format!("No MCP approval request with id '{id}' was found."));
        }
        let answered = self.conversation.iter().any(|i| {
            matches!(&i.kind, ItemKind::Other(v) if v["type"] == "mcp_approval_response" && v["approval_request_id"] == id)
        });
        if answered {
            return Err(format!(
                "The MCP approval request '{id}' was already answered."
            ));
        }
        Ok(())
    }
}
