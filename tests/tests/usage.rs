//! Token usage in detail (text, audio, cached), per response and per session, and its price
//! from a rate table; in both dialects against the fake server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use realtime_agent::RealtimeAgent;
use realtime_protocol::Dialect;
use realtime_runner::{RunConfig, SessionEvent, SessionSettings, TokenRates, Usage};
use realtime_testkit::{Echo, FakeServerConfig};
use tests::start;

#[tokio::test]
async fn usage_is_split_by_kind_per_response_and_summed_per_session() {
    for d in [Dialect::Ga, Dialect::Beta] {
        let config = RunConfig::default()
            .with_dialect(d)
            .with_settings(SessionSettings::default().with_turn_detection(None));
        let mut h = start(
            FakeServerConfig::default().with_responder(Echo::default()),
            RealtimeAgent::<()>::builder("A").build().unwrap(),
            config,
            (),
        )
        .await;
        let mut per_response = Vec::new();
        for text in ["hello", "hello again, a little longer"] {
            h.session.send_message(text).await.unwrap();
            let ev = h
                .until("usage", |e| matches!(e, SessionEvent::Usage { .. }))
                .await;
            let SessionEvent::Usage { usage, .. } = ev else {
                unreachable!()
            };
            per_response.push(usage);
            h.turns(per_response.len()).await;
        }
        // The fake reports every input token as text and speaks: audio and text out.
        for u in &per_response {
            assert_eq!(u.requests, 1);
            assert!(
                u.input_tokens > 0 && u.input_text_tokens == u.input_tokens,
                "{d:?} {u:?}"
            );
            assert_eq!(u.input_audio_tokens, 0);
            assert!(u.output_audio_tokens > 0, "{d:?} {u:?}");
            assert_eq!(
                u.output_text_tokens + u.output_audio_tokens,
                u.output_tokens,
                "{d:?} {u:?}"
            );
        }
        let total = h.session.usage();
        let mut sum = Usage::default();
        for u in &per_response {
            sum.add(u);
        }
        assert_eq!(total, sum, "{d:?}");
        assert_eq!(total.requests, 2);
        h.finish().await;
    }
}

#[test]
fn usage_is_priced_by_kind_with_cached_input_at_its_rate() {
    let mut u = Usage::default();
    u.input_text_tokens = 400;
    u.input_audio_tokens = 500;
    u.input_image_tokens = 100;
    u.cached_text_tokens = 200;
    u.cached_audio_tokens = 100;
    u.output_text_tokens = 100;
    u.output_audio_tokens = 500;
    let rates = TokenRates::default()
        .with_text(4.0, 0.4, 16.0)
        .with_audio(32.0, 0.4, 64.0)
        .with_image(5.0, 0.5);
    // (200×4 + 200×0.4 + 400×32 + 100×0.4 + 100×5 + 100×16 + 500×64) / 1e6
    let want = (800.0 + 80.0 + 12_800.0 + 40.0 + 500.0 + 1_600.0 + 32_000.0) / 1e6;
    assert!(
        (u.cost(&rates) - want).abs() < 1e-12,
        "{} vs {want}",
        u.cost(&rates)
    );
    assert_eq!(Usage::default().cost(&rates), 0.0);
}
