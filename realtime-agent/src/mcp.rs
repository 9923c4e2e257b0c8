//! Hosted MCP tools: an MCP server the Realtime service itself calls (GA `type: "mcp"`), as
//! opposed to function tools, which run in the application.

use std::collections::BTreeMap;
use std::fmt;

/// Where the service finds the MCP server.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum McpServerSource {
    /// A remote MCP server at this URL.
    Url(String),
    /// A service connector, e.g. `connector_googlecalendar`.
    Connector(String),
    /// A Secure MCP Tunnel id.
    Tunnel(String),
}

impl fmt::Debug for McpServerSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // A URL may carry a token in its query: only its origin is shown.
            Self::Url(u) => {
                let end = u
                    .find("://")
                    .map(|s| s + 3)
                    .and_then(|s| u[s..].find(['/', '?', '#']).map(|e| s + e))
                    .unwrap_or(u.len());
                write!(f, "Url({:?})", &u[..end])
            }
            Self::Connector(c) => write!(f, "Connector({c:?})"),
            Self::Tunnel(t) => write!(f, "Tunnel({t:?})"),
        }
    }
}

/// Which of the server's tools need the application's approval before the service calls
/// them. The service's default is [`McpApproval::Always`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum McpApproval {
    /// Every call waits for approval.
    #[default]
    Always,
    /// No call waits.
    Never,
    /// Only calls of these tools wait; the others run at once.
    Only(Vec<String>),
}

/// An MCP server's tools, called by the Realtime service (GA only; the beta API has no MCP).
///
/// The session reports the server's tool list, each call's progress and result, and asks for
/// approval through the same `approve_tool_call` / `reject_tool_call` as function tools.
/// The authorization and header values never appear in `Debug` output.
///
/// ```
/// use realtime_agent::{HostedMcpTool, McpApproval};
///
/// let docs = HostedMcpTool::url("docs", "https://mcp.example.com/sse")
///     .with_description("The product manual.")
///     .with_authorization("token-123")
///     .allow_tools(["search", "fetch_page"])
///     .require_approval(McpApproval::Only(vec!["fetch_page".into()]));
/// assert_eq!(docs.server_label(), "docs");
/// assert!(!format!("{docs:?}").contains("token-123"));
/// ```
#[derive(Clone, PartialEq)]
pub struct HostedMcpTool {
    server_label: String,
    source: McpServerSource,
    description: Option<String>,
    authorization: Option<String>,
    headers: BTreeMap<String, String>,
    allowed_tools: Option<Vec<String>>,
    read_only: Option<bool>,
    approval: McpApproval,
}

impl fmt::Debug for HostedMcpTool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<&str> = self.headers.keys().map(String::as_str).collect();
        f.debug_struct("HostedMcpTool")
            .field("server_label", &self.server_label)
            .field("source", &self.source)
            .field("description", &self.description)
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "[redacted]"),
            )
            .field("header_names", &headers)
            .field("allowed_tools", &self.allowed_tools)
            .field("read_only", &self.read_only)
            .field("approval", &self.approval)
            .finish()
    }
}

impl HostedMcpTool {
    fn new(label: impl Into<String>, source: McpServerSource) -> Self {
        Self {
            server_label: label.into(),
            source,
            description: None,
            authorization: None,
            headers: BTreeMap::new(),
            allowed_tools: None,
            read_only: None,
            approval: McpApproval::default(),
        }
    }

    /// The MCP server at `url`, labelled `label` (the label names it in calls and events).
    pub fn url(label: impl Into<String>, url: impl Into<String>) -> Self {
        Self::new(label, McpServerSource::Url(url.into()))
    }

    /// A service connector (e.g. `connector_gmail`), labelled `label`.
    pub fn connector(label: impl Into<String>, connector_id: impl Into<String>) -> Self {
        Self::new(label, McpServerSource::Connector(connector_id.into()))
    }

    /// A Secure MCP Tunnel, labelled `label`.
    pub fn tunnel(label: impl Into<String>, tunnel_id: impl Into<String>) -> Self {
        Self::new(label, McpServerSource::Tunnel(tunnel_id.into()))
    }

    /// What the model is told about the server.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// An OAuth access token for the server (kept out of logs).
    pub fn with_authorization(mut self, token: impl Into<String>) -> Self {
        self.authorization = Some(token.into());
        self
    }

    /// A header sent to the server (its value kept out of logs).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }

    /// Only these of the server's tools are offered to the model.
    pub fn allow_tools(mut self, names: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.allowed_tools = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Only the server's read-only tools (annotated `readOnlyHint`) are offered.
    pub fn read_only(mut self, on: bool) -> Self {
        self.read_only = Some(on);
        self
    }

    /// Which calls wait for approval.
    pub fn require_approval(mut self, approval: McpApproval) -> Self {
        self.approval = approval;
        self
    }

    /// The server's label.
    pub fn server_label(&self) -> &str {
        &self.server_label
    }

    /// Where the server is.
    pub fn source(&self) -> &McpServerSource {
        &self.source
    }

    /// The tools offered, when restricted by name.
    pub fn allowed_tools(&self) -> Option<&[String]> {
        self.allowed_tools.as_deref()
    }

    /// Which calls wait for approval.
    pub fn approval(&self) -> &McpApproval {
        &self.approval
    }

    /// As a GA session tool.
    pub fn to_ga(&self) -> realtime_protocol::ga::Tool {
        use realtime_protocol::ga::{
            McpTool, McpToolAllowedTools, McpToolConnectorId, McpToolFilter,
            McpToolRequireApproval, McpToolRequireApprovalObject, McpToolRequireApprovalStr,
            McpToolType, Tool,
        };
        let mut t = McpTool::default()
            .with_type(McpToolType::Mcp)
            .with_server_label(self.server_label.clone());
        match &self.source {
            McpServerSource::Url(u) => t.server_url = Some(u.clone()),
            McpServerSource::Connector(c) => {
                t.connector_id = Some(McpToolConnectorId::from(c.as_str()))
            }
            McpServerSource::Tunnel(id) => t.tunnel_id = Some(id.clone()),
        }
        t.server_description.clone_from(&self.description);
        t.authorization.clone_from(&self.authorization);
        if !self.headers.is_empty() {
            t.headers = Some(self.headers.clone());
        }
        t.allowed_tools = match (&self.allowed_tools, self.read_only) {
            (Some(names), None) => Some(McpToolAllowedTools::List(names.clone())),
            (names, Some(ro)) => {
                let mut f = McpToolFilter::default().with_read_only(ro);
                f.tool_names.clone_from(names);
                Some(McpToolAllowedTools::McpToolFilter(f))
            }
            (None, None) => None,
        };
        t.require_approval = Some(match &self.approval {
            McpApproval::Always => {
                McpToolRequireApproval::String(McpToolRequireApprovalStr::Always)
            }
            McpApproval::Never => McpToolRequireApproval::String(McpToolRequireApprovalStr::Never),
            McpApproval::Only(names) => {
                let mut o = McpToolRequireApprovalObject::default();
                o.always = Some(McpToolFilter::default().with_tool_names(names.clone()));
                McpToolRequireApproval::Object(o)
            }
        });
        Tool::Mcp(t)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn secrets_stay_out_of_debug() {
        let t = HostedMcpTool::url("x", "https://h.example/mcp?token=abc")
            .with_authorization("sk-secret")
            .with_header("X-Key", "hdr-secret");
        let d = format!("{t:?}");
        for secret in ["sk-secret", "hdr-secret", "token=abc"] {
            assert!(!d.contains(secret), "{d}");
        }
        assert!(
            d.contains("X-Key") && d.contains("https://h.example"),
            "{d}"
        );
    }

    #[test]
    fn the_wire_shape_follows_the_spec() {
        let t = HostedMcpTool::connector("cal", "connector_googlecalendar")
            .with_authorization("tok")
            .allow_tools(["list_events"])
            .require_approval(McpApproval::Only(vec!["create_event".into()]));
        let v = serde_json::to_value(t.to_ga()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "type": "mcp",
                "server_label": "cal",
                "connector_id": "connector_googlecalendar",
                "authorization": "tok",
                "allowed_tools": ["list_events"],
                "require_approval": {"always": {"tool_names": ["create_event"]}}
            })
        );
        let ro = HostedMcpTool::url("d", "https://d.example/mcp").read_only(true);
        let v = serde_json::to_value(ro.to_ga()).unwrap();
        assert_eq!(v["allowed_tools"], serde_json::json!({"read_only": true}));
        assert_eq!(v["require_approval"], "always");
    }
}
