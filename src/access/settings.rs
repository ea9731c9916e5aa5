//! Security settings compared field by field: what a user's effective
//! policy enforces before and after a change, and whether each difference
//! makes sign-in stricter or looser. Absent fields read as the backend's
//! defaults: minimum length 8, no history, no expiry, MFA not
//! required, every MFA mode allowed, backup codes allowed, sessions of 30
//! days, no idle timeout, 50 concurrent sessions, any address, federated
//! sign-in allowed with any provider, SSO not enforced.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::model::{MfaMode, SecurityPolicySpec, TrustedBrowser};

/// Which way a setting moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Direction {
    /// Sign-in or passwords become harder.
    Stricter,
    /// Sign-in or passwords become easier.
    Looser,
    /// Different, neither stricter nor looser (another provider, a partly
    /// overlapping address list).
    Changed,
}

/// A setting's value as plans show it: in JSON a count is a number and a
/// switch a boolean, as in the plan's field diffs; everything else (durations,
/// address lists, `any`, `none`) is text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SettingValue {
    /// A switch (`mfa.required`).
    Bool(bool),
    /// A count (`password.minLength`).
    Number(u64),
    /// Anything else, as people read it.
    Text(String),
}

impl std::fmt::Display for SettingValue {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            SettingValue::Bool(b) => b.fmt(f),
            SettingValue::Number(n) => n.fmt(f),
            SettingValue::Text(t) => f.write_str(t),
        }
    }
}

/// One setting that differs between two policies.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingChange {
    /// Dotted spec path (`mfa.required`).
    pub field: String,
    /// The value before.
    pub before: SettingValue,
    /// The value after.
    pub after: SettingValue,
    /// Stricter, looser or just changed.
    pub direction: Direction,
}

/// A setting's value with the order that makes it stricter.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    /// More is stricter (minimum length); shown as the number.
    More(u64, String),
    /// Less is stricter (lifetimes); shown as the text.
    Less(u64, String),
    /// `true` is stricter (MFA required).
    On(bool),
    /// `false` is stricter (backup codes allowed).
    Off(bool),
    /// A set where fewer is stricter; `None` = anything.
    Fewer(Option<BTreeSet<String>>),
    /// Text without an order (a provider name).
    Text(String),
}

impl Value {
    /// The value as plans show it; a count shown as its number is a number.
    fn typed(&self) -> SettingValue {
        match self {
            Value::More(n, s) | Value::Less(n, s) if *s == n.to_string() => SettingValue::Number(*n),
            Value::On(b) | Value::Off(b) => SettingValue::Bool(*b),
            Value::More(..) | Value::Less(..) | Value::Fewer(_) | Value::Text(_) => {
                SettingValue::Text(self.show())
            }
        }
    }

    fn show(&self) -> String {
        match self {
            Value::More(_, s) | Value::Less(_, s) | Value::Text(s) => s.clone(),
            Value::On(b) | Value::Off(b) => b.to_string(),
            Value::Fewer(None) => "any".to_string(),
            Value::Fewer(Some(set)) if set.is_empty() => "none".to_string(),
            Value::Fewer(Some(set)) => set.iter().cloned().collect::<Vec<_>>().join(", "),
        }
    }

    fn direction(&self, after: &Value) -> Direction {
        use std::cmp::Ordering::{Greater, Less};
        let by = |o: std::cmp::Ordering| match o {
            Greater => Direction::Stricter,
            Less => Direction::Looser,
            std::cmp::Ordering::Equal => Direction::Changed,
        };
        match (self, after) {
            (Value::More(a, _), Value::More(b, _)) => by(b.cmp(a)),
            (Value::Less(a, _), Value::Less(b, _)) => by(a.cmp(b)),
            (Value::On(a), Value::On(b)) => by(b.cmp(a)),
            (Value::Off(a), Value::Off(b)) => by(a.cmp(b)),
            (Value::Fewer(a), Value::Fewer(b)) => match (a, b) {
                (None, Some(_)) => Direction::Stricter,
                (Some(_), None) => Direction::Looser,
                (Some(a), Some(b)) if b.is_subset(a) => Direction::Stricter,
                (Some(a), Some(b)) if a.is_subset(b) => Direction::Looser,
                _ => Direction::Changed,
            },
            _ => Direction::Changed,
        }
    }
}

const NEVER: u64 = u64::MAX;

fn secs(d: Option<&crate::model::Duration>, default: u64) -> (u64, String) {
    match d {
        Some(d) => (d.as_secs(), d.to_string()),
        None if default == NEVER => (NEVER, "none".to_string()),
        None => {
            let d = crate::model::Duration::from_secs(default);
            (default, d.to_string())
        }
    }
}

fn count(n: Option<&u32>, default: u32) -> (u64, String) {
    let n = n.copied().unwrap_or(default);
    (u64::from(n), n.to_string())
}

/// Every setting of a policy with defaults filled in, in a fixed order.
fn settings(p: &SecurityPolicySpec) -> Vec<(&'static str, Value)> {
    let pw = p.password.get();
    let mfa = p.mfa.get();
    let session = p.session.get();
    let fed = p.federated_sign_in.get();
    let sso = p.sso.get();
    let more = |v: (u64, String)| Value::More(v.0, v.1);
    let less = |v: (u64, String)| Value::Less(v.0, v.1);
    let trusted = match mfa.and_then(|m| m.trusted_browser.get()) {
        Some(TrustedBrowser::Never) => Value::Less(0, "never".to_string()),
        Some(TrustedBrowser::For(d)) => Value::Less(d.as_secs(), d.to_string()),
        None => Value::Less(NEVER, "default".to_string()),
    };
    let modes = mfa.and_then(|m| m.modes.get()).map(|c| {
        c.iter()
            .map(|m: &MfaMode| {
                serde_json::to_value(m)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
            })
            .map(Option::unwrap_or_default)
            .collect()
    });
    vec![
        (
            "password.minLength",
            more(count(pw.and_then(|p| p.min_length.get()), 8)),
        ),
        (
            "password.historyCount",
            more(count(pw.and_then(|p| p.history_count.get()), 0)),
        ),
        (
            "password.minSpecial",
            more(count(pw.and_then(|p| p.min_special.get()), 0)),
        ),
        (
            "password.minDigits",
            more(count(pw.and_then(|p| p.min_digits.get()), 0)),
        ),
        (
            "password.mixedCase",
            Value::On(pw.and_then(|p| p.mixed_case.get()).copied().unwrap_or(false)),
        ),
        ("password.minAge", more(secs(pw.and_then(|p| p.min_age.get()), 0))),
        (
            "password.maxAge",
            less(secs(pw.and_then(|p| p.max_age.get()), NEVER)),
        ),
        (
            "mfa.required",
            Value::On(mfa.and_then(|m| m.required.get()).copied().unwrap_or(false)),
        ),
        ("mfa.modes", Value::Fewer(modes)),
        ("mfa.trustedBrowser", trusted),
        (
            "mfa.backupCodes",
            Value::Off(mfa.and_then(|m| m.backup_codes.get()).copied().unwrap_or(true)),
        ),
        (
            "session.lifetime",
            less(secs(session.and_then(|s| s.lifetime.get()), 30 * 86_400)),
        ),
        (
            "session.idleTimeout",
            less(secs(session.and_then(|s| s.idle_timeout.get()), NEVER)),
        ),
        (
            "session.concurrentSessions",
            less(count(session.and_then(|s| s.concurrent_sessions.get()), 50)),
        ),
        (
            "network.allowedIps",
            Value::Fewer(
                p.network
                    .get()
                    .and_then(|n| n.allowed_ips.get())
                    .map(|c| c.iter().map(ToString::to_string).collect()),
            ),
        ),
        (
            "federatedSignIn.allowed",
            Value::Off(fed.and_then(|f| f.allowed.get()).copied().unwrap_or(true)),
        ),
        (
            "federatedSignIn.providers",
            Value::Fewer(
                fed.and_then(|f| f.providers.get())
                    .map(|c| c.iter().map(ToString::to_string).collect()),
            ),
        ),
        (
            "sso.enforced",
            Value::On(sso.and_then(|s| s.enforced.get()).copied().unwrap_or(false)),
        ),
        (
            "sso.provider",
            Value::Text(
                sso.and_then(|s| s.provider.get())
                    .map_or_else(|| "none".to_string(), ToString::to_string),
            ),
        ),
    ]
}

/// The settings that differ between two policies, in a fixed field order.
pub fn compare(before: &SecurityPolicySpec, after: &SecurityPolicySpec) -> Vec<SettingChange> {
    settings(before)
        .into_iter()
        .zip(settings(after))
        .filter(|((_, b), (_, a))| b != a)
        .map(|((field, b), (_, a))| SettingChange {
            field: field.to_string(),
            before: b.typed(),
            after: a.typed(),
            direction: b.direction(&a),
        })
        .collect()
}

/// True when `address` may sign in under `policy`'s network rule.
pub fn allows_address(policy: &SecurityPolicySpec, address: &std::net::IpAddr) -> bool {
    match policy.network.get().and_then(|n| n.allowed_ips.get()) {
        None => true,
        Some(rules) => rules.iter().any(|r| r.contains(address)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::{Kind, Spec};

    fn policy(v: serde_json::Value) -> SecurityPolicySpec {
        let mut v = v;
        v["organization"] = json!("acme");
        match Spec::from_json(Kind::SecurityPolicy, v).unwrap() {
            Spec::SecurityPolicy(p) => *p,
            _ => unreachable!(),
        }
    }

    fn changes(b: serde_json::Value, a: serde_json::Value) -> Vec<(String, String, String, Direction)> {
        compare(&policy(b), &policy(a))
            .into_iter()
            .map(|c| (c.field, c.before.to_string(), c.after.to_string(), c.direction))
            .collect()
    }

    fn one(field: &str, b: &str, a: &str, d: Direction) -> Vec<(String, String, String, Direction)> {
        vec![(field.to_string(), b.to_string(), a.to_string(), d)]
    }

    #[test]
    fn counts_are_numbers_and_switches_booleans_in_json() {
        let c = compare(
            &policy(json!({})),
            &policy(
                json!({"password": {"minLength": 14}, "mfa": {"required": true}, "session": {"lifetime": "1d"}}),
            ),
        );
        let v = serde_json::to_value(&c).unwrap();
        let by_field = |f: &str| {
            v.as_array()
                .unwrap()
                .iter()
                .find(|c| c["field"] == f)
                .cloned()
                .unwrap()
        };
        assert_eq!(by_field("password.minLength")["before"], json!(8));
        assert_eq!(by_field("password.minLength")["after"], json!(14));
        assert_eq!(by_field("mfa.required")["after"], json!(true));
        assert_eq!(by_field("session.lifetime")["after"], json!("1d"));
    }

    #[test]
    fn equal_policies_and_absent_versus_default_values_do_not_differ() {
        assert!(changes(json!({}), json!({})).is_empty());
        assert!(changes(
            json!({}),
            json!({"password": {"minLength": 8}, "session": {"lifetime": "30d"}})
        )
        .is_empty());
    }

    #[test]
    fn each_kind_of_setting_has_its_direction() {
        use Direction::*;
        assert_eq!(
            changes(json!({}), json!({"mfa": {"required": true}})),
            one("mfa.required", "false", "true", Stricter)
        );
        assert_eq!(
            changes(
                json!({"password": {"minLength": 14}}),
                json!({"password": {"minLength": 10}})
            ),
            one("password.minLength", "14", "10", Looser)
        );
        assert_eq!(
            changes(json!({}), json!({"password": {"maxAge": "90d"}})),
            one("password.maxAge", "none", "90d", Stricter)
        );
        assert_eq!(
            changes(json!({"session": {"lifetime": "1d"}}), json!({})),
            one("session.lifetime", "1d", "30d", Looser)
        );
        assert_eq!(
            changes(json!({}), json!({"mfa": {"backupCodes": false}})),
            one("mfa.backupCodes", "true", "false", Stricter)
        );
        assert_eq!(
            changes(
                json!({"mfa": {"trustedBrowser": "7d"}}),
                json!({"mfa": {"trustedBrowser": "never"}})
            ),
            one("mfa.trustedBrowser", "7d", "never", Stricter)
        );
        assert_eq!(
            changes(
                json!({"sso": {"provider": "okta"}}),
                json!({"sso": {"provider": "azure"}})
            ),
            one("sso.provider", "okta", "azure", Changed)
        );
    }

    #[test]
    fn sets_are_stricter_when_they_shrink_and_looser_when_they_grow() {
        use Direction::*;
        let ips = |v: serde_json::Value| json!({"network": {"allowedIps": v}});
        assert_eq!(
            changes(json!({}), ips(json!(["10.0.0.0/8"]))),
            one("network.allowedIps", "any", "10.0.0.0/8", Stricter)
        );
        assert_eq!(
            changes(
                ips(json!(["10.0.0.0/8", "192.0.2.1"])),
                ips(json!(["10.0.0.0/8"]))
            ),
            one(
                "network.allowedIps",
                "10.0.0.0/8, 192.0.2.1",
                "10.0.0.0/8",
                Stricter
            )
        );
        assert_eq!(
            changes(ips(json!(["10.0.0.0/8"])), json!({})),
            one("network.allowedIps", "10.0.0.0/8", "any", Looser)
        );
        assert_eq!(
            changes(ips(json!(["10.0.0.0/8"])), ips(json!(["192.0.2.1"]))),
            one("network.allowedIps", "10.0.0.0/8", "192.0.2.1", Changed)
        );
        assert_eq!(
            changes(
                json!({"mfa": {"modes": ["totp"]}}),
                json!({"mfa": {"modes": ["totp", "sms"]}})
            ),
            one("mfa.modes", "totp", "sms, totp", Looser)
        );
    }

    #[test]
    fn addresses_are_checked_against_the_allowed_list() {
        let open = policy(json!({}));
        let office = policy(json!({"network": {"allowedIps": ["10.0.0.0/8", "192.0.2.10-192.0.2.20"]}}));
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        assert!(allows_address(&open, &ip("203.0.113.9")));
        assert!(allows_address(&office, &ip("10.1.2.3")));
        assert!(allows_address(&office, &ip("192.0.2.15")));
        assert!(!allows_address(&office, &ip("203.0.113.9")));
    }
}
