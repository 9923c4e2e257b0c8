//! A voice agent session from a WAV file to a WAV file.
//!
//! ```sh
//! cargo run -p realtime-runner --example voice_agent                  # offline: built-in fake server
//! OPENAI_API_KEY=sk-... cargo run -p realtime-runner --example voice_agent -- --input question.wav
//! ```
//!
//! With no API key it starts `realtime-testkit`'s fake server in-process, whose scripted model
//! speaks, calls the `get_weather` tool and hands the caller off to a travel agent. With
//! `OPENAI_API_KEY` set it talks to OpenAI (`--live` refuses to start without a key; `--offline`
//! forces the fake server). It reads the user's audio from `--input` (any WAV; a short
//! speech-like test signal when none is given), writes the assistant's audio to `--output`
//! (default `realtime-rs-reply.wav` in the system's temporary directory, so a run from the
//! repository leaves nothing in the source tree; the path is printed at the end) and prints a
//! timed log of the session.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod demo;

use demo::{agents, fake_server_config, speech_like, BoxError, Credits};
use futures_util::StreamExt;
use realtime_protocol::{audio, Dialect};
use realtime_runner::{
    OpenAIRealtimeModel, RealtimeRunner, RunConfig, SessionEvent, SessionSettings,
    TranscriptionSettings,
};
use realtime_testkit::FakeRealtimeServer;
use std::time::{Duration, Instant};

const USAGE: &str = "usage: voice_agent [--input FILE.wav] [--output FILE.wav] [--live | --offline] [--dialect ga|beta]";

struct Args {
    input: Option<String>,
    output: String,
    live: bool,
    offline: bool,
    dialect: Dialect,
}

fn parse_args() -> Result<Args, BoxError> {
    let mut args = Args {
        input: None,
        output: std::env::temp_dir()
            .join("realtime-rs-reply.wav")
            .to_string_lossy()
            .into_owned(),
        live: false,
        offline: false,
        dialect: Dialect::Ga,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--input" => args.input = Some(it.next().ok_or("--input needs a file")?),
            "--output" => args.output = it.next().ok_or("--output needs a file")?,
            "--live" => args.live = true,
            "--offline" => args.offline = true,
            "--dialect" => {
                args.dialect = match it.next().as_deref() {
                    Some("ga") => Dialect::Ga,
                    Some("beta") => Dialect::Beta,
                    other => return Err(format!("--dialect ga|beta, not {other:?}").into()),
                }
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument `{other}`\n{USAGE}").into()),
        }
    }
    if args.live && args.offline {
        return Err("--live and --offline exclude each other".into());
    }
    Ok(args)
}

fn read_wav(path: &str) -> Result<Vec<i16>, BoxError> {
    // Any WAV: mixed down to mono and resampled to 24 kHz with an anti-aliasing filter.
    Ok(realtime_runner::audio::read_wav(path)?.samples)
}

fn write_wav(path: &str, pcm: &[u8]) -> Result<(), BoxError> {
    Ok(realtime_runner::audio::write_wav(
        path,
        pcm,
        audio::PCM16_SAMPLE_RATE,
    )?)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args = parse_args()?;
    let key = std::env::var("OPENAI_API_KEY")
        .ok()
        .filter(|k| !k.trim().is_empty());
    if args.live && key.is_none() {
        return Err("--live needs OPENAI_API_KEY".into());
    }
    let live = !args.offline && key.is_some();
    let started = Instant::now();
    let log = |who: &str, what: String| {
        println!(
            "[{:>6.2}s] {who:<10} {what}",
            started.elapsed().as_secs_f64()
        )
    };

    // The model: OpenAI, or the fake server in this process.
    let mut fake = None;
    let model = if live {
        log(
            "session",
            format!("connecting to OpenAI ({} dialect)", args.dialect.as_str()),
        );
        OpenAIRealtimeModel::new().dialect(args.dialect)
    } else {
        let server = FakeRealtimeServer::start(fake_server_config()).await?;
        log(
            "session",
            format!(
                "no API key: using the built-in fake server at {}",
                server.url()
            ),
        );
        let model = OpenAIRealtimeModel::new()
            .dialect(args.dialect)
            .endpoint(server.base_url())
            .auth(realtime_transport::Auth::api_key("sk-offline-demo"));
        fake = Some(server);
        model
    };

    let settings = SessionSettings::default()
        .with_turn_detection(None) // push-to-talk: the file is one turn
        .with_input_transcription(Some(TranscriptionSettings::model("gpt-4o-mini-transcribe")));
    let config = RunConfig::default()
        .with_dialect(args.dialect)
        .with_settings(settings);
    let runner = RealtimeRunner::builder(agents()?)
        .config(config)
        .model(model)
        .build();
    let mut session = runner.run(()).await?;
    log(
        "session",
        format!("connected; agent: {}", session.current_agent()),
    );

    // The user's turn.
    let samples = match &args.input {
        Some(path) => read_wav(path)?,
        None => speech_like(),
    };
    log(
        "user",
        format!(
            "speaking {:.2} s of audio{}",
            samples.len() as f64 / 24_000.0,
            if args.input.is_none() {
                " (generated)"
            } else {
                ""
            }
        ),
    );
    let pcm = audio::samples_to_pcm16(&samples);
    let chunks: Vec<&[u8]> = pcm.chunks(4_800).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        session.send_audio(chunk, i + 1 == chunks.len()).await?;
    }
    session.request_response().await?;

    // The conversation, until the agents are done.
    let mut reply = Vec::new();
    let mut credits = Credits::default();
    let mut tools_running = 0usize;
    let (idle, deadline) = if live {
        (Duration::from_secs(4), Duration::from_secs(90))
    } else {
        (Duration::from_millis(500), Duration::from_secs(30))
    };
    let mut quiet_since: Option<Instant> = None;
    loop {
        if started.elapsed() > deadline {
            log("session", "time limit reached".into());
            break;
        }
        let wait = quiet_since.map_or(deadline, |q| idle.saturating_sub(q.elapsed()));
        let event = match tokio::time::timeout(wait, session.next()).await {
            Ok(Some(e)) => e,
            Ok(None) => break,
            Err(_) => break, // quiet after the last turn: done
        };
        if let Some((agent, said)) = credits.on_event(&event) {
            log("assistant", format!("{agent}: \"{said}\""));
        }
        match event {
            SessionEvent::AgentStart { agent, .. } => {
                quiet_since = None;
                log("assistant", format!("{agent} starts speaking"));
            }
            SessionEvent::Audio { pcm, .. } => reply.extend_from_slice(&pcm),
            SessionEvent::AgentEnd { agent, status, .. } => {
                log("assistant", format!("{agent} done ({status})"));
                if tools_running == 0 {
                    quiet_since = Some(Instant::now());
                }
            }
            SessionEvent::InputTranscriptCompleted { transcript, .. } => {
                log("user", format!("\"{transcript}\""))
            }
            SessionEvent::ToolStart {
                tool, arguments, ..
            } => {
                tools_running += 1;
                quiet_since = None;
                log("tool", format!("{tool}({arguments})"));
            }
            SessionEvent::ToolEnd { tool, output, .. } => {
                tools_running = tools_running.saturating_sub(1);
                log("tool", format!("{tool} -> {output}"));
            }
            SessionEvent::Handoff { from, to, .. } => log("handoff", format!("{from} -> {to}")),
            SessionEvent::AudioInterrupted { audio_end_ms, .. } => {
                log("interrupt", format!("playback cut at {audio_end_ms} ms"))
            }
            SessionEvent::Error(e) => log("error", e.message),
            SessionEvent::Closed => break,
            _ => {}
        }
    }
    let usage = session.usage();
    session.close().await;
    write_wav(&args.output, &reply)?;
    log(
        "session",
        format!(
            "closed; wrote {:.2} s of assistant audio to {}; {} responses, {} tokens",
            reply.len() as f64 / 48_000.0,
            args.output,
            usage.requests,
            usage.total_tokens
        ),
    );
    if let Some(server) = fake {
        server.shutdown().await;
    }
    Ok(())
}
