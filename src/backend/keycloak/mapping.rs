//! Pure conversions between the model and Keycloak's settings: the
//! `passwordPolicy` string, admin permissions as `realm-management` roles,
//! and the gaps (what Keycloak cannot hold, and why). No I/O.

use std::collections::{BTreeMap, BTreeSet};

use crate::backend::{Gap, GapFound};
use crate::model::{Action, Duration, Field, Kind, MfaMode, Module, Name, PasswordPolicy, Spec};

/// Why a targeted policy cannot be held.
const REALM_WIDE: &str =
    "Keycloak holds one realm-wide policy: only the default policy (default: true) can be expressed";

/// What Keycloak cannot hold, field by field.
pub const GAPS: &[Gap] = &[
    Gap::value(
        Kind::User,
        "status",
        "\"closed\"",
        "Keycloak has no closed state (delete the user with --prune instead)",
    ),
    Gap::field(
        Kind::Application,
        "saml.signingKey",
        "Keycloak signs SAML assertions with the realm's own keys",
    ),
    Gap::field(Kind::SecurityPolicy, "targets", REALM_WIDE),
    Gap::field(Kind::SecurityPolicy, "priority", REALM_WIDE),
    Gap::value(Kind::SecurityPolicy, "default", "false", REALM_WIDE),
    Gap::field(
        Kind::SecurityPolicy,
        "password.minAge",
        "Keycloak's password policies have no minimum age",
    ),
    Gap::field(
        Kind::SecurityPolicy,
        "mfa.trustedBrowser",
        "Keycloak has no trusted-browser setting",
    ),
    Gap::field(
        Kind::SecurityPolicy,
        "mfa.backupCodes",
        "recovery codes are not managed by orgctl on Keycloak",
    ),
    Gap::field(
        Kind::SecurityPolicy,
        "session.concurrentSessions",
        "a session limit is a per-flow authenticator on Keycloak, not managed by orgctl yet",
    ),
    Gap::field(
        Kind::SecurityPolicy,
        "network.allowedIps",
        "Keycloak has no IP allow-list (enforce it at a reverse proxy)",
    ),
    Gap::field(
        Kind::SecurityPolicy,
        "federatedSignIn",
        "Keycloak offers every enabled identity provider to every user of the realm",
    ),
    Gap::field(
        Kind::SecurityPolicy,
        "sso",
        "Keycloak cannot force a user through one identity provider by policy",
    ),
];

/// Module → the actions a role gives on it.
type Grants = &'static [(Module, &'static [Action])];

/// The `realm-management` roles orgctl composes admin roles from, each with
/// exactly the permissions it gives.
pub const ADMIN_ROLES: &[(&str, Grants)] = &[
    (
        "view-realm",
        &[
            (Module::Organization, &[Action::View]),
            (Module::Domain, &[Action::View]),
            (Module::Policy, &[Action::View]),
            (Module::Role, &[Action::View]),
        ],
    ),
    (
        "manage-realm",
        &[
            (Module::Organization, &[Action::Update]),
            (Module::Domain, &[Action::Create, Action::Update, Action::Delete]),
            (Module::Policy, &[Action::Create, Action::Update, Action::Delete]),
            (Module::Role, &[Action::Create, Action::Update, Action::Delete]),
        ],
    ),
    (
        "view-users",
        &[(Module::User, &[Action::View]), (Module::Group, &[Action::View])],
    ),
    (
        "manage-users",
        &[
            (Module::User, &[Action::Create, Action::Update, Action::Delete]),
            (Module::Group, &[Action::Create, Action::Update, Action::Delete]),
        ],
    ),
    ("view-clients", &[(Module::Application, &[Action::View])]),
    (
        "manage-clients",
        &[(
            Module::Application,
            &[Action::Create, Action::Update, Action::Delete],
        )],
    ),
    ("view-events", &[(Module::Audit, &[Action::View])]),
];

/// Permissions as module → actions.
pub type Permissions = BTreeMap<Module, BTreeSet<Action>>;

fn grants(role: &str) -> Permissions {
    let mut out = Permissions::new();
    if let Some((_, perms)) = ADMIN_ROLES.iter().find(|(r, _)| *r == role) {
        for (m, actions) in *perms {
            out.entry(*m).or_default().extend(actions.iter().copied());
        }
    }
    out
}

/// The `realm-management` roles that give exactly `wanted`, or the
/// permissions no combination can give exactly (with why).
pub fn admin_roles_for(wanted: &Permissions) -> Result<Vec<&'static str>, String> {
    let has = |p: &Permissions| {
        p.iter()
            .all(|(m, acts)| wanted.get(m).is_some_and(|w| acts.is_subset(w)))
    };
    let roles: Vec<&'static str> = ADMIN_ROLES
        .iter()
        .map(|(r, _)| *r)
        .filter(|r| has(&grants(r)))
        .collect();
    let covered = permissions_of(roles.iter().copied());
    let missing: Vec<String> = wanted
        .iter()
        .flat_map(|(m, acts)| {
            acts.iter()
                .filter(|a| !covered.get(m).is_some_and(|c| c.contains(a)))
                .map(move |a| format!("{}:{}", m.as_str(), a.as_str()))
        })
        .collect();
    if missing.is_empty() {
        return Ok(roles);
    }
    Err(format!(
        "Keycloak's realm-management roles cannot give {} alone ({})",
        missing.join(", "),
        "view-realm, manage-realm, view-users, manage-users, view-clients, manage-clients and view-events each give a fixed set; see docs/keycloak.md"
    ))
}

/// The permissions a set of `realm-management` role names gives.
pub fn permissions_of<'a>(roles: impl IntoIterator<Item = &'a str>) -> Permissions {
    let mut out = Permissions::new();
    for r in roles {
        for (m, acts) in grants(r) {
            out.entry(m).or_default().extend(acts);
        }
    }
    out
}

/// Keycloak's own checks over a desired organization: admin roles it cannot
/// compose, a policy that is not the default, MFA modes other than TOTP, a
/// group listed under two parents (Keycloak groups form a tree).
pub fn check(objects: &mut dyn Iterator<Item = (Kind, &Name, &Spec)>) -> Vec<GapFound> {
    let mut found = Vec::new();
    let mut parents: BTreeMap<Name, Vec<Name>> = BTreeMap::new();
    for (kind, name, spec) in objects {
        let gap = |path: &str, reason: String| GapFound {
            kind,
            name: name.clone(),
            path: path.to_string(),
            reason,
        };
        match spec {
            Spec::User(u) => {
                if let Some(username) = u.username.get().filter(|u| u.as_str() != name.as_str()) {
                    found.push(gap(
                        "username",
                        format!(
                            "the object's name is the Keycloak username, so the username {username:?} (given or derived from the e-mail) must equal it"
                        ),
                    ));
                }
            }
            Spec::Role(r) => {
                if let Some(p) = r.permissions.get() {
                    if let Err(reason) = admin_roles_for(p) {
                        found.push(gap("permissions", reason));
                    }
                }
            }
            Spec::SecurityPolicy(p) => {
                if p.default.get() != Some(&true) && !matches!(p.default, Field::Set(false)) {
                    found.push(gap("default", REALM_WIDE.to_string()));
                }
                if let Some(modes) = p.mfa.get().and_then(|m| m.modes.get()) {
                    if modes.iter().any(|m| *m != MfaMode::Totp) {
                        found.push(gap(
                            "mfa.modes",
                            "orgctl enforces TOTP on Keycloak; push-app, sms and security-key are not managed".into(),
                        ));
                    }
                }
                if let Some(age) = p.password.get().and_then(|p| p.max_age.get()) {
                    if age.as_secs() % 86_400 != 0 {
                        found.push(gap(
                            "password.maxAge",
                            "Keycloak expires passwords after whole days".into(),
                        ));
                    }
                }
            }
            Spec::Group(g) => {
                if let Some(children) = g.members.get().and_then(|m| m.groups.get()) {
                    for child in children.iter() {
                        parents.entry(child.clone()).or_default().push(name.clone());
                    }
                }
            }
            _ => {}
        }
    }
    for (child, ps) in parents.into_iter().filter(|(_, ps)| ps.len() > 1) {
        found.push(GapFound {
            kind: Kind::Group,
            name: ps[1].clone(),
            path: "members.groups".into(),
            reason: format!(
                "group {:?} is already a member of group {:?}; a Keycloak group has one parent",
                child.as_str(),
                ps[0].as_str()
            ),
        });
    }
    found
}

/// One `passwordPolicy` entry: id and argument.
type PolicyPart = (String, Option<String>);

/// Splits a `passwordPolicy` string (`length(12) and notUsername`).
pub fn parse_password_policy(s: &str) -> Vec<PolicyPart> {
    s.split(" and ")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('(') {
            Some((id, rest)) => (
                id.trim().to_string(),
                Some(rest.trim_end_matches(')').to_string()),
            ),
            None => (p.to_string(), None),
        })
        .collect()
}

fn join_password_policy(parts: &[PolicyPart]) -> String {
    parts
        .iter()
        .map(|(id, arg)| match arg {
            Some(a) => format!("{id}({a})"),
            None => id.clone(),
        })
        .collect::<Vec<_>>()
        .join(" and ")
}

/// The password settings a `passwordPolicy` string holds (absent ones unset).
pub fn password_from_policy(s: &str) -> PasswordPolicy {
    let parts = parse_password_policy(s);
    let num = |id: &str| -> Option<u32> {
        parts
            .iter()
            .find(|(i, _)| i == id)
            .and_then(|(_, a)| a.as_deref().unwrap_or("1").parse().ok())
    };
    let mut p = PasswordPolicy::default();
    if let Some(n) = num("length") {
        p.min_length = Field::Set(n);
    }
    if let Some(n) = num("passwordHistory") {
        p.history_count = Field::Set(n);
    }
    if let Some(n) = num("specialChars") {
        p.min_special = Field::Set(n);
    }
    if let Some(n) = num("digits") {
        p.min_digits = Field::Set(n);
    }
    p.mixed_case = Field::Set(num("upperCase").unwrap_or(0) > 0 && num("lowerCase").unwrap_or(0) > 0);
    if let Some(days) = num("forceExpiredPasswordChange") {
        p.max_age = Field::Set(Duration::from_secs(u64::from(days) * 86_400));
    }
    p
}

/// `current` with the settings `p` manages replaced: entries orgctl does not
/// model (`hashAlgorithm`, `notUsername`, …) are kept as they are.
pub fn policy_with_password(current: &str, p: &PasswordPolicy) -> String {
    let mut parts = parse_password_policy(current);
    let mut set = |id: &str, value: &Field<Option<u32>>| match value {
        Field::Unset => {}
        Field::Clear | Field::Set(None) => parts.retain(|(i, _)| i != id),
        Field::Set(Some(n)) => match parts.iter_mut().find(|(i, _)| i == id) {
            Some(slot) => slot.1 = Some(n.to_string()),
            None => parts.push((id.to_string(), Some(n.to_string()))),
        },
    };
    let opt = |f: &Field<u32>| match f {
        Field::Unset => Field::Unset,
        Field::Clear => Field::Clear,
        Field::Set(0) => Field::Set(None),
        Field::Set(n) => Field::Set(Some(*n)),
    };
    set("length", &opt(&p.min_length));
    set("passwordHistory", &opt(&p.history_count));
    set("specialChars", &opt(&p.min_special));
    set("digits", &opt(&p.min_digits));
    let mixed = match &p.mixed_case {
        Field::Unset => Field::Unset,
        Field::Clear | Field::Set(false) => Field::Set(None),
        Field::Set(true) => Field::Set(Some(1)),
    };
    set("upperCase", &mixed);
    set("lowerCase", &mixed);
    let days = match &p.max_age {
        Field::Unset => Field::Unset,
        Field::Clear => Field::Clear,
        Field::Set(d) => Field::Set(u32::try_from(d.as_secs() / 86_400).ok().filter(|d| *d > 0)),
    };
    set("forceExpiredPasswordChange", &days);
    join_password_policy(&parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perms(pairs: &[(Module, &[Action])]) -> Permissions {
        pairs
            .iter()
            .map(|(m, a)| (*m, a.iter().copied().collect()))
            .collect()
    }

    #[test]
    fn admin_permissions_map_to_realm_management_roles_exactly_or_not_at_all() {
        let viewer = perms(&[(Module::User, &[Action::View]), (Module::Group, &[Action::View])]);
        assert_eq!(admin_roles_for(&viewer), Ok(vec!["view-users"]));
        assert_eq!(permissions_of(["view-users"]), viewer);
        let partial = perms(&[(Module::User, &[Action::View, Action::Create])]);
        let err = admin_roles_for(&partial).expect_err("inexpressible");
        assert!(
            err.starts_with("Keycloak's realm-management roles cannot give user:view, user:create alone"),
            "{err}"
        );
        let department = perms(&[(Module::Department, &[Action::View])]);
        assert!(admin_roles_for(&department).is_err());
    }

    #[test]
    fn the_password_policy_string_round_trips_and_keeps_what_orgctl_does_not_model() {
        let current = "hashAlgorithm(pbkdf2-sha512) and length(8) and notUsername";
        let mut p = PasswordPolicy {
            min_length: Field::Set(14),
            history_count: Field::Set(12),
            mixed_case: Field::Set(true),
            max_age: Field::Set(Duration::from_secs(90 * 86_400)),
            ..PasswordPolicy::default()
        };
        let s = policy_with_password(current, &p);
        assert_eq!(
            s,
            "hashAlgorithm(pbkdf2-sha512) and length(14) and notUsername and passwordHistory(12) and upperCase(1) and lowerCase(1) and forceExpiredPasswordChange(90)"
        );
        let back = password_from_policy(&s);
        assert_eq!(back.min_length, Field::Set(14));
        assert_eq!(back.history_count, Field::Set(12));
        assert_eq!(back.mixed_case, Field::Set(true));
        assert_eq!(back.max_age, Field::Set(Duration::from_secs(90 * 86_400)));
        p.mixed_case = Field::Set(false);
        p.history_count = Field::Clear;
        let s = policy_with_password(&s, &p);
        assert_eq!(
            s,
            "hashAlgorithm(pbkdf2-sha512) and length(14) and notUsername and forceExpiredPasswordChange(90)"
        );
    }
}
