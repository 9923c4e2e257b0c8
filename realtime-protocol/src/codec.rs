//! The decoding path shared by every event union: read `type` once, parse the matching struct
//! straight from the text, and land unknown types in [`UnknownEvent`] with their raw JSON.

use crate::error::ProtocolError;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize, Serializer};
use std::borrow::Cow;

/// An event whose `type` this version of the crate does not know (a newer API, or the other
/// dialect's event). Its raw JSON text is kept exactly as received, and is sent back unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownEvent {
    event_type: String,
    raw: String,
}

impl UnknownEvent {
    /// Wraps any JSON object with a string `type`: a way to send an event this crate has no type
    /// for.
    ///
    /// # Errors
    /// The text is not JSON, not an object, or has no string `type`.
    pub fn from_json(raw: impl Into<String>) -> Result<Self, ProtocolError> {
        let raw = raw.into();
        let kind = peek_type(&raw)?.into_owned();
        validate(&raw)?;
        Ok(Self {
            event_type: kind,
            raw,
        })
    }

    /// The event's `type`.
    pub fn event_type(&self) -> &str {
        &self.event_type
    }

    /// The JSON text as received.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The JSON as a value (parses the raw text).
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::from_str(&self.raw).unwrap_or(serde_json::Value::Null)
    }

    /// The raw text, consuming the event.
    pub fn into_raw(self) -> String {
        self.raw
    }
}

impl Serialize for UnknownEvent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let value: serde_json::Value =
            serde_json::from_str(&self.raw).map_err(serde::ser::Error::custom)?;
        value.serialize(s)
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\n' | b'\r' | b'\t')) {
        i += 1;
    }
    i
}

/// Finds the event's `type`.
///
/// The fast path handles what servers send: `type` as the first key with an unescaped value,
/// and borrows it from the text. Anything else goes through serde, which ignores every other
/// field, so `type` may be anywhere in the object.
pub(crate) fn peek_type(raw: &str) -> Result<Cow<'_, str>, ProtocolError> {
    let b = raw.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) == Some(&b'{') {
        i = skip_ws(b, i + 1);
        if b[i..].starts_with(b"\"type\"") {
            i = skip_ws(b, i + 6);
            if b.get(i) == Some(&b':') {
                i = skip_ws(b, i + 1);
                if b.get(i) == Some(&b'"') {
                    let start = i + 1;
                    let rest = &b[start..];
                    if let Some(len) = rest
                        .iter()
                        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
                    {
                        if rest[len] == b'"' {
                            // Both ends are ASCII quotes, so the slice is on char boundaries.
                            if let Some(kind) = raw.get(start..start + len) {
                                return Ok(Cow::Borrowed(kind));
                            }
                        }
                    }
                }
            }
        }
    }
    if let Some(kind) = peek_type_last(raw) {
        return Ok(Cow::Borrowed(kind));
    }
    peek_type_slow(raw)
}

/// The second fast path: `type` as the *last* member, as serializers that sort keys write it.
/// The text between the final `}` and the last member is exactly the top-level object's last
/// member, so this cannot pick a nested `type`; a value with escapes is left to serde. The
/// caller parses the whole text afterwards, so invalid JSON is still rejected.
fn peek_type_last(raw: &str) -> Option<&str> {
    let b = raw.as_bytes();
    let mut end = b.len();
    while end > 0 && matches!(b[end - 1], b' ' | b'\n' | b'\r' | b'\t') {
        end -= 1;
    }
    if end == 0 || b[end - 1] != b'}' {
        return None;
    }
    end -= 1;
    while end > 0 && matches!(b[end - 1], b' ' | b'\n' | b'\r' | b'\t') {
        end -= 1;
    }
    if end == 0 || b[end - 1] != b'"' {
        return None;
    }
    let value_end = end - 1;
    let value_start = b[..value_end]
        .iter()
        .rposition(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
    if b[value_start] != b'"' {
        return None;
    }
    let mut i = value_start;
    while i > 0 && matches!(b[i - 1], b' ' | b'\n' | b'\r' | b'\t') {
        i -= 1;
    }
    if i == 0 || b[i - 1] != b':' {
        return None;
    }
    i -= 1;
    while i > 0 && matches!(b[i - 1], b' ' | b'\n' | b'\r' | b'\t') {
        i -= 1;
    }
    if i < 6 || &b[i - 6..i] != b"\"type\"" {
        return None;
    }
    i -= 6;
    while i > 0 && matches!(b[i - 1], b' ' | b'\n' | b'\r' | b'\t') {
        i -= 1;
    }
    if i == 0 || !matches!(b[i - 1], b',' | b'{') {
        return None;
    }
    raw.get(value_start + 1..value_end)
}

#[derive(Deserialize)]
struct TypeProbe<'a> {
    #[serde(borrow, rename = "type", default)]
    kind: Option<Cow<'a, str>>,
}

fn peek_type_slow(raw: &str) -> Result<Cow<'_, str>, ProtocolError> {
    match serde_json::from_str::<TypeProbe<'_>>(raw) {
        Ok(TypeProbe { kind: Some(kind) }) => Ok(kind),
        Ok(TypeProbe { kind: None }) => Err(ProtocolError::MissingType {
            raw: raw.to_owned(),
        }),
        Err(e) => Err(classify_failure(raw, e)),
    }
}

/// Tells apart "not JSON", "JSON but not an object" and "object with a bad `type`".
fn classify_failure(raw: &str, e: serde_json::Error) -> ProtocolError {
    if let Err(source) = serde_json::from_str::<IgnoredAny>(raw) {
        return ProtocolError::InvalidJson {
            raw: raw.to_owned(),
            source,
        };
    }
    let first = raw.as_bytes().get(skip_ws(raw.as_bytes(), 0)).copied();
    if first != Some(b'{') {
        return ProtocolError::NotAnObject {
            raw: raw.to_owned(),
        };
    }
    let _ = e;
    ProtocolError::MissingType {
        raw: raw.to_owned(),
    }
}

fn validate(raw: &str) -> Result<(), ProtocolError> {
    serde_json::from_str::<IgnoredAny>(raw)
        .map(|_| ())
        .map_err(|source| ProtocolError::InvalidJson {
            raw: raw.to_owned(),
            source,
        })
}

/// The `type` of an event's JSON text, without decoding the rest (borrowed from the text when
/// it has no escapes). The text is not validated beyond what finding `type` needs.
///
/// # Errors
/// The text is not a JSON object with a string `type`.
pub fn peek_event_type(raw: &str) -> Result<Cow<'_, str>, ProtocolError> {
    peek_type(raw)
}

/// Decodes one event of a union: `known` parses the payload of a type the union has.
pub(crate) fn decode<E>(
    raw: &str,
    known: fn(&str, &str) -> Option<Result<E, serde_json::Error>>,
    unknown: fn(UnknownEvent) -> E,
) -> Result<E, ProtocolError> {
    let kind = peek_type(raw)?;
    match known(&kind, raw) {
        Some(Ok(event)) => Ok(event),
        Some(Err(source)) => Err(match source.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                ProtocolError::InvalidJson {
                    raw: raw.to_owned(),
                    source,
                }
            }
            _ => ProtocolError::InvalidEvent {
                event_type: kind.into_owned(),
                raw: raw.to_owned(),
                source,
            },
        }),
        None => {
            validate(raw)?;
            Ok(unknown(UnknownEvent {
                event_type: kind.into_owned(),
                raw: raw.to_owned(),
            }))
        }
    }
}

/// Serializes a struct with a leading `"type": kind` entry.
pub(crate) fn serialize_tagged<S: Serializer, T: Serialize>(
    kind: &'static str,
    value: &T,
    s: S,
) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Tagged<'a, T> {
        #[serde(rename = "type")]
        kind: &'a str,
        #[serde(flatten)]
        inner: &'a T,
    }
    Tagged { kind, inner: value }.serialize(s)
}

/// `from_json`, `to_json` and `Deserialize` for an event union.
macro_rules! event_union_api {
    ($name:ident) => {
        impl $name {
            /// Decodes one event from its JSON text.
            ///
            /// The `type` is read once and the matching struct is parsed straight from the text.
            /// A type this union does not have becomes [`Self::Unknown`] with the raw JSON.
            ///
            /// # Errors
            /// The text is not JSON or not an object, has no string `type`, or is a known type
            /// whose payload does not fit its schema. The error keeps the raw text.
            pub fn from_json(raw: &str) -> Result<Self, crate::ProtocolError> {
                crate::codec::decode(raw, Self::decode_known, Self::Unknown)
            }

            /// Encodes the event as JSON text. An [`Self::Unknown`] event is returned verbatim.
            ///
            /// # Errors
            /// Only if serialization fails, which the generated types do not do in practice.
            pub fn to_json(&self) -> Result<String, crate::ProtocolError> {
                match self {
                    Self::Unknown(u) => Ok(u.raw().to_owned()),
                    _ => {
                        serde_json::to_string(self).map_err(|source| crate::ProtocolError::Encode {
                            event_type: self.event_type().to_owned(),
                            source,
                        })
                    }
                }
            }

            /// Whether this is an event type the union does not know.
            pub fn is_unknown(&self) -> bool {
                matches!(self, Self::Unknown(_))
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = <Box<serde_json::value::RawValue>>::deserialize(d)?;
                Self::from_json(raw.get()).map_err(|e| match std::error::Error::source(&e) {
                    Some(cause) => serde::de::Error::custom(format_args!("{e}: {cause}")),
                    None => serde::de::Error::custom(e),
                })
            }
        }

        impl std::str::FromStr for $name {
            type Err = crate::ProtocolError;

            fn from_str(raw: &str) -> Result<Self, Self::Err> {
                Self::from_json(raw)
            }
        }
    };
}

pub(crate) use event_union_api;
