//! The runner logs through `tracing` in a span per session (its number, the server's session
//! id, the dialect, the current agent), with a line per response, tool call, handoff and
//! connection change, and no key, audio or tool payloads. Its own test binary: a scoped
//! subscriber must not share the process with other tests' sessions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use realtime_agent::{FunctionTool, RealtimeAgent, ToolContext};
use realtime_runner::{RunConfig, SessionEvent};
use realtime_testkit::{FakeServerConfig, ResponsePart, ResponsePlan, Scripted};
use serde_json::json;
use std::io::Write;
use std::sync::{Arc, Mutex};
use tests::{start, KEY};

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Lookup {
    /// The order.
    order: String,
}

const SECRET_ARG: &str = "ORDER-SECRET-4242";
const SECRET_OUT: &str = "shipped-to-221B-Baker-Street";

fn agents() -> RealtimeAgent<()> {
    let tool = FunctionTool::new(
        "lookup",
        "Finds an order.",
        |_: ToolContext<()>, l: Lookup| async move {
            Ok::<_, String>(format!("{} {SECRET_OUT}", l.order))
        },
    )
    .unwrap();
    let billing = RealtimeAgent::builder("Billing").build().unwrap();
    RealtimeAgent::builder("Support")
        .tool(tool)
        .handoff_to(&billing)
        .build()
        .unwrap()
}

fn script() -> Scripted {
    Scripted::new([
        ResponsePlan::new([ResponsePart::function_call(
            "lookup",
            json!({"order": SECRET_ARG}),
        )]),
        ResponsePlan::speech("It has shipped."),
        ResponsePlan::new([ResponsePart::function_call(
            "transfer_to_billing",
            json!({}),
        )]),
        ResponsePlan::speech("Billing here."),
    ])
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_runner_logs_a_span_per_session_and_no_payloads() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // The test's runtime runs every task on this thread.
    let _guard = tracing::subscriber::set_default(subscriber);
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
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
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
