//! The record of hosted MCP servers in a session: the tools each server listed, the tools the
//! current agent can use, and the approval requests waiting for the application.

use crate::mcp::McpToolInfo;
use realtime_agent::HostedMcpTool;
use realtime_protocol::CallId;
use std::collections::{HashMap, HashSet};

/// An MCP approval request waiting for the application.
pub(super) struct PendingMcpApproval {
    pub(super) server_label: String,
    pub(super) name: String,
}

#[derive(Default)]
pub(super) struct McpServers {
    /// The tools each server listed, by label (kept across agents: a later agent with the
    /// same server sees them at once).
    listed: HashMap<String, Vec<McpToolInfo>>,
    /// What the current agent can use, as last reported.
    available: Vec<McpToolInfo>,
    approvals: HashMap<CallId, PendingMcpApproval>,
    /// `(server, tool)` pairs the application approved or rejected "always".
    always_approve: HashSet<(String, String)>,
    always_reject: HashSet<(String, String)>,
}

impl McpServers {
    /// A server listed its tools.
    pub(super) fn listed(&mut self, server_label: String, tools: Vec<McpToolInfo>) {
        self.listed.insert(server_label, tools);
    }

    /// Recomputes the tools `servers` (the current agent's) allow; `Some` when they changed.
    pub(super) fn refresh(&mut self, servers: &[HostedMcpTool]) -> Option<Vec<McpToolInfo>> {
        let mut seen = HashSet::new();
        let mut next = Vec::new();
        for server in servers {
            let Some(tools) = self.listed.get(server.server_label()) else {
                continue;
            };
            for t in tools {
                let allowed = server
                    .allowed_tools()
                    .is_none_or(|names| names.iter().any(|n| n == &t.name));
                if allowed && seen.insert(t.name.clone()) {
                    next.push(t.clone());
                }
            }
        }
        if next == self.available {
            return None;
        }
        self.available = next.clone();
        Some(next)
    }

    /// The decision remembered for this tool, if any: `Some(true)` approve, `Some(false)`
    /// reject.
    pub(super) fn remembered(&self, server_label: &str, name: &str) -> Option<bool> {
        let key = (server_label.to_owned(), name.to_owned());
        if self.always_reject.contains(&key) {
            Some(false)
        } else if self.always_approve.contains(&key) {
            Some(true)
        } else {
            None
        }
    }

    pub(super) fn wait(&mut self, id: CallId, pending: PendingMcpApproval) {
        self.approvals.insert(id, pending);
    }

    /// Takes the request `id` waits on; `always` remembers the choice for its tool.
    pub(super) fn take(
        &mut self,
        id: &CallId,
        approve: bool,
        always: bool,
    ) -> Option<PendingMcpApproval> {
        let p = self.approvals.remove(id)?;
        if always {
            let key = (p.server_label.clone(), p.name.clone());
            if approve {
                self.always_approve.insert(key);
            } else {
                self.always_reject.insert(key);
            }
        }
        Some(p)
    }
}
