//! The custom resources the CRD tests share: the example organization's
//! objects (`examples/acme`), each parsed as YAML 1.2's core schema types it,
//! and a corpus of objects orgctl refuses that the CRDs must refuse too.
//! `tests/crds.rs` checks them with the CRD schemas and kube-cel;
//! `tests/kube_real.rs` sends them to a real kube-apiserver, which must say
//! [`Case::server_says`].
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use orgctl::crd::schema::MAX_CONDITION_DEPTH;
use orgctl::load::tree::{parse_stream, Node, NodeValue};
use serde_json::{json, Value};

pub fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// One object orgctl refuses.
pub struct Case {
    /// What is wrong with it.
    pub what: &'static str,
    /// The custom resource.
    pub object: Value,
    /// Part of the message a real API server refuses it with.
    pub server_says: &'static str,
}

impl Case {
    fn refused(what: &'static str, object: Value, server_says: &'static str) -> Case {
        Case {
            what,
            object,
            server_says,
        }
    }
}

pub fn yaml_files(dir: &Path) -> BTreeMap<String, String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeMap::new();
    };
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            (name, std::fs::read_to_string(&p).expect("read file"))
        })
        .collect()
}

/// YAML text → JSON documents, typed as YAML 1.2's core schema types them.
pub fn yaml_documents(text: &str) -> Vec<Value> {
    let (docs, errors) = parse_stream(text);
    assert!(errors.is_empty(), "YAML errors: {errors:?}");
    docs.iter().map(|d| to_json(&d.root)).collect()
}

pub fn to_json(node: &Node) -> Value {
    match &node.value {
        NodeValue::Scalar { text, plain: false } => Value::String(text.clone()),
        NodeValue::Scalar { text, plain: true } => {
            if node.is_null() {
                Value::Null
            } else if let Some(b) = orgctl::load::tree::parse_bool(text) {
                Value::Bool(b)
            } else if let Ok(i) = text.parse::<i64>() {
                Value::from(i)
            } else if let Ok(f) = text.parse::<f64>() {
                json!(f)
            } else {
                Value::String(text.clone())
            }
        }
        NodeValue::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
        NodeValue::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), to_json(v)))
                .collect(),
        ),
    }
}

pub fn example_objects() -> Vec<(String, Value)> {
    let dir = repo("examples/acme");
    let mut out = Vec::new();
    for (file, text) in yaml_files(&dir) {
        for doc in yaml_documents(&text) {
            out.push((file.clone(), doc));
        }
    }
    out
}

/// One example object of `kind`, changed by `edit`.
pub fn example(kind: &str, name: &str, edit: impl FnOnce(&mut Value)) -> Value {
    let mut object = example_objects()
        .into_iter()
        .map(|(_, o)| o)
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no example {kind} {name}"));
    edit(&mut object);
    object
}

/// A condition nested `levels` deep (`rule` is level 1).
pub fn nested_condition(levels: usize) -> Value {
    let mut c = json!({ "field": "department", "op": "equals", "value": "IT" });
    for _ in 1..levels {
        c = json!({ "all": [c] });
    }
    c
}

/// Objects orgctl refuses, each with what the API server says when it
/// refuses it (a part of its message).
pub fn refused() -> Vec<Case> {
    vec![
        Case::refused(
            "a password shorter than 8",
            example("SecurityPolicy", "standard", |o| {
                o["spec"]["password"]["minLength"] = json!(7)
            }),
            "spec.password.minLength in body should be greater than or equal to 8",
        ),
        Case::refused(
            "more than 50 concurrent sessions",
            example("SecurityPolicy", "standard", |o| {
                o["spec"]["session"]["concurrentSessions"] = json!(51)
            }),
            "spec.session.concurrentSessions in body should be less than or equal to 50",
        ),
        Case::refused(
            "a session lifetime over 30 days",
            example("SecurityPolicy", "standard", |o| {
                o["spec"]["session"]["lifetime"] = json!("31d")
            }),
            "spec.session.lifetime: Invalid value: the session lifetime must be between 1d and 30d",
        ),
        Case::refused(
            "a session lifetime under a day",
            example("SecurityPolicy", "standard", |o| {
                o["spec"]["session"]["lifetime"] = json!("23h")
            }),
            "spec.session.lifetime: Invalid value: the session lifetime must be between 1d and 30d",
        ),
        Case::refused(
            "an idle timeout under 30 minutes",
            example("SecurityPolicy", "standard", |o| {
                o["spec"]["session"]["idleTimeout"] = json!("29m")
            }),
            "spec.session.idleTimeout: Invalid value: the idle timeout must be at least 30m",
        ),
        Case::refused(
            "a duration without a unit",
            example("SecurityPolicy", "standard", |o| {
                o["spec"]["password"]["maxAge"] = json!("180")
            }),
            "spec.password.maxAge in body should match '^[0-9]+(s|m|h|d|w)$'",
        ),
        Case::refused(
            "minAge not below maxAge",
            example("SecurityPolicy", "high-risk", |o| {
                o["spec"]["password"]["minAge"] = json!("2160h")
            }),
            "spec.password.minAge: Invalid value: minAge must be shorter than maxAge",
        ),
        Case::refused(
            "a default policy with targets",
            example("SecurityPolicy", "standard", |o| {
                o["spec"]["targets"] = json!({ "groups": ["admins"] })
            }),
            "spec.targets: Invalid value: the default policy applies to everyone not targeted by another policy",
        ),
        Case::refused(
            "a non-default policy without priority",
            example("SecurityPolicy", "high-risk", |o| {
                o["spec"].as_object_mut().unwrap().remove("priority");
            }),
            "a policy that is not the default needs `priority` and `targets`",
        ),
        Case::refused(
            "an unknown field",
            example("User", "jonas.weber", |o| {
                o["spec"]["emial"] = json!("x@acme.example")
            }),
            "strict decoding error: unknown field \"spec.emial\"",
        ),
        Case::refused(
            "a user without email",
            example("User", "jonas.weber", |o| {
                o["spec"].as_object_mut().unwrap().remove("email");
            }),
            "spec.email: Required value",
        ),
        Case::refused(
            "an unknown user status",
            example("User", "jonas.weber", |o| {
                o["spec"]["status"] = json!("suspended")
            }),
            "spec.status: Unsupported value: \"suspended\"",
        ),
        Case::refused(
            "an invalid name",
            example("User", "jonas.weber", |o| {
                o["metadata"]["name"] = json!("Jonas_Weber")
            }),
            "metadata.name: Invalid value: \"Jonas_Weber\"",
        ),
        Case::refused(
            "saml settings on an OIDC app",
            example("Application", "wiki", |o| {
                o["spec"]["saml"] = json!({ "entityId": "x" })
            }),
            "spec.saml: Invalid value: `saml` applies to applications of type saml",
        ),
        Case::refused(
            "a catalog id on a SAML app",
            example("Application", "expense", |o| {
                o["spec"]["catalogId"] = json!("expense")
            }),
            "spec.catalogId: Invalid value: `catalogId` applies to applications of type catalog",
        ),
        Case::refused(
            "saml settings on a Google provider",
            example("IdentityProvider", "google", |o| {
                o["spec"]["saml"] = json!({ "ssoUrl": "x" })
            }),
            "spec.saml: Invalid value: `saml` applies to identity providers of type saml",
        ),
        Case::refused(
            "a secret with two sources",
            example("IdentityProvider", "google", |o| {
                o["spec"]["clientSecret"] = json!({ "fromEnv": "A", "fromFile": "b" })
            }),
            "spec.clientSecret: Invalid value: a secret reference needs exactly one of fromEnv, fromFile or secretKeyRef",
        ),
        Case::refused(
            "an inline secret",
            example("IdentityProvider", "google", |o| {
                o["spec"]["clientSecret"] = json!("hunter2")
            }),
            "spec.clientSecret in body must be of type object",
        ),
        Case::refused(
            "a custom role named like a built-in one",
            example("Role", "helpdesk", |o| o["metadata"]["name"] = json!("admin")),
            "super-admin, admin, member are built-in roles; choose another name for a custom Role",
        ),
        Case::refused(
            "an unknown permission module",
            example("Role", "helpdesk", |o| {
                o["spec"]["permissions"]["payroll"] = json!(["view"])
            }),
            "strict decoding error: unknown field \"spec.permissions.payroll\"",
        ),
        Case::refused(
            "a repeated permission action",
            example("Role", "helpdesk", |o| {
                o["spec"]["permissions"]["user"] = json!(["view", "view"])
            }),
            "spec.permissions.user[1]: Duplicate value: \"view\"",
        ),
        Case::refused(
            "a condition with both `all` and `field`",
            example("AppAssignment", "all-staff", |o| {
                o["spec"]["rule"]["all"] = json!([nested_condition(1)])
            }),
            "spec.rule: Invalid value: a condition needs exactly one of `all`, `any`, or `field` with `op`",
        ),
        Case::refused(
            "an `in` condition with `value`",
            example("AppAssignment", "all-staff", |o| {
                let rule = o["spec"]["rule"].as_object_mut().unwrap();
                rule.remove("values");
                rule.insert("value".into(), json!("acme.example"));
            }),
            "spec.rule: Invalid value: `in` and `notIn` take `values` (a non-empty list)",
        ),
        Case::refused(
            "an unknown condition field",
            example("AppAssignment", "all-staff", |o| {
                o["spec"]["rule"]["field"] = json!("departement")
            }),
            "spec.rule.field: Invalid value: \"departement\"",
        ),
        Case::refused(
            "an empty `any`",
            example("AppAssignment", "all-staff", |o| {
                o["spec"]["rule"] = json!({ "any": [] })
            }),
            "spec.rule.any in body should have at least 1 items",
        ),
        Case::refused(
            "conditions nested deeper than a custom resource allows",
            example("AppAssignment", "all-staff", |o| {
                o["spec"]["rule"] = nested_condition(MAX_CONDITION_DEPTH + 1)
            }),
            "unknown field \"spec.rule.all[0].all[0].all[0].all[0].field\"",
        ),
        Case::refused(
            "a SAML app without saml settings",
            example("Application", "expense", |o| {
                o["spec"].as_object_mut().unwrap().remove("saml");
            }),
            "an application of type saml needs saml.entityId and saml.acsUrl",
        ),
        Case::refused(
            "a SAML app without an assertion consumer URL",
            example("Application", "expense", |o| {
                o["spec"]["saml"].as_object_mut().unwrap().remove("acsUrl");
            }),
            "an application of type saml needs saml.entityId and saml.acsUrl",
        ),
        Case::refused(
            "an OIDC app without oidc settings",
            example("Application", "wiki", |o| {
                o["spec"].as_object_mut().unwrap().remove("oidc");
            }),
            "an application of type oidc needs `oidc` (its redirectUris)",
        ),
        Case::refused(
            "an idle timeout longer than the session lifetime",
            example("SecurityPolicy", "standard", |o| {
                o["spec"]["session"] = json!({ "lifetime": "1d", "idleTimeout": "25h" })
            }),
            "the idle timeout must not be longer than the session lifetime (30d when unset)",
        ),
        Case::refused(
            "an idle timeout longer than the default session lifetime",
            example("SecurityPolicy", "standard", |o| {
                o["spec"]["session"] = json!({ "idleTimeout": "31d" })
            }),
            "the idle timeout must not be longer than the session lifetime (30d when unset)",
        ),
        Case::refused(
            "an assignment without priority",
            example("AppAssignment", "all-staff", |o| {
                o["spec"].as_object_mut().unwrap().remove("priority");
            }),
            "spec.priority: Required value",
        ),
        ]
}

/// Objects at the limits of what orgctl accepts.
pub fn accepted() -> Vec<Value> {
    vec![
        example("SecurityPolicy", "standard", |o| {
            o["spec"]["password"]["minLength"] = json!(8);
            o["spec"]["session"] =
                json!({ "lifetime": "720h", "idleTimeout": "30m", "concurrentSessions": 50 });
        }),
        example("SecurityPolicy", "standard", |o| {
            o["spec"]["session"] = json!({ "lifetime": "1d", "idleTimeout": "24h" })
        }),
        example("AppAssignment", "all-staff", |o| {
            o["spec"]["rule"] = nested_condition(MAX_CONDITION_DEPTH)
        }),
        example("IdentityProvider", "google", |o| {
            o["spec"]["clientSecret"] = json!({ "secretKeyRef": { "name": "google", "key": "secret" } })
        }),
        example("Group", "platform-team", |o| {
            o["spec"]["members"] = json!({ "users": null })
        }),
    ]
}
