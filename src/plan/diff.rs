//! diff(desired, live) → Plan. Keys every object by (kind, organization,
//! name), compares managed fields only, decides create / update / replace /
//! delete, enforces ownership (`--adopt`, `--prune`, `--max-deletes`) and the
//! backend's capabilities, and records the fingerprint of every live object
//! read so a saved plan can be refused as stale.

use std::collections::BTreeMap;

use serde_json::Value;

use super::fields::{merge, Differ};
use super::{Action, Change, ObjectRef, OrgPlan, Plan, PlanOptions, FORMAT_VERSION};
use crate::backend::{Capabilities, LiveOrg};
use crate::json_text::JsonText;
use crate::model::{secret_paths, Kind, Name, Spec, UserStatus};
use crate::validate::DesiredState;

/// Identifies one secret field of one object: (organization, kind, name, path).
pub type SecretKey = (Name, Kind, Name, String);

/// Why a plan cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A live object with a declared name exists but orgctl does not manage it.
    #[error("{object} already exists in organization {organization:?} but is not managed by orgctl; re-run with --adopt to take it over")]
    Unmanaged {
        /// The object.
        object: String,
        /// Its organization.
        organization: String,
    },
    /// The backend cannot hold a kind, field or value the files set.
    #[error("{object}: {}cannot be stored by backend {backend}: {reason}", field_words(.field))]
    Unsupported {
        /// The object.
        object: String,
        /// Dotted spec path; empty for the whole object.
        field: String,
        /// Backend address.
        backend: String,
        /// Why, in the backend's terms.
        reason: String,
    },
    /// More deletions than `--max-deletes` allows.
    #[error("the plan deletes {count} objects, more than --max-deletes {max}")]
    TooManyDeletes {
        /// Deletions (replaces included).
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A lockout guard tripped (`--force` overrides).
    #[error("lockout guard: {message}; re-run with --force to apply anyway")]
    Lockout {
        /// What would happen.
        message: String,
    },
    /// `--as` names nobody in the organization.
    #[error("--as {user:?}: no such user in the organizations planned ({organizations})")]
    UnknownApplier {
        /// The name given.
        user: String,
        /// The organizations planned, comma-separated.
        organizations: String,
    },
    /// The plan could not be completed for a reason that is a bug.
    #[error("internal error: {message}")]
    Internal {
        /// What went wrong.
        message: String,
    },
    /// A secret the files reference was not resolved.
    #[error("{object}: secret spec.{path} could not be read")]
    MissingSecret {
        /// The object.
        object: String,
        /// Dotted spec path.
        path: String,
    },
}

/// "field spec.x " for a field path, nothing for a whole object.
fn field_words(field: &str) -> String {
    if field.is_empty() {
        String::new()
    } else {
        format!("field spec.{field} ")
    }
}

/// The gaps of `caps` that `spec` (the desired JSON of one object) runs
/// into, each once.
fn gaps_hit(caps: &Capabilities, kind: Kind, spec: &Value) -> Vec<(String, String)> {
    let mut hit = Vec::new();
    for gap in caps.gaps.iter().filter(|g| g.kind == kind) {
        let found = if gap.path.is_empty() {
            true
        } else {
            let pointer = format!("/{}", gap.path.replace('.', "/"));
            match (spec.pointer(&pointer), gap.value) {
                (None | Some(Value::Null), _) => false,
                (Some(_), None) => true,
                (Some(v), Some(text)) => serde_json::from_str::<Value>(text).is_ok_and(|want| *v == want),
            }
        };
        if found {
            hit.push((gap.path.to_string(), gap.reason.to_string()));
        }
    }
    hit
}

/// What `caps` cannot hold of one organization's desired objects: the
/// backend's own check, then every field gap, each as a plan would name it
/// (posture reports these as findings instead of refusing).
pub fn unsupported(org: &crate::validate::DesiredOrg, caps: &Capabilities) -> Vec<crate::backend::GapFound> {
    let mut out = Vec::new();
    if let Some(check) = &caps.check {
        let mut objects = org.objects.iter().map(|((k, n), o)| (*k, n, &o.spec));
        out.extend(check.run(&mut objects));
    }
    for ((kind, name), obj) in &org.objects {
        for (path, reason) in gaps_hit(caps, *kind, &obj.spec.to_json()) {
            out.push(crate::backend::GapFound {
                kind: *kind,
                name: name.clone(),
                path,
                reason,
            });
        }
    }
    out
}

/// Fields that cannot change in place, per kind.
fn immutable(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Application | Kind::IdentityProvider => &["type"],
        _ => &[],
    }
}

fn describe(kind: Kind, name: &Name) -> String {
    format!("{} {:?}", kind.noun(), name.as_str())
}

/// Replaces secret references by the digests of their resolved values, so the
/// comparison with the backend's digests is exact without holding values.
fn with_digests(
    org: &Name,
    kind: Kind,
    name: &Name,
    mut spec: Value,
    digests: &BTreeMap<SecretKey, String>,
    errors: &mut Vec<PlanError>,
) -> Value {
    for path in secret_paths(kind) {
        let pointer = format!("/{}", path.replace('.', "/"));
        let Some(slot) = spec.pointer_mut(&pointer) else {
            continue;
        };
        if slot.is_null() {
            continue;
        }
        match digests.get(&(org.clone(), kind, name.clone(), path.to_string())) {
            Some(d) => *slot = serde_json::json!({ "digest": d }),
            None => errors.push(PlanError::MissingSecret {
                object: describe(kind, name),
                path: path.to_string(),
            }),
        }
    }
    spec
}

/// `after` with each secret it keeps from the live object (a field the files
/// leave unmanaged, so it still holds the live digest) marked
/// [`KEPT_SECRET`]: a plan, saved or shown, holds no digest; apply puts the
/// live one back (`ResolvedSecrets::keep_live`).
fn hide_kept_digests(kind: Kind, mut after: Value) -> Value {
    for path in secret_paths(kind) {
        let pointer = format!("/{}/digest", path.replace('.', "/"));
        if let Some(slot) = after.pointer_mut(&pointer) {
            *slot = Value::from(KEPT_SECRET);
        }
    }
    after
}

/// What a plan's spec to write holds, as `{"digest": …}`, for a secret that
/// keeps its live value.
pub const KEPT_SECRET: &str = "(kept)";

/// Diffs the desired state against one live snapshot per organization.
pub fn diff(
    desired: &DesiredState,
    live: &BTreeMap<Name, LiveOrg>,
    digests: &BTreeMap<SecretKey, String>,
    caps: &Capabilities,
    options: &PlanOptions,
    backend: &str,
) -> Result<Plan, Vec<PlanError>> {
    let mut errors = Vec::new();
    let empty = LiveOrg::default();
    let mut organizations = Vec::new();
    for (org_name, org) in &desired.organizations {
        let live_org = live.get(org_name).unwrap_or(&empty);
        let mut deletes = Vec::new();
        let mut others = Vec::new();
        let mut prune_candidates = Vec::new();
        let mut unmanaged = 0;
        if let Some(check) = &caps.check {
            let mut objects = org.objects.iter().map(|((k, n), o)| (*k, n, &o.spec));
            for gap in check.run(&mut objects) {
                errors.push(PlanError::Unsupported {
                    object: describe(gap.kind, &gap.name),
                    field: gap.path,
                    backend: backend.to_string(),
                    reason: gap.reason,
                });
            }
        }
        for ((kind, name), obj) in &org.objects {
            let kind = *kind;
            let desired_json = with_digests(org_name, kind, name, obj.spec.to_json(), digests, &mut errors);
            for (field, reason) in gaps_hit(caps, kind, &desired_json) {
                errors.push(PlanError::Unsupported {
                    object: describe(kind, name),
                    field,
                    backend: backend.to_string(),
                    reason,
                });
            }
            // The spec to write keeps secret references (not digests); built
            // only for objects that change.
            let after_spec = || obj.spec.to_json();
            let Some(current) = live_org.get(kind, name) else {
                // Its field list is derived from `after` when asked for
                // (`Change::field_changes`): a first apply of a large
                // organization would otherwise hold every value twice.
                others.push(Change {
                    kind,
                    name: name.clone(),
                    action: Action::Create,
                    adopt: false,
                    destructive: None,
                    replace_reason: None,
                    fields: Vec::new(),
                    unchanged_fields: 0,
                    after: merge(kind, "", None, &after_spec()).map(JsonText::from),
                });
                continue;
            };
            if !current.managed && !options.adopt {
                errors.push(PlanError::Unmanaged {
                    object: describe(kind, name),
                    organization: org_name.to_string(),
                });
                continue;
            }
            let live_json = current.spec.to_json();
            let mut differ = Differ::new(kind, secret_paths(kind));
            differ.diff("", &desired_json, Some(&live_json));
            let replaced: Vec<&str> = immutable(kind)
                .iter()
                .copied()
                .filter(|p| differ.changes.iter().any(|c| c.path == *p))
                .collect();
            if !replaced.is_empty() {
                let mut full = Differ::new(kind, secret_paths(kind));
                full.diff("", &desired_json, Some(&live_json));
                others.push(Change {
                    kind,
                    name: name.clone(),
                    action: Action::Replace,
                    adopt: !current.managed,
                    destructive: Some(format!(
                        "{} will be deleted and created again",
                        describe(kind, name)
                    )),
                    replace_reason: Some(format!("{} cannot change in place", replaced.join(", "))),
                    fields: full.changes,
                    unchanged_fields: full.unchanged,
                    after: merge(kind, "", None, &after_spec()).map(JsonText::from),
                });
                continue;
            }
            if differ.changes.is_empty() && current.managed {
                continue;
            }
            let closing = matches!(&obj.spec, Spec::User(u) if u.status.get() == Some(&UserStatus::Closed))
                && differ.changes.iter().any(|c| c.path == "status");
            others.push(Change {
                kind,
                name: name.clone(),
                action: Action::Update,
                adopt: !current.managed,
                destructive: closing
                    .then(|| format!("closing user {:?} deletes the account's data", name.as_str())),
                replace_reason: None,
                fields: differ.changes,
                unchanged_fields: differ.unchanged,
                after: merge(kind, "", Some(&live_json), &after_spec())
                    .map(|a| hide_kept_digests(kind, a))
                    .map(JsonText::from),
            });
        }
        for ((kind, name), current) in &live_org.objects {
            if org.objects.contains_key(&(*kind, name.clone())) {
                continue;
            }
            if !current.managed {
                unmanaged += 1;
            } else if options.prune
                && options
                    .prune_only
                    .as_ref()
                    .is_none_or(|only| only.contains(&(*kind, name.clone())))
            {
                deletes.push(Change {
                    kind: *kind,
                    name: name.clone(),
                    action: Action::Delete,
                    adopt: false,
                    destructive: Some(format!(
                        "{} will be deleted from the backend",
                        describe(*kind, name)
                    )),
                    replace_reason: None,
                    fields: Vec::new(),
                    unchanged_fields: 0,
                    after: None,
                });
            } else {
                prune_candidates.push(ObjectRef {
                    kind: *kind,
                    name: name.clone(),
                });
            }
        }
        // Display order: deletions first in reverse dependency order, then the
        // rest in dependency order; names break ties (BTreeMap order already).
        deletes.sort_by(|a, b| {
            b.kind
                .rank()
                .cmp(&a.kind.rank())
                .then_with(|| a.name.cmp(&b.name))
        });
        others.sort_by(|a, b| {
            a.kind
                .rank()
                .cmp(&b.kind.rank())
                .then_with(|| a.name.cmp(&b.name))
        });
        let mut changes = deletes;
        changes.extend(others);
        let fingerprints = live_org
            .objects
            .iter()
            .map(|((k, n), o)| (format!("{k}/{n}"), o.fingerprint.clone()))
            .collect();
        organizations.push(OrgPlan {
            organization: org_name.clone(),
            revision: live_org.revision,
            fingerprints,
            changes,
            prune_candidates,
            unmanaged,
            assignments: Default::default(),
            impact: Default::default(),
            forced: Vec::new(),
        });
    }
    let plan = Plan {
        format_version: FORMAT_VERSION,
        backend: backend.to_string(),
        options: options.clone(),
        organizations,
    };
    if let Some(max) = options.max_deletes {
        let count = plan.summary().destroy;
        if count > max {
            errors.push(PlanError::TooManyDeletes { count, max });
        }
    }
    if errors.is_empty() {
        Ok(plan)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::Source;
    use crate::plan::FieldDiff;

    fn desired(yaml: &str) -> DesiredState {
        let base = "apiVersion: orgctl.io/v1alpha1\nkind: Organization\nmetadata: {name: acme}\nspec: {superAdmin: alice}\n---\napiVersion: orgctl.io/v1alpha1\nkind: User\nmetadata: {name: alice}\nspec: {organization: acme, email: alice@acme.example}\n---\napiVersion: orgctl.io/v1alpha1\nkind: RoleBinding\nmetadata: {name: admins}\nspec: {organization: acme, role: admin, subjects: {users: [alice]}}\n---\n";
        let sources = [Source {
            name: "t.yaml".into(),
            text: format!("{base}{yaml}"),
        }];
        crate::validate::run(&sources).expect("valid")
    }

    #[test]
    fn prune_only_deletes_the_objects_named_and_leaves_the_rest_as_candidates() {
        use crate::backend::LiveObject;
        let state = desired(
            "apiVersion: orgctl.io/v1alpha1\nkind: SecurityPolicy\nmetadata: {name: default}\nspec: {organization: acme, default: true}\n",
        );
        let mut org = LiveOrg::default();
        for ((k, n), object) in &state.organizations[&"acme".parse::<Name>().unwrap()].objects {
            let spec = object.spec.clone();
            org.objects.insert(
                (*k, n.clone()),
                LiveObject {
                    spec,
                    managed: true,
                    fingerprint: "r1".into(),
                },
            );
        }
        for group in ["goes", "stays"] {
            let spec =
                crate::model::Spec::from_json(Kind::Group, serde_json::json!({"organization": "acme"}))
                    .unwrap();
            org.objects.insert(
                (Kind::Group, group.parse().unwrap()),
                LiveObject {
                    spec,
                    managed: true,
                    fingerprint: "r1".into(),
                },
            );
        }
        let live = BTreeMap::from([("acme".parse::<Name>().unwrap(), org)]);
        let options = PlanOptions {
            prune: true,
            prune_only: Some([(Kind::Group, "goes".parse().unwrap())].into()),
            ..PlanOptions::default()
        };
        let plan = diff(
            &state,
            &live,
            &BTreeMap::new(),
            &Capabilities::default(),
            &options,
            "sqlite:x",
        )
        .expect("a plan");
        let org = &plan.organizations[0];
        let deleted: Vec<&str> = org
            .changes
            .iter()
            .filter(|c| c.action == Action::Delete)
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(deleted, ["goes"]);
        let candidates: Vec<&str> = org.prune_candidates.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(candidates, ["stays"]);
    }

    #[test]
    fn a_field_the_backend_cannot_hold_is_a_plan_error_naming_field_and_backend() {
        let state = desired(
            "apiVersion: orgctl.io/v1alpha1\nkind: SecurityPolicy\nmetadata: {name: default}\nspec:\n  organization: acme\n  default: true\n  password: {minLength: 12}\n",
        );
        let caps = Capabilities {
            gaps: vec![
                crate::backend::Gap::field(Kind::SecurityPolicy, "password.minLength", "no such setting"),
                crate::backend::Gap::value(Kind::SecurityPolicy, "mfa.required", "true", "no MFA"),
            ],
            ..Capabilities::default()
        };
        let errors = diff(
            &state,
            &BTreeMap::new(),
            &BTreeMap::new(),
            &caps,
            &PlanOptions::default(),
            "realm:x",
        )
        .expect_err("refused");
        assert_eq!(
            errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
            vec!["security policy \"default\": field spec.password.minLength cannot be stored by backend realm:x: no such setting"]
        );
        // Not setting the field is fine on the same backend.
        let state = desired(
            "apiVersion: orgctl.io/v1alpha1\nkind: SecurityPolicy\nmetadata: {name: default}\nspec: {organization: acme, default: true}\n",
        );
        assert!(diff(
            &state,
            &BTreeMap::new(),
            &BTreeMap::new(),
            &caps,
            &PlanOptions::default(),
            "realm:x"
        )
        .is_ok());
        // A value gap hits that value only.
        let mfa = |required: bool| {
            desired(&format!(
                "apiVersion: orgctl.io/v1alpha1\nkind: SecurityPolicy\nmetadata: {{name: default}}\nspec: {{organization: acme, default: true, mfa: {{required: {required}, modes: [totp]}}}}\n"
            ))
        };
        let errors = diff(
            &mfa(true),
            &BTreeMap::new(),
            &BTreeMap::new(),
            &caps,
            &PlanOptions::default(),
            "realm:x",
        )
        .expect_err("refused");
        assert_eq!(
            errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
            vec!["security policy \"default\": field spec.mfa.required cannot be stored by backend realm:x: no MFA"]
        );
        assert!(diff(
            &mfa(false),
            &BTreeMap::new(),
            &BTreeMap::new(),
            &caps,
            &PlanOptions::default(),
            "realm:x"
        )
        .is_ok());
    }

    #[test]
    fn plans_are_deterministic_whatever_the_input_order() {
        let a = desired(
            "apiVersion: orgctl.io/v1alpha1\nkind: User\nmetadata: {name: bob}\nspec: {organization: acme, email: bob@acme.example}\n---\napiVersion: orgctl.io/v1alpha1\nkind: SecurityPolicy\nmetadata: {name: default}\nspec: {organization: acme, default: true}\n",
        );
        let b = desired(
            "apiVersion: orgctl.io/v1alpha1\nkind: SecurityPolicy\nmetadata: {name: default}\nspec: {organization: acme, default: true}\n---\napiVersion: orgctl.io/v1alpha1\nkind: User\nmetadata: {name: bob}\nspec: {organization: acme, email: bob@acme.example}\n",
        );
        let plan = |s: &DesiredState| {
            diff(
                s,
                &BTreeMap::new(),
                &BTreeMap::new(),
                &Capabilities::default(),
                &PlanOptions::default(),
                "x",
            )
            .expect("plan")
        };
        let (pa, pb) = (plan(&a), plan(&b));
        assert_eq!(pa.organizations[0].changes, pb.organizations[0].changes);
        let kinds: Vec<Kind> = pa.organizations[0].changes.iter().map(|c| c.kind).collect();
        assert_eq!(
            kinds,
            vec![
                Kind::Organization,
                Kind::User,
                Kind::User,
                Kind::RoleBinding,
                Kind::SecurityPolicy
            ],
            "creates in dependency order"
        );
    }

    #[test]
    fn a_create_derives_from_its_spec_the_fields_a_diff_against_nothing_lists() {
        let state = desired(concat!(
            "apiVersion: orgctl.io/v1alpha1\nkind: IdentityProvider\nmetadata: {name: google}\n",
            "spec: {organization: acme, type: google, displayName: '', clientId: abc, clientSecret: {fromEnv: GOOGLE_SECRET}}\n---\n",
            "apiVersion: orgctl.io/v1alpha1\nkind: Group\nmetadata: {name: helpers}\n",
            "spec: {organization: acme, description: Helpers, members: {users: {mode: additive, items: [bob, alice]}}}\n---\n",
            "apiVersion: orgctl.io/v1alpha1\nkind: User\nmetadata: {name: bob}\n",
            "spec: {organization: acme, email: bob@acme.example, department: '', customAttributes: {costCenter: '42'}}\n---\n",
            "apiVersion: orgctl.io/v1alpha1\nkind: SecurityPolicy\nmetadata: {name: default}\n",
            "spec: {organization: acme, default: true, password: {minLength: 12}}\n",
        ));
        let acme: Name = "acme".parse().unwrap();
        let digests = BTreeMap::from([(
            (
                acme.clone(),
                Kind::IdentityProvider,
                "google".parse().unwrap(),
                "clientSecret".to_string(),
            ),
            "sha256:00ff".to_string(),
        )]);
        let plan = diff(
            &state,
            &BTreeMap::new(),
            &digests,
            &Capabilities::default(),
            &PlanOptions::default(),
            "sqlite:x",
        )
        .expect("a plan");
        let objects = &state.organizations[&acme].objects;
        let changes = &plan.organizations[0].changes;
        assert_eq!(changes.len(), objects.len());
        for c in changes {
            assert_eq!(c.action, Action::Create);
            assert!(c.fields.is_empty(), "{c:?}");
            // What the plan derives from the spec it writes (secret
            // references) is what a diff of the desired spec (secret
            // digests) against no live object lists.
            let mut errors = Vec::new();
            let spec = objects[&(c.kind, c.name.clone())].spec.to_json();
            let json = with_digests(&acme, c.kind, &c.name, spec, &digests, &mut errors);
            assert!(errors.is_empty());
            let mut differ = Differ::new(c.kind, secret_paths(c.kind));
            differ.create("", &json);
            assert!(!differ.changes.is_empty());
            assert_eq!(*c.field_changes(), *differ.changes, "{}/{}", c.kind, c.name);
        }
        let google = changes.iter().find(|c| c.kind == Kind::IdentityProvider).unwrap();
        let secret = google
            .field_changes()
            .iter()
            .find(|f| f.path == "clientSecret")
            .cloned();
        assert_eq!(
            secret.map(|f| (f.sensitive, f.diff)),
            Some((
                true,
                FieldDiff::Value {
                    before: Value::Null,
                    after: Value::from("(sensitive value)")
                }
            ))
        );
        // The JSON form lists them; read back, they are kept as stored.
        let text = serde_json::to_string(google).unwrap();
        let back: Change = serde_json::from_str(&text).unwrap();
        assert_eq!(back.fields, *google.field_changes());
        assert_eq!(back.field_changes(), google.field_changes());
    }
}
