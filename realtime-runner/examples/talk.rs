//! Talk to an agent through the computer's microphone and speakers.
//!
//! ```sh
//! cargo run -p realtime-runner --example talk --features device              # offline
//! OPENAI_API_KEY=sk-... cargo run -p realtime-runner --example talk --features device
//! # Laptop speakers, no headphones: mute the microphone while the agent talks.
//! cargo run -p realtime-runner --example talk --features device -- --half-duplex
//! ```
//!
//! Offline, the local fake server hears your voice by its energy (server VAD) and answers each
//! turn with a tone; with a key, OpenAI answers. Speak while the agent talks to interrupt it:
//! its audio stops at once and the item is truncated at what the speakers actually played.
//! `--seconds N` ends the session after N seconds (default: Ctrl-C).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use realtime_agent::RealtimeAgent;
use realtime_runner::audio::device::{DeviceAudio, DeviceOptions};
use realtime_runner::{OpenAIRealtimeModel, RealtimeRunner, SessionEvent};
use realtime_testkit::{Echo, FakeRealtimeServer, FakeServerConfig};
use std::time::Duration;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let mut half_duplex = false;
    let mut seconds: Option<u64> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--half-duplex" => half_duplex = true,
            "--seconds" => seconds = Some(args.next().ok_or("--seconds needs a value")?.parse()?),
            "-h" | "--help" => {
                println!("talk [--half-duplex] [--seconds N]");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let live = std::env::var("OPENAI_API_KEY").is_ok_and(|k| !k.trim().is_empty());
    let server = if live {
        None
    } else {
        Some(
            FakeRealtimeServer::start(FakeServerConfig::default().with_responder(Echo::default()))
                .await?,
        )
    };
    let model = match &server {
        Some(s) => OpenAIRealtimeModel::new()
            .endpoint(s.base_url())
            .auth(realtime_runner::transport::Auth::api_key("sk-offline")),
        None => OpenAIRealtimeModel::new(),
    };
    let agent = RealtimeAgent::<()>::builder("Assistant")
        .instructions("You are a friendly voice assistant. Keep answers short.")
        .build()?;
    let session = RealtimeRunner::builder(agent)
        .model(model)
        .build()
        .run(())
        .await?;

    let options = DeviceOptions::default().with_half_duplex(half_duplex);
    let (device, mut mic) = DeviceAudio::open(session.playback_tracker(), options)?;
    let (input, output) = device.names();
    println!(
        "{}; microphone: {input}; speakers: {output}{}. Speak; Ctrl-C ends.",
        if live {
            "OpenAI"
        } else {
            "offline (the fake server answers with a tone)"
        },
        if half_duplex { "; half-duplex" } else { "" },
    );

    // Microphone → session, 20 ms at a time.
    let sender = session.clone();
    let mic_task = tokio::spawn(async move {
        while let Some(chunk) = mic.recv().await {
            if sender.send_audio(&chunk, false).await.is_err() {
                break;
            }
        }
    });

    let playback = device.playback().clone();
    let deadline = seconds.map(|s| tokio::time::Instant::now() + Duration::from_secs(s));
    let stop = async {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    };
    tokio::pin!(stop);
    loop {
        let event = tokio::select! {
            _ = &mut stop => break,
            e = session.next_event() => e,
        };
        let Some(event) = event else { break };
        match event {
            SessionEvent::Audio {
                pcm,
                item_id,
                content_index,
                ..
            } => playback.push(&item_id, content_index, &pcm),
            SessionEvent::AudioEnd {
                item_id,
                content_index,
                ..
            } => playback.end_item(&item_id, content_index),
            SessionEvent::AudioInterrupted { audio_end_ms, .. } => {
                playback.interrupt();
                println!("[interrupted after {audio_end_ms} ms heard]");
            }
            SessionEvent::InputTranscriptCompleted { transcript, .. } => {
                println!("you: {transcript}");
            }
            SessionEvent::HistoryUpdated { .. } | SessionEvent::HistoryAdded { .. } => {}
            SessionEvent::AgentEnd { agent, .. } => {
                println!("[{agent} finished its turn]");
            }
            SessionEvent::Error(e) => eprintln!("error: {}", e.message),
            _ => {}
        }
    }
    let stats = playback.stats();
    println!(
        "played {:.1} s, {} underruns, {} microphone chunks dropped",
        stats.played_ms / 1000.0,
        stats.underruns,
        device.dropped_chunks()
    );
    drop(device);
    mic_task.abort();
    session.close().await;
    Ok(())
}
