//! The edges of a live conversation, each on a real socket against `realtime-testkit`, in
//! both dialects where they differ: who said what around a handoff, late audio after an
//! interruption, audio still playing from a finished response, interrupting a response
//! before it exists, the history after a barge-in, a stalled application, keep-alive during
//! a stall, reconnecting with work in flight, and image input in beta.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{no_forbidden, start, start_with, Harness, WAIT};
use futures_util::StreamExt;
use realtime_agent::{FunctionTool, Handoff, RealtimeAgent, ToolContext};
use realtime_protocol::{Dialect, ItemId, ResponseId};
use realtime_runner::{
    ConnectionStatus, ContentPart, ErrorKind, HistoryItem, ReconnectPolicy, RunConfig, RunnerError,
    SessionEvent, SessionSettings, UserMessage,
};
use realtime_testkit::{tone, FakeServerConfig, Pacing, ResponsePart, ResponsePlan, Scripted};
use std::time::Duration;

fn both() -> [Dialect; 2] {
    [Dialect::Ga, Dialect::Beta]
}

fn audio_delta_type(d: Dialect) -> &'static str {
    match d {
        Dialect::Beta => "response.audio.delta",
        _ => "response.output_audio.delta",
    }
}

fn agent() -> RealtimeAgent<()> {
    RealtimeAgent::builder("Assistant")
        .instructions("Be brief.")
        .build()
        .unwrap()
}

/// Spoken output of exactly `ms` milliseconds.
fn speech(ms: u64, transcript: &str) -> ResponsePart {
    ResponsePart::Audio {
        pcm: tone(440.0, ms),
        transcript: transcript.into(),
    }
}

fn call(name: &str) -> ResponsePart {
    ResponsePart::function_call(name, serde_json::json!({}))
}

fn no_turn_detection(d: Dialect) -> RunConfig {
    RunConfig::default()
        .with_dialect(d)
        .with_settings(SessionSettings::default().with_turn_detection(None))
}

/// Sends a server `error` event as a marker and reads until it: every event the server sent
/// before it has then been handled by the session.
async fn sync(h: &mut Harness, tag: &str) {
    h.conn
        .send_event(serde_json::json!({
            "type": "error",
            "error": {"type": "invalid_request_error", "code": "marker", "message": tag}
        }))
        .await;
    h.until(
        tag,
        |e| matches!(e, SessionEvent::Error(err) if err.message.contains(tag)),
    )
    .await;
}

fn first_audio(h: &Harness) -> (ResponseId, ItemId) {
    h.events
        .iter()
        .find_map(|e| match e {
            SessionEvent::Audio {
                response_id,
                item_id,
                ..
            } => Some((response_id.clone(), item_id.clone())),
            _ => None,
        })
        .expect("no audio")
}

fn count(sent: &[String], kind: &str) -> usize {
    sent.iter().filter(|t| *t == kind).count()
}

// ----- 1. who said what -----

/// The handoff task finishes long before the response that made it ends (its speech goes
/// on in real time after the call): the response still ends as the agent that started it,
/// and its final guardrail check uses that agent's guardrails, not the new agent's.
#[tokio::test]
async fn a_handoff_response_ends_as_the_agent_that_started_it() {
    for d in both() {
        let travel = RealtimeAgent::builder("Travel")
            .instructions("Plan trips.")
            .build()
            .unwrap();
        let weather = RealtimeAgent::builder("Weather")
            .instructions("Weather.")
            .handoff(Handoff::to(&travel))
            .output_guardrail(no_forbidden())
            .build()
            .unwrap();
        let script = Scripted::new([
            ResponsePlan::new([
                call("transfer_to_travel"),
                speech(400, "Passing you on, a forbidden word."),
            ]),
            ResponsePlan::new([speech(200, "Travel here.")]),
            ResponsePlan::text("Sorry."),
        ]);
        let server = FakeServerConfig::default()
            .with_pacing(Pacing::RealTime)
            .with_responder(script);
        // Only the final check runs (the text is shorter than the debounce).
        let config = no_turn_detection(d).with_guardrail_debounce(10_000);
        let mut h = start(server, weather, config, ()).await;
        h.session
            .send_message("Weather, then travel.")
            .await
            .unwrap();
        h.until("handoff", |e| matches!(e, SessionEvent::Handoff { .. }))
            .await;
        let end = h
            .until("agent_end", |e| matches!(e, SessionEvent::AgentEnd { .. }))
            .await;
        let SessionEvent::AgentEnd {
            agent, response_id, ..
        } = end
        else {
            unreachable!()
        };
        assert_eq!(agent, "Weather", "{d:?}");
        let tripped = h
            .until("guardrail_tripped", |e| {
                matches!(e, SessionEvent::GuardrailTripped { .. })
            })
            .await;
        assert!(
            matches!(&tripped, SessionEvent::GuardrailTripped { response_id: r, .. } if *r == response_id),
            "{tripped:?}"
        );
        let starts: Vec<String> = {
            h.turns(2).await;
            h.events
                .iter()
                .filter_map(|e| match e {
                    SessionEvent::AgentStart { agent, .. } => Some(agent.clone()),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(starts[..2], ["Weather", "Travel"], "{d:?}");
        h.finish().await;
    }
}

// ----- 2. late audio of an interrupted response -----

#[tokio::test]
async fn late_audio_of_an_interrupted_response_is_dropped_and_truncated_once() {
    for d in both() {
        let server = FakeServerConfig::default()
            .with_pacing(Pacing::RealTime)
            .with_responder(Scripted::new([ResponsePlan::new([speech(
                2000,
                "A long answer that goes on.",
            )])]));
        let mut h = start(server, agent(), RunConfig::default().with_dialect(d), ()).await;
        h.session.send_message("talk").await.unwrap();
        h.until("audio", |e| matches!(e, SessionEvent::Audio { .. }))
            .await;
        let (response_id, item_id) = first_audio(&h);
        tokio::time::sleep(Duration::from_millis(200)).await;
        h.session.interrupt().await.unwrap();
        h.until("audio_interrupted", |e| {
            matches!(e, SessionEvent::AudioInterrupted { .. })
        })
        .await;
        let cut_at = h.events.len();
        // The server still sends audio of that response (frames in flight), then the user
        // barges in again.
        let b64 = realtime_protocol::audio::encode_base64(&[0u8; 960]);
        for _ in 0..3 {
            h.conn
                .send_event(serde_json::json!({
                    "type": audio_delta_type(d), "response_id": response_id, "item_id": item_id,
                    "output_index": 0, "content_index": 0, "delta": b64,
                }))
                .await;
        }
        h.conn.speech_started(3000).await;
        sync(&mut h, "after-late-audio").await;
        let late: Vec<&SessionEvent> = h.events[cut_at..]
            .iter()
            .filter(|e| {
                matches!(e, SessionEvent::Audio { response_id: r, .. } | SessionEvent::TranscriptDelta { response_id: r, .. } if *r == response_id)
            })
            .collect();
        assert!(
            late.is_empty(),
            "{d:?}: {} late events delivered",
            late.len()
        );
        let interrupted = h
            .events
            .iter()
            .filter(
                |e| matches!(e, SessionEvent::AudioInterrupted { item_id: i, .. } if *i == item_id),
            )
            .count();
        assert_eq!(interrupted, 1, "{d:?}: {:?}", h.kinds());
        assert_eq!(count(&h.sent(), "conversation.item.truncate"), 1, "{d:?}");
        h.finish().await;
    }
}

// ----- 3. audio still playing from a finished response -----

/// A fast tool call: the next response starts while the first one's 3 s of audio still
/// plays. Speech then cuts the first item where it is, and the second one before it began.
#[tokio::test]
async fn audio_still_playing_from_a_finished_response_is_interrupted() {
    for d in both() {
        let tool = FunctionTool::new(
            "lookup",
            "Looks up.",
            |_: ToolContext<()>, _: serde_json::Value| async move { Ok::<_, String>("found") },
        )
        .unwrap();
        let a = RealtimeAgent::builder("A").tool(tool).build().unwrap();
        let script = Scripted::new([
            ResponsePlan::new([speech(3000, "Let me look that up for you."), call("lookup")]),
            ResponsePlan::new([speech(1000, "Found it.")]),
        ]);
        let server = FakeServerConfig::default().with_responder(script);
        let mut h = start(server, a, RunConfig::default().with_dialect(d), ()).await;
        h.session.send_message("look it up").await.unwrap();
        h.turns(2).await;
        let (first_response, first_item) = first_audio(&h);
        tokio::time::sleep(Duration::from_millis(300)).await;
        h.conn.speech_started(500).await;
        let cut = h
            .until("audio_interrupted", |e| {
                matches!(e, SessionEvent::AudioInterrupted { .. })
            })
            .await;
        match cut {
            SessionEvent::AudioInterrupted {
                item_id,
                response_id,
                audio_end_ms,
                ..
            } => {
                assert_eq!(
                    (&item_id, &response_id),
                    (&first_item, &first_response),
                    "{d:?}"
                );
                assert!((250..3000).contains(&audio_end_ms), "{d:?}: {audio_end_ms}");
            }
            _ => unreachable!(),
        }
        // The second answer had not started playing: cut at 0.
        let second = h
            .until("audio_interrupted", |e| {
                matches!(e, SessionEvent::AudioInterrupted { .. })
            })
            .await;
        assert!(
            matches!(second, SessionEvent::AudioInterrupted { audio_end_ms: 0, ref item_id, .. } if *item_id != first_item),
            "{second:?}"
        );
        let truncate = h
            .conn
            .wait_for("conversation.item.truncate", WAIT)
            .await
            .unwrap()
            .json();
        assert_eq!(truncate["item_id"], first_item.as_str());
        h.finish().await;
    }
}

// ----- 4. interrupt() before response.created -----

#[tokio::test]
async fn interrupt_before_the_response_exists_cancels_it_and_plays_nothing() {
    for d in both() {
        let server = FakeServerConfig::default()
            .with_pacing(Pacing::RealTime)
            .with_responder(Scripted::new([ResponsePlan::new([speech(
                2000,
                "You should never hear this.",
            )])]));
        let mut h = start(server, agent(), no_turn_detection(d), ()).await;
        // The message's response.create is sent, the interrupt follows before the server
        // can answer it.
        h.session.send_message("hello").await.unwrap();
        h.session.interrupt().await.unwrap();
        let end = h
            .until("agent_end", |e| matches!(e, SessionEvent::AgentEnd { .. }))
            .await;
        assert!(
            matches!(&end, SessionEvent::AgentEnd { status, .. } if status == "cancelled"),
            "{d:?}: {end:?}"
        );
        assert!(
            !h.kinds().contains(&"audio"),
            "{d:?}: nothing of it is played: {:?}",
            h.kinds()
        );
        assert_eq!(count(&h.sent(), "response.cancel"), 1, "{d:?}");
        h.finish().await;
    }
}

#[tokio::test]
async fn interrupt_withdraws_a_response_not_requested_yet() {
    for d in both() {
        let server = FakeServerConfig::default()
            .with_pacing(Pacing::RealTime)
            .with_responder(Scripted::new([
                ResponsePlan::new([speech(2000, "A long first answer.")]),
                ResponsePlan::text("A second answer nobody asked for any more."),
            ]));
        let mut h = start(server, agent(), no_turn_detection(d), ()).await;
        h.session.send_message("first").await.unwrap();
        h.until("audio", |e| matches!(e, SessionEvent::Audio { .. }))
            .await;
        // Wanted after the active one: not sent yet.
        h.session.send_message("second").await.unwrap();
        h.session.interrupt().await.unwrap();
        h.turns(1).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        sync(&mut h, "settled").await;
        assert_eq!(
            count(&h.sent(), "response.create"),
            1,
            "{d:?}: {:?}",
            h.sent()
        );
        assert_eq!(
            h.events
                .iter()
                .filter(|e| matches!(e, SessionEvent::AgentStart { .. }))
                .count(),
            1,
            "{d:?}"
        );
        h.finish().await;
    }
}

// ----- 5. the history after a barge-in -----

fn assistant_texts(events: &[realtime_testkit::ReceivedEvent]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.event_type() == "conversation.item.create")
        .map(|e| e.json())
        .filter(|j| j["item"]["role"] == "assistant")
        .map(|j| {
            j["item"]["content"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|p| p["text"].as_str().map(str::to_owned))
                .collect::<String>()
        })
        .collect()
}

#[tokio::test]
async fn a_truncated_reply_is_recorded_and_replayed_as_heard() {
    for d in both() {
        let words = "one two three four five six seven eight";
        let server = FakeServerConfig::default().with_responder(Scripted::new([
            ResponsePlan::new([speech(2000, words)]),
            ResponsePlan::text("ok"),
        ]));
        let policy = ReconnectPolicy::new(3, Duration::from_millis(20), Duration::from_millis(50));
        let config = no_turn_detection(d).with_reconnect(Some(policy));
        let mut h = start(server, agent(), config, ()).await;
        h.session.send_message("count").await.unwrap();
        h.turns(1).await;
        let (_, item_id) = first_audio(&h);
        // The app played a quarter of the reply.
        h.session.playback_tracker().on_play_ms(&item_id, 0, 500.0);
        h.session.interrupt().await.unwrap();
        let updated = h
            .until("history_updated", |e| {
                matches!(e, SessionEvent::HistoryUpdated { item, .. } if *item.item_id() == item_id)
            })
            .await;
        let SessionEvent::HistoryUpdated { item, .. } = updated else {
            unreachable!()
        };
        let HistoryItem::Message { content, .. } = &item else {
            panic!("{item:?}")
        };
        assert_eq!(
            content[0],
            ContentPart::Audio {
                transcript: Some("one two".into()),
                truncated_at_ms: Some(500)
            },
            "{d:?}"
        );
        let history = h.session.history();
        assert!(history.contains(&item));

        // set_history replays only the heard words.
        let before = h.conn.received().len();
        h.session.set_history(history.clone()).await.unwrap();
        sync(&mut h, "replaced").await;
        assert_eq!(
            assistant_texts(&h.conn.received()[before..]),
            ["one two"],
            "{d:?}"
        );

        // So does a reconnect.
        h.conn.drop_socket().await;
        h.until("reconnected", |e| {
            matches!(
                e,
                SessionEvent::Connection {
                    status: ConnectionStatus::Connected,
                    ..
                }
            )
        })
        .await;
        let second = h.server.next_connection(WAIT).await.unwrap();
        second.wait_for("conversation.item.create", WAIT).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(assistant_texts(&second.received()), ["one two"], "{d:?}");

        // And a restore into a new session.
        let runner = realtime_runner::RealtimeRunner::builder(agent())
            .config(no_turn_detection(d))
            .model(common::model(&h.server, d))
            .build();
        let restored = runner.run_with_history((), history).await.unwrap();
        let third = h.server.next_connection(WAIT).await.unwrap();
        third.wait_for("conversation.item.create", WAIT).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(assistant_texts(&third.received()), ["one two"], "{d:?}");
        restored.close().await;
        h.finish().await;
    }
}

// ----- 6. a stalled application -----

#[tokio::test]
async fn a_stalled_application_keeps_control_and_close_returns_promptly() {
    for d in both() {
        let server = FakeServerConfig::default()
            .with_audio_chunk_bytes(960)
            .with_responder(Scripted::new([ResponsePlan::new([speech(
                20_000,
                "A very long answer.",
            )])]));
        let config = no_turn_detection(d).with_event_queue(8, Default::default());
        let mut h = start(server, agent(), config, ()).await;
        h.session.send_message("talk").await.unwrap();
        // The application stops reading: the queue fills.
        tokio::time::sleep(Duration::from_millis(500)).await;
        tokio::time::timeout(Duration::from_secs(1), h.session.interrupt())
            .await
            .expect("interrupt() waited on the stalled application")
            .unwrap();
        assert!(
            h.conn
                .wait_for("conversation.item.truncate", Duration::from_secs(2))
                .await
                .is_some(),
            "{d:?}: the interrupt took effect while nobody read: {:?}",
            h.sent()
        );
        let started = std::time::Instant::now();
        tokio::time::timeout(Duration::from_secs(1), h.session.close())
            .await
            .expect("close() waited on the stalled application");
        assert!(started.elapsed() < Duration::from_secs(1));
        // Everything not read yet is still there, then exactly one Closed.
        let mut closed = 0;
        while let Some(ev) = tokio::time::timeout(WAIT, h.session.next()).await.unwrap() {
            closed += usize::from(matches!(ev, SessionEvent::Closed));
            h.events.push(ev);
        }
        assert_eq!(closed, 1, "{d:?}");
        assert!(h.kinds().contains(&"audio_interrupted"), "{d:?}");
        h.server.shutdown().await;
    }
}

// ----- 7. keep-alive during a stall -----

#[tokio::test]
async fn an_application_stall_does_not_look_like_a_dead_server() {
    const MS: u64 = 60_000;
    let server = FakeServerConfig::default()
        .with_audio_chunk_bytes(1200)
        .with_responder(Scripted::new([ResponsePlan::new([speech(MS, "Long.")])]));
    let config = no_turn_detection(Dialect::Ga).with_event_queue(8, Default::default());
    let mut h = start_with(server, agent(), config, (), |m| {
        m.keep_alive(Some(Duration::from_secs(1)), Duration::from_secs(1))
    })
    .await;
    h.session.send_message("talk").await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    h.turns(1).await;
    let errors: Vec<&SessionEvent> = h
        .events
        .iter()
        .filter(|e| matches!(e, SessionEvent::Error(_)))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let audio: usize = h
        .events
        .iter()
        .map(|e| match e {
            SessionEvent::Audio { pcm, .. } => pcm.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(audio as u64, MS * 48, "nothing lost");
    h.finish().await;
}

// ----- 8. reconnecting with work in flight -----

fn reconnect_config(d: Dialect, backoff: Duration) -> RunConfig {
    no_turn_detection(d).with_reconnect(Some(ReconnectPolicy::new(3, backoff, backoff * 2)))
}

#[tokio::test]
async fn a_response_cut_by_a_drop_is_requested_again_on_the_new_connection() {
    for d in both() {
        let server = FakeServerConfig::default()
            .with_pacing(Pacing::RealTime)
            .with_responder(Scripted::new([
                ResponsePlan::new([speech(2000, "Cut off by the network.")]),
                ResponsePlan::new([speech(200, "Here it is again.")]),
            ]));
        let mut h = start(
            server,
            agent(),
            reconnect_config(d, Duration::from_millis(20)),
            (),
        )
        .await;
        h.session.send_message("question").await.unwrap();
        h.until("audio", |e| matches!(e, SessionEvent::Audio { .. }))
            .await;
        h.conn.drop_socket().await;
        h.until("reconnected", |e| {
            matches!(
                e,
                SessionEvent::Connection {
                    status: ConnectionStatus::Connected,
                    ..
                }
            )
        })
        .await;
        let second = h.server.next_connection(WAIT).await.unwrap();
        assert!(
            second.wait_for("response.create", WAIT).await.is_some(),
            "{d:?}: {:?}",
            second.received_types()
        );
        let end = h
            .until(
                "agent_end completed",
                |e| matches!(e, SessionEvent::AgentEnd { status, .. } if status == "completed"),
            )
            .await;
        assert!(matches!(end, SessionEvent::AgentEnd { .. }));
        h.finish().await;
    }
}

#[tokio::test]
async fn close_during_backoff_returns_at_once() {
    let mut h = start(
        FakeServerConfig::default(),
        agent(),
        reconnect_config(Dialect::Ga, Duration::from_secs(5)),
        (),
    )
    .await;
    h.conn.drop_socket().await;
    h.until("reconnecting", |e| {
        matches!(
            e,
            SessionEvent::Connection {
                status: ConnectionStatus::Reconnecting { .. },
                ..
            }
        )
    })
    .await;
    let started = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(1), h.session.close())
        .await
        .expect("close() waited for the backoff");
    assert!(started.elapsed() < Duration::from_secs(1));
    h.server.shutdown().await;
}

#[tokio::test]
async fn a_message_sent_while_reconnecting_is_delivered_after_it() {
    for d in both() {
        let server = FakeServerConfig::default()
            .with_responder(Scripted::new([ResponsePlan::text("Welcome back.")]));
        let mut h = start(
            server,
            agent(),
            reconnect_config(d, Duration::from_millis(300)),
            (),
        )
        .await;
        h.conn.drop_socket().await;
        h.until("reconnecting", |e| {
            matches!(
                e,
                SessionEvent::Connection {
                    status: ConnectionStatus::Reconnecting { .. },
                    ..
                }
            )
        })
        .await;
        let session = h.session.clone();
        let send = tokio::spawn(async move { session.send_message("while you were away").await });
        let second = h.server.next_connection(WAIT).await.unwrap();
        tokio::time::timeout(WAIT, send)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let item = second
            .wait_for("conversation.item.create", WAIT)
            .await
            .unwrap()
            .json();
        assert_eq!(
            item["item"]["content"][0]["text"], "while you were away",
            "{d:?}"
        );
        h.turns(1).await;
        h.finish().await;
    }
}

#[tokio::test]
async fn a_message_sent_while_reconnecting_fails_visibly_when_reconnecting_fails() {
    let mut h = start(
        FakeServerConfig::default(),
        agent(),
        reconnect_config(Dialect::Ga, Duration::from_millis(100)),
        (),
    )
    .await;
    let session = h.session.clone();
    let Harness { server, .. } = {
        h.conn.drop_socket().await;
        h.until("reconnecting", |e| {
            matches!(
                e,
                SessionEvent::Connection {
                    status: ConnectionStatus::Reconnecting { .. },
                    ..
                }
            )
        })
        .await;
        h
    };
    // Nobody listens any more: every attempt fails.
    server.shutdown().await;
    let result = tokio::time::timeout(WAIT, session.send_message("anyone?"))
        .await
        .unwrap();
    assert!(
        matches!(result, Err(RunnerError::ConnectionLost { .. })),
        "{result:?}"
    );
    let mut last_error = None;
    while let Some(ev) = tokio::time::timeout(WAIT, session.next_event())
        .await
        .unwrap()
    {
        if let SessionEvent::Error(e) = ev {
            last_error = Some(e.kind);
        }
    }
    assert_eq!(last_error, Some(ErrorKind::Connection));
}

// ----- 10. image input in beta -----

#[tokio::test]
async fn an_image_in_beta_is_a_typed_error_and_goes_through_in_ga() {
    for d in both() {
        let mut h = start(
            FakeServerConfig::default(),
            agent(),
            no_turn_detection(d),
            (),
        )
        .await;
        let message =
            UserMessage::text("What is this?").with_image("data:image/png;base64,AAAA", None);
        let result = h.session.send_message(message).await;
        sync(&mut h, "sent").await;
        let created: Vec<serde_json::Value> = h
            .conn
            .received()
            .iter()
            .filter(|e| e.event_type() == "conversation.item.create")
            .map(|e| e.json())
            .collect();
        match d {
            Dialect::Beta => {
                match result {
                    Err(e @ RunnerError::Unsupported { .. }) => {
                        assert!(e.to_string().contains("beta"), "{e}")
                    }
                    other => panic!("{other:?}"),
                }
                assert!(created.is_empty(), "nothing is sent: {created:?}");
            }
            _ => {
                result.unwrap();
                assert_eq!(created[0]["item"]["content"][1]["type"], "input_image");
            }
        }
        h.finish().await;
    }
}

/// A guardrail that trips on a short answer trips after its response has finished (the final
/// check): the answer's audio, still playing, is cut, and only that response's.
#[tokio::test]
async fn a_guardrail_tripping_after_its_response_ended_cuts_its_audio_still_playing() {
    for d in both() {
        let a = RealtimeAgent::builder("A")
            .output_guardrail(no_forbidden())
            .build()
            .unwrap();
        let script = Scripted::new([
            ResponsePlan::new([speech(3000, "A forbidden word.")]),
            ResponsePlan::text("Sorry."),
        ]);
        let server = FakeServerConfig::default().with_responder(script);
        // The text is shorter than the debounce: only the check at the end runs.
        let config = no_turn_detection(d).with_guardrail_debounce(10_000);
        let mut h = start(server, a, config, ()).await;
        h.session.send_message("say it").await.unwrap();
        let end = h
            .until("agent_end", |e| matches!(e, SessionEvent::AgentEnd { .. }))
            .await;
        let SessionEvent::AgentEnd {
            response_id,
            status,
            ..
        } = end
        else {
            unreachable!()
        };
        assert_eq!(status, "completed", "{d:?}: it ended before the trip");
        let (audio_response, item) = first_audio(&h);
        assert_eq!(audio_response, response_id);
        h.until("guardrail_tripped", |e| {
            matches!(e, SessionEvent::GuardrailTripped { .. })
        })
        .await;
        let cut = h
            .until("audio_interrupted", |e| {
                matches!(e, SessionEvent::AudioInterrupted { .. })
            })
            .await;
        let SessionEvent::AudioInterrupted {
            item_id,
            response_id: cut_response,
            audio_end_ms,
            ..
        } = cut
        else {
            unreachable!()
        };
        assert_eq!((&item_id, &cut_response), (&item, &response_id), "{d:?}");
        assert!(audio_end_ms < 3000, "{d:?}: {audio_end_ms}");
        let truncate = h
            .conn
            .wait_for("conversation.item.truncate", WAIT)
            .await
            .expect("no truncate")
            .json();
        assert_eq!(truncate["item_id"], item.as_str(), "{d:?}");
        h.turns(2).await;
        assert_eq!(
            h.events
                .iter()
                .filter(|e| matches!(e, SessionEvent::AudioInterrupted { .. }))
                .count(),
            1,
            "{d:?}: the apology was left alone"
        );
        h.finish().await;
    }
}
