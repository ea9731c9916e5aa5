//! The User kind: a person's account and the attributes rules match on.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Attributes, Email, Field, Name};

/// Lifecycle state of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum UserStatus {
    /// Can sign in.
    #[default]
    Active,
    /// Cannot sign in; data kept.
    Deactivated,
    /// Closed: the account's data is deleted. Destructive.
    Closed,
}

/// A user of the organization.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
#[schemars(transform = super::rules::Required(super::Kind::User))]
pub struct UserSpec {
    /// The organization this user belongs to.
    pub organization: Option<Name>,
    /// Primary e-mail address (compared case-insensitively).
    pub email: Option<Email>,
    /// Sign-in name; taken from the e-mail's local part when absent.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub username: Field<String>,
    /// Given name.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub first_name: Field<String>,
    /// Family name.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub last_name: Field<String>,
    /// Department.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub department: Field<String>,
    /// Job title.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub designation: Field<String>,
    /// Office or location.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub location: Field<String>,
    /// Custom attributes (the whole map when given).
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub custom_attributes: Field<Attributes>,
    /// Account state (default active).
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub status: Field<UserStatus>,
}
