//! JSON kept as its text ([`JsonText`]): for values held in bulk and
//! rarely read, such as each planned spec of a large plan and each audit
//! record of a large apply, where a parsed `serde_json::Value` tree takes
//! several times the memory. Serializes as the JSON itself.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

/// A JSON value kept as its compact text.
#[derive(Clone, Serialize)]
#[serde(transparent)]
pub struct JsonText(Box<RawValue>);

/// Read as a value and written compact, whatever the input's layout (a
/// saved plan may be pretty-printed) or source (any deserializer).
impl<'de> Deserialize<'de> for JsonText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d).map(|v| JsonText::new(&v))
    }
}

impl JsonText {
    /// The text of `value`.
    pub fn new(value: &Value) -> JsonText {
        // Serializing a `Value` cannot fail; `null` keeps the type total.
        JsonText(serde_json::value::to_raw_value(value).unwrap_or_else(|_| null()))
    }

    /// The JSON, parsed.
    pub fn value(&self) -> Value {
        serde_json::from_str(self.0.get()).unwrap_or_default()
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        self.0.get()
    }
}

fn null() -> Box<RawValue> {
    RawValue::from_string("null".to_string()).expect("null is JSON")
}

impl From<Value> for JsonText {
    fn from(value: Value) -> Self {
        JsonText::new(&value)
    }
}

impl PartialEq for JsonText {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl std::fmt::Debug for JsonText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_and_serializes_as_the_json_itself() {
        let v = serde_json::json!({"a": [1, "x"], "b": null});
        let t = JsonText::new(&v);
        assert_eq!(t.value(), v);
        assert_eq!(serde_json::to_string(&t).unwrap(), r#"{"a":[1,"x"],"b":null}"#);
        let back: JsonText = serde_json::from_str(r#" {"a": [1, "x"], "b": null} "#).unwrap();
        assert_eq!(back, t);
    }
}
