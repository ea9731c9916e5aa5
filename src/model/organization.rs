//! The Organization kind: profile, domains, name formats and its super admin.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Collection, Email, Field, Name};

/// How a person's display name is composed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum DisplayNameFormat {
    /// "Ada Lovelace".
    FirstLast,
    /// "Lovelace Ada".
    LastFirst,
}

/// Contact details of the organization.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Contact {
    /// Contact e-mail.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub email: Field<Email>,
    /// Contact phone number.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub phone: Field<String>,
    /// Postal address.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub address: Field<String>,
}

/// An organization: the unit every other object belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
#[schemars(transform = super::rules::Required(super::Kind::Organization))]
pub struct OrganizationSpec {
    /// Name shown to people.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub display_name: Field<String>,
    /// Who to contact about the organization.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub contact: Field<Contact>,
    /// Verified e-mail domains.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub domains: Field<Collection<String>>,
    /// How display names are composed.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub display_name_format: Field<DisplayNameFormat>,
    /// Template for new e-mail addresses, e.g. `{first}.{last}@acme.example`.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub email_format: Field<String>,
    /// The one super admin (a User of this organization holding the admin role).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub super_admin: Option<Name>,
}
