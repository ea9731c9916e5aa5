//! Tests of the access engine. Organizations are built from specs in code
//! (no validation, so invalid and live-only shapes can be tested too);
//! every evaluation is checked against `explain` for every user.

mod admin;
mod policy;
mod rules;
mod whole;

use std::collections::BTreeMap;

use super::{AccessModel, UserAccess};
use crate::model::{
    Action, AppAssignmentSpec, AppGrant, ApplicationSpec, Collection, Condition, Field, GroupSpec, Members,
    Module, Name, Operator, OrganizationSpec, PolicyTargets, RoleBindingSpec, RoleSpec, SecurityPolicySpec,
    Spec, UserSpec,
};

/// A name (test input is always valid).
pub(super) fn n(s: &str) -> Name {
    s.parse().unwrap_or_else(|e| panic!("test name {s:?}: {e}"))
}

/// A set of names.
pub(super) fn names(list: &[&str]) -> Field<Collection<Name>> {
    Field::Set(Collection::authoritative(list.iter().map(|s| n(s))))
}

/// Users and groups.
pub(super) fn members(users: &[&str], groups: &[&str]) -> Field<Members> {
    Field::Set(Members {
        users: names(users),
        groups: names(groups),
    })
}

/// A comparison with one operand.
pub(super) fn leaf(field: &str, op: Operator, value: &str) -> Condition {
    Condition {
        field: Some(field.into()),
        op: Some(op),
        value: Some(value.into()),
        ..Condition::default()
    }
}

/// A comparison with a list operand (`in`, `notIn`).
pub(super) fn leaf_in(field: &str, op: Operator, values: &[&str]) -> Condition {
    Condition {
        field: Some(field.into()),
        op: Some(op),
        values: Some(values.iter().map(|v| v.to_string()).collect()),
        ..Condition::default()
    }
}

/// Every sub-condition.
pub(super) fn all(c: Vec<Condition>) -> Condition {
    Condition {
        all: Some(c),
        ..Condition::default()
    }
}

/// Some sub-condition.
pub(super) fn any(c: Vec<Condition>) -> Condition {
    Condition {
        any: Some(c),
        ..Condition::default()
    }
}

/// An organization under construction: `(name, spec)` objects.
#[derive(Default, Clone)]
pub(super) struct Org {
    pub objects: Vec<(Name, Spec)>,
}

impl Org {
    pub fn new() -> Self {
        Org::default()
    }

    pub fn push(mut self, name: &str, spec: Spec) -> Self {
        self.objects.push((n(name), spec));
        self
    }

    pub fn organization(self, super_admin: Option<&str>) -> Self {
        let spec = OrganizationSpec {
            super_admin: super_admin.map(n),
            ..OrganizationSpec::default()
        };
        self.push("acme", Spec::Organization(Box::new(spec)))
    }

    /// A user with an e-mail `<name>@acme.example`, edited by `f`.
    pub fn user(self, name: &str, f: impl FnOnce(&mut UserSpec)) -> Self {
        let mut spec = UserSpec {
            email: format!("{name}@acme.example").parse().ok(),
            ..UserSpec::default()
        };
        f(&mut spec);
        self.push(name, Spec::User(Box::new(spec)))
    }

    pub fn group(self, name: &str, users: &[&str], groups: &[&str]) -> Self {
        let spec = GroupSpec {
            members: members(users, groups),
            ..GroupSpec::default()
        };
        self.push(name, Spec::Group(Box::new(spec)))
    }

    pub fn app(self, name: &str, roles: &[&str]) -> Self {
        let spec = ApplicationSpec {
            roles: names(roles),
            ..ApplicationSpec::default()
        };
        self.push(name, Spec::Application(Box::new(spec)))
    }

    /// A rule giving `grants` (app, role) to users matching `cond`.
    pub fn rule(self, name: &str, priority: i32, cond: Condition, grants: &[(&str, &str)]) -> Self {
        self.rule_with(name, priority, cond, grants, Field::Unset)
    }

    pub fn rule_with(
        self,
        name: &str,
        priority: i32,
        cond: Condition,
        grants: &[(&str, &str)],
        exclude: Field<Members>,
    ) -> Self {
        let spec = AppAssignmentSpec {
            priority: Field::Set(priority),
            rule: Field::Set(cond),
            exclude,
            assign: Field::Set(Collection::authoritative(grants.iter().map(|(a, r)| AppGrant {
                app: n(a),
                role: n(r),
            }))),
            ..AppAssignmentSpec::default()
        };
        self.push(name, Spec::AppAssignment(Box::new(spec)))
    }

    pub fn default_policy(self, name: &str) -> Self {
        let spec = SecurityPolicySpec {
            default: Field::Set(true),
            ..SecurityPolicySpec::default()
        };
        self.push(name, Spec::SecurityPolicy(Box::new(spec)))
    }

    pub fn policy(self, name: &str, priority: i32, targets: PolicyTargets) -> Self {
        let spec = SecurityPolicySpec {
            priority: Field::Set(priority),
            targets: Field::Set(targets),
            ..SecurityPolicySpec::default()
        };
        self.push(name, Spec::SecurityPolicy(Box::new(spec)))
    }

    pub fn role(self, name: &str, perms: &[(Module, &[Action])]) -> Self {
        let spec = RoleSpec {
            permissions: Field::Set(
                perms
                    .iter()
                    .map(|(m, a)| (*m, a.iter().copied().collect()))
                    .collect(),
            ),
            ..RoleSpec::default()
        };
        self.push(name, Spec::Role(Box::new(spec)))
    }

    pub fn binding(self, name: &str, role: &str, users: &[&str], groups: &[&str]) -> Self {
        let spec = RoleBindingSpec {
            role: Some(n(role)),
            subjects: members(users, groups),
            ..RoleBindingSpec::default()
        };
        self.push(name, Spec::RoleBinding(Box::new(spec)))
    }

    pub fn model(&self) -> AccessModel<'_> {
        AccessModel::from_specs(self.objects.iter().map(|(n, s)| (n, s)))
    }
}

/// Evaluates, checks `explain` agrees for every user, returns every user's access.
pub(super) fn check(model: &AccessModel<'_>) -> BTreeMap<Name, UserAccess> {
    let eff = model.evaluate();
    let map = eff.to_map();
    for (name, access) in &map {
        let ex = model
            .explain_user(name.as_str())
            .unwrap_or_else(|| panic!("explain knows {name}"));
        let apps: BTreeMap<Name, (Name, Name)> = ex
            .apps
            .iter()
            .map(|a| (a.app.clone(), (a.role.clone(), a.rule.clone())))
            .collect();
        let evaluated: BTreeMap<Name, (Name, Name)> = access
            .apps
            .iter()
            .map(|(app, a)| (app.clone(), (a.role.clone(), a.rule.clone())))
            .collect();
        assert_eq!(apps, evaluated, "apps of {name}: explain vs evaluate");
        assert_eq!(ex.policy.effective, access.policy, "policy of {name}");
        assert_eq!(ex.admin, access.admin, "admin of {name}");
    }
    map
}

/// The apps (app → role) user `user` holds.
pub(super) fn apps_of(map: &BTreeMap<Name, UserAccess>, user: &str) -> BTreeMap<String, String> {
    map.get(&n(user))
        .map(|a| {
            a.apps
                .iter()
                .map(|(app, x)| (app.to_string(), x.role.to_string()))
                .collect()
        })
        .unwrap_or_default()
}
