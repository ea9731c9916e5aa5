//! Pure conversions between the model and Kanidm: the names of the groups
//! orgctl keeps for itself, a user's display name, the credential levels of
//! `credential_type_minimum`, the privilege groups of the built-in admin
//! roles, and the gaps (what Kanidm cannot hold, and why). No I/O.

use std::collections::BTreeMap;

use crate::backend::{Gap, GapFound};
use crate::model::{Kind, Name, Spec};

/// The tracking group: its members are the entries orgctl manages, its
/// description the organization's fields Kanidm has no attribute for.
pub const TRACKING: &str = "orgctl_managed";
/// Prefix of an app role's group (`orgctl_app_<app>_<role>`), scope-mapped to the app.
pub const APP_ROLE: &str = "orgctl_app_";
/// Prefix of a rule's grant group (`orgctl_grant_<rule>_<app>_<role>`), nested in the role's group.
pub const GRANT: &str = "orgctl_grant_";
/// Prefix of a role binding's group (`orgctl_binding_<name>`), nested in privilege groups.
pub const BINDING: &str = "orgctl_binding_";
/// Prefix of a security policy's account-policy group (`orgctl_policy_<name>`).
pub const POLICY: &str = "orgctl_policy_";
/// Prefix of the group keeping an AppAssignment rule (`orgctl_assignment_<name>`).
pub const ASSIGNMENT: &str = "orgctl_assignment_";
/// Kanidm's default account policy group: every person is a member.
pub const ALL_PERSONS: &str = "idm_all_persons";
/// The value `account_expire` gets for a deactivated person.
pub const EXPIRED: &str = "1970-01-01T00:00:00Z";

/// Why account-policy settings beyond Kanidm's four are out of reach.
const NO_SETTING: &str = "Kanidm's account policy has no such setting (it has auth_password_minimum_length, credential_type_minimum, authsession_expiry and privilege_expiry)";

/// What Kanidm cannot hold, field by field.
pub const GAPS: &[Gap] = &[
    Gap::field(Kind::Organization, "contact", "Kanidm's domain has no contact fields"),
    Gap::field(
        Kind::Organization,
        "emailFormat",
        "Kanidm does not derive mail addresses from names",
    ),
    Gap::value(
        Kind::Organization,
        "displayNameFormat",
        "\"LastFirst\"",
        "Kanidm keeps one display name per person; orgctl writes it first name first",
    ),
    Gap::field(
        Kind::User,
        "department",
        "Kanidm persons have no department (and no custom attributes a rule could use)",
    ),
    Gap::field(
        Kind::User,
        "designation",
        "Kanidm persons have no designation (and no custom attributes a rule could use)",
    ),
    Gap::field(
        Kind::User,
        "location",
        "Kanidm persons have no location (and no custom attributes a rule could use)",
    ),
    Gap::field(
        Kind::User,
        "customAttributes",
        "Kanidm's schema has no free-form person attributes",
    ),
    Gap::value(
        Kind::User,
        "status",
        "\"closed\"",
        "Kanidm has no closed state (delete the person with --prune instead)",
    ),
    Gap::value(
        Kind::Application,
        "type",
        "\"saml\"",
        "Kanidm has no SAML; its applications are OAuth2 clients",
    ),
    Gap::value(
        Kind::Application,
        "type",
        "\"catalog\"",
        "Kanidm has no app catalog; its applications are OAuth2 clients",
    ),
    Gap::field(
        Kind::Application,
        "oidc.clientSecret",
        "Kanidm generates an OAuth2 client's secret and has no API to set it (read it with kanidm system oauth2 show-basic-secret)",
    ),
    Gap::field(
        Kind::IdentityProvider,
        "",
        "Kanidm has no administrable federated identity providers",
    ),
    Gap::field(
        Kind::Role,
        "",
        "Kanidm has no custom permission sets through its REST API; bind the built-in roles (admin, super-admin) instead",
    ),
    Gap::field(Kind::SecurityPolicy, "password.historyCount", NO_SETTING),
    Gap::field(Kind::SecurityPolicy, "password.minSpecial", NO_SETTING),
    Gap::field(Kind::SecurityPolicy, "password.minDigits", NO_SETTING),
    Gap::field(
        Kind::SecurityPolicy,
        "password.mixedCase",
        "Kanidm checks password quality with zxcvbn, not with character classes",
    ),
    Gap::field(Kind::SecurityPolicy, "password.minAge", NO_SETTING),
    Gap::field(
        Kind::SecurityPolicy,
        "password.maxAge",
        "Kanidm never expires passwords",
    ),
    Gap::field(
        Kind::SecurityPolicy,
        "mfa.modes",
        "Kanidm selects credentials by their minimum type (credential_type_minimum), not by toggling modes",
    ),
    Gap::field(Kind::SecurityPolicy, "mfa.trustedBrowser", NO_SETTING),
    Gap::field(Kind::SecurityPolicy, "mfa.backupCodes", NO_SETTING),
    Gap::field(Kind::SecurityPolicy, "session.idleTimeout", NO_SETTING),
    Gap::field(Kind::SecurityPolicy, "session.concurrentSessions", NO_SETTING),
    Gap::field(Kind::SecurityPolicy, "network", "Kanidm has no IP allow-list"),
    Gap::field(
        Kind::SecurityPolicy,
        "federatedSignIn",
        "Kanidm has no administrable federated sign-in",
    ),
    Gap::field(
        Kind::SecurityPolicy,
        "sso",
        "Kanidm cannot force a person through an identity provider",
    ),
    Gap::field(
        Kind::SecurityPolicy,
        "targets.rule",
        "Kanidm applies account policy through group membership only",
    ),
];

/// The privilege groups a built-in admin role stands for, or `None` for a
/// role Kanidm cannot express.
pub fn privilege_groups(role: &str) -> Option<&'static [&'static str]> {
    match role {
        "super-admin" => Some(&["system_admins", "idm_admins"]),
        "admin" => Some(&["idm_admins"]),
        "member" => Some(&[]),
        _ => None,
    }
}

/// `orgctl_app_<app>_<role>`.
pub fn app_role_group(app: &Name, role: &Name) -> String {
    format!("{APP_ROLE}{app}_{role}")
}

/// `orgctl_grant_<rule>_<app>_<role>`.
pub fn grant_group(rule: &Name, app: &Name, role: &Name) -> String {
    format!("{GRANT}{rule}_{app}_{role}")
}

/// The names after `prefix`, split at `_` (orgctl names never hold one).
pub fn parts(group: &str, prefix: &str, n: usize) -> Option<Vec<Name>> {
    let rest = group.strip_prefix(prefix)?;
    let out: Vec<Name> = rest.split('_').filter_map(|p| p.parse().ok()).collect();
    (out.len() == n && rest.split('_').count() == n).then_some(out)
}

/// The OAuth2 scope an app role puts in tokens (scopes allow `[a-zA-Z0-9_]`).
pub fn role_scope(role: &Name) -> String {
    role.as_str().replace(['-', '.'], "_")
}

/// A person's display name from first and last name (first name first).
pub fn display_name(first: Option<&str>, last: Option<&str>, fallback: &str) -> String {
    let joined = [first, last].into_iter().flatten().collect::<Vec<_>>().join(" ");
    if joined.trim().is_empty() {
        fallback.to_string()
    } else {
        joined
    }
}

/// First and last name from a display name: split at the first space.
pub fn split_display_name(display: &str) -> (Option<String>, Option<String>) {
    match display.trim().split_once(' ') {
        Some((f, l)) => (Some(f.to_string()), Some(l.trim().to_string())),
        None if display.trim().is_empty() => (None, None),
        None => (Some(display.trim().to_string()), None),
    }
}

/// True when `credential_type_minimum` asks for more than a password.
pub fn requires_mfa(credential_type_minimum: &str) -> bool {
    !matches!(credential_type_minimum, "any" | "")
}

/// Kanidm's own checks over a desired organization: a username other than
/// the entry name, a first name Kanidm's display name cannot keep apart,
/// names taken twice in Kanidm's one namespace, an app without a landing
/// URL, a role binding to a custom role.
pub fn check(objects: &mut dyn Iterator<Item = (Kind, &Name, &Spec)>) -> Vec<GapFound> {
    let mut found = Vec::new();
    let mut entries: BTreeMap<Name, Vec<Kind>> = BTreeMap::new();
    for (kind, name, spec) in objects {
        let gap = |path: &str, reason: String| GapFound {
            kind,
            name: name.clone(),
            path: path.to_string(),
            reason,
        };
        if matches!(kind, Kind::User | Kind::Group | Kind::Application) {
            entries.entry(name.clone()).or_default().push(kind);
        }
        match spec {
            Spec::User(u) => {
                if let Some(username) = u.username.get().filter(|u| u.as_str() != name.as_str()) {
                    found.push(gap(
                        "username",
                        format!("the object's name is the Kanidm person's name, so the username {username:?} (given or derived from the e-mail) must equal it"),
                    ));
                }
                if u.first_name.get().is_some_and(|f| f.contains(' ')) {
                    found.push(gap(
                        "firstName",
                        "Kanidm keeps one display name, which orgctl splits at its first space; a first name cannot hold a space".into(),
                    ));
                }
            }
            Spec::Application(a) => {
                let has_uri = a
                    .oidc
                    .get()
                    .and_then(|o| o.redirect_uris.get())
                    .is_some_and(|u| u.items.iter().next().is_some());
                if !has_uri {
                    found.push(gap(
                        "oidc.redirectUris",
                        "a Kanidm OAuth2 client needs a landing URL: orgctl uses the first redirect URI"
                            .into(),
                    ));
                }
            }
            Spec::AppAssignment(a) => {
                let mut fields = Vec::new();
                if let Some(rule) = a.rule.get() {
                    condition_fields(rule, &mut fields);
                }
                fields.sort();
                fields.dedup();
                for f in fields
                    .into_iter()
                    .filter(|f| !["group", "email", "emailDomain"].contains(&f.as_str()))
                {
                    found.push(gap(
                        "rule",
                        format!("the rule reads the user's {f:?}, which Kanidm persons cannot hold (rules on Kanidm can use group, email and emailDomain)"),
                    ));
                }
            }
            Spec::RoleBinding(b) => {
                if let Some(role) = &b.role {
                    if privilege_groups(role.as_str()).is_none() {
                        found.push(gap(
                            "role",
                            format!("Kanidm has no custom permission sets: role {:?} is not one of its built-in privilege groups (super-admin, admin, member)", role.as_str()),
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    for (name, kinds) in entries.into_iter().filter(|(_, k)| k.len() > 1) {
        found.push(GapFound {
            kind: kinds[1],
            name: name.clone(),
            path: String::new(),
            reason: format!(
                "Kanidm keeps persons, groups and OAuth2 clients in one namespace: {} has the same name",
                kinds[0].label(name.as_str())
            ),
        });
    }
    found
}

/// Every field a condition reads.
fn condition_fields(c: &crate::model::Condition, out: &mut Vec<String>) {
    if let Some(f) = &c.field {
        out.push(f.clone());
    }
    for sub in c.all.iter().chain(c.any.iter()).flatten() {
        condition_fields(sub, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Name {
        s.parse().expect("name")
    }

    #[test]
    fn helper_group_names_split_back_into_orgctl_names() {
        let g = grant_group(&n("sales-portal"), &n("portal"), &n("user"));
        assert_eq!(g, "orgctl_grant_sales-portal_portal_user");
        assert_eq!(
            parts(&g, GRANT, 3),
            Some(vec![n("sales-portal"), n("portal"), n("user")])
        );
        assert_eq!(parts("orgctl_grant_a_b", GRANT, 3), None);
        assert_eq!(parts("idm_admins", GRANT, 3), None);
        assert_eq!(role_scope(&n("read-only")), "read_only");
    }

    #[test]
    fn display_names_split_at_the_first_space() {
        assert_eq!(display_name(Some("Ada"), Some("van Dyke"), "ada"), "Ada van Dyke");
        assert_eq!(display_name(None, None, "ada"), "ada");
        assert_eq!(
            split_display_name("Ada van Dyke"),
            (Some("Ada".into()), Some("van Dyke".into()))
        );
        assert_eq!(split_display_name("Ada"), (Some("Ada".into()), None));
    }
}
