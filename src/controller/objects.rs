//! The custom resources as the controller sees them: untyped
//! (`DynamicObject`) so one malformed spec cannot break a watch, grouped by
//! organization, and turned into the engine's input. Each resource becomes
//! one YAML document [`Source`] named `<namespace>/<Kind>/<name>`, so every
//! diagnostic the engine reports maps back to its object.
//!
//! Must not: interpret a spec (the engine does), or let a Kubernetes-only
//! field (`deletionPolicy`, `connection`, `suspend`) reach the engine.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use kube::api::{ApiResource, DynamicObject};
use serde_json::{json, Value};

use crate::crd::{self, fields::ControllerFields};
use crate::load::Source;
use crate::model::{Kind, API_VERSION};

/// The finalizer the controller puts on resources whose deletion policy is
/// `Delete`, and removes once the backend object is gone.
pub const FINALIZER: &str = "orgctl.io/finalizer";

/// An organization as the controller schedules it: the namespace its
/// resources live in and its name. The Organization resource and every
/// resource naming it in `spec.organization` in that namespace belong to it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrgKey {
    /// The namespace.
    pub namespace: String,
    /// The organization's name.
    pub organization: String,
}

impl std::fmt::Display for OrgKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.organization)
    }
}

/// The API resource (group, version, plural) of one kind.
pub fn api_resource(kind: Kind) -> ApiResource {
    match kind {
        Kind::Organization => ApiResource::erase::<crd::Organization>(&()),
        Kind::User => ApiResource::erase::<crd::User>(&()),
        Kind::Group => ApiResource::erase::<crd::Group>(&()),
        Kind::Application => ApiResource::erase::<crd::Application>(&()),
        Kind::IdentityProvider => ApiResource::erase::<crd::IdentityProvider>(&()),
        Kind::Role => ApiResource::erase::<crd::Role>(&()),
        Kind::RoleBinding => ApiResource::erase::<crd::RoleBinding>(&()),
        Kind::SecurityPolicy => ApiResource::erase::<crd::SecurityPolicy>(&()),
        Kind::AppAssignment => ApiResource::erase::<crd::AppAssignment>(&()),
    }
}

/// The plural resource name of a kind (`users`).
pub fn plural(kind: Kind) -> String {
    api_resource(kind).plural
}

/// The organization a resource belongs to: an Organization's own name,
/// else its `spec.organization`.
pub fn org_key(kind: Kind, obj: &DynamicObject) -> Option<OrgKey> {
    let namespace = obj.metadata.namespace.clone()?;
    let organization = match kind {
        Kind::Organization => obj.metadata.name.clone()?,
        _ => obj.data.get("spec")?.get("organization")?.as_str()?.to_string(),
    };
    Some(OrgKey {
        namespace,
        organization,
    })
}

/// What of a resource should trigger a reconcile: its generation (the
/// spec), and whether it is being deleted. Status writes change neither, so
/// the controller's own status updates never trigger it again.
pub fn trigger_hash(obj: &DynamicObject) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    obj.metadata.generation.hash(&mut h);
    obj.metadata.deletion_timestamp.is_some().hash(&mut h);
    // An object without a generation (not from a real API server) falls
    // back to its spec.
    if obj.metadata.generation.is_none() {
        obj.data.get("spec").map(Value::to_string).hash(&mut h);
    }
    h.finish()
}

/// One resource of an organization, read from the watch caches.
#[derive(Debug, Clone)]
pub struct Member {
    /// Its kind.
    pub kind: Kind,
    /// The resource.
    pub object: Arc<DynamicObject>,
}

impl Member {
    /// `metadata.name` (empty when absent, which the API server prevents).
    pub fn name(&self) -> &str {
        self.object.metadata.name.as_deref().unwrap_or_default()
    }

    /// The engine source name: `<namespace>/<Kind>/<name>`.
    pub fn source_name(&self) -> String {
        source_name(
            self.object.metadata.namespace.as_deref().unwrap_or_default(),
            self.kind,
            self.name(),
        )
    }

    /// True once deletion was requested.
    pub fn deleting(&self) -> bool {
        self.object.metadata.deletion_timestamp.is_some()
    }

    /// True when the controller's finalizer is on the resource.
    pub fn has_finalizer(&self) -> bool {
        self.object
            .metadata
            .finalizers
            .as_ref()
            .is_some_and(|f| f.iter().any(|x| x == FINALIZER))
    }

    /// The resource's spec split into the engine's spec and the
    /// Kubernetes-only fields (or the reason those are invalid).
    pub fn split(&self) -> (Value, Result<ControllerFields, String>) {
        let mut spec = self.object.data.get("spec").cloned().unwrap_or_else(|| json!({}));
        let fields = crd::fields::split(self.kind, &mut spec);
        (spec, fields)
    }

    /// The current status as written (empty when none or unreadable).
    pub fn status(&self) -> crd::ObjectStatus {
        self.object
            .data
            .get("status")
            .cloned()
            .and_then(|s| serde_json::from_value(s).ok())
            .unwrap_or_default()
    }
}

/// The engine source name of a resource.
pub fn source_name(namespace: &str, kind: Kind, name: &str) -> String {
    format!("{namespace}/{kind}/{name}")
}

/// The engine's input for one resource: the document `orgctl apply` would
/// read from a file, with only the name in its metadata (labels and
/// annotations of Kubernetes objects are not the model's).
pub fn source(member: &Member, spec: Value) -> Source {
    let document = json!({
        "apiVersion": API_VERSION,
        "kind": member.kind.as_str(),
        "metadata": { "name": member.name() },
        "spec": spec,
    });
    Source {
        name: member.source_name(),
        text: crate::load::emit::document(&document),
    }
}

/// Members grouped by kind and name, for looking them up by a source name.
pub fn by_source_name(members: &[Member]) -> BTreeMap<String, usize> {
    members
        .iter()
        .enumerate()
        .map(|(i, m)| (m.source_name(), i))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(kind: Kind, spec: Value) -> DynamicObject {
        let mut o = DynamicObject::new("ada", &api_resource(kind)).within("identity");
        o.data = json!({ "spec": spec });
        o.metadata.generation = Some(1);
        o
    }

    #[test]
    fn resources_group_by_namespace_and_organization() {
        let user = object(Kind::User, json!({"organization": "acme"}));
        let key = org_key(Kind::User, &user).expect("a key");
        assert_eq!(key.to_string(), "identity/acme");
        let org = object(Kind::Organization, json!({"superAdmin": "ada"}));
        assert_eq!(
            org_key(Kind::Organization, &org).map(|k| k.organization),
            Some("ada".into())
        );
    }

    #[test]
    fn status_changes_do_not_change_the_trigger() {
        let mut user = object(Kind::User, json!({"organization": "acme"}));
        let before = trigger_hash(&user);
        user.data["status"] = json!({"observedGeneration": 1});
        assert_eq!(trigger_hash(&user), before);
        user.metadata.generation = Some(2);
        assert_ne!(trigger_hash(&user), before);
    }

    #[test]
    fn a_source_is_a_file_document_without_controller_fields() {
        let member = Member {
            kind: Kind::Group,
            object: Arc::new(object(
                Kind::Group,
                json!({"organization": "acme", "deletionPolicy": "Delete"}),
            )),
        };
        let (spec, fields) = member.split();
        assert!(fields.is_ok());
        let s = source(&member, spec);
        assert_eq!(s.name, "identity/Group/ada");
        assert!(s.text.contains("kind: Group"), "{}", s.text);
        assert!(!s.text.contains("deletionPolicy"), "{}", s.text);
    }
}
