//! The page↔relay protocol, version 1 (`/ws`).
//!
//! **Page → relay**
//! - binary frames: microphone audio, PCM16 little-endian mono at 24 kHz, any length (the page
//!   sends 20 ms);
//! - text frames, JSON with a `type`:
//!   - `{"type":"played","item_id":"item_…","ms":1234.5}`: how much of an assistant item the
//!     page has played so far (cumulative); it drives barge-in truncation;
//!   - `{"type":"interrupt"}`: stop the assistant now;
//!   - `{"type":"text","text":"…"}`: a typed user message;
//!   - `{"type":"push_to_talk","on":true}`: turn server VAD off (push-to-talk) or back on;
//!   - `{"type":"commit"}`: push-to-talk released: commit the audio and ask for an answer.
//!
//! **Relay → page**
//! - binary frames: assistant audio, `[n: u8][item_id: n bytes UTF-8][PCM16 LE mono 24 kHz]`;
//! - text frames, JSON with a `type`: [`Down`].
//!
//! Unknown `type`s are ignored both ways, so either side may add messages within version 1.

use serde::{Deserialize, Serialize};

/// The protocol version the relay speaks (in [`Down::Ready`]).
pub const PROTOCOL_VERSION: u32 = 1;

/// The sample rate of audio both ways.
pub const SAMPLE_RATE: u32 = 24_000;

/// A text message from the page.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Up {
    /// Playback position of an assistant item.
    Played {
        /// The item.
        item_id: String,
        /// Milliseconds of it played so far.
        ms: f64,
    },
    /// Stop the assistant.
    Interrupt,
    /// A typed message.
    Text {
        /// The text.
        text: String,
    },
    /// Push-to-talk on (server VAD off) or off.
    PushToTalk {
        /// On or off.
        on: bool,
    },
    /// Commit the audio sent and ask for an answer (push-to-talk released).
    Commit,
}

/// Who said a transcript.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Speaker {
    /// The person at the page.
    User,
    /// The agent.
    Assistant,
}

/// A text message to the page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Down {
    /// The session is up.
    Ready {
        /// [`PROTOCOL_VERSION`].
        protocol: u32,
        /// The starting agent.
        agent: String,
        /// [`SAMPLE_RATE`].
        sample_rate: u32,
    },
    /// An agent starts speaking (a response started).
    Speaking {
        /// The agent.
        agent: String,
    },
    /// Transcript text of a turn: deltas as they come (`final: false`), then the whole text
    /// (`final: true`).
    Transcript {
        /// Who.
        role: Speaker,
        /// The turn's item.
        item_id: String,
        /// The agent, for the assistant.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        agent: Option<String>,
        /// The new text (a delta) or the whole text (final).
        text: String,
        /// Whether `text` is the whole turn.
        #[serde(rename = "final")]
        is_final: bool,
    },
    /// A tool call started.
    ToolStart {
        /// The agent.
        agent: String,
        /// The tool.
        tool: String,
        /// Its JSON arguments.
        arguments: String,
    },
    /// A tool call ended.
    ToolEnd {
        /// The agent.
        agent: String,
        /// The tool.
        tool: String,
        /// What the model got.
        output: String,
    },
    /// The current agent changed.
    Handoff {
        /// From.
        from: String,
        /// To.
        to: String,
    },
    /// The assistant was interrupted: drop this item's queued audio now.
    Interrupted {
        /// The item.
        item_id: String,
        /// Where it was truncated.
        audio_end_ms: u64,
    },
    /// Something went wrong; `code` says what for the relay's own limits
    /// (`too_many_sessions`, `audio_rate`, `bad_message`).
    Error {
        /// A readable message.
        message: String,
        /// A machine-readable code, when there is one.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        code: Option<String>,
    },
    /// The session ended.
    Closed {
        /// Why.
        reason: String,
    },
}

impl Down {
    /// The JSON text.
    pub fn to_json(&self) -> String {
        // Plain data always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// An assistant audio frame: `[n][item_id][pcm]`. Item ids longer than 255 bytes are cut
/// (the service's are about 25).
pub fn audio_frame(item_id: &str, pcm: &[u8]) -> Vec<u8> {
    let mut end = item_id.len().min(255);
    while !item_id.is_char_boundary(end) {
        end -= 1;
    }
    let id = &item_id.as_bytes()[..end];
    let mut out = Vec::with_capacity(1 + id.len() + pcm.len());
    out.push(id.len() as u8);
    out.extend_from_slice(id);
    out.extend_from_slice(pcm);
    out
}

/// Reads an assistant audio frame: the item id and the PCM.
pub fn parse_audio_frame(frame: &[u8]) -> Option<(&str, &[u8])> {
    let n = usize::from(*frame.first()?);
    let id = std::str::from_utf8(frame.get(1..1 + n)?).ok()?;
    Some((id, &frame[1 + n..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_have_the_documented_shape() {
        let up: Up =
            serde_json::from_str(r#"{"type":"played","item_id":"item_1","ms":120.5}"#).unwrap();
        assert_eq!(
            up,
            Up::Played {
                item_id: "item_1".into(),
                ms: 120.5
            }
        );
        assert_eq!(
            serde_json::from_str::<Up>(r#"{"type":"push_to_talk","on":true}"#).unwrap(),
            Up::PushToTalk { on: true }
        );
        let t = Down::Transcript {
            role: Speaker::Assistant,
            item_id: "i".into(),
            agent: Some("A".into()),
            text: "Hi".into(),
            is_final: false,
        };
        assert_eq!(
            t.to_json(),
            r#"{"type":"transcript","role":"assistant","item_id":"i","agent":"A","text":"Hi","final":false}"#
        );
        assert_eq!(
            Down::Ready {
                protocol: 1,
                agent: "A".into(),
                sample_rate: 24_000
            }
            .to_json(),
            r#"{"type":"ready","protocol":1,"agent":"A","sample_rate":24000}"#
        );
    }

    #[test]
    fn audio_frames_round_trip() {
        let f = audio_frame("item_abc", &[1, 2, 3, 4]);
        assert_eq!(
            parse_audio_frame(&f),
            Some(("item_abc", &[1u8, 2, 3, 4][..]))
        );
        assert_eq!(parse_audio_frame(&[]), None);
        assert_eq!(parse_audio_frame(&[5, b'a']), None);
    }
}
