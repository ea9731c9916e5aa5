//! Rendered documents read by kubectl (`kubectl create --dry-run=client -o
//! json`: YAML as Kubernetes reads it, nothing sent to the server) and parsed
//! into Kubernetes API types, strictly: a field the type does not know
//! (misspelt, or at the wrong indentation) fails the round trip instead of
//! vanishing.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Container, Namespace, PodSpec, Secret, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::Resource;
use serde::de::DeserializeOwned;
use serde_json::Value as J;

use crate::kube_real::chart::Rendered;
use crate::kube_real::Kube;
use crate::strict::strict;

/// One rendered document: where it came from, its JSON, its kind and name.
#[derive(Debug, Clone)]
pub struct Doc {
    pub source: String,
    pub json: J,
}

impl Doc {
    pub fn kind(&self) -> &str {
        self.json["kind"].as_str().unwrap_or_default()
    }
    pub fn name(&self) -> &str {
        self.json["metadata"]["name"].as_str().unwrap_or_default()
    }
}

/// Every rendered document, each checked to parse strictly into its type.
pub struct Manifests {
    pub docs: Vec<Doc>,
    pub notes: String,
}

/// Parses a document into the type its `kind` names.
pub fn check_type(doc: &Doc) {
    let what = format!("{} {} ({})", doc.kind(), doc.name(), doc.source);
    match doc.kind() {
        "Deployment" => drop(strict::<Deployment>(&doc.json, &what)),
        "StatefulSet" => drop(strict::<StatefulSet>(&doc.json, &what)),
        "Service" => drop(strict::<Service>(&doc.json, &what)),
        "ServiceAccount" => drop(strict::<ServiceAccount>(&doc.json, &what)),
        "ClusterRole" => drop(strict::<ClusterRole>(&doc.json, &what)),
        "ClusterRoleBinding" => drop(strict::<ClusterRoleBinding>(&doc.json, &what)),
        "Role" => drop(strict::<Role>(&doc.json, &what)),
        "RoleBinding" => drop(strict::<RoleBinding>(&doc.json, &what)),
        "Secret" => drop(strict::<Secret>(&doc.json, &what)),
        "Namespace" => drop(strict::<Namespace>(&doc.json, &what)),
        "NetworkPolicy" => drop(strict::<NetworkPolicy>(&doc.json, &what)),
        other => panic!("{what}: unexpected kind {other:?}"),
    }
}

impl Manifests {
    pub fn parse(k: &Kube, rendered: &Rendered) -> Manifests {
        // helm writes `# Source: <template>` at the top of each document.
        let sources: Vec<String> = rendered
            .manifest
            .lines()
            .filter_map(|l| l.strip_prefix("# Source: "))
            .map(str::to_string)
            .collect();
        let json = k.ok(
            "kubectl",
            &["create", "--dry-run=client", "-o", "json", "-f", "-"],
            Some(&rendered.manifest),
        );
        let objects: Vec<J> = serde_json::Deserializer::from_str(&json)
            .into_iter::<J>()
            .map(|o| o.expect("kubectl's JSON"))
            .collect();
        assert_eq!(
            objects.len(),
            sources.len(),
            "one object per rendered document:\n{}",
            rendered.manifest
        );
        let mut docs = Vec::new();
        for (source, json) in sources.into_iter().zip(objects) {
            let doc = Doc { source, json };
            check_type(&doc);
            docs.push(doc);
        }
        Manifests {
            docs,
            notes: rendered.notes.clone(),
        }
    }

    pub fn kinds(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for d in &self.docs {
            *out.entry(d.kind().to_string()).or_insert(0) += 1;
        }
        out
    }

    pub fn all<T: DeserializeOwned + Resource>(&self) -> Vec<T> {
        self.docs
            .iter()
            .filter(|d| d.kind() == T::KIND)
            .map(|d| serde_json::from_value(d.json.clone()).expect("checked already"))
            .collect()
    }

    pub fn one<T: DeserializeOwned + Resource>(&self) -> T {
        let mut all = self.all::<T>();
        assert_eq!(all.len(), 1, "expected exactly one {}", T::KIND);
        all.remove(0)
    }

    pub fn named<T: DeserializeOwned + Resource>(&self, name: &str) -> T {
        self.docs
            .iter()
            .find(|d| d.kind() == T::KIND && d.name() == name)
            .map(|d| serde_json::from_value(d.json.clone()).expect("checked already"))
            .unwrap_or_else(|| panic!("no {} named {name}", T::KIND))
    }
}

pub fn pod_spec(d: &Deployment) -> &PodSpec {
    Some(&d.spec)
        .and_then(|s| s.template.spec.as_ref())
        .expect("pod spec")
}

pub fn sts_pod_spec(s: &StatefulSet) -> &PodSpec {
    Some(&s.spec)
        .and_then(|s| s.template.spec.as_ref())
        .expect("pod spec")
}

pub fn container<'a>(pod: &'a PodSpec, name: &str) -> &'a Container {
    pod.containers
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

pub fn args(c: &Container) -> Vec<String> {
    c.args.clone().unwrap_or_default()
}

/// The value after `--flag` in args (flags take their value as the next item).
pub fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

pub fn quantity(
    map: &Option<BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
    k: &str,
) -> String {
    map.as_ref()
        .and_then(|m| m.get(k))
        .map(|q| q.0.clone())
        .unwrap_or_else(|| panic!("no {k}"))
}

pub fn labels_select(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}
