//! The domain rules of each kind: required fields, ranges
//! of policy settings, secret sources, reserved names, and the per-organization
//! rules (declared organization, one super admin holding the admin role, one
//! default security policy).

use std::collections::BTreeSet;

use super::refs::Known;
use super::{DesiredObject, DesiredOrg, Reporter};
use crate::diagnostic::did_you_mean;
use crate::model::rules;
use crate::model::{
    AppType, ApplicationSpec, Duration, Field, Kind, Name, ProviderType, SecretRef, SecurityPolicySpec, Spec,
    BUILTIN_ROLES,
};

fn required(r: &mut Reporter, obj: &DesiredObject, field: &str) {
    r.at(&obj.origin, "spec", format!("missing required field {field:?}"));
}

fn check_secret(r: &mut Reporter, obj: &DesiredObject, path: &str, s: &Option<SecretRef>) {
    let Some(s) = s else { return };
    if s.digest.is_some() {
        r.at(
            &obj.origin,
            &format!("{path}.digest"),
            "`digest` is set by backends and cannot be written in files",
        );
    }
    if s.source_count() != 1 {
        r.at(
            &obj.origin,
            path,
            "a secret reference needs exactly one of fromEnv, fromFile or secretKeyRef",
        );
    }
}

/// Reports the fields of [`rules::required_fields`] the spec lacks (or
/// clears). `organization` is the object's identity and is reported by
/// `validate` when it keys the object.
fn check_required(r: &mut Reporter, obj: &DesiredObject) {
    for field in rules::missing_required(&obj.spec) {
        if field != "organization" {
            required(r, obj, field);
        }
    }
}

/// Checks the rules that concern one object alone.
pub(crate) fn check_object(r: &mut Reporter, kind: Kind, name: &Name, obj: &DesiredObject) {
    check_required(r, obj);
    match &obj.spec {
        Spec::Organization(o) => super::values::check_organization(r, obj, o),
        Spec::User(_) | Spec::Group(_) => {}
        Spec::Application(a) => {
            match a.app_type {
                None => {}
                Some(t) => {
                    let blocks = [
                        (
                            "saml",
                            !a.saml.is_unset() && a.saml != Field::Clear,
                            AppType::Saml,
                        ),
                        (
                            "oidc",
                            !a.oidc.is_unset() && a.oidc != Field::Clear,
                            AppType::Oidc,
                        ),
                        ("catalogId", a.catalog_id.get().is_some(), AppType::Catalog),
                    ];
                    for (field, present, needs) in blocks {
                        if present && t != needs {
                            r.at(
                                &obj.origin,
                                &format!("spec.{field}"),
                                format!("`{field}` applies to applications of type {}", type_word(needs)),
                            );
                        }
                    }
                    check_sso_block(r, obj, a, t);
                }
            }
            super::values::check_application(r, obj, a);
            if let Some(s) = a.saml.get() {
                check_secret(r, obj, "spec.saml.signingKey", &s.signing_key);
            }
            if let Some(o) = a.oidc.get() {
                check_secret(r, obj, "spec.oidc.clientSecret", &o.client_secret);
            }
        }
        Spec::IdentityProvider(i) => {
            if i.saml.get().is_some() && i.provider_type.is_some_and(|t| t != ProviderType::Saml) {
                r.at(
                    &obj.origin,
                    "spec.saml",
                    "`saml` applies to identity providers of type saml",
                );
            }
            check_secret(r, obj, "spec.clientSecret", &i.client_secret);
            super::values::check_identity_provider(r, obj, i);
        }
        Spec::Role(_) => {
            if BUILTIN_ROLES.contains(&name.as_str()) {
                r.at(
                    &obj.origin,
                    "metadata.name",
                    format!(
                        "{:?} is a built-in role; choose another name for a custom {kind}",
                        name.as_str()
                    ),
                );
            }
        }
        Spec::RoleBinding(_) => {}
        Spec::SecurityPolicy(p) => check_policy(r, obj, p),
        Spec::AppAssignment(a) => {
            if a.assign.get().is_some_and(|g| g.items.is_empty()) {
                r.at(
                    &obj.origin,
                    "spec.assign",
                    "an assignment assigns at least one app and role",
                );
            }
        }
    }
}

/// An SSO application is its SSO settings: a SAML app without an entity id
/// and an assertion consumer URL, or an OIDC app without `oidc`, cannot be
/// signed in to.
fn check_sso_block(r: &mut Reporter, obj: &DesiredObject, a: &ApplicationSpec, t: AppType) {
    match t {
        AppType::Saml => match a.saml.get() {
            None => r.at(
                &obj.origin,
                "spec",
                "missing required field \"saml\" (an application of type saml needs saml.entityId and saml.acsUrl)",
            ),
            Some(saml) => {
                for (field, value) in [("entityId", &saml.entity_id), ("acsUrl", &saml.acs_url)] {
                    if value.get().is_none_or(|v| v.trim().is_empty()) {
                        r.at(
                            &obj.origin,
                            "spec.saml",
                            format!("missing required field {field:?} (an application of type saml needs saml.entityId and saml.acsUrl)"),
                        );
                    }
                }
            }
        },
        AppType::Oidc => {
            if a.oidc.get().is_none() {
                r.at(
                    &obj.origin,
                    "spec",
                    "missing required field \"oidc\" (an application of type oidc needs oidc.redirectUris)",
                );
            }
        }
        AppType::Catalog => {}
    }
}

fn type_word(t: AppType) -> &'static str {
    match t {
        AppType::Catalog => "catalog",
        AppType::Saml => "saml",
        AppType::Oidc => "oidc",
    }
}

fn check_policy(r: &mut Reporter, obj: &DesiredObject, p: &SecurityPolicySpec) {
    let o = &obj.origin;
    let is_default = p.default.get().copied().unwrap_or(false);
    if is_default {
        if p.targets.get().is_some() {
            r.at(
                o,
                "spec.targets",
                "the default policy applies to everyone not targeted by another policy; remove `targets`",
            );
        }
    } else {
        match p.targets.get() {
            None => r.at(o, "spec", "missing required field \"targets\" (a non-default policy applies to groups, users or a rule)"),
            Some(t) => {
                let some = |c: &Field<crate::model::Collection<Name>>| c.get().is_some_and(|c| !c.items.is_empty());
                if !some(&t.users) && !some(&t.groups) && t.rule.get().is_none() {
                    r.at(
                        o,
                        "spec.targets",
                        "a non-default policy must target at least one user, group or rule; these targets select nobody",
                    );
                }
            }
        }
        if p.priority.get().is_none() {
            r.at(
                o,
                "spec",
                "missing required field \"priority\" (a non-default policy needs one)",
            );
        }
    }
    if let Some(pw) = p.password.get() {
        if let Some(&n) = pw.min_length.get() {
            if n < rules::MIN_PASSWORD_LENGTH {
                r.at(
                    o,
                    "spec.password.minLength",
                    format!("must be at least {}, found {n}", rules::MIN_PASSWORD_LENGTH),
                );
            }
        }
        if let (Some(min), Some(max)) = (pw.min_age.get(), pw.max_age.get()) {
            if min >= max {
                r.at(
                    o,
                    "spec.password.minAge",
                    format!("must be shorter than maxAge ({max}), found {min}"),
                );
            }
        }
    }
    if let Some(m) = p.mfa.get() {
        let required = m.required.get().copied().unwrap_or(false);
        let no_modes = matches!(&m.modes, Field::Clear) || m.modes.get().is_some_and(|c| c.items.is_empty());
        if required && no_modes {
            r.at(o, "spec.mfa.modes", "MFA is required but no mode is allowed; list at least one of push-app, sms, totp, security-key");
        }
    }
    if let Some(s) = p.session.get() {
        let (min_life, max_life) = (
            Duration::from_secs(rules::MIN_SESSION_LIFETIME_SECS),
            Duration::from_secs(rules::MAX_SESSION_LIFETIME_SECS),
        );
        if let Some(d) = s.lifetime.get() {
            if !(min_life..=max_life).contains(d) {
                r.at(
                    o,
                    "spec.session.lifetime",
                    format!("must be between {min_life} and {max_life}, found {d}"),
                );
            }
        }
        if let Some(d) = s.idle_timeout.get() {
            let min_idle = Duration::from_secs(rules::MIN_IDLE_TIMEOUT_SECS);
            if d < &min_idle {
                r.at(
                    o,
                    "spec.session.idleTimeout",
                    format!("must be at least {min_idle}, found {d}"),
                );
            }
        }
        if let Some(idle) = s.idle_timeout.get() {
            // An unset lifetime is the backend default, the longest allowed.
            let (lifetime, default) = match s.lifetime.get() {
                Some(l) => (*l, ""),
                None => (max_life, ", the default"),
            };
            if idle > &lifetime {
                r.at(
                    o,
                    "spec.session.idleTimeout",
                    format!(
                        "must not be longer than the session lifetime ({lifetime}{default}), found {idle}"
                    ),
                );
            }
        }
        if let Some(&n) = s.concurrent_sessions.get() {
            let (min, max) = (rules::MIN_CONCURRENT_SESSIONS, rules::MAX_CONCURRENT_SESSIONS);
            if !(min..=max).contains(&n) {
                r.at(
                    o,
                    "spec.session.concurrentSessions",
                    format!("must be between {min} and {max}, found {n}"),
                );
            }
        }
    }
}

/// Checks the rules of a whole organization.
/// `declared` names the organizations that have an Organization object.
pub(crate) fn check_org(
    r: &mut Reporter,
    org_name: &Name,
    org: &DesiredOrg,
    known: &Known,
    declared: &[&str],
) {
    let Some(org_obj) = org.get(Kind::Organization, org_name.as_str()) else {
        if !known.hides(Kind::Organization, org_name.as_str()) {
            if let Some(first) = org.objects.values().next() {
                let name = org_name.as_str();
                let message = match did_you_mean(name, declared.iter().copied()) {
                    Some(s) => format!("organization {name:?} is not declared, did you mean {s:?}?"),
                    None => {
                        format!("organization {name:?} is not declared (add an Organization named {name:?})")
                    }
                };
                r.at(&first.origin, "spec.organization", message);
            }
        }
        return;
    };
    super::identity::check_super_admin_status(r, org_obj, org);
    // The super admin must hold the built-in admin role, directly or through groups.
    if let Spec::Organization(o) = &org_obj.spec {
        if let Some(admin) = &o.super_admin {
            // A binding or group that failed to load may be what grants it.
            let may_be_hidden = known.may_hide_any(Kind::RoleBinding, org_name.as_str())
                || known.may_hide_any(Kind::Group, org_name.as_str());
            if org.get(Kind::User, admin.as_str()).is_some() && !may_be_hidden && !holds_admin(org, admin) {
                r.at(
                    &org_obj.origin,
                    "spec.superAdmin",
                    format!(
                        "super admin {:?} must hold the built-in admin role: add a RoleBinding with role admin for this user (a custom role is not eligible)",
                        admin.as_str()
                    ),
                );
            }
        }
    }
    let mut defaults: Vec<&DesiredObject> = org
        .of_kind(Kind::SecurityPolicy)
        .filter(|(_, o)| matches!(&o.spec, Spec::SecurityPolicy(p) if p.default.get() == Some(&true)))
        .map(|(_, o)| o)
        .collect();
    // The first in the order the files were given keeps the title.
    defaults.sort_by_key(|o| (o.origin.source, o.origin.index));
    match defaults.as_slice() {
        [] => {
            if !known.may_hide_default_policy(org_name.as_str()) {
                r.at(
                    &org_obj.origin,
                    "metadata.name",
                    format!(
                        "organization {:?} has no default security policy: exactly one SecurityPolicy must have `default: true`",
                        org_name.as_str()
                    ),
                );
            }
        }
        [_] => {}
        [first, rest @ ..] => {
            for extra in rest {
                r.at(
                    &extra.origin,
                    "spec.default",
                    format!(
                        "organization {:?} already has a default security policy (at {}); exactly one is allowed",
                        org_name.as_str(),
                        first.origin.location
                    ),
                );
            }
        }
    }
}

/// Groups that contain `user`, directly or through nested groups.
pub fn groups_of(org: &DesiredOrg, user: &Name) -> BTreeSet<Name> {
    let mut found: BTreeSet<Name> = BTreeSet::new();
    let mut frontier: Vec<Name> = org
        .of_kind(Kind::Group)
        .filter(|(_, o)| matches!(&o.spec, Spec::Group(g) if g.members.get().and_then(|m| m.users.get()).is_some_and(|u| u.items.contains(user))))
        .map(|(n, _)| n.clone())
        .collect();
    while let Some(g) = frontier.pop() {
        if !found.insert(g.clone()) {
            continue;
        }
        for (parent, o) in org.of_kind(Kind::Group) {
            if let Spec::Group(pg) = &o.spec {
                if pg
                    .members
                    .get()
                    .and_then(|m| m.groups.get())
                    .is_some_and(|gs| gs.items.contains(&g))
                {
                    frontier.push(parent.clone());
                }
            }
        }
    }
    found
}

fn holds_admin(org: &DesiredOrg, user: &Name) -> bool {
    let groups = groups_of(org, user);
    org.of_kind(Kind::RoleBinding).any(|(_, o)| match &o.spec {
        Spec::RoleBinding(b) if b.role.as_ref().is_some_and(|r| r.as_str() == "admin") => {
            b.subjects.get().is_some_and(|s| {
                s.users.get().is_some_and(|u| u.items.contains(user))
                    || s.groups
                        .get()
                        .is_some_and(|g| g.items.iter().any(|g| groups.contains(g)))
            })
        }
        _ => false,
    })
}

/// Two non-default policies with the same priority that both apply to some
/// user leave that user's effective policy to an arbitrary choice: an error
/// naming both policies and an example user, at the second policy's priority.
pub(crate) fn check_policy_ties(r: &mut Reporter, org: &DesiredOrg) {
    // Evaluating every user is only needed when two policies share a priority.
    let mut priorities: Vec<i32> = org
        .of_kind(Kind::SecurityPolicy)
        .filter_map(|(_, o)| match &o.spec {
            Spec::SecurityPolicy(p) if p.default.get() != Some(&true) => {
                Some(p.priority.get().copied().unwrap_or(0))
            }
            _ => None,
        })
        .collect();
    priorities.sort_unstable();
    if !priorities.windows(2).any(|w| w[0] == w[1]) {
        return;
    }
    let model = crate::access::AccessModel::from_desired(org);
    for c in model.policy_conflicts() {
        let Some(obj) = org.get(Kind::SecurityPolicy, c.second.as_str()) else {
            continue;
        };
        r.at(
            &obj.origin,
            "spec.priority",
            format!(
                "security policies {:?} and {:?} both have priority {} and both apply to user {:?}; give one of them a higher priority",
                c.first.as_str(),
                c.second.as_str(),
                c.priority,
                c.example_user.as_str()
            ),
        );
    }
}
