//! The SecurityPolicy kind: password, MFA, session, network, federated
//! sign-in and SSO settings applied to users by target and priority.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Collection, Condition, Duration, Field, IpRule, Name};

/// A second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum MfaMode {
    /// Push notification to the authenticator app.
    PushApp,
    /// One-time code by SMS.
    Sms,
    /// Time-based one-time password.
    Totp,
    /// FIDO2/WebAuthn security key.
    SecurityKey,
}

/// Password rules.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct PasswordPolicy {
    /// Minimum length, at least 8 (default 8).
    #[serde(skip_serializing_if = "Field::is_unset")]
    #[schemars(range(min = super::rules::MIN_PASSWORD_LENGTH))]
    pub min_length: Field<u32>,
    /// Previous passwords that may not be reused.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub history_count: Field<u32>,
    /// Minimum number of special characters.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub min_special: Field<u32>,
    /// Minimum number of digits.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub min_digits: Field<u32>,
    /// Require upper- and lower-case letters.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub mixed_case: Field<bool>,
    /// Minimum age before a password may change again.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub min_age: Field<Duration>,
    /// Maximum age before a password expires.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub max_age: Field<Duration>,
}

/// Multi-factor authentication rules.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct MfaPolicy {
    /// Whether a second factor is required.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub required: Field<bool>,
    /// Allowed modes.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub modes: Field<Collection<MfaMode>>,
    /// How long a browser stays trusted (a duration, or `never`).
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub trusted_browser: Field<TrustedBrowser>,
    /// Whether backup codes may be used.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub backup_codes: Field<bool>,
}

/// Trusted-browser lifetime: a duration, or never trust.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TrustedBrowser {
    /// Never trust a browser: ask every time.
    Never,
    /// Trust for this long.
    For(Duration),
}

impl std::str::FromStr for TrustedBrowser {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.trim() == "never" {
            return Ok(TrustedBrowser::Never);
        }
        s.parse::<Duration>()
            .map(TrustedBrowser::For)
            .map_err(|e| format!("{e}, or `never`"))
    }
}

impl std::fmt::Display for TrustedBrowser {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            TrustedBrowser::Never => f.write_str("never"),
            TrustedBrowser::For(d) => d.fmt(f),
        }
    }
}

impl Serialize for TrustedBrowser {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TrustedBrowser {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        raw.parse().or_else(|msg: String| {
            if crate::load::recover::report(msg.clone()) {
                Ok(TrustedBrowser::Never)
            } else {
                Err(serde::de::Error::custom(msg))
            }
        })
    }
}

impl JsonSchema for TrustedBrowser {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "TrustedBrowser".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string", "pattern": "^(never|[0-9]+(s|m|h|d|w))$" })
    }
    fn inline_schema() -> bool {
        true
    }
}

/// Session rules.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct SessionPolicy {
    /// Session lifetime, 1–30 days (default 30d).
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub lifetime: Field<Duration>,
    /// Idle timeout, at least 30 minutes.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub idle_timeout: Field<Duration>,
    /// Concurrent sessions per user, 1–50 (default 50).
    #[serde(skip_serializing_if = "Field::is_unset")]
    #[schemars(range(
        min = super::rules::MIN_CONCURRENT_SESSIONS,
        max = super::rules::MAX_CONCURRENT_SESSIONS
    ))]
    pub concurrent_sessions: Field<u32>,
}

/// Network rules.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct NetworkPolicy {
    /// Addresses sign-in is allowed from (CIDRs, addresses or ranges).
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub allowed_ips: Field<Collection<IpRule>>,
}

/// Federated sign-in rules.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct FederatedSignInPolicy {
    /// Whether federated sign-in is allowed at all.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub allowed: Field<bool>,
    /// Which IdentityProviders may be used.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub providers: Field<Collection<Name>>,
}

/// Enforced single sign-on.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct SsoPolicy {
    /// Whether sign-in must go through the SAML provider.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub enforced: Field<bool>,
    /// The SAML IdentityProvider to use.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub provider: Field<Name>,
}

/// Who a policy applies to.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct PolicyTargets {
    /// Users by name.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub users: Field<Collection<Name>>,
    /// Groups by name (members, nested).
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub groups: Field<Collection<Name>>,
    /// A rule over user fields.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub rule: Field<Condition>,
}

/// A named bundle of security settings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
#[schemars(transform = super::rules::Required(super::Kind::SecurityPolicy))]
#[schemars(transform = super::rules::Conditional(super::Kind::SecurityPolicy))]
pub struct SecurityPolicySpec {
    /// The organization this policy belongs to.
    pub organization: Option<Name>,
    /// The policy for everyone no other policy targets (exactly one per org).
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub default: Field<bool>,
    /// Higher wins when several policies target a user.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub priority: Field<i32>,
    /// Who the policy applies to (not for the default policy).
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub targets: Field<PolicyTargets>,
    /// Password rules.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub password: Field<PasswordPolicy>,
    /// MFA rules.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub mfa: Field<MfaPolicy>,
    /// Session rules.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub session: Field<SessionPolicy>,
    /// Network rules.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub network: Field<NetworkPolicy>,
    /// Federated sign-in rules.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub federated_sign_in: Field<FederatedSignInPolicy>,
    /// Enforced SSO.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub sso: Field<SsoPolicy>,
}
