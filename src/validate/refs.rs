//! Reference checks: every name an object mentions must be declared in the
//! same organization (or have failed to load, which is reported already), and
//! group nesting must not form a cycle.

use std::collections::{BTreeMap, BTreeSet};

use super::{condition, DesiredObject, DesiredOrg, Origin, Reporter};
use crate::diagnostic::did_you_mean;
use crate::load::FailedDocument;
use crate::model::{Collection, Field, Kind, Members, Name, ProviderType, Spec, BUILTIN_ROLES};

/// What the validator knows beyond the loaded objects.
pub(crate) struct Known<'a> {
    /// Documents that failed to load, as far as they could be read.
    pub failed: &'a [FailedDocument],
    /// A syntax error hid part of a file: unknown names may be declared there.
    pub incomplete: bool,
}

impl Known<'_> {
    /// True when a missing `name` of `kind` may just have failed to load.
    pub fn hides(&self, kind: Kind, name: &str) -> bool {
        self.incomplete
            || self
                .failed
                .iter()
                .any(|f| f.name.as_deref() == Some(name) && f.kind.is_none_or(|k| k == kind))
    }

    /// True when an object of `kind` in `organization` may have failed to
    /// load (checks over all objects of a kind cannot conclude then).
    pub fn may_hide_any(&self, kind: Kind, organization: &str) -> bool {
        self.incomplete || self.failed.iter().any(|f| f.may_be(kind, organization))
    }

    /// True when `organization`'s default security policy may have failed to load.
    pub fn may_hide_default_policy(&self, organization: &str) -> bool {
        self.incomplete
            || self
                .failed
                .iter()
                .any(|f| f.may_be_default && f.may_be(Kind::SecurityPolicy, organization))
    }
}

/// "user \"x\" is not declared in this organization", with a did-you-mean
/// among the names of that kind that are (and the built-in roles).
pub(crate) fn undeclared(org: &DesiredOrg, kind: Kind, name: &str) -> String {
    let mut candidates: Vec<&str> = org.of_kind(kind).map(|(n, _)| n.as_str()).collect();
    if kind == Kind::Role {
        candidates.extend(BUILTIN_ROLES.iter().filter(|r| **r != "super-admin"));
    }
    match did_you_mean(name, candidates) {
        Some(s) => format!(
            "{} is not declared in this organization, did you mean {s:?}?",
            kind.label(name)
        ),
        None => format!("{} is not declared in this organization", kind.label(name)),
    }
}

fn items(c: &Field<Collection<Name>>) -> impl Iterator<Item = &Name> {
    c.get().into_iter().flat_map(|c| c.items.iter())
}

struct Ctx<'a, 'r, 's> {
    r: &'r mut Reporter<'s>,
    org: &'a DesiredOrg,
    known: &'a Known<'a>,
    origin: &'a Origin,
}

impl Ctx<'_, '_, '_> {
    fn need(&mut self, kind: Kind, list_path: &str, name: &Name) -> bool {
        if self.org.get(kind, name.as_str()).is_some() {
            return true;
        }
        if !self.known.hides(kind, name.as_str()) {
            let message = undeclared(self.org, kind, name.as_str());
            self.r.at_item(self.origin, list_path, name.as_str(), message);
        }
        false
    }

    fn need_at(&mut self, kind: Kind, path: &str, name: &Name) -> bool {
        if self.org.get(kind, name.as_str()).is_some() {
            return true;
        }
        if !self.known.hides(kind, name.as_str()) {
            let message = undeclared(self.org, kind, name.as_str());
            self.r.at(self.origin, path, message);
        }
        false
    }

    fn members(&mut self, path: &str, m: &Field<Members>) {
        if let Some(m) = m.get() {
            for u in items(&m.users) {
                self.need(Kind::User, &format!("{path}.users"), u);
            }
            for g in items(&m.groups) {
                self.need(Kind::Group, &format!("{path}.groups"), g);
            }
        }
    }
}

/// Checks every reference one object makes.
pub(crate) fn check_object(r: &mut Reporter, org: &DesiredOrg, obj: &DesiredObject, known: &Known) {
    let mut cx = Ctx {
        r,
        org,
        known,
        origin: &obj.origin,
    };
    match &obj.spec {
        Spec::Organization(o) => {
            if let Some(admin) = &o.super_admin {
                cx.need_at(Kind::User, "spec.superAdmin", admin);
            }
        }
        Spec::User(_) | Spec::Application(_) | Spec::IdentityProvider(_) | Spec::Role(_) => {}
        Spec::Group(g) => cx.members("spec.members", &g.members),
        Spec::RoleBinding(b) => {
            if let Some(role) = &b.role {
                if role.as_str() == "super-admin" {
                    cx.r.at(
                        &obj.origin,
                        "spec.role",
                        "the super-admin role cannot be bound; name the super admin in the Organization's spec.superAdmin",
                    );
                } else if !BUILTIN_ROLES.contains(&role.as_str()) {
                    cx.need_at(Kind::Role, "spec.role", role);
                }
            }
            cx.members("spec.subjects", &b.subjects);
        }
        Spec::SecurityPolicy(p) => {
            if let Some(t) = p.targets.get() {
                for u in items(&t.users) {
                    cx.need(Kind::User, "spec.targets.users", u);
                }
                for g in items(&t.groups) {
                    cx.need(Kind::Group, "spec.targets.groups", g);
                }
                if let Some(rule) = t.rule.get() {
                    condition::check(cx.r, &obj.origin, "spec.targets.rule", rule, org, known);
                }
            }
            if let Some(f) = p.federated_sign_in.get() {
                for idp in items(&f.providers) {
                    cx.need(Kind::IdentityProvider, "spec.federatedSignIn.providers", idp);
                }
            }
            if let Some(Field::Set(provider)) = p.sso.get().map(|s| &s.provider) {
                if cx.need_at(Kind::IdentityProvider, "spec.sso.provider", provider) {
                    let is_saml = matches!(
                        org.get(Kind::IdentityProvider, provider.as_str()).map(|o| &o.spec),
                        Some(Spec::IdentityProvider(i)) if i.provider_type == Some(ProviderType::Saml)
                    );
                    if !is_saml {
                        cx.r.at(
                            &obj.origin,
                            "spec.sso.provider",
                            format!("identity provider {:?} is not of type saml; enforced SSO needs a SAML provider", provider.as_str()),
                        );
                    }
                }
            }
        }
        Spec::AppAssignment(a) => {
            if let Some(grants) = a.assign.get() {
                for (i, grant) in grants.items.iter().enumerate() {
                    let path = format!("spec.assign[{i}]");
                    if !cx.need_at(Kind::Application, &format!("{path}.app"), &grant.app) {
                        continue;
                    }
                    let roles: Option<BTreeSet<&str>> =
                        match org.get(Kind::Application, grant.app.as_str()).map(|o| &o.spec) {
                            Some(Spec::Application(app)) => app
                                .roles
                                .get()
                                .map(|c| c.items.iter().map(Name::as_str).collect()),
                            _ => None,
                        };
                    let ok = roles.as_ref().is_some_and(|r| r.contains(grant.role.as_str()));
                    if !ok {
                        let declared = roles
                            .map(|r| r.into_iter().collect::<Vec<_>>().join(", "))
                            .filter(|s| !s.is_empty())
                            .unwrap_or_else(|| "none".into());
                        cx.r.at(
                            &obj.origin,
                            &format!("{path}.role"),
                            format!(
                                "application {:?} has no role {:?}; its roles are: {declared}",
                                grant.app.as_str(),
                                grant.role.as_str()
                            ),
                        );
                    }
                }
            }
            cx.members("spec.exclude", &a.exclude);
            if let Some(rule) = a.rule.get() {
                condition::check(cx.r, &obj.origin, "spec.rule", rule, org, known);
            }
        }
    }
}

/// Reports each group membership cycle once, at the group that closes it.
pub(crate) fn check_cycles(r: &mut Reporter, org: &DesiredOrg) {
    let edges: BTreeMap<&Name, Vec<&Name>> = org
        .of_kind(Kind::Group)
        .map(|(name, obj)| {
            let subs = match &obj.spec {
                Spec::Group(g) => g
                    .members
                    .get()
                    .map(|m| items(&m.groups).collect())
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
            (name, subs)
        })
        .collect();
    // Iterative DFS with colours: 0 new, 1 on the stack, 2 done.
    let mut colour: BTreeMap<&Name, u8> = BTreeMap::new();
    let mut reported: BTreeSet<Vec<&Name>> = BTreeSet::new();
    for start in edges.keys() {
        if colour.get(start).copied().unwrap_or(0) != 0 {
            continue;
        }
        let mut stack: Vec<(&Name, usize)> = vec![(start, 0)];
        colour.insert(start, 1);
        while let Some((node, next)) = stack.last().copied() {
            let subs = edges.get(node).map(Vec::as_slice).unwrap_or(&[]);
            if let Some(sub) = subs.get(next) {
                if let Some(top) = stack.last_mut() {
                    top.1 += 1;
                }
                match colour.get(sub).copied().unwrap_or(0) {
                    0 if edges.contains_key(sub) => {
                        colour.insert(sub, 1);
                        stack.push((sub, 0));
                    }
                    1 => {
                        let pos = stack.iter().position(|(n, _)| n == sub).unwrap_or(0);
                        let mut cycle: Vec<&Name> = stack[pos..].iter().map(|(n, _)| *n).collect();
                        let mut canon = cycle.clone();
                        canon.sort();
                        if reported.insert(canon) {
                            let closer = node;
                            cycle.push(sub);
                            let text: Vec<&str> = cycle.iter().map(|n| n.as_str()).collect();
                            if let Some(obj) = org.get(Kind::Group, closer.as_str()) {
                                r.at_item(
                                    &obj.origin,
                                    "spec.members.groups",
                                    sub.as_str(),
                                    format!("group membership cycle: {}", text.join(" -> ")),
                                );
                            }
                        }
                    }
                    _ => {}
                }
            } else {
                colour.insert(node, 2);
                stack.pop();
            }
        }
    }
}
