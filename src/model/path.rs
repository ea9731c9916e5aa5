//! Dotted spec field paths (`oidc.clientSecret`): the one form in which
//! plans, capability gaps, secret paths and messages name a field, and
//! their place in a spec's JSON. Field names hold no `/` or `~`, so a path
//! needs no escaping to become a JSON pointer.

use serde_json::Value;

/// The JSON pointer of a dotted path within a spec (`oidc.clientSecret` →
/// `/oidc/clientSecret`).
pub fn pointer(path: &str) -> String {
    format!("/{}", path.replace('.', "/"))
}

/// Removes the field at a dotted path from `spec`; returns its value when it
/// was there.
pub fn remove(spec: &mut Value, path: &str) -> Option<Value> {
    let (parent, leaf) = match path.rsplit_once('.') {
        Some((parent, leaf)) => (pointer(parent), leaf),
        None => (String::new(), path),
    };
    spec.pointer_mut(&parent)?.as_object_mut()?.remove(leaf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_pointers_and_fields_are_removed_at_any_depth() {
        assert_eq!(pointer("clientSecret"), "/clientSecret");
        assert_eq!(pointer("oidc.clientSecret"), "/oidc/clientSecret");
        let mut spec = serde_json::json!({"type": "oidc", "oidc": {"clientSecret": {"digest": "d"}, "redirectUris": []}});
        assert_eq!(
            remove(&mut spec, "oidc.clientSecret"),
            Some(serde_json::json!({"digest": "d"}))
        );
        assert_eq!(remove(&mut spec, "saml.signingKey"), None);
        assert_eq!(remove(&mut spec, "type"), Some(Value::from("oidc")));
        assert_eq!(spec, serde_json::json!({"oidc": {"redirectUris": []}}));
    }
}
