//! `cargo run -p realtime-testkit --bin fake-realtime-server -- --port 8765`: the fake server
//! on its own, for pointing any client (another SDK, a browser page) at it.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use realtime_testkit::{Auth, Echo, FakeRealtimeServer, FakeServerConfig, Pacing, ToolCaller};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

const USAGE: &str = "usage: fake-realtime-server [--port N] [--host ADDR] [--responder echo|echo-text|echo-audio|tools] [--realtime] [--key KEY]...

  --port N        port to listen on (default 8765; 0 picks a free one)
  --host ADDR     address to bind (default 127.0.0.1)
  --responder R   echo (default, follows the session), echo-text, echo-audio,
                  tools (calls get_weather when the user mentions the weather)
  --realtime      stream audio at playback speed instead of as fast as possible
  --key KEY       accept only this API key (repeatable; default: any non-empty key)
  --open          accept connections without an API key";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut port: u16 = 8765;
    let mut host = "127.0.0.1".to_owned();
    let mut config = FakeServerConfig::default();
    let mut keys = Vec::new();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        let step: Result<(), String> = match arg.as_str() {
            "--port" => value("--port").and_then(|v| {
                v.parse()
                    .map(|p| port = p)
                    .map_err(|e| format!("bad port: {e}"))
            }),
            "--host" => value("--host").map(|v| host = v),
            "--realtime" => {
                config.pacing = Pacing::RealTime;
                Ok(())
            }
            "--open" => {
                config.auth = Auth::Open;
                Ok(())
            }
            "--key" => value("--key").map(|k| keys.push(k)),
            "--responder" => value("--responder").and_then(|r| {
                config.responder = match r.as_str() {
                    "echo" => Arc::new(Echo::default()),
                    "echo-text" => Arc::new(Echo::text()),
                    "echo-audio" => Arc::new(Echo::audio()),
                    "tools" => Arc::new(ToolCaller::new().tool(
                        "get_weather",
                        ["weather"],
                        serde_json::json!({"city": "Paris"}),
                    )),
                    other => return Err(format!("unknown responder `{other}`")),
                };
                Ok(())
            }),
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => Err(format!("unknown argument `{other}`")),
        };
        if let Err(e) = step {
            eprintln!("{e}\n\n{USAGE}");
            return ExitCode::FAILURE;
        }
    }
    if !keys.is_empty() {
        config.auth = Auth::Keys(keys);
    }
    let addr: SocketAddr = match format!("{host}:{port}").parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bad address {host}:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let server = match FakeRealtimeServer::bind(config, addr).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("cannot listen on {addr}: {e}");
                return ExitCode::FAILURE;
            }
        };
        println!("fake Realtime server listening on {}", server.url());
        println!("beta dialect: send the header `OpenAI-Beta: realtime=v1`. Ctrl-C stops it.");
        let _ = tokio::signal::ctrl_c().await;
        server.shutdown().await;
        ExitCode::SUCCESS
    })
}
