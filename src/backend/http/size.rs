//! The server's body limit (the one it advertises, [`wire::MAX_BODY`] by
//! default) seen from the client: an
//! object too large to be written is a plan error naming its largest field,
//! and a body over the limit is never sent (the server would answer 413
//! while the client is still writing, which the client sees as a broken
//! pipe in the middle of an apply). Pure.

use serde_json::Value;

use super::wire::bytes_text;
#[cfg(test)]
use super::wire::MAX_BODY;
use crate::backend::GapFound;
use crate::model::{Kind, Name, Spec};

/// Largest object a write can carry under a body limit of `max_body`: the
/// put body holds the spec and, for the audit log, the changed fields before
/// and after, so up to three copies.
pub fn max_object(max_body: usize) -> usize {
    max_body / 3
}

/// The backend's plan-time check: objects whose JSON exceeds
/// [`max_object`] of the server's `max_body`.
pub fn check(objects: &mut dyn Iterator<Item = (Kind, &Name, &Spec)>, max_body: usize) -> Vec<GapFound> {
    let mut found = Vec::new();
    let max = max_object(max_body);
    for (kind, name, spec) in objects {
        let json = spec.to_json();
        let size = json_len(&json);
        if size > max {
            found.push(GapFound {
                kind,
                name: name.clone(),
                path: largest_field(&json),
                reason: format!(
                    "the object is {} KiB as JSON, and a write of it carries up to three copies (the spec, and the changed fields before and after for the audit log) in a body the server limits to {}; objects may be at most {} KiB",
                    size.div_ceil(1024),
                    bytes_text(max_body),
                    max / 1024
                ),
            });
        }
    }
    found
}

/// A request body the server would refuse for its size: the message to
/// report instead of sending it.
pub fn refused(len: usize, what: &str, max_body: usize) -> Option<String> {
    (len > max_body).then(|| {
        format!(
            "{what}: the request body is {} KiB, over the server's {} limit; not sent",
            len.div_ceil(1024),
            bytes_text(max_body)
        )
    })
}

/// Bytes of `value` as compact JSON.
fn json_len(value: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    match serde_json::to_writer(&mut count, value) {
        Ok(()) => count.0,
        Err(_) => 0,
    }
}

/// The dotted path of the largest leaf or list item (empty: the object).
fn largest_field(value: &Value) -> String {
    fn walk(value: &Value, path: &str, best: &mut (usize, String)) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(v, &p, best);
                }
            }
            Value::Array(items) if items.iter().all(|v| !v.is_object() && !v.is_array()) => {
                let size = json_len(value);
                if size > best.0 {
                    *best = (size, path.to_string());
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    walk(v, &format!("{path}[{i}]"), best);
                }
            }
            leaf => {
                let size = json_len(leaf);
                if size > best.0 {
                    *best = (size, path.to_string());
                }
            }
        }
    }
    let mut best = (0, String::new());
    walk(value, "", &mut best);
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_field_is_named() {
        let v = serde_json::json!({"a": "x", "b": {"c": "y".repeat(40)}, "d": ["1", "2"]});
        assert_eq!(largest_field(&v), "b.c");
        assert_eq!(json_len(&v), serde_json::to_vec(&v).map(|b| b.len()).unwrap_or(0));
        assert!(refused(MAX_BODY, "x", MAX_BODY).is_none());
        assert_eq!(
            refused(MAX_BODY + 1, "writing user \"bob\"", MAX_BODY).as_deref(),
            Some(
                "writing user \"bob\": the request body is 4097 KiB, over the server's 4 MiB limit; not sent"
            )
        );
    }
}
