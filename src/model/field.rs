//! `Field<T>`: the three states of a managed value (absent = unmanaged,
//! null/empty = clear, value = enforce). Must not know about any backend.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A value that is either not managed, explicitly cleared, or enforced.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Field<T> {
    /// Absent in the files: whatever the backend holds is left alone.
    #[default]
    Unset,
    /// `null` (or an empty string) in the files: the value is cleared.
    Clear,
    /// A value the backend must hold.
    Set(T),
}

impl<T> Field<T> {
    /// True when the files say nothing about this value.
    pub fn is_unset(&self) -> bool {
        matches!(self, Field::Unset)
    }

    /// The enforced value, if any.
    pub fn get(&self) -> Option<&T> {
        match self {
            Field::Set(v) => Some(v),
            Field::Unset | Field::Clear => None,
        }
    }

    /// Mutable access to the enforced value, if any.
    pub fn get_mut(&mut self) -> Option<&mut T> {
        match self {
            Field::Set(v) => Some(v),
            Field::Unset | Field::Clear => None,
        }
    }
}

impl<T> From<Option<T>> for Field<T> {
    fn from(v: Option<T>) -> Self {
        match v {
            Some(v) => Field::Set(v),
            None => Field::Clear,
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Option::<T>::deserialize(d)?.into())
    }
}

impl<T: Serialize> Serialize for Field<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Field::Set(v) => v.serialize(s),
            Field::Unset | Field::Clear => s.serialize_none(),
        }
    }
}

impl<T: JsonSchema> JsonSchema for Field<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("Nullable_{}", T::schema_name()).into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        // Same shape as Option<T>: absent or null is allowed.
        <Option<T>>::json_schema(generator)
    }

    fn inline_schema() -> bool {
        true
    }
}
