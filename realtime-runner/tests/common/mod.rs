//! Shared helpers for the runner's tests: a fake server, a session on it, and bounded waits.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use futures_util::StreamExt;
use realtime_agent::RealtimeAgent;
use realtime_protocol::Dialect;
use realtime_runner::{
    OpenAIRealtimeModel, RealtimeRunner, RealtimeSession, RunConfig, SessionEvent,
};
use realtime_testkit::{Auth, ConnectionHandle, FakeRealtimeServer, FakeServerConfig};
use realtime_transport::Auth as ClientAuth;
use std::time::Duration;

pub const WAIT: Duration = Duration::from_secs(10);

pub struct Harness<Ctx: Send + Sync + 'static = ()> {
    pub server: FakeRealtimeServer,
    pub session: RealtimeSession<Ctx>,
    pub conn: ConnectionHandle,
    pub events: Vec<SessionEvent>,
}

pub fn model(server: &FakeRealtimeServer, dialect: Dialect) -> OpenAIRealtimeModel {
    OpenAIRealtimeModel::new()
        .dialect(dialect)
        .endpoint(server.base_url())
        .auth(ClientAuth::None)
}

pub async fn start<Ctx: Send + Sync + 'static>(
    server_config: FakeServerConfig,
    agent: RealtimeAgent<Ctx>,
    config: RunConfig,
    ctx: Ctx,
) -> Harness<Ctx> {
    start_with(server_config, agent, config, ctx, |m| m).await
}

/// Like [`start`], with the model adjusted by `customize` (keep-alive, timeouts…).
pub async fn start_with<Ctx: Send + Sync + 'static>(
    server_config: FakeServerConfig,
    agent: RealtimeAgent<Ctx>,
    config: RunConfig,
    ctx: Ctx,
    customize: impl FnOnce(OpenAIRealtimeModel) -> OpenAIRealtimeModel,
) -> Harness<Ctx> {
    let server = FakeRealtimeServer::start(server_config.with_auth(Auth::Open))
        .await
        .unwrap();
    let dialect = config.dialect;
    let runner = RealtimeRunner::builder(agent)
        .config(config)
        .model(customize(model(&server, dialect)))
        .build();
    let session = tokio::time::timeout(WAIT, runner.run(ctx))
        .await
        .expect("run timed out")
        .unwrap();
    let conn = server.next_connection(WAIT).await.expect("no connection");
    // Wait until the server has applied the session configuration (session.created and
    // session.updated sent), so injected server events see it.
    let deadline = tokio::time::Instant::now() + WAIT;
    while !(conn.received_types().iter().any(|t| t == "session.update") && conn.frames_sent() >= 2)
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the session was never configured"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Harness {
        server,
        session,
        conn,
        events: Vec::new(),
    }
}

impl<Ctx: Send + Sync + 'static> Harness<Ctx> {
    /// Reads events until `pred` matches one (returned), keeping all of them in `events`.
    pub async fn until(
        &mut self,
        what: &str,
        pred: impl Fn(&SessionEvent) -> bool,
    ) -> SessionEvent {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let ev = tokio::time::timeout_at(deadline, self.session.next())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {what}; got {:?}", self.kinds()))
                .unwrap_or_else(|| {
                    panic!("stream ended waiting for {what}; got {:?}", self.kinds())
                });
            self.events.push(ev.clone());
            if pred(&ev) {
                return ev;
            }
        }
    }

    /// Reads events until the `n`-th `agent_end` since the start of the session.
    pub async fn turns(&mut self, n: usize) {
        while self
            .events
            .iter()
            .filter(|e| matches!(e, SessionEvent::AgentEnd { .. }))
            .count()
            < n
        {
            self.until("agent_end", |e| matches!(e, SessionEvent::AgentEnd { .. }))
                .await;
        }
    }

    pub fn kinds(&self) -> Vec<&'static str> {
        self.events.iter().map(|e| e.kind()).collect()
    }

    /// The kinds, with runs of audio/transcript deltas collapsed, for readable snapshots.
    pub fn kinds_collapsed(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for k in self.kinds() {
            if matches!(k, "audio" | "transcript_delta" | "text_delta")
                && out.last().is_some_and(|l| l.starts_with(k))
            {
                continue;
            }
            out.push(k.to_owned());
        }
        out
    }

    /// Client event types the server received, in order.
    pub fn sent(&self) -> Vec<String> {
        self.conn.received_types()
    }

    /// The client events the server received, as JSON with ids and audio replaced.
    pub fn sent_redacted(&self) -> Vec<serde_json::Value> {
        self.conn
            .received()
            .iter()
            .map(|e| {
                let mut v = e.json();
                if let Some(a) = v.get_mut("audio") {
                    let len =
                        realtime_protocol::audio::decode_base64(a.as_str().unwrap_or_default())
                            .map(|b| b.len())
                            .unwrap_or(0);
                    *a = serde_json::json!(format!("<{len} bytes>"));
                }
                v
            })
            .collect()
    }

    pub async fn finish(self) {
        tokio::time::timeout(WAIT, self.session.close())
            .await
            .expect("close timed out");
        self.server.shutdown().await;
    }
}

pub fn ids() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_sort_maps(true);
    for path in [
        ".**.event_id",
        ".**.item_id",
        ".**.previous_item_id",
        ".**.call_id",
        ".**.response_id",
        ".**.id",
    ] {
        s.add_redaction(path, "[id]");
    }
    s
}

/// An output guardrail that trips on the word "forbidden".
pub fn no_forbidden() -> realtime_agent::GuardrailFn<()> {
    realtime_agent::GuardrailFn::new(
        "no_forbidden",
        |_c: realtime_agent::RunContext<()>, _a, text: String| async move {
            if text.contains("forbidden") {
                realtime_agent::GuardrailOutput::trip(serde_json::json!({"word": "forbidden"}))
            } else {
                realtime_agent::GuardrailOutput::pass()
            }
        },
    )
}
