//! In-process load benchmark against `realtime-testkit` (run by `cargo xtask bench`):
//! N concurrent sessions × T turns × K audio deltas. The fake server runs on its own thread
//! and runtime; every client session runs on the main thread, whose CPU time is measured
//! (`/proc/self/task/<tid>/schedstat`), so the figures are the client's alone.
//!
//! ```sh
//! cargo run --release -p realtime-bench --bin load_bench -- --sessions 200 --turns 5 --deltas 50
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

use realtime_agent::{FunctionTool, RealtimeAgent, ToolContext};
use realtime_bench::Scenario;
use realtime_runner::{OpenAIRealtimeModel, RealtimeRunner, RunConfig, SessionEvent};
use realtime_testkit::{
    FakeRealtimeServer, FakeServerConfig, FnResponder, ResponseContext, ResponsePart, ResponsePlan,
};
use schemars::JsonSchema;
use serde::Deserialize;
use std::time::{Duration, Instant};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Clone, Copy, Debug)]
struct Args {
    sessions: usize,
    turns: usize,
    deltas: usize,
    scenario: Scenario,
}

fn parse() -> Result<Args, BoxError> {
    let mut a = Args {
        sessions: 50,
        turns: 4,
        deltas: 50,
        scenario: Scenario::Stream,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().ok_or_else(|| format!("{k} needs a value"));
        match k.as_str() {
            "--sessions" => a.sessions = v()?.parse()?,
            "--turns" => a.turns = v()?.parse()?,
            "--deltas" => a.deltas = v()?.parse()?,
            "--scenario" => a.scenario = v()?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    Ok(a)
}

/// CPU time of the calling thread, in nanoseconds.
fn thread_cpu_ns() -> u64 {
    let tid = std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()));
    let path = match tid {
        Some(t) => format!("/proc/self/task/{t}/schedstat"),
        None => "/proc/self/schedstat".into(),
    };
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map_or(0, |p| p * 4)
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

#[derive(Deserialize, JsonSchema)]
struct City {
    city: String,
}

fn main() -> Result<(), BoxError> {
    let args = parse()?;
    // The server: its own thread and runtime.
    let deltas = args.deltas;
    let scenario = args.scenario;
    let (tx, rx) = std::sync::mpsc::channel();
    let (conns_tx, conns_rx) = std::sync::mpsc::channel();
    let n_sessions = args.sessions;
    let server_thread = std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async move {
            let responder = FnResponder(move |ctx: &ResponseContext| {
                let speech = ResponsePart::Audio {
                    pcm: vec![0u8; 960 * deltas],
                    transcript: "word ".repeat(deltas.min(50)),
                };
                match scenario {
                    Scenario::Tool if ctx.pending_tool_output().is_none() => {
                        ResponsePlan::new([ResponsePart::function_call(
                            "get_weather",
                            serde_json::json!({"city": "Paris"}),
                        )])
                    }
                    _ => ResponsePlan::new([speech]),
                }
            });
            let config = FakeServerConfig::default()
                .with_responder(responder)
                .with_audio_chunk_bytes(960)
                .with_rate_limit_events(false);
            let Ok(server) = FakeRealtimeServer::start(config).await else {
                return;
            };
            let _ = tx.send(server.base_url());
            // Hand the connections over once every session is connected, then serve on.
            while server.connections().len() < n_sessions {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let _ = conns_tx.send(server.connections());
            std::future::pending::<()>().await;
        });
    });
    let url = rx.recv()?;
    drop(server_thread); // it serves until the process exits

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let tool = FunctionTool::new("get_weather", "Weather.", |_t: ToolContext<()>, c: City| async move {
            Ok::<_, std::convert::Infallible>(format!("sunny in {}", c.city))
        })?;
        let agent = RealtimeAgent::builder("Bench").tool(tool).build()?;
        let model = OpenAIRealtimeModel::new().endpoint(url).auth(realtime_transport::Auth::api_key("sk-bench"));
        let runner = RealtimeRunner::builder(agent).config(RunConfig::default()).model(model).build();

        let rss0 = rss_kib();
        let mut sessions = Vec::new();
        for _ in 0..args.sessions {
            sessions.push(runner.run(()).await?);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let conns = std::sync::Arc::new(conns_rx.recv_timeout(Duration::from_secs(30))?);
        let rss1 = rss_kib();
        let cpu0 = thread_cpu_ns();
        let t0 = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for (i, session) in sessions.into_iter().enumerate() {
            let conns = conns.clone();
            tasks.spawn(async move {
                let (mut events, mut tool_rt, mut barge) = (0u64, Vec::new(), Vec::new());
                for _ in 0..args.turns {
                    session.send_message("Hello!").await.map_err(|e| e.to_string())?;
                    let ends_needed = if args.scenario == Scenario::Tool { 2 } else { 1 };
                    let (mut ends, mut audio, mut tool_done_at, mut interrupted_at) = (0, 0usize, None, None::<Instant>);
                    while ends < ends_needed {
                        let ev = tokio::time::timeout(Duration::from_secs(60), session.next_event())
                            .await
                            .map_err(|_| "turn timed out".to_owned())?
                            .ok_or("session ended")?;
                        events += 1;
                        match ev {
                            SessionEvent::Audio { .. } => {
                                audio += 1;
                                if args.scenario == Scenario::Interrupt && audio == args.deltas / 2 {
                                    if let Some(c) = conns.get(i) {
                                        interrupted_at = Some(Instant::now());
                                        c.speech_started(500).await;
                                    }
                                }
                            }
                            SessionEvent::AudioInterrupted { .. } => {
                                if let Some(t) = interrupted_at.take() {
                                    barge.push(t.elapsed().as_secs_f64() * 1000.0);
                                }
                            }
                            SessionEvent::AgentEnd { .. } => {
                                ends += 1;
                                if ends == 1 && args.scenario == Scenario::Tool {
                                    tool_done_at = Some(Instant::now());
                                }
                            }
                            SessionEvent::AgentStart { .. } => {
                                if let Some(t) = tool_done_at.take() {
                                    tool_rt.push(t.elapsed().as_secs_f64() * 1000.0);
                                }
                            }
                            _ => {}
                        }
                    }
                }
                session.close().await;
                Ok::<_, String>((events, tool_rt, barge))
            });
        }
        let (mut events, mut tool_rt, mut barge) = (0u64, Vec::new(), Vec::new());
        while let Some(r) = tasks.join_next().await {
            let (e, t, b) = r.map_err(|e| e.to_string())??;
            events += e;
            tool_rt.extend(t);
            barge.extend(b);
        }
        let wall = t0.elapsed().as_secs_f64();
        let cpu_us = (thread_cpu_ns() - cpu0) as f64 / 1000.0;
        let report = serde_json::json!({
            "sessions": args.sessions,
            "turns": args.turns,
            "deltas": args.deltas,
            "scenario": format!("{:?}", args.scenario).to_lowercase(),
            "session_events": events,
            "events_per_s": (events as f64 / wall).round(),
            "client_cpu_us_per_event": (cpu_us / events.max(1) as f64 * 1000.0).round() / 1000.0,
            "rss_kib_per_session": (rss1.saturating_sub(rss0) as f64 / args.sessions.max(1) as f64).round(),
            "tool_round_trip_ms_p50": percentile(&mut tool_rt, 0.5),
            "tool_round_trip_ms_p99": percentile(&mut tool_rt, 0.99),
            "barge_in_reaction_ms_p50": percentile(&mut barge, 0.5),
            "barge_in_reaction_ms_p99": percentile(&mut barge, 0.99),
            "wall_s": (wall * 1000.0).round() / 1000.0,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        Ok::<_, BoxError>(())
    })?;
    Ok(())
}
