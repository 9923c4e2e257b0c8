//! The decoding path of the tagged unions nested inside events (a conversation item, an audio
//! format, a session): one pass over the member, no tree.
//!
//! The member's entries are read in order until its `type` (and, for a union that has one, a
//! second tag such as a message's `role`) is known; only the entries before that point are
//! held, as small JSON values. The member the tags name is then parsed from those held
//! entries followed by the rest of the live map, straight from the text.
//!
//! What this replaces buffered every member into a `serde_json::Value` and converted that: a
//! tree of maps and strings built and torn down for every item of every event. A member whose
//! tags no type of this version knows is still kept whole as JSON (`Unknown`).

use serde::de::value::StringDeserializer;
use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde::forward_to_deserialize_any;
use serde_json::Value;

/// A member's tags: `type`, and the second tag's value when the union has one and it is a
/// string.
pub(crate) struct Tags {
    kind: String,
    sub: Option<String>,
}

impl Tags {
    /// The `type`.
    pub(crate) fn kind(&self) -> &str {
        &self.kind
    }

    /// The second tag, when present and a string.
    pub(crate) fn sub(&self) -> Option<&str> {
        self.sub.as_deref()
    }
}

/// Reads a member's entries until its tags are known.
///
/// # Errors
/// `type` is missing or not a string, or the map's own error.
pub(crate) fn read_tags<'de, A: MapAccess<'de>>(
    mut map: A,
    sub: Option<&'static str>,
) -> Result<(Tags, Members<A>), A::Error> {
    let mut held = Vec::new();
    let mut kind: Option<String> = None;
    // `None`: not seen yet; `Some(None)`: seen, not a string.
    let mut sub_value: Option<Option<String>> = None;
    while kind.is_none() || (sub.is_some() && sub_value.is_none()) {
        let Some(key) = map.next_key::<String>()? else {
            break;
        };
        let value: Value = map.next_value()?;
        if key == "type" {
            match &value {
                Value::String(s) => kind = Some(s.clone()),
                _ => return Err(de::Error::custom("`type` must be a string")),
            }
        } else if Some(key.as_str()) == sub {
            sub_value = Some(value.as_str().map(str::to_owned));
        }
        held.push((key, value));
    }
    let Some(kind) = kind else {
        return Err(de::Error::missing_field("type"));
    };
    let tags = Tags {
        kind,
        sub: sub_value.flatten(),
    };
    let members = Members {
        held: held.into_iter(),
        pending: None,
        rest: map,
    };
    Ok((tags, members))
}

/// A member's entries: those held while reading its tags, then the rest of the live map.
pub(crate) struct Members<A> {
    held: std::vec::IntoIter<(String, Value)>,
    /// The value of the held entry whose key was just given out.
    pending: Option<Value>,
    rest: A,
}

impl<'de, A: MapAccess<'de>> Members<A> {
    /// Parses the member as `T`.
    ///
    /// # Errors
    /// `T`'s error.
    pub(crate) fn parse<T: de::Deserialize<'de>>(self) -> Result<T, A::Error> {
        T::deserialize(self)
    }

    /// The member as JSON, for tags this version does not know.
    ///
    /// # Errors
    /// The map's own error.
    pub(crate) fn unknown(mut self) -> Result<Value, A::Error> {
        let mut object: serde_json::Map<String, Value> = self.held.collect();
        while let Some((key, value)) = self.rest.next_entry::<String, Value>()? {
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Members<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        if let Some((key, value)) = self.held.next() {
            self.pending = Some(value);
            return seed
                .deserialize(StringDeserializer::<A::Error>::new(key))
                .map(Some);
        }
        self.rest.next_key_seed(seed)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        match self.pending.take() {
            Some(value) => seed.deserialize(value).map_err(de::Error::custom),
            None => self.rest.next_value_seed(seed),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        self.rest.size_hint().map(|n| n + self.held.len())
    }
}

impl<'de, A: MapAccess<'de>> de::Deserializer<'de> for Members<A> {
    type Error = A::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        visitor.visit_map(self)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    /// A stand-in for a generated union: `type`, then `role` for messages.
    #[derive(Debug, PartialEq)]
    enum Item {
        User(User),
        Call(Call),
        Unknown(Value),
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct User {
        r#type: String,
        #[serde(default)]
        id: Option<String>,
        text: String,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Call {
        name: String,
    }

    impl<'de> Deserialize<'de> for Item {
        fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Item;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("an item")
                }
                fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Item, A::Error> {
                    let (tags, members) = read_tags(map, Some("role"))?;
                    match (tags.kind(), tags.sub()) {
                        ("message", Some("user")) => members.parse().map(Item::User),
                        ("function_call", _) => members.parse().map(Item::Call),
                        _ => members.unknown().map(Item::Unknown),
                    }
                }
            }
            d.deserialize_map(V)
        }
    }

    #[derive(Deserialize, Debug, PartialEq)]
    struct Event {
        item: Item,
        after: u32,
    }

    fn decode(raw: &str) -> Result<Event, String> {
        serde_json::from_str(raw).map_err(|e| e.to_string())
    }

    fn user(id: Option<&str>, text: &str) -> Item {
        Item::User(User {
            r#type: "message".into(),
            id: id.map(str::to_owned),
            text: text.into(),
        })
    }

    #[test]
    fn members_are_told_apart_by_both_tags_wherever_they_stand() {
        let e =
            decode(r#"{"item":{"text":"hi","role":"user","id":"i","type":"message"},"after":1}"#)
                .unwrap();
        assert_eq!(e.item, user(Some("i"), "hi"));
        assert_eq!(e.after, 1);
        let e =
            decode(r#"{"item":{"id":"i","type":"message","role":"user","text":"x"},"after":2}"#)
                .unwrap();
        assert_eq!(e.item, user(Some("i"), "x"));
        let e =
            decode(r#"{"item":{"type":"function_call","name":"f","role":7},"after":3}"#).unwrap();
        assert_eq!(e.item, Item::Call(Call { name: "f".into() }));
        // Escaped tags are read as the strings they stand for.
        let e =
            decode(r#"{"item":{"type":"mess\u0061ge","role":"us\u0065r","text":"x"},"after":4}"#)
                .unwrap();
        assert_eq!(e.item, user(None, "x"));
    }

    #[test]
    fn unknown_tags_and_sub_tags_keep_the_member_as_json() {
        let raw = r#"{"type":"message","role":"critic","text":"x","extra":[1,{"a":null}]}"#;
        let e = decode(&format!(r#"{{"item":{raw},"after":1}}"#)).unwrap();
        assert_eq!(e.item, Item::Unknown(serde_json::from_str(raw).unwrap()));
        let raw = r#"{"type":"message","text":"no role"}"#;
        let e = decode(&format!(r#"{{"item":{raw},"after":1}}"#)).unwrap();
        assert_eq!(e.item, Item::Unknown(serde_json::from_str(raw).unwrap()));
        let raw = r#"{"nested":{"type":"message"},"type":"new_kind"}"#;
        let e = decode(&format!(r#"{{"item":{raw},"after":1}}"#)).unwrap();
        assert_eq!(e.item, Item::Unknown(serde_json::from_str(raw).unwrap()));
    }

    #[test]
    fn bad_members_are_errors() {
        let missing = decode(r#"{"item":{"role":"user","text":"x"},"after":1}"#).unwrap_err();
        assert!(missing.starts_with("missing field `type`"), "{missing}");
        let not_a_string = decode(r#"{"item":{"type":["message"]},"after":1}"#).unwrap_err();
        assert!(
            not_a_string.starts_with("`type` must be a string"),
            "{not_a_string}"
        );
        let not_an_object = decode(r#"{"item":"message","after":1}"#).unwrap_err();
        assert!(not_an_object.starts_with("invalid type"), "{not_an_object}");
        // The member's own error comes from the text, with its position there.
        let bad = decode(r#"{"item":{"type":"function_call","name":5},"after":1}"#).unwrap_err();
        assert_eq!(
            bad,
            "invalid type: integer `5`, expected a string at line 1 column 41"
        );
        let held =
            decode(r#"{"item":{"text":5,"role":"user","type":"message"},"after":1}"#).unwrap_err();
        assert!(held.starts_with("invalid type: integer `5`"), "{held}");
        let missing_field =
            decode(r#"{"item":{"type":"message","role":"user"},"after":1}"#).unwrap_err();
        assert!(
            missing_field.starts_with("missing field `text`"),
            "{missing_field}"
        );
        assert!(decode(r#"{"item":{"type":"function_call","name":"f""#).is_err());
    }

    #[test]
    fn members_decode_from_a_value_and_round_trip_unknowns() {
        let v = serde_json::json!({"item": {"type": "message", "role": "user", "text": "hi"}, "after": 1});
        let e: Event = serde_json::from_value(v).unwrap();
        assert_eq!(e.item, user(None, "hi"));
        let v = serde_json::json!({"item": {"type": "later", "a": [1, 2]}, "after": 1});
        let e: Event = serde_json::from_value(v).unwrap();
        assert_eq!(
            e.item,
            Item::Unknown(serde_json::json!({"type": "later", "a": [1, 2]}))
        );
    }
}
