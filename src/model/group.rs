//! The Group kind: users and nested groups.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Collection, Field, Name};

/// Members of a group or subjects of a binding: users and groups by name.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Members {
    /// Users by name.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub users: Field<Collection<Name>>,
    /// Groups by name (nesting; no cycles).
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub groups: Field<Collection<Name>>,
}

/// A group of users and other groups.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
#[schemars(transform = super::rules::Required(super::Kind::Group))]
pub struct GroupSpec {
    /// The organization this group belongs to.
    pub organization: Option<Name>,
    /// What the group is for.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub description: Field<String>,
    /// Who is in the group.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub members: Field<Members>,
}
