//! Tracing of the session in the OpenAI dashboard: `auto` by default, off with
//! `RunConfig::tracing_disabled`, named with metadata; sent in the first `session.update` of a
//! connection only (the service refuses a change), in both dialects.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use realtime_agent::RealtimeAgent;
use realtime_protocol::Dialect;
use realtime_runner::{RunConfig, SessionEvent, SessionSettings, Tracing};
use realtime_testkit::{Echo, FakeServerConfig};
use serde_json::{json, Value};
use tests::{start, E2e};

fn agent(name: &str) -> RealtimeAgent<()> {
    RealtimeAgent::builder(name).build().unwrap()
}

/// Every `session.update` the server received so far, once the session answered a marker.
async fn updates(h: &mut E2e) -> Vec<Value> {
    h.session.send_message("sync").await.unwrap();
    h.until("agent_end", |e| matches!(e, SessionEvent::AgentEnd { .. }))
        .await;
    no_errors(h);
    h.events.clear();
    h.conn
        .received()
        .iter()
        .map(|e| e.json())
        .filter(|v| v["type"] == "session.update")
        .collect()
}

fn no_errors(h: &E2e) {
    assert_eq!(
        h.count("error"),
        0,
        "the strict fake refused: {:?}",
        h.events
    );
}

#[tokio::test]
async fn sessions_trace_with_auto_by_default_in_both_dialects() {
    for dialect in [Dialect::Ga, Dialect::Beta] {
        let config = RunConfig::default().with_dialect(dialect);
        let mut h = start(
            FakeServerConfig::default().with_responder(Echo::text()),
            agent("A"),
            config,
            (),
        )
        .await;
        let ups = updates(&mut h).await;
        assert_eq!(ups[0]["session"]["tracing"], json!("auto"), "{dialect:?}");
        h.finish().await;
    }
}

#[tokio::test]
async fn tracing_disabled_sends_null_whatever_the_settings_say() {
    for dialect in [Dialect::Ga, Dialect::Beta] {
        let config = RunConfig::default()
            .with_dialect(dialect)
            .with_settings(SessionSettings::default().with_tracing(Some(Tracing::workflow("w"))))
            .with_tracing_disabled(true);
        let mut h = start(
            FakeServerConfig::default().with_responder(Echo::text()),
            agent("A"),
            config,
            (),
        )
        .await;
        let ups = updates(&mut h).await;
        let first = &ups[0]["session"];
        assert!(first.get("tracing").is_some(), "{dialect:?}: {first}");
        assert_eq!(first["tracing"], Value::Null, "{dialect:?}");
        h.finish().await;
    }
}

#[tokio::test]
async fn a_named_trace_carries_its_group_and_metadata() {
    for dialect in [Dialect::Ga, Dialect::Beta] {
        let tracing = Tracing::workflow("support line")
            .with_group_id("call-42")
            .with_metadata("caller", "+15550100")
            .with_metadata("tier", 2);
        let config = RunConfig::default()
            .with_dialect(dialect)
            .with_settings(SessionSettings::default().with_tracing(Some(tracing)));
        let mut h = start(
            FakeServerConfig::default().with_responder(Echo::text()),
            agent("A"),
            config,
            (),
        )
        .await;
        let ups = updates(&mut h).await;
        assert_eq!(
            ups[0]["session"]["tracing"],
            json!({
                "workflow_name": "support line",
                "group_id": "call-42",
                "metadata": {"caller": "+15550100", "tier": 2}
            }),
            "{dialect:?}"
        );
        h.finish().await;
    }
}

#[tokio::test]
async fn tracing_goes_out_once_per_connection_and_a_later_change_is_ignored() {
    for dialect in [Dialect::Ga, Dialect::Beta] {
        let config = RunConfig::default()
            .with_dialect(dialect)
            .with_settings(SessionSettings::default().with_tracing(Some(Tracing::workflow("w"))));
        let mut h = start(
            FakeServerConfig::default().with_responder(Echo::text()),
            agent("A"),
            config,
            (),
        )
        .await;
        // A settings change and an agent change each send a session.update.
        h.session
            .update_settings(
                SessionSettings::default()
                    .with_speed(1.2)
                    .with_tracing(Some(Tracing::workflow("other"))),
            )
            .await
            .unwrap();
        h.session.update_agent(agent("B")).await.unwrap();
        let ups = updates(&mut h).await;
        assert_eq!(ups.len(), 3, "{dialect:?}: {ups:?}");
        assert_eq!(ups[0]["session"]["tracing"]["workflow_name"], "w");
        for later in &ups[1..] {
            assert!(
                later["session"].get("tracing").is_none(),
                "{dialect:?}: tracing re-sent in {later}"
            );
        }
        let speed = if dialect == Dialect::Ga {
            ups[1]["session"]["audio"]["output"]["speed"].clone()
        } else {
            ups[1]["session"]["speed"].clone()
        };
        assert_eq!(
            speed,
            json!(1.2),
            "{dialect:?}: the rest of the change still applies"
        );
        h.finish().await;
    }
}

#[tokio::test]
async fn the_fake_refuses_a_tracing_change_as_the_service_does() {
    let config = RunConfig::default();
    let mut h = start(
        FakeServerConfig::default().with_responder(Echo::text()),
        agent("A"),
        config,
        (),
    )
    .await;
    let raw = json!({"type": "session.update", "session": {"type": "realtime", "tracing": {"workflow_name": "x"}}});
    h.session.send_raw(raw.to_string()).await.unwrap();
    let e = h
        .until("error", |e| matches!(e, SessionEvent::Error(_)))
        .await;
    let SessionEvent::Error(e) = e else {
        unreachable!()
    };
    let server = e.server.unwrap();
    assert_eq!(server.param.as_deref(), Some("session.tracing"));
    h.finish().await;
}
