//! Plan snapshots: one folder per case under `tests/fixtures/`, holding
//! `desired.yaml` (the files), the backend's snapshot and optionally
//! `options.json` (plan options). The snapshot is either `live.json` (objects
//! as the backend stores them) or `live.yaml`: files applied earlier, whose
//! rule-made app assignments count as materialized, plus `live-extra.yaml`
//! (unmanaged objects made in the backend directly, nothing materialized for
//! them) and `manual.json` (grants made by hand: user → app → role). The text
//! rendering of the plan, or the errors when planning is refused, is pinned
//! with insta; for `impact-*` and `guard-*` cases the Markdown rendering and
//! the JSON of the access impact and assignments are pinned too.

use std::collections::BTreeMap;
use std::path::Path;

use orgctl::backend::{Capabilities, LiveGrants, LiveObject, LiveOrg, RuleGrant};
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

/// Objects of a YAML file in `dir` as live objects, if the file exists.
fn objects_of_yaml(dir: &Path, file: &str, managed: bool) -> Vec<((Kind, Name), LiveObject)> {
    let Ok(text) = std::fs::read_to_string(dir.join(file)) else {
        return Vec::new();
    };
    let state = orgctl::validate::run(&[Source {
        name: file.into(),
        text,
    }])
    .unwrap_or_else(|d| panic!("{file} is invalid: {d:?}"));
    let mut out = Vec::new();
    for org in state.organizations.values() {
        for (i, (key, o)) in org.objects.iter().enumerate() {
            let live = LiveObject {
                spec: o.spec.clone(),
                managed,
                fingerprint: format!("r{i}"),
            };
            out.push((key.clone(), live));
        }
    }
    out
}

/// The rule-made grants the backend would hold after `live` was applied.
fn materialized(live: &LiveOrg) -> LiveGrants {
    let model = orgctl::access::AccessModel::from_live(live);
    let eval = model.evaluate();
    let mut grants = LiveGrants::default();
    let mut ids: BTreeMap<Vec<RuleGrant>, u32> = BTreeMap::new();
    for user in model.users() {
        let list: Vec<RuleGrant> = eval
            .apps(user.as_str())
            .unwrap_or_default()
            .into_iter()
            .map(|a| RuleGrant {
                app: a.app.clone(),
                role: a.role.clone(),
                rule: a.rule.clone(),
            })
            .collect();
        if list.is_empty() {
            continue;
        }
        let next = ids.len() as u32;
        let id = *ids.entry(list.clone()).or_insert_with(|| {
            grants.sets.push(list);
            next
        });
        grants.users.insert(user.clone(), id);
    }
    grants
}

fn live_of(dir: &Path) -> LiveOrg {
    if dir.join("live.yaml").exists() {
        let mut live = LiveOrg {
            organization: Some("acme".parse().expect("name")),
            revision: 3,
            objects: objects_of_yaml(dir, "live.yaml", true).into_iter().collect(),
            grants: LiveGrants::default(),
        };
        live.grants = materialized(&live);
        if let Ok(text) = std::fs::read_to_string(dir.join("live-extra.yaml")) {
            // Made in the backend directly: loaded, not validated as files.
            let (loaded, diags) = orgctl::load::load(&[Source {
                name: "live-extra.yaml".into(),
                text,
            }]);
            assert!(diags.is_empty(), "live-extra.yaml: {diags:?}");
            for d in loaded.documents {
                let o = d.object;
                let live_object = LiveObject {
                    spec: o.spec.clone(),
                    managed: false,
                    fingerprint: "r0".into(),
                };
                live.objects
                    .insert((o.spec.kind(), o.metadata.name.clone()), live_object);
            }
        }
        if let Ok(text) = std::fs::read_to_string(dir.join("manual.json")) {
            live.grants.manual = serde_json::from_str(&text).expect("manual.json parses");
        }
        return live;
    }
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
    let key = orgctl::model::DigestKey::from_bytes(&[0; orgctl::model::DigestKey::LEN]).expect("a key");
    let mut digests = BTreeMap::new();
    for (org, o) in &state.organizations {
        for ((kind, name), obj) in &o.objects {
            for path in orgctl::model::secret_paths(*kind) {
                let pointer = orgctl::model::path::pointer(path);
                if let Some(r) = obj
                    .spec
                    .to_json()
                    .pointer(&pointer)
                    .and_then(|v| v.get("fromEnv"))
                {
                    let value = SecretValue::new(r.as_str().unwrap_or_default());
                    digests.insert(
                        (org.clone(), *kind, name.clone(), path.to_string()),
                        key.digest(&value),
                    );
                }
            }
        }
    }
    let planned = plan::diff(
        &state,
        &live,
        &digests,
        &Capabilities::default(),
        &options,
        "sqlite:test.db",
    )
    .and_then(|mut p| plan::add_access_effects(&mut p, &live, &options).map(|()| p));
    let p = match planned {
        Ok(p) => p,
        Err(errors) => return errors.iter().map(|e| format!("error: {e}\n")).collect(),
    };
    let text = render::render(&p, Format::Text, false);
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if !(name.starts_with("impact-") || name.starts_with("guard-")) {
        return text;
    }
    let markdown = render::render(&p, Format::Markdown, false);
    let org = &p.organizations[0];
    let json = serde_json::to_string_pretty(&serde_json::json!({
        "impact": org.impact,
        "assignments": org.assignments,
        "forced": org.forced,
    }))
    .expect("json");
    format!("{text}\n===== markdown =====\n{markdown}\n===== json (impact, assignments) =====\n{json}\n")
}

#[test]
fn plan_fixtures() {
    insta::glob!("../fixtures", "*/desired.yaml", |path| {
        let dir = path.parent().expect("fixture folder");
        insta::assert_snapshot!(plan_case(dir));
    });
}
