//! Helpers for the end-to-end tests: a fake server, a session on it through the public API,
//! and bounded waits. The tests themselves are in `tests/`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    missing_debug_implementations
)]

pub mod logs;
pub mod order_desk;
pub mod proxy;
pub mod tls;

use futures_util::StreamExt;
use realtime_agent::RealtimeAgent;
use realtime_protocol::Dialect;
use realtime_runner::{
    OpenAIRealtimeModel, RealtimeRunner, RealtimeSession, RunConfig, SessionEvent,
};
use realtime_testkit::{ConnectionHandle, FakeRealtimeServer, FakeServerConfig};
use std::time::Duration;

pub const WAIT: Duration = Duration::from_secs(15);
pub const KEY: &str = "sk-e2e-SECRETSECRETSECRET-0001";

pub fn model(server: &FakeRealtimeServer, dialect: Dialect) -> OpenAIRealtimeModel {
    OpenAIRealtimeModel::new()
        .dialect(dialect)
        .endpoint(server.base_url())
        .auth(realtime_transport::Auth::api_key(KEY))
}

pub struct E2e<Ctx: Send + Sync + 'static = ()> {
    pub server: FakeRealtimeServer,
    pub session: RealtimeSession<Ctx>,
    pub conn: ConnectionHandle,
    pub events: Vec<SessionEvent>,
}

pub async fn start<Ctx: Send + Sync + 'static>(
    server: FakeServerConfig,
    agent: RealtimeAgent<Ctx>,
    config: RunConfig,
    ctx: Ctx,
) -> E2e<Ctx> {
    start_with(server, agent, config, ctx, |m| m).await
}

pub async fn start_with<Ctx: Send + Sync + 'static>(
    server: FakeServerConfig,
    agent: RealtimeAgent<Ctx>,
    config: RunConfig,
    ctx: Ctx,
    tweak: impl FnOnce(OpenAIRealtimeModel) -> OpenAIRealtimeModel,
) -> E2e<Ctx> {
    let server = FakeRealtimeServer::start(server.with_auth(realtime_testkit::Auth::keys([KEY])))
        .await
        .unwrap();
    let m = tweak(model(&server, config.dialect));
    let runner = RealtimeRunner::builder(agent)
        .config(config)
        .model(m)
        .build();
    let session = tokio::time::timeout(WAIT, runner.run(ctx))
        .await
        .expect("run timed out")
        .unwrap();
    let conn = server.next_connection(WAIT).await.expect("no connection");
    let deadline = tokio::time::Instant::now() + WAIT;
    while !(conn.received_types().iter().any(|t| t == "session.update") && conn.frames_sent() >= 2)
    {
        assert!(tokio::time::Instant::now() < deadline, "never configured");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    E2e {
        server,
        session,
        conn,
        events: Vec::new(),
    }
}

impl<Ctx: Send + Sync + 'static> E2e<Ctx> {
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

    pub async fn turns(&mut self, n: usize) {
        while self.count("agent_end") < n {
            self.until("agent_end", |e| matches!(e, SessionEvent::AgentEnd { .. }))
                .await;
        }
    }

    /// Reads to the end of the stream (bounded).
    pub async fn drain(&mut self) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while let Some(ev) = tokio::time::timeout_at(deadline, self.session.next())
            .await
            .expect("the stream never ended")
        {
            self.events.push(ev);
        }
    }

    pub fn count(&self, kind: &str) -> usize {
        self.events.iter().filter(|e| e.kind() == kind).count()
    }

    pub fn kinds(&self) -> Vec<&'static str> {
        self.events.iter().map(|e| e.kind()).collect()
    }

    /// Client event types the server received, with runs of appends collapsed.
    pub fn sent(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for t in self.conn.received_types() {
            if t == "input_audio_buffer.append" && out.last().is_some_and(|l| *l == t) {
                continue;
            }
            out.push(t);
        }
        out
    }

    pub async fn finish(self) {
        tokio::time::timeout(WAIT, self.session.close())
            .await
            .expect("close timed out");
        self.server.shutdown().await;
    }
}

/// The process's resident set size in KiB (Linux), for leak checks.
pub fn rss_kib() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4)
}

/// The README's code, compiled as doc tests (`cargo test --workspace` runs them).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

/// The user guide's code (`docs/guide/`), compiled, and run where it needs no key.
#[cfg(doctest)]
mod guide {
    #[doc = include_str!("../../docs/guide/01-getting-started.md")]
    struct GettingStarted;
    #[doc = include_str!("../../docs/guide/02-agents-and-tools.md")]
    struct AgentsAndTools;
    #[doc = include_str!("../../docs/guide/03-handoffs-guardrails-approvals.md")]
    struct HandoffsGuardrailsApprovals;
    #[doc = include_str!("../../docs/guide/04-barge-in.md")]
    struct BargeIn;
    #[doc = include_str!("../../docs/guide/05-testing.md")]
    struct Testing;
    #[doc = include_str!("../../docs/guide/06-phone.md")]
    struct Phone;
    #[doc = include_str!("../../docs/guide/07-browser.md")]
    struct Browser;
    #[doc = include_str!("../../docs/guide/08-audio.md")]
    struct Audio;
    #[doc = include_str!("../../docs/guide/09-azure-proxies-tls.md")]
    struct AzureProxiesTls;
    #[doc = include_str!("../../docs/guide/10-deployment.md")]
    struct Deployment;
    #[doc = include_str!("../../docs/guide/11-hosted-mcp.md")]
    struct HostedMcp;
    #[doc = include_str!("../../docs/guide/12-transcription.md")]
    struct Transcription;
}
