//! Realtime voice agents as plain data and async traits: no sockets, no runtime.
//!
//! - [`RealtimeAgent`]: a name, [`Instructions`] (fixed, or computed from the run context),
//!   tools, handoffs, output guardrails and per-agent settings; cheap to clone.
//! - [`FunctionTool`]: a tool from an async Rust function of a typed argument struct; its JSON
//!   schema is derived with schemars and normalized to OpenAI's shape ([`parameters_schema`]).
//!   [`Tool`] is the lower-level trait for hand-built tools.
//! - [`Handoff`]: a tool that makes another agent the current one, with optional typed input.
//! - [`HostedMcpTool`]: an MCP server's tools, called by the Realtime service itself (GA).
//! - [`OutputGuardrail`]: a check on what the agent says; the runner decides when it runs.
//!
//! Names mirror the Python and JS Agents SDKs, so their docs carry over.
//!
//! ```
//! use realtime_agent::{FunctionTool, RealtimeAgent, RunContext, ToolContext};
//! use schemars::JsonSchema;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Deserialize, JsonSchema)]
//! struct Order { id: u32 }
//!
//! #[derive(Serialize)]
//! struct Status { id: u32, shipped: bool }
//!
//! let status = FunctionTool::new("order_status", "Where an order is.", |_ctx: ToolContext<()>, o: Order| async move {
//!     Ok::<_, std::io::Error>(Status { id: o.id, shipped: true })
//! })?;
//! let billing = RealtimeAgent::builder("Billing").handoff_description("Questions about invoices.").build()?;
//! let triage = RealtimeAgent::builder("Triage")
//!     .instructions("Route the caller.")
//!     .tool(status)
//!     .handoff_to(&billing)
//!     .build()?;
//! let tools = triage.tool_definitions(&RunContext::default())?;
//! assert_eq!(tools[1].name, "transfer_to_billing");
//! # Ok::<(), realtime_agent::AgentError>(())
//! ```
#![warn(missing_docs)]

mod agent;
mod context;
mod error;
mod guardrail;
mod handoff;
mod mcp;
mod schema;
mod tool;
mod tool_guardrail;
mod tool_output;

pub use agent::{AgentSettings, Instructions, RealtimeAgent, RealtimeAgentBuilder};
pub use context::{RunContext, ToolContext};
pub use error::{AgentError, Result};
pub use guardrail::{GuardrailFn, GuardrailOutput, OutputGuardrail};
pub use handoff::{snake_case, AgentRef, Handoff};
pub use mcp::{HostedMcpTool, McpApproval, McpServerSource};
pub use schema::{normalize as normalize_schema, parameters_schema};
pub use tool::{default_error_text, FunctionTool, Tool, ToolDefinition, ToolError};
pub use tool_guardrail::{
    ToolGuardrailOutput, ToolInputGuardrail, ToolInputGuardrailFn, ToolOutputGuardrail,
    ToolOutputGuardrailFn,
};
pub use tool_output::{EncodedOutput, ToolOutput};
