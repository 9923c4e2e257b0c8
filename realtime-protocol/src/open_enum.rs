//! Open string enums: the listed values of the spec plus `Other(String)`, so a value the server
//! adds later (a new rate-limit name, a new status) is kept and sent back unchanged instead of
//! failing the whole event.

use std::marker::PhantomData;

/// Conversion between an open enum and its wire string.
pub(crate) trait OpenEnum: Sized {
    fn from_wire(value: &str) -> Self;
    fn as_str(&self) -> &str;
}

pub(crate) struct OpenEnumVisitor<T>(PhantomData<T>);

impl<T> OpenEnumVisitor<T> {
    pub(crate) fn new() -> Self {
        Self(PhantomData)
    }
}

impl<T: OpenEnum> serde::de::Visitor<'_> for OpenEnumVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
        Ok(T::from_wire(v))
    }
}

/// Serde, `Display`, `From<&str>` and `as_str` for a generated open enum.
macro_rules! open_enum_impls {
    ($name:ident) => {
        impl $name {
            /// The wire string of this value.
            pub fn as_str(&self) -> &str {
                crate::open_enum::OpenEnum::as_str(self)
            }

            /// Whether the value is one the spec lists (not `Other`).
            pub fn is_known(&self) -> bool {
                !matches!(self, Self::Other(_))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_str(crate::open_enum::OpenEnumVisitor::<Self>::new())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                crate::open_enum::OpenEnum::from_wire(value)
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                crate::open_enum::OpenEnum::from_wire(&value)
            }
        }
    };
}

pub(crate) use open_enum_impls;
