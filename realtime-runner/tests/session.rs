//! The session loop against `realtime-testkit` on a real socket, both dialects.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{ids, start, WAIT};
use realtime_agent::{FunctionTool, RealtimeAgent, ToolContext};
use realtime_protocol::{Dialect, ItemId};
use realtime_runner::{
    AudioFormat, ContentPart, ErrorKind, HistoryItem, Modality, Role, RunConfig, SessionEvent,
    SessionSettings, TurnDetection,
};
use realtime_testkit::{
    tone_for_text, Echo, FakeServerConfig, Pacing, ResponsePart, ResponsePlan, Scripted, ToolCaller,
};
use schemars::JsonSchema;
use serde::Deserialize;
use std::time::Duration;

fn both() -> [Dialect; 2] {
    [Dialect::Ga, Dialect::Beta]
}

fn name(d: Dialect) -> &'static str {
    d.as_str()
}

fn text_config(d: Dialect) -> RunConfig {
    RunConfig::default()
        .with_dialect(d)
        .with_settings(SessionSettings::default().with_output_modality(Modality::Text))
}

fn agent() -> RealtimeAgent<()> {
    RealtimeAgent::builder("Assistant")
        .instructions("Be brief.")
        .build()
        .unwrap()
}

#[derive(Deserialize, JsonSchema)]
struct City {
    city: String,
}

fn weather_agent(delay: Duration) -> RealtimeAgent<()> {
    let tool = FunctionTool::new(
        "get_weather",
        "Current weather.",
        move |_t: ToolContext<()>, a: City| async move {
            tokio::time::sleep(delay).await;
            Ok::<_, String>(format!("Sunny in {}", a.city))
        },
    )
    .unwrap();
    RealtimeAgent::builder("Weather")
        .instructions("Use tools.")
        .tool(tool)
        .build()
        .unwrap()
}

#[tokio::test]
async fn text_turn() {
    for d in both() {
        let server = FakeServerConfig::default().with_responder(Echo::text());
        let mut h = start(server, agent(), text_config(d), ()).await;
        h.session.send_message("Hello there").await.unwrap();
        h.turns(1).await;
        let text: String = h
            .events
            .iter()
            .filter_map(|e| match e {
                SessionEvent::TextDelta { delta, .. } => Some(delta.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(text, "Hello there");
        assert_eq!(
            h.sent(),
            [
                "session.update",
                "conversation.item.create",
                "response.create"
            ]
        );
        let session = h.conn.session();
        assert_eq!(session["instructions"], "Be brief.");
        let history = h.session.history();
        assert_eq!(history.len(), 2);
        assert_eq!(history[0].role(), Some(Role::User));
        assert_eq!(history[1].text().as_deref(), Some("Hello there"));
        ids().bind(|| {
            insta::assert_json_snapshot!(format!("{}_text_turn_sent", name(d)), h.sent_redacted());
            insta::assert_json_snapshot!(format!("{}_text_turn_history", name(d)), history);
            insta::assert_json_snapshot!(
                format!("{}_text_turn_events", name(d)),
                h.kinds_collapsed()
            );
        });
        h.finish().await;
    }
}

#[tokio::test]
async fn audio_turn_carries_exactly_the_servers_pcm() {
    for d in both() {
        let server = FakeServerConfig::default()
            .with_responder(Echo::audio())
            .with_audio_chunk_bytes(960);
        let mut h = start(server, agent(), RunConfig::default().with_dialect(d), ()).await;
        h.session.send_message("Good morning").await.unwrap();
        h.turns(1).await;
        let pcm: Vec<u8> = h
            .events
            .iter()
            .filter_map(|e| match e {
                SessionEvent::Audio { pcm, .. } => Some(pcm.as_slice()),
                _ => None,
            })
            .flatten()
            .copied()
            .collect();
        assert_eq!(pcm, tone_for_text("Good morning"));
        assert!(h
            .events
            .iter()
            .any(|e| matches!(e, SessionEvent::AudioEnd { .. })));
        // The completed assistant message keeps its full transcript.
        let history = h.session.history();
        match &history[1] {
            HistoryItem::Message {
                role: Role::Assistant,
                content,
                status,
                ..
            } => {
                assert_eq!(content, &[ContentPart::audio(Some("Good morning".into()))]);
                assert_eq!(status.as_deref(), Some("completed"));
            }
            other => panic!("{other:?}"),
        }
        // The session configuration went out in one update with the SDK's defaults.
        let sent = h.sent_redacted();
        ids().bind(|| insta::assert_json_snapshot!(format!("{}_session_update", name(d)), sent[0]));
        h.finish().await;
    }
}

#[tokio::test]
async fn tool_round_trip_uses_the_call_id() {
    for d in both() {
        let responder = ToolCaller::new()
            .tool(
                "get_weather",
                ["weather"],
                serde_json::json!({"city": "Paris"}),
            )
            .audio(false);
        let server = FakeServerConfig::default().with_responder(responder);
        let mut h = start(server, weather_agent(Duration::ZERO), text_config(d), ()).await;
        h.session.send_message("What's the weather?").await.unwrap();
        h.turns(2).await;
        let start_ev = h
            .events
            .iter()
            .find(|e| matches!(e, SessionEvent::ToolStart { .. }))
            .unwrap()
            .clone();
        let SessionEvent::ToolStart {
            call_id, arguments, ..
        } = start_ev
        else {
            unreachable!()
        };
        assert_eq!(arguments, r#"{"city":"Paris"}"#);
        let end = h
            .events
            .iter()
            .find(|e| matches!(e, SessionEvent::ToolEnd { .. }))
            .unwrap();
        assert!(
            matches!(end, SessionEvent::ToolEnd { output, is_error: false, .. } if output == "Sunny in Paris")
        );
        // The output echoes the call's call_id (not its item id), then a response is asked for.
        let sent = h.conn.received();
        let pos = sent
            .iter()
            .position(|e| e.json()["item"]["type"] == "function_call_output")
            .unwrap();
        assert_eq!(sent[pos].json()["item"]["call_id"], call_id.as_str());
        assert_eq!(sent[pos + 1].event_type(), "response.create");
        let server_call = h.conn.conversation().iter().find_map(|i| match &i.kind {
            realtime_testkit::ItemKind::FunctionCall { call_id, .. } => Some(call_id.clone()),
            _ => None,
        });
        assert_eq!(server_call.as_deref(), Some(call_id.as_str()));
        let last = h.session.history().last().unwrap().text().unwrap();
        assert_eq!(last, "Here is what I found: Sunny in Paris");
        ids().bind(|| {
            insta::assert_json_snapshot!(format!("{}_tool_turn_sent", name(d)), h.sent_redacted());
            insta::assert_json_snapshot!(
                format!("{}_tool_turn_history", name(d)),
                h.session.history()
            );
        });
        h.finish().await;
    }
}

#[tokio::test]
async fn two_tools_run_in_parallel_and_one_response_follows() {
    let plan = ResponsePlan::new([
        ResponsePart::FunctionCall {
            name: "get_weather".into(),
            arguments: r#"{"city":"Paris"}"#.into(),
            call_id: Some("call_a".into()),
        },
        ResponsePart::FunctionCall {
            name: "get_weather".into(),
            arguments: r#"{"city":"Rome"}"#.into(),
            call_id: Some("call_b".into()),
        },
    ]);
    let server = FakeServerConfig::default()
        .with_responder(Scripted::new([plan, ResponsePlan::text("Both sunny.")]));
    let mut h = start(
        server,
        weather_agent(Duration::from_millis(300)),
        text_config(Dialect::Ga),
        (),
    )
    .await;
    h.session.send_message("Paris and Rome?").await.unwrap();
    h.turns(2).await;
    let kinds = h.kinds();
    let first_end = kinds.iter().position(|k| *k == "tool_end").unwrap();
    let starts_before = kinds[..first_end]
        .iter()
        .filter(|k| **k == "tool_start")
        .count();
    assert_eq!(
        starts_before, 2,
        "both tools started before either ended: {kinds:?}"
    );
    let sent = h.sent();
    assert_eq!(
        sent.iter().filter(|t| *t == "response.create").count(),
        2,
        "{sent:?}"
    );
    assert_eq!(
        &sent[sent.len() - 3..],
        [
            "conversation.item.create",
            "conversation.item.create",
            "response.create"
        ]
    );
    h.finish().await;
}

#[tokio::test]
async fn a_slow_tool_does_not_delay_audio() {
    let plan = ResponsePlan::new([
        ResponsePart::FunctionCall {
            name: "get_weather".into(),
            arguments: r#"{"city":"Oslo"}"#.into(),
            call_id: None,
        },
        ResponsePart::speech("Let me check that for you while the tool runs."),
    ]);
    let server = FakeServerConfig::default()
        .with_responder(Scripted::new([plan, ResponsePlan::speech("Done.")]));
    let mut h = start(
        server,
        weather_agent(Duration::from_secs(2)),
        RunConfig::default(),
        (),
    )
    .await;
    h.session.send_message("Oslo?").await.unwrap();
    h.turns(2).await;
    let kinds = h.kinds();
    let tool_end = kinds.iter().position(|k| *k == "tool_end").unwrap();
    let audio_before = kinds[..tool_end].iter().filter(|k| **k == "audio").count();
    assert!(
        audio_before > 10,
        "audio kept flowing while the tool ran: {audio_before}"
    );
    h.finish().await;
}

#[tokio::test]
async fn unknown_tool_gets_an_error_output_and_the_session_goes_on() {
    let plan = ResponsePlan::new([ResponsePart::FunctionCall {
        name: "launch_rocket".into(),
        arguments: "{}".into(),
        call_id: None,
    }]);
    let server = FakeServerConfig::default()
        .with_responder(Scripted::new([plan, ResponsePlan::text("Sorry.")]));
    let mut h = start(server, agent(), text_config(Dialect::Beta), ()).await;
    h.session.send_message("Launch!").await.unwrap();
    h.turns(2).await;
    assert!(h
        .events
        .iter()
        .any(|e| matches!(e, SessionEvent::Error(err) if err.kind == ErrorKind::Tool)));
    let output = h
        .conn
        .received()
        .iter()
        .find(|e| e.json()["item"]["type"] == "function_call_output")
        .unwrap()
        .json();
    assert!(output["item"]["output"]
        .as_str()
        .unwrap()
        .contains("tool `launch_rocket` not found"));
    h.finish().await;
}

#[tokio::test]
async fn tool_errors_panics_and_timeouts_become_outputs() {
    let failing = FunctionTool::new("fail", "Fails.", |_t: ToolContext<()>, _a: City| async {
        Err::<String, _>("boom")
    })
    .unwrap();
    let panicking = FunctionTool::new(
        "panic",
        "Panics.",
        |_t: ToolContext<()>, a: City| async move {
            if a.city.is_empty() {
                return Ok::<_, String>(String::new());
            }
            panic!("tool panicked on purpose")
        },
    )
    .unwrap();
    // Panics after a wait: in its own task, not at the first poll on the session's task.
    let late_panic = FunctionTool::new(
        "late_panic",
        "Panics later.",
        |_t: ToolContext<()>, a: City| async move {
            tokio::task::yield_now().await;
            if a.city.is_empty() {
                return Ok::<_, String>(String::new());
            }
            panic!("tool panicked on purpose, later")
        },
    )
    .unwrap();
    let slow = FunctionTool::new(
        "slow",
        "Never ends.",
        |_t: ToolContext<()>, _a: City| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok::<_, String>(String::new())
        },
    )
    .unwrap()
    .with_timeout(Duration::from_millis(200));
    let agent = RealtimeAgent::builder("A")
        .tool(failing)
        .tool(panicking)
        .tool(late_panic)
        .tool(slow)
        .build()
        .unwrap();
    let call = |n: &str| ResponsePart::FunctionCall {
        name: n.into(),
        arguments: r#"{"city":"x"}"#.into(),
        call_id: None,
    };
    let plan = ResponsePlan::new([
        call("fail"),
        call("panic"),
        call("late_panic"),
        call("slow"),
    ]);
    let server =
        FakeServerConfig::default().with_responder(Scripted::new([plan, ResponsePlan::text("ok")]));
    let mut h = start(server, agent, text_config(Dialect::Ga), ()).await;
    h.session.send_message("go").await.unwrap();
    h.turns(2).await;
    let outputs: Vec<String> = h
        .events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::ToolEnd {
                tool,
                output,
                is_error: true,
                ..
            } => Some(format!("{tool}: {output}")),
            _ => None,
        })
        .collect();
    assert_eq!(outputs.len(), 4, "{outputs:?}");
    assert!(outputs
        .iter()
        .any(|o| o.starts_with("fail:") && o.contains("boom")));
    assert!(outputs
        .iter()
        .any(|o| o.starts_with("panic:") && o.contains("panicked")));
    assert!(outputs
        .iter()
        .any(|o| o.starts_with("late_panic:") && o.contains("panicked")));
    assert!(outputs
        .iter()
        .any(|o| o.starts_with("slow:") && o.contains("timed out")));
    assert!(!h.session.is_closed());
    h.finish().await;
}

#[tokio::test]
async fn a_repeated_call_id_is_not_run_twice() {
    let part = || ResponsePart::FunctionCall {
        name: "get_weather".into(),
        arguments: r#"{"city":"Paris"}"#.into(),
        call_id: Some("call_same".into()),
    };
    let server = FakeServerConfig::default().with_responder(Scripted::new([
        ResponsePlan::new([part()]),
        ResponsePlan::new([part()]),
        ResponsePlan::text("done"),
    ]));
    let mut h = start(
        server,
        weather_agent(Duration::ZERO),
        text_config(Dialect::Ga),
        (),
    )
    .await;
    h.session.send_message("twice").await.unwrap();
    h.turns(2).await;
    h.session.send_message("again").await.unwrap();
    h.turns(3).await;
    assert_eq!(h.kinds().iter().filter(|k| **k == "tool_start").count(), 1);
    h.finish().await;
}

#[tokio::test]
async fn send_message_during_a_response_never_overlaps_response_create() {
    for d in both() {
        let server = FakeServerConfig::default()
            .with_responder(Echo::audio())
            .with_audio_chunk_bytes(480);
        let mut h = start(server, agent(), RunConfig::default().with_dialect(d), ()).await;
        h.session
            .send_message("first message with a long answer")
            .await
            .unwrap();
        h.until("audio", |e| matches!(e, SessionEvent::Audio { .. }))
            .await;
        h.session.send_message("second").await.unwrap();
        h.turns(2).await;
        assert!(
            !h.events.iter().any(|e| matches!(e, SessionEvent::Error(err) if err.server.as_ref().and_then(|s| s.code.as_deref()) == Some("conversation_already_has_active_response"))),
            "{:?}",
            h.kinds()
        );
        let sent = h.sent();
        assert_eq!(sent.iter().filter(|t| *t == "response.create").count(), 2);
        h.finish().await;
    }
}

async fn barge_in(
    d: Dialect,
    turn_detection: Option<TurnDetection>,
    forced: bool,
) -> (Vec<String>, u64, f64) {
    let plan = ResponsePlan::new([ResponsePart::Audio {
        pcm: vec![0u8; 48 * 3000],
        transcript: "a long answer".into(),
    }]);
    let server = FakeServerConfig::default()
        .with_pacing(Pacing::RealTime)
        .with_responder(Scripted::new([plan]));
    let mut config = RunConfig::default().with_dialect(d);
    if let Some(td) = turn_detection {
        config = config.with_settings(SessionSettings::default().with_turn_detection(Some(td)));
    }
    let mut h = start(server, agent(), config, ()).await;
    h.session.send_message("talk").await.unwrap();
    h.until("audio", |e| matches!(e, SessionEvent::Audio { .. }))
        .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    if forced {
        h.session.interrupt().await.unwrap();
    } else {
        h.conn.speech_started(1000).await;
    }
    let ev = h
        .until("audio_interrupted", |e| {
            matches!(e, SessionEvent::AudioInterrupted { .. })
        })
        .await;
    let SessionEvent::AudioInterrupted {
        audio_end_ms,
        item_id,
        ..
    } = ev
    else {
        unreachable!()
    };
    let received: usize = h
        .events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::Audio {
                pcm, item_id: i, ..
            } if *i == item_id => Some(pcm.len()),
            _ => None,
        })
        .sum();
    h.turns(1).await;
    let truncate = h
        .conn
        .wait_for("conversation.item.truncate", WAIT)
        .await
        .unwrap()
        .json();
    assert_eq!(truncate["audio_end_ms"].as_u64(), Some(audio_end_ms));
    assert_eq!(truncate["item_id"], item_id.as_str());
    let sent = h.sent();
    h.finish().await;
    (sent, audio_end_ms, received as f64 / 48.0)
}

#[tokio::test]
async fn barge_in_truncates_at_the_playback_position() {
    for d in both() {
        // Server VAD with interrupt_response on (the default): the server cancels, we truncate.
        let (sent, end, received_ms) = barge_in(d, None, false).await;
        assert!(
            end as f64 <= received_ms,
            "clamped to the audio received: {end} > {received_ms}"
        );
        assert!((300..=2000).contains(&end), "about the time played: {end}");
        assert!(!sent.contains(&"response.cancel".to_owned()), "{sent:?}");
    }
    // interrupt_response off: the client must cancel.
    let off = TurnDetection::ServerVad {
        threshold: None,
        prefix_padding_ms: None,
        silence_duration_ms: None,
        create_response: Some(true),
        interrupt_response: Some(false),
        idle_timeout_ms: None,
    };
    let (sent, ..) = barge_in(Dialect::Ga, Some(off), false).await;
    assert!(sent.contains(&"response.cancel".to_owned()), "{sent:?}");
    // interrupt() is forced: cancel even though the server would on speech.
    let (sent, ..) = barge_in(Dialect::Beta, None, true).await;
    assert!(sent.contains(&"response.cancel".to_owned()), "{sent:?}");
}

#[tokio::test]
async fn no_truncate_after_playback_finished() {
    let server = FakeServerConfig::default().with_responder(Echo::audio());
    let mut h = start(server, agent(), RunConfig::default(), ()).await;
    h.session.send_message("hi").await.unwrap();
    h.turns(1).await;
    // The app reports it played everything.
    let tracker = h.session.playback_tracker();
    let (item, bytes) = h
        .events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::Audio { item_id, pcm, .. } => Some((item_id.clone(), pcm.len())),
            _ => None,
        })
        .fold((ItemId::default(), 0), |(_, n), (i, b)| (i, n + b));
    tracker.on_play_bytes(&item, 0, bytes);
    h.conn.speech_started(5000).await;
    h.conn.speech_stopped(6000).await;
    h.turns(2).await;
    assert!(
        !h.sent().contains(&"conversation.item.truncate".to_owned()),
        "{:?}",
        h.sent()
    );
    assert!(!h.kinds().contains(&"audio_interrupted"));
    h.finish().await;
}

#[tokio::test]
async fn playback_tracker_position_is_used() {
    let plan = ResponsePlan::new([ResponsePart::Audio {
        pcm: vec![0u8; 48 * 2000],
        transcript: "long".into(),
    }]);
    let server = FakeServerConfig::default().with_responder(Scripted::new([plan]));
    let mut h = start(server, agent(), RunConfig::default(), ()).await;
    h.session.send_message("talk").await.unwrap();
    let ev = h
        .until("audio_end", |e| matches!(e, SessionEvent::AudioEnd { .. }))
        .await;
    let SessionEvent::AudioEnd { item_id, .. } = ev else {
        unreachable!()
    };
    h.session.playback_tracker().on_play_ms(&item_id, 0, 750.0);
    h.session.interrupt().await.unwrap();
    let ev = h
        .until("audio_interrupted", |e| {
            matches!(e, SessionEvent::AudioInterrupted { .. })
        })
        .await;
    assert!(
        matches!(
            ev,
            SessionEvent::AudioInterrupted {
                audio_end_ms: 750,
                ..
            }
        ),
        "{ev:?}"
    );
    h.finish().await;
}

#[tokio::test]
async fn input_transcripts_merge_into_the_user_item() {
    let server = FakeServerConfig::default()
        .with_responder(Echo::text())
        .with_input_transcript("book a table");
    let mut h = start(
        server,
        agent(),
        text_config(Dialect::Ga).with_raw_events(true),
        (),
    )
    .await;
    h.session.send_audio(&vec![0u8; 9600], false).await.unwrap();
    h.conn.speech_started(0).await;
    h.conn.speech_stopped(200).await;
    h.turns(1).await;
    assert!(
        h.events.iter().any(|e| matches!(e, SessionEvent::InputTranscriptCompleted { transcript, .. } if transcript == "book a table")),
        "{:?}",
        h.events.iter().filter_map(|e| match e { SessionEvent::Raw(r) => Some(r.event_type().to_owned()), _ => None }).collect::<Vec<_>>()
    );
    let history = h.session.history();
    assert_eq!(history[0].text().as_deref(), Some("book a table"));
    assert_eq!(history[1].text().as_deref(), Some("book a table"));
    h.finish().await;
}

#[tokio::test]
async fn close_mid_response_ends_the_stream_and_every_task() {
    let server = FakeServerConfig::default()
        .with_pacing(Pacing::RealTime)
        .with_responder(Echo::audio());
    let mut h = start(
        server,
        weather_agent(Duration::from_secs(3600)),
        RunConfig::default(),
        (),
    )
    .await;
    h.session
        .send_message("a long long answer please")
        .await
        .unwrap();
    h.until("audio", |e| matches!(e, SessionEvent::Audio { .. }))
        .await;
    let session = h.session.clone();
    tokio::time::timeout(Duration::from_secs(5), session.close())
        .await
        .expect("close hangs");
    assert!(session.is_closed());
    session.close().await; // idempotent
    let rest = h
        .until("closed", |e| matches!(e, SessionEvent::Closed))
        .await;
    assert!(matches!(rest, SessionEvent::Closed));
    assert!(
        tokio::time::timeout(WAIT, futures_util::StreamExt::next(&mut h.session))
            .await
            .unwrap()
            .is_none()
    );
    assert!(h.conn.wait_closed(WAIT).await, "the connection is closed");
    assert!(matches!(
        h.session.send_message("x").await,
        Err(realtime_runner::RunnerError::SessionClosed)
    ));
    h.server.shutdown().await;
}

#[tokio::test]
async fn a_dropped_socket_is_one_error_then_the_end() {
    let mut h = start(
        FakeServerConfig::default(),
        agent(),
        RunConfig::default(),
        (),
    )
    .await;
    h.conn.drop_socket().await;
    let ev = h
        .until("error", |e| matches!(e, SessionEvent::Error(_)))
        .await;
    assert!(matches!(ev, SessionEvent::Error(e) if e.kind == ErrorKind::Connection));
    h.until("closed", |e| matches!(e, SessionEvent::Closed))
        .await;
    assert!(
        tokio::time::timeout(WAIT, futures_util::StreamExt::next(&mut h.session))
            .await
            .unwrap()
            .is_none()
    );
    assert!(h.session.is_closed());
    h.server.shutdown().await;
}

#[tokio::test]
async fn malformed_and_unknown_frames_do_not_end_the_session() {
    let server = FakeServerConfig::default().with_responder(Echo::text());
    let mut h = start(
        server,
        agent(),
        text_config(Dialect::Ga).with_raw_events(true),
        (),
    )
    .await;
    h.conn.send_malformed().await;
    h.conn.send_unknown_event().await;
    h.until(
        "decode error",
        |e| matches!(e, SessionEvent::Error(err) if err.kind == ErrorKind::Decode),
    )
    .await;
    h.until(
        "raw unknown",
        |e| matches!(e, SessionEvent::Raw(r) if r.event_type() == "response.future_feature.delta"),
    )
    .await;
    h.session.send_message("still there?").await.unwrap();
    h.turns(1).await;
    assert_eq!(h.session.history().len(), 2);
    h.finish().await;
}

#[tokio::test]
async fn server_errors_are_events_and_the_session_goes_on() {
    let server = FakeServerConfig::default().with_responder(Echo::text());
    let mut h = start(server, agent(), text_config(Dialect::Ga), ()).await;
    h.session
        .send_raw(r#"{"type":"conversation.item.delete","item_id":"nope"}"#)
        .await
        .unwrap();
    let ev = h
        .until("error", |e| matches!(e, SessionEvent::Error(_)))
        .await;
    match ev {
        SessionEvent::Error(e) => {
            assert_eq!(e.kind, ErrorKind::Server);
            assert_eq!(e.server.unwrap().code.as_deref(), Some("item_not_found"));
        }
        _ => unreachable!(),
    }
    h.session.send_message("ok").await.unwrap();
    h.turns(1).await;
    h.finish().await;
}

#[tokio::test]
async fn usage_accumulates() {
    let server = FakeServerConfig::default().with_responder(Echo::text());
    let mut h = start(server, agent(), text_config(Dialect::Ga), ()).await;
    h.session.send_message("one").await.unwrap();
    h.turns(1).await;
    h.session.send_message("two").await.unwrap();
    h.turns(2).await;
    let u = h.session.usage();
    assert_eq!(u.requests, 2);
    assert!(u.total_tokens > 0 && u.total_tokens == u.input_tokens + u.output_tokens);
    h.finish().await;
}

#[tokio::test]
async fn misconfigured_agents_fail_before_connecting() {
    let t = || {
        FunctionTool::new("dup", "", |_t: ToolContext<()>, _a: City| async {
            Ok::<_, String>(String::new())
        })
        .unwrap()
    };
    let agent = RealtimeAgent::builder("A")
        .tool(t())
        .tool(t())
        .build()
        .unwrap();
    let server = realtime_testkit::FakeRealtimeServer::start(FakeServerConfig::default())
        .await
        .unwrap();
    let runner = realtime_runner::RealtimeRunner::builder(agent)
        .model(common::model(&server, Dialect::Ga))
        .build();
    let err = runner.run(()).await.unwrap_err();
    assert!(
        matches!(err, realtime_runner::RunnerError::Agent(_)),
        "{err:?}"
    );
    assert!(
        server
            .next_connection(Duration::from_millis(300))
            .await
            .is_none(),
        "nothing connected"
    );
    server.shutdown().await;
}

/// A phone-line session (G.711 µ-law out, 8 bytes per ms) whose app feeds the tracker in
/// bytes, 20 ms at a time, as a bridge does: the truncate lands at what was played, in both
/// dialects (counted at PCM16's 48 bytes per ms it would be 6× too early).
#[tokio::test]
async fn g711_playback_fed_in_bytes_truncates_where_it_played() {
    for dialect in [Dialect::Ga, Dialect::Beta] {
        let plan = ResponsePlan::new([ResponsePart::Audio {
            pcm: vec![0u8; 48 * 2000],
            transcript: "a long answer".into(),
        }]);
        let server = FakeServerConfig::default().with_responder(Scripted::new([plan]));
        let config = RunConfig::default()
            .with_dialect(dialect)
            .with_settings(SessionSettings::default().with_audio_format(AudioFormat::G711Ulaw));
        let mut h = start(server, agent(), config, ()).await;
        h.session.send_message("talk").await.unwrap();
        let ev = h
            .until("audio_end", |e| matches!(e, SessionEvent::AudioEnd { .. }))
            .await;
        let SessionEvent::AudioEnd { item_id, .. } = ev else {
            unreachable!()
        };
        let tracker = h.session.playback_tracker();
        for _ in 0..30 {
            tracker.on_play_bytes(&item_id, 0, 160); // 20 ms of µ-law
        }
        h.session.interrupt().await.unwrap();
        let ev = h
            .until("audio_interrupted", |e| {
                matches!(e, SessionEvent::AudioInterrupted { .. })
            })
            .await;
        let SessionEvent::AudioInterrupted { audio_end_ms, .. } = ev else {
            unreachable!()
        };
        assert_eq!(audio_end_ms, 600, "{dialect:?}");
        let truncate = h
            .conn
            .wait_for("conversation.item.truncate", WAIT)
            .await
            .expect("no truncate")
            .json();
        assert_eq!(truncate["audio_end_ms"], 600, "{dialect:?}");
        h.finish().await;
    }
}
