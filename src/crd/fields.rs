//! The spec fields only Kubernetes knows: how the controller treats an
//! object (`deletionPolicy` on every kind) and where an organization lives
//! (`connection`, `suspend` on the Organization). They sit beside the
//! model's fields in a custom resource's spec, appear in the CRD schemas, and
//! are split off ([`split`]) before the spec reaches the engine, which never
//! sees them.
//!
//! Must not: hold a secret value (the connection names a Secret key, the
//! controller reads it at reconcile time).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{Kind, SecretKeyRef};

/// Spec key of the deletion policy (every kind).
pub const DELETION_POLICY: &str = "deletionPolicy";
/// Spec key of the backend connection (Organization).
pub const CONNECTION: &str = "connection";
/// Spec key of the plan-only switch (Organization).
pub const SUSPEND: &str = "suspend";

/// What deleting the custom resource does to the object in the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum DeletionPolicy {
    /// Delete the object from the backend (already gone counts as success).
    Delete,
    /// Leave the object in the backend (the default).
    #[default]
    Orphan,
}

/// The backend an organization lives in. Without it, the controller's
/// default backend (`--backend`, `--token-file`) is used.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Connection {
    /// Backend address: `http(s)://HOST[:PORT]`, `keycloak+http(s)://HOST[:PORT][/PATH]`
    /// or `sqlite:PATH` (a path inside the controller's pod). Absent: the
    /// controller's `--backend`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// The key of a Secret in the Organization's namespace holding the
    /// backend's bearer token, or for Keycloak the secret of `clientId`. Read
    /// at every reconcile, never copied into status, events or logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_secret_ref: Option<SecretKeyRef>,
    /// Keycloak only: the service-account client orgctl signs in as (its
    /// secret is `tokenSecretRef`). Absent: the controller's
    /// `ORGCTL_KEYCLOAK_*` environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

/// The Kubernetes-only fields of one custom resource's spec.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ControllerFields {
    /// `spec.deletionPolicy` (default Orphan).
    pub deletion_policy: DeletionPolicy,
    /// `spec.connection` (Organization only).
    pub connection: Option<Connection>,
    /// `spec.suspend` (Organization only): plan and report, never write.
    pub suspend: bool,
}

/// The Kubernetes-only spec keys of `kind`.
pub fn keys(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Organization => &[DELETION_POLICY, CONNECTION, SUSPEND],
        Kind::User
        | Kind::Group
        | Kind::Application
        | Kind::IdentityProvider
        | Kind::Role
        | Kind::RoleBinding
        | Kind::SecurityPolicy
        | Kind::AppAssignment => &[DELETION_POLICY],
    }
}

/// Removes the Kubernetes-only keys from `spec` (a custom resource's spec
/// as JSON) and reads them. The error names the field; `spec` is stripped
/// either way, so the engine never sees these keys.
pub fn split(kind: Kind, spec: &mut Value) -> Result<ControllerFields, String> {
    let mut fields = ControllerFields::default();
    let Some(map) = spec.as_object_mut() else {
        return Ok(fields);
    };
    let mut problems = Vec::new();
    for key in keys(kind) {
        let Some(value) = map.remove(*key) else { continue };
        if value.is_null() {
            continue;
        }
        let parsed = match *key {
            DELETION_POLICY => serde_json::from_value(value).map(|p| fields.deletion_policy = p),
            CONNECTION => serde_json::from_value(value).map(|c| fields.connection = Some(c)),
            _ => serde_json::from_value(value).map(|s| fields.suspend = s),
        };
        if let Err(e) = parsed {
            problems.push(format!("spec.{key}: {e}"));
        }
    }
    if problems.is_empty() {
        Ok(fields)
    } else {
        Err(problems.join("; "))
    }
}

/// The schema of each Kubernetes-only key of `kind`, as schemars writes it.
pub(super) fn raw_schemas(kind: Kind) -> Vec<(&'static str, Value)> {
    let described = |mut v: Value, text: &str| {
        if let Some(o) = v.as_object_mut() {
            o.insert("description".into(), text.into());
        }
        v
    };
    keys(kind)
        .iter()
        .map(|key| {
            let schema = match *key {
                DELETION_POLICY => described(
                    super::schema::raw::<DeletionPolicy>(),
                    "What deleting this resource does in the backend: Delete removes the object (already gone counts as success), Orphan (the default) leaves it. Read by the orgctl controller; never sent to the backend.",
                ),
                CONNECTION => described(
                    super::schema::raw::<Connection>(),
                    "The backend this organization lives in; absent: the controller's --backend and --token-file. Read by the orgctl controller; never sent to the backend.",
                ),
                _ => serde_json::json!({
                    "type": "boolean",
                    "description": "Plan and report in status without writing to the backend. Read by the orgctl controller; never sent to the backend.",
                }),
            };
            (*key, schema)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn split_strips_controller_keys_and_reads_them() {
        let mut spec = json!({
            "superAdmin": "ada",
            "deletionPolicy": "Delete",
            "suspend": true,
            "connection": {"backend": "https://dir.example", "tokenSecretRef": {"name": "dir", "key": "token"}}
        });
        let f = split(Kind::Organization, &mut spec).expect("valid");
        assert_eq!(spec, json!({"superAdmin": "ada"}));
        assert_eq!(f.deletion_policy, DeletionPolicy::Delete);
        assert!(f.suspend);
        assert_eq!(
            f.connection.and_then(|c| c.token_secret_ref).map(|r| r.name),
            Some("dir".to_string())
        );
    }

    #[test]
    fn only_the_organization_has_a_connection() {
        let mut spec = json!({"organization": "acme", "connection": {}, "deletionPolicy": "Orphan"});
        let f = split(Kind::User, &mut spec).expect("valid");
        assert_eq!(f.deletion_policy, DeletionPolicy::Orphan);
        // Left in place: the engine reports it as an unknown field.
        assert_eq!(spec, json!({"organization": "acme", "connection": {}}));
    }

    #[test]
    fn a_bad_policy_is_named() {
        let mut spec = json!({"organization": "acme", "deletionPolicy": "Keep"});
        let e = split(Kind::Group, &mut spec).expect_err("invalid");
        assert!(e.starts_with("spec.deletionPolicy"), "{e}");
        assert_eq!(spec, json!({"organization": "acme"}));
    }
}
