//! The decoding path of the tagged unions nested inside events (a conversation item, an audio
//! format, a session): one pass over the member.
//!
//! The member's entries are read in order until its `type` (and, for a union that has one, a
//! second tag such as a message's `role`) is known. Only the entries before that point are
//! held, as small trees whose strings are borrowed from the text (`Held`). The member the tags
//! name is then parsed from those held entries followed by the rest of the live map, straight
//! from the text. When the tags come first, as the service writes them, almost nothing is held.
//!
//! What this replaces buffered every member into a `serde_json::Value` and converted that: a
//! tree of maps and copied strings, built and torn down for every item of every event. A
//! member whose tags no type of this version knows is still kept whole as JSON (`Unknown`).

use serde::de::value::{MapDeserializer, SeqDeserializer};
use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::forward_to_deserialize_any;
use serde::Deserialize as _;
use serde_json::Value;
use std::fmt;
use std::marker::PhantomData;

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

/// A tagged union nested in events: which member its tags name (the generator writes `pick`).
pub(crate) trait TaggedUnion: Sized {
    /// The second tag (a message's `role`), when the union has one.
    const SUB_TAG: Option<&'static str>;

    /// Parses the member the tags name, or keeps an unknown one as JSON.
    ///
    /// # Errors
    /// The member's own error.
    fn pick<'de, A: MapAccess<'de>>(
        tags: &Tags,
        members: Members<'de, A>,
    ) -> Result<Self, A::Error>;
}

/// `Deserialize` for every [`TaggedUnion`].
///
/// # Errors
/// Not an object, `type` missing or not a string, or the member's own error.
pub(crate) fn deserialize_union<'de, D: de::Deserializer<'de>, T: TaggedUnion>(
    d: D,
) -> Result<T, D::Error> {
    d.deserialize_map(UnionVisitor(PhantomData))
}

struct UnionVisitor<T>(PhantomData<T>);

impl<'de, T: TaggedUnion> Visitor<'de> for UnionVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object with a `type`")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        let (tags, members) = read_tags(map, T::SUB_TAG)?;
        T::pick(&tags, members)
    }
}

/// Reads a member's entries until its tags are known.
///
/// # Errors
/// `type` is missing or not a string, or the map's own error.
fn read_tags<'de, A: MapAccess<'de>>(
    mut map: A,
    sub: Option<&'static str>,
) -> Result<(Tags, Members<'de, A>), A::Error> {
    let mut held = Vec::new();
    let mut kind: Option<String> = None;
    // `None`: not seen yet; `Some(None)`: seen, not a string.
    let mut sub_value: Option<Option<String>> = None;
    while kind.is_none() || (sub.is_some() && sub_value.is_none()) {
        let Some(key) = map.next_key::<Held<'de>>()? else {
            break;
        };
        let value: Held<'de> = map.next_value()?;
        match key.as_str() {
            Some("type") => match value.as_str() {
                Some(s) => kind = Some(s.to_owned()),
                None => return Err(de::Error::custom("`type` must be a string")),
            },
            Some(k) if Some(k) == sub => sub_value = Some(value.as_str().map(str::to_owned)),
            _ => {}
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
pub(crate) struct Members<'de, A> {
    held: std::vec::IntoIter<(Held<'de>, Held<'de>)>,
    /// The value of the held entry whose key was just given out.
    pending: Option<Held<'de>>,
    rest: A,
}

impl<'de, A: MapAccess<'de>> Members<'de, A> {
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
        let mut object = serde_json::Map::new();
        for (key, value) in self.held.by_ref() {
            let key = String::deserialize(HeldDe::<A::Error>::new(key))?;
            let value = Value::deserialize(HeldDe::<A::Error>::new(value))?;
            object.insert(key, value);
        }
        while let Some((key, value)) = self.rest.next_entry::<String, Value>()? {
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Members<'de, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        if let Some((key, value)) = self.held.next() {
            self.pending = Some(value);
            return seed.deserialize(HeldDe::new(key)).map(Some);
        }
        self.rest.next_key_seed(seed)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        match self.pending.take() {
            Some(value) => seed.deserialize(HeldDe::new(value)),
            None => self.rest.next_value_seed(seed),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        self.rest.size_hint().map(|n| n + self.held.len())
    }
}

impl<'de, A: MapAccess<'de>> de::Deserializer<'de> for Members<'de, A> {
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

/// An entry's value, held while the tags are read: a small JSON tree whose strings are
/// borrowed from the text when they have no escapes (a `serde_json::Value` would copy each).
enum Held<'de> {
    Null,
    Bool(bool),
    I64(i64),
    U64(u64),
    F64(f64),
    Str(&'de str),
    String(String),
    Seq(Vec<Held<'de>>),
    Map(Vec<(Held<'de>, Held<'de>)>),
}

impl Held<'_> {
    fn as_str(&self) -> Option<&str> {
        match self {
            Held::Str(s) => Some(s),
            Held::String(s) => Some(s),
            _ => None,
        }
    }
}

impl<'de> de::Deserialize<'de> for Held<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(HeldVisitor)
    }
}

struct HeldVisitor;

impl<'de> Visitor<'de> for HeldVisitor {
    type Value = Held<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Held::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Held::I64(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Held::U64(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Held::F64(v))
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Held::Str(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Held::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Held::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Held::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Held::Null)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        Held::deserialize(d)
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Held::Seq(items))
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Held::Map(entries))
    }
}

/// Replays a held value to whatever parses it, as the text would have.
struct HeldDe<'de, E> {
    value: Held<'de>,
    error: PhantomData<E>,
}

impl<'de, E> HeldDe<'de, E> {
    fn new(value: Held<'de>) -> Self {
        Self {
            value,
            error: PhantomData,
        }
    }
}

impl<'de, E: de::Error> IntoDeserializer<'de, E> for HeldDe<'de, E> {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

fn held_de<'de, E>(value: Held<'de>) -> HeldDe<'de, E> {
    HeldDe::new(value)
}

type HeldEntry<'de> = (Held<'de>, Held<'de>);
type HeldEntryDe<'de, E> = (HeldDe<'de, E>, HeldDe<'de, E>);
type HeldMap<'de, E> = MapDeserializer<
    'de,
    std::iter::Map<std::vec::IntoIter<HeldEntry<'de>>, fn(HeldEntry<'de>) -> HeldEntryDe<'de, E>>,
    E,
>;

/// A held object's entries, replayed as a map.
fn held_map<'de, E: de::Error>(entries: Vec<HeldEntry<'de>>) -> HeldMap<'de, E> {
    fn entry<'de, E>((k, v): HeldEntry<'de>) -> HeldEntryDe<'de, E> {
        (HeldDe::new(k), HeldDe::new(v))
    }
    MapDeserializer::new(entries.into_iter().map(entry::<E> as fn(_) -> _))
}

impl<'de, E: de::Error> de::Deserializer<'de> for HeldDe<'de, E> {
    type Error = E;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        match self.value {
            Held::Null => visitor.visit_unit(),
            Held::Bool(v) => visitor.visit_bool(v),
            Held::I64(v) => visitor.visit_i64(v),
            Held::U64(v) => visitor.visit_u64(v),
            Held::F64(v) => visitor.visit_f64(v),
            Held::Str(v) => visitor.visit_borrowed_str(v),
            Held::String(v) => visitor.visit_string(v),
            Held::Seq(items) => {
                let mut seq = SeqDeserializer::new(items.into_iter().map(held_de::<E>));
                let value = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(value)
            }
            Held::Map(entries) => {
                let mut map = held_map::<E>(entries);
                let value = visitor.visit_map(&mut map)?;
                map.end()?;
                Ok(value)
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        match self.value {
            Held::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, E> {
        match self.value {
            Held::Str(v) => de::value::BorrowedStrDeserializer::<E>::new(v)
                .deserialize_enum(name, variants, visitor),
            Held::String(v) => {
                de::value::StringDeserializer::<E>::new(v).deserialize_enum(name, variants, visitor)
            }
            Held::Map(entries) => visitor.visit_enum(de::value::MapAccessDeserializer::new(
                held_map::<E>(entries),
            )),
            other => HeldDe::<E>::new(other).deserialize_any(visitor),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, E> {
        visitor.visit_newtype_struct(self)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
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

    impl TaggedUnion for Item {
        const SUB_TAG: Option<&'static str> = Some("role");

        fn pick<'de, A: MapAccess<'de>>(
            tags: &Tags,
            members: Members<'de, A>,
        ) -> Result<Self, A::Error> {
            match (tags.kind(), tags.sub()) {
                ("message", Some("user")) => members.parse().map(Item::User),
                ("function_call", _) => members.parse().map(Item::Call),
                _ => members.unknown().map(Item::Unknown),
            }
        }
    }

    impl<'de> Deserialize<'de> for Item {
        fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            deserialize_union(d)
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

    /// Every kind of JSON value, held (the tags come last) or read live, parses the same.
    #[derive(Debug, PartialEq, Deserialize)]
    struct Wide {
        r#type: String,
        s: String,
        escaped: String,
        n: i64,
        neg: i64,
        f: f64,
        big: u64,
        b: bool,
        none: Option<String>,
        some: Option<u32>,
        list: Vec<Option<u8>>,
        nested: std::collections::BTreeMap<String, Vec<String>>,
        mode: Mode,
        free: Value,
        #[serde(default)]
        missing: Option<String>,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Mode {
        Fast,
        Slow,
    }

    #[derive(Debug, PartialEq)]
    struct OnlyWide(Wide);

    impl TaggedUnion for OnlyWide {
        const SUB_TAG: Option<&'static str> = None;

        fn pick<'de, A: MapAccess<'de>>(
            tags: &Tags,
            members: Members<'de, A>,
        ) -> Result<Self, A::Error> {
            assert_eq!(tags.kind(), "wide");
            members.parse().map(OnlyWide)
        }
    }

    impl<'de> Deserialize<'de> for OnlyWide {
        fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            deserialize_union(d)
        }
    }

    #[test]
    fn held_values_parse_as_the_text_would() {
        let body = r#""s":"plain","escaped":"a\"b\u00e9\n","n":7,"neg":-3,"f":1.5,"big":18446744073709551615,"b":true,"none":null,"some":4,"list":[1,null,3],"nested":{"k":["x","y\t"]},"mode":"slow","free":{"a":[1,2.5,"z",null,false]}"#;
        let direct: Wide = serde_json::from_str(&format!(r#"{{"type":"wide",{body}}}"#)).unwrap();
        let last: OnlyWide = serde_json::from_str(&format!(r#"{{{body},"type":"wide"}}"#)).unwrap();
        assert_eq!(last.0, direct);
        assert_eq!(direct.escaped, "a\"b\u{e9}\n");
        assert_eq!(direct.mode, Mode::Slow);
        let from_value: OnlyWide = serde_json::from_value(
            serde_json::from_str(&format!(r#"{{{body},"type":"wide"}}"#)).unwrap(),
        )
        .unwrap();
        assert_eq!(from_value.0, direct);
        // A held value of the wrong type is the field's error.
        let err = serde_json::from_str::<OnlyWide>(&format!(
            r#"{{{},"type":"wide"}}"#,
            body.replace(r#""mode":"slow""#, r#""mode":"medium""#)
        ))
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("unknown variant `medium`"), "{err}");
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
