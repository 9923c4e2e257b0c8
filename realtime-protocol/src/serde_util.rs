//! Small serde helpers used by the generated types.

use serde::{Deserialize, Deserializer};

/// For `Option<Option<T>>` fields: absent → `None` (via `#[serde(default)]`), `null` →
/// `Some(None)`, a value → `Some(Some(v))`.
pub(crate) fn double_option<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}
