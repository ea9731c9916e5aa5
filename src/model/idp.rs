//! The IdentityProvider kind: federated sign-in providers and custom SAML SSO.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::secret::{deserialize_secret, SecretRef};
use super::{Field, Name};

/// The provider family; it cannot change in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ProviderType {
    /// Sign in with Google.
    Google,
    /// Sign in with Facebook.
    Facebook,
    /// Sign in with LinkedIn.
    Linkedin,
    /// A generic OpenID Connect provider.
    Oidc,
    /// A custom SAML identity provider (enforced SSO).
    Saml,
}

/// SAML identity-provider settings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct SamlIdp {
    /// The IdP's sign-in URL.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub sso_url: Field<String>,
    /// The IdP's sign-out URL.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub slo_url: Field<String>,
    /// The IdP's entity id.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub entity_id: Field<String>,
    /// The IdP's public signing certificate (PEM; public, so inline is fine).
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub certificate: Field<String>,
}

/// A federated sign-in provider.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
#[schemars(transform = super::rules::Required(super::Kind::IdentityProvider))]
pub struct IdentityProviderSpec {
    /// The organization this provider belongs to.
    pub organization: Option<Name>,
    /// Provider family; changing it replaces the provider.
    #[serde(rename = "type")]
    pub provider_type: Option<ProviderType>,
    /// Name shown on the sign-in page.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub display_name: Field<String>,
    /// Whether people may use it (default true).
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub enabled: Field<bool>,
    /// OAuth/OIDC client id.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub client_id: Field<String>,
    /// OAuth/OIDC client secret (from a secret source).
    #[serde(
        default,
        deserialize_with = "deserialize_secret",
        skip_serializing_if = "Option::is_none"
    )]
    pub client_secret: Option<SecretRef>,
    /// OIDC issuer URL.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub issuer: Field<String>,
    /// SAML settings (type saml).
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub saml: Field<SamlIdp>,
}
