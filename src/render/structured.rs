//! Structured values (objects, lists of objects, long lists) as YAML-like
//! lines, the way the files that declare them read: a rule shows as
//! `field: department` / `op: in` / `values: [Sales, Support]` rather than one
//! line of JSON. Used by the Markdown plan, where a pull-request reviewer
//! reads it and a long JSON line would need horizontal scrolling. Only
//! layout: values are never changed, and anything a plain YAML scalar could
//! misread (numbers as text, `yes`, a leading `-`, control characters) stays
//! a quoted JSON string, which is also valid YAML.

use serde_json::Value;

/// Longest inline (flow) form before a list or object gets lines of its own.
const FLOW_WIDTH: usize = 60;

/// Whether `v` is shown as lines of its own instead of one inline value.
pub(super) fn is_block(v: &Value) -> bool {
    match v {
        Value::Object(m) => !m.is_empty(),
        Value::Array(items) => {
            items.iter().any(|i| i.is_object() || i.is_array()) || flow(v).len() > FLOW_WIDTH
        }
        _ => false,
    }
}

/// `v` as lines without a trailing newline, nested by two spaces; `null`
/// is no lines at all.
pub(super) fn block(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if !v.is_null() {
        push_block(v, 0, &mut out);
    }
    out
}

fn push_block(v: &Value, indent: usize, out: &mut Vec<String>) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, val) in m {
                let key = scalar_text(k);
                if is_block(val) {
                    out.push(format!("{pad}{key}:"));
                    push_block(val, indent + 2, out);
                } else {
                    out.push(format!("{pad}{key}: {}", flow(val)));
                }
            }
        }
        Value::Array(items) if is_block(v) => {
            for item in items {
                if is_block(item) {
                    // The item's first line shares the `- ` line, as YAML writes it.
                    let start = out.len();
                    push_block(item, indent + 2, out);
                    if let Some(first) = out.get_mut(start) {
                        *first = format!("{pad}- {}", &first[indent + 2..]);
                    }
                } else {
                    out.push(format!("{pad}- {}", flow(item)));
                }
            }
        }
        other => out.push(format!("{pad}{}", flow(other))),
    }
}

/// `v` on one line: `{app: portal, role: user}`, `[Sales, Support]`.
pub(super) fn flow(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let inner: Vec<String> = m
                .iter()
                .map(|(k, val)| format!("{}: {}", scalar_text(k), flow(val)))
                .collect();
            format!("{{{}}}", inner.join(", "))
        }
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(flow).collect();
            format!("[{}]", inner.join(", "))
        }
        Value::String(s) => scalar_text(s),
        other => other.to_string(),
    }
}

/// A string as a plain YAML scalar when it reads back as the same string,
/// otherwise quoted (JSON escapes, so control characters never get through).
fn scalar_text(s: &str) -> String {
    if plain(s) {
        s.to_string()
    } else {
        Value::String(s.to_string()).to_string()
    }
}

fn plain(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    let reserved = ["true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"];
    !reserved.contains(&s.to_ascii_lowercase().as_str())
        && s.parse::<f64>().is_err()
        && !"-?:,[]{}#&*!|>'\"%@`".contains(first)
        && !first.is_whitespace()
        && !s.ends_with(char::is_whitespace)
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.ends_with(':')
        && !s.contains(['{', '}', '[', ']', ','])
        && !s.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_nested_rule_reads_like_its_yaml() {
        let rule = json!({"any": [
            {"field": "department", "op": "in", "values": ["Sales", "Support"]},
            {"all": [{"field": "location", "op": "equals", "value": "Berlin"}]}
        ]});
        assert_eq!(
            block(&rule).join("\n"),
            "any:\n  - field: department\n    op: in\n    values: [Sales, Support]\n  - all:\n      - field: location\n        op: equals\n        value: Berlin"
        );
    }

    #[test]
    fn strings_yaml_would_misread_stay_quoted() {
        for s in [
            "",
            "yes",
            "No",
            "12",
            "1e3",
            "-x",
            "a: b",
            "a #b",
            "[x]",
            "a,b",
            " x",
            "x ",
            "\u{1b}[31m",
            "key:",
        ] {
            assert_eq!(flow(&json!(s)), Value::String(s.to_string()).to_string(), "{s:?}");
        }
        for s in [
            "Sales",
            "alice@acme.example",
            "https://crm.example/cb",
            "10.0.0.0/8",
            "F-100",
        ] {
            assert_eq!(flow(&json!(s)), s, "{s:?}");
        }
    }

    #[test]
    fn short_lists_of_scalars_stay_inline_and_long_ones_get_lines() {
        assert!(!is_block(&json!(["a", "b"])));
        assert!(!is_block(&json!({})));
        let long: Vec<String> = (0..12).map(|i| format!("https://app{i}.example/cb")).collect();
        assert!(is_block(&json!(long)));
        assert_eq!(block(&json!(long))[0], "- https://app0.example/cb");
        assert_eq!(block(&Value::Null), Vec::<String>::new());
    }
}
