//! Sign-in what-if: would one user's sign-in — from an address, with or
//! without a second factor, with a password or through an identity provider —
//! be allowed under the user's effective security policy, and every reason
//! why not. This module owns that evaluation and its serializable result
//! ([`SignInExplanation`]); the policy is the one
//! [`AccessModel::explain_user`] chooses (policies are never resolved here).
//! Pure: no I/O, no printing.
//!
//! # Semantics (decisions)
//!
//! - **Every reason.** All checks run and every failing one is a
//!   [`Denial`] (a stable [`DenialCode`] and a sentence); the sign-in is
//!   allowed when there is none. Facts that apply either way (the policy
//!   and why, session lifetime, idle timeout, trusted browser, …) are
//!   [`Note`]s.
//! - **Account status.** `deactivated` and `closed` accounts are denied. A
//!   deactivated account is still checked against its policy (every reason
//!   is listed); a closed account has no policy (see the access semantics)
//!   and is denied for that alone.
//! - **No effective policy** (an organization without a default policy that
//!   no policy targets the user in): not a denial; the backend defaults
//!   below apply, and a `no-policy` note says so.
//! - **Defaults of absent fields** (absent, `null` and empty mean the same,
//!   as everywhere in orgctl): `network.allowedIps` → any address;
//!   `mfa.required` → not required; `mfa.modes` → any mode;
//!   `federatedSignIn.allowed` → allowed; `federatedSignIn.providers` →
//!   every identity provider of the organization; `sso.enforced` → not
//!   enforced; `sso.provider` → any SAML provider of the organization;
//!   `session.lifetime` → 30d; `session.concurrentSessions` → 50;
//!   `session.idleTimeout` → none; `mfa.trustedBrowser` → the backend's own
//!   default (reported as not set).
//! - **Addresses.** An allowed-IP rule is a CIDR, a single address or an
//!   inclusive range ([`IpRule::contains`]); IPv4-mapped IPv6 addresses
//!   (`::ffff:192.0.2.1`) are matched as the IPv4 address they carry.
//! - **Methods.** No provider: a password sign-in. Through an
//!   IdentityProvider of type `saml`: single sign-on. Through any other
//!   (google, facebook, linkedin, oidc) or an unknown one: federated.
//! - **Providers.** An unknown provider (not an IdentityProvider of the
//!   organization, with a did-you-mean) and a disabled one (`enabled:
//!   false`) are denials. Federated sign-ins are denied when
//!   `federatedSignIn.allowed` is false or the provider is not in
//!   `federatedSignIn.providers`. A SAML sign-in through another provider
//!   than the policy's `sso.provider` is denied.
//! - **Enforced SSO** (`sso.enforced: true`): every sign-in that does not
//!   come through the SSO provider (a password or federated sign-in) is
//!   denied.
//! - **MFA.** When `mfa.required` is true, a password or federated sign-in
//!   without a second factor is denied, and so is one whose factor is not in
//!   `mfa.modes`. A SAML sign-in leaves the second factor to the identity
//!   provider: `mfa` does not apply to it (a note says so). When MFA is not
//!   required the factor presented is not checked.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;

use super::explain::PolicyExplanation;
use super::model::AccessModel;
use super::types::PolicyReason;
use crate::backend::LiveOrg;
use crate::diagnostic::did_you_mean;
use crate::model::{
    Duration, IdentityProviderSpec, IpRule, MfaMode, Name, ProviderType, SecurityPolicySpec, Spec,
    TrustedBrowser, UserStatus,
};
use crate::validate::DesiredOrg;

/// Version of the JSON form of [`SignInExplanation`].
pub const SIGNIN_FORMAT_VERSION: u32 = 1;

/// Session lifetime when the policy sets none.
const DEFAULT_LIFETIME_SECS: u64 = 30 * 86_400;
/// Concurrent sessions when the policy sets none.
const DEFAULT_CONCURRENT_SESSIONS: u32 = 50;
/// Every second factor, in the order they are listed.
const ALL_MODES: [MfaMode; 4] = [
    MfaMode::PushApp,
    MfaMode::Sms,
    MfaMode::Totp,
    MfaMode::SecurityKey,
];

/// A sign-in to evaluate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInAttempt {
    /// The address the sign-in comes from.
    pub ip: IpAddr,
    /// The second factor presented (`None`: none).
    pub mfa: Option<MfaMode>,
    /// The IdentityProvider signed in through (`None`: a password sign-in).
    pub via: Option<String>,
}

/// How a sign-in authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum SignInMethod {
    /// With the account's password (no provider).
    Password,
    /// Through a federated provider (google, facebook, linkedin, oidc, or unknown).
    Federated,
    /// Through a SAML identity provider (single sign-on).
    Sso,
}

/// Why a sign-in is denied: a stable machine code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DenialCode {
    /// The account is deactivated.
    AccountDeactivated,
    /// The account is closed.
    AccountClosed,
    /// The address is outside `network.allowedIps`.
    IpNotAllowed,
    /// MFA is required and no second factor was presented.
    MfaMissing,
    /// The second factor presented is not among `mfa.modes`.
    MfaModeNotAllowed,
    /// The provider is not an IdentityProvider of the organization.
    UnknownProvider,
    /// The provider is disabled (`enabled: false`).
    ProviderDisabled,
    /// Federated sign-in is not allowed (`federatedSignIn.allowed: false`).
    FederatedSignInDisallowed,
    /// The provider is not in `federatedSignIn.providers`.
    ProviderNotAllowed,
    /// SSO is enforced and the sign-in does not come through the SSO provider.
    SsoRequired,
    /// A SAML sign-in through another provider than `sso.provider`.
    SsoProviderMismatch,
}

impl DenialCode {
    /// The code as written in JSON (`ip-not-allowed`).
    pub fn as_str(self) -> &'static str {
        match self {
            DenialCode::AccountDeactivated => "account-deactivated",
            DenialCode::AccountClosed => "account-closed",
            DenialCode::IpNotAllowed => "ip-not-allowed",
            DenialCode::MfaMissing => "mfa-missing",
            DenialCode::MfaModeNotAllowed => "mfa-mode-not-allowed",
            DenialCode::UnknownProvider => "unknown-provider",
            DenialCode::ProviderDisabled => "provider-disabled",
            DenialCode::FederatedSignInDisallowed => "federated-sign-in-disallowed",
            DenialCode::ProviderNotAllowed => "provider-not-allowed",
            DenialCode::SsoRequired => "sso-required",
            DenialCode::SsoProviderMismatch => "sso-provider-mismatch",
        }
    }
}

/// A fact about a sign-in that is not a denial: a stable machine code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoteCode {
    /// Which security policy applies, and why.
    Policy,
    /// No security policy applies: the backend defaults do.
    NoPolicy,
    /// No second factor is asked for.
    MfaNotRequired,
    /// A SAML sign-in: the identity provider handles the second factor.
    MfaByIdentityProvider,
    /// How long a browser stays trusted after a second factor.
    TrustedBrowser,
    /// The session's maximum lifetime.
    SessionLifetime,
    /// The idle timeout.
    IdleTimeout,
    /// The number of concurrent sessions allowed.
    ConcurrentSessions,
}

impl NoteCode {
    /// The code as written in JSON (`session-lifetime`).
    pub fn as_str(self) -> &'static str {
        match self {
            NoteCode::Policy => "policy",
            NoteCode::NoPolicy => "no-policy",
            NoteCode::MfaNotRequired => "mfa-not-required",
            NoteCode::MfaByIdentityProvider => "mfa-by-identity-provider",
            NoteCode::TrustedBrowser => "trusted-browser",
            NoteCode::SessionLifetime => "session-lifetime",
            NoteCode::IdleTimeout => "idle-timeout",
            NoteCode::ConcurrentSessions => "concurrent-sessions",
        }
    }
}

/// One reason a sign-in is denied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Denial {
    /// The stable code.
    pub code: DenialCode,
    /// The reason as a sentence for people.
    pub message: String,
}

/// One fact about a sign-in that is not a denial.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Note {
    /// The stable code.
    pub code: NoteCode,
    /// The fact as a sentence for people.
    pub message: String,
}

/// The sign-in settings in force for a user: the policy's values with the
/// backend defaults filled in (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInSettings {
    /// `network.allowedIps`; `None`: any address.
    pub allowed_ips: Option<Vec<IpRule>>,
    /// `mfa.required` (default false).
    pub mfa_required: bool,
    /// `mfa.modes`; `None`: any mode.
    pub mfa_modes: Option<Vec<MfaMode>>,
    /// `mfa.trustedBrowser`; `None`: not set (the backend's own default).
    pub trusted_browser: Option<TrustedBrowser>,
    /// `federatedSignIn.allowed` (default true).
    pub federated_sign_in: bool,
    /// `federatedSignIn.providers`; `None`: every provider of the organization.
    pub federated_providers: Option<Vec<Name>>,
    /// `sso.enforced` (default false).
    pub sso_enforced: bool,
    /// `sso.provider`; `None`: any SAML provider of the organization.
    pub sso_provider: Option<Name>,
    /// `session.lifetime` (default 30d).
    pub session_lifetime: Duration,
    /// `session.idleTimeout`; `None`: no idle timeout.
    pub idle_timeout: Option<Duration>,
    /// `session.concurrentSessions` (default 50).
    pub concurrent_sessions: u32,
}

/// A non-empty list, or `None` (absent, null and empty mean the default).
fn listed<T: Clone + Ord>(c: Option<&crate::model::Collection<T>>) -> Option<Vec<T>> {
    c.filter(|c| !c.items.is_empty())
        .map(|c| c.iter().cloned().collect())
}

impl SignInSettings {
    /// The settings of `policy`, or the backend defaults for `None`.
    pub fn of(policy: Option<&SecurityPolicySpec>) -> Self {
        let mfa = policy.and_then(|p| p.mfa.get());
        let network = policy.and_then(|p| p.network.get());
        let federated = policy.and_then(|p| p.federated_sign_in.get());
        let sso = policy.and_then(|p| p.sso.get());
        let session = policy.and_then(|p| p.session.get());
        SignInSettings {
            allowed_ips: listed(network.and_then(|n| n.allowed_ips.get())),
            mfa_required: mfa.and_then(|m| m.required.get()).copied().unwrap_or(false),
            mfa_modes: listed(mfa.and_then(|m| m.modes.get())),
            trusted_browser: mfa.and_then(|m| m.trusted_browser.get()).copied(),
            federated_sign_in: federated.and_then(|f| f.allowed.get()).copied().unwrap_or(true),
            federated_providers: listed(federated.and_then(|f| f.providers.get())),
            sso_enforced: sso.and_then(|s| s.enforced.get()).copied().unwrap_or(false),
            sso_provider: sso.and_then(|s| s.provider.get()).cloned(),
            session_lifetime: session
                .and_then(|s| s.lifetime.get())
                .copied()
                .unwrap_or(Duration::from_secs(DEFAULT_LIFETIME_SECS)),
            idle_timeout: session.and_then(|s| s.idle_timeout.get()).copied(),
            concurrent_sessions: session
                .and_then(|s| s.concurrent_sessions.get())
                .copied()
                .unwrap_or(DEFAULT_CONCURRENT_SESSIONS),
        }
    }
}

/// The organization's state evaluated, when it is not the current one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AsOfState {
    /// The time asked for (RFC 3339).
    pub at: String,
    /// The organization's revision at that time (0: before any recorded change).
    pub revision: u64,
    /// How many later applies (audit entries) were undone to get there.
    pub applies_undone: usize,
}

/// An evaluated sign-in: the decision, every reason, and what applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInExplanation {
    /// [`SIGNIN_FORMAT_VERSION`].
    pub format_version: u32,
    /// The organization, when its Organization object is present.
    pub organization: Option<Name>,
    /// Set when a past state was evaluated (`--at`); `None`: the state given.
    pub as_of: Option<AsOfState>,
    /// The user.
    pub user: Name,
    /// The user's account status.
    pub status: UserStatus,
    /// The sign-in evaluated.
    pub attempt: SignInAttempt,
    /// How it authenticates.
    pub method: SignInMethod,
    /// True when no check denies it.
    pub allowed: bool,
    /// Every reason it is denied, in check order (empty when allowed).
    pub denials: Vec<Denial>,
    /// Facts that apply either way.
    pub notes: Vec<Note>,
    /// The effective security policy and how it was chosen.
    pub policy: PolicyExplanation,
    /// The settings in force (`None` for a closed account).
    pub settings: Option<SignInSettings>,
}

/// Why a sign-in cannot be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignInError {
    /// The user is not in the organization.
    #[error("user {user:?} is not in organization {organization:?}{}", suggest(.suggestion))]
    UnknownUser {
        /// The name asked for.
        user: String,
        /// The organization's name (empty when unknown).
        organization: String,
        /// The closest user name, if close enough.
        suggestion: Option<String>,
    },
}

/// `, did you mean "x"?` or nothing.
fn suggest(s: &Option<String>) -> String {
    s.as_ref()
        .map(|s| format!(", did you mean {s:?}?"))
        .unwrap_or_default()
}

/// The security policies and identity providers of one organization by
/// name: what a sign-in is checked against besides the [`AccessModel`].
#[derive(Debug, Default)]
pub struct SignInContext<'a> {
    /// SecurityPolicies by name.
    policies: BTreeMap<&'a str, &'a SecurityPolicySpec>,
    /// IdentityProviders by name.
    providers: BTreeMap<&'a str, &'a IdentityProviderSpec>,
}

impl<'a> SignInContext<'a> {
    /// The context of a validated organization.
    pub fn from_desired(org: &'a DesiredOrg) -> Self {
        Self::from_specs(org.objects.iter().map(|((_, name), o)| (name, &o.spec)))
    }

    /// The context of a live snapshot (or a reconstructed past state).
    pub fn from_live(org: &'a LiveOrg) -> Self {
        Self::from_specs(org.objects.iter().map(|((_, name), o)| (name, &o.spec)))
    }

    /// The context of any `(name, spec)` objects of one organization.
    pub fn from_specs<I: IntoIterator<Item = (&'a Name, &'a Spec)>>(objects: I) -> Self {
        let mut cx = SignInContext::default();
        for (name, spec) in objects {
            match spec {
                Spec::SecurityPolicy(p) => {
                    cx.policies.insert(name.as_str(), p);
                }
                Spec::IdentityProvider(i) => {
                    cx.providers.insert(name.as_str(), i);
                }
                _ => {}
            }
        }
        cx
    }

    /// The security policy called `name`.
    pub fn policy(&self, name: &str) -> Option<&'a SecurityPolicySpec> {
        self.policies.get(name).copied()
    }

    /// The identity provider called `name`.
    pub fn provider(&self, name: &str) -> Option<&'a IdentityProviderSpec> {
        self.providers.get(name).copied()
    }
}

/// The outcome of the checks, before the policy choice is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// How the sign-in authenticates.
    pub method: SignInMethod,
    /// Every denial, in check order.
    pub denials: Vec<Denial>,
    /// Facts that apply either way.
    pub notes: Vec<Note>,
    /// The settings in force (`None` for a closed account).
    pub settings: Option<SignInSettings>,
}

impl Verdict {
    /// True when nothing denies the sign-in.
    pub fn allowed(&self) -> bool {
        self.denials.is_empty()
    }

    /// The denial codes, in order.
    pub fn codes(&self) -> Vec<DenialCode> {
        self.denials.iter().map(|d| d.code).collect()
    }
}

/// Joins names as `"a", "b"`.
fn quoted<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(|i| format!("\"{i}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Joins values as `a, b`.
fn plain<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// An MFA mode as written in the files (`push-app`).
pub fn mode_name(m: MfaMode) -> &'static str {
    match m {
        MfaMode::PushApp => "push-app",
        MfaMode::Sms => "sms",
        MfaMode::Totp => "totp",
        MfaMode::SecurityKey => "security-key",
    }
}

/// A policy reason as a clause (`the user is in group "admins"`).
pub fn policy_reason(reason: &PolicyReason) -> String {
    match reason {
        PolicyReason::Default => "the default policy: no other policy applies".to_string(),
        PolicyReason::User => "the user is listed in its targets".to_string(),
        PolicyReason::Group { group } => format!("the user is in group {:?}", group.as_str()),
        PolicyReason::Rule => "its target rule matches the user".to_string(),
    }
}

/// Evaluates a sign-in of a user with `status` under `policy` (its name and
/// spec; `None`: no effective policy), against the organization's identity
/// providers in `cx`. `organization` names it in messages.
pub fn evaluate(
    status: UserStatus,
    policy: Option<(&str, &SecurityPolicySpec)>,
    cx: &SignInContext<'_>,
    attempt: &SignInAttempt,
    organization: &str,
) -> Verdict {
    let mut denials = Vec::new();
    let mut notes = Vec::new();
    let mut deny = |code, message: String| denials.push(Denial { code, message });
    let mut note = |code, message: String| notes.push(Note { code, message });

    let provider = attempt.via.as_deref().map(|v| (v, cx.provider(v)));
    let settings = SignInSettings::of(policy.map(|(_, p)| p));
    let method = match provider {
        None => SignInMethod::Password,
        Some((_, Some(p))) if p.provider_type == Some(ProviderType::Saml) => SignInMethod::Sso,
        Some((v, None)) if settings.sso_provider.as_ref().is_some_and(|s| s.as_str() == v) => {
            SignInMethod::Sso
        }
        Some(_) => SignInMethod::Federated,
    };

    if status == UserStatus::Closed {
        deny(
            DenialCode::AccountClosed,
            "The account is closed: its data is deleted and it cannot sign in.".to_string(),
        );
        note(
            NoteCode::NoPolicy,
            "A closed account has no security policy.".to_string(),
        );
        return Verdict {
            method,
            denials,
            notes,
            settings: None,
        };
    }
    if status == UserStatus::Deactivated {
        deny(
            DenialCode::AccountDeactivated,
            "The account is deactivated: it cannot sign in until it is reactivated.".to_string(),
        );
    }
    // Messages name the policy when there is one.
    let by = match policy {
        Some((name, _)) => format!("Policy \"{name}\""),
        None => "The backend default".to_string(),
    };
    if policy.is_none() {
        note(
            NoteCode::NoPolicy,
            "No security policy applies (the organization has no default policy): the backend defaults apply."
                .to_string(),
        );
    }

    // Network.
    if let Some(rules) = &settings.allowed_ips {
        let ip = attempt.ip.to_canonical();
        if !rules.iter().any(|r| r.contains(&ip)) {
            deny(
                DenialCode::IpNotAllowed,
                format!(
                    "{by} allows sign-in only from {}; {} is outside them.",
                    plain(rules),
                    attempt.ip
                ),
            );
        }
    }

    // Second factor.
    let modes: Vec<&str> = match &settings.mfa_modes {
        Some(m) => m.iter().map(|m| mode_name(*m)).collect(),
        None => ALL_MODES.iter().map(|m| mode_name(*m)).collect(),
    };
    if method == SignInMethod::Sso {
        if settings.mfa_required {
            note(
                NoteCode::MfaByIdentityProvider,
                format!(
                    "{by} requires a second factor; a sign-in through SAML provider {:?} leaves it to the identity provider.",
                    attempt.via.as_deref().unwrap_or_default()
                ),
            );
        }
    } else if settings.mfa_required {
        match attempt.mfa {
            None => deny(
                DenialCode::MfaMissing,
                format!(
                    "{by} requires a second factor ({}), and none was presented.",
                    modes.join(", ")
                ),
            ),
            Some(m) if !modes.contains(&mode_name(m)) => deny(
                DenialCode::MfaModeNotAllowed,
                format!(
                    "{by} allows the second factors {}, not {}.",
                    modes.join(", "),
                    mode_name(m)
                ),
            ),
            Some(_) => {}
        }
        let trusted = match settings.trusted_browser {
            Some(TrustedBrowser::Never) => {
                "A browser is never trusted: the second factor is asked at every sign-in.".to_string()
            }
            Some(TrustedBrowser::For(d)) => {
                format!("After the second factor, the browser is trusted for {d}.")
            }
            None => "The trusted-browser lifetime is not set: the backend's default applies.".to_string(),
        };
        note(NoteCode::TrustedBrowser, trusted);
    } else {
        let presented = attempt
            .mfa
            .map(|m| format!("; the {} presented is not asked for", mode_name(m)))
            .unwrap_or_default();
        note(
            NoteCode::MfaNotRequired,
            format!("{by} does not require a second factor{presented}."),
        );
    }

    // Providers.
    if let Some((via, found)) = provider {
        match found {
            None => {
                let mut names: Vec<&str> = cx.providers.keys().copied().collect();
                names.sort_unstable();
                let hint = match did_you_mean(via, names.iter().copied()) {
                    Some(s) => format!(", did you mean {s:?}?"),
                    None if names.is_empty() => "; it has none.".to_string(),
                    None => format!("; it has {}.", quoted(&names)),
                };
                deny(
                    DenialCode::UnknownProvider,
                    format!("{via:?} is not an identity provider of organization {organization:?}{hint}"),
                );
            }
            Some(p) if p.enabled.get() == Some(&false) => deny(
                DenialCode::ProviderDisabled,
                format!("Identity provider {via:?} is disabled (enabled: false)."),
            ),
            Some(_) => {}
        }
        match method {
            SignInMethod::Federated => {
                if !settings.federated_sign_in {
                    deny(
                        DenialCode::FederatedSignInDisallowed,
                        format!("{by} does not allow federated sign-in (federatedSignIn.allowed: false)."),
                    );
                } else if let Some(allowed) = &settings.federated_providers {
                    if !allowed.iter().any(|a| a.as_str() == via) {
                        deny(
                            DenialCode::ProviderNotAllowed,
                            format!(
                                "{by} allows federated sign-in only through {}, not {via:?}.",
                                quoted(allowed)
                            ),
                        );
                    }
                }
            }
            SignInMethod::Sso => {
                if let Some(sso) = settings.sso_provider.as_ref().filter(|s| s.as_str() != via) {
                    deny(
                        DenialCode::SsoProviderMismatch,
                        format!(
                            "{by} signs in through SAML provider {:?}, not {via:?}.",
                            sso.as_str()
                        ),
                    );
                }
            }
            SignInMethod::Password => {}
        }
    }
    if settings.sso_enforced && method != SignInMethod::Sso {
        let through = settings
            .sso_provider
            .as_ref()
            .map(|s| format!("SAML provider {:?}", s.as_str()))
            .unwrap_or_else(|| "the organization's SAML provider".to_string());
        let what = match attempt.via.as_deref() {
            None => "a password sign-in".to_string(),
            Some(v) => format!("a sign-in through {v:?}"),
        };
        deny(
            DenialCode::SsoRequired,
            format!("{by} enforces single sign-on through {through}: {what} is not allowed."),
        );
    }

    // Sessions.
    let source = |set: bool| {
        if set {
            String::new()
        } else {
            " (backend default)".to_string()
        }
    };
    let session = policy.and_then(|(_, p)| p.session.get());
    note(
        NoteCode::SessionLifetime,
        format!(
            "A session lasts at most {}{}.",
            settings.session_lifetime,
            source(session.is_some_and(|s| s.lifetime.get().is_some()))
        ),
    );
    note(
        NoteCode::IdleTimeout,
        match settings.idle_timeout {
            Some(d) => format!("A session ends after {d} without activity."),
            None => "No idle timeout: an idle session lasts until its lifetime ends.".to_string(),
        },
    );
    note(
        NoteCode::ConcurrentSessions,
        format!(
            "At most {} sessions at once{}.",
            settings.concurrent_sessions,
            source(session.is_some_and(|s| s.concurrent_sessions.get().is_some()))
        ),
    );
    Verdict {
        method,
        denials,
        notes,
        settings: Some(settings),
    }
}

impl AccessModel<'_> {
    /// Evaluates a sign-in of user `name` under the effective policy
    /// [`AccessModel::explain_user`] chooses; `cx` holds the same
    /// organization's policies and identity providers.
    pub fn explain_signin(
        &self,
        cx: &SignInContext<'_>,
        name: &str,
        attempt: &SignInAttempt,
    ) -> Result<SignInExplanation, SignInError> {
        let organization = self.organization().map(Name::as_str).unwrap_or_default();
        let Some(user) = self.explain_user(name) else {
            return Err(SignInError::UnknownUser {
                user: name.to_string(),
                organization: organization.to_string(),
                suggestion: did_you_mean(name, self.users().map(Name::as_str)).map(str::to_string),
            });
        };
        let choice = user.policy.effective.as_ref();
        let combined_specs: Vec<&SecurityPolicySpec> = user
            .policy
            .combined
            .iter()
            .filter_map(|r| cx.policy(r.policy.as_str()))
            .collect();
        let combined_names: Vec<String> = user
            .policy
            .combined
            .iter()
            .map(|r| format!("{:?}", r.policy.as_str()))
            .collect();
        let label = combined_names.join(" + ");
        let combined = (!combined_specs.is_empty()).then(|| super::combine::strictest(&combined_specs));
        let policy = match &combined {
            Some(spec) => Some((label.as_str(), spec)),
            None => choice.and_then(|c| cx.policy(c.policy.as_str()).map(|spec| (c.policy.as_str(), spec))),
        };
        let mut verdict = evaluate(user.status, policy, cx, attempt, organization);
        if combined.is_some() {
            verdict.notes.insert(
                0,
                Note {
                    code: NoteCode::Policy,
                    message: format!(
                        "Security policies {label} apply together: the backend enforces the strictest value of each setting."
                    ),
                },
            );
        } else if let Some(c) = choice {
            let priority = user
                .policy
                .priority
                .map(|p| format!(" (priority {p})"))
                .unwrap_or_default();
            verdict.notes.insert(
                0,
                Note {
                    code: NoteCode::Policy,
                    message: format!(
                        "Security policy {:?}{priority} applies: {}.",
                        c.policy.as_str(),
                        policy_reason(&c.reason)
                    ),
                },
            );
        }
        Ok(SignInExplanation {
            format_version: SIGNIN_FORMAT_VERSION,
            organization: self.organization().cloned(),
            as_of: None,
            user: user.user,
            status: user.status,
            attempt: attempt.clone(),
            method: verdict.method,
            allowed: verdict.allowed(),
            denials: verdict.denials,
            notes: verdict.notes,
            policy: user.policy,
            settings: verdict.settings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        Collection, FederatedSignInPolicy, Field, MfaPolicy, NetworkPolicy, PolicyTargets, SessionPolicy,
        SsoPolicy, UserSpec,
    };
    use DenialCode::*;

    fn n(s: &str) -> Name {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn ips(list: &[&str]) -> Field<NetworkPolicy> {
        Field::Set(NetworkPolicy {
            allowed_ips: Field::Set(Collection::authoritative(
                list.iter()
                    .map(|s| s.parse::<IpRule>().unwrap_or_else(|e| panic!("{e}"))),
            )),
        })
    }

    fn mfa(required: bool, modes: &[MfaMode]) -> Field<MfaPolicy> {
        Field::Set(MfaPolicy {
            required: Field::Set(required),
            modes: if modes.is_empty() {
                Field::Unset
            } else {
                Field::Set(Collection::authoritative(modes.iter().copied()))
            },
            ..MfaPolicy::default()
        })
    }

    fn federated(allowed: Option<bool>, providers: &[&str]) -> Field<FederatedSignInPolicy> {
        Field::Set(FederatedSignInPolicy {
            allowed: allowed.map_or(Field::Unset, Field::Set),
            providers: if providers.is_empty() {
                Field::Unset
            } else {
                Field::Set(Collection::authoritative(providers.iter().map(|p| n(p))))
            },
        })
    }

    fn sso(enforced: bool, provider: Option<&str>) -> Field<SsoPolicy> {
        Field::Set(SsoPolicy {
            enforced: Field::Set(enforced),
            provider: provider.map_or(Field::Unset, |p| Field::Set(n(p))),
        })
    }

    fn idp(kind: ProviderType, enabled: Option<bool>) -> Spec {
        Spec::IdentityProvider(Box::new(IdentityProviderSpec {
            organization: Some(n("acme")),
            provider_type: Some(kind),
            enabled: enabled.map_or(Field::Unset, Field::Set),
            ..IdentityProviderSpec::default()
        }))
    }

    /// google (enabled), github (oidc, disabled), corp-sso and other-sso (saml).
    fn providers() -> Vec<(Name, Spec)> {
        vec![
            (n("google"), idp(ProviderType::Google, Some(true))),
            (n("github"), idp(ProviderType::Oidc, Some(false))),
            (n("corp-sso"), idp(ProviderType::Saml, None)),
            (n("other-sso"), idp(ProviderType::Saml, None)),
        ]
    }

    fn attempt(ip: &str, mfa: Option<MfaMode>, via: Option<&str>) -> SignInAttempt {
        SignInAttempt {
            ip: ip.parse().unwrap_or_else(|e| panic!("{ip}: {e}")),
            mfa,
            via: via.map(str::to_string),
        }
    }

    fn run(status: UserStatus, policy: Option<&SecurityPolicySpec>, a: &SignInAttempt) -> Verdict {
        let objects = providers();
        let cx = SignInContext::from_specs(objects.iter().map(|(n, s)| (n, s)));
        evaluate(status, policy.map(|p| ("p", p)), &cx, a, "acme")
    }

    /// A strict policy: office ranges, MFA with totp/security-key, federated
    /// only through google.
    fn strict() -> SecurityPolicySpec {
        SecurityPolicySpec {
            network: ips(&[
                "203.0.113.0/24",
                "198.51.100.200",
                "192.0.2.10-192.0.2.20",
                "2001:db8::/32",
            ]),
            mfa: mfa(true, &[MfaMode::Totp, MfaMode::SecurityKey]),
            federated_sign_in: federated(Some(true), &["google"]),
            ..SecurityPolicySpec::default()
        }
    }

    /// What is checked, status, policy, attempt, and the denials expected.
    type Case<'a> = (
        &'a str,
        UserStatus,
        Option<&'a SecurityPolicySpec>,
        SignInAttempt,
        Vec<DenialCode>,
    );

    #[test]
    fn every_reason_in_a_table() {
        use MfaMode::*;
        use UserStatus::*;
        let strict = strict();
        let no_federation = SecurityPolicySpec {
            federated_sign_in: federated(Some(false), &[]),
            ..strict.clone()
        };
        let enforced = SecurityPolicySpec {
            sso: sso(true, Some("corp-sso")),
            ..strict.clone()
        };
        let enforced_any = SecurityPolicySpec {
            sso: sso(true, None),
            ..SecurityPolicySpec::default()
        };
        let named_sso = SecurityPolicySpec {
            sso: sso(false, Some("corp-sso")),
            ..SecurityPolicySpec::default()
        };
        let empty = SecurityPolicySpec::default();
        let office = "203.0.113.7";
        #[rustfmt::skip]
        let cases: Vec<Case> = vec![
            ("allowed: office, totp, password", Active, Some(&strict), attempt(office, Some(Totp), None), vec![]),
            ("single address rule", Active, Some(&strict), attempt("198.51.100.200", Some(Totp), None), vec![]),
            ("range rule, inside", Active, Some(&strict), attempt("192.0.2.15", Some(Totp), None), vec![]),
            ("range rule, upper end inclusive", Active, Some(&strict), attempt("192.0.2.20", Some(Totp), None), vec![]),
            ("range rule, just outside", Active, Some(&strict), attempt("192.0.2.21", Some(Totp), None), vec![IpNotAllowed]),
            ("cidr, just outside", Active, Some(&strict), attempt("203.0.114.1", Some(Totp), None), vec![IpNotAllowed]),
            ("ipv6 inside", Active, Some(&strict), attempt("2001:db8::1", Some(Totp), None), vec![]),
            ("ipv6 outside", Active, Some(&strict), attempt("2001:db9::1", Some(Totp), None), vec![IpNotAllowed]),
            ("ipv4-mapped ipv6 matches the ipv4 rule", Active, Some(&strict), attempt("::ffff:203.0.113.9", Some(Totp), None), vec![]),
            ("deactivated", Deactivated, Some(&strict), attempt(office, Some(Totp), None), vec![AccountDeactivated]),
            ("closed: that alone", Closed, Some(&strict), attempt("1.1.1.1", None, Some("nope")), vec![AccountClosed]),
            ("mfa missing", Active, Some(&strict), attempt(office, None, None), vec![MfaMissing]),
            ("mfa mode not allowed", Active, Some(&strict), attempt(office, Some(Sms), None), vec![MfaModeNotAllowed]),
            ("federated through an allowed provider", Active, Some(&strict), attempt(office, Some(Totp), Some("google")), vec![]),
            ("provider not in the list, and disabled", Active, Some(&strict), attempt(office, Some(Totp), Some("github")), vec![ProviderDisabled, ProviderNotAllowed]),
            ("federated sign-in disallowed", Active, Some(&no_federation), attempt(office, Some(Totp), Some("google")), vec![FederatedSignInDisallowed]),
            ("unknown provider", Active, Some(&strict), attempt(office, Some(Totp), Some("gogle")), vec![UnknownProvider, ProviderNotAllowed]),
            ("sso enforced: password denied", Active, Some(&enforced), attempt(office, Some(Totp), None), vec![SsoRequired]),
            ("sso enforced: federated denied", Active, Some(&enforced), attempt(office, Some(Totp), Some("google")), vec![SsoRequired]),
            ("sso enforced: through the provider, no mfa needed", Active, Some(&enforced), attempt(office, None, Some("corp-sso")), vec![]),
            ("sso enforced: another saml provider", Active, Some(&enforced), attempt(office, None, Some("other-sso")), vec![SsoProviderMismatch]),
            ("sso enforced without a provider: any saml one", Active, Some(&enforced_any), attempt(office, None, Some("other-sso")), vec![]),
            ("sso enforced without a provider: password denied", Active, Some(&enforced_any), attempt(office, None, None), vec![SsoRequired]),
            ("sso named but not enforced: password fine", Active, Some(&named_sso), attempt(office, None, None), vec![]),
            ("sso named but not enforced: another saml provider", Active, Some(&named_sso), attempt(office, None, Some("other-sso")), vec![SsoProviderMismatch]),
            ("the ip is checked for sso sign-ins too", Active, Some(&enforced), attempt("8.8.8.8", None, Some("corp-sso")), vec![IpNotAllowed]),
            (
                "several at once, in check order",
                Deactivated, Some(&enforced), attempt("8.8.8.8", Some(Sms), Some("github")),
                vec![AccountDeactivated, IpNotAllowed, MfaModeNotAllowed, ProviderDisabled, ProviderNotAllowed, SsoRequired],
            ),
            ("no policy: defaults allow anything", Active, None, attempt("8.8.8.8", None, Some("google")), vec![]),
            ("no policy: unknown provider still denied", Active, None, attempt("8.8.8.8", None, Some("x")), vec![UnknownProvider]),
            ("empty policy: defaults", Active, Some(&empty), attempt("2001:db8::9", None, Some("corp-sso")), vec![]),
        ];
        for (what, status, policy, a, expected) in cases {
            let v = run(status, policy, &a);
            assert_eq!(v.codes(), expected, "{what}: {:#?}", v.denials);
            assert_eq!(v.allowed(), expected.is_empty(), "{what}");
        }
    }

    #[test]
    fn absent_fields_mean_the_backend_defaults() {
        let absent = SignInSettings::of(Some(&SecurityPolicySpec::default()));
        assert_eq!(absent, SignInSettings::of(None));
        assert_eq!(absent.allowed_ips, None, "any address");
        assert!(!absent.mfa_required, "MFA not required");
        assert_eq!(absent.mfa_modes, None, "any mode");
        assert!(absent.federated_sign_in, "federated sign-in allowed");
        assert_eq!(absent.federated_providers, None, "through any provider");
        assert!(!absent.sso_enforced, "SSO not enforced");
        assert_eq!(absent.session_lifetime.to_string(), "30d");
        assert_eq!(absent.idle_timeout, None);
        assert_eq!(absent.concurrent_sessions, 50);
        assert_eq!(absent.trusted_browser, None);
        // Empty lists and cleared fields mean the same as absent ones.
        let empty = SecurityPolicySpec {
            network: Field::Set(NetworkPolicy {
                allowed_ips: Field::Set(Collection::default()),
            }),
            mfa: Field::Set(MfaPolicy {
                required: Field::Clear,
                modes: Field::Set(Collection::default()),
                ..MfaPolicy::default()
            }),
            federated_sign_in: Field::Clear,
            sso: Field::Set(SsoPolicy::default()),
            session: Field::Set(SessionPolicy::default()),
            ..SecurityPolicySpec::default()
        };
        assert_eq!(SignInSettings::of(Some(&empty)), absent);
        let v = run(
            UserStatus::Active,
            Some(&empty),
            &attempt("8.8.8.8", None, Some("google")),
        );
        assert!(v.allowed(), "{:?}", v.denials);
        let codes: Vec<NoteCode> = v.notes.iter().map(|n| n.code).collect();
        assert_eq!(
            codes,
            vec![
                NoteCode::MfaNotRequired,
                NoteCode::SessionLifetime,
                NoteCode::IdleTimeout,
                NoteCode::ConcurrentSessions
            ]
        );
        assert_eq!(
            v.notes[1].message,
            "A session lasts at most 30d (backend default)."
        );
    }

    #[test]
    fn messages_say_what_is_wrong_and_what_would_do() {
        let p = SecurityPolicySpec {
            sso: sso(true, Some("corp-sso")),
            ..strict()
        };
        let v = run(
            UserStatus::Active,
            Some(&p),
            &attempt("8.8.8.8", None, Some("gogle")),
        );
        let messages: Vec<String> = v
            .denials
            .iter()
            .map(|d| format!("{}: {}", d.code.as_str(), d.message))
            .collect();
        assert_eq!(
            messages,
            vec![
                "ip-not-allowed: Policy \"p\" allows sign-in only from 198.51.100.200, 203.0.113.0/24, 2001:db8::/32, 192.0.2.10-192.0.2.20; 8.8.8.8 is outside them.",
                "mfa-missing: Policy \"p\" requires a second factor (totp, security-key), and none was presented.",
                "unknown-provider: \"gogle\" is not an identity provider of organization \"acme\", did you mean \"google\"?",
                "provider-not-allowed: Policy \"p\" allows federated sign-in only through \"google\", not \"gogle\".",
                "sso-required: Policy \"p\" enforces single sign-on through SAML provider \"corp-sso\": a sign-in through \"gogle\" is not allowed.",
            ]
        );
        let v = run(UserStatus::Active, None, &attempt("8.8.8.8", None, Some("zzz")));
        assert_eq!(
            v.denials[0].message,
            "\"zzz\" is not an identity provider of organization \"acme\"; it has \"corp-sso\", \"github\", \"google\", \"other-sso\"."
        );
        // Codes serialize as written in the docs.
        for d in [IpNotAllowed, SsoProviderMismatch, FederatedSignInDisallowed] {
            assert_eq!(serde_json::to_value(d).ok(), Some(serde_json::json!(d.as_str())));
        }
        assert_eq!(
            serde_json::to_value(NoteCode::MfaByIdentityProvider).ok(),
            Some(serde_json::json!(NoteCode::MfaByIdentityProvider.as_str()))
        );
    }

    #[test]
    fn notes_report_sessions_trusted_browser_and_sso_mfa() {
        let p = SecurityPolicySpec {
            mfa: Field::Set(MfaPolicy {
                required: Field::Set(true),
                trusted_browser: Field::Set(TrustedBrowser::Never),
                ..MfaPolicy::default()
            }),
            session: Field::Set(SessionPolicy {
                lifetime: Field::Set(Duration::from_secs(86_400)),
                idle_timeout: Field::Set(Duration::from_secs(1_800)),
                concurrent_sessions: Field::Set(2),
            }),
            ..SecurityPolicySpec::default()
        };
        let v = run(
            UserStatus::Active,
            Some(&p),
            &attempt("10.0.0.1", Some(MfaMode::Sms), None),
        );
        assert!(v.allowed(), "any mode when modes are absent: {:?}", v.denials);
        let notes: Vec<String> = v
            .notes
            .iter()
            .map(|n| format!("{}: {}", n.code.as_str(), n.message))
            .collect();
        assert_eq!(
            notes,
            vec![
                "trusted-browser: A browser is never trusted: the second factor is asked at every sign-in.",
                "session-lifetime: A session lasts at most 1d.",
                "idle-timeout: A session ends after 30m without activity.",
                "concurrent-sessions: At most 2 sessions at once.",
            ]
        );
        let v = run(
            UserStatus::Active,
            Some(&p),
            &attempt("10.0.0.1", None, Some("corp-sso")),
        );
        assert!(v.allowed());
        assert_eq!(v.method, SignInMethod::Sso);
        assert_eq!(v.notes[0].code, NoteCode::MfaByIdentityProvider);
    }

    fn user(name: &str, status: Option<UserStatus>) -> (Name, Spec) {
        (
            n(name),
            Spec::User(Box::new(UserSpec {
                organization: Some(n("acme")),
                email: Some(
                    format!("{name}@acme.example")
                        .parse()
                        .unwrap_or_else(|e| panic!("{e}")),
                ),
                status: status.map_or(Field::Unset, Field::Set),
                ..UserSpec::default()
            })),
        )
    }

    #[test]
    fn explain_signin_uses_the_policy_the_access_engine_chooses() {
        let mut objects = providers();
        objects.push(user("alice", None));
        objects.push(user("bob", None));
        objects.push(user("carol", Some(UserStatus::Closed)));
        objects.push((
            n("standard"),
            Spec::SecurityPolicy(Box::new(SecurityPolicySpec {
                default: Field::Set(true),
                ..SecurityPolicySpec::default()
            })),
        ));
        objects.push((
            n("strict"),
            Spec::SecurityPolicy(Box::new(SecurityPolicySpec {
                priority: Field::Set(10),
                targets: Field::Set(PolicyTargets {
                    users: Field::Set(Collection::authoritative([n("bob")])),
                    ..PolicyTargets::default()
                }),
                ..strict()
            })),
        ));
        let model = AccessModel::from_specs(objects.iter().map(|(n, s)| (n, s)));
        let cx = SignInContext::from_specs(objects.iter().map(|(n, s)| (n, s)));
        let a = attempt("8.8.8.8", None, None);
        let alice = model
            .explain_signin(&cx, "alice", &a)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(alice.allowed);
        assert_eq!(
            alice.notes[0].message,
            "Security policy \"standard\" applies: the default policy: no other policy applies."
        );
        let bob = model
            .explain_signin(&cx, "bob", &a)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!bob.allowed);
        assert_eq!(
            bob.denials.iter().map(|d| d.code).collect::<Vec<_>>(),
            vec![IpNotAllowed, MfaMissing]
        );
        assert_eq!(
            bob.notes[0].message,
            "Security policy \"strict\" (priority 10) applies: the user is listed in its targets."
        );
        let carol = model
            .explain_signin(&cx, "carol", &a)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            carol.denials.iter().map(|d| d.code).collect::<Vec<_>>(),
            vec![AccountClosed]
        );
        assert_eq!(carol.settings, None);
        let err = model.explain_signin(&cx, "bobb", &a).unwrap_err();
        assert_eq!(
            err.to_string(),
            "user \"bobb\" is not in organization \"\", did you mean \"bob\"?"
        );
        // No default policy at all: the defaults, and a note.
        objects.retain(|(name, _)| name.as_str() != "standard");
        let model = AccessModel::from_specs(objects.iter().map(|(n, s)| (n, s)));
        let cx = SignInContext::from_specs(objects.iter().map(|(n, s)| (n, s)));
        let alice = model
            .explain_signin(&cx, "alice", &a)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(alice.allowed);
        assert_eq!(alice.notes[0].code, NoteCode::NoPolicy);
        let json = serde_json::to_value(&alice).unwrap_or_default();
        assert_eq!(json["formatVersion"], 1);
        assert_eq!(json["attempt"]["ip"], "8.8.8.8");
        assert_eq!(json["settings"]["allowedIps"], serde_json::Value::Null);
        assert_eq!(json["settings"]["sessionLifetime"], "30d");
    }
}
