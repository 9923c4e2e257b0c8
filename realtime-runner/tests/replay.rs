//! Record a session (tools, a handoff, a barge-in) against the fake server, then replay the
//! recording against the same agent (it passes), a changed agent (it fails with a readable
//! difference) and a cut or corrupted recording (a clear error), in both dialects.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::WAIT;
use realtime_agent::{FunctionTool, Handoff, RealtimeAgent, ToolContext};
use realtime_protocol::Dialect;
use realtime_runner::{
    AudioPayloads, OpenAIRealtimeModel, RealtimeRunner, RealtimeSession, Recording, RunConfig,
    SessionEvent,
};
use realtime_testkit::{
    tone, Auth, FakeRealtimeServer, FakeServerConfig, Replay, ReplayError, ResponsePart,
    ResponsePlan, Scripted,
};
use schemars::JsonSchema;
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

const KEY: &str = "sk-proj-RECORDINGSECRET0123456789";

#[derive(Deserialize, JsonSchema)]
struct City {
    city: String,
}

fn agent(weather: &'static str) -> RealtimeAgent<()> {
    let travel = RealtimeAgent::builder("Travel")
        .instructions("Plan trips.")
        .build()
        .unwrap();
    let tool = FunctionTool::new(
        "get_weather",
        "Current weather.",
        move |_: ToolContext<()>, c: City| async move {
            Ok::<_, String>(format!("{weather} in {}", c.city))
        },
    )
    .unwrap();
    RealtimeAgent::builder("Weather")
        .instructions("Use tools.")
        .tool(tool)
        .handoff(Handoff::to(&travel))
        .build()
        .unwrap()
}

fn script() -> Scripted {
    Scripted::new([
        ResponsePlan::new([
            ResponsePart::speech("Let me check."),
            ResponsePart::function_call("get_weather", serde_json::json!({"city": "Paris"})),
        ]),
        ResponsePlan::new([ResponsePart::Audio {
            pcm: tone(440.0, 1500),
            transcript: "It is sunny in Paris, and there is much more to say about it.".into(),
        }]),
        ResponsePlan::new([ResponsePart::function_call(
            "transfer_to_travel",
            serde_json::json!({}),
        )]),
        ResponsePlan::text("Travel here. Where to?"),
    ])
}

fn file(name: &str, d: Dialect) -> PathBuf {
    std::env::temp_dir().join(format!(
        "realtime-rs-{}-{name}-{}.jsonl",
        std::process::id(),
        d.as_str()
    ))
}

async fn next(session: &RealtimeSession, what: &str, pred: impl Fn(&SessionEvent) -> bool) {
    let mut seen = Vec::new();
    loop {
        let ev = tokio::time::timeout(WAIT, session.next_event())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}; saw {seen:?}"))
            .unwrap_or_else(|| panic!("the session ended waiting for {what}"));
        if pred(&ev) {
            return;
        }
        seen.push(ev.kind());
    }
}

/// The user's side of the conversation, the same when recording and replaying: ask, hear
/// the tool's answer, talk over it (injected by `barge_in` when recording; in the recording
/// when replaying), then ask for the travel agent.
async fn converse(session: &RealtimeSession, barge_in: impl std::future::Future<Output = ()>) {
    session.send_message("Weather in Paris?").await.unwrap();
    next(session, "tool end", |e| {
        matches!(e, SessionEvent::ToolEnd { .. })
    })
    .await;
    next(session, "the answer's audio", |e| {
        matches!(e, SessionEvent::Audio { .. })
    })
    .await;
    // The answer arrives at once; it still plays when the user talks over it.
    next(session, "the answer's end", |e| {
        matches!(e, SessionEvent::AgentEnd { .. })
    })
    .await;
    barge_in.await;
    next(session, "the barge-in", |e| {
        matches!(e, SessionEvent::AudioInterrupted { .. })
    })
    .await;
    session.send_message("Book me a trip.").await.unwrap();
    next(session, "the handoff", |e| {
        matches!(e, SessionEvent::Handoff { .. })
    })
    .await;
    next(
        session,
        "the travel agent's answer",
        |e| matches!(e, SessionEvent::AgentEnd { agent, .. } if agent == "Travel"),
    )
    .await;
}

async fn record(d: Dialect, path: &PathBuf, audio: AudioPayloads) {
    let server = FakeRealtimeServer::start(
        FakeServerConfig::default()
            .with_auth(Auth::Open)
            .with_responder(script()),
    )
    .await
    .unwrap();
    let model = common::model(&server, d)
        .auth(realtime_transport::Auth::api_key(KEY))
        .record(Recording::new(path).with_audio(audio));
    let runner = RealtimeRunner::builder(agent("Sunny"))
        .config(RunConfig::default().with_dialect(d))
        .model(model)
        .build();
    let session = runner.run(()).await.unwrap();
    let conn = server.next_connection(WAIT).await.unwrap();
    converse(&session, async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        conn.speech_started(3000).await;
    })
    .await;
    session.close().await;
    drop(runner);
    server.shutdown().await;
    // The writer thread finishes the file once every connection is gone.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.lines().any(|l| l.contains(r#""end":true"#)) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the recording was not finished"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Replays `replay` to a session of `agent`; the replay's outcome and what the session saw.
async fn replay(
    d: Dialect,
    replay: Arc<Replay>,
    agent: RealtimeAgent<()>,
    expect_success: bool,
) -> Result<(), ReplayError> {
    let server = FakeRealtimeServer::start(
        FakeServerConfig::default()
            .with_auth(Auth::Open)
            .with_replay(replay.clone()),
    )
    .await
    .unwrap();
    let runner = RealtimeRunner::builder(agent)
        .config(RunConfig::default().with_dialect(d))
        .model(
            OpenAIRealtimeModel::new()
                .dialect(d)
                .endpoint(server.base_url())
                .auth(realtime_transport::Auth::None),
        )
        .build();
    let session = runner.run(()).await.unwrap();
    if expect_success {
        converse(&session, async {}).await;
    } else {
        // The replay ends the connection at the first difference; read until then.
        let _ = session.send_message("Weather in Paris?").await;
        while let Ok(Some(ev)) = tokio::time::timeout(WAIT, session.next_event()).await {
            if matches!(ev, SessionEvent::Closed) {
                break;
            }
        }
    }
    session.close().await;
    let outcome = replay
        .outcome(1, WAIT)
        .await
        .expect("the replay did not end");
    server.shutdown().await;
    outcome
}

#[tokio::test]
async fn a_recorded_session_replays_and_catches_a_changed_agent() {
    for d in [Dialect::Ga, Dialect::Beta] {
        let path = file("session", d);
        record(d, &path, AudioPayloads::Keep).await;
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(&format!(
            r#"{{"realtime_recording":1,"dialect":"{}"}}"#,
            d.as_str()
        )));
        assert!(
            !text.contains("RECORDINGSECRET"),
            "{d:?}: the key is never recorded"
        );
        for kind in [
            "\"function_call_output\"",
            "conversation.item.truncate",
            "transfer_to_travel",
            "input_audio_buffer.speech_started",
        ] {
            assert!(text.contains(kind), "{d:?}: the recording has {kind}");
        }

        // The same agent: every client event matches.
        let same = Arc::new(Replay::from_file(&path).unwrap());
        let outcome = replay(d, same, agent("Sunny"), true).await;
        assert_eq!(outcome, Ok(()), "{d:?}");

        // A changed tool: the first difference, readable.
        let changed = Arc::new(Replay::from_file(&path).unwrap());
        match replay(d, changed, agent("Rainy"), false).await {
            Err(e @ ReplayError::Diverged { .. }) => {
                let text = e.to_string();
                assert!(
                    text.contains(r#"/item/output: "Sunny in Paris" != "Rainy in Paris""#),
                    "{d:?}: {text}"
                );
            }
            other => panic!("{d:?}: {other:?}"),
        }

        // A cut recording: a clear error, no hang and no panic.
        let lines: Vec<&str> = text.lines().collect();
        let cut: String = lines[..lines.len() * 2 / 3].join("\n");
        let cut_replay = Arc::new(Replay::parse(&cut).unwrap());
        match replay(d, cut_replay, agent("Sunny"), false).await {
            Err(e @ ReplayError::CutShort { .. }) => {
                assert!(e.to_string().contains("stops before its end"), "{e}");
            }
            other => panic!("{d:?}: {other:?}"),
        }
        // A corrupted one does not even load.
        let corrupted = format!("{}\n{{\"conn\":1,\"dir\":\"serv", lines[..5].join("\n"));
        let err = Replay::parse(&corrupted).unwrap_err();
        assert!(
            matches!(err, ReplayError::Load { line: 6, .. }),
            "{d:?}: {err}"
        );
        let _ = std::fs::remove_file(&path);
    }
}

#[tokio::test]
async fn a_digest_recording_is_small_and_replays_with_silence() {
    let d = Dialect::Ga;
    let (full, small) = (file("full", d), file("digest", d));
    record(d, &full, AudioPayloads::Keep).await;
    record(d, &small, AudioPayloads::Digest).await;
    let (full_len, small_len) = (
        std::fs::metadata(&full).unwrap().len(),
        std::fs::metadata(&small).unwrap().len(),
    );
    assert!(small_len * 3 < full_len, "{small_len} vs {full_len}");
    let text = std::fs::read_to_string(&small).unwrap();
    assert!(text.contains("\"$audio\""));
    let outcome = replay(
        d,
        Arc::new(Replay::from_file(&small).unwrap()),
        agent("Sunny"),
        true,
    )
    .await;
    assert_eq!(outcome, Ok(()));
    let _ = std::fs::remove_file(&full);
    let _ = std::fs::remove_file(&small);
}
