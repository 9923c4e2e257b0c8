//! How to test your own agent offline with `realtime-testkit`: run it with
//! `cargo test -p realtime-runner --example testing_your_agent`.
//!
//! The test starts a fake server, scripts what the model says, points the runner at it, and
//! asserts both on the session's events and on exactly what the client sent.
#![allow(clippy::print_stdout)]

use realtime_agent::{FunctionTool, RealtimeAgent, ToolContext};
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Deserialize, JsonSchema)]
struct Booking {
    /// How many people.
    guests: u32,
}

/// The agent under test.
fn restaurant_agent() -> Result<RealtimeAgent<()>, realtime_agent::AgentError> {
    let book = FunctionTool::new(
        "book_table",
        "Books a table.",
        |_t: ToolContext<()>, b: Booking| async move {
            if b.guests > 8 {
                return Err(format!("no table for {} guests", b.guests));
            }
            Ok(format!("booked for {}", b.guests))
        },
    )?;
    RealtimeAgent::builder("Host")
        .instructions("Book tables.")
        .tool(book)
        .build()
}

fn main() -> Result<(), realtime_agent::AgentError> {
    let agent = restaurant_agent()?;
    let tools = agent.tool_definitions(&realtime_agent::RunContext::default())?;
    println!(
        "{} offers {:?}",
        agent.name(),
        tools.iter().map(|t| &t.name).collect::<Vec<_>>()
    );
    println!("its test runs with: cargo test -p realtime-runner --example testing_your_agent");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use realtime_runner::{OpenAIRealtimeModel, RealtimeRunner, SessionEvent};
    use realtime_testkit::{
        FakeRealtimeServer, FakeServerConfig, ResponsePart, ResponsePlan, Scripted,
    };
    use std::time::Duration;

    #[tokio::test]
    async fn books_a_table_and_reports_failures(
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let book =
            |n: u32| ResponsePart::function_call("book_table", serde_json::json!({ "guests": n }));
        let script = Scripted::new([
            ResponsePlan::new([book(2)]),
            ResponsePlan::text("Done, table for 2."),
            ResponsePlan::new([book(12)]),
            ResponsePlan::text("Sorry, too many."),
        ]);
        let server =
            FakeRealtimeServer::start(FakeServerConfig::default().with_responder(script)).await?;
        let model = OpenAIRealtimeModel::new()
            .endpoint(server.base_url())
            .auth(realtime_transport::Auth::api_key("sk-test"));
        let session = RealtimeRunner::builder(restaurant_agent()?)
            .model(model)
            .build()
            .run(())
            .await?;
        let conn = server
            .next_connection(Duration::from_secs(5))
            .await
            .ok_or("no connection")?;

        let mut outputs = Vec::new();
        for message in ["Table for two", "Table for twelve"] {
            session.send_message(message).await?;
            let mut ends = 0;
            while ends < 2 {
                match tokio::time::timeout(Duration::from_secs(5), session.next_event())
                    .await?
                    .ok_or("ended")?
                {
                    SessionEvent::ToolEnd {
                        output, is_error, ..
                    } => outputs.push((output, is_error)),
                    SessionEvent::AgentEnd { .. } => ends += 1,
                    _ => {}
                }
            }
        }
        assert_eq!(outputs[0], ("booked for 2".to_owned(), false));
        assert!(outputs[1].1 && outputs[1].0.contains("no table for 12 guests"));
        // What went over the wire: the outputs echo the calls' ids.
        let sent: Vec<_> = conn
            .received()
            .iter()
            .filter(|e| e.json()["item"]["type"] == "function_call_output")
            .map(|e| e.json())
            .collect();
        assert_eq!(sent.len(), 2);
        session.close().await;
        server.shutdown().await;
        Ok(())
    }
}
