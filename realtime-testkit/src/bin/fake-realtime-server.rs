//! `cargo run -p realtime-testkit --bin fake-realtime-server -- --port 8765`: the fake server
//! on its own, for pointing any client (another SDK, a browser page) at it.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use realtime_testkit::{
    Auth, Echo, FakeRealtimeServer, FakeServerConfig, Pacing, Replay, ReplayPacing, ToolCaller,
    Validation,
};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

const USAGE: &str = "usage: fake-realtime-server [--port N] [--host ADDR] [--responder echo|echo-text|echo-audio|tools] [--realtime] [--key KEY]... [--lenient] [--transcript TEXT] [--incoming-call URL --webhook-secret SECRET]

A local fake of the OpenAI Realtime API (GA by default; beta with the header
`OpenAI-Beta: realtime=v1`) on one port: the WebSocket at /v1/realtime and the REST
endpoints beside it.

  Validation   client events are checked like the service does (strict): unknown or
               missing parameters, wrong types, values out of range are refused with the
               service's error codes and a dotted `param`; a refused event changes nothing.
  Server VAD   with turn detection `server_vad` or `semantic_vad` (the default session has
               server_vad), speech in the appended audio (PCM16 or G.711) starts and ends
               a turn by its energy: speech_started / speech_stopped, commit, a response,
               and talking over a response cancels it. It does not recognize words: the
               committed audio gets the --transcript text.
  REST         POST /v1/realtime/client_secrets mints an ephemeral key (ek_...) that the
               WebSocket accepts until it expires; POST /v1/realtime/calls/{id}/accept,
               reject, hangup and refer control a simulated SIP call, which attaches with
               /v1/realtime?call_id={id} once accepted.

  --port N        port to listen on (default 8765; 0 picks a free one)
  --host ADDR     address to bind (default 127.0.0.1)
  --responder R   echo (default, follows the session), echo-text, echo-audio,
                  tools (calls get_weather when the user mentions the weather)
  --realtime      stream audio at playback speed instead of as fast as possible
  --key KEY       accept only this API key (repeatable; default: any non-empty key)
  --open          accept connections without an API key
  --lenient       accept any client event the SDK's types parse (extra fields ignored)
                  instead of refusing what the service refuses
  --transcript T  the transcript of committed user audio (default: \"Hello there.\")
  --incoming-call URL
                  once listening, simulate an incoming SIP call: POST a signed
                  realtime.call.incoming webhook to URL (http://host:port/path)
  --webhook-secret S
                  the webhook signing secret (standard webhooks; whsec_<base64> or raw;
                  default whsec_dGVzdC13ZWJob29rLXNlY3JldA==)
  --replay FILE   play a recorded session (realtime-runner's `Recording`) instead of a
                  responder: the k-th connection plays the recording's connection k, each
                  client event must match the recorded one, and the first difference ends
                  that connection; each connection's outcome is printed
  --replay-fast   with --replay: send the server's frames as fast as possible instead of at
                  the recorded pace";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut port: u16 = 8765;
    let mut host = "127.0.0.1".to_owned();
    let mut config = FakeServerConfig::default();
    let mut keys = Vec::new();
    let mut replay_file: Option<String> = None;
    let mut replay_fast = false;
    let mut incoming_call: Option<String> = None;
    let mut webhook_secret = "whsec_dGVzdC13ZWJob29rLXNlY3JldA==".to_owned();
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
            "--lenient" => {
                config.validation = Validation::Lenient;
                Ok(())
            }
            "--transcript" => value("--transcript").map(|t| config.input_transcript = t),
            "--incoming-call" => value("--incoming-call").map(|u| incoming_call = Some(u)),
            "--webhook-secret" => value("--webhook-secret").map(|s| webhook_secret = s),
            "--replay" => value("--replay").map(|f| replay_file = Some(f)),
            "--replay-fast" => {
                replay_fast = true;
                Ok(())
            }
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
    let replay = match replay_file.as_deref().map(Replay::from_file).transpose() {
        Ok(r) => r.map(|r| {
            let pacing = if replay_fast {
                ReplayPacing::Fast
            } else {
                ReplayPacing::Recorded
            };
            Arc::new(r.with_pacing(pacing))
        }),
        Err(e) => {
            eprintln!("cannot replay: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(r) = &replay {
        config = config.with_replay(r.clone());
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
    // Nothing here inspects connections once they closed: keep none, so a server left running
    // stays the same size however many sessions it served.
    let config = config.with_max_finished_connections(0);
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
        println!(
            "REST: {}/realtime/client_secrets, {}/realtime/calls/{{call_id}}/...",
            server.rest_url(),
            server.rest_url()
        );
        if let Some(url) = incoming_call {
            match server.incoming_call(&url, &webhook_secret, &[]).await {
                Ok(call) => println!(
                    "incoming call {} delivered to {url} (receiver answered {})",
                    call.call_id(),
                    call.webhook_status()
                ),
                Err(e) => eprintln!("incoming call not delivered: {e}"),
            }
        }
        if let Some(replay) = replay {
            println!("replaying {} recorded connection(s)", replay.connections());
            tokio::spawn(async move {
                for conn in 1..=replay.connections() {
                    // A day is as good as forever for a server someone runs by hand.
                    match replay
                        .outcome(conn, std::time::Duration::from_secs(86_400))
                        .await
                    {
                        Some(Ok(())) => println!("replay of connection {conn}: matched"),
                        Some(Err(e)) => println!("replay of connection {conn} failed: {e}"),
                        None => {}
                    }
                }
            });
        }
        let _ = tokio::signal::ctrl_c().await;
        server.shutdown().await;
        ExitCode::SUCCESS
    })
}
