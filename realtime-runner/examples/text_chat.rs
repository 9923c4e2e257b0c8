//! Type at a prompt, read the agent's replies.
//!
//! ```sh
//! cargo run -p realtime-runner --example text_chat            # offline (fake server echoes)
//! OPENAI_API_KEY=sk-... cargo run -p realtime-runner --example text_chat
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

use futures_util::StreamExt;
use realtime_agent::RealtimeAgent;
use realtime_runner::{
    Modality, OpenAIRealtimeModel, RealtimeRunner, RunConfig, SessionEvent, SessionSettings,
};
use realtime_testkit::{Echo, FakeRealtimeServer, FakeServerConfig};
use std::io::{BufRead, Write};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let live = std::env::var("OPENAI_API_KEY").is_ok_and(|k| !k.trim().is_empty());
    let server = if live {
        None
    } else {
        Some(
            FakeRealtimeServer::start(FakeServerConfig::default().with_responder(Echo::text()))
                .await?,
        )
    };
    let model = match &server {
        Some(s) => OpenAIRealtimeModel::new()
            .endpoint(s.base_url())
            .auth(realtime_transport::Auth::api_key("sk-offline")),
        None => OpenAIRealtimeModel::new(),
    };
    let agent = RealtimeAgent::<()>::builder("Chat")
        .instructions("You are a helpful assistant. Answer in one sentence.")
        .build()?;
    let config = RunConfig::default().with_settings(
        SessionSettings::default()
            .with_output_modality(Modality::Text)
            .with_turn_detection(None),
    );
    let mut session = RealtimeRunner::builder(agent)
        .config(config)
        .model(model)
        .build()
        .run(())
        .await?;
    println!(
        "{} (empty line or Ctrl-D to quit)",
        if live {
            "Connected to OpenAI."
        } else {
            "Offline: the fake server echoes you."
        }
    );

    let stdin = std::io::stdin();
    loop {
        print!("> ");
        std::io::stdout().flush()?;
        let mut line = String::new();
        if stdin.lock().read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        session.send_message(line.trim()).await?;
        while let Some(event) = session.next().await {
            match event {
                SessionEvent::TextDelta { delta, .. }
                | SessionEvent::TranscriptDelta { delta, .. } => {
                    print!("{delta}");
                    std::io::stdout().flush()?;
                }
                SessionEvent::AgentEnd { .. } => {
                    println!();
                    break;
                }
                SessionEvent::Error(e) => eprintln!("error: {}", e.message),
                SessionEvent::Closed => return Ok(()),
                _ => {}
            }
        }
    }
    session.close().await;
    if let Some(s) = server {
        s.shutdown().await;
    }
    Ok(())
}
