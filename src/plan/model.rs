//! The plan as data: what would change, per organization, with the live
//! fingerprints it was made against. Every renderer and the applier read this
//! one structure; it round-trips through JSON for saved plans.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::fields::created_fields;
use crate::access::settings::SettingChange;
use crate::backend::GrantList;
use crate::json_text::JsonText;
use crate::model::{Action as AdminAction, Kind, Module, Name};

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

/// A planned change to one object. Serialized with its
/// [`field_changes`](Change::field_changes), so a create's JSON lists its
/// fields even when the plan holds them only in `after`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
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
    /// Changed fields. A planned create leaves this empty: its list (every
    /// set field) follows from `after`; read it through `field_changes`.
    pub fields: Vec<FieldChange>,
    /// Managed fields that stay as they are.
    pub unchanged_fields: usize,
    /// Spec to write (creates, updates, replaces), merged over live; secrets
    /// as references. Kept as text: a plan of a large organization holds
    /// one per created object.
    pub after: Option<JsonText>,
}

impl Change {
    /// The changed fields: those stored, or for a create stored without
    /// them, every set field of the spec it writes (secrets as markers).
    #[must_use]
    pub fn field_changes(&self) -> Cow<'_, [FieldChange]> {
        match &self.after {
            Some(after) if self.action == Action::Create && self.fields.is_empty() => {
                Cow::Owned(created_fields(self.kind, &after.value()))
            }
            _ => Cow::Borrowed(&self.fields),
        }
    }
}

impl Serialize for Change {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        /// The wire form: `Change`'s fields, with the field list derived.
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Wire<'a> {
            kind: Kind,
            name: &'a Name,
            action: Action,
            adopt: bool,
            destructive: &'a Option<String>,
            replace_reason: &'a Option<String>,
            fields: Cow<'a, [FieldChange]>,
            unchanged_fields: usize,
            after: &'a Option<JsonText>,
        }
        Wire {
            kind: self.kind,
            name: &self.name,
            action: self.action,
            adopt: self.adopt,
            destructive: &self.destructive,
            replace_reason: &self.replace_reason,
            fields: self.field_changes(),
            unchanged_fields: self.unchanged_fields,
            after: &self.after,
        }
        .serialize(serializer)
    }
}

/// A live object the plan mentions but does not change.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectRef {
    /// Kind.
    pub kind: Kind,
    /// Name.
    pub name: Name,
}

impl std::fmt::Display for ObjectRef {
    /// `user "alice"` ([`Kind::label`]).
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        self.kind.label(self.name.as_str()).fmt(f)
    }
}

/// The app assignments a plan materializes: the rule-made app list of every
/// user whose list changes. Lists are shared by many users, so each
/// distinct list is kept once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignmentPlan {
    /// Distinct rule-made lists written, each sorted by app.
    pub lists: Vec<GrantList>,
    /// Users whose rule-made list is rewritten → index into `lists` (an
    /// empty list removes every rule-made grant of the user).
    pub users: BTreeMap<Name, u32>,
    /// (user, app) grants the plan adds (new app, or another role or rule).
    pub grants_added: usize,
    /// (user, app) grants the plan removes or replaces.
    pub grants_removed: usize,
}

impl AssignmentPlan {
    /// True when no user's assignments change.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

/// Some users: how many, and their names (all of them with
/// `--impact-detail`, else the first few by name).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserSample {
    /// How many users.
    pub count: usize,
    /// Their names, sorted; fewer than `count` when summarized.
    pub names: Vec<Name>,
}

/// Users gaining or losing one app with one app role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppImpact {
    /// The app.
    pub app: Name,
    /// The app role.
    pub role: Name,
    /// Users who get the app with this role.
    pub gained: UserSample,
    /// Users who lose the app (they held it with this role).
    pub lost: UserSample,
}

/// Users keeping an app with another app role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRoleImpact {
    /// The app.
    pub app: Name,
    /// The role before.
    pub before: Name,
    /// The role after.
    pub after: Name,
    /// The users.
    pub users: UserSample,
}

/// Users whose effective security policy changes: they move to another
/// policy, or their policy's settings change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyImpact {
    /// The effective policy before (`None`: new user, closed, or none).
    pub before: Option<Name>,
    /// The effective policy after.
    pub after: Option<Name>,
    /// The users.
    pub users: UserSample,
    /// What their sign-in rules become, field by field (empty when a side
    /// has no policy or both enforce the same).
    pub settings: Vec<SettingChange>,
    /// When the backend combines policies (Kanidm): every policy applying
    /// before (`before` is the first), if more than one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub combined_before: Vec<Name>,
    /// Every policy applying after, if more than one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub combined_after: Vec<Name>,
}

/// One user whose admin rights change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminImpact {
    /// The user.
    pub user: Name,
    /// Permissions gained, per module.
    pub gained: BTreeMap<Module, Vec<AdminAction>>,
    /// Permissions lost, per module.
    pub lost: BTreeMap<Module, Vec<AdminAction>>,
    /// Super admin before and after, when it changes.
    pub super_admin: Option<(bool, bool)>,
}

/// The effect of a plan on people, from effective access before and after.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessImpact {
    /// Users with any change of apps, policy or admin rights.
    pub users_affected: usize,
    /// Per app and role: users gaining and losing it.
    pub apps: Vec<AppImpact>,
    /// Per app and role change: users keeping the app with another role.
    pub app_roles: Vec<AppRoleImpact>,
    /// Per policy move (or edited policy): users and settings.
    pub policies: Vec<PolicyImpact>,
    /// Users whose admin rights change.
    pub admins: Vec<AdminImpact>,
    /// Sentences people must read (super admin moves and demotions).
    pub notices: Vec<String>,
    /// Posture findings the plan introduces and resolves (absent when none).
    #[serde(default, skip_serializing_if = "crate::posture::PostureDelta::is_empty")]
    pub posture: crate::posture::PostureDelta,
}

impl AccessImpact {
    /// True when nobody's access changes.
    pub fn is_empty(&self) -> bool {
        self.users_affected == 0 && self.notices.is_empty()
    }
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
    /// App assignments to materialize.
    #[serde(default)]
    pub assignments: AssignmentPlan,
    /// Who gains or loses what.
    #[serde(default)]
    pub impact: AccessImpact,
    /// Lockout guards overridden with `--force`, as sentences.
    #[serde(default)]
    pub forced: Vec<String>,
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
    /// List every user in the access impact instead of a few per line.
    pub impact_detail: bool,
    /// Lockout guards: who applies and from where.
    pub guard: GuardOptions,
    /// With `prune`, delete only these objects (the others absent from
    /// the sources stay, as prune candidates). The controller prunes just
    /// the resources being deleted with `deletionPolicy: Delete`; the
    /// CLI prunes everything (`None`). Not part of a saved plan.
    #[serde(skip)]
    pub prune_only: Option<std::collections::BTreeSet<(Kind, Name)>>,
    /// How the backend combines the policies that match a user (from its
    /// capabilities; not part of a saved plan).
    #[serde(skip)]
    pub policies: crate::backend::PolicyCombination,
}

/// What the lockout guards check against.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GuardOptions {
    /// The user applying (`--as`): must keep their admin rights.
    pub applier: Option<Name>,
    /// Addresses the applier signs in from (`--my-ip`): must stay allowed.
    pub addresses: Vec<std::net::IpAddr>,
    /// Turn guard failures into notes in the plan (`--force`).
    pub force: bool,
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
    /// Users whose materialized app assignments are rewritten.
    #[serde(default)]
    pub assign: usize,
}

impl Plan {
    /// True when nothing would change (objects or app assignments).
    pub fn is_empty(&self) -> bool {
        self.organizations
            .iter()
            .all(|o| o.changes.is_empty() && o.assignments.is_empty())
    }

    /// Add/change/destroy counts over all organizations.
    pub fn summary(&self) -> Summary {
        let mut s = Summary {
            assign: self.organizations.iter().map(|o| o.assignments.users.len()).sum(),
            ..Summary::default()
        };
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
