//! Plan snapshots: one folder per case under `tests/fixtures/`, holding
//! `desired.yaml` (the files), `live.json` (the backend's snapshot) and
//! optionally `options.json` (plan options). The text rendering of the plan,
//! or the errors when planning is refused, is pinned with insta.

use std::collections::BTreeMap;
use std::path::Path;

use orgctl::backend::{Capabilities, LiveObject, LiveOrg};
use orgctl::load::Source;
use orgctl::model::{Kind, Name, SecretValue, Spec};
use orgctl::plan::{self, PlanOptions};
use orgctl::render::{self, Format};
use serde::Deserialize;

#[derive(Deserialize)]
struct LiveFile {
    #[serde(default)]
    revision: u64,
    #[serde(default)]
    objects: Vec<LiveEntry>,
}

#[derive(Deserialize)]
struct LiveEntry {
    kind: String,
    name: String,
    #[serde(default = "yes")]
    managed: bool,
    spec: serde_json::Value,
}

fn yes() -> bool {
    true
}

fn live_of(dir: &Path) -> LiveOrg {
    let text = std::fs::read_to_string(dir.join("live.json")).unwrap_or_else(|_| "{}".into());
    let file: LiveFile = serde_json::from_str(&text).expect("live.json parses");
    let mut objects = BTreeMap::new();
    for (i, e) in file.objects.into_iter().enumerate() {
        let kind: Kind = e.kind.parse().expect("kind");
        let name: Name = e.name.parse().expect("name");
        let spec = Spec::from_json(kind, e.spec).expect("live spec parses");
        objects.insert(
            (kind, name),
            LiveObject {
                spec,
                managed: e.managed,
                fingerprint: format!("r{i}"),
            },
        );
    }
    LiveOrg {
        organization: Some("acme".parse().expect("name")),
        revision: file.revision,
        objects,
        grants: Default::default(),
    }
}

fn plan_case(dir: &Path) -> String {
    let desired = std::fs::read_to_string(dir.join("desired.yaml")).expect("desired.yaml");
    let sources = [Source {
        name: "desired.yaml".into(),
        text: desired,
    }];
    let state = match orgctl::validate::run(&sources) {
        Ok(s) => s,
        Err(diags) => return diags.iter().map(|d| format!("{d}\n")).collect(),
    };
    let options: PlanOptions = std::fs::read_to_string(dir.join("options.json"))
        .map(|t| serde_json::from_str(&t).expect("options.json parses"))
        .unwrap_or_default();
    let live: BTreeMap<Name, LiveOrg> = state
        .organizations
        .keys()
        .map(|o| (o.clone(), live_of(dir)))
        .collect();
    // Secrets of the fixtures resolve to their reference's env var name, so a
    // changed reference changes the digest.
    let mut digests = BTreeMap::new();
    for (org, o) in &state.organizations {
        for ((kind, name), obj) in &o.objects {
            for path in orgctl::model::secret_paths(*kind) {
                let pointer = format!("/{}", path.replace('.', "/"));
                if let Some(r) = obj
                    .spec
                    .to_json()
                    .pointer(&pointer)
                    .and_then(|v| v.get("fromEnv"))
                {
                    let value = SecretValue::new(r.as_str().unwrap_or_default());
                    digests.insert(
                        (org.clone(), *kind, name.clone(), path.to_string()),
                        value.digest(),
                    );
                }
            }
        }
    }
    match plan::diff(
        &state,
        &live,
        &digests,
        &Capabilities::default(),
        &options,
        "sqlite:test.db",
    ) {
        Ok(p) => render::render(&p, Format::Text, false),
        Err(errors) => errors.iter().map(|e| format!("error: {e}\n")).collect(),
    }
}

#[test]
fn plan_fixtures() {
    insta::glob!("fixtures/*/desired.yaml", |path| {
        let dir = path.parent().expect("fixture folder");
        insta::assert_snapshot!(plan_case(dir));
    });
}
