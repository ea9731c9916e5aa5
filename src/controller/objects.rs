//! The custom resources as the controller sees them: read untyped
//! (`DynamicObject`) so one malformed spec cannot break a watch, kept
//! compact ([`Member`]), grouped by organization, and turned into the
//! engine's input. Each resource becomes
//! one YAML document [`Source`] named `<namespace>/<Kind>/<name>`, so every
//! diagnostic the engine reports maps back to its object.
//!
//! Must not: interpret a spec (the engine does), or let a Kubernetes-only
//! field (`deletionPolicy`, `connection`, `suspend`) reach the engine.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::ObjectReference;
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

/// One resource as the watch cache keeps it: the metadata reconciles read,
/// the spec and status as compact JSON text. A `DynamicObject` tree of the
/// same resource takes several times the memory, and the caches hold every
/// resource of every organization for the controller's lifetime.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// Its kind.
    pub kind: Kind,
    /// `metadata.namespace` (shared: the cache interns it).
    pub namespace: Arc<str>,
    /// `metadata.name` (shared with the cache's key).
    pub name: Arc<str>,
    /// `metadata.uid` (empty when absent, which the API server prevents).
    pub uid: Box<str>,
    /// `metadata.resourceVersion`.
    pub resource_version: Option<Box<str>>,
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// True once deletion was requested (`metadata.deletionTimestamp`).
    pub deleting: bool,
    /// `metadata.finalizers`.
    pub finalizers: Box<[String]>,
    /// The organization it belongs to: an Organization's own name, else its
    /// `spec.organization` (`None` when that is not a string; shared: the
    /// cache interns it).
    pub organization: Option<Arc<str>>,
    /// `spec` as JSON text (`{}` when absent).
    spec: Box<str>,
    /// `status` as JSON text, when set.
    status: Option<Box<str>>,
}

impl Member {
    /// The cached form of `object`, a resource of `kind` (`None` without a
    /// namespace or name, which namespaced resources always have).
    pub fn from_object(kind: Kind, object: DynamicObject) -> Option<Member> {
        let DynamicObject {
            metadata, mut data, ..
        } = object;
        let namespace: Arc<str> = metadata.namespace?.into();
        let name: Arc<str> = metadata.name?.into();
        let spec = data.get_mut("spec").map(Value::take).unwrap_or_else(|| json!({}));
        let organization = match kind {
            Kind::Organization => Some(name.clone()),
            _ => spec.get("organization").and_then(Value::as_str).map(Arc::from),
        };
        let status = data
            .get("status")
            .filter(|s| !s.is_null())
            .map(|s| s.to_string().into_boxed_str());
        Some(Member {
            kind,
            namespace,
            name,
            uid: metadata.uid.unwrap_or_default().into(),
            resource_version: metadata.resource_version.map(String::into_boxed_str),
            generation: metadata.generation,
            deleting: metadata.deletion_timestamp.is_some(),
            finalizers: metadata.finalizers.unwrap_or_default().into(),
            organization,
            spec: spec.to_string().into_boxed_str(),
            status,
        })
    }

    /// The organization it belongs to, with its namespace.
    pub fn org_key(&self) -> Option<OrgKey> {
        Some(OrgKey {
            namespace: self.namespace.to_string(),
            organization: self.organization.as_deref()?.to_string(),
        })
    }

    /// True when a change from `before` to `self` should trigger a
    /// reconcile: a new generation (the spec), a deletion request, another
    /// organization, or another object under the same name. Status writes
    /// change none of these, so the controller's own status updates never
    /// trigger it again.
    pub fn triggers_after(&self, before: &Member) -> bool {
        self.generation != before.generation
            || self.deleting != before.deleting
            || self.organization != before.organization
            || self.uid != before.uid
            // Without a generation (not from a real API server), the spec decides.
            || (self.generation.is_none() && self.spec != before.spec)
    }

    /// `metadata.name`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The engine source name: `<namespace>/<Kind>/<name>`.
    pub fn source_name(&self) -> String {
        source_name(&self.namespace, self.kind, &self.name)
    }

    /// True once deletion was requested.
    pub fn deleting(&self) -> bool {
        self.deleting
    }

    /// True when the controller's finalizer is on the resource.
    pub fn has_finalizer(&self) -> bool {
        self.finalizers.iter().any(|x| x == FINALIZER)
    }

    /// The resource's spec split into the engine's spec and the
    /// Kubernetes-only fields (or the reason those are invalid).
    pub fn split(&self) -> (Value, Result<ControllerFields, String>) {
        let mut spec = serde_json::from_str(&self.spec).unwrap_or_else(|_| json!({}));
        let fields = crd::fields::split(self.kind, &mut spec);
        (spec, fields)
    }

    /// The current status as written (empty when none or unreadable).
    pub fn status(&self) -> crd::ObjectStatus {
        self.status
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default()
    }

    /// A reference to the resource, for Events.
    pub fn object_ref(&self) -> ObjectReference {
        let ar = api_resource(self.kind);
        ObjectReference {
            api_version: Some(ar.api_version),
            kind: Some(ar.kind),
            name: Some(self.name.to_string()),
            namespace: Some(self.namespace.to_string()),
            uid: Some(self.uid.to_string()).filter(|u| !u.is_empty()),
            resource_version: self.resource_version.as_deref().map(str::to_string),
            ..ObjectReference::default()
        }
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
pub fn by_source_name(members: &[std::sync::Arc<Member>]) -> BTreeMap<String, usize> {
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

    fn member(kind: Kind, spec: Value) -> Member {
        Member::from_object(kind, object(kind, spec)).expect("a member")
    }

    #[test]
    fn resources_group_by_namespace_and_organization() {
        let user = member(Kind::User, json!({"organization": "acme"}));
        let key = user.org_key().expect("a key");
        assert_eq!(key.to_string(), "identity/acme");
        let org = member(Kind::Organization, json!({"superAdmin": "ada"}));
        assert_eq!(org.org_key().map(|k| k.organization), Some("ada".into()));
        let loose = member(Kind::User, json!({"organization": 7}));
        assert_eq!(loose.org_key(), None);
    }

    #[test]
    fn status_changes_do_not_trigger_but_generations_do() {
        let mut o = object(Kind::User, json!({"organization": "acme"}));
        let before = Member::from_object(Kind::User, o.clone()).expect("member");
        o.data["status"] = json!({"observedGeneration": 1});
        let with_status = Member::from_object(Kind::User, o.clone()).expect("member");
        assert!(!with_status.triggers_after(&before));
        assert_eq!(with_status.status().observed_generation, Some(1));
        o.metadata.generation = Some(2);
        let edited = Member::from_object(Kind::User, o).expect("member");
        assert!(edited.triggers_after(&before));
    }

    #[test]
    fn a_source_is_a_file_document_without_controller_fields() {
        let member = member(
            Kind::Group,
            json!({"organization": "acme", "deletionPolicy": "Delete"}),
        );
        let (spec, fields) = member.split();
        assert!(fields.is_ok());
        let s = source(&member, spec);
        assert_eq!(s.name, "identity/Group/ada");
        assert!(s.text.contains("kind: Group"), "{}", s.text);
        assert!(!s.text.contains("deletionPolicy"), "{}", s.text);
    }
}
