//! Hosted MCP servers' events: reported as they come, the current agent's tool list kept,
//! approval requests put to the application, and after a call the follow-up response asked
//! for (as the JS SDK does; [`crate::RunConfig::mcp_auto_response`]).

use super::event_loop::Loop;
use super::mcp::PendingMcpApproval;
use crate::events::SessionEvent;
use crate::mcp::McpEvent;
use crate::model::ModelInput;
use realtime_protocol::{CallId, ItemId};

impl<Ctx: Send + Sync + 'static> Loop<Ctx> {
    pub(super) async fn on_mcp(&mut self, ev: McpEvent) {
        match ev {
            McpEvent::ToolsListed {
                item_id,
                server_label,
                tools,
            } => {
                self.mcp.listed(server_label.clone(), tools.clone());
                self.emit(SessionEvent::Mcp(McpEvent::ToolsListed {
                    item_id,
                    server_label,
                    tools,
                }));
                self.refresh_mcp_tools();
            }
            McpEvent::ApprovalRequested {
                item_id,
                server_label,
                name,
                arguments,
            } => {
                self.on_mcp_approval_request(item_id, server_label, name, arguments)
                    .await
            }
            done @ (McpEvent::CallCompleted { .. } | McpEvent::CallFailed { .. }) => {
                self.emit(SessionEvent::Mcp(done));
                if self.config.mcp_auto_response {
                    self.request_response().await;
                }
            }
            other => self.emit(SessionEvent::Mcp(other)),
        }
    }

    /// Reports the current agent's MCP tools when they changed.
    pub(super) fn refresh_mcp_tools(&mut self) {
        if let Some(tools) = self.mcp.refresh(self.agent.mcp_tools()) {
            self.emit(SessionEvent::Mcp(McpEvent::ToolsChanged { tools }));
        }
    }

    async fn on_mcp_approval_request(
        &mut self,
        item_id: ItemId,
        server_label: String,
        name: String,
        arguments: String,
    ) {
        if let Some(approve) = self.mcp.remembered(&server_label, &name) {
            self.answer_mcp(item_id, approve, None).await;
            return;
        }
        let call_id = CallId::from(item_id.as_str());
        self.mcp.wait(
            call_id.clone(),
            PendingMcpApproval {
                server_label: server_label.clone(),
                name: name.clone(),
            },
        );
        self.emit(SessionEvent::ToolApprovalRequested {
            agent: self.agent.name().to_owned(),
            tool: name,
            call_id,
            arguments,
            mcp_server: Some(server_label),
        });
    }

    /// The application's answer to an MCP approval request; `false` when `call_id` is not
    /// one.
    pub(super) async fn on_mcp_approval(
        &mut self,
        call_id: &CallId,
        approve: bool,
        always: bool,
        reason: Option<String>,
    ) -> bool {
        if self.mcp.take(call_id, approve, always).is_none() {
            return false;
        }
        let item_id = ItemId::from(call_id.as_str());
        self.answer_mcp(item_id, approve, reason).await;
        true
    }

    async fn answer_mcp(&mut self, item_id: ItemId, approve: bool, reason: Option<String>) {
        self.send(ModelInput::McpApproval {
            approval_request_id: item_id,
            approve,
            reason,
        })
        .await;
        if self.config.mcp_auto_response {
            self.request_response().await;
        }
    }
}
