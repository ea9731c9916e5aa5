//! [`AccessModel`]: one organization's users, groups, rules, policies and
//! admin bindings, compiled once for evaluation. It borrows the specs (no
//! user is copied) and does no per-user work beyond listing the users in name
//! order, so building it and explaining one user stay cheap at any size; the
//! org-wide index is built by [`AccessModel::evaluate`].

use crate::backend::PolicyCombination;
use std::collections::BTreeSet;

use super::admin::{self, Binding};
use super::condition::{Compiler, Leaf};
use super::groups::Groups;
use super::policy::{self, Policies};
use super::rules::{self, Rule};
use crate::backend::LiveOrg;
use crate::model::{
    AppAssignmentSpec, ApplicationSpec, GroupSpec, Name, RoleBindingSpec, RoleSpec, SecurityPolicySpec, Spec,
    UserSpec, UserStatus,
};
use crate::validate::{ConditionField, DesiredOrg};

/// One user as the engine sees it: its name and spec.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UserRef<'a> {
    /// The user's name.
    pub name: &'a Name,
    /// The name's text (one indirection less for lookups).
    pub key: &'a str,
    /// The user's spec.
    pub spec: &'a UserSpec,
}

impl<'a> UserRef<'a> {
    /// The user's status (active when not given).
    pub fn status(&self) -> UserStatus {
        self.spec.status.get().copied().unwrap_or_default()
    }

    /// Closed accounts get nothing: no apps, no policy, no admin rights.
    pub fn closed(&self) -> bool {
        self.status() == UserStatus::Closed
    }

    /// The value of a single-valued condition field; empty counts as absent.
    /// `group` is not single-valued and gives `None`.
    pub fn value(&self, field: &ConditionField) -> Option<&'a str> {
        let s = self.spec;
        let v = match field {
            ConditionField::Department => s.department.get().map(String::as_str),
            ConditionField::Designation => s.designation.get().map(String::as_str),
            ConditionField::Location => s.location.get().map(String::as_str),
            ConditionField::EmailDomain => s.email.as_ref().map(|e| e.domain()),
            ConditionField::Email => s.email.as_ref().map(|e| e.as_str()),
            ConditionField::Username => match (&s.username, &s.email) {
                (crate::model::Field::Set(u), _) => Some(u.as_str()),
                (crate::model::Field::Unset, Some(e)) => Some(e.local_part()),
                _ => None,
            },
            ConditionField::Attribute(name) => s.custom_attributes.get().and_then(|a| a.get(name)),
            ConditionField::Group => None,
        };
        v.filter(|v| !v.is_empty())
    }
}

/// An organization compiled for effective-access evaluation.
#[derive(Debug)]
pub struct AccessModel<'a> {
    /// The organization's name (its Organization object).
    pub(crate) organization: Option<&'a Name>,
    /// The Organization's `superAdmin`.
    pub(crate) super_admin: Option<&'a Name>,
    /// Users in name order; a user's id is its position.
    pub(crate) users: Vec<UserRef<'a>>,
    /// The group graph.
    pub(crate) groups: Groups<'a>,
    /// Condition leaves shared by rules and policy targets.
    pub(crate) leaves: Vec<Leaf>,
    /// The single-valued fields some leaf reads, by column id.
    pub(crate) columns: Vec<ConditionField>,
    /// Apps (declared or granted), sorted; an app's id is its position.
    pub(crate) apps: Vec<&'a Name>,
    /// App role names used by grants, sorted.
    pub(crate) app_roles: Vec<&'a Name>,
    /// Listed user sets (exclusions, policy targets, binding subjects).
    pub(crate) user_sets: Vec<&'a BTreeSet<Name>>,
    /// AppAssignment rules in decision order.
    pub(crate) rules: Vec<Rule<'a>>,
    /// Security policies.
    pub(crate) policies: Policies<'a>,
    /// Role bindings in name order.
    pub(crate) bindings: Vec<Binding<'a>>,
    /// Objects that could not be compiled as written (they grant nothing).
    pub(crate) problems: Vec<String>,
    /// How the policies that match a user combine (the backend's rule).
    pub(crate) combination: PolicyCombination,
}

/// Specs of one organization sorted out by kind.
#[derive(Default)]
struct ByKind<'a> {
    /// Organization objects: name and `superAdmin`.
    orgs: Vec<(&'a Name, Option<&'a Name>)>,
    users: Vec<UserRef<'a>>,
    groups: Vec<(&'a Name, &'a GroupSpec)>,
    apps: Vec<(&'a Name, &'a ApplicationSpec)>,
    rules: Vec<(&'a Name, &'a AppAssignmentSpec)>,
    policies: Vec<(&'a Name, &'a SecurityPolicySpec)>,
    roles: Vec<(&'a Name, &'a RoleSpec)>,
    bindings: Vec<(&'a Name, &'a RoleBindingSpec)>,
}

/// Sorts by name unless already sorted (map iteration gives sorted input).
fn sort_by_name<T>(v: &mut [T], name: impl Fn(&T) -> &str) {
    if !v.is_sorted_by(|a, b| name(a) <= name(b)) {
        v.sort_unstable_by(|a, b| name(a).cmp(name(b)));
    }
}

impl<'a> AccessModel<'a> {
    /// The model of a validated organization ("after").
    pub fn from_desired(org: &'a DesiredOrg) -> Self {
        Self::build(org.objects.iter().map(|((_, name), o)| (name, &o.spec)), true)
    }

    /// The model of a live snapshot ("before").
    pub fn from_live(org: &'a LiveOrg) -> Self {
        Self::build(org.objects.iter().map(|((_, name), o)| (name, &o.spec)), true)
    }

    /// The model of any set of `(name, spec)` objects of one organization, in
    /// any order (names are unique per kind).
    pub fn from_specs<I: IntoIterator<Item = (&'a Name, &'a Spec)>>(objects: I) -> Self {
        Self::build(objects, false)
    }

    /// `sorted`: the objects come from a map keyed by (kind, name), so the
    /// users come in name order and need no check (100,000 comparisons saved).
    fn build<I: IntoIterator<Item = (&'a Name, &'a Spec)>>(objects: I, sorted: bool) -> Self {
        let mut k = ByKind::default();
        for (name, spec) in objects {
            match spec {
                Spec::Organization(o) => k.orgs.push((name, o.super_admin.as_ref())),
                Spec::User(u) => k.users.push(UserRef {
                    name,
                    key: name.as_str(),
                    spec: u,
                }),
                Spec::Group(g) => k.groups.push((name, g)),
                Spec::Application(a) => k.apps.push((name, a)),
                Spec::AppAssignment(a) => k.rules.push((name, a)),
                Spec::SecurityPolicy(p) => k.policies.push((name, p)),
                Spec::Role(r) => k.roles.push((name, r)),
                Spec::RoleBinding(b) => k.bindings.push((name, b)),
                Spec::IdentityProvider(_) => {}
            }
        }
        if !sorted {
            sort_by_name(&mut k.users, |u| u.key);
        }
        sort_by_name(&mut k.groups, |g| g.0.as_str());
        sort_by_name(&mut k.apps, |a| a.0.as_str());
        sort_by_name(&mut k.rules, |r| r.0.as_str());
        sort_by_name(&mut k.policies, |p| p.0.as_str());
        sort_by_name(&mut k.roles, |r| r.0.as_str());
        sort_by_name(&mut k.bindings, |b| b.0.as_str());
        sort_by_name(&mut k.orgs, |o| o.0.as_str());
        let mut problems = Vec::new();
        if let [first, _, ..] = k.orgs.as_slice() {
            problems.push(format!(
                "{} Organization objects; the first by name, {:?}, is used",
                k.orgs.len(),
                first.0.as_str()
            ));
        }
        let groups = Groups::build(&k.groups);
        let apps: Vec<&'a Name> = k
            .apps
            .iter()
            .map(|(n, _)| *n)
            .chain(
                k.rules
                    .iter()
                    .flat_map(|(_, r)| r.assign.get().into_iter().flat_map(|c| c.iter().map(|g| &g.app))),
            )
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let app_roles: Vec<&'a Name> = k
            .rules
            .iter()
            .flat_map(|(_, r)| r.assign.get().into_iter().flat_map(|c| c.iter().map(|g| &g.role)))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut compiler = Compiler::default();
        let mut user_sets = Vec::new();
        let rules = rules::compile(
            &k.rules,
            &mut compiler,
            &groups,
            &mut user_sets,
            &apps,
            &app_roles,
        );
        let policies = policy::compile(&k.policies, &mut compiler, &groups, &mut user_sets);
        let bindings = admin::compile(&k.bindings, &k.roles, &groups, &mut user_sets, &mut problems);
        problems.append(&mut compiler.problems);
        AccessModel {
            organization: k.orgs.first().map(|o| o.0),
            super_admin: k.orgs.first().and_then(|o| o.1),
            users: k.users,
            groups,
            leaves: compiler.leaves,
            columns: compiler.columns,
            apps,
            app_roles,
            user_sets,
            rules,
            policies,
            bindings,
            problems,
            combination: PolicyCombination::Priority,
        }
    }

    /// The model with the backend's way of combining policies (Kanidm
    /// applies every matching policy, each setting at its strictest).
    pub fn with_policy_combination(mut self, combination: PolicyCombination) -> Self {
        self.combination = combination;
        self
    }

    /// The organization's name, when its Organization object is present.
    pub fn organization(&self) -> Option<&'a Name> {
        self.organization
    }

    /// Number of users.
    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    /// Number of AppAssignment rules.
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// Users in name order.
    pub fn users(&self) -> impl Iterator<Item = &'a Name> + '_ {
        self.users.iter().map(|u| u.name)
    }

    /// Objects that could not be compiled as written and so grant nothing
    /// (invalid conditions, unknown roles); empty for a validated org.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    /// The user called `name`.
    pub(crate) fn user(&self, name: &str) -> Option<(u32, UserRef<'a>)> {
        let i = self.users.binary_search_by(|u| u.key.cmp(name)).ok()?;
        Some((i as u32, *self.users.get(i)?))
    }

    /// Whether `name` is the organization's super admin.
    pub(crate) fn is_super_admin(&self, name: &str) -> bool {
        self.super_admin.is_some_and(|s| s.as_str() == name)
    }

    /// The super admin's user id, when the super admin is a user here.
    pub(crate) fn super_admin_id(&self) -> Option<u32> {
        self.user(self.super_admin?.as_str()).map(|(i, _)| i)
    }

    /// The name of app `id`.
    pub(crate) fn app(&self, id: u32) -> Option<&'a Name> {
        self.apps.get(id as usize).copied()
    }

    /// The name of app role `id`.
    pub(crate) fn app_role(&self, id: u32) -> Option<&'a Name> {
        self.app_roles.get(id as usize).copied()
    }
}

/// The users of two models joined by name, in name order: each user's id on
/// either side (`None` where it is absent) and its entry from one side.
pub(crate) fn join_users<'s, 'a>(
    before: &'s [UserRef<'a>],
    after: &'s [UserRef<'a>],
) -> impl Iterator<Item = (Option<u32>, Option<u32>, UserRef<'a>)> + 's {
    let (mut i, mut j) = (0usize, 0usize);
    std::iter::from_fn(move || {
        let (b, a) = match (before.get(i), after.get(j)) {
            (None, None) => return None,
            (Some(x), None) => (Some((i, x)), None),
            (None, Some(y)) => (None, Some((j, y))),
            (Some(x), Some(y)) => match x.key.cmp(y.key) {
                std::cmp::Ordering::Less => (Some((i, x)), None),
                std::cmp::Ordering::Greater => (None, Some((j, y))),
                std::cmp::Ordering::Equal => (Some((i, x)), Some((j, y))),
            },
        };
        i += usize::from(b.is_some());
        j += usize::from(a.is_some());
        let user = *b.or(a)?.1;
        Some((b.map(|(u, _)| u as u32), a.map(|(u, _)| u as u32), user))
    })
}
