//! The one source of the model's required fields and numeric ranges. The
//! JSON Schema (`orgctl schema`, the editor's), the CRDs (`crd::schema`
//! derives them from that JSON Schema) and `validate` all read these, so an
//! editor, the API server and the CLI accept and refuse the same files.

use schemars::transform::Transform;
use schemars::Schema;
use serde_json::Value;

use super::{Kind, Spec};

/// Shortest password `password.minLength` allows (the domain rule: at least 8).
pub const MIN_PASSWORD_LENGTH: u32 = 8;
/// Fewest concurrent sessions per user `session.concurrentSessions` allows.
pub const MIN_CONCURRENT_SESSIONS: u32 = 1;
/// Most concurrent sessions per user (also the backend default).
pub const MAX_CONCURRENT_SESSIONS: u32 = 50;
/// Shortest session lifetime, in seconds (1 day).
pub const MIN_SESSION_LIFETIME_SECS: u64 = 86_400;
/// Longest session lifetime, in seconds (30 days; also the backend default).
pub const MAX_SESSION_LIFETIME_SECS: u64 = 30 * 86_400;
/// Shortest idle timeout, in seconds (30 minutes).
pub const MIN_IDLE_TIMEOUT_SECS: u64 = 30 * 60;

/// The spec fields every object of `kind` must have. `organization` is part
/// of an object's identity; the others are what the backend cannot do
/// without. (Rules that depend on other fields — a non-default policy's
/// `priority` and `targets`, an SSO app's settings — are `validate`'s and,
/// in a cluster, CEL rules'.)
pub fn required_fields(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Organization => &["superAdmin"],
        Kind::User => &["organization", "email"],
        Kind::Group | Kind::Role | Kind::SecurityPolicy => &["organization"],
        Kind::Application | Kind::IdentityProvider => &["organization", "type"],
        Kind::RoleBinding => &["organization", "role"],
        Kind::AppAssignment => &["organization", "priority", "rule", "assign"],
    }
}

/// The fields of [`required_fields`] that `spec` lacks or clears. Read from
/// the typed spec (serializing every object to look would cost a plan of
/// 100,000 users real time); a field of the list this does not know counts
/// as missing, so a new required field cannot be forgotten here silently.
pub fn missing_required(spec: &Spec) -> impl Iterator<Item = &'static str> + '_ {
    required_fields(spec.kind())
        .iter()
        .copied()
        .filter(move |f| present(spec, f) != Some(true))
}

fn present(spec: &Spec, field: &str) -> Option<bool> {
    Some(match (spec, field) {
        (Spec::Organization(_), "organization") => true,
        (_, "organization") => spec.organization().is_some(),
        (Spec::Organization(o), "superAdmin") => o.super_admin.is_some(),
        (Spec::User(u), "email") => u.email.is_some(),
        (Spec::Application(a), "type") => a.app_type.is_some(),
        (Spec::IdentityProvider(i), "type") => i.provider_type.is_some(),
        (Spec::RoleBinding(b), "role") => b.role.is_some(),
        (Spec::AppAssignment(a), "priority") => a.priority.get().is_some(),
        (Spec::AppAssignment(a), "rule") => a.rule.get().is_some(),
        (Spec::AppAssignment(a), "assign") => a.assign.get().is_some(),
        _ => return None,
    })
}

/// A schemars transform marking the spec of `kind`'s required fields as
/// required and not nullable (`#[schemars(transform = Required(Kind::User))]`).
/// schemars' own `required` attribute has no effect on a struct with
/// `#[serde(default)]`, which every spec has so that absent means unmanaged.
pub struct Required(pub Kind);

impl Transform for Required {
    fn transform(&mut self, schema: &mut Schema) {
        let fields = required_fields(self.0);
        if let Some(Value::Object(props)) = schema.get_mut("properties") {
            for f in fields {
                if let Some(Value::Object(p)) = props.get_mut(*f) {
                    not_nullable(p);
                }
            }
        }
        schema.insert(
            "required".into(),
            Value::Array(fields.iter().map(|f| Value::from(*f)).collect()),
        );
    }
}

/// A schemars transform adding the rules between fields that JSON Schema
/// can state (`if`/`then`/`else`), so an editor flags them as `validate`
/// does: a default policy has no targets and any other policy has a
/// priority and targets; a SAML app has `saml.entityId` and `saml.acsUrl`,
/// an OIDC app has `oidc`. (The CRDs state the same as CEL rules;
/// `crd::schema` drops these, which structural schemas do not allow.)
pub struct Conditional(pub Kind);

impl Transform for Conditional {
    fn transform(&mut self, schema: &mut Schema) {
        let when = |field: &str, value: Value| serde_json::json!({ "properties": { field: { "const": value } }, "required": [field] });
        let rules = match self.0 {
            Kind::SecurityPolicy => vec![serde_json::json!({
                "if": when("default", Value::Bool(true)),
                "then": { "properties": { "targets": { "type": "null" } } },
                "else": {
                    "required": ["priority", "targets"],
                    "properties": { "priority": { "type": "integer" }, "targets": { "type": "object" } }
                }
            })],
            Kind::Application => vec![
                serde_json::json!({
                    "if": when("type", Value::from("saml")),
                    "then": {
                        "required": ["saml"],
                        "properties": { "saml": { "type": "object", "required": ["entityId", "acsUrl"] } }
                    }
                }),
                serde_json::json!({
                    "if": when("type", Value::from("oidc")),
                    "then": { "required": ["oidc"], "properties": { "oidc": { "type": "object" } } }
                }),
            ],
            _ => Vec::new(),
        };
        if !rules.is_empty() {
            schema.insert("allOf".into(), Value::Array(rules));
        }
    }
}

/// True for a node [`Conditional`] added (an `allOf` of `if` rules).
pub fn is_conditional(v: &Value) -> bool {
    v.as_array()
        .is_some_and(|rules| !rules.is_empty() && rules.iter().all(|r| r.get("if").is_some()))
}

/// Drops `null` from a property schema: `type: [T, "null"]` → `T`,
/// `anyOf: [S, {type: null}]` → `S`, `nullable: true` and a `default`
/// (a required field has none) removed.
fn not_nullable(p: &mut serde_json::Map<String, Value>) {
    p.remove("nullable");
    p.remove("default");
    if let Some(Value::Array(types)) = p.get("type") {
        let rest: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
        let single = match rest.as_slice() {
            [one] => one.clone(),
            _ => Value::Array(rest),
        };
        p.insert("type".into(), single);
    }
    if let Some(Value::Array(values)) = p.get_mut("enum") {
        values.retain(|v| !v.is_null());
    }
    let is_null = |v: &Value| {
        v.get("type") == Some(&Value::from("null")) || v.get("enum") == Some(&serde_json::json!([null]))
    };
    if let Some(Value::Array(branches)) = p.get("anyOf") {
        let rest: Vec<Value> = branches.iter().filter(|b| !is_null(b)).cloned().collect();
        if rest.len() < branches.len() {
            p.remove("anyOf");
            match <[Value; 1]>::try_from(rest) {
                Ok([Value::Object(inner)]) => {
                    for (k, v) in inner {
                        p.entry(k).or_insert(v);
                    }
                }
                Ok([other]) => {
                    p.insert("allOf".into(), Value::Array(vec![other]));
                }
                Err(rest) => {
                    p.insert("anyOf".into(), Value::Array(rest));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every required field is known to [`missing_required`]: an empty spec
    /// of each kind lacks exactly the required fields, and the JSON form of
    /// the spec agrees.
    #[test]
    fn an_empty_spec_lacks_exactly_the_required_fields() {
        for kind in Kind::ALL {
            let spec = Spec::from_json(kind, serde_json::json!({})).expect("an empty spec reads");
            let missing: Vec<&str> = missing_required(&spec).collect();
            let expected: Vec<&str> = required_fields(kind)
                .iter()
                .copied()
                .filter(|f| kind != Kind::Organization || *f != "organization")
                .collect();
            assert_eq!(missing, expected, "{kind}");
            for f in required_fields(kind) {
                assert!(
                    present(&spec, f).is_some(),
                    "{kind}: {f} is not known to `present`"
                );
            }
        }
    }
}
