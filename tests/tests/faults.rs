//! The fault suite: every misbehaviour of the network, the server, a tool or the consumer ends
//! in a typed error or event, with the history intact; nothing panics, nothing hangs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use realtime_agent::{FunctionTool, RealtimeAgent, ToolContext};
use realtime_protocol::Dialect;
use realtime_runner::{
    ErrorKind, EventQueuePolicy, Modality, RunConfig, SessionEvent, SessionSettings,
};
use realtime_testkit::{Echo, FakeServerConfig, Fault, ResponsePart, ResponsePlan, Scripted};
use schemars::JsonSchema;
use serde::Deserialize;
use std::time::Duration;
use tests::{start, start_with, WAIT};

#[derive(Deserialize, JsonSchema)]
struct Args {}

fn text() -> RunConfig {
    RunConfig::default()
        .with_settings(SessionSettings::default().with_output_modality(Modality::Text))
}

fn plain() -> RealtimeAgent<()> {
    RealtimeAgent::builder("A").build().unwrap()
}

fn slow_tool_agent(delay: Duration) -> RealtimeAgent<()> {
    let tool = FunctionTool::new(
        "slow",
        "Slow.",
        move |_t: ToolContext<()>, _a: Args| async move {
            tokio::time::sleep(delay).await;
            Ok::<_, String>("done")
        },
    )
    .unwrap();
    RealtimeAgent::builder("A").tool(tool).build().unwrap()
}

/// The end of a session after a fault: one connection error, the connection reported gone,
/// then `Closed`, then nothing.
fn assert_died(kinds: &[&str]) {
    let n = kinds.len();
    assert!(
        n >= 3
            && kinds[n - 1] == "closed"
            && kinds[n - 2] == "connection"
            && kinds[n - 3] == "error",
        "{kinds:?}"
    );
}

#[tokio::test]
async fn socket_dropped_mid_audio() {
    for d in [Dialect::Ga, Dialect::Beta] {
        // session.created, session.updated, the user item (1 or 2 frames), then audio.
        let server = FakeServerConfig::default()
            .with_responder(Echo::audio())
            .with_audio_chunk_bytes(480)
            .with_fault(Fault::DropAfterFrames(20));
        let mut e = start(server, plain(), RunConfig::default().with_dialect(d), ()).await;
        e.session
            .send_message("a long enough message to stream many audio deltas")
            .await
            .unwrap();
        e.drain().await;
        assert_died(&e.kinds());
        assert!(e.count("audio") > 0, "{:?}", e.kinds());
        let SessionEvent::Error(err) = &e.events[e.events.len() - 3] else {
            unreachable!()
        };
        assert_eq!(err.kind, ErrorKind::Connection);
        // The history kept what arrived: the user's message and the partial answer.
        let history = e.session.history();
        assert_eq!(
            history[0].text().as_deref(),
            Some("a long enough message to stream many audio deltas")
        );
        assert!(history.len() >= 2);
        assert!(e.session.is_closed());
        e.server.shutdown().await;
    }
}

#[tokio::test]
async fn socket_dropped_mid_tool_call() {
    let plan = ResponsePlan::new([ResponsePart::function_call("slow", serde_json::json!({}))]);
    let server = FakeServerConfig::default().with_responder(Scripted::new([plan]));
    let mut e = start(server, slow_tool_agent(Duration::from_secs(30)), text(), ()).await;
    e.session.send_message("go").await.unwrap();
    e.until("tool_start", |ev| {
        matches!(ev, SessionEvent::ToolStart { .. })
    })
    .await;
    e.conn.drop_socket().await;
    e.drain().await;
    assert_died(&e.kinds());
    assert!(e
        .session
        .history()
        .iter()
        .any(|i| matches!(i, realtime_runner::HistoryItem::FunctionCall { .. })));
    e.server.shutdown().await;
}

#[tokio::test]
async fn a_stalled_server_is_noticed_by_keep_alive() {
    let server = FakeServerConfig::default();
    let mut e = start_with(server, plain(), RunConfig::default(), (), |m| {
        m.keep_alive(Some(Duration::from_millis(100)), Duration::from_millis(300))
    })
    .await;
    e.conn.stop_answering_pings().await;
    e.drain().await;
    assert_died(&e.kinds());
    let SessionEvent::Error(err) = &e.events[e.events.len() - 3] else {
        unreachable!()
    };
    assert!(err.message.contains("keep-alive"), "{}", err.message);
    e.server.shutdown().await;
}

#[tokio::test]
async fn a_burst_of_malformed_json_and_unknown_events() {
    let mut e = start(
        FakeServerConfig::default().with_responder(Echo::text()),
        plain(),
        text().with_raw_events(true),
        (),
    )
    .await;
    for _ in 0..100 {
        e.conn.send_malformed().await;
    }
    for _ in 0..50 {
        e.conn.send_unknown_event().await;
    }
    e.session.send_message("still alive?").await.unwrap();
    e.turns(1).await;
    let decode_errors = e
        .events
        .iter()
        .filter(|ev| matches!(ev, SessionEvent::Error(err) if err.kind == ErrorKind::Decode))
        .count();
    assert_eq!(decode_errors, 100);
    let unknown = e.events.iter().filter(|ev| matches!(ev, SessionEvent::Raw(r) if r.event_type() == "response.future_feature.delta")).count();
    assert_eq!(unknown, 50);
    assert_eq!(
        e.session.history().last().and_then(|i| i.text()).as_deref(),
        Some("still alive?")
    );
    e.finish().await;
}

#[tokio::test]
async fn a_20_mib_frame() {
    let mut e = start(
        FakeServerConfig::default().with_responder(Echo::text()),
        plain(),
        text(),
        (),
    )
    .await;
    e.session.send_message("before").await.unwrap();
    e.turns(1).await;
    e.conn.send_oversized(20 << 20).await;
    e.drain().await;
    assert_died(&e.kinds());
    let SessionEvent::Error(err) = &e.events[e.events.len() - 3] else {
        unreachable!()
    };
    assert!(err.message.contains("exceeds the limit"), "{}", err.message);
    assert_eq!(e.session.history().len(), 2, "history intact");
    e.server.shutdown().await;

    // With a larger limit the same frame is just an unknown event.
    let mut e = start_with(
        FakeServerConfig::default(),
        plain(),
        text().with_raw_events(true),
        (),
        |m| m.max_message_size(64 << 20),
    )
    .await;
    e.conn.send_oversized(15 << 20).await;
    e.until("raw", |ev| matches!(ev, SessionEvent::Raw(_)))
        .await;
    assert!(!e.session.is_closed());
    e.finish().await;
}

#[tokio::test]
async fn a_panicking_tool_and_a_tool_that_never_returns() {
    let panics = FunctionTool::new("panics", "", |_t: ToolContext<()>, _a: Args| async {
        if std::env::var("NEVER_SET_FOR_THIS_TEST").is_ok() {
            return Ok::<_, String>(String::new());
        }
        panic!("tool bug")
    })
    .unwrap();
    let hangs = FunctionTool::new("hangs", "", |_t: ToolContext<()>, _a: Args| async {
        std::future::pending::<()>().await;
        Ok::<_, String>(String::new())
    })
    .unwrap()
    .with_timeout(Duration::from_millis(300));
    let agent = RealtimeAgent::builder("A")
        .tool(panics)
        .tool(hangs)
        .build()
        .unwrap();
    let plan = ResponsePlan::new([
        ResponsePart::function_call("panics", serde_json::json!({})),
        ResponsePart::function_call("hangs", serde_json::json!({})),
    ]);
    let server = FakeServerConfig::default()
        .with_responder(Scripted::new([plan, ResponsePlan::text("recovered")]));
    let mut e = start(server, agent, text(), ()).await;
    e.session.send_message("go").await.unwrap();
    e.turns(2).await;
    let errors: Vec<String> = e
        .events
        .iter()
        .filter_map(|ev| match ev {
            SessionEvent::Error(err) if err.kind == ErrorKind::Tool => Some(err.message.clone()),
            _ => None,
        })
        .collect();
    assert!(errors.iter().any(|m| m.contains("panicked")), "{errors:?}");
    assert!(errors.iter().any(|m| m.contains("timed out")), "{errors:?}");
    assert_eq!(
        e.session.history().last().and_then(|i| i.text()).as_deref(),
        Some("recovered")
    );
    e.finish().await;
}

#[tokio::test]
async fn a_slow_consumer_waits_and_memory_stays_bounded() {
    let plan = ResponsePlan::new([ResponsePart::Audio {
        pcm: vec![1u8; 48 * 200_000],
        transcript: "long".into(),
    }]);
    let server = FakeServerConfig::default()
        .with_responder(Scripted::new([plan]))
        .with_audio_chunk_bytes(960);
    let config = RunConfig::default().with_event_queue(8, EventQueuePolicy::Wait);
    let mut e = start(server, plain(), config, ()).await;
    e.session.send_message("talk").await.unwrap();
    e.until("audio", |ev| matches!(ev, SessionEvent::Audio { .. }))
        .await;
    // The consumer stops reading: the session, then the transport, then TCP push back, and
    // the server stops well before its 10,000 deltas (200 s of audio, 13 MB of frames).
    // Wait (bounded) until the server has stopped: no frame for 300 ms.
    let mut sent_while_stalled = e.conn.frames_sent();
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = e.conn.frames_sent();
        if now == sent_while_stalled {
            break;
        }
        sent_while_stalled = now;
    }
    assert!(
        sent_while_stalled < 9_000,
        "the server kept sending to a stalled consumer: {sent_while_stalled}"
    );
    // Nothing is lost once it reads again.
    e.turns(1).await;
    let bytes: usize = e
        .events
        .iter()
        .filter_map(|ev| match ev {
            SessionEvent::Audio { pcm, .. } => Some(pcm.len()),
            _ => None,
        })
        .sum();
    assert_eq!(bytes, 48 * 200_000);
    e.finish().await;
}

#[tokio::test]
async fn a_slow_consumer_with_drop_policy_sees_what_it_missed() {
    let plan = ResponsePlan::new([ResponsePart::Audio {
        pcm: vec![1u8; 48 * 10_000],
        transcript: "long".into(),
    }]);
    let server = FakeServerConfig::default()
        .with_responder(Scripted::new([plan]))
        .with_audio_chunk_bytes(960);
    let config = RunConfig::default().with_event_queue(8, EventQueuePolicy::DropAudioWhenFull);
    let mut e = start(server, plain(), config, ()).await;
    e.session.send_message("talk").await.unwrap();
    e.until("audio", |ev| matches!(ev, SessionEvent::Audio { .. }))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    e.turns(1).await;
    let received = e.count("audio");
    let dropped: u64 = e
        .events
        .iter()
        .filter_map(|ev| match ev {
            SessionEvent::EventsDropped { count, .. } => Some(*count),
            _ => None,
        })
        .sum();
    assert!(
        dropped > 0,
        "the consumer was slow enough to drop something"
    );
    assert_eq!(
        received as u64 + dropped,
        500,
        "every audio event is either delivered or counted"
    );
    e.finish().await;
}

#[tokio::test]
async fn close_while_tools_run() {
    let plan = ResponsePlan::new([ResponsePart::function_call("slow", serde_json::json!({}))]);
    let server = FakeServerConfig::default().with_responder(Scripted::new([plan]));
    let mut e = start(
        server,
        slow_tool_agent(Duration::from_secs(3600)),
        text(),
        (),
    )
    .await;
    e.session.send_message("go").await.unwrap();
    e.until("tool_start", |ev| {
        matches!(ev, SessionEvent::ToolStart { .. })
    })
    .await;
    tokio::time::timeout(Duration::from_secs(3), e.session.close())
        .await
        .expect("close waits for no tool");
    e.drain().await;
    assert_eq!(e.kinds().last(), Some(&"closed"));
    assert!(e.conn.wait_closed(WAIT).await);
    e.server.shutdown().await;
}

/// A binary frame (the service never sends one) is a recoverable transport error: reported,
/// and the session goes on, in both dialects.
#[tokio::test]
async fn a_binary_frame_is_reported_and_the_session_goes_on() {
    for d in [Dialect::Ga, Dialect::Beta] {
        let server = FakeServerConfig::default().with_responder(Echo::text());
        let mut e = start(server, plain(), RunConfig::default().with_dialect(d), ()).await;
        e.conn.send_binary(vec![0u8, 1, 2, 3]).await;
        let err = e
            .until("error", |ev| matches!(ev, SessionEvent::Error(_)))
            .await;
        let SessionEvent::Error(err) = err else {
            unreachable!()
        };
        assert_ne!(err.kind, ErrorKind::Connection, "{d:?}: {err:?}");
        assert!(err.message.contains("binary"), "{d:?}: {}", err.message);
        e.session.send_message("still there?").await.unwrap();
        e.turns(1).await;
        assert!(!e.session.is_closed(), "{d:?}");
        e.finish().await;
    }
}
