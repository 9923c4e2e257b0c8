//! A two-agent order desk (a lookup tool, a handoff to billing) and the model's script for
//! it, shared by the tests that watch a whole conversation from outside (events, logs). The
//! tool's argument and output carry marker strings a test can look for where they must not be.

use realtime_agent::{FunctionTool, RealtimeAgent, ToolContext};
use realtime_testkit::{ResponsePart, ResponsePlan, Scripted};
use serde_json::json;

#[derive(serde::Deserialize, schemars::JsonSchema)]
pub struct Lookup {
    /// The order.
    pub order: String,
}

/// The order the model asks about (a tool argument).
pub const SECRET_ARG: &str = "ORDER-SECRET-4242";
/// What the tool answers.
pub const SECRET_OUT: &str = "shipped-to-221B-Baker-Street";

/// Support, with the lookup tool and a handoff to Billing.
pub fn agents() -> RealtimeAgent<()> {
    let tool = FunctionTool::new(
        "lookup",
        "Finds an order.",
        |_: ToolContext<()>, l: Lookup| async move {
            Ok::<_, String>(format!("{} {SECRET_OUT}", l.order))
        },
    )
    .unwrap();
    let billing = RealtimeAgent::builder("Billing").build().unwrap();
    RealtimeAgent::builder("Support")
        .tool(tool)
        .handoff_to(&billing)
        .build()
        .unwrap()
}

/// Lookup, an answer, the handoff, Billing's answer.
pub fn script() -> Scripted {
    Scripted::new([
        ResponsePlan::new([ResponsePart::function_call(
            "lookup",
            json!({"order": SECRET_ARG}),
        )]),
        ResponsePlan::speech("It has shipped."),
        ResponsePlan::new([ResponsePart::function_call(
            "transfer_to_billing",
            json!({}),
        )]),
        ResponsePlan::speech("Billing here."),
    ])
}
