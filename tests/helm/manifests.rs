//! Rendered documents parsed into Kubernetes API types, strictly: a field
//! the type does not know (misspelt, or at the wrong indentation) fails the
//! round trip instead of vanishing.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Container, Namespace, PodSpec, Secret, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::Resource;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value as J;

use crate::render::Rendered;
use crate::yaml;

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

/// Removes nulls (absent in Kubernetes' eyes) before comparing round trips.
pub fn without_nulls(v: &J) -> J {
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
pub fn differences(a: &J, b: &J, path: &str, out: &mut Vec<String>) {
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
        other => panic!("{what}: unexpected kind {other:?}"),
    }
}

impl Manifests {
    pub fn parse(rendered: &Rendered) -> Manifests {
        let mut docs = Vec::new();
        for (source, text) in rendered.manifests() {
            let parsed = yaml::yaml_documents(&text).unwrap_or_else(|e| panic!("{source}: {e}\n{text}"));
            assert_eq!(
                parsed.len(),
                1,
                "{source}: one document per `---` section:\n{text}"
            );
            let json = parsed.into_iter().next().unwrap_or_default();
            assert!(
                json.is_object(),
                "{source}: a document that is not an object:\n{text}"
            );
            let doc = Doc { source, json };
            check_type(&doc);
            docs.push(doc);
        }
        Manifests {
            docs,
            notes: rendered.notes.clone().unwrap_or_default(),
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
