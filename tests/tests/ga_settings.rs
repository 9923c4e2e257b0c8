//! The GA session settings (stored prompt, token limit, truncation, parallel tool calls,
//! logprobs, idle timeout, raw fields) on the wire in both dialects, accepted by
//! the strict fake; GA-only ones refused in beta with a typed error; the idle timeout surfaced.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use realtime_agent::RealtimeAgent;
use realtime_protocol::Dialect;
use realtime_runner::{
    MaxOutputTokens, Modality, OpenAIRealtimeModel, PromptRef, RealtimeRunner, RunConfig,
    RunnerError, SessionEvent, SessionSettings, Truncation, TurnDetection,
};
use realtime_testkit::{Echo, FakeRealtimeServer, FakeServerConfig};
use serde_json::json;
use tests::{start, E2e, WAIT};

fn agent() -> RealtimeAgent<()> {
    RealtimeAgent::builder("A").build().unwrap()
}

fn idle_vad(ms: u32) -> TurnDetection {
    match TurnDetection::server() {
        TurnDetection::ServerVad {
            threshold,
            prefix_padding_ms,
            silence_duration_ms,
            create_response,
            interrupt_response,
            ..
        } => TurnDetection::ServerVad {
            threshold,
            prefix_padding_ms,
            silence_duration_ms,
            create_response,
            interrupt_response,
            idle_timeout_ms: Some(ms),
        },
        other => other,
    }
}

/// The last `session.update` the server received, and the server's errors.
async fn last_update(h: &mut E2e) -> serde_json::Value {
    // A marker the session answers: everything sent before it has been received.
    h.session.send_message("sync").await.unwrap();
    h.until("agent_end", |e| matches!(e, SessionEvent::AgentEnd { .. }))
        .await;
    assert_eq!(
        h.count("error"),
        0,
        "the strict fake refused something: {:?}",
        h.events
    );
    h.conn
        .received()
        .iter()
        .rev()
        .map(|e| e.json())
        .find(|v| v["type"] == "session.update")
        .unwrap()
}

#[tokio::test]
async fn ga_settings_reach_the_wire_and_the_strict_fake_accepts_them() {
    let settings = SessionSettings::default()
        .with_output_modality(Modality::Text)
        .with_prompt(
            PromptRef::new("pmpt_123")
                .with_version("4")
                .with_variable("city", "Paris"),
        )
        .with_max_output_tokens(MaxOutputTokens::Limit(512))
        .with_truncation(Truncation::RetentionRatio(0.8))
        .with_parallel_tool_calls(false)
        .with_input_logprobs(true)
        .with_turn_detection(Some(idle_vad(6000)))
        .with_extra("reasoning", json!({"effort": "low"}));
    let config = RunConfig::default().with_settings(settings);
    let mut h = start(
        FakeServerConfig::default().with_responder(Echo::text()),
        agent(),
        config,
        (),
    )
    .await;
    let s = &last_update(&mut h).await["session"];
    assert_eq!(
        s["prompt"],
        json!({"id": "pmpt_123", "version": "4", "variables": {"city": "Paris"}})
    );
    assert_eq!(s["max_output_tokens"], 512);
    assert_eq!(s["truncation"]["type"], "retention_ratio");
    assert_eq!(s["truncation"]["retention_ratio"], 0.8);
    assert_eq!(s["parallel_tool_calls"], false);
    assert_eq!(
        s["include"],
        json!(["item.input_audio_transcription.logprobs"])
    );
    assert_eq!(
        s["audio"]["input"]["turn_detection"]["idle_timeout_ms"],
        6000
    );
    assert_eq!(s["reasoning"], json!({"effort": "low"}));
    // The fake's session took them.
    let session = h.conn.session();
    assert_eq!(session["max_output_tokens"], 512);
    assert_eq!(session["reasoning"]["effort"], "low");
    h.finish().await;
}

#[tokio::test]
async fn beta_maps_the_token_limit_and_refuses_ga_only_settings() {
    let config = RunConfig::default()
        .with_dialect(Dialect::Beta)
        .with_settings(
            SessionSettings::default()
                .with_output_modality(Modality::Text)
                .with_max_output_tokens(MaxOutputTokens::Infinite)
                .with_extra("temperature", 0.7),
        );
    let mut h = start(
        FakeServerConfig::default().with_responder(Echo::text()),
        agent(),
        config,
        (),
    )
    .await;
    let s = &last_update(&mut h).await["session"];
    assert_eq!(s["max_response_output_tokens"], "inf");
    assert_eq!(s["temperature"], 0.7);
    assert!(s.get("max_output_tokens").is_none());
    h.finish().await;

    let server = FakeRealtimeServer::start(FakeServerConfig::default())
        .await
        .unwrap();
    for (settings, feature) in [
        (
            SessionSettings::default().with_truncation(Truncation::Disabled),
            "truncation",
        ),
        (
            SessionSettings::default().with_prompt(PromptRef::new("pmpt_1")),
            "a stored prompt",
        ),
        (
            SessionSettings::default().with_turn_detection(Some(idle_vad(1000))),
            "turn detection idle_timeout_ms",
        ),
        (
            SessionSettings::default().with_voice("voice_1234"),
            "a custom voice",
        ),
    ] {
        let runner = RealtimeRunner::builder(agent())
            .config(
                RunConfig::default()
                    .with_dialect(Dialect::Beta)
                    .with_settings(settings),
            )
            .model(
                OpenAIRealtimeModel::new()
                    .dialect(Dialect::Beta)
                    .endpoint(server.base_url())
                    .auth(realtime_runner::transport::Auth::api_key("sk-test")),
            )
            .build();
        match tokio::time::timeout(WAIT, runner.run(())).await.unwrap() {
            Err(RunnerError::Unsupported {
                dialect,
                feature: f,
            }) => {
                assert_eq!((dialect, f.as_str()), ("beta", feature));
            }
            other => panic!("{feature}: {:?}", other.err()),
        }
    }
    server.shutdown().await;
}

#[tokio::test]
async fn the_idle_timeout_is_surfaced_and_answered() {
    let settings = SessionSettings::default()
        .with_output_modality(Modality::Text)
        .with_turn_detection(Some(idle_vad(5000)));
    let config = RunConfig::default().with_settings(settings);
    let mut h = start(
        FakeServerConfig::default().with_responder(Echo::text()),
        agent(),
        config,
        (),
    )
    .await;
    // The user says nothing: 100 ms chunks of silence (the service's minimum timeout is 5 s).
    let silence = vec![0u8; 4800];
    for _ in 0..55 {
        h.session.send_audio(&silence, false).await.unwrap();
    }
    let timeout = h
        .until("input_audio_timeout", |e| {
            matches!(e, SessionEvent::InputAudioTimeout { .. })
        })
        .await;
    let SessionEvent::InputAudioTimeout {
        audio_start_ms,
        audio_end_ms,
        ..
    } = timeout
    else {
        unreachable!()
    };
    assert_eq!(audio_start_ms, 0);
    assert!((5000..=5100).contains(&audio_end_ms), "{audio_end_ms}");
    // The server committed the silence and answered.
    h.until("agent_end", |e| matches!(e, SessionEvent::AgentEnd { .. }))
        .await;
    assert!(h.sent().iter().any(|t| t == "input_audio_buffer.append"));
    h.finish().await;
}

#[tokio::test]
async fn a_custom_voice_goes_out_as_an_object_and_its_echo_decodes() {
    let config = RunConfig::default().with_settings(
        SessionSettings::default()
            .with_voice("voice_1234")
            .with_output_modality(Modality::Text),
    );
    let mut h = start(
        FakeServerConfig::default().with_responder(Echo::text()),
        agent(),
        config,
        (),
    )
    .await;
    let s = &last_update(&mut h).await["session"];
    assert_eq!(s["audio"]["output"]["voice"], json!({"id": "voice_1234"}));
    // The server's `session.updated` echoes the object: it decodes (no decode error).
    assert_eq!(h.count("error"), 0, "{:?}", h.events);
    h.finish().await;
}
