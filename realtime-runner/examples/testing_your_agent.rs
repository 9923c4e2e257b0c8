//! How to test your own agent offline with `realtime-testkit`, two ways; run both with
//! `cargo test -p realtime-runner --example testing_your_agent`.
//!
//! 1. **Scripted**: the test starts a fake server, scripts what the model says, points the
//!    runner at it, and asserts both on the session's events and on exactly what the client
//!    sent.
//! 2. **Recorded**: record a real conversation once, commit the file, and replay it in CI:
//!    every change to the agent, its tools or the SDK is then checked against what the
//!    service really sent. Record with
//!    `cargo run -p realtime-runner --example testing_your_agent -- --record my.jsonl`
//!    (against OpenAI when `OPENAI_API_KEY` is set, else against the fake server: that is how
//!    the recording shipped beside this example was made, since none can be made live here).
//!    The replay fails at the first client event that differs from the recording, naming
//!    both and their difference.
#![allow(clippy::print_stdout)]

use realtime_agent::{FunctionTool, RealtimeAgent, ToolContext};
use realtime_runner::{
    AudioPayloads, OpenAIRealtimeModel, RealtimeRunner, RealtimeSession, Recording, SessionEvent,
};
use realtime_testkit::{
    FakeRealtimeServer, FakeServerConfig, ResponsePart, ResponsePlan, Scripted,
};
use schemars::JsonSchema;
use serde::Deserialize;
use std::time::Duration;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

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

/// What the fake model answers: it books for two, then tries twelve.
fn script() -> Scripted {
    let book =
        |n: u32| ResponsePart::function_call("book_table", serde_json::json!({ "guests": n }));
    Scripted::new([
        ResponsePlan::new([book(2)]),
        ResponsePlan::text("Done, table for 2."),
        ResponsePlan::new([book(12)]),
        ResponsePlan::text("Sorry, too many."),
    ])
}

/// The user's side: two requests, each until the tool's turn and the answer after it have
/// ended. The tool outputs, in order.
async fn converse(session: &RealtimeSession) -> Result<Vec<(String, bool)>, BoxError> {
    let mut outputs = Vec::new();
    for message in ["Table for two", "Table for twelve"] {
        session.send_message(message).await?;
        let mut ends = 0;
        while ends < 2 {
            match tokio::time::timeout(Duration::from_secs(30), session.next_event())
                .await?
                .ok_or("the session ended")?
            {
                SessionEvent::ToolEnd {
                    output, is_error, ..
                } => outputs.push((output, is_error)),
                SessionEvent::AgentEnd { .. } => ends += 1,
                _ => {}
            }
        }
    }
    Ok(outputs)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let agent = restaurant_agent()?;
    let mut args = std::env::args().skip(1);
    let Some(path) = (match args.next().as_deref() {
        Some("--record") => Some(args.next().ok_or("--record needs a file")?),
        Some(other) => return Err(format!("unknown argument `{other}`").into()),
        None => None,
    }) else {
        let tools = agent.tool_definitions(&realtime_agent::RunContext::default())?;
        println!(
            "{} offers {:?}",
            agent.name(),
            tools.iter().map(|t| &t.name).collect::<Vec<_>>()
        );
        println!("its tests run with: cargo test -p realtime-runner --example testing_your_agent");
        println!("record a conversation with: cargo run -p realtime-runner --example testing_your_agent -- --record FILE.jsonl");
        return Ok(());
    };
    let recording = Recording::new(&path).with_audio(AudioPayloads::Digest);
    let live = std::env::var("OPENAI_API_KEY").is_ok_and(|k| !k.trim().is_empty());
    let mut fake = None;
    let model = if live {
        OpenAIRealtimeModel::new().record(recording)
    } else {
        let server =
            FakeRealtimeServer::start(FakeServerConfig::default().with_responder(script())).await?;
        let model = OpenAIRealtimeModel::new()
            .endpoint(server.base_url())
            .auth(realtime_transport::Auth::api_key("sk-offline"))
            .record(recording);
        fake = Some(server);
        model
    };
    let runner = RealtimeRunner::builder(agent).model(model).build();
    let session = runner.run(()).await?;
    let outputs = converse(&session).await?;
    session.close().await;
    drop(session);
    drop(runner);
    if let Some(server) = fake {
        server.shutdown().await;
    }
    println!("tool outputs: {outputs:?}");
    println!(
        "recorded {} to {path}",
        if live {
            "a live conversation"
        } else {
            "a conversation with the fake server"
        }
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use realtime_testkit::{Replay, ReplayPacing};
    use std::sync::Arc;

    /// A session of the agent under test on `server`.
    async fn session_on(server: &FakeRealtimeServer) -> Result<RealtimeSession, BoxError> {
        let model = OpenAIRealtimeModel::new()
            .endpoint(server.base_url())
            .auth(realtime_transport::Auth::api_key("sk-test"));
        let runner = RealtimeRunner::builder(restaurant_agent()?)
            .model(model)
            .build();
        Ok(runner.run(()).await?)
    }

    #[tokio::test]
    async fn books_a_table_and_reports_failures() -> Result<(), BoxError> {
        let server =
            FakeRealtimeServer::start(FakeServerConfig::default().with_responder(script())).await?;
        let session = session_on(&server).await?;
        let conn = server
            .next_connection(Duration::from_secs(5))
            .await
            .ok_or("no connection")?;

        let outputs = converse(&session).await?;
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

    /// The recorded conversation, replayed: the same agent must send what it sent then.
    #[tokio::test]
    async fn replays_the_recorded_conversation() -> Result<(), BoxError> {
        let replay = Replay::parse(include_str!("recordings/testing_your_agent.jsonl"))?
            .with_pacing(ReplayPacing::Fast);
        let replay = Arc::new(replay);
        let server =
            FakeRealtimeServer::start(FakeServerConfig::default().with_replay(replay.clone()))
                .await?;
        let session = session_on(&server).await?;
        let outputs = converse(&session).await?;
        assert_eq!(outputs[0], ("booked for 2".to_owned(), false));
        session.close().await;
        let outcome = replay
            .outcome(1, Duration::from_secs(5))
            .await
            .ok_or("the replay did not end")?;
        server.shutdown().await;
        outcome.map_err(|e| e.to_string().into())
    }
}
