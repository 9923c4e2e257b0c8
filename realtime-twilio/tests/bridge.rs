//! The bridge with a fake Twilio caller on a real socket and the fake Realtime server behind
//! it: the caller talks at real-time pace, the agent answers, the caller talks over the answer,
//! and the truncation lands where the caller's phone acknowledged playback.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use realtime_agent::RealtimeAgent;
use realtime_runner::RunConfig;
use realtime_testkit::{
    tone, FakeRealtimeServer, FakeServerConfig, FnResponder, Pacing, ResponseContext, ResponsePart,
    ResponsePlan,
};
use realtime_twilio::{BridgeError, CallEnd, CallEvent, TwilioBridge};
use serde_json::{json, Value};
use std::time::Duration;

mod common;
use common::*;

fn answer(_: &ResponseContext) -> ResponsePlan {
    ResponsePlan::new([ResponsePart::Audio {
        pcm: tone(440.0, 2_500),
        transcript: "Thanks for calling, how can I help you today?".into(),
    }])
}

fn phone_server(responder: FnResponder<fn(&ResponseContext) -> ResponsePlan>) -> FakeServerConfig {
    FakeServerConfig::default()
        .with_responder(responder)
        .with_pacing(Pacing::RealTime)
        .with_audio_chunk_bytes(4_800)
}

async fn next_event(
    events: &mut tokio::sync::mpsc::UnboundedReceiver<CallEvent>,
    what: &str,
    pred: impl Fn(&CallEvent) -> bool,
) -> CallEvent {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let e = tokio::time::timeout_at(deadline, events.recv())
            .await
            .unwrap_or_else(|_| panic!("no {what}"))
            .unwrap_or_else(|| panic!("events ended before {what}"));
        if pred(&e) {
            return e;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_caller_talks_over_the_answer_and_the_truncation_matches_what_played() {
    let server = FakeRealtimeServer::start(phone_server(FnResponder(answer)))
        .await
        .unwrap();
    let agent = RealtimeAgent::<()>::builder("Receptionist")
        .instructions("Answer the phone.")
        .build()
        .unwrap();
    let bridge = TwilioBridge::new(runner(&server, agent)).unwrap();
    let (url, mut events, calls) = serve_bridge(bridge).await;
    let mut caller = Caller::dial(&url, json!({"customer": "42"})).await;
    let started = next_event(&mut events, "start", |e| matches!(e, CallEvent::Started(_))).await;
    let CallEvent::Started(start) = started else {
        unreachable!()
    };
    assert_eq!(start.custom_parameters["customer"], "42");
    assert_eq!(start.call_sid, "CA0001");

    // The caller says something; the agent answers; the caller hears 600 ms of it.
    caller.listen(300).await;
    caller.talk(&speech(800), |_| false).await;
    caller.talk(&silence(8_000), |c| c.played_ms >= 600).await;
    assert!(
        caller.played_ms >= 600,
        "the answer did not play: {} ms",
        caller.played_ms
    );
    // Then talks over it: the bridge clears Twilio's buffer at once.
    caller
        .talk(&speech(1_000), |c| !c.cleared_at.is_empty())
        .await;
    caller.listen(200).await;
    assert_eq!(caller.cleared_at.len(), 1, "one clear");

    let conn = server.connections()[0].clone();
    let truncate = conn
        .wait_for("conversation.item.truncate", WAIT)
        .await
        .expect("a truncation");
    let end_ms = truncate.json()["audio_end_ms"].as_u64().unwrap();
    let heard = caller.cleared_at[0];
    assert!(
        end_ms.abs_diff(heard) <= 20,
        "truncated at {end_ms} ms, the phone acknowledged {heard} ms"
    );
    let cleared = next_event(&mut events, "cleared", |e| {
        matches!(e, CallEvent::Cleared { .. })
    })
    .await;
    let CallEvent::Cleared { item_id } = cleared else {
        unreachable!()
    };
    assert_eq!(truncate.json()["item_id"], item_id.as_str());

    // µ-law both ways, as the session was configured.
    let received = conn.received();
    let first = |t: &str| {
        received
            .iter()
            .find(|e| e.event_type() == t)
            .unwrap()
            .json()
    };
    let update = first("session.update");
    assert_eq!(
        update["session"]["audio"]["input"]["format"]["type"],
        "audio/pcmu"
    );
    assert_eq!(
        update["session"]["audio"]["output"]["format"]["type"],
        "audio/pcmu"
    );
    // Appended audio is the caller's µ-law as it was sent (160 bytes per 20 ms).
    let append = first("input_audio_buffer.append");
    let bytes =
        realtime_runner::protocol::audio::decode_base64(append["audio"].as_str().unwrap()).unwrap();
    assert_eq!(bytes.len(), 160);

    // A key press reaches the app.
    caller.dtmf("5").await;
    next_event(
        &mut events,
        "dtmf",
        |e| matches!(e, CallEvent::Dtmf { digit } if digit == "5"),
    )
    .await;

    // `stop` ends the session, then the socket (normal close).
    caller.stop().await;
    assert_eq!(caller.closed().await, Some(1000));
    assert!(
        conn.wait_closed(WAIT).await,
        "the session's connection closed"
    );
    let summary = calls.await.unwrap().remove(0).unwrap();
    assert_eq!(summary.end, CallEnd::Stopped);
    assert_eq!(summary.clears, 1);
    assert!(summary.marks_played > 10, "{summary:?}");
    assert!(summary.media_in > 100, "{summary:?}");
    assert_eq!(summary.outbound_dropped, 0);
    server.shutdown().await;
}

fn transfer_then_answer(ctx: &ResponseContext) -> ResponsePlan {
    if ctx.response_index == 0 {
        ResponsePlan::new([ResponsePart::FunctionCall {
            name: "transfer_to_billing".into(),
            arguments: "{}".into(),
            call_id: None,
        }])
    } else {
        answer(ctx)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handoff_keeps_the_line_in_mulaw() {
    let server = FakeRealtimeServer::start(phone_server(FnResponder(transfer_then_answer)))
        .await
        .unwrap();
    let billing = RealtimeAgent::<()>::builder("Billing")
        .instructions("Help with bills.")
        .voice("cedar")
        .build()
        .unwrap();
    let agent = RealtimeAgent::<()>::builder("Receptionist")
        .instructions("Route the call.")
        .handoff_to(&billing)
        .build()
        .unwrap();
    let bridge = TwilioBridge::new(runner(&server, agent)).unwrap();
    let (url, mut events, calls) = serve_bridge(bridge).await;
    let mut caller = Caller::dial(&url, json!({})).await;
    caller.listen(300).await;
    caller.talk(&speech(800), |_| false).await;
    caller.talk(&silence(8_000), |c| c.played_ms >= 300).await;
    next_event(&mut events, "handoff", |e| {
        matches!(e, CallEvent::Session(realtime_runner::SessionEvent::Handoff { to, .. }) if to == "Billing")
    })
    .await;
    assert!(
        caller.played_ms >= 300,
        "the new agent's answer did not play"
    );
    let conn = server.connections()[0].clone();
    let updates: Vec<Value> = conn
        .received()
        .iter()
        .filter(|e| e.event_type() == "session.update")
        .map(|e| e.json())
        .collect();
    assert!(updates.len() >= 2, "{updates:?}");
    for u in &updates {
        for dir in ["input", "output"] {
            let format = &u["session"]["audio"][dir]["format"];
            assert!(format.is_null() || format["type"] == "audio/pcmu", "{u}");
        }
    }
    let session = conn.session();
    assert_eq!(session["audio"]["output"]["format"]["type"], "audio/pcmu");
    assert_eq!(session["audio"]["input"]["format"]["type"], "audio/pcmu");
    caller.stop().await;
    assert_eq!(caller.closed().await, Some(1000));
    let summary = calls.await.unwrap().remove(0).unwrap();
    assert_eq!(summary.end, CallEnd::Stopped);
    server.shutdown().await;
}

#[tokio::test]
async fn garbage_does_not_end_the_call_and_a_dropped_socket_closes_the_session() {
    let server = FakeRealtimeServer::start(phone_server(FnResponder(answer)))
        .await
        .unwrap();
    let agent = RealtimeAgent::<()>::builder("A").build().unwrap();
    let bridge = TwilioBridge::new(runner(&server, agent)).unwrap();
    let (url, mut events, calls) = serve_bridge(bridge).await;
    let mut caller = Caller::dial(&url, json!({})).await;
    next_event(&mut events, "start", |e| matches!(e, CallEvent::Started(_))).await;
    caller.send_raw("this is not json").await;
    caller
        .send(json!({"event": "future_feature", "x": 1}))
        .await;
    caller
        .send(json!({"event": "media", "media": {"payload": "!!not base64!!"}}))
        .await;
    caller.send(json!({"event": "media"})).await;
    next_event(
        &mut events,
        "unknown",
        |e| matches!(e, CallEvent::UnknownMessage { event } if event == "future_feature"),
    )
    .await;
    // Still alive: audio still reaches the server.
    caller.talk(&silence(200), |_| false).await;
    let conn = server.connections()[0].clone();
    assert!(conn
        .wait_for("input_audio_buffer.append", WAIT)
        .await
        .is_some());
    drop(caller);
    assert!(
        conn.wait_closed(WAIT).await,
        "the session closed with the socket"
    );
    let summary = calls.await.unwrap().remove(0).unwrap();
    assert_eq!(summary.end, CallEnd::SocketClosed);
    assert_eq!(summary.unknown_messages, 1);
    assert_eq!(summary.malformed_messages, 3, "{summary:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_session_that_cannot_start_closes_the_call_with_1011() {
    let server = FakeRealtimeServer::start(FakeServerConfig::default())
        .await
        .unwrap();
    let agent = RealtimeAgent::<()>::builder("A").build().unwrap();
    let runner = realtime_runner::RealtimeRunner::builder(agent)
        .config(runner_config())
        .model(
            model(&server, realtime_runner::protocol::Dialect::Ga)
                .endpoint("ws://127.0.0.1:9/v1/realtime"),
        )
        .build();
    server.shutdown().await;
    let bridge = TwilioBridge::new(runner).unwrap();
    let (url, _events, calls) = serve_bridge(bridge).await;
    let mut caller = Caller::dial(&url, json!({})).await;
    assert_eq!(caller.closed().await, Some(1011));
    let result = calls.await.unwrap().remove(0);
    assert!(result.unwrap_err().contains("session"));
}

#[test]
fn a_runner_not_set_for_a_phone_line_is_refused() {
    let agent = RealtimeAgent::<()>::builder("A").build().unwrap();
    let runner = realtime_runner::RealtimeRunner::builder(agent)
        .config(RunConfig::default())
        .build();
    assert!(matches!(
        TwilioBridge::new(runner),
        Err(BridgeError::AudioFormat { .. })
    ));
    let _ = Duration::ZERO;
}
