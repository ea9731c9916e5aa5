//! `examples/kubernetes/`: every document parses (Kubernetes objects into
//! their types, orgctl objects through orgctl's own load and validation),
//! the kustomization lists every file, and the objects are `examples/acme`'s
//! plus secret references that `secret-template.yaml` provides.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Namespace, Secret};
use serde_json::Value as J;

use crate::crd_corpus::{repo, yaml_documents};
use crate::strict::strict;

fn yaml_files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let p = entry.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// (file, document) of every YAML file under `dir`.
fn documents_under(dir: &Path) -> Vec<(String, J)> {
    let mut out = Vec::new();
    for path in yaml_files_under(dir) {
        let text = std::fs::read_to_string(&path).expect("read");
        let rel = path
            .strip_prefix(repo(""))
            .expect("in repo")
            .to_string_lossy()
            .to_string();
        for doc in yaml_documents(&text) {
            out.push((rel.clone(), doc));
        }
    }
    out
}

#[test]
fn kubernetes_example_documents_all_parse() {
    let docs = documents_under(&repo("examples/kubernetes"));
    let mut sources = Vec::new();
    let mut secrets = Vec::new();
    let mut kustomization = None;
    for (file, doc) in &docs {
        let what = format!("{file}: {} {}", doc["kind"], doc["metadata"]["name"]);
        match (
            doc["apiVersion"].as_str().unwrap_or_default(),
            doc["kind"].as_str().unwrap_or_default(),
        ) {
            ("orgctl.io/v1alpha1", _) => {}
            ("v1", "Namespace") => drop(strict::<Namespace>(doc, &what)),
            ("v1", "Secret") => secrets.push(strict::<Secret>(doc, &what)),
            ("kustomize.config.k8s.io/v1beta1", "Kustomization") => kustomization = Some(doc.clone()),
            (api, kind) => panic!("{what}: unexpected {api} {kind}"),
        }
    }
    // The orgctl objects load and validate with orgctl itself.
    for path in yaml_files_under(&repo("examples/kubernetes/acme")) {
        sources.push(orgctl::load::Source {
            name: path.to_string_lossy().to_string(),
            text: std::fs::read_to_string(&path).expect("read"),
        });
    }
    let state = orgctl::validate::run(&sources).unwrap_or_else(|d| panic!("invalid: {d:#?}"));
    assert_eq!(
        state.organizations.keys().map(|k| k.as_str()).collect::<Vec<_>>(),
        ["acme"]
    );
    let acme_objects = documents_under(&repo("examples/acme")).len();
    assert_eq!(
        state.organizations.values().next().expect("acme").objects.len(),
        acme_objects
    );

    // Every Secret value is a placeholder.
    assert_eq!(secrets.len(), 2);
    for s in &secrets {
        for (k, v) in s.string_data.clone().expect("stringData") {
            assert_eq!(v, "REPLACE-ME", "{k}");
        }
    }

    // The kustomization lists the namespace and every object file, in namespace acme.
    let k = kustomization.expect("kustomization.yaml");
    assert_eq!(k["namespace"], "acme");
    let listed: BTreeSet<String> = k["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| r.as_str().expect("path").to_string())
        .collect();
    let mut expected: BTreeSet<String> = yaml_files_under(&repo("examples/kubernetes/acme"))
        .iter()
        .map(|p| format!("acme/{}", p.file_name().expect("name").to_string_lossy()))
        .collect();
    expected.insert("namespace.yaml".into());
    assert_eq!(listed, expected);
    let ns = docs
        .iter()
        .find(|(_, d)| d["kind"] == "Namespace")
        .expect("namespace.yaml");
    assert_eq!(ns.1["metadata"]["name"], "acme");
}

/// Every `secretKeyRef` in a JSON value: (path, name, key).
fn secret_refs(v: &J, path: &str, out: &mut Vec<(String, String, String)>) {
    match v {
        J::Object(m) => {
            if let Some(r) = m.get("secretKeyRef") {
                out.push((
                    path.to_string(),
                    r["name"].as_str().unwrap_or_default().into(),
                    r["key"].as_str().unwrap_or_default().into(),
                ));
            }
            for (k, child) in m {
                secret_refs(child, &format!("{path}.{k}"), out);
            }
        }
        J::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, c)| secret_refs(c, &format!("{path}[{i}]"), out)),
        _ => {}
    }
}

#[test]
fn kubernetes_example_is_the_acme_example_with_secret_references() {
    let key = |d: &J| {
        (
            d["kind"].as_str().unwrap_or_default().to_string(),
            d["metadata"]["name"].as_str().unwrap_or_default().to_string(),
        )
    };
    let acme: BTreeMap<_, _> = documents_under(&repo("examples/acme"))
        .into_iter()
        .map(|(_, d)| (key(&d), d))
        .collect();
    let kube: BTreeMap<_, _> = documents_under(&repo("examples/kubernetes/acme"))
        .into_iter()
        .map(|(_, d)| (key(&d), d))
        .collect();
    assert_eq!(acme.keys().collect::<Vec<_>>(), kube.keys().collect::<Vec<_>>());

    let template = std::fs::read_to_string(repo("examples/kubernetes/secret-template.yaml"))
        .expect("secret-template.yaml");
    let provided: BTreeSet<(String, String, String)> = yaml_documents(&template)
        .iter()
        .flat_map(|s| {
            let ns = s["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let name = s["metadata"]["name"].as_str().unwrap_or_default().to_string();
            s["stringData"]
                .as_object()
                .into_iter()
                .flatten()
                .map(move |(k, _)| (ns.clone(), name.clone(), k.clone()))
        })
        .collect();

    let mut references = Vec::new();
    for (k, original) in &acme {
        let mut refs = Vec::new();
        secret_refs(&kube[k], "", &mut refs);
        let mut stripped = kube[k].clone();
        for (path, name, secret_key) in &refs {
            assert!(
                provided.contains(&("acme".to_string(), name.clone(), secret_key.clone())),
                "{k:?}{path}: Secret {name} key {secret_key} is not in secret-template.yaml (namespace acme)"
            );
            // Remove the reference: the rest must equal examples/acme.
            let parts: Vec<&str> = path.trim_start_matches('.').split('.').collect();
            let mut cur = &mut stripped;
            for p in &parts[..parts.len() - 1] {
                cur = &mut cur[*p];
            }
            cur.as_object_mut()
                .expect("object")
                .remove(parts[parts.len() - 1]);
            references.push(format!("{}/{}{path}", k.0, k.1));
        }
        assert_eq!(
            &stripped, original,
            "{k:?} differs from examples/acme beyond its secret references"
        );
    }
    assert_eq!(
        references,
        [
            "Application/expense.spec.saml.signingKey",
            "Application/wiki.spec.oidc.clientSecret",
            "IdentityProvider/google.spec.clientSecret",
        ]
    );
}
