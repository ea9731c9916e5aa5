//! The Role and RoleBinding kinds: custom admin roles and who holds them.

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Field, Members, Name};

/// An administrative area a permission applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Module {
    /// Organization profile.
    Organization,
    /// Domains.
    Domain,
    /// Users.
    User,
    /// Groups.
    Group,
    /// Departments.
    Department,
    /// Applications.
    Application,
    /// Security policies.
    Policy,
    /// Audit logs.
    Audit,
    /// Admin roles.
    Role,
}

/// What may be done within a module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    /// Read.
    View,
    /// Create.
    Create,
    /// Change.
    Update,
    /// Remove.
    Delete,
    /// Export.
    Download,
}

impl Module {
    /// The module as written in files (`user`).
    pub fn as_str(self) -> &'static str {
        match self {
            Module::Organization => "organization",
            Module::Domain => "domain",
            Module::User => "user",
            Module::Group => "group",
            Module::Department => "department",
            Module::Application => "application",
            Module::Policy => "policy",
            Module::Audit => "audit",
            Module::Role => "role",
        }
    }
}

impl Action {
    /// The action as written in files (`view`).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::View => "view",
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Download => "download",
        }
    }
}

/// `user: view, update; group: view` — permissions as people read them.
pub fn describe_permissions(perms: impl IntoIterator<Item = (Module, Vec<Action>)>) -> String {
    perms
        .into_iter()
        .map(|(m, acts)| {
            let acts: Vec<&str> = acts.iter().map(|a| a.as_str()).collect();
            format!("{}: {}", m.as_str(), acts.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Names of the built-in roles; custom roles may not use them.
pub const BUILTIN_ROLES: [&str; 3] = ["super-admin", "admin", "member"];

/// A custom admin role.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
#[schemars(transform = super::rules::Required(super::Kind::Role))]
pub struct RoleSpec {
    /// The organization this role belongs to.
    pub organization: Option<Name>,
    /// What the role is for.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub description: Field<String>,
    /// Allowed actions per module (the whole map when given).
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub permissions: Field<BTreeMap<Module, BTreeSet<Action>>>,
}

/// Gives a role (built-in `admin`/`member`, or a custom Role) to users and groups.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
#[schemars(transform = super::rules::Required(super::Kind::RoleBinding))]
pub struct RoleBindingSpec {
    /// The organization this binding belongs to.
    pub organization: Option<Name>,
    /// The role given.
    pub role: Option<Name>,
    /// Who receives it.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub subjects: Field<Members>,
}
