//! A text turn with an agent on Azure OpenAI.
//!
//! ```sh
//! # Offline: the local fake server plays an Azure resource (its /openai/v1/realtime path and
//! # the api-key header).
//! cargo run -p realtime-runner --example azure
//! # Azure: the resource, key and deployment from the environment.
//! AZURE_OPENAI_ENDPOINT=https://NAME.openai.azure.com AZURE_OPENAI_API_KEY=... \
//!   AZURE_OPENAI_DEPLOYMENT=gpt-realtime cargo run -p realtime-runner --example azure
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

use realtime_agent::RealtimeAgent;
use realtime_runner::transport::{Auth, AZURE_DEPLOYMENT_VAR, AZURE_ENDPOINT_VAR, AZURE_KEY_VAR};
use realtime_runner::{
    Modality, OpenAIRealtimeModel, RealtimeRunner, RunConfig, SessionEvent, SessionSettings,
};
use realtime_testkit::{Auth as FakeAuth, Echo, FakeRealtimeServer, FakeServerConfig};
use std::time::Duration;

const OFFLINE_KEY: &str = "azure-offline-key";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    let live = set(AZURE_ENDPOINT_VAR) && set(AZURE_KEY_VAR);
    let server = if live {
        None
    } else {
        let config = FakeServerConfig::default()
            .with_auth(FakeAuth::keys([OFFLINE_KEY]))
            .with_responder(Echo::text());
        Some(FakeRealtimeServer::start(config).await?)
    };
    let model = match &server {
        // What `azure_from_env` does, with the fake's address and key given explicitly.
        Some(s) => OpenAIRealtimeModel::new()
            .azure(format!("http://{}", s.addr()), "gpt-realtime", None)
            .auth(Auth::AzureApiKey(OFFLINE_KEY.into())),
        None => {
            let deployment = if set(AZURE_DEPLOYMENT_VAR) {
                None
            } else {
                Some("gpt-realtime")
            };
            OpenAIRealtimeModel::new().azure_from_env(deployment)
        }
    };
    println!(
        "{}",
        if live {
            "Azure OpenAI, from AZURE_OPENAI_ENDPOINT and AZURE_OPENAI_API_KEY."
        } else {
            "Offline: the local fake server plays an Azure resource (set AZURE_OPENAI_ENDPOINT and AZURE_OPENAI_API_KEY for the real one)."
        }
    );
    let agent = RealtimeAgent::<()>::builder("Assistant")
        .instructions("Answer in one short sentence.")
        .build()?;
    let config = RunConfig::default().with_settings(
        SessionSettings::default()
            .with_output_modality(Modality::Text)
            .with_turn_detection(None),
    );
    let session = RealtimeRunner::builder(agent)
        .config(config)
        .model(model)
        .build()
        .run(())
        .await?;
    let question = "Say hello from Azure.";
    println!("user: {question}");
    session.send_message(question).await?;
    let mut reply = String::new();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(60), session.next_event()).await?;
        match event {
            Some(SessionEvent::TextDelta { delta, .. })
            | Some(SessionEvent::TranscriptDelta { delta, .. }) => reply.push_str(&delta),
            Some(SessionEvent::AgentEnd { .. }) => break,
            Some(SessionEvent::Error(error)) => return Err(error.message.into()),
            Some(_) => {}
            None => return Err("the session ended before the answer".into()),
        }
    }
    println!("assistant: {reply}");
    if let Some(s) = &server {
        if let Some(conn) = s.connections().first() {
            let hs = conn.handshake();
            println!(
                "(the fake saw {}?{} with the api-key header: {})",
                hs.path,
                hs.query,
                hs.header("api-key").is_some()
            );
        }
    }
    session.close().await;
    Ok(())
}
