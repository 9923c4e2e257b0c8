//! GA's hosted MCP items, read into [`McpEvent`]s when the server completes them.

use crate::mcp::{McpEvent, McpToolInfo};
use realtime_protocol::ga;

/// The MCP event a completed item means, if it is an MCP item.
pub(super) fn item_done(item: &ga::ConversationItem) -> Option<McpEvent> {
    match item {
        ga::ConversationItem::McpListTools(l) => Some(McpEvent::ToolsListed {
            item_id: l.id.clone().unwrap_or_default(),
            server_label: l.server_label.clone(),
            tools: l
                .tools
                .iter()
                .map(|t| McpToolInfo {
                    server_label: l.server_label.clone(),
                    name: t.name.clone(),
                    description: t.description.clone(),
                    input_schema: t.input_schema.clone(),
                })
                .collect(),
        }),
        ga::ConversationItem::McpCall(c) => Some(match &c.error {
            Some(e) => McpEvent::CallFailed {
                item_id: c.id.clone(),
                server_label: c.server_label.clone(),
                name: c.name.clone(),
                arguments: c.arguments.clone(),
                error: error_text(e),
            },
            None => McpEvent::CallCompleted {
                item_id: c.id.clone(),
                server_label: c.server_label.clone(),
                name: c.name.clone(),
                arguments: c.arguments.clone(),
                output: c.output.clone().unwrap_or_default(),
            },
        }),
        ga::ConversationItem::McpApprovalRequest(r) => Some(McpEvent::ApprovalRequested {
            item_id: r.id.clone(),
            server_label: r.server_label.clone(),
            name: r.name.clone(),
            arguments: r.arguments.clone(),
        }),
        _ => None,
    }
}

fn error_text(e: &ga::McpToolCallError) -> String {
    match e {
        ga::McpToolCallError::ProtocolError(p) => {
            format!("protocol_error {}: {}", p.code, p.message)
        }
        ga::McpToolCallError::ToolExecutionError(t) => {
            format!("tool_execution_error: {}", t.message)
        }
        ga::McpToolCallError::HttpError(h) => format!("http_error {}: {}", h.code, h.message),
        other => serde_json::to_string(other).unwrap_or_else(|_| "unknown error".to_owned()),
    }
}
