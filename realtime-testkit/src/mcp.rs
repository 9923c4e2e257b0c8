//! Hosted MCP servers as the fake plays them (GA): what each lists, and what each tool
//! returns when the fake model calls it.

use serde_json::{json, Value};
use std::collections::HashMap;

/// What a scripted MCP tool answers.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum McpOutcome {
    /// The call succeeds with this output.
    Output(String),
    /// The call fails with a `tool_execution_error` of this message.
    Error(String),
}

/// A hosted MCP server the fake plays: when a session's tools name its label, the fake lists
/// these tools (`mcp_list_tools.*`); when a response calls one (see
/// [`crate::ResponsePart::mcp_call`]), it answers as scripted. A label no server plays, or
/// one made with [`McpServerScript::unreachable`], fails to list (`mcp_list_tools.failed`).
///
/// ```
/// use realtime_testkit::{FakeServerConfig, McpServerScript};
/// use serde_json::json;
///
/// let docs = McpServerScript::new("docs")
///     .tool("search", "Searches the manual.", json!({"type": "object"}))
///     .returns("search", "Page 12: resetting the device.");
/// let config = FakeServerConfig::default().with_mcp_server(docs);
/// # let _ = config;
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct McpServerScript {
    pub(crate) label: String,
    pub(crate) tools: Vec<Value>,
    pub(crate) outcomes: HashMap<String, McpOutcome>,
    pub(crate) reachable: bool,
}

impl McpServerScript {
    /// A server labelled `label` with no tools yet.
    pub fn new(label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            tools: Vec::new(),
            outcomes: HashMap::new(),
            reachable: true,
        }
    }

    /// A server the service cannot reach: listing its tools fails.
    pub fn unreachable(label: impl Into<String>) -> Self {
        Self {
            reachable: false,
            ..Self::new(label)
        }
    }

    /// A tool the server lists.
    pub fn tool(
        mut self,
        name: impl Into<String>,
        description: impl Into<String>,
        input_schema: Value,
    ) -> Self {
        self.tools.push(json!({
            "name": name.into(),
            "description": description.into(),
            "input_schema": input_schema,
        }));
        self
    }

    /// What a call of `tool` returns.
    pub fn returns(mut self, tool: impl Into<String>, output: impl Into<String>) -> Self {
        self.outcomes
            .insert(tool.into(), McpOutcome::Output(output.into()));
        self
    }

    /// A call of `tool` fails with `message`.
    pub fn fails(mut self, tool: impl Into<String>, message: impl Into<String>) -> Self {
        self.outcomes
            .insert(tool.into(), McpOutcome::Error(message.into()));
        self
    }

    /// The label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// What a call of `tool` gets: as scripted, else an error naming it.
    pub(crate) fn outcome(&self, tool: &str) -> McpOutcome {
        self.outcomes.get(tool).cloned().unwrap_or_else(|| {
            McpOutcome::Error(format!(
                "the fake MCP server `{}` has no result for `{tool}`",
                self.label
            ))
        })
    }
}
