//! The audio helpers (`realtime_runner::audio`) driven by synthetic device callbacks: the
//! resampler filters what the new rate cannot hold, capture and playback convert between the
//! device and the API, and barge-in truncates at what the simulated speaker really played.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use realtime_agent::RealtimeAgent;
use realtime_protocol::{audio as pcm, Dialect};
use realtime_runner::audio::{read_wav, resample, write_wav, Capture, Playback, Resampler};
use realtime_runner::{PlaybackTracker, RunConfig, SessionEvent, SessionSettings};
use realtime_testkit::{tone, FakeServerConfig, ResponsePart, ResponsePlan, Scripted};
use tests::{start, WAIT};

fn sine(freq: f64, rate: u32, ms: u32, amplitude: f64) -> Vec<i16> {
    let n = rate as usize * ms as usize / 1000;
    (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            (amplitude * 32767.0 * (2.0 * std::f64::consts::PI * freq * t).sin()) as i16
        })
        .collect()
}

fn rms(s: &[i16]) -> f64 {
    (s.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / s.len().max(1) as f64).sqrt()
}

/// Zero crossings per second, away from the edges.
fn crossings_per_s(s: &[i16], rate: u32) -> f64 {
    let mid = &s[s.len() / 10..s.len() * 9 / 10];
    let n = mid.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
    n as f64 * f64::from(rate) / mid.len() as f64
}

#[test]
fn the_resampler_keeps_the_band_and_filters_what_would_alias() {
    // 1 kHz at 48 kHz → 24 kHz: same tone, same level, the right length.
    let input = sine(1000.0, 48_000, 1000, 0.5);
    let out = resample(&input, 48_000, 24_000).unwrap();
    assert_eq!(out.len(), 24_000);
    let gain = rms(&out[2400..21600]) / rms(&input);
    assert!((0.97..1.03).contains(&gain), "gain {gain}");
    let f = crossings_per_s(&out, 24_000) / 2.0;
    assert!((990.0..1010.0).contains(&f), "frequency {f}");
    // 15 kHz cannot exist at 24 kHz: filtered out, where linear interpolation folds it back
    // to an audible 9 kHz.
    let high = sine(15_000.0, 48_000, 1000, 0.5);
    let filtered = resample(&high, 48_000, 24_000).unwrap();
    let linear = pcm::resample_linear(&high, 48_000, 24_000);
    let (kept, aliased) = (
        rms(&filtered[2400..21600]) / rms(&high),
        rms(&linear) / rms(&high),
    );
    assert!(kept < 0.01, "the filter let {kept} through");
    assert!(aliased > 0.3, "linear interpolation aliases ({aliased})");
    // Upsampling 8 kHz → 24 kHz keeps a 1 kHz tone.
    let up = resample(&sine(1000.0, 8_000, 500, 0.5), 8_000, 24_000).unwrap();
    assert_eq!(up.len(), 12_000);
    let f = crossings_per_s(&up, 24_000) / 2.0;
    assert!((990.0..1010.0).contains(&f), "frequency {f}");
    // Same rate: untouched.
    assert_eq!(resample(&input, 48_000, 48_000).unwrap(), input);
    assert!(Resampler::new(0, 24_000).is_err());
}

#[test]
fn streaming_in_any_chunk_sizes_equals_one_pass() {
    let input = sine(440.0, 44_100, 700, 0.4);
    let whole = resample(&input, 44_100, 24_000).unwrap();
    let mut r = Resampler::new(44_100, 24_000).unwrap();
    let mut streamed = Vec::new();
    let mut at = 0;
    for size in [1usize, 7, 441, 1000, 3, 2048].iter().cycle() {
        if at >= input.len() {
            break;
        }
        let end = (at + size).min(input.len());
        r.process(&input[at..end], &mut streamed);
        at = end;
    }
    r.flush(&mut streamed);
    assert_eq!(streamed, whole);
    assert_eq!(streamed.len(), (700 * 24_000) / 1000);
}

#[test]
fn capture_turns_device_callbacks_into_api_chunks_and_gates() {
    // 48 kHz stereo floats in callbacks of 441 frames: one second.
    let mut capture = Capture::new(48_000, 2).unwrap();
    let mono = sine(500.0, 48_000, 1000, 0.5);
    let stereo: Vec<f32> = mono
        .iter()
        .flat_map(|&s| {
            let v = f32::from(s) / 32768.0;
            [v, v]
        })
        .collect();
    let mut chunks = Vec::new();
    for cb in stereo.chunks(441 * 2) {
        capture.push_f32(cb);
        while let Some(c) = capture.next_chunk() {
            chunks.push(c);
        }
    }
    // 20 ms of 24 kHz PCM16 each; all but the filter's last few ms came out.
    assert!(chunks.iter().all(|c| c.len() == 960));
    assert!((48..=50).contains(&chunks.len()), "{} chunks", chunks.len());
    let samples = pcm::pcm16_to_samples(&chunks.concat());
    let f = crossings_per_s(&samples, 24_000) / 2.0;
    assert!((495.0..505.0).contains(&f), "frequency {f}");
    // Gated (half-duplex while the assistant speaks): silence, same timing.
    capture.set_gated(true);
    let mut gated = Vec::new();
    for cb in stereo.chunks(441 * 2).take(50) {
        capture.push_f32(cb);
        while let Some(c) = capture.next_chunk() {
            gated.push(c);
        }
    }
    // The first chunk may still hold audio captured before the gate closed.
    assert!(gated.len() >= 20, "{}", gated.len());
    assert!(gated[1..].iter().all(|c| c.iter().all(|&b| b == 0)));
    assert!(capture.gated_samples() > 0);
    // 16-bit mono callbacks at 16 kHz.
    let mut c16 = Capture::new(16_000, 1).unwrap().with_chunk_ms(40);
    c16.push_i16(&sine(300.0, 16_000, 200, 0.3));
    let n = std::iter::from_fn(|| c16.next_chunk()).count();
    assert_eq!(n, 4);
}

#[test]
fn playback_plays_prebuffers_feeds_the_tracker_and_flushes_at_once() {
    let tracker = PlaybackTracker::new();
    let playback = Playback::new(48_000, 2, tracker.clone())
        .unwrap()
        .with_prebuffer_ms(40);
    let item = realtime_protocol::ItemId::from("item_a");
    let audio = pcm::samples_to_pcm16(&sine(440.0, 24_000, 1000, 0.5));
    // 10 ms callbacks: 480 stereo frames.
    let mut out = vec![1.0f32; 960];
    // Nothing queued: silence, and nothing reported played.
    playback.fill_f32(&mut out);
    assert!(out.iter().all(|&s| s == 0.0));
    assert_eq!(tracker.played_ms(&item, 0), None);
    // 20 ms queued, below the 40 ms prebuffer: still silence.
    playback.push(&item, 0, &audio[..960]);
    playback.fill_f32(&mut out);
    assert!(out.iter().all(|&s| s == 0.0));
    // The rest arrives: playback starts; both channels carry the tone.
    playback.push(&item, 0, &audio[960..]);
    playback.end_item(&item, 0);
    for _ in 0..30 {
        playback.fill_f32(&mut out);
    }
    assert!(out.chunks(2).all(|f| f[0] == f[1]));
    assert!(out.iter().any(|&s| s.abs() > 0.3));
    let played = tracker.played_ms(&item, 0).unwrap();
    assert!((played - 300.0).abs() < 0.01, "played {played} ms");
    assert!(playback.is_active());
    assert!(
        (playback.queued_ms() - 700.0).abs() < 1.0,
        "{}",
        playback.queued_ms()
    );
    // Barge-in: everything queued goes at once; the tracker keeps what was heard.
    playback.interrupt();
    playback.fill_f32(&mut out);
    assert!(out.iter().all(|&s| s == 0.0));
    // The device may still sound for the echo tail (400 ms): the half-duplex gate waits.
    assert!(playback.is_active());
    for _ in 0..38 {
        playback.fill_f32(&mut out);
    }
    assert!(playback.is_active());
    playback.fill_f32(&mut out);
    assert!(!playback.is_active());
    assert_eq!(tracker.played_ms(&item, 0), Some(played));
    let stats = playback.stats();
    assert!((stats.interrupted_ms - 700.0).abs() < 1.0, "{stats:?}");
    assert!((stats.played_ms - 300.0).abs() < 0.01);
    assert_eq!(stats.underruns, 0);
    // A second item that runs dry mid-answer counts an underrun; i16 devices work too.
    let next = realtime_protocol::ItemId::from("item_b");
    playback.push(&next, 0, &audio[..4800]);
    let mut out16 = vec![0i16; 960];
    for _ in 0..12 {
        playback.fill_i16(&mut out16);
    }
    assert_eq!(playback.stats().underruns, 1);
    // 100 ms pushed; what the resampler still holds for the next chunk is not played yet.
    let heard = tracker.played_ms(&next, 0).unwrap();
    assert!((80.0..=100.0).contains(&heard), "{heard}");
}

#[test]
fn wav_files_round_trip_and_any_format_reads_as_24k_mono() {
    let dir = std::env::temp_dir().join(format!("realtime-audio-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tone.wav");
    let samples = sine(1000.0, 24_000, 250, 0.5);
    write_wav(&path, &pcm::samples_to_pcm16(&samples), 24_000).unwrap();
    let back = read_wav(&path).unwrap();
    assert_eq!(back.samples, samples);
    assert_eq!((back.file_rate, back.file_channels), (24_000, 1));
    // A 44.1 kHz stereo float file.
    let float = dir.join("float.wav");
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 44_100,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(&float, spec).unwrap();
    for s in sine(600.0, 44_100, 500, 0.5) {
        let v = f32::from(s) / 32768.0;
        w.write_sample(v).unwrap();
        w.write_sample(v).unwrap();
    }
    w.finalize().unwrap();
    let read = read_wav(&float).unwrap();
    assert_eq!((read.sample_rate, read.samples.len()), (24_000, 12_000));
    let f = crossings_per_s(&read.samples, 24_000) / 2.0;
    assert!((595.0..605.0).contains(&f), "frequency {f}");
    let missing = read_wav(dir.join("missing.wav")).unwrap_err();
    assert!(missing.to_string().contains("missing.wav"), "{missing}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn barge_in_truncates_at_what_the_simulated_speaker_played() {
    for dialect in [Dialect::Ga, Dialect::Beta] {
        let server = FakeServerConfig::default().with_responder(Scripted::new([
            ResponsePlan::new([ResponsePart::Audio {
                pcm: tone(440.0, 3000),
                transcript: "a long answer".into(),
            }]),
        ]));
        let config = RunConfig::default()
            .with_dialect(dialect)
            .with_settings(SessionSettings::default().with_turn_detection(None));
        let mut h = start(
            server,
            RealtimeAgent::<()>::builder("A").build().unwrap(),
            config,
            (),
        )
        .await;
        let playback = Playback::new(44_100, 1, h.session.playback_tracker()).unwrap();
        h.session.send_message("talk").await.unwrap();
        // The whole answer arrives long before it is heard.
        let mut item = None;
        loop {
            match h.until("audio", |_| true).await {
                SessionEvent::Audio {
                    pcm,
                    item_id,
                    content_index,
                    ..
                } => {
                    playback.push(&item_id, content_index, &pcm);
                    item = Some(item_id);
                }
                SessionEvent::AudioEnd {
                    item_id,
                    content_index,
                    ..
                } => {
                    playback.end_item(&item_id, content_index);
                    break;
                }
                _ => {}
            }
        }
        let item = item.unwrap();
        assert!(playback.queued_ms() > 2990.0, "{}", playback.queued_ms());
        // The speaker plays 750 ms (75 callbacks of 441 frames), then the user interrupts.
        let mut out = vec![0f32; 441];
        for _ in 0..75 {
            playback.fill_f32(&mut out);
        }
        h.session.interrupt().await.unwrap();
        let truncate = h
            .conn
            .wait_for("conversation.item.truncate", WAIT)
            .await
            .unwrap()
            .json();
        assert_eq!(truncate["item_id"], item.as_str());
        assert_eq!(truncate["audio_end_ms"], 750, "{dialect:?}");
        h.until("audio_interrupted", |e| {
            matches!(e, SessionEvent::AudioInterrupted { .. })
        })
        .await;
        playback.interrupt();
        playback.fill_f32(&mut out);
        assert!(out.iter().all(|&s| s == 0.0));
        h.finish().await;
    }
}
