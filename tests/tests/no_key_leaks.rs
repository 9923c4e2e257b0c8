//! The API key never reaches `Debug`, `Display`, errors or logs, captured at TRACE. In a test
//! binary of its own, so the global subscriber sees every thread.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use realtime_agent::RealtimeAgent;
use realtime_runner::{RealtimeRunner, RunConfig};
use realtime_testkit::{Echo, FakeServerConfig};
use realtime_transport::Auth;
use std::sync::{Arc, Mutex};
use tests::{model, start, KEY};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_key_never_leaks() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let mut e = start(
        FakeServerConfig::default().with_responder(Echo::text()),
        RealtimeAgent::builder("A").build().unwrap(),
        RunConfig::default(),
        (),
    )
    .await;
    e.session.send_message("hello").await.unwrap();
    e.turns(1).await;
    let mut shown = vec![
        format!("{:?}", e.session),
        format!("{:?}", e.events),
        format!("{:?}", model(&e.server, realtime_protocol::Dialect::Ga)),
    ];
    // A rejected key: the error names neither key.
    let bad = RealtimeRunner::builder(RealtimeAgent::<()>::builder("A").build().unwrap())
        .model(
            realtime_runner::OpenAIRealtimeModel::new()
                .endpoint(e.server.base_url())
                .auth(Auth::api_key(format!("{KEY}-WRONG"))),
        )
        .build();
    let err = bad.run(()).await.unwrap_err();
    shown.push(format!("{err} {err:?}"));
    e.finish().await;
    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("realtime_connection"),
        "TRACE logs were captured"
    );
    shown.push(logs);
    for s in shown {
        assert!(!s.contains("SECRETSECRET"), "the key leaked: {s}");
    }
}
