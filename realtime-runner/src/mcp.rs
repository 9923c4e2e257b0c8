//! Hosted MCP tools as the session reports them: the servers' tool lists, each call's
//! progress and result (GA; the service calls the MCP server itself).

use realtime_protocol::ItemId;
use serde::Serialize;

/// A tool an MCP server offers.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct McpToolInfo {
    /// The server's label.
    pub server_label: String,
    /// The tool's name.
    pub name: String,
    /// What the server says it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The JSON schema of its input.
    pub input_schema: serde_json::Value,
}

/// Something a hosted MCP server did, as [`crate::SessionEvent::Mcp`] reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "mcp", rename_all = "snake_case")]
#[non_exhaustive]
pub enum McpEvent {
    /// The service started listing a server's tools (`mcp_list_tools.in_progress`).
    #[non_exhaustive]
    ListToolsInProgress {
        /// The `mcp_list_tools` item.
        item_id: ItemId,
    },
    /// Listing finished (`mcp_list_tools.completed`); the tools follow in
    /// [`McpEvent::ToolsListed`].
    #[non_exhaustive]
    ListToolsCompleted {
        /// The `mcp_list_tools` item.
        item_id: ItemId,
    },
    /// Listing failed (`mcp_list_tools.failed`): the server's tools are not available.
    #[non_exhaustive]
    ListToolsFailed {
        /// The `mcp_list_tools` item.
        item_id: ItemId,
    },
    /// A server's tool list (its `mcp_list_tools` item is complete).
    #[non_exhaustive]
    ToolsListed {
        /// The `mcp_list_tools` item.
        item_id: ItemId,
        /// The server.
        server_label: String,
        /// Its tools.
        tools: Vec<McpToolInfo>,
    },
    /// The MCP tools the current agent can use changed (a server listed its tools, or the
    /// agent changed): all of them, the agent's allowed tools only, one per name.
    #[non_exhaustive]
    ToolsChanged {
        /// The tools now available.
        tools: Vec<McpToolInfo>,
    },
    /// A call started (`response.mcp_call.in_progress`).
    #[non_exhaustive]
    CallInProgress {
        /// The `mcp_call` item.
        item_id: ItemId,
    },
    /// A call's arguments are complete (`response.mcp_call_arguments.done`).
    #[non_exhaustive]
    CallArguments {
        /// The `mcp_call` item.
        item_id: ItemId,
        /// The JSON arguments.
        arguments: String,
    },
    /// A call finished with a result (its `mcp_call` item is complete).
    #[non_exhaustive]
    CallCompleted {
        /// The `mcp_call` item.
        item_id: ItemId,
        /// The server.
        server_label: String,
        /// The tool.
        name: String,
        /// The JSON arguments.
        arguments: String,
        /// What the tool returned.
        output: String,
    },
    /// A call failed (its `mcp_call` item is complete with an error).
    #[non_exhaustive]
    CallFailed {
        /// The `mcp_call` item.
        item_id: ItemId,
        /// The server.
        server_label: String,
        /// The tool.
        name: String,
        /// The JSON arguments.
        arguments: String,
        /// The error (`protocol_error`, `tool_execution_error` or `http_error`, and its
        /// message).
        error: String,
    },
    /// The service asks to call a tool (an `mcp_approval_request` item). The session turns
    /// this into [`crate::SessionEvent::ToolApprovalRequested`]; answer with
    /// `approve_tool_call` / `reject_tool_call` and the item id as the call id.
    #[non_exhaustive]
    ApprovalRequested {
        /// The `mcp_approval_request` item.
        item_id: ItemId,
        /// The server.
        server_label: String,
        /// The tool.
        name: String,
        /// The JSON arguments.
        arguments: String,
    },
}
