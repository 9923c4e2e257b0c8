//! Twilio Media Streams messages, both ways, as they travel on the WebSocket.
//!
//! Twilio sends `connected`, `start`, `media`, `mark` (the echo of one of ours), `dtmf` and
//! `stop`; a bidirectional stream accepts `media`, `mark` and `clear` back. Numbers that Twilio
//! sends as strings (`sequenceNumber`, `chunk`, `timestamp`) stay strings here.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A message from Twilio.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "event", rename_all = "lowercase")]
#[non_exhaustive]
pub enum Inbound {
    /// The first message: the protocol to expect.
    Connected {
        /// `Call`.
        #[serde(default)]
        protocol: String,
        /// The protocol version, e.g. `1.0.0`.
        #[serde(default)]
        version: String,
    },
    /// The stream's metadata, once, after `connected`.
    Start {
        /// The message's sequence number.
        #[serde(rename = "sequenceNumber", default)]
        sequence_number: Option<String>,
        /// The stream.
        #[serde(rename = "streamSid", default)]
        stream_sid: Option<String>,
        /// What the stream carries.
        start: StreamStart,
    },
    /// 20 ms of the caller's audio.
    Media {
        /// The message's sequence number.
        #[serde(rename = "sequenceNumber", default)]
        sequence_number: Option<String>,
        /// The stream.
        #[serde(rename = "streamSid", default)]
        stream_sid: Option<String>,
        /// The audio.
        media: InboundMedia,
    },
    /// The echo of a mark we sent: the audio before it has played (or a `clear` dropped it).
    Mark {
        /// The message's sequence number.
        #[serde(rename = "sequenceNumber", default)]
        sequence_number: Option<String>,
        /// The stream.
        #[serde(rename = "streamSid", default)]
        stream_sid: Option<String>,
        /// The mark.
        mark: MarkName,
    },
    /// A key the caller pressed.
    Dtmf {
        /// The message's sequence number.
        #[serde(rename = "sequenceNumber", default)]
        sequence_number: Option<String>,
        /// The stream.
        #[serde(rename = "streamSid", default)]
        stream_sid: Option<String>,
        /// The key.
        dtmf: Dtmf,
    },
    /// The stream ended (the call hung up, or the TwiML moved on).
    Stop {
        /// The message's sequence number.
        #[serde(rename = "sequenceNumber", default)]
        sequence_number: Option<String>,
        /// The stream.
        #[serde(rename = "streamSid", default)]
        stream_sid: Option<String>,
        /// The call.
        #[serde(default)]
        stop: StreamStop,
    },
}

/// The `start` message's metadata.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct StreamStart {
    /// The Twilio account.
    #[serde(default)]
    pub account_sid: String,
    /// The stream.
    #[serde(default)]
    pub stream_sid: String,
    /// The call.
    #[serde(default)]
    pub call_sid: String,
    /// The tracks streamed, e.g. `["inbound"]`.
    #[serde(default)]
    pub tracks: Vec<String>,
    /// The `<Parameter>`s of the TwiML `<Stream>`.
    #[serde(default)]
    pub custom_parameters: BTreeMap<String, String>,
    /// The audio format.
    #[serde(default)]
    pub media_format: MediaFormat,
}

/// The stream's audio format.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct MediaFormat {
    /// `audio/x-mulaw`.
    pub encoding: String,
    /// 8000.
    pub sample_rate: u32,
    /// 1.
    pub channels: u32,
}

impl Default for MediaFormat {
    fn default() -> Self {
        Self {
            encoding: "audio/x-mulaw".to_owned(),
            sample_rate: 8_000,
            channels: 1,
        }
    }
}

/// The caller's audio in a `media` message.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct InboundMedia {
    /// `inbound` (the caller) or `outbound`.
    #[serde(default)]
    pub track: String,
    /// The chunk number, from 1.
    #[serde(default)]
    pub chunk: String,
    /// Milliseconds since the stream started.
    #[serde(default)]
    pub timestamp: String,
    /// Base64 µ-law 8 kHz mono, no header.
    pub payload: String,
}

/// A mark's name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct MarkName {
    /// The name we gave it.
    pub name: String,
}

/// A key press.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct Dtmf {
    /// `inbound_track`.
    #[serde(default)]
    pub track: String,
    /// `0`–`9`, `*` or `#`.
    pub digit: String,
}

/// The `stop` message's metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct StreamStop {
    /// The Twilio account.
    #[serde(default)]
    pub account_sid: String,
    /// The call.
    #[serde(default)]
    pub call_sid: String,
}

/// A message to Twilio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
#[non_exhaustive]
pub enum Outbound {
    /// Audio to play to the caller.
    Media {
        /// The stream.
        #[serde(rename = "streamSid")]
        stream_sid: String,
        /// The audio.
        media: OutboundMedia,
    },
    /// Echo this name back once the audio sent before it has played.
    Mark {
        /// The stream.
        #[serde(rename = "streamSid")]
        stream_sid: String,
        /// The mark.
        mark: MarkName,
    },
    /// Drop every buffered audio chunk now (marks pending are echoed).
    Clear {
        /// The stream.
        #[serde(rename = "streamSid")]
        stream_sid: String,
    },
}

/// Audio to play.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OutboundMedia {
    /// Base64 µ-law 8 kHz mono, no header.
    pub payload: String,
}

impl Outbound {
    /// A `media` message.
    pub fn media(stream_sid: impl Into<String>, payload: impl Into<String>) -> Self {
        Self::Media {
            stream_sid: stream_sid.into(),
            media: OutboundMedia {
                payload: payload.into(),
            },
        }
    }

    /// A `mark` message.
    pub fn mark(stream_sid: impl Into<String>, name: impl Into<String>) -> Self {
        Self::Mark {
            stream_sid: stream_sid.into(),
            mark: MarkName { name: name.into() },
        }
    }

    /// A `clear` message.
    pub fn clear(stream_sid: impl Into<String>) -> Self {
        Self::Clear {
            stream_sid: stream_sid.into(),
        }
    }

    /// The JSON text.
    pub fn to_json(&self) -> String {
        // Plain structs of strings always serialize.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// What one text frame from Twilio is.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Parsed {
    /// A known message.
    Message(Inbound),
    /// A well-formed message of an event this crate does not know (ignored and counted).
    Unknown {
        /// Its `event`.
        event: String,
    },
    /// Not a message: not JSON, no `event`, or a known event with a bad shape.
    Malformed {
        /// Why.
        error: String,
    },
}

/// Reads one text frame.
pub fn parse(text: &str) -> Parsed {
    // The common case, a known message, is read once; only a frame that does not fit is read
    // again to say what it is.
    if let Ok(m) = serde_json::from_str::<Inbound>(text) {
        return Parsed::Message(m);
    }
    let value: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            return Parsed::Malformed {
                error: format!("not JSON: {e}"),
            }
        }
    };
    let Some(event) = value
        .get("event")
        .and_then(|e| e.as_str())
        .map(str::to_owned)
    else {
        return Parsed::Malformed {
            error: "no `event` field".to_owned(),
        };
    };
    const KNOWN: [&str; 6] = ["connected", "start", "media", "mark", "dtmf", "stop"];
    if !KNOWN.contains(&event.as_str()) {
        return Parsed::Unknown { event };
    }
    match serde_json::from_value::<Inbound>(value) {
        Ok(m) => Parsed::Message(m),
        Err(e) => Parsed::Malformed {
            error: format!("bad `{event}` message: {e}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_messages_parse() {
        let start = r#"{"event":"start","sequenceNumber":"1","start":{"accountSid":"AC1","streamSid":"MZ1","callSid":"CA1","tracks":["inbound"],"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1},"customParameters":{"customer":"42"}},"streamSid":"MZ1"}"#;
        let Parsed::Message(Inbound::Start { start, .. }) = parse(start) else {
            panic!("start")
        };
        assert_eq!(start.call_sid, "CA1");
        assert_eq!(start.custom_parameters["customer"], "42");
        assert_eq!(start.media_format.sample_rate, 8_000);
        let media = r#"{"event":"media","sequenceNumber":"3","media":{"track":"inbound","chunk":"1","timestamp":"5","payload":"//8="},"streamSid":"MZ1"}"#;
        assert!(
            matches!(parse(media), Parsed::Message(Inbound::Media { media, .. }) if media.payload == "//8=")
        );
        let dtmf = r#"{"event":"dtmf","streamSid":"MZ1","sequenceNumber":"5","dtmf":{"track":"inbound_track","digit":"1"}}"#;
        assert!(
            matches!(parse(dtmf), Parsed::Message(Inbound::Dtmf { dtmf, .. }) if dtmf.digit == "1")
        );
        let mark =
            r#"{"event":"mark","sequenceNumber":"4","streamSid":"MZ1","mark":{"name":"rt-7"}}"#;
        assert!(
            matches!(parse(mark), Parsed::Message(Inbound::Mark { mark, .. }) if mark.name == "rt-7")
        );
        let stop = r#"{"event":"stop","sequenceNumber":"9","streamSid":"MZ1","stop":{"accountSid":"AC1","callSid":"CA1"}}"#;
        assert!(matches!(parse(stop), Parsed::Message(Inbound::Stop { .. })));
        assert!(matches!(
            parse(r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#),
            Parsed::Message(Inbound::Connected { .. })
        ));
        assert_eq!(
            parse(r#"{"event":"future"}"#),
            Parsed::Unknown {
                event: "future".into()
            }
        );
        assert!(matches!(parse("{nope"), Parsed::Malformed { .. }));
        assert!(matches!(
            parse(r#"{"no":"event"}"#),
            Parsed::Malformed { .. }
        ));
        assert!(matches!(
            parse(r#"{"event":"media","media":{}}"#),
            Parsed::Malformed { .. }
        ));
    }

    #[test]
    fn outbound_messages_are_twilios_shape() {
        assert_eq!(
            Outbound::media("MZ1", "AAA=").to_json(),
            r#"{"event":"media","streamSid":"MZ1","media":{"payload":"AAA="}}"#
        );
        assert_eq!(
            Outbound::mark("MZ1", "rt-1").to_json(),
            r#"{"event":"mark","streamSid":"MZ1","mark":{"name":"rt-1"}}"#
        );
        assert_eq!(
            Outbound::clear("MZ1").to_json(),
            r#"{"event":"clear","streamSid":"MZ1"}"#
        );
    }
}
