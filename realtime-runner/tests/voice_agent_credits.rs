//! The `voice_agent` example's conversation, 50 times over: every sentence is credited to
//! the agent that said it, whichever of the handoff task and the server's `response.done`
//! the session sees first.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../examples/voice_agent/demo.rs"]
mod demo;

use demo::{agents, fake_server_config, speech_like, Credits};
use realtime_protocol::audio;
use realtime_runner::{
    OpenAIRealtimeModel, RealtimeRunner, RunConfig, SessionSettings, TranscriptionSettings,
};
use realtime_testkit::FakeRealtimeServer;
use std::time::Duration;

const RUNS: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voice_agent_credits_each_sentence_to_its_agent_every_time() {
    let server = FakeRealtimeServer::start(fake_server_config())
        .await
        .unwrap();
    let model = OpenAIRealtimeModel::new()
        .endpoint(server.base_url())
        .auth(realtime_transport::Auth::api_key("sk-offline-demo"));
    let settings = SessionSettings::default()
        .with_turn_detection(None)
        .with_input_transcription(Some(TranscriptionSettings::model("gpt-4o-mini-transcribe")));
    let runner = RealtimeRunner::builder(agents().unwrap())
        .config(RunConfig::default().with_settings(settings))
        .model(model)
        .build();
    let pcm = audio::samples_to_pcm16(&speech_like());
    let want = [
        ("Weather Agent", "Let me check the weather for you."),
        (
            "Weather Agent",
            "It is sunny and 21 °C in Paris. Let me pass you to our travel agent.",
        ),
        (
            "Travel Agent",
            "Hi, travel agent here. Paris is lovely this week; shall I look at trains?",
        ),
    ];
    for run in 0..RUNS {
        let session = runner.run(()).await.unwrap();
        let chunks: Vec<&[u8]> = pcm.chunks(4_800).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            session
                .send_audio(chunk, i + 1 == chunks.len())
                .await
                .unwrap();
        }
        session.request_response().await.unwrap();
        let mut credits = Credits::default();
        let mut said = Vec::new();
        while said.len() < want.len() {
            let event = tokio::time::timeout(Duration::from_secs(10), session.next_event())
                .await
                .unwrap_or_else(|_| panic!("run {run}: timed out after {said:?}"))
                .unwrap_or_else(|| panic!("run {run}: the session ended after {said:?}"));
            said.extend(credits.on_event(&event));
        }
        let said: Vec<(&str, &str)> = said.iter().map(|(a, s)| (a.as_str(), s.as_str())).collect();
        assert_eq!(said, want, "run {run}");
        session.close().await;
    }
    server.shutdown().await;
}
