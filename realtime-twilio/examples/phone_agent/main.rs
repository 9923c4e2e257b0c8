//! A phone agent: Twilio calls it, it answers with a voice agent.
//!
//! ```sh
//! cargo run -p realtime-twilio --example phone_agent -- --listen 127.0.0.1:0   # offline
//! OPENAI_API_KEY=sk-... cargo run -p realtime-twilio --example phone_agent -- --listen 0.0.0.0:8080
//! ```
//!
//! It serves `POST /twiml` (point a Twilio number's voice webhook at it, through a public
//! HTTPS URL such as a tunnel) and the media stream at `/media-stream`, and prints exactly one
//! line on stdout when ready: `LISTENING ws://HOST:PORT/media-stream`. Everything else (who
//! speaks, tools, handoffs, key presses, interruptions) is logged on stderr. It serves any
//! number of calls, one after another and at the same time, until Ctrl-C.
//!
//! With no `OPENAI_API_KEY` it runs against `realtime-testkit`'s fake server in-process, whose
//! server VAD hears the caller's audio and answers with spoken answers of at least 2 s, so a
//! caller can talk over them.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod app;

use app::BoxError;
use std::io::Write as _;

const USAGE: &str = "usage: phone_agent [--listen HOST:PORT]   (default 127.0.0.1:8080)";

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let mut listen = "127.0.0.1:8080".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--listen" => listen = args.next().ok_or("--listen needs HOST:PORT")?,
            "-h" | "--help" => {
                eprintln!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument `{other}`\n{USAGE}").into()),
        }
    }
    let key = std::env::var("OPENAI_API_KEY")
        .ok()
        .filter(|k| !k.is_empty());
    let fake = match key {
        Some(_) => None,
        None => {
            eprintln!("no OPENAI_API_KEY: answering with the built-in fake server");
            Some(app::fake_server().await?)
        }
    };
    let runner = app::runner(app::model(fake.as_ref().map(|f| f.base_url())))?;
    let router = app::app(runner)?;
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let addr = listener.local_addr()?;
    println!("LISTENING ws://{addr}/media-stream");
    std::io::stdout().flush()?;
    eprintln!("TwiML webhook: POST http://{addr}/twiml (expose it over HTTPS for Twilio)");
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    if let Some(f) = fake {
        f.shutdown().await;
    }
    Ok(())
}
