//! The runner logs through `tracing` in a span per session (its number, the server's session
//! id, the dialect, the current agent), with a line per response, tool call, handoff and
//! connection change, and no key, audio or tool payloads. Its own test binary: a scoped
//! subscriber must not share the process with other tests' sessions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use realtime_runner::{RunConfig, SessionEvent};
use realtime_testkit::FakeServerConfig;
use tests::logs::LogCapture;
use tests::order_desk::{agents, script, SECRET_ARG, SECRET_OUT};
use tests::{start, KEY};

#[tokio::test]
async fn the_runner_logs_a_span_per_session_and_no_payloads() {
    let logs = LogCapture::default();
    // The test's runtime runs every task on this thread.
    let _guard = tracing::subscriber::set_default(logs.subscriber());
    let mut h = start(
        FakeServerConfig::default().with_responder(script()),
        agents(),
        RunConfig::default(),
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
    h.session.interrupt().await.unwrap();
    h.session.close().await;
    h.drain().await;
    let text = logs.text();
    for needle in [
        "realtime_session",
        "session_id=\"sess_",
        "dialect=\"ga\"",
        "response started",
        "tool call started",
        "tool=\"lookup\"",
        "handoff",
        "agent=\"Billing\"",
        "disconnected",
    ] {
        assert!(text.contains(needle), "no `{needle}` in the logs:\n{text}");
    }
    for secret in [KEY, SECRET_ARG, SECRET_OUT] {
        assert!(
            !text.contains(secret),
            "`{secret}` leaked into the logs:\n{text}"
        );
    }
    // No audio payload: no long base64 run in any line.
    let longest_word = text.split_whitespace().map(str::len).max().unwrap_or(0);
    assert!(
        longest_word < 200,
        "a payload-sized token in the logs:\n{text}"
    );
}
