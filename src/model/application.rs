//! The Application kind: catalog apps and SSO apps (SAML or OIDC) with roles.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::secret::{deserialize_secret, SecretRef};
use super::{Collection, Field, Name};

/// What sort of application this is; it cannot change in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum AppType {
    /// An app from the suite's catalog.
    Catalog,
    /// A custom SAML service provider.
    Saml,
    /// A custom OpenID Connect client.
    Oidc,
}

/// SAML service-provider settings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct SamlApp {
    /// The SP entity id.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub entity_id: Field<String>,
    /// Assertion consumer service URL.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub acs_url: Field<String>,
    /// Name-ID format.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub name_id_format: Field<String>,
    /// Private key used to sign assertions (from a secret source).
    #[serde(
        default,
        deserialize_with = "deserialize_secret",
        skip_serializing_if = "Option::is_none"
    )]
    pub signing_key: Option<SecretRef>,
}

/// OpenID Connect client settings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct OidcApp {
    /// Allowed redirect URIs.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub redirect_uris: Field<Collection<String>>,
    /// The client secret (from a secret source).
    #[serde(
        default,
        deserialize_with = "deserialize_secret",
        skip_serializing_if = "Option::is_none"
    )]
    pub client_secret: Option<SecretRef>,
}

/// An application of the organization.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
#[schemars(transform = super::rules::Required(super::Kind::Application))]
#[schemars(transform = super::rules::Conditional(super::Kind::Application))]
pub struct ApplicationSpec {
    /// The organization this app belongs to.
    pub organization: Option<Name>,
    /// Catalog, SAML or OIDC; changing it replaces the app.
    #[serde(rename = "type")]
    pub app_type: Option<AppType>,
    /// Name shown to people.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub display_name: Field<String>,
    /// Catalog identifier (catalog apps).
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub catalog_id: Field<String>,
    /// SAML settings (SAML apps).
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub saml: Field<SamlApp>,
    /// OIDC settings (OIDC apps).
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub oidc: Field<OidcApp>,
    /// The app roles users can be given, e.g. `[user, admin]`.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub roles: Field<Collection<Name>>,
}
