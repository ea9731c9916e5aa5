//! diff(desired, live) → Plan. Keys every object by (kind, organization,
//! name), compares managed fields only, decides create / update / replace /
//! delete, enforces ownership (`--adopt`, `--prune`, `--max-deletes`) and the
//! backend's capabilities, and records the fingerprint of every live object
//! read so a saved plan can be refused as stale.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::fields::{merge, Differ};
use super::{Action, Change, ObjectRef, OrgPlan, Plan, PlanOptions, FORMAT_VERSION};
use crate::backend::{Capabilities, LiveObject, LiveOrg};
use crate::json_text::JsonText;
use crate::model::{path, secret_paths, Kind, Name, Spec, UserStatus};
use crate::validate::{DesiredObject, DesiredOrg, DesiredState};

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
            let pointer = path::pointer(gap.path);
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
pub fn unsupported(org: &DesiredOrg, caps: &Capabilities) -> Vec<crate::backend::GapFound> {
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
    kind.label(name.as_str()).to_string()
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
    for field in secret_paths(kind) {
        let Some(slot) = spec.pointer_mut(&path::pointer(field)) else {
            continue;
        };
        if slot.is_null() {
            continue;
        }
        match digests.get(&(org.clone(), kind, name.clone(), field.to_string())) {
            Some(d) => *slot = serde_json::json!({ "digest": d }),
            None => errors.push(PlanError::MissingSecret {
                object: describe(kind, name),
                path: field.to_string(),
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
        let pointer = format!("{}/digest", crate::model::path::pointer(path));
        if let Some(slot) = after.pointer_mut(&pointer) {
            *slot = Value::from(KEPT_SECRET);
        }
    }
    after
}

/// What a plan's spec to write holds, as `{"digest": …}`, for a secret that
/// keeps its live value.
pub const KEPT_SECRET: &str = "(kept)";

/// What the steps of a diff read besides the objects themselves.
struct Context<'a> {
    digests: &'a BTreeMap<SecretKey, String>,
    caps: &'a Capabilities,
    options: &'a PlanOptions,
    backend: &'a str,
}

/// Diffs the desired state against one live snapshot per organization: per
/// organization the backend's own check, the per-object step for each
/// desired object and the deletion step over the live ones, then the
/// `--max-deletes` bound over the whole plan. Every problem is returned.
pub fn diff(
    desired: &DesiredState,
    live: &BTreeMap<Name, LiveOrg>,
    digests: &BTreeMap<SecretKey, String>,
    caps: &Capabilities,
    options: &PlanOptions,
    backend: &str,
) -> Result<Plan, Vec<PlanError>> {
    let cx = Context {
        digests,
        caps,
        options,
        backend,
    };
    let mut errors = Vec::new();
    let empty = LiveOrg::default();
    let mut organizations = Vec::new();
    for (org_name, org) in &desired.organizations {
        let live_org = live.get(org_name).unwrap_or(&empty);
        backend_check(&cx, org, &mut errors);
        let mut changes = Vec::new();
        for ((kind, name), obj) in &org.objects {
            let current = live_org.get(*kind, name);
            changes.extend(object_step(&cx, org_name, *kind, name, obj, current, &mut errors));
        }
        let deletions = deletion_step(live_org, |key| org.objects.contains_key(key), options);
        organizations.push(org_plan(org_name.clone(), live_org, deletions, changes));
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

/// The plan that deletes `objects` of an organization when nothing of it is
/// left to plan with (the controller, when every resource of the
/// organization is deleted at once): `diff`'s deletion step over an
/// organization that declares nothing, pruning only `objects`, so the same
/// rules hold — only managed live objects are deleted (others are counted as
/// unmanaged or listed as prune candidates), in reverse dependency order,
/// each live fingerprint recorded as the precondition of its delete. An
/// object already gone is not in it (its deletion has succeeded).
pub fn teardown(organization: Name, live: &LiveOrg, objects: BTreeSet<(Kind, Name)>, backend: &str) -> Plan {
    let options = PlanOptions {
        prune: true,
        prune_only: Some(objects),
        ..PlanOptions::default()
    };
    let deletions = deletion_step(live, |_| false, &options);
    let org = org_plan(organization, live, deletions, Vec::new());
    Plan {
        format_version: FORMAT_VERSION,
        backend: backend.to_string(),
        options,
        organizations: vec![org],
    }
}

/// The backend's own check over one organization's desired objects (what
/// no single field gap expresses).
fn backend_check(cx: &Context<'_>, org: &DesiredOrg, errors: &mut Vec<PlanError>) {
    let Some(check) = &cx.caps.check else { return };
    let mut objects = org.objects.iter().map(|((k, n), o)| (*k, n, &o.spec));
    for gap in check.run(&mut objects) {
        errors.push(PlanError::Unsupported {
            object: describe(gap.kind, &gap.name),
            field: gap.path,
            backend: cx.backend.to_string(),
            reason: gap.reason,
        });
    }
}

/// The per-object step: the change one desired object needs against its
/// live counterpart (`current`), if any; field gaps, missing secrets and an
/// unmanaged object without `--adopt` are errors.
fn object_step(
    cx: &Context<'_>,
    org_name: &Name,
    kind: Kind,
    name: &Name,
    obj: &DesiredObject,
    current: Option<&LiveObject>,
    errors: &mut Vec<PlanError>,
) -> Option<Change> {
    let desired_json = with_digests(org_name, kind, name, obj.spec.to_json(), cx.digests, errors);
    for (field, reason) in gaps_hit(cx.caps, kind, &desired_json) {
        errors.push(PlanError::Unsupported {
            object: describe(kind, name),
            field,
            backend: cx.backend.to_string(),
            reason,
        });
    }
    let Some(current) = current else {
        return Some(create(kind, name, obj));
    };
    if !current.managed && !cx.options.adopt {
        errors.push(PlanError::Unmanaged {
            object: describe(kind, name),
            organization: org_name.to_string(),
        });
        return None;
    }
    let live_json = current.spec.to_json();
    let mut differ = Differ::new(kind, secret_paths(kind));
    differ.diff("", &desired_json, Some(&live_json));
    let adopt = !current.managed;
    let replaced: Vec<&str> = immutable(kind)
        .iter()
        .copied()
        .filter(|p| differ.changes.iter().any(|c| c.path == *p))
        .collect();
    if !replaced.is_empty() {
        return Some(replace(kind, name, obj, adopt, differ, &replaced));
    }
    if differ.changes.is_empty() && !adopt {
        return None;
    }
    Some(update(kind, name, obj, adopt, differ, &live_json))
}

/// A create. The spec to write keeps secret references (not digests); its
/// field list is derived from it when asked for (`Change::field_changes`):
/// a first apply of a large organization would otherwise hold every value
/// twice.
fn create(kind: Kind, name: &Name, obj: &DesiredObject) -> Change {
    Change {
        kind,
        name: name.clone(),
        action: Action::Create,
        adopt: false,
        destructive: None,
        replace_reason: None,
        fields: Vec::new(),
        unchanged_fields: 0,
        after: merge(kind, "", None, &obj.spec.to_json()).map(JsonText::from),
    }
}

/// A delete and create again, because `replaced` fields cannot change in
/// place.
fn replace(
    kind: Kind,
    name: &Name,
    obj: &DesiredObject,
    adopt: bool,
    differ: Differ,
    replaced: &[&str],
) -> Change {
    Change {
        kind,
        name: name.clone(),
        action: Action::Replace,
        adopt,
        destructive: Some(format!(
            "{} will be deleted and created again",
            describe(kind, name)
        )),
        replace_reason: Some(format!("{} cannot change in place", replaced.join(", "))),
        fields: differ.changes,
        unchanged_fields: differ.unchanged,
        after: merge(kind, "", None, &obj.spec.to_json()).map(JsonText::from),
    }
}

/// An update in place (or the adoption of an unmanaged object): the spec to
/// write is the live one with the managed fields merged in. Closing a user
/// is destructive.
fn update(
    kind: Kind,
    name: &Name,
    obj: &DesiredObject,
    adopt: bool,
    differ: Differ,
    live_json: &Value,
) -> Change {
    let closing = matches!(&obj.spec, Spec::User(u) if u.status.get() == Some(&UserStatus::Closed))
        && differ.changes.iter().any(|c| c.path == "status");
    Change {
        kind,
        name: name.clone(),
        action: Action::Update,
        adopt,
        destructive: closing.then(|| format!("closing user {:?} deletes the account's data", name.as_str())),
        replace_reason: None,
        fields: differ.changes,
        unchanged_fields: differ.unchanged,
        after: merge(kind, "", Some(live_json), &obj.spec.to_json())
            .map(|a| hide_kept_digests(kind, a))
            .map(JsonText::from),
    }
}

/// What the deletion step finds among the live objects the files do not
/// declare.
struct Deletions {
    changes: Vec<Change>,
    prune_candidates: Vec<ObjectRef>,
    unmanaged: usize,
}

/// The deletion step: each live object `declared` says the files do not
/// hold is counted as unmanaged when orgctl does not manage it, deleted when
/// `--prune` is given (and `prune_only`, if set, names it), and otherwise
/// listed as a prune candidate.
fn deletion_step(
    live_org: &LiveOrg,
    declared: impl Fn(&(Kind, Name)) -> bool,
    options: &PlanOptions,
) -> Deletions {
    let mut out = Deletions {
        changes: Vec::new(),
        prune_candidates: Vec::new(),
        unmanaged: 0,
    };
    for (key, current) in &live_org.objects {
        if declared(key) {
            continue;
        }
        let (kind, name) = key;
        if !current.managed {
            out.unmanaged += 1;
        } else if options.prune && options.prune_only.as_ref().is_none_or(|only| only.contains(key)) {
            out.changes.push(Change {
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
            out.prune_candidates.push(ObjectRef {
                kind: *kind,
                name: name.clone(),
            });
        }
    }
    out
}

/// One organization's plan in display order: deletions first in reverse
/// dependency order, then the rest in dependency order, names breaking ties;
/// with the fingerprint of every live object read.
fn org_plan(
    organization: Name,
    live_org: &LiveOrg,
    deletions: Deletions,
    mut others: Vec<Change>,
) -> OrgPlan {
    let Deletions {
        changes: mut deletes,
        prune_candidates,
        unmanaged,
    } = deletions;
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
    OrgPlan {
        organization,
        revision: live_org.revision,
        fingerprints,
        changes,
        prune_candidates,
        unmanaged,
        assignments: Default::default(),
        impact: Default::default(),
        forced: Vec::new(),
    }
}

#[cfg(test)]
mod tests;
