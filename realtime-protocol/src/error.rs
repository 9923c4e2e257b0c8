//! [`ProtocolError`]: why a payload could not be decoded or encoded.

/// An event could not be decoded or encoded.
///
/// None of these is fatal to a session: they concern one payload, and the next one may be fine.
/// None is retryable either: the same bytes fail the same way. Every decode error keeps the raw
/// text, so nothing the server sent is lost.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The text is not JSON.
    #[error("event is not valid JSON")]
    InvalidJson {
        /// The text as received.
        raw: String,
        /// What the JSON parser reported.
        #[source]
        source: serde_json::Error,
    },
    /// The text is JSON, but not an object.
    #[error("event is not a JSON object")]
    NotAnObject {
        /// The text as received.
        raw: String,
    },
    /// The object has no `type`, or its `type` is not a string.
    #[error("event has no string `type` field")]
    MissingType {
        /// The text as received.
        raw: String,
    },
    /// The `type` is known, but the payload does not fit its schema (a required field is
    /// missing, or a field has the wrong JSON type).
    #[error("invalid `{event_type}` event")]
    InvalidEvent {
        /// The event's `type`.
        event_type: String,
        /// The text as received.
        raw: String,
        /// serde's description of the mismatch, with its line and column.
        #[source]
        source: serde_json::Error,
    },
    /// An event could not be encoded as JSON.
    #[error("failed to encode `{event_type}` event")]
    Encode {
        /// The event's `type`.
        event_type: String,
        /// What the serializer reported.
        #[source]
        source: serde_json::Error,
    },
    /// Audio that should be base64 is not (a character outside the alphabet, or a length or
    /// padding that does not fit).
    #[error("audio payload is not valid base64")]
    InvalidBase64,
}

impl ProtocolError {
    /// The raw text of the payload that failed to decode, if this is a decode error.
    pub fn raw(&self) -> Option<&str> {
        match self {
            Self::InvalidJson { raw, .. }
            | Self::NotAnObject { raw }
            | Self::MissingType { raw }
            | Self::InvalidEvent { raw, .. } => Some(raw),
            Self::Encode { .. } | Self::InvalidBase64 => None,
        }
    }

    /// The event type concerned, when one was known.
    pub fn event_type(&self) -> Option<&str> {
        match self {
            Self::InvalidEvent { event_type, .. } | Self::Encode { event_type, .. } => {
                Some(event_type)
            }
            _ => None,
        }
    }
}

/// `Result` with [`ProtocolError`] as the default error.
pub type Result<T, E = ProtocolError> = std::result::Result<T, E>;
