//! Admin rights: every (module, action) pair is one bit of a `u64`, a role
//! is a mask (built-in `admin`: all bits; `member`: none; a custom Role: its
//! declared permissions), and a user's rights are the union of the masks of
//! the bindings that reach the user directly or through a group (nested).
//! The Organization's `superAdmin` holds every bit and is flagged.

use std::collections::{BTreeMap, BTreeSet};

use super::groups::{first_common, Groups};
use super::probe::Probe;
use crate::model::Module;
use crate::model::{Action, Name, RoleBindingSpec, RoleSpec};

/// Every module, in declaration order.
pub const MODULES: [Module; 9] = [
    Module::Organization,
    Module::Domain,
    Module::User,
    Module::Group,
    Module::Department,
    Module::Application,
    Module::Policy,
    Module::Audit,
    Module::Role,
];

/// Every action, in declaration order.
pub const ACTIONS: [Action; 5] = [
    Action::View,
    Action::Create,
    Action::Update,
    Action::Delete,
    Action::Download,
];

/// A set of (module, action) permissions as bits.
pub(crate) type Mask = u64;

/// The bit of one permission.
pub(crate) fn bit(m: Module, a: Action) -> Mask {
    let module = match m {
        Module::Organization => 0,
        Module::Domain => 1,
        Module::User => 2,
        Module::Group => 3,
        Module::Department => 4,
        Module::Application => 5,
        Module::Policy => 6,
        Module::Audit => 7,
        Module::Role => 8,
    };
    let action = match a {
        Action::View => 0,
        Action::Create => 1,
        Action::Update => 2,
        Action::Delete => 3,
        Action::Download => 4,
    };
    1 << (module * ACTIONS.len() + action)
}

/// Every permission.
pub(crate) fn all() -> Mask {
    MODULES
        .iter()
        .flat_map(|m| ACTIONS.iter().map(move |a| bit(*m, *a)))
        .fold(0, |acc, b| acc | b)
}

/// The mask of a declared permission map.
pub(crate) fn mask_of(perms: &BTreeMap<Module, BTreeSet<Action>>) -> Mask {
    perms
        .iter()
        .flat_map(|(m, actions)| actions.iter().map(move |a| bit(*m, *a)))
        .fold(0, |acc, b| acc | b)
}

/// The permissions of a mask, with each one's value from `value`.
pub(crate) fn expand<T>(
    mask: Mask,
    mut value: impl FnMut(Module, Action) -> T,
) -> BTreeMap<Module, BTreeMap<Action, T>> {
    let mut out: BTreeMap<Module, BTreeMap<Action, T>> = BTreeMap::new();
    for m in MODULES {
        for a in ACTIONS {
            if mask & bit(m, a) != 0 {
                out.entry(m).or_default().insert(a, value(m, a));
            }
        }
    }
    out
}

/// One compiled RoleBinding.
#[derive(Debug)]
pub(crate) struct Binding<'a> {
    /// The binding's name.
    pub name: &'a Name,
    /// The role it gives.
    pub role: &'a Name,
    /// The role's permissions.
    pub mask: Mask,
    /// Subject users, as a `user_sets` id.
    pub users: Option<u32>,
    /// Subject groups (members, nested), sorted ids.
    pub groups: Vec<u32>,
}

/// How a binding reaches a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    /// The user is a subject.
    Direct,
    /// The user is a member (direct or nested) of this subject group.
    Group(u32),
}

impl Binding<'_> {
    /// Whether (and how) the binding reaches the user; a direct subject wins
    /// over a group.
    pub fn reach<P: Probe>(&self, p: &P) -> Option<Reach> {
        if self.users.is_some_and(|s| p.listed(s)) {
            return Some(Reach::Direct);
        }
        first_common(p.groups(), &self.groups).map(Reach::Group)
    }
}

/// Compiles the RoleBindings (sorted by name) against the Roles (sorted by
/// name). A binding to an unknown role, or to `super-admin` (which cannot be
/// bound), gives nothing and is reported in `problems`.
pub(crate) fn compile<'a>(
    bindings: &[(&'a Name, &'a RoleBindingSpec)],
    roles: &[(&'a Name, &'a RoleSpec)],
    groups: &Groups<'a>,
    user_sets: &mut Vec<&'a BTreeSet<Name>>,
    problems: &mut Vec<String>,
) -> Vec<Binding<'a>> {
    let mut out = Vec::with_capacity(bindings.len());
    for (name, spec) in bindings {
        let Some(role) = &spec.role else {
            problems.push(format!(
                "role binding {:?}: no `role`; it gives nothing",
                name.as_str()
            ));
            continue;
        };
        let mask = match role.as_str() {
            "admin" => all(),
            "member" => 0,
            "super-admin" => {
                problems.push(format!(
                    "role binding {:?}: the super-admin role cannot be bound; it gives nothing",
                    name.as_str()
                ));
                0
            }
            custom => match roles
                .binary_search_by(|(n, _)| n.as_str().cmp(custom))
                .ok()
                .and_then(|i| roles.get(i))
            {
                Some((_, role)) => role.permissions.get().map(mask_of).unwrap_or(0),
                None => {
                    problems.push(format!(
                        "role binding {:?}: role {custom:?} is not declared; it gives nothing",
                        name.as_str()
                    ));
                    0
                }
            },
        };
        let subjects = spec.subjects.get();
        let users = subjects.and_then(|s| s.users.get()).map(|c| {
            user_sets.push(&c.items);
            (user_sets.len() - 1) as u32
        });
        out.push(Binding {
            name,
            role,
            mask,
            users,
            groups: groups.ids(
                subjects
                    .and_then(|s| s.groups.get())
                    .into_iter()
                    .flat_map(|c| c.iter()),
            ),
        });
    }
    out
}
