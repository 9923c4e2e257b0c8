//! The API key never reaches `Debug`, `Display`, errors or logs, captured at TRACE. In a test
//! binary of its own, so the global subscriber sees every thread.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use realtime_agent::RealtimeAgent;
use realtime_runner::{RealtimeRunner, RunConfig};
use realtime_testkit::{Echo, FakeServerConfig};
use realtime_transport::Auth;
use tests::logs::LogCapture;
use tests::{model, start, KEY};

#[tokio::test]
async fn the_key_never_leaks() {
    let capture = LogCapture::default();
    tracing::subscriber::set_global_default(capture.subscriber()).unwrap();

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
    let logs = capture.text();
    assert!(
        logs.contains("realtime_connection"),
        "TRACE logs were captured"
    );
    shown.push(logs);
    for s in shown {
        assert!(!s.contains("SECRETSECRET"), "the key leaked: {s}");
    }
}
