//! A triage agent with a typed tool and a handoff to a billing agent, in text, offline.
//!
//! ```sh
//! cargo run -p realtime-runner --example tools_and_handoffs
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

use realtime_agent::{FunctionTool, Handoff, RealtimeAgent, RunContext, ToolContext};
use realtime_runner::{
    Modality, OpenAIRealtimeModel, RealtimeRunner, RunConfig, SessionEvent, SessionSettings,
};
use realtime_testkit::{FakeRealtimeServer, FakeServerConfig, ToolCaller};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The caller, known to every tool through the run context.
struct Caller {
    account: String,
}

#[derive(Deserialize, JsonSchema)]
struct OrderArgs {
    /// The order number.
    order_id: u32,
}

#[derive(Serialize)]
struct OrderStatus {
    order_id: u32,
    account: String,
    status: &'static str,
}

#[derive(Deserialize, JsonSchema)]
struct Escalation {
    /// Why the caller needs billing.
    reason: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // The fake model: mentions of "order" call the tool, "invoice" hands off.
    let fake_model = ToolCaller::new()
        .tool(
            "order_status",
            ["order"],
            serde_json::json!({"order_id": 42}),
        )
        .tool(
            "transfer_to_billing",
            ["invoice"],
            serde_json::json!({"reason": "invoice question"}),
        )
        .audio(false);
    let server =
        FakeRealtimeServer::start(FakeServerConfig::default().with_responder(fake_model)).await?;

    let billing = RealtimeAgent::<Caller>::builder("Billing")
        .instructions("You handle invoices.")
        .handoff_description("Invoices and refunds.")
        .build()?;
    let order_status = FunctionTool::new(
        "order_status",
        "Where an order is.",
        |t: ToolContext<Caller>, a: OrderArgs| async move {
            Ok::<_, String>(OrderStatus {
                order_id: a.order_id,
                account: t.context().account.clone(),
                status: "shipped",
            })
        },
    )?;
    let to_billing =
        Handoff::to(&billing).with_input(|ctx: RunContext<Caller>, e: Escalation| async move {
            println!(
                "  (on_handoff: account {} escalated: {})",
                ctx.context().account,
                e.reason
            );
        });
    let triage = RealtimeAgent::builder("Triage")
        .instructions("Help with orders; send invoice questions to billing.")
        .tool(order_status)
        .handoff(to_billing)
        .build()?;

    let model = OpenAIRealtimeModel::new()
        .endpoint(server.base_url())
        .auth(realtime_transport::Auth::api_key("sk-offline"));
    let config = RunConfig::default()
        .with_settings(SessionSettings::default().with_output_modality(Modality::Text));
    let session = RealtimeRunner::builder(triage)
        .config(config)
        .model(model)
        .build()
        .run(Caller {
            account: "ACME-7".into(),
        })
        .await?;

    for message in ["Where is my order?", "I have a question about an invoice"] {
        println!("user: {message}");
        session.send_message(message).await?;
        let mut ends = 0;
        while let Some(event) = session.next_event().await {
            match event {
                SessionEvent::ToolStart {
                    tool, arguments, ..
                } => println!("  tool {tool}({arguments})"),
                SessionEvent::ToolEnd { output, .. } => println!("  -> {output}"),
                SessionEvent::Handoff { from, to, .. } => println!("  handoff {from} -> {to}"),
                SessionEvent::TextDelta { .. } => {}
                SessionEvent::AgentEnd { agent, .. } => {
                    if let Some(text) = session.history().last().and_then(|i| i.text()) {
                        println!("{agent}: {text}");
                    }
                    ends += 1;
                    if ends == 2 {
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    println!("current agent: {}", session.current_agent());
    session.close().await;
    server.shutdown().await;
    Ok(())
}
