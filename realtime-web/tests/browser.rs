//! The voice page in a real browser: Debian's headless Chromium with a fake microphone fed from
//! a speech-like WAV, the `web_agent` example's relay over the fake Realtime server. The page
//! is driven over the DevTools protocol: click `#start`, then watch `window.realtimeDebug`.
//!
//! Without Chromium the test is skipped with a message naming the package to install, unless
//! `REALTIME_REQUIRE_BROWSER=1` (CI), where a missing browser is a failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

#[allow(dead_code)]
#[path = "../examples/web_agent/app.rs"]
mod app;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

const RATE: u32 = 48_000;

fn find_browser() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("REALTIME_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var("PATH").unwrap_or_default();
    for name in [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ] {
        for dir in path.split(':') {
            let p = Path::new(dir).join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// Speech-like audio: a 180 Hz buzz with harmonics in 4 Hz syllables, about −20 dBFS.
fn speech(ms: u32) -> Vec<i16> {
    (0..ms * RATE / 1000)
        .map(|n| {
            let t = f64::from(n) / f64::from(RATE);
            let syll = (std::f64::consts::PI * 4.0 * t).sin().abs();
            let v: f64 = (1..=4)
                .map(|h| {
                    (2.0 * std::f64::consts::PI * 180.0 * f64::from(h) * t).sin() / f64::from(h)
                })
                .sum();
            (v * 4_500.0 * (0.3 + 0.7 * syll)) as i16
        })
        .collect()
}

fn silence(ms: u32) -> Vec<i16> {
    vec![0; (ms * RATE / 1000) as usize]
}

fn write_wav(path: &Path, samples: &[i16]) {
    let data = (samples.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + data as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&RATE.to_le_bytes());
    out.extend_from_slice(&(RATE * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(path, out).unwrap();
}

async fn http_get(port: u16, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nconnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    // DevTools keeps the socket open: read until the body is complete (content-length).
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = match tokio::time::timeout(Duration::from_secs(5), s.read(&mut chunk)).await {
            Ok(Ok(n)) => n,
            _ => 0,
        };
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            if n == 0 {
                return String::new();
            }
            continue;
        };
        let len = head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse::<usize>().ok());
        if n == 0 || len.is_some_and(|l| body.len() >= l) {
            return body.to_owned();
        }
    }
}

/// A remote-control session over a WebSocket (Chromium's DevTools protocol, Firefox's
/// WebDriver BiDi): JSON commands with ids, answered in kind; events in between are skipped.
struct Remote {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    id: u64,
}

impl Remote {
    /// The whole answer to one command.
    async fn answer(&mut self, method: &str, params: Value) -> Value {
        self.id += 1;
        let id = self.id;
        let msg = json!({"id": id, "method": method, "params": params});
        self.ws.send(Message::text(msg.to_string())).await.unwrap();
        loop {
            let m = tokio::time::timeout(Duration::from_secs(20), self.ws.next())
                .await
                .expect("the browser answered")
                .expect("the browser's socket is open")
                .unwrap();
            if let Message::Text(t) = m {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                if v["id"] == id {
                    return v;
                }
            }
        }
    }
}

/// A DevTools protocol session on one page.
struct Cdp(Remote);

impl Cdp {
    async fn call(&mut self, method: &str, params: Value) -> Value {
        let v = self.0.answer(method, params).await;
        assert!(v.get("error").is_none(), "{method}: {v}");
        v["result"].clone()
    }

    async fn eval(&mut self, expr: &str) -> Value {
        let r = self
            .call("Runtime.evaluate", json!({"expression": expr, "returnByValue": true, "awaitPromise": true, "userGesture": true}))
            .await;
        r["result"]["value"].clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_talks_listens_and_is_interrupted_in_a_real_browser() {
    let Some(browser) = find_browser() else {
        if std::env::var("REALTIME_REQUIRE_BROWSER").as_deref() == Ok("1") {
            panic!(
                "REALTIME_REQUIRE_BROWSER=1 but no Chromium was found (apt-get install chromium)"
            );
        }
        eprintln!("skipped: no Chromium found; install the Debian package `chromium` (or set REALTIME_CHROMIUM) to run the browser test");
        return;
    };
    let dir = std::env::temp_dir().join(format!("realtime-web-browser-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // The person speaks, waits for the answer, then talks over it.
    let mut audio = silence(800);
    audio.extend(speech(1_200));
    audio.extend(silence(2_200));
    audio.extend(speech(1_200));
    audio.extend(silence(10_000));
    let wav = dir.join("speech.wav");
    write_wav(&wav, &audio);

    let fake = app::fake_server().await.unwrap();
    let relay = app::app(app::model(Some(fake.base_url()))).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, relay).await });

    let profile = dir.join("profile");
    let mut chrome = tokio::process::Command::new(&browser)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--autoplay-policy=no-user-gesture-required",
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            "--remote-debugging-port=0",
            "--window-size=900,700",
        ])
        .arg(format!(
            "--use-file-for-fake-audio-capture={}%noloop",
            wav.display()
        ))
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("Chromium starts");
    let port_file = profile.join("DevToolsActivePort");
    let mut port = None;
    for _ in 0..200 {
        if let Ok(text) = std::fs::read_to_string(&port_file) {
            port = text
                .lines()
                .next()
                .and_then(|l| l.trim().parse::<u16>().ok());
            if port.is_some() {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let port = port.expect("Chromium's DevTools port");
    eprintln!("browser test: DevTools on port {port}");
    let mut page_ws = None;
    for _ in 0..50 {
        let list: Value =
            serde_json::from_str(&http_get(port, "/json/list").await).unwrap_or(Value::Null);
        page_ws = list
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["type"] == "page")
            .and_then(|t| t["webSocketDebuggerUrl"].as_str().map(str::to_owned));
        if page_ws.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (ws, _) = tokio_tungstenite::connect_async(page_ws.expect("a page target"))
        .await
        .unwrap();
    let mut cdp = Cdp(Remote { ws, id: 0 });
    eprintln!("browser test: attached to the page");
    cdp.call("Page.enable", json!({})).await;
    cdp.call("Page.navigate", json!({"url": format!("http://{addr}/")}))
        .await;
    for _ in 0..100 {
        if cdp
            .eval("document.readyState === 'complete' && !!document.getElementById('start')")
            .await
            == true
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("browser test: page loaded, clicking #start");
    cdp.eval("document.getElementById('start').click()").await;

    let mut dbg = Value::Null;
    for _ in 0..150 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        dbg = cdp
            .eval("JSON.parse(JSON.stringify(window.realtimeDebug))")
            .await;
        let roles: Vec<&str> = dbg["transcript"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["role"].as_str())
            .collect();
        if dbg["interruptions"].as_u64().unwrap_or(0) >= 1
            && roles.contains(&"user")
            && roles.contains(&"assistant")
        {
            break;
        }
    }
    // Let the turns after the barge-in land and the microphone stream on (bounded: a loaded
    // machine runs the page slower), then look at the page.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    for _ in 0..50 {
        dbg = cdp
            .eval("JSON.parse(JSON.stringify(window.realtimeDebug))")
            .await;
        if dbg["micMsSent"].as_f64().unwrap_or(0.0) > 3_000.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let shot = cdp
        .call("Page.captureScreenshot", json!({"format": "png"}))
        .await;
    let png =
        realtime_runner::protocol::audio::decode_base64(shot["data"].as_str().unwrap()).unwrap();
    let shot_path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("realtime-web-page.png");
    std::fs::write(&shot_path, png).unwrap();
    eprintln!("screenshot: {}", shot_path.display());
    let turns = cdp
        .eval("[...document.querySelectorAll('#transcript .turn')].map(e => e.textContent)")
        .await;
    eprintln!("realtimeDebug: {dbg}\nturns: {turns}");

    // The microphone's audio reached the server.
    let conn = fake.connections().first().cloned().expect("a session");
    let appended = conn
        .received()
        .iter()
        .filter(|e| e.event_type() == "input_audio_buffer.append")
        .count();
    assert!(appended > 50, "{appended} appends");
    assert!(dbg["micMsSent"].as_f64().unwrap_or(0.0) > 3_000.0, "{dbg}");
    // The answer was played, and both turns show in the DOM with the speaker.
    assert!(dbg["playedMs"].as_f64().unwrap_or(0.0) > 300.0, "{dbg}");
    let texts: Vec<String> = turns
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_str().map(str::to_owned))
        .collect();
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("You:") && t.contains("weather")),
        "{texts:?}"
    );
    assert!(
        texts.iter().any(|t| t.starts_with("Weather Agent:")),
        "{texts:?}"
    );
    // Talking over the answer interrupted it where the page was.
    assert!(dbg["interruptions"].as_u64().unwrap_or(0) >= 1, "{dbg}");
    let last = &dbg["lastInterruption"];
    let item = last["itemId"].as_str().unwrap();
    let page_ms = last["playedMs"].as_f64().unwrap();
    let truncate = conn
        .received()
        .iter()
        .map(|e| e.json())
        .find(|e| e["type"] == "conversation.item.truncate" && e["item_id"] == item)
        .expect("the interrupted item was truncated");
    let end_ms = truncate["audio_end_ms"].as_f64().unwrap();
    assert!(
        (end_ms - page_ms).abs() <= 100.0,
        "truncated at {end_ms} ms, the page had played {page_ms} ms"
    );
    assert!(page_ms > 100.0, "{dbg}");
    // And playback of that item stopped there (reports come every 40 ms).
    let now = cdp
        .eval(&format!("window.realtimeDebug.items['{item}'] || 0"))
        .await;
    assert!(
        now.as_f64().unwrap() <= page_ms + 60.0,
        "the interrupted item kept playing: {now} ms after {page_ms} ms"
    );

    drop(cdp);
    let _ = chrome.kill().await;
    server.abort();
    fake.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A WebDriver BiDi session (Firefox's remote protocol).
struct Bidi(Remote);

impl Bidi {
    async fn call(&mut self, method: &str, params: Value) -> Value {
        let v = self.0.answer(method, params).await;
        assert_eq!(v["type"], "success", "{method}: {v}");
        v["result"].clone()
    }
}

/// Firefox (when installed; CI installs only Chromium): the page starts, its worklets load,
/// and microphone audio (Firefox's fake device) reaches the relay at 24 kHz.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_starts_and_streams_the_microphone_in_firefox() {
    let path = std::env::var("PATH").unwrap_or_default();
    let Some(firefox) = ["firefox-esr", "firefox"]
        .iter()
        .flat_map(|n| path.split(':').map(move |d| Path::new(d).join(n)))
        .find(|p| p.is_file())
    else {
        eprintln!("skipped: no Firefox found (Debian package `firefox-esr`)");
        return;
    };
    let dir = std::env::temp_dir().join(format!("realtime-web-firefox-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("user.js"),
        "user_pref(\"media.navigator.permission.disabled\", true);\n\
         user_pref(\"media.navigator.streams.fake\", true);\n\
         user_pref(\"media.autoplay.default\", 0);\n",
    )
    .unwrap();
    let fake = app::fake_server().await.unwrap();
    let relay = app::app(app::model(Some(fake.base_url()))).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, relay).await });
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut ff = tokio::process::Command::new(&firefox)
        .args(["--headless", "--no-remote"])
        .arg(format!("--remote-debugging-port={port}"))
        .arg("--profile")
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("Firefox starts");
    let mut ws = None;
    for _ in 0..100 {
        if let Ok(Ok((s, _))) = tokio::time::timeout(
            Duration::from_secs(2),
            tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/session")),
        )
        .await
        {
            ws = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut bidi = Bidi(Remote {
        ws: ws.expect("Firefox's BiDi endpoint"),
        id: 0,
    });
    bidi.call("session.new", json!({"capabilities": {}})).await;
    let tree = bidi.call("browsingContext.getTree", json!({})).await;
    let context = tree["contexts"][0]["context"].as_str().unwrap().to_owned();
    bidi.call(
        "browsingContext.navigate",
        json!({"context": context, "url": format!("http://{addr}/"), "wait": "complete"}),
    )
    .await;
    let eval = |expr: &str| json!({"expression": expr, "target": {"context": context}, "awaitPromise": true, "userActivation": true});
    bidi.call(
        "script.evaluate",
        eval("document.getElementById('start').click(), true"),
    )
    .await;
    let mut dbg = Value::Null;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let r = bidi
            .call(
                "script.evaluate",
                eval("JSON.stringify(window.realtimeDebug)"),
            )
            .await;
        dbg = serde_json::from_str(r["result"]["value"].as_str().unwrap_or("null")).unwrap();
        if dbg["micMsSent"].as_f64().unwrap_or(0.0) > 1_000.0 {
            break;
        }
    }
    eprintln!("firefox realtimeDebug: {dbg}");
    if dbg["audio"]["state"] == "suspended" {
        // Headless Firefox runs audio only with an output device (e.g. PulseAudio's null sink).
        eprintln!("skipped: Firefox has no audio output device here (run PulseAudio, e.g. with module-null-sink)");
        let _ = ff.kill().await;
        server.abort();
        fake.shutdown().await;
        return;
    }
    assert_eq!(dbg["state"], "live", "{dbg}");
    assert_eq!(dbg["audio"]["state"], "running", "{dbg}");
    assert!(
        dbg["errors"].as_array().is_some_and(|e| e.is_empty()),
        "{dbg}"
    );
    assert!(dbg["micMsSent"].as_f64().unwrap_or(0.0) > 1_000.0, "{dbg}");
    let conn = fake.connections().first().cloned().expect("a session");
    let bytes: usize = conn
        .received()
        .iter()
        .filter(|e| e.event_type() == "input_audio_buffer.append")
        .filter_map(|e| {
            realtime_runner::protocol::audio::decode_base64(e.json()["audio"].as_str()?).ok()
        })
        .map(|b| b.len())
        .sum();
    // 24 kHz PCM16 is 48 bytes per ms, whatever rate Firefox's audio runs at. The page's count
    // is read after the server's: it only grows, so it covers every chunk counted above.
    let ms = bytes as f64 / 48.0;
    let r = bidi
        .call(
            "script.evaluate",
            eval("JSON.stringify(window.realtimeDebug)"),
        )
        .await;
    let later: Value =
        serde_json::from_str(r["result"]["value"].as_str().unwrap_or("null")).unwrap();
    let sent = later["micMsSent"].as_f64().unwrap();
    assert!(
        ms > 800.0 && ms <= sent + 1.0,
        "{ms} ms appended, {sent} ms sent"
    );
    let _ = ff.kill().await;
    server.abort();
    fake.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
