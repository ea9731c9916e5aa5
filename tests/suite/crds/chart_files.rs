//! The Helm chart's files, checked without helm: its CRDs are the generated
//! ones, Chart.yaml's versions, values.yaml valid against values.schema.json
//! and every value documented. Rendering is checked with the real helm in
//! `tests/kube_real/chart.rs`.

use std::collections::BTreeMap;

use serde_json::Value as J;

use crate::crd_corpus::{repo, yaml_documents};

fn schema() -> J {
    let text = std::fs::read_to_string(repo("charts/orgctl/values.schema.json")).expect("values.schema.json");
    serde_json::from_str(&text).expect("values.schema.json is JSON")
}

/// A chart file's one YAML document.
fn chart_yaml(file: &str) -> J {
    let text = std::fs::read_to_string(repo(&format!("charts/orgctl/{file}"))).expect("chart file");
    let mut docs = yaml_documents(&text);
    assert_eq!(docs.len(), 1, "{file}: one document");
    docs.remove(0)
}

#[test]
fn values_yaml_validates_against_the_schema() {
    let schema = schema();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    jsonschema::draft7::meta::validate(&schema).unwrap_or_else(|e| panic!("not a draft-07 schema: {e}"));
    // helm checks this at every install too (tests/kube_real/chart.rs).
    let validator = jsonschema::draft7::new(&schema).expect("a valid schema");
    let problems: Vec<String> = validator
        .iter_errors(&chart_yaml("values.yaml"))
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(problems.is_empty(), "{problems:?}");
}

/// Leaves of the schema that values.yaml must set and document: every
/// property, descending into the chart's own structures (objects with
/// `properties`), not into free-form Kubernetes objects.
fn schema_leaves(node: &J, path: &str, out: &mut Vec<(String, J)>) {
    for (k, child) in node["properties"].as_object().into_iter().flatten() {
        let p = if path.is_empty() {
            k.clone()
        } else {
            format!("{path}.{k}")
        };
        if child.get("properties").is_some()
            && child["additionalProperties"] == false
            && child.get("description").is_none()
        {
            schema_leaves(child, &p, out);
        } else {
            out.push((p, child.clone()));
        }
    }
}

#[test]
fn values_yaml_sets_and_documents_every_value() {
    let schema = schema();
    let mut leaves = Vec::new();
    schema_leaves(&schema, "", &mut leaves);
    let text = std::fs::read_to_string(repo("charts/orgctl/values.yaml")).expect("values.yaml");
    let lines: Vec<&str> = text.lines().collect();
    let (docs, errors) = orgctl::load::tree::parse_stream(&text);
    assert!(errors.is_empty());
    let root = &docs[0].root;
    for (path, node) in leaves {
        assert!(
            node.get("description").is_some(),
            "{path}: no description in values.schema.json"
        );
        if path == "global" {
            continue;
        }
        // The key's line in values.yaml, and a comment right above it.
        let mut key_line = None;
        let mut cur = root;
        for part in path.split('.') {
            let orgctl::load::tree::NodeValue::Map(entries) = &cur.value else {
                panic!("{path}: not a map in values.yaml");
            };
            let (k, v) = entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(part))
                .unwrap_or_else(|| panic!("{path}: missing from values.yaml"));
            key_line = Some(k.line);
            cur = v;
        }
        let line = key_line.expect("a key");
        let above = lines[line - 2].trim_start();
        assert!(
            above.starts_with('#'),
            "{path} (values.yaml:{line}): document it with a comment on the line above"
        );
    }
}

// ------------------------------------------------------------------ chart files

#[test]
fn chart_crds_are_the_generated_crds() {
    let read = |dir: &str| -> BTreeMap<String, Vec<u8>> {
        std::fs::read_dir(repo(dir))
            .expect("dir")
            .map(|e| e.expect("entry").path())
            .map(|p| {
                (
                    p.file_name().expect("name").to_string_lossy().to_string(),
                    std::fs::read(&p).expect("read"),
                )
            })
            .collect()
    };
    let chart = read("charts/orgctl/crds");
    let generated = read("crds");
    assert_eq!(
        chart.keys().collect::<Vec<_>>(),
        generated.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in &chart {
        assert!(
            bytes == &generated[name],
            "charts/orgctl/crds/{name} differs from crds/{name}"
        );
    }
}

#[test]
fn chart_app_version_is_the_crate_version() {
    let meta = chart_yaml("Chart.yaml");
    assert_eq!(meta["appVersion"], env!("CARGO_PKG_VERSION"));
    assert_eq!(meta["apiVersion"], "v2");
    assert_eq!(meta["name"], "orgctl");
    let semver = regex::Regex::new(r"^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$").expect("regex");
    assert!(semver.is_match(meta["version"].as_str().unwrap_or_default()));
}
