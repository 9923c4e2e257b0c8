//! [`Replay`]: the server's side of a recorded session (written by `realtime-runner`'s
//! `Recording`), played back to a client as a regression test.
//!
//! For each connection the server accepts (the k-th plays the recording's connection k), the
//! replay sends the server frames that came first, then waits for the client's events: each
//! must match the next recorded client event (the consecutive client events between two
//! server frames may come in any order), and then the server frames that followed it in the
//! recording are sent, at the recorded pace or as fast as possible. What is compared: the
//! type and every field, except event ids (ignored), audio payloads (compared by length),
//! `audio_end_ms` of a truncate (within a tolerance, since it depends on timing), and ids
//! (`item_id`, `call_id`, `previous_item_id`, `response_id`, `id`): an id the client chose
//! differently is mapped, and later server frames carry the client's id. The first
//! difference ends the replay: the connection is closed (code 4000) and
//! [`Replay::outcome`] reports a [`ReplayError`] naming the recorded and the actual event
//! and where they differ.

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;

/// Fields holding ids: compared through the id map, not literally.
const ID_FIELDS: [&str; 5] = [
    "id",
    "item_id",
    "call_id",
    "previous_item_id",
    "response_id",
];

/// How fast a replay sends the server's frames.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplayPacing {
    /// Each server frame as long after the client event before it as in the recording:
    /// needed when timing matters (barge-in positions).
    #[default]
    Recorded,
    /// As fast as the socket takes them.
    Fast,
}

/// Why a replay failed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ReplayError {
    /// The recording could not be read.
    Load {
        /// The line (from 1; 0 for the file itself).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The client's event differs from the recorded one.
    Diverged {
        /// The connection (from 1).
        conn: usize,
        /// The client event, counted from 1 on this connection.
        event: usize,
        /// The recorded event.
        recorded: Box<Value>,
        /// The client's event.
        actual: Box<Value>,
        /// Where they differ: one `path: recorded != actual` per line.
        difference: String,
    },
    /// The client sent an event after the recording's last one.
    Unexpected {
        /// The connection.
        conn: usize,
        /// The client's event.
        actual: Box<Value>,
    },
    /// The client closed the connection while recorded events were still to come.
    ClosedEarly {
        /// The connection.
        conn: usize,
        /// The next recorded client event.
        expected: Box<Value>,
    },
    /// The recording of this connection stops before the connection ended (the file was
    /// cut, or the recording hit its size limit): nothing more can be played.
    CutShort {
        /// The connection.
        conn: usize,
        /// What the recording says about it, if anything.
        note: Option<String>,
    },
    /// More connections were opened than the recording has.
    NoSuchConnection {
        /// The connection.
        conn: usize,
    },
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Load { line: 0, message } => write!(f, "{message}"),
            Self::Load { line, message } => write!(f, "recording line {line}: {message}"),
            Self::Diverged {
                conn,
                event,
                recorded,
                actual,
                difference,
            } => write!(
                f,
                "replay diverged at client event {event} of connection {conn}: recorded `{}`, got `{}`\n{difference}\nrecorded: {recorded}\nactual:   {actual}",
                kind(recorded),
                kind(actual)
            ),
            Self::Unexpected { conn, actual } => write!(
                f,
                "connection {conn} sent `{}` after the recording's last event: {actual}",
                kind(actual)
            ),
            Self::ClosedEarly { conn, expected } => write!(
                f,
                "connection {conn} closed before the recorded `{}`: {expected}",
                kind(expected)
            ),
            Self::NoSuchConnection { conn } => {
                write!(f, "the recording has no connection {conn}")
            }
            Self::CutShort { conn, note } => {
                write!(f, "the recording of connection {conn} stops before its end")?;
                match note {
                    Some(n) => write!(f, " ({n})"),
                    None => write!(f, " (the file was cut or is incomplete)"),
                }
            }
        }
    }
}

impl std::error::Error for ReplayError {}

fn kind(v: &Value) -> &str {
    v.get("type").and_then(Value::as_str).unwrap_or("?")
}

#[derive(Debug, Clone)]
struct Frame {
    client: bool,
    t_ms: f64,
    json: Value,
}

/// A loaded recording and the outcome of each connection that replayed it. Share it (`Arc`)
/// between the server's config and the test.
#[derive(Debug)]
pub struct Replay {
    conns: Vec<Vec<Frame>>,
    /// Whether each connection's end was recorded.
    ended: Vec<bool>,
    pacing: ReplayPacing,
    tolerance_ms: u64,
    /// Whether the recording says it is incomplete (cut at its size limit, or frames lost).
    incomplete: Option<String>,
    outcomes: Mutex<HashMap<usize, Result<(), ReplayError>>>,
    done: Notify,
}

impl Replay {
    /// Reads a recording file.
    ///
    /// # Errors
    /// [`ReplayError::Load`] naming the line at fault.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ReplayError> {
        let text = std::fs::read_to_string(path.as_ref()).map_err(|e| ReplayError::Load {
            line: 0,
            message: format!("cannot read {}: {e}", path.as_ref().display()),
        })?;
        Self::parse(&text)
    }

    /// Reads a recording from its text.
    ///
    /// # Errors
    /// [`ReplayError::Load`] naming the line at fault: not JSON, no header, a frame without
    /// its fields, or nothing recorded.
    pub fn parse(text: &str) -> Result<Self, ReplayError> {
        let load = |line: usize, message: String| ReplayError::Load { line, message };
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let (_, header) = lines
            .next()
            .ok_or_else(|| load(1, "the recording is empty".into()))?;
        let header: Value =
            serde_json::from_str(header).map_err(|e| load(1, format!("not JSON: {e}")))?;
        if header.get("realtime_recording").and_then(Value::as_u64) != Some(1) {
            return Err(load(
                1,
                "not a recording (no `realtime_recording: 1` header)".into(),
            ));
        }
        let mut conns: Vec<Vec<Frame>> = Vec::new();
        let mut ended: Vec<bool> = Vec::new();
        let mut incomplete = None;
        for (i, line) in lines {
            let n = i + 1;
            let v: Value = serde_json::from_str(line).map_err(|e| {
                load(
                    n,
                    format!("not JSON ({e}); the file may be truncated or corrupted"),
                )
            })?;
            if let Some(cut) = v.get("cut").and_then(Value::as_str) {
                incomplete = Some(cut.to_owned());
                continue;
            }
            if let Some(lost) = v.get("incomplete") {
                incomplete = Some(format!("{lost} frames were not recorded"));
                continue;
            }
            let conn = v
                .get("conn")
                .and_then(Value::as_u64)
                .filter(|c| *c >= 1)
                .ok_or_else(|| load(n, "a frame without `conn`".into()))?;
            let at = usize::try_from(conn - 1).unwrap_or(usize::MAX);
            if at > 1024 {
                return Err(load(n, format!("connection {conn} is out of range")));
            }
            if conns.len() <= at {
                conns.resize_with(at + 1, Vec::new);
                ended.resize(at + 1, false);
            }
            if v.get("end").and_then(Value::as_bool) == Some(true) {
                ended[at] = true;
                continue;
            }
            let client = match v.get("dir").and_then(Value::as_str) {
                Some("client") => true,
                Some("server") => false,
                other => return Err(load(n, format!("`dir` is {other:?}, not client or server"))),
            };
            let t_ms = v.get("t_ms").and_then(Value::as_f64).unwrap_or(0.0);
            let json = match v.get("frame") {
                Some(f @ Value::Object(_)) => f.clone(),
                _ => return Err(load(n, "a frame that is not a JSON object".into())),
            };
            conns[at].push(Frame { client, t_ms, json });
        }
        if conns.iter().all(Vec::is_empty) {
            return Err(load(0, "the recording holds no frames".into()));
        }
        Ok(Self {
            conns,
            ended,
            pacing: ReplayPacing::default(),
            tolerance_ms: 300,
            incomplete,
            outcomes: Mutex::default(),
            done: Notify::new(),
        })
    }

    /// Sets the pacing (default [`ReplayPacing::Recorded`]).
    pub fn with_pacing(mut self, pacing: ReplayPacing) -> Self {
        self.pacing = pacing;
        self
    }

    /// How far a truncate's `audio_end_ms` may be from the recorded one (default 300 ms).
    pub fn with_truncate_tolerance_ms(mut self, ms: u64) -> Self {
        self.tolerance_ms = ms;
        self
    }

    /// Connections in the recording.
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// Why the recording is incomplete, when it says so.
    pub fn incomplete(&self) -> Option<&str> {
        self.incomplete.as_deref()
    }

    /// The outcome of connection `conn` (from 1) once its replay has ended, waiting up to
    /// `timeout`; `None` if it has not ended by then.
    pub async fn outcome(&self, conn: usize, timeout: Duration) -> Option<Result<(), ReplayError>> {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.done.notified();
            if let Some(r) = self.outcomes.lock().ok()?.get(&conn) {
                return Some(r.clone());
            }
            tokio::time::timeout_at(deadline, notified).await.ok()?;
        }
    }

    fn finish(&self, conn: usize, result: Result<(), ReplayError>) {
        if let Ok(mut o) = self.outcomes.lock() {
            o.entry(conn).or_insert(result);
        }
        self.done.notify_waiters();
    }

    /// Plays connection `conn` on `ws`.
    pub(crate) async fn serve(
        &self,
        ws: WebSocketStream<TcpStream>,
        conn: usize,
        cancel: CancellationToken,
    ) {
        let (mut sink, mut stream) = ws.split();
        let Some(frames) = self.conns.get(conn - 1) else {
            self.finish(conn, Err(ReplayError::NoSuchConnection { conn }));
            let _ = sink
                .send(close(4000, "the recording has no such connection"))
                .await;
            return;
        };
        let mut ids: HashMap<String, String> = HashMap::new();
        let mut at = 0;
        let mut matched_events = 0;
        // When the last client event matched, and its recorded time: the pacing's anchor.
        let mut anchor = (Instant::now(), frames.first().map_or(0.0, |f| f.t_ms));
        loop {
            // The server frames that come next.
            while let Some(f) = frames.get(at).filter(|f| !f.client) {
                if self.pacing == ReplayPacing::Recorded {
                    let wait = Duration::from_secs_f64((f.t_ms - anchor.1).max(0.0) / 1000.0);
                    tokio::select! {
                        () = cancel.cancelled() => return,
                        () = tokio::time::sleep_until(anchor.0 + wait) => {}
                    }
                }
                let text = expand(&f.json, &ids).to_string();
                if sink.send(Message::text(text)).await.is_err() {
                    return;
                }
                at += 1;
            }
            if at == frames.len() && !self.ended.get(conn - 1).copied().unwrap_or(false) {
                self.finish(
                    conn,
                    Err(ReplayError::CutShort {
                        conn,
                        note: self.incomplete.clone(),
                    }),
                );
                let _ = sink.send(close(4000, "the recording stops here")).await;
                return;
            }
            // The client events expected next, in any order among themselves.
            let batch_end = frames[at..]
                .iter()
                .position(|f| !f.client)
                .map_or(frames.len(), |p| at + p);
            let mut pending: Vec<usize> = (at..batch_end).collect();
            while !pending.is_empty() || at == frames.len() {
                let msg = tokio::select! {
                    () = cancel.cancelled() => return,
                    m = stream.next() => m,
                };
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t.to_string(),
                    Some(Ok(Message::Close(_)) | Err(_)) | None => {
                        let result = match pending.first() {
                            Some(&i) => Err(ReplayError::ClosedEarly {
                                conn,
                                expected: Box::new(frames[i].json.clone()),
                            }),
                            None => Ok(()),
                        };
                        self.finish(conn, result);
                        return;
                    }
                    Some(Ok(_)) => continue,
                };
                let actual: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
                matched_events += 1;
                if at == frames.len() {
                    self.finish(
                        conn,
                        Err(ReplayError::Unexpected {
                            conn,
                            actual: Box::new(actual),
                        }),
                    );
                    let _ = sink
                        .send(close(4000, "replay: unexpected client event"))
                        .await;
                    return;
                }
                let hit = pending.iter().position(|&i| {
                    let mut trial = ids.clone();
                    let same = same_event(&frames[i].json, &actual, self.tolerance_ms, &mut trial);
                    if same {
                        ids = trial;
                    }
                    same
                });
                match hit {
                    Some(p) => {
                        let i = pending.remove(p);
                        anchor = (Instant::now(), frames[i].t_ms);
                    }
                    None => {
                        let recorded = frames[pending[0]].json.clone();
                        let difference = differences(&normalize(&recorded), &normalize(&actual));
                        self.finish(
                            conn,
                            Err(ReplayError::Diverged {
                                conn,
                                event: matched_events,
                                recorded: Box::new(recorded),
                                actual: Box::new(actual),
                                difference,
                            }),
                        );
                        let _ = sink.send(close(4000, "replay diverged")).await;
                        return;
                    }
                }
            }
            // Once everything recorded was played and matched, the outcome is decided when
            // the client closes (an extra event before that is a difference too).
            at = batch_end;
        }
    }
}

fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    }))
}

/// A recorded server frame as sent: audio placeholders become silence of their length, and
/// ids the client chose differently are the client's.
fn expand(v: &Value, ids: &HashMap<String, String>) -> Value {
    match v {
        Value::Object(o) => {
            if let Some(bytes) = o
                .get("$audio")
                .and_then(|a| a.get("bytes"))
                .and_then(Value::as_u64)
            {
                let n = usize::try_from(bytes).unwrap_or(0);
                return Value::String(realtime_protocol::audio::encode_base64(&vec![0u8; n]));
            }
            let mut out = serde_json::Map::with_capacity(o.len());
            for (k, val) in o {
                let val = match val {
                    Value::String(s) if ID_FIELDS.contains(&k.as_str()) => {
                        Value::String(ids.get(s).cloned().unwrap_or_else(|| s.clone()))
                    }
                    other => expand(other, ids),
                };
                out.insert(k.clone(), val);
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| expand(x, ids)).collect()),
        other => other.clone(),
    }
}

/// An event as compared: no event id, audio as its length.
fn normalize(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("event_id");
        if let Some(audio) = o.get_mut("audio") {
            let bytes = match &*audio {
                Value::String(b64) => realtime_protocol::audio::decode_base64(b64)
                    .map(|p| p.len())
                    .unwrap_or(0),
                other => other
                    .pointer("/$audio/bytes")
                    .and_then(Value::as_u64)
                    .and_then(|b| usize::try_from(b).ok())
                    .unwrap_or(0),
            };
            *audio = json!({ "bytes": bytes });
        }
    }
    v
}

/// Whether the client's event is the recorded one (see the module docs); new id pairs go
/// into `ids`.
fn same_event(
    recorded: &Value,
    actual: &Value,
    tolerance_ms: u64,
    ids: &mut HashMap<String, String>,
) -> bool {
    let (r, a) = (normalize(recorded), normalize(actual));
    if kind(&r) != kind(&a) {
        return false;
    }
    if kind(&r) == "conversation.item.truncate" {
        let end = |v: &Value| v.get("audio_end_ms").and_then(Value::as_u64);
        match (end(&r), end(&a)) {
            (Some(x), Some(y)) if x.abs_diff(y) <= tolerance_ms => {}
            _ => return false,
        }
        let strip = |mut v: Value| {
            if let Some(o) = v.as_object_mut() {
                o.remove("audio_end_ms");
            }
            v
        };
        return same_value(&strip(r), &strip(a), None, ids);
    }
    same_value(&r, &a, None, ids)
}

fn same_value(r: &Value, a: &Value, key: Option<&str>, ids: &mut HashMap<String, String>) -> bool {
    match (r, a) {
        (Value::String(x), Value::String(y)) if key.is_some_and(|k| ID_FIELDS.contains(&k)) => {
            match ids.get(x) {
                Some(mapped) => mapped == y,
                None => {
                    ids.insert(x.clone(), y.clone());
                    true
                }
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter().all(|(k, xv)| {
                    y.get(k)
                        .is_some_and(|yv| same_value(xv, yv, Some(k.as_str()), ids))
                })
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(xv, yv)| same_value(xv, yv, key, ids))
        }
        (x, y) => x == y,
    }
}

/// Where two events differ, as `path: recorded != actual` lines (ids not counted).
fn differences(r: &Value, a: &Value) -> String {
    let mut out = Vec::new();
    diff_into("", r, a, &mut out);
    if out.is_empty() {
        out.push("(only in ids or within the truncate tolerance)".into());
    }
    let more = out.len().saturating_sub(8);
    out.truncate(8);
    if more > 0 {
        out.push(format!("… and {more} more"));
    }
    out.join("\n")
}

fn diff_into(path: &str, r: &Value, a: &Value, out: &mut Vec<String>) {
    let last = path.rsplit('/').next().unwrap_or_default();
    if ID_FIELDS.contains(&last) {
        return;
    }
    match (r, a) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = format!("{path}/{k}");
                match (x.get(k), y.get(k)) {
                    (Some(xv), Some(yv)) => diff_into(&p, xv, yv, out),
                    (Some(xv), None) => out.push(format!("{p}: {xv} != (missing)")),
                    (None, Some(yv)) => out.push(format!("{p}: (missing) != {yv}")),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (xv, yv)) in x.iter().zip(y).enumerate() {
                diff_into(&format!("{path}/{i}"), xv, yv, out);
            }
        }
        (x, y) if x != y => out.push(format!(
            "{}: {x} != {y}",
            if path.is_empty() { "/" } else { path }
        )),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_map_event_ids_vanish_and_truncates_have_a_tolerance() {
        let mut ids = HashMap::new();
        let r = json!({"type": "conversation.item.create", "event_id": "a", "item": {"id": "item_1", "type": "function_call_output", "call_id": "c1", "output": "sunny"}});
        let a = json!({"type": "conversation.item.create", "event_id": "b", "item": {"id": "mine", "type": "function_call_output", "call_id": "c1", "output": "sunny"}});
        assert!(same_event(&r, &a, 0, &mut ids));
        assert_eq!(ids.get("item_1").map(String::as_str), Some("mine"));
        // Later server frames carry the client's id.
        let sent = expand(
            &json!({"type": "conversation.item.done", "item": {"id": "item_1"}}),
            &ids,
        );
        assert_eq!(sent["item"]["id"], "mine");
        // A mapped id must stay mapped the same way.
        let a2 = json!({"type": "conversation.item.delete", "item_id": "other"});
        let r2 = json!({"type": "conversation.item.delete", "item_id": "item_1"});
        assert!(!same_event(&r2, &a2, 0, &mut ids));
        let t = |ms: u64| json!({"type": "conversation.item.truncate", "item_id": "i", "content_index": 0, "audio_end_ms": ms});
        assert!(same_event(&t(1000), &t(1200), 300, &mut HashMap::new()));
        assert!(!same_event(&t(1000), &t(1400), 300, &mut HashMap::new()));
    }

    #[test]
    fn audio_is_compared_by_length_and_expanded_as_silence() {
        let b64 = realtime_protocol::audio::encode_base64(&[7u8; 960]);
        let r = json!({"type": "input_audio_buffer.append", "audio": {"$audio": {"bytes": 960, "fnv1a64": "x"}}});
        let a = json!({"type": "input_audio_buffer.append", "audio": b64});
        assert!(same_event(&r, &a, 0, &mut HashMap::new()));
        let short = json!({"type": "input_audio_buffer.append", "audio": realtime_protocol::audio::encode_base64(&[7u8; 10])});
        assert!(!same_event(&r, &short, 0, &mut HashMap::new()));
        let delta = expand(
            &json!({"type": "response.output_audio.delta", "delta": {"$audio": {"bytes": 4}}}),
            &HashMap::new(),
        );
        assert_eq!(
            delta["delta"],
            realtime_protocol::audio::encode_base64(&[0u8; 4])
        );
    }

    #[test]
    fn differences_name_the_path() {
        let d = differences(
            &json!({"type": "x", "item": {"output": "sunny", "call_id": "a"}}),
            &json!({"type": "x", "item": {"output": "rainy", "call_id": "b"}}),
        );
        assert_eq!(d, r#"/item/output: "sunny" != "rainy""#);
    }

    #[test]
    fn broken_recordings_are_clear_errors() {
        let cases = [
            ("", "empty"),
            ("{\"x\":1}", "not a recording"),
            ("{\"realtime_recording\":1}", "holds no frames"),
            ("{\"realtime_recording\":1}\n{\"conn\":1,\"dir\":\"server\",\"frame\":{\"type\":\"a\"}}\n{\"conn\":1,\"dir\":\"cli", "line 3"),
            ("{\"realtime_recording\":1}\n{\"conn\":1,\"dir\":\"up\",\"frame\":{}}", "not client or server"),
        ];
        for (text, want) in cases {
            let err = Replay::parse(text).unwrap_err().to_string();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }
}
