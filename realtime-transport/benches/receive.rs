//! `cargo bench -p realtime-transport`: the cost of receiving 20 ms audio deltas through the
//! typed stream (socket read, frame and decode, all on the polling task), against a local
//! server that replays one pre-encoded frame as fast as it can.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures_util::{SinkExt, StreamExt};
use realtime_protocol::{audio, ga, Ga};
use realtime_transport::{Auth, RealtimeConnection};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

fn delta_frame() -> String {
    let pcm: Vec<u8> = (0..960u32).map(|i| (i * 31 % 251) as u8).collect();
    format!(
        r#"{{"type":"response.output_audio.delta","event_id":"event_CkP1oC2s4A5Nd7XSzBe1v","response_id":"resp_CkP1oC9z0y1x2w3v4u5t6","item_id":"item_CkP1oD8y7x6w5v4u3t2s1","output_index":0,"content_index":0,"delta":"{}"}}"#,
        audio::encode_base64(&pcm)
    )
}

/// A server that answers `{"n": N}` with N copies of the frame.
async fn blaster() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let frame = Message::text(delta_frame());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let frame = frame.clone();
            tokio::spawn(async move {
                let _ = stream.set_nodelay(true);
                let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
                while let Some(Ok(Message::Text(t))) = ws.next().await {
                    let n: u64 = serde_json::from_str::<serde_json::Value>(&t).unwrap()["n"]
                        .as_u64()
                        .unwrap();
                    for _ in 0..n {
                        ws.feed(frame.clone()).await.unwrap();
                    }
                    ws.flush().await.unwrap();
                }
            });
        }
    });
    addr
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let addr = rt.block_on(blaster());
    let (tx, mut rx) = rt.block_on(async {
        RealtimeConnection::<Ga>::builder()
            .endpoint(format!("ws://{addr}/v1/realtime"))
            .auth(Auth::None)
            .connect()
            .await
            .unwrap()
            .split()
    });
    let mut g = c.benchmark_group("receive");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("audio_delta_20ms_typed", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                tx.send_raw(format!(r#"{{"n":{iters}}}"#)).await.unwrap();
                for _ in 0..iters {
                    match rx.next().await.unwrap().unwrap() {
                        ga::ServerEvent::ResponseOutputAudioDelta(d) => {
                            std::hint::black_box(d);
                        }
                        other => panic!("unexpected {}", other.event_type()),
                    }
                }
                start.elapsed()
            })
        })
    });
    g.bench_function("audio_delta_20ms_raw", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                tx.send_raw(format!(r#"{{"n":{iters}}}"#)).await.unwrap();
                for _ in 0..iters {
                    std::hint::black_box(rx.next_raw().await.unwrap().unwrap());
                }
                start.elapsed()
            })
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
