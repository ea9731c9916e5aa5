//! `Collection<T>`: a set-valued field that says whether it is the whole truth
//! (authoritative: extra live members are removed) or a floor (additive:
//! listed members are ensured, others left alone).

use std::collections::BTreeSet;
use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How a collection in the files relates to the live collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum CollectionMode {
    /// The list is the whole truth: live members not listed are removed.
    #[default]
    Authoritative,
    /// Listed members are ensured; other live members are left alone.
    Additive,
}

/// A set of items with its mode. Written as a plain list (authoritative) or as
/// `{mode: additive, items: [...]}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collection<T: Ord> {
    /// Authoritative or additive.
    pub mode: CollectionMode,
    /// The members, deduplicated and ordered.
    pub items: BTreeSet<T>,
}

impl<T: Ord> Default for Collection<T> {
    fn default() -> Self {
        Collection {
            mode: CollectionMode::Authoritative,
            items: BTreeSet::new(),
        }
    }
}

impl<T: Ord> Collection<T> {
    /// An authoritative collection of these items.
    pub fn authoritative(items: impl IntoIterator<Item = T>) -> Self {
        Collection {
            mode: CollectionMode::Authoritative,
            items: items.into_iter().collect(),
        }
    }

    /// Iterates the members in order.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.items.iter()
    }
}

impl<T: Ord + Serialize> Serialize for Collection<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self.mode {
            CollectionMode::Authoritative => self.items.serialize(s),
            CollectionMode::Additive => {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("mode", &self.mode)?;
                m.serialize_entry("items", &self.items)?;
                m.end()
            }
        }
    }
}

impl<'de, T: Ord + Deserialize<'de>> Deserialize<'de> for Collection<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Ord + Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Collection<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list, or a map with `mode` and `items`")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = BTreeSet::new();
                while let Some(item) = seq.next_element()? {
                    items.insert(item);
                }
                Ok(Collection {
                    mode: CollectionMode::Authoritative,
                    items,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Full<T: Ord> {
                    #[serde(default)]
                    mode: CollectionMode,
                    #[serde(default = "BTreeSet::new")]
                    items: BTreeSet<T>,
                }
                let full: Full<T> = Deserialize::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Collection {
                    mode: full.mode,
                    items: full.items,
                })
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

impl<T: Ord + JsonSchema> JsonSchema for Collection<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("Collection_{}", T::schema_name()).into()
    }

    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let item = g.subschema_for::<T>();
        schemars::json_schema!({
            "description": "A list (authoritative: the whole truth), or {mode: additive|authoritative, items: [...]}.",
            "anyOf": [
                { "type": "array", "items": item, "uniqueItems": true },
                {
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {
                        "mode": { "type": "string", "enum": ["authoritative", "additive"] },
                        "items": { "type": "array", "items": item, "uniqueItems": true }
                    }
                }
            ]
        })
    }
}
