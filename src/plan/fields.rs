//! Field-level comparison of two specs as JSON, with the normalizations that
//! keep a no-op plan empty: null ≡ empty ≡ the field's default, sets compared
//! as sets, additive collections only ensured. Also the merge that turns a
//! live spec and a desired spec into the spec to write.

use serde_json::{Map, Value};

use super::{FieldChange, FieldDiff};
use crate::model::{secret_paths, Kind, SENSITIVE};

/// Fields whose value is a map compared and replaced as a whole. A rule's
/// condition is one of them: merging a new condition key by key over the
/// live one would keep stale keys (`value` beside a new `values`) and store
/// a condition nobody wrote.
fn is_whole_map(kind: Kind, path: &str) -> bool {
    matches!(
        (kind, path),
        (Kind::User, "customAttributes")
            | (Kind::Role, "permissions")
            | (Kind::AppAssignment, "rule")
            | (Kind::SecurityPolicy, "targets.rule")
    )
}

/// The value a backend assumes when a field is empty.
pub fn default_of(kind: Kind, path: &str) -> Option<Value> {
    Some(match (kind, path) {
        (Kind::User, "status") => Value::from("active"),
        (Kind::IdentityProvider, "enabled") => Value::from(true),
        (Kind::SecurityPolicy, "default") => Value::from(false),
        (Kind::SecurityPolicy, "password.minLength") => Value::from(8),
        (Kind::SecurityPolicy, "session.lifetime") => Value::from("30d"),
        (Kind::SecurityPolicy, "session.concurrentSessions") => Value::from(50),
        (Kind::SecurityPolicy, "mfa.required") => Value::from(false),
        _ => return None,
    })
}

/// True for values that mean "nothing": null, "", [] and {}.
fn is_empty(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty() || additive_items(o).is_some_and(|i| i.is_empty()),
        Some(_) => false,
    }
}

/// The items of an additive collection written as `{mode: additive, items}`.
fn additive_items(o: &Map<String, Value>) -> Option<&Vec<Value>> {
    if o.len() == 2 && o.get("mode").and_then(Value::as_str) == Some("additive") {
        o.get("items").and_then(Value::as_array)
    } else {
        None
    }
}

/// Replaces empties by the field's default so both sides compare alike.
fn effective(kind: Kind, path: &str, v: Option<&Value>) -> Option<Value> {
    if is_empty(v) {
        default_of(kind, path)
    } else {
        v.cloned()
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Collects field changes between a desired and a live value.
pub struct Differ<'a> {
    kind: Kind,
    sensitive: &'a [&'a str],
    /// Changed fields in path order.
    pub changes: Vec<FieldChange>,
    /// Managed fields that already match.
    pub unchanged: usize,
}

impl<'a> Differ<'a> {
    /// A differ for objects of `kind` whose `sensitive` paths hold secrets.
    pub fn new(kind: Kind, sensitive: &'a [&'a str]) -> Self {
        Differ {
            kind,
            sensitive,
            changes: Vec::new(),
            unchanged: 0,
        }
    }

    fn push(&mut self, path: &str, diff: FieldDiff) {
        let sensitive = self.sensitive.contains(&path);
        // A secret's digest never enters the plan: only whether it is set.
        let marker = |v: &Value| {
            if v.is_null() {
                Value::Null
            } else {
                Value::from(SENSITIVE)
            }
        };
        let diff = match (sensitive, diff) {
            (true, FieldDiff::Value { before, after }) => FieldDiff::Value {
                before: marker(&before),
                after: marker(&after),
            },
            (true, FieldDiff::Set { .. }) => FieldDiff::Value {
                before: Value::from(SENSITIVE),
                after: Value::from(SENSITIVE),
            },
            (false, d) => d,
        };
        self.changes.push(FieldChange {
            path: path.to_string(),
            sensitive,
            diff,
        });
    }

    /// Compares `desired` (only its managed fields) with `live` at `path`.
    pub fn diff(&mut self, path: &str, desired: &Value, live: Option<&Value>) {
        match desired {
            Value::Object(d) if !is_whole_map(self.kind, path) && !self.sensitive.contains(&path) => {
                if let Some(items) = additive_items(d) {
                    let live_items = live.and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
                    let added: Vec<Value> = items
                        .iter()
                        .filter(|i| !live_items.contains(i))
                        .cloned()
                        .collect();
                    if added.is_empty() {
                        self.unchanged += 1;
                    } else {
                        self.push(
                            path,
                            FieldDiff::Set {
                                added,
                                removed: Vec::new(),
                            },
                        );
                    }
                    return;
                }
                let live_obj = live.and_then(Value::as_object);
                for (k, v) in d {
                    if path.is_empty() && k == "organization" {
                        continue; // part of the object's key, never a change
                    }
                    self.diff(&join(path, k), v, live_obj.and_then(|o| o.get(k)));
                }
            }
            Value::Array(items) => {
                let live_items = live.and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
                // Both sides are serialized sets, so equal sets are equal lists.
                if items.as_slice() == live_items {
                    self.unchanged += 1;
                    return;
                }
                let added: Vec<Value> = items
                    .iter()
                    .filter(|i| !live_items.contains(i))
                    .cloned()
                    .collect();
                let removed: Vec<Value> = live_items
                    .iter()
                    .filter(|i| !items.contains(i))
                    .cloned()
                    .collect();
                if added.is_empty() && removed.is_empty() {
                    self.unchanged += 1;
                } else {
                    self.push(path, FieldDiff::Set { added, removed });
                }
            }
            _ if live == Some(desired) => self.unchanged += 1,
            _ => {
                let want = effective(self.kind, path, Some(desired));
                let have = effective(self.kind, path, live);
                if want == have {
                    self.unchanged += 1;
                } else {
                    let before = live.cloned().unwrap_or(Value::Null);
                    let after = if is_empty(Some(desired)) {
                        Value::Null
                    } else {
                        desired.clone()
                    };
                    self.push(path, FieldDiff::Value { before, after });
                }
            }
        }
    }

    /// Records the elements a new set gets, if any.
    fn push_added(&mut self, path: &str, items: &[Value]) {
        if !items.is_empty() {
            let added = items.to_vec();
            self.push(
                path,
                FieldDiff::Set {
                    added,
                    removed: Vec::new(),
                },
            );
        }
    }

    /// Lists every value a new object gets (clears are no-ops on create).
    pub fn create(&mut self, path: &str, desired: &Value) {
        match desired {
            Value::Null => {}
            Value::Object(d) if !is_whole_map(self.kind, path) && !self.sensitive.contains(&path) => {
                if let Some(items) = additive_items(d) {
                    self.push_added(path, items);
                    return;
                }
                for (k, v) in d {
                    if path.is_empty() && k == "organization" {
                        continue;
                    }
                    self.create(&join(path, k), v);
                }
            }
            Value::Array(items) => self.push_added(path, items),
            v if is_empty(Some(v)) => {}
            v => self.push(
                path,
                FieldDiff::Value {
                    before: Value::Null,
                    after: v.clone(),
                },
            ),
        }
    }
}

/// Every value a new object of `kind` with `spec` gets: a create's field
/// list, secrets as markers.
#[must_use]
pub fn created_fields(kind: Kind, spec: &Value) -> Vec<FieldChange> {
    let mut differ = Differ::new(kind, secret_paths(kind));
    differ.create("", spec);
    differ.changes
}

/// The spec to store: `live` with every managed field of `desired` applied.
/// Unmanaged live fields are kept; clears remove; additive sets are unioned.
/// A secret field is replaced whole: merged key by key, a new reference
/// (`fromEnv`, `secretKeyRef`) would sit beside the live `digest` and be
/// stored, or refused by `orgctl serve`, as a secret nobody wrote.
pub fn merge(kind: Kind, path: &str, live: Option<&Value>, desired: &Value) -> Option<Value> {
    match desired {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::Object(d) if !is_whole_map(kind, path) && !secret_paths(kind).contains(&path) => {
            if let Some(items) = additive_items(d) {
                let mut all: Vec<Value> = live.and_then(Value::as_array).cloned().unwrap_or_default();
                for i in items {
                    if !all.contains(i) {
                        all.push(i.clone());
                    }
                }
                all.sort_by_key(|v| v.to_string());
                return Some(Value::Array(all));
            }
            let mut out = live.and_then(Value::as_object).cloned().unwrap_or_default();
            for (k, v) in d {
                match merge(kind, &join(path, k), out.get(k), v) {
                    Some(m) => {
                        out.insert(k.clone(), m);
                    }
                    None => {
                        out.remove(k);
                    }
                }
            }
            Some(Value::Object(out))
        }
        other => Some(other.clone()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::merge;
    use crate::model::Kind;

    #[test]
    fn merge_replaces_a_secret_reference_whole() {
        let live = json!({"type": "oidc", "oidc": {"redirectUris": ["https://a/cb"], "clientSecret": {"digest": "d1"}}});
        let desired =
            json!({"type": "oidc", "oidc": {"clientSecret": {"secretKeyRef": {"name": "s", "key": "k"}}}});
        let merged = merge(Kind::Application, "", Some(&live), &desired).expect("a spec");
        assert_eq!(
            merged["oidc"],
            json!({"redirectUris": ["https://a/cb"], "clientSecret": {"secretKeyRef": {"name": "s", "key": "k"}}})
        );
        let live = json!({"type": "google", "clientSecret": {"digest": "d1"}});
        let desired = json!({"clientSecret": {"fromEnv": "GOOGLE_SECRET"}});
        let merged = merge(Kind::IdentityProvider, "", Some(&live), &desired).expect("a spec");
        assert_eq!(merged["clientSecret"], json!({"fromEnv": "GOOGLE_SECRET"}));
    }
}
