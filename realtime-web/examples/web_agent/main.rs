//! A voice agent in the browser: the relay serves the page; the agent, its tools and the key
//! stay on the server.
//!
//! ```sh
//! cargo run -p realtime-web --example web_agent -- --listen 127.0.0.1:0   # offline
//! OPENAI_API_KEY=sk-... cargo run -p realtime-web --example web_agent -- --listen 127.0.0.1:8080
//! ```
//!
//! Prints exactly one line on stdout when ready, `LISTENING http://HOST:PORT/`; open it, press
//! Start and talk. With no `OPENAI_API_KEY` it runs against `realtime-testkit`'s fake server,
//! whose server VAD hears the microphone and answers with spoken answers of at least 2 s (so
//! you can talk over them); with a key it talks to OpenAI.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod app;

use app::BoxError;
use std::io::Write as _;

const USAGE: &str = "usage: web_agent [--listen HOST:PORT]   (default 127.0.0.1:8080)";

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
    let router = app::app(app::model(fake.as_ref().map(|f| f.base_url())))?;
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("LISTENING http://{}/", listener.local_addr()?);
    std::io::stdout().flush()?;
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
