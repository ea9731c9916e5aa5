//! Kubernetes objects parsed into their k8s-openapi types strictly: the
//! typed value must serialize back to the same JSON, so a misspelt or
//! misplaced field fails instead of vanishing in serde.

use std::collections::BTreeSet;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value as J;

/// Removes nulls (absent in Kubernetes' eyes) before comparing round trips.
fn without_nulls(v: &J) -> J {
    match v {
        J::Object(m) => J::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        J::Array(a) => J::Array(a.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// Paths where `a` and `b` differ.
fn differences(a: &J, b: &J, path: &str, out: &mut Vec<String>) {
    match (a, b) {
        (J::Object(x), J::Object(y)) => {
            for k in x.keys().chain(y.keys()).collect::<BTreeSet<_>>() {
                match (x.get(k), y.get(k)) {
                    (Some(v), Some(w)) => differences(v, w, &format!("{path}.{k}"), out),
                    (Some(_), None) => out.push(format!("{path}.{k}: dropped (unknown field?)")),
                    (None, Some(_)) => out.push(format!("{path}.{k}: added")),
                    (None, None) => {}
                }
            }
        }
        (J::Array(x), J::Array(y)) if x.len() == y.len() => {
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                differences(v, w, &format!("{path}[{i}]"), out);
            }
        }
        _ if a != b => out.push(format!("{path}: {a} became {b}")),
        _ => {}
    }
}

/// Parses `json` into `T` and back, refusing anything serde dropped or
/// changed (a misspelt field would otherwise vanish silently).
pub fn strict<T: DeserializeOwned + Serialize>(json: &J, what: &str) -> T {
    let typed: T = serde_json::from_value(json.clone()).unwrap_or_else(|e| panic!("{what}: {e}\n{json:#}"));
    let back = serde_json::to_value(&typed).expect("serialize");
    let mut diffs = Vec::new();
    differences(&without_nulls(json), &without_nulls(&back), "", &mut diffs);
    assert!(
        diffs.is_empty(),
        "{what} does not round-trip:\n{}",
        diffs.join("\n")
    );
    typed
}
