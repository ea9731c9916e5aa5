//! A serde deserializer over located YAML nodes that keeps going after a
//! problem: unknown fields (with a did-you-mean), wrong types and unknown enum
//! values are recorded in the sink and a stand-in value lets serde continue,
//! so one run reports every problem of a document.

use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};

use super::recover::{self, Sink};
use super::tree::{parse_bool, Node, NodeValue};
use crate::diagnostic::did_you_mean;

/// A deserialization error; `reported` ones are already in the sink.
#[derive(Debug)]
pub struct DeError {
    message: String,
    reported: bool,
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError {
            message: msg.to_string(),
            reported: false,
        }
    }
}

/// Records an error at the current position unless it already was.
fn settle(e: DeError) -> DeError {
    if !e.reported {
        recover::report(clean_message(&e.message));
    }
    DeError {
        message: e.message,
        reported: true,
    }
}

/// Turns serde's derive messages into ours.
fn clean_message(m: &str) -> String {
    if let Some(rest) = m.strip_prefix("missing field `") {
        let field = rest.trim_end_matches('`');
        return format!("missing required field {field:?}");
    }
    if let Some(rest) = m.strip_prefix("unknown field `") {
        if let Some((field, expected)) = rest.split_once('`') {
            return unknown_field_message(field, expected);
        }
    }
    m.to_string()
}

/// Rewrites serde's "unknown field `x`, expected `a` or `b`" (raised by
/// structs read through a map access, e.g. collections and secret refs).
fn unknown_field_message(field: &str, expected: &str) -> String {
    let names: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    if names == ["mode", "items"] {
        return format!(
            "unknown field {field:?}: expected a list, or a map with `mode` (authoritative or additive) and `items`"
        );
    }
    match did_you_mean(field, names.iter().copied()) {
        Some(s) => format!("unknown field {field:?}, did you mean {s:?}?"),
        None if names.is_empty() => format!("unknown field {field:?}"),
        None => format!("unknown field {field:?}; expected one of: {}", names.join(", ")),
    }
}

fn set_position(node: &Node) {
    recover::with(|s: &mut Sink| {
        s.line = node.line;
        s.col = node.col;
    });
}

fn record_at(node: &Node, message: String) {
    set_position(node);
    recover::report(message);
}

fn push_path(seg: &str) {
    recover::with(|s| s.push(seg));
}

fn pop_path() {
    recover::with(|s| s.pop());
}

/// Deserializes one node.
pub struct NodeDe<'a>(pub &'a Node);

impl<'a> NodeDe<'a> {
    fn mismatch(&self, expected: &str) {
        record_at(
            self.0,
            format!("expected {expected}, found {}", self.0.describe()),
        );
    }

    fn scalar(&self) -> Option<(&'a str, bool)> {
        match &self.0.value {
            NodeValue::Scalar { text, plain } => Some((text.as_str(), *plain)),
            _ => None,
        }
    }

    fn int<T: std::str::FromStr>(&self) -> Option<T> {
        match self.scalar() {
            Some((t, true)) => t.parse().ok(),
            _ => None,
        }
    }
}

macro_rules! de_int {
    ($method:ident, $visit:ident, $ty:ty, $what:expr) => {
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            set_position(self.0);
            let v = match self.int::<$ty>() {
                Some(v) => v,
                None => {
                    match self.scalar() {
                        Some((t, true)) if t.parse::<i128>().is_ok() => record_at(
                            self.0,
                            format!(
                                "expected {} from {} to {}, found number {t}",
                                $what,
                                <$ty>::MIN,
                                <$ty>::MAX
                            ),
                        ),
                        _ => self.mismatch($what),
                    }
                    Default::default()
                }
            };
            visitor.$visit(v).map_err(settle)
        }
    };
}

impl<'de, 'a> de::Deserializer<'de> for NodeDe<'a> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        set_position(self.0);
        let r = match &self.0.value {
            NodeValue::Seq(items) => visitor.visit_seq(Seq::new(items)),
            NodeValue::Map(entries) => visitor.visit_map(Map::new(entries.iter().collect())),
            NodeValue::Scalar { .. } if self.0.is_null() => visitor.visit_unit(),
            NodeValue::Scalar { text, plain: true } => {
                if let Some(b) = parse_bool(text) {
                    visitor.visit_bool(b)
                } else if let Ok(i) = text.parse::<i64>() {
                    visitor.visit_i64(i)
                } else if let Ok(f) = text.parse::<f64>() {
                    visitor.visit_f64(f)
                } else {
                    visitor.visit_str(text)
                }
            }
            NodeValue::Scalar { text, .. } => visitor.visit_str(text),
        };
        r.map_err(settle)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        set_position(self.0);
        let v = match self.scalar() {
            Some((t, true)) => parse_bool(t),
            _ => None,
        };
        let v = v.unwrap_or_else(|| {
            self.mismatch("true or false");
            false
        });
        visitor.visit_bool(v).map_err(settle)
    }

    de_int!(deserialize_i8, visit_i8, i8, "an integer");
    de_int!(deserialize_i16, visit_i16, i16, "an integer");
    de_int!(deserialize_i32, visit_i32, i32, "an integer");
    de_int!(deserialize_i64, visit_i64, i64, "an integer");
    de_int!(deserialize_u8, visit_u8, u8, "a non-negative integer");
    de_int!(deserialize_u16, visit_u16, u16, "a non-negative integer");
    de_int!(deserialize_u32, visit_u32, u32, "a non-negative integer");
    de_int!(deserialize_u64, visit_u64, u64, "a non-negative integer");
    de_int!(deserialize_f32, visit_f32, f32, "a number");
    de_int!(deserialize_f64, visit_f64, f64, "a number");

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        set_position(self.0);
        match self.scalar() {
            Some((t, _)) if !self.0.is_null() => visitor.visit_str(t).map_err(settle),
            _ => {
                self.mismatch("a string");
                visitor.visit_str("").map_err(settle)
            }
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        set_position(self.0);
        if self.0.is_null() {
            visitor.visit_none().map_err(settle)
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        set_position(self.0);
        if !self.0.is_null() {
            self.mismatch("null");
        }
        visitor.visit_unit().map_err(settle)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        set_position(self.0);
        match &self.0.value {
            NodeValue::Seq(items) => visitor.visit_seq(Seq::new(items)).map_err(settle),
            _ => {
                self.mismatch("a list");
                visitor.visit_seq(Seq::new(&[])).map_err(settle)
            }
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        set_position(self.0);
        match &self.0.value {
            NodeValue::Map(entries) => visitor
                .visit_map(Map::new(entries.iter().collect()))
                .map_err(settle),
            _ => {
                self.mismatch("a map");
                visitor.visit_map(Map::new(Vec::new())).map_err(settle)
            }
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        set_position(self.0);
        let NodeValue::Map(entries) = &self.0.value else {
            if !self.0.is_null() {
                self.mismatch("a map");
            }
            return visitor.visit_map(Map::new(Vec::new())).map_err(settle);
        };
        let mut known = Vec::with_capacity(entries.len());
        for entry in entries {
            let Some(key) = entry.0.as_str() else {
                record_at(
                    &entry.0,
                    format!("expected a field name, found {}", entry.0.describe()),
                );
                continue;
            };
            if fields.contains(&key) {
                known.push(entry);
                continue;
            }
            let message = match did_you_mean(key, fields.iter().copied()) {
                Some(s) => format!("unknown field {key:?}, did you mean {s:?}?"),
                None => format!("unknown field {key:?}; expected one of: {}", fields.join(", ")),
            };
            push_path(key);
            record_at(&entry.0, message);
            pop_path();
        }
        // Position the struct's own problems (missing fields) at its start.
        let r = visitor.visit_map(Map::new(known));
        set_position(self.0);
        r.map_err(settle)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        set_position(self.0);
        let given = match self.scalar() {
            Some((t, _)) if !self.0.is_null() => t,
            _ => {
                self.mismatch(&format!("one of: {}", variants.join(", ")));
                variants.first().copied().unwrap_or_default()
            }
        };
        let chosen = if variants.contains(&given) {
            given
        } else {
            let message = match did_you_mean(given, variants.iter().copied()) {
                Some(s) => format!("unknown value {given:?}, did you mean {s:?}?"),
                None => format!(
                    "unknown value {given:?}; expected one of: {}",
                    variants.join(", ")
                ),
            };
            record_at(self.0, message);
            variants.first().copied().unwrap_or_default()
        };
        visitor
            .visit_enum(IntoDeserializer::<DeError>::into_deserializer(chosen))
            .map_err(settle)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }
}

struct Seq<'a> {
    items: std::slice::Iter<'a, Node>,
    index: usize,
}

impl<'a> Seq<'a> {
    fn new(items: &'a [Node]) -> Self {
        Seq {
            items: items.iter(),
            index: 0,
        }
    }
}

impl<'de> SeqAccess<'de> for Seq<'_> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, DeError> {
        let Some(node) = self.items.next() else {
            return Ok(None);
        };
        recover::with(|s| s.push_index(self.index));
        self.index += 1;
        set_position(node);
        let r = seed.deserialize(NodeDe(node)).map_err(|e| {
            set_position(node);
            settle(e)
        });
        pop_path();
        r.map(Some)
    }
}

struct Map<'a> {
    entries: std::vec::IntoIter<&'a (Node, Node)>,
    value: Option<&'a Node>,
    key: &'a str,
}

impl<'a> Map<'a> {
    fn new(entries: Vec<&'a (Node, Node)>) -> Self {
        Map {
            entries: entries.into_iter(),
            value: None,
            key: "",
        }
    }
}

impl<'de> MapAccess<'de> for Map<'_> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DeError> {
        let Some((k, v)) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some(v);
        self.key = k.as_str().unwrap_or_default();
        push_path(self.key);
        let r = seed.deserialize(NodeDe(k));
        pop_path();
        r.map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let Some(node) = self.value.take() else {
            return Err(de::Error::custom("value without a key"));
        };
        push_path(self.key);
        set_position(node);
        let r = seed.deserialize(NodeDe(node)).map_err(|e| {
            set_position(node);
            settle(e)
        });
        pop_path();
        r
    }
}
