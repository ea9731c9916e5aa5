//! Writes JSON values as YAML documents (for export and diff). Kept beside
//! the parser so the choice of YAML crate lives in one module.

use serde_json::Value;
use yaml_rust2::yaml::{Hash, Yaml};
use yaml_rust2::YamlEmitter;

fn to_yaml(v: &Value) -> Yaml {
    match v {
        Value::Null => Yaml::Null,
        Value::Bool(b) => Yaml::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Yaml::Integer(i),
            None => Yaml::Real(n.to_string()),
        },
        Value::String(s) => Yaml::String(s.clone()),
        Value::Array(items) => Yaml::Array(items.iter().map(to_yaml).collect()),
        Value::Object(map) => {
            let mut h = Hash::new();
            for (k, v) in map {
                h.insert(Yaml::String(k.clone()), to_yaml(v));
            }
            Yaml::Hash(h)
        }
    }
}

/// One YAML document (starting with `---`) for a JSON value.
pub fn document(v: &Value) -> String {
    let mut out = String::new();
    let mut emitter = YamlEmitter::new(&mut out);
    emitter.multiline_strings(true);
    // Writing into a String cannot fail.
    let _ = emitter.dump(&to_yaml(v));
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emitted_yaml_parses_back_to_the_same_tree() {
        let v = serde_json::json!({"a": "1", "b": [true, "yes", null], "c": {"d": "x\ny\n"}});
        let text = document(&v);
        let (docs, err) = crate::load::tree::parse_stream(&text);
        assert!(err.is_empty(), "{text}");
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].root.get("a").and_then(|n| n.as_str()), Some("1"));
        let a = docs[0].root.get("a").unwrap();
        assert!(matches!(
            &a.value,
            crate::load::tree::NodeValue::Scalar { plain: false, .. }
        ));
    }
}
