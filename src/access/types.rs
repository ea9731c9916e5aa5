//! Owned, serializable views of a user's effective access, shared by
//! [`super::EffectiveAccess`] and [`super::UserExplanation`].

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::model::{Action, Module, Name};

/// An app a user holds through a rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppAccess {
    /// The app role given.
    pub role: Name,
    /// The AppAssignment rule that gave it.
    pub rule: Name,
}

/// Why a user has the policy it has.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum PolicyReason {
    /// No other policy targets the user: the organization's default.
    Default,
    /// The user is listed in `targets.users`.
    User,
    /// The user is a member (direct or nested) of a targeted group.
    Group {
        /// The targeted group (the first by name the user is in).
        group: Name,
    },
    /// The user matches `targets.rule`.
    Rule,
}

/// A user's effective security policy.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyChoice {
    /// The policy's name.
    pub policy: Name,
    /// Which target matched (users, then groups, then rule), or the default.
    pub reason: PolicyReason,
}

/// How a role binding reaches a user.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Via {
    /// The user is a subject of the binding.
    Direct,
    /// Through membership (direct or nested) of a subject group.
    Group {
        /// The subject group (the first by name the user is in).
        group: Name,
    },
}

/// A role binding that reaches a user.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BindingGrant {
    /// The RoleBinding's name.
    pub binding: Name,
    /// The role it gives.
    pub role: Name,
    /// How it reaches the user.
    pub via: Via,
}

/// Where one admin permission comes from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Grantor {
    /// The user is the organization's super admin.
    SuperAdmin,
    /// A role binding (by name).
    Binding(Name),
}

/// A user's admin rights.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminRights {
    /// True for the organization's super admin (who holds every permission).
    pub super_admin: bool,
    /// The bindings that reach the user, by binding name.
    pub bindings: Vec<BindingGrant>,
    /// Permissions per module and action, each with where it comes from.
    pub permissions: BTreeMap<Module, BTreeMap<Action, BTreeSet<Grantor>>>,
}

impl AdminRights {
    /// The permissions without their sources.
    pub fn actions(&self) -> BTreeMap<Module, BTreeSet<Action>> {
        self.permissions
            .iter()
            .map(|(m, actions)| (*m, actions.keys().copied().collect()))
            .collect()
    }

    /// True when the user holds no admin permission.
    pub fn is_empty(&self) -> bool {
        !self.super_admin && self.permissions.is_empty() && self.bindings.is_empty()
    }
}

/// Everything one user effectively has.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserAccess {
    /// Apps by name, with the role and the rule that gave it.
    pub apps: BTreeMap<Name, AppAccess>,
    /// The effective security policy (`None` for a closed account, or when
    /// the organization has no default and no policy targets the user).
    pub policy: Option<PolicyChoice>,
    /// Admin rights.
    pub admin: AdminRights,
}

/// Two policies of equal priority that both match some user: a validation
/// error naming both policies and an example user.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyConflict {
    /// The policy whose name sorts first (it wins meanwhile).
    pub first: Name,
    /// The other policy.
    pub second: Name,
    /// Their common priority.
    pub priority: i32,
    /// The first user, by name, both match.
    pub example_user: Name,
}
