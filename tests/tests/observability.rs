//! Observability: every session event serializes as tagged JSON (for relays and logs); the
//! connection's status is an event (who closed it). The logs: `session_logs.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use realtime_protocol::Dialect;
use realtime_runner::{ClosedBy, ConnectionStatus, RunConfig, SessionEvent};
use realtime_testkit::{Echo, FakeServerConfig};
use tests::order_desk::{agents, script};
use tests::start;

#[tokio::test]
async fn every_event_serializes_with_its_kind_as_type() {
    for d in [Dialect::Ga, Dialect::Beta] {
        let config = RunConfig::default().with_dialect(d).with_raw_events(true);
        let mut h = start(
            FakeServerConfig::default().with_responder(script()),
            agents(),
            config,
            (),
        )
        .await;
        h.session.send_message("where is my order").await.unwrap();
        h.turns(2).await;
        h.session.send_message("billing please").await.unwrap();
        h.until(
            "handoff answer",
            |e| matches!(e, SessionEvent::AgentEnd { agent, .. } if agent == "Billing"),
        )
        .await;
        h.session.close().await;
        h.drain().await;
        let mut kinds = std::collections::BTreeSet::new();
        for e in &h.events {
            let v = serde_json::to_value(e).unwrap();
            assert_eq!(v["type"], e.kind(), "{d:?}: {v}");
            kinds.insert(e.kind());
            match e {
                SessionEvent::Audio { pcm, .. } => {
                    let b64 = v["pcm"].as_str().unwrap();
                    assert_eq!(&realtime_protocol::audio::decode_base64(b64).unwrap(), pcm);
                }
                SessionEvent::Raw(r) => {
                    let dialect = if d == Dialect::Ga { "ga" } else { "beta" };
                    assert_eq!(v["dialect"], dialect);
                    assert_eq!(v["event"]["type"], r.event_type());
                }
                _ => {}
            }
        }
        for k in [
            "agent_start",
            "audio",
            "tool_start",
            "tool_end",
            "handoff",
            "usage",
            "raw",
            "history_added",
            "connection",
            "closed",
        ] {
            assert!(kinds.contains(k), "{d:?}: no {k} in {kinds:?}");
        }
    }
}

fn last_status(events: &[SessionEvent]) -> Option<ConnectionStatus> {
    events.iter().rev().find_map(|e| match e {
        SessionEvent::Connection { status, .. } => Some(*status),
        _ => None,
    })
}

#[tokio::test]
async fn the_session_reports_who_closed_the_connection() {
    // The application.
    let mut h = start(
        FakeServerConfig::default().with_responder(Echo::text()),
        agents(),
        RunConfig::default(),
        (),
    )
    .await;
    h.session.close().await;
    h.drain().await;
    let n = h.events.len();
    assert!(matches!(h.events[n - 1], SessionEvent::Closed));
    assert_eq!(
        last_status(&h.events),
        Some(ConnectionStatus::disconnected(ClosedBy::Client))
    );
    assert!(matches!(h.events[n - 2], SessionEvent::Connection { .. }));

    // The server, normally.
    let mut h = start(
        FakeServerConfig::default(),
        agents(),
        RunConfig::default(),
        (),
    )
    .await;
    h.conn.close(1000, "bye").await;
    h.drain().await;
    assert_eq!(
        last_status(&h.events),
        Some(ConnectionStatus::disconnected(ClosedBy::Server))
    );

    // A failure (no reconnect policy): an error event says why.
    let mut h = start(
        FakeServerConfig::default(),
        agents(),
        RunConfig::default(),
        (),
    )
    .await;
    h.conn.drop_socket().await;
    h.drain().await;
    assert_eq!(
        last_status(&h.events),
        Some(ConnectionStatus::disconnected(ClosedBy::Error))
    );
    assert!(h.count("error") >= 1, "{:?}", h.events);
}
