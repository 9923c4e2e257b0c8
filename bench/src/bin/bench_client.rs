//! The load-harness client (`../shared/bench/README.md`): N concurrent sessions through the
//! public `RealtimeSession` API, T turns each, one scenario.
//!
//! ```sh
//! cargo build --release -p realtime-bench --bin bench_client
//! target/release/bench_client --url ws://127.0.0.1:PORT/v1/realtime?model=m \
//!     --sessions 10 --turns 20 --scenario stream|tool|interrupt [--protocol beta|ga] \
//!     [--runtime current|multi] [--read-buffer BYTES] [--record FILE [--record-digest]]
//! ```
//!
//! Prints `BENCH READY` once every session is connected and configured, then
//! `BENCH DONE {json}`. Beta by default (the harness's reference protocol); `--protocol ga`
//! or `PROTOCOL=ga` for GA. One thread by default (`--runtime current`, as the harness pins
//! the client to one CPU); `--runtime multi` (or `RUNTIME=multi`) runs the sessions on
//! tokio's multi-thread runtime, as servers usually do.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use realtime_agent::{FunctionTool, RealtimeAgent, ToolContext};
use realtime_bench::Scenario;
use realtime_protocol::Dialect;
use realtime_runner::{
    AudioPayloads, OpenAIRealtimeModel, RealtimeRunner, Recording, RunConfig, SessionEvent,
};
use schemars::JsonSchema;
use serde::Deserialize;
use std::io::Write;
use std::time::{Duration, Instant};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct Args {
    url: String,
    sessions: usize,
    turns: usize,
    scenario: Scenario,
    dialect: Dialect,
    turn_timeout: Duration,
    /// Record every frame to this file (to measure what recording costs).
    record: Option<String>,
    record_digest: bool,
    /// tokio's multi-thread runtime instead of one thread.
    multi_thread: bool,
    /// The connections' read buffer, when not the default.
    read_buffer: Option<usize>,
}

fn parse() -> Result<Args, BoxError> {
    let mut a = Args {
        url: String::new(),
        sessions: 1,
        turns: 1,
        scenario: Scenario::Stream,
        dialect: match std::env::var("PROTOCOL").as_deref() {
            Ok("ga") => Dialect::Ga,
            _ => Dialect::Beta,
        },
        turn_timeout: Duration::from_secs(600),
        record: None,
        record_digest: false,
        multi_thread: std::env::var("RUNTIME").as_deref() == Ok("multi"),
        read_buffer: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().ok_or_else(|| format!("{k} needs a value"));
        match k.as_str() {
            "--url" => a.url = v()?,
            "--sessions" => a.sessions = v()?.parse()?,
            "--turns" => a.turns = v()?.parse()?,
            "--scenario" => a.scenario = v()?.parse()?,
            "--protocol" => {
                a.dialect = match v()?.as_str() {
                    "ga" => Dialect::Ga,
                    "beta" => Dialect::Beta,
                    p => return Err(format!("unknown protocol {p}").into()),
                }
            }
            "--turn-timeout-s" => a.turn_timeout = Duration::from_secs_f64(v()?.parse()?),
            "--record" => a.record = Some(v()?),
            "--record-digest" => a.record_digest = true,
            "--read-buffer" => a.read_buffer = Some(v()?.parse()?),
            "--runtime" => {
                a.multi_thread = match v()?.as_str() {
                    "multi" => true,
                    "current" => false,
                    r => return Err(format!("unknown runtime {r} (current or multi)").into()),
                }
            }
            "--timeout-s" => {
                v()?;
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if a.url.is_empty() {
        return Err("--url is required".into());
    }
    Ok(a)
}

#[derive(Deserialize, JsonSchema)]
struct City {
    /// The city.
    city: String,
}

#[derive(Default, Clone, Copy)]
struct Counts {
    events: u64,
    audio_events: u64,
    audio_bytes: u64,
    errors: u64,
    turns: u64,
    tool_calls: u64,
    interrupts: u64,
}

fn main() -> Result<(), BoxError> {
    let args = parse()?;
    // One thread by default: the harness pins the client to one CPU.
    let rt = if args.multi_thread {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    };
    let result = rt.block_on(run(args));
    // The harness reads every thread's CPU time when it sees `BENCH DONE`: the runtime's
    // worker threads must still exist then (dropping the runtime ends them).
    std::thread::sleep(Duration::from_millis(300));
    drop(rt);
    result
}

async fn run(args: Args) -> Result<(), BoxError> {
    let tool = FunctionTool::new(
        "get_weather",
        "Get the current weather for a city.",
        |_t: ToolContext<()>, c: City| async move {
            Ok::<_, std::convert::Infallible>(format!(
                "The weather in {} is sunny, 21 degrees.",
                c.city
            ))
        },
    )?;
    let agent = RealtimeAgent::builder("Assistant")
        .instructions("You are a helpful assistant.")
        .tool(tool)
        .build()?;
    let mut model = OpenAIRealtimeModel::new()
        .dialect(args.dialect)
        .endpoint(args.url.clone())
        .auth(realtime_transport::Auth::api_key("sk-bench"));
    if let Some(bytes) = args.read_buffer {
        model = model.read_buffer(bytes);
    }
    if let Some(path) = &args.record {
        let audio = if args.record_digest {
            AudioPayloads::Digest
        } else {
            AudioPayloads::Keep
        };
        model = model.record(
            Recording::new(path)
                .with_audio(audio)
                .with_max_bytes(1 << 30),
        );
    }
    // The beta mock waits for the client's cancel on barge-in, as openai-agents 0.2.0 sends one.
    let config = RunConfig::default()
        .with_dialect(args.dialect)
        .with_always_cancel_on_barge_in(args.dialect == Dialect::Beta);
    let runner = RealtimeRunner::builder(agent)
        .config(config)
        .model(model)
        .build();

    let rss_start = rss_kb();
    let mut connecting = tokio::task::JoinSet::new();
    for _ in 0..args.sessions {
        let runner = runner.clone();
        connecting.spawn(async move { runner.run(()).await });
    }
    let mut sessions = Vec::new();
    let mut failed = 0usize;
    while let Some(r) = connecting.join_next().await {
        match r {
            Ok(Ok(s)) => sessions.push(s),
            Ok(Err(e)) => {
                eprintln!("session failed to start: {e}");
                failed += 1;
            }
            Err(e) => {
                eprintln!("session task failed: {e}");
                failed += 1;
            }
        }
    }
    // Let session.created / session.updated go by before the measured phase.
    tokio::time::sleep(Duration::from_millis(300 + 2 * args.sessions as u64)).await;
    // Every session is connected, configured and idle: what each one holds.
    let rss_ready = rss_kb();
    println!("BENCH READY");
    std::io::stdout().flush()?;
    let start = Instant::now();

    let mut running = tokio::task::JoinSet::new();
    for session in sessions {
        let (turns, scenario, turn_timeout) = (args.turns, args.scenario, args.turn_timeout);
        running.spawn(async move {
            let mut c = Counts::default();
            let mut ok = true;
            'turns: for _ in 0..turns {
                if session.send_message("Hello!").await.is_err() {
                    ok = false;
                    break;
                }
                let ends_needed = if scenario == Scenario::Tool { 2 } else { 1 };
                // One deadline per turn (not a timer per event: the harness asks for no work
                // beyond the SDK's own).
                let turn = async {
                    let mut ends = 0;
                    while ends < ends_needed {
                        let Some(ev) = session.next_event().await else {
                            return false;
                        };
                        c.events += 1;
                        match ev {
                            SessionEvent::Audio { pcm, .. } => {
                                c.audio_events += 1;
                                c.audio_bytes += pcm.len() as u64;
                            }
                            SessionEvent::AgentEnd { .. } => ends += 1,
                            SessionEvent::ToolEnd { .. } => c.tool_calls += 1,
                            SessionEvent::AudioInterrupted { .. } => c.interrupts += 1,
                            SessionEvent::Error(_) => c.errors += 1,
                            SessionEvent::Closed => return false,
                            _ => {}
                        }
                    }
                    true
                };
                if !matches!(tokio::time::timeout(turn_timeout, turn).await, Ok(true)) {
                    ok = false;
                    break 'turns;
                }
                c.turns += 1;
            }
            session.close().await;
            (ok, c)
        });
    }
    let mut total = Counts::default();
    while let Some(r) = running.join_next().await {
        match r {
            Ok((ok, c)) => {
                if !ok {
                    failed += 1;
                }
                total.events += c.events;
                total.audio_events += c.audio_events;
                total.audio_bytes += c.audio_bytes;
                total.errors += c.errors;
                total.turns += c.turns;
                total.tool_calls += c.tool_calls;
                total.interrupts += c.interrupts;
            }
            Err(_) => failed += 1,
        }
    }
    let wall = start.elapsed().as_secs_f64();
    let done = serde_json::json!({
        "failed_sessions": failed,
        "events": total.events,
        "audio_events": total.audio_events,
        "audio_bytes": total.audio_bytes,
        "errors": total.errors,
        "turns_done": total.turns,
        "tool_calls": total.tool_calls,
        "interrupts": total.interrupts,
        "wall_s": wall,
        "protocol": args.dialect.as_str(),
        "runtime": if args.multi_thread { "multi" } else { "current" },
        "rss_kb_start": rss_start,
        "rss_kb_ready": rss_ready,
        "idle_kb_per_session": match (rss_start, rss_ready) {
            (Some(a), Some(b)) if args.sessions > 0 => Some(b.saturating_sub(a) as f64 / args.sessions as f64),
            _ => None,
        },
    });
    println!("BENCH DONE {done}");
    std::io::stdout().flush()?;
    Ok(())
}

/// The process's resident memory in KiB (`VmRSS`), on Linux.
fn rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}
