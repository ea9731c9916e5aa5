//! The plan as data: what would change, per organization, with the live
//! fingerprints it was made against. Every renderer and the applier read this
//! one structure; it round-trips through JSON for saved plans.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{Kind, Name};

/// Version of the JSON plan format.
pub const FORMAT_VERSION: u32 = 1;

/// What a change does to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    /// The object is created.
    Create,
    /// The object is changed in place.
    Update,
    /// The object is deleted and created again (a field cannot change in place).
    Replace,
    /// The object is deleted.
    Delete,
}

/// How one field differs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum FieldDiff {
    /// A scalar or structured value changes (`null` = absent/cleared).
    Value {
        /// Live value.
        before: serde_json::Value,
        /// Planned value.
        after: serde_json::Value,
    },
    /// A set gains and/or loses elements.
    Set {
        /// Elements added.
        added: Vec<serde_json::Value>,
        /// Elements removed (authoritative collections only).
        removed: Vec<serde_json::Value>,
    },
}

/// One changed field of an object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldChange {
    /// Dotted path within `spec` (`password.minLength`).
    pub path: String,
    /// True for secrets: values are never shown (and never stored here).
    pub sensitive: bool,
    /// The difference.
    pub diff: FieldDiff,
}

/// A planned change to one object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// Kind of the object.
    pub kind: Kind,
    /// Name of the object.
    pub name: Name,
    /// What happens.
    pub action: Action,
    /// True when an unmanaged live object is taken under management (`--adopt`).
    pub adopt: bool,
    /// Why the change destroys data (deletes, replaces, closing a user).
    pub destructive: Option<String>,
    /// Why an update became a replace.
    pub replace_reason: Option<String>,
    /// Changed fields (creates list every set field).
    pub fields: Vec<FieldChange>,
    /// Managed fields that stay as they are.
    pub unchanged_fields: usize,
    /// Spec to write (creates, updates, replaces), merged over live; secrets as references.
    pub after: Option<serde_json::Value>,
}

/// A live object the plan mentions but does not change.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectRef {
    /// Kind.
    pub kind: Kind,
    /// Name.
    pub name: Name,
}

/// The plan for one organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgPlan {
    /// The organization.
    pub organization: Name,
    /// Organization revision the plan was made against.
    pub revision: u64,
    /// `Kind/name` → fingerprint of every live object read.
    pub fingerprints: BTreeMap<String, String>,
    /// Changes in display order: deletions first (reverse dependency order),
    /// then creates, replaces and updates in dependency order.
    pub changes: Vec<Change>,
    /// Managed live objects absent from the files, kept because `--prune` was not given.
    pub prune_candidates: Vec<ObjectRef>,
    /// Live objects orgctl does not manage and the files do not mention.
    pub unmanaged: usize,
}

/// Options the plan was made with.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PlanOptions {
    /// Delete managed objects absent from the files.
    pub prune: bool,
    /// Take unmanaged live objects with declared names under management.
    pub adopt: bool,
    /// Refuse plans with more deletions than this.
    pub max_deletes: Option<usize>,
}

/// A whole plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The backend address the plan was made against.
    pub backend: String,
    /// Options used.
    pub options: PlanOptions,
    /// One entry per organization in the files.
    pub organizations: Vec<OrgPlan>,
}

/// Counts in Terraform's sense: a replace adds one and destroys one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Objects created (including the create half of replaces).
    pub add: usize,
    /// Objects changed in place.
    pub change: usize,
    /// Objects deleted (including the delete half of replaces).
    pub destroy: usize,
}

impl Plan {
    /// True when nothing would change.
    pub fn is_empty(&self) -> bool {
        self.organizations.iter().all(|o| o.changes.is_empty())
    }

    /// Add/change/destroy counts over all organizations.
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for change in self.organizations.iter().flat_map(|o| &o.changes) {
            match change.action {
                Action::Create => s.add += 1,
                Action::Update => s.change += 1,
                Action::Delete => s.destroy += 1,
                Action::Replace => {
                    s.add += 1;
                    s.destroy += 1;
                }
            }
        }
        s
    }
}
