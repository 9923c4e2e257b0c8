//! Barge-in: the user talks over the assistant; the session truncates the assistant's item at
//! what the (simulated) speaker actually played, fed through a `PlaybackTracker`.
//!
//! ```sh
//! cargo run -p realtime-runner --example barge_in
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

use realtime_agent::RealtimeAgent;
use realtime_runner::{OpenAIRealtimeModel, RealtimeRunner, RunConfig, SessionEvent};
use realtime_testkit::{FakeRealtimeServer, FakeServerConfig, Pacing, ResponsePlan, Scripted};
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let long = "Once upon a time there was a very long story that went on and on about many things, far longer than anyone wanted to hear.";
    let server = FakeRealtimeServer::start(
        FakeServerConfig::default()
            .with_pacing(Pacing::RealTime)
            .with_responder(Scripted::new([
                ResponsePlan::speech(long),
                ResponsePlan::speech("Sure, go ahead."),
            ])),
    )
    .await?;
    let model = OpenAIRealtimeModel::new()
        .endpoint(server.base_url())
        .auth(realtime_transport::Auth::api_key("sk-offline"));
    let agent = RealtimeAgent::<()>::builder("Storyteller").build()?;
    let session = RealtimeRunner::builder(agent)
        .config(RunConfig::default())
        .model(model)
        .build()
        .run(())
        .await?;
    let conn = server
        .next_connection(Duration::from_secs(5))
        .await
        .ok_or("no connection")?;
    let tracker = session.playback_tracker();

    session.send_message("Tell me a story").await?;
    let mut played_ms = 0.0;
    while let Some(event) = session.next_event().await {
        match event {
            SessionEvent::Audio {
                pcm,
                item_id,
                content_index,
                ..
            } => {
                // A real app writes `pcm` to its speaker; here playback is "instant", so report it.
                tracker.on_play_bytes(&item_id, content_index, pcm.len());
                played_ms += pcm.len() as f64 / 48.0;
                if (800.0..820.0).contains(&played_ms) {
                    println!("user starts talking after {played_ms:.0} ms of playback");
                    conn.speech_started(played_ms as u64).await; // what server VAD would send
                }
            }
            SessionEvent::AudioInterrupted { audio_end_ms, .. } => {
                println!("assistant audio cut at {audio_end_ms} ms; the item is truncated there");
                tracker.on_interrupted();
            }
            SessionEvent::AgentEnd { status, .. } => {
                println!("response ended: {status}");
                break;
            }
            _ => {}
        }
    }
    let truncate = conn
        .wait_for("conversation.item.truncate", Duration::from_secs(5))
        .await
        .ok_or("no truncate")?;
    println!("the server got: {}", truncate.raw());
    session.close().await;
    server.shutdown().await;
    Ok(())
}
