//! Combining security policies setting by setting, for backends that apply
//! every matching policy at once (Kanidm's account policy): each setting
//! takes its strictest value among the policies that set it. Pure.

use crate::model::{
    Duration, Field, MfaPolicy, PasswordPolicy, SecurityPolicySpec, SessionPolicy, TrustedBrowser,
};

/// The strictest of the set values of one field, by `pick` (which returns the stricter of two).
fn strictest_of<T: Clone>(values: impl Iterator<Item = Option<T>>, pick: fn(T, T) -> T) -> Field<T> {
    values.flatten().reduce(pick).map_or(Field::Unset, Field::Set)
}

/// The first set value of a field (settings with no order of strictness).
fn first_set<T: Clone>(mut values: impl Iterator<Item = Option<T>>) -> Field<T> {
    values.find_map(|v| v).map_or(Field::Unset, Field::Set)
}

fn max_u32(a: u32, b: u32) -> u32 {
    a.max(b)
}

fn min_u32(a: u32, b: u32) -> u32 {
    a.min(b)
}

fn max_d(a: Duration, b: Duration) -> Duration {
    a.max(b)
}

fn min_d(a: Duration, b: Duration) -> Duration {
    a.min(b)
}

fn or(a: bool, b: bool) -> bool {
    a || b
}

fn and(a: bool, b: bool) -> bool {
    a && b
}

fn shorter_trust(a: TrustedBrowser, b: TrustedBrowser) -> TrustedBrowser {
    match (a, b) {
        (TrustedBrowser::Never, _) | (_, TrustedBrowser::Never) => TrustedBrowser::Never,
        (TrustedBrowser::For(x), TrustedBrowser::For(y)) => TrustedBrowser::For(x.min(y)),
    }
}

fn wrap<T: Default + PartialEq>(v: T) -> Field<T> {
    if v == T::default() {
        Field::Unset
    } else {
        Field::Set(v)
    }
}

/// One policy holding, for every setting, its strictest value among
/// `specs`: the largest minimums (length, history, character counts,
/// minimum age), the smallest maximums (password age, session lifetime, idle
/// timeout, concurrent sessions), MFA required if any requires it, the
/// shortest browser trust, backup codes only if all allow them. Lists with
/// no order of strictness (MFA modes, allowed IPs, federated sign-in, SSO)
/// come from the first policy that sets them. Targets and priority are not
/// settings and stay unset.
pub fn strictest(specs: &[&SecurityPolicySpec]) -> SecurityPolicySpec {
    let pw = || specs.iter().filter_map(|s| s.password.get());
    let mfa = || specs.iter().filter_map(|s| s.mfa.get());
    let session = || specs.iter().filter_map(|s| s.session.get());
    let password = PasswordPolicy {
        min_length: strictest_of(pw().map(|p| p.min_length.get().copied()), max_u32),
        history_count: strictest_of(pw().map(|p| p.history_count.get().copied()), max_u32),
        min_special: strictest_of(pw().map(|p| p.min_special.get().copied()), max_u32),
        min_digits: strictest_of(pw().map(|p| p.min_digits.get().copied()), max_u32),
        mixed_case: strictest_of(pw().map(|p| p.mixed_case.get().copied()), or),
        min_age: strictest_of(pw().map(|p| p.min_age.get().copied()), max_d),
        max_age: strictest_of(pw().map(|p| p.max_age.get().copied()), min_d),
    };
    let mfa = MfaPolicy {
        required: strictest_of(mfa().map(|m| m.required.get().copied()), or),
        modes: first_set(mfa().map(|m| m.modes.get().cloned())),
        trusted_browser: strictest_of(mfa().map(|m| m.trusted_browser.get().copied()), shorter_trust),
        backup_codes: strictest_of(mfa().map(|m| m.backup_codes.get().copied()), and),
    };
    let session = SessionPolicy {
        lifetime: strictest_of(session().map(|s| s.lifetime.get().copied()), min_d),
        idle_timeout: strictest_of(session().map(|s| s.idle_timeout.get().copied()), min_d),
        concurrent_sessions: strictest_of(session().map(|s| s.concurrent_sessions.get().copied()), min_u32),
    };
    SecurityPolicySpec {
        organization: specs.first().and_then(|s| s.organization.clone()),
        password: wrap(password),
        mfa: wrap(mfa),
        session: wrap(session),
        network: first_set(specs.iter().map(|s| s.network.get().cloned())),
        federated_sign_in: first_set(specs.iter().map(|s| s.federated_sign_in.get().cloned())),
        sso: first_set(specs.iter().map(|s| s.sso.get().cloned())),
        ..SecurityPolicySpec::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(yaml_json: serde_json::Value) -> SecurityPolicySpec {
        serde_json::from_value(yaml_json).expect("policy")
    }

    #[test]
    fn each_setting_takes_its_strictest_value_across_policies() {
        let default = policy(serde_json::json!({
            "default": true,
            "password": {"minLength": 10},
            "session": {"lifetime": "30d"},
        }));
        let admins = policy(serde_json::json!({
            "priority": 10,
            "password": {"minLength": 8},
            "mfa": {"required": true},
            "session": {"lifetime": "12h"},
        }));
        let c = strictest(&[&admins, &default]);
        assert_eq!(
            serde_json::to_value(&c).expect("json"),
            serde_json::json!({
                "organization": null,
                "password": {"minLength": 10},
                "mfa": {"required": true},
                "session": {"lifetime": "12h"},
            })
        );
        assert_eq!(strictest(&[&default]).password, default.password);
    }
}
