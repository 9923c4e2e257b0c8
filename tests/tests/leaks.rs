//! Sessions opened and closed leave nothing behind. Alone in its own test binary: it reads the
//! process's RSS, which other tests running beside it would move.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use realtime_agent::RealtimeAgent;
use realtime_protocol::Dialect;
use realtime_runner::{Modality, RealtimeRunner, RunConfig, SessionEvent, SessionSettings};
use realtime_testkit::{Echo, FakeRealtimeServer, FakeServerConfig};
use std::time::Duration;
use tests::{model, WAIT};

fn text() -> RunConfig {
    RunConfig::default()
        .with_settings(SessionSettings::default().with_output_modality(Modality::Text))
}

fn plain() -> RealtimeAgent<()> {
    RealtimeAgent::builder("A").build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_sessions_leave_no_tasks_or_memory_behind() {
    let server = FakeRealtimeServer::start(
        FakeServerConfig::default()
            .with_auth(realtime_testkit::Auth::keys([tests::KEY]))
            .with_responder(Echo::text())
            // The server would otherwise keep closed connections' records (about 14 KiB
            // each) for inspection: that memory is the testkit's, not the SDK's.
            .with_max_finished_connections(0),
    )
    .await
    .unwrap();
    let runner = RealtimeRunner::builder(plain())
        .config(text())
        .model(model(&server, Dialect::Ga))
        .build();
    let metrics = tokio::runtime::Handle::current().metrics();
    let one = |runner: RealtimeRunner<()>| async move {
        let session = runner.run(()).await.unwrap();
        session.send_message("hi").await.unwrap();
        loop {
            match tokio::time::timeout(WAIT, session.next_event())
                .await
                .unwrap()
            {
                Some(SessionEvent::AgentEnd { .. }) => break,
                Some(_) => {}
                None => panic!("ended early"),
            }
        }
        session.close().await;
    };
    // Warm up allocator and runtime.
    for _ in 0..100 {
        one(runner.clone()).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (tasks_before, rss_before) = (metrics.num_alive_tasks(), tests::rss_kib().unwrap_or(0));
    for _ in 0..1_000 {
        one(runner.clone()).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (tasks_after, rss_after) = (metrics.num_alive_tasks(), tests::rss_kib().unwrap_or(0));
    assert!(
        tasks_after <= tasks_before + 2,
        "tasks grew: {tasks_before} -> {tasks_after}"
    );
    // A leak of a few KiB per session shows as several MiB here; allocator noise stays well
    // below (about 30 KiB measured on 2 cores).
    assert!(
        rss_after < rss_before + 8 * 1024,
        "memory grew: {rss_before} KiB -> {rss_after} KiB"
    );
    assert!(
        server.connections().is_empty(),
        "closed sessions are forgotten"
    );
    server.shutdown().await;
}
