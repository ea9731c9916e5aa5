//! The checks of each active admin's effective policy: MFA (required,
//! strong modes, trusted browser, backup codes), network, risk tiering,
//! federated sign-in and passwords. One finding per admin and check; the
//! cause is the admin's policy (the user when no policy applies).

use super::facts::{Admin, Facts};
use super::{finding, obj, CheckId, Finding, ObjectRef};
use crate::model::{Kind, MfaMode, Name, ProviderType, SecurityPolicySpec, TrustedBrowser};
use crate::plan::UserSample;

/// Longest trusted-browser lifetime for an admin.
const MAX_TRUSTED_BROWSER_SECS: u64 = 7 * 86_400;
/// Shortest password for an admin.
const MIN_ADMIN_PASSWORD: u32 = 12;
/// The password length when a policy sets none.
const DEFAULT_PASSWORD: u32 = 8;

pub(super) fn check(f: &Facts<'_, '_>, out: &mut Vec<Finding>) {
    for admin in f.active_admins() {
        let spec = f.policy(admin.policy);
        let grantors = bindings_of(f, admin);
        let emit = &mut |check: CheckId, field: &str, message: String| {
            out.push(admin_finding(admin, &grantors, check, field, message));
        };
        admin_checks(f, admin, spec, emit);
    }
}

/// `user "ann" (super admin)` / `admin "bob"`.
fn who(admin: &Admin<'_>) -> String {
    let role = if admin.super_admin {
        "super admin"
    } else if admin.full {
        "admin"
    } else {
        "admin (custom role)"
    };
    format!("{role} {:?}", admin.name.as_str())
}

fn under(admin: &Admin<'_>) -> String {
    match admin.policy {
        Some(p) => format!("policy {:?}", p.as_str()),
        None => "no policy (the backend defaults)".to_string(),
    }
}

fn admin_checks(
    f: &Facts<'_, '_>,
    admin: &Admin<'_>,
    spec: Option<&SecurityPolicySpec>,
    emit: &mut impl FnMut(CheckId, &str, String),
) {
    let mfa = spec.and_then(|s| s.mfa.get());
    let sso = spec
        .and_then(|s| s.sso.get())
        .and_then(|s| s.enforced.get())
        .copied()
        .unwrap_or(false);
    let (w, p) = (who(admin), under(admin));
    if mfa.and_then(|m| m.required.get()) != Some(&true) {
        emit(
            CheckId::AdminMfaNotRequired,
            "spec.mfa.required",
            format!("{w} signs in under {p}, which does not require MFA"),
        );
    } else if let Some(modes) = mfa.and_then(|m| m.modes.get()) {
        if !modes.items.is_empty() && modes.items.iter().all(|m| *m == MfaMode::Sms) {
            emit(
                CheckId::AdminMfaWeakModes,
                "spec.mfa.modes",
                format!("{w} signs in under {p}, which allows only SMS as a second factor"),
            );
        }
    }
    if let Some(TrustedBrowser::For(d)) = mfa.and_then(|m| m.trusted_browser.get()) {
        if d.as_secs() > MAX_TRUSTED_BROWSER_SECS {
            emit(
                CheckId::AdminTrustedBrowserLong,
                "spec.mfa.trustedBrowser",
                format!("{w} signs in under {p}, which trusts a browser for {d} (more than 7d)"),
            );
        }
    }
    let backup = |s: Option<&SecurityPolicySpec>| {
        s.and_then(|s| s.mfa.get())
            .and_then(|m| m.backup_codes.get())
            .copied()
            .unwrap_or(true)
    };
    let default = f.policy(f.default_policy);
    if admin.policy != f.default_policy && default.is_some() && backup(spec) && !backup(default) {
        let d = f.default_policy.map(Name::as_str).unwrap_or_default();
        emit(
            CheckId::AdminBackupCodes,
            "spec.mfa.backupCodes",
            format!("{w} may use backup codes under {p}, while the default policy {d:?} allows none"),
        );
    }
    let any_address = spec
        .and_then(|s| s.network.get())
        .and_then(|n| n.allowed_ips.get())
        .is_none_or(|ips| ips.items.is_empty());
    if any_address {
        emit(
            CheckId::AdminAnyAddress,
            "spec.network.allowedIps",
            format!("{w} may sign in from any address under {p}"),
        );
    }
    // The baseline everyone else gets: the default policy, or none at all.
    if admin.policy == f.default_policy {
        let shared = f.ordinary.get(&admin.policy).copied().unwrap_or(0);
        if shared > 0 {
            let users = if shared == 1 { "user" } else { "users" };
            emit(
                CheckId::AdminNoRiskTier,
                "",
                format!("{w} signs in under {p}, the baseline of {shared} ordinary {users}: no stricter tier for admins"),
            );
        }
    }
    if sso {
        return;
    }
    if let Some(provider) = federated_provider(f, spec) {
        emit(
            CheckId::AdminFederatedSignin,
            "spec.federatedSignIn.allowed",
            format!("{w} may sign in through identity provider {provider:?} under {p}"),
        );
    }
    let password = spec.and_then(|s| s.password.get());
    let length = password
        .and_then(|p| p.min_length.get())
        .copied()
        .unwrap_or(DEFAULT_PASSWORD);
    if length < MIN_ADMIN_PASSWORD {
        emit(
            CheckId::AdminPasswordShort,
            "spec.password.minLength",
            format!("{w} may use a password of {length} characters under {p} (12 at least for admins)"),
        );
    }
    if password.and_then(|p| p.history_count.get()).copied().unwrap_or(0) == 0 {
        emit(
            CheckId::AdminPasswordNoHistory,
            "spec.password.historyCount",
            format!("{w} may reuse previous passwords under {p} (no password history)"),
        );
    }
}

/// The first enabled social or OIDC provider the policy lets its users sign
/// in through (`federatedSignIn.allowed` unset means allowed; `providers`
/// unset means every provider).
fn federated_provider<'a>(f: &Facts<'a, '_>, spec: Option<&SecurityPolicySpec>) -> Option<&'a str> {
    let fed = spec.and_then(|s| s.federated_sign_in.get());
    if fed.and_then(|x| x.allowed.get()) == Some(&false) {
        return None;
    }
    let listed = fed.and_then(|x| x.providers.get());
    f.providers
        .iter()
        .filter(|(_, p)| p.provider_type.is_some_and(|t| t != ProviderType::Saml))
        .filter(|(_, p)| p.enabled.get() != Some(&false))
        .find(|(n, _)| listed.is_none_or(|l| l.items.contains(**n)))
        .map(|(n, _)| n.as_str())
}

fn admin_finding(
    admin: &Admin<'_>,
    grantors: &[ObjectRef],
    check: CheckId,
    field: &str,
    message: String,
) -> Finding {
    let user = obj(Kind::User, admin.name);
    let (cause, field) = match admin.policy {
        Some(p) => (obj(Kind::SecurityPolicy, p), field),
        None => (user.clone(), ""),
    };
    let mut x = finding(check, user, cause, field, message);
    x.objects.extend(grantors.iter().cloned());
    x.users = UserSample {
        count: 1,
        names: vec![admin.name.clone()],
    };
    x
}

/// The role bindings (and the Organization, for the super admin) that make
/// the user an admin.
fn bindings_of(f: &Facts<'_, '_>, admin: &Admin<'_>) -> Vec<ObjectRef> {
    let mut out: Vec<ObjectRef> = Vec::new();
    if admin.super_admin {
        out.extend(f.organization_ref());
    }
    if let Some(access) = f.access.user(admin.name.as_str()) {
        out.extend(
            access
                .admin
                .bindings
                .iter()
                .map(|b| obj(Kind::RoleBinding, &b.binding)),
        );
    }
    out
}
