//! [`EffectiveAccess`]: the result of a full evaluation, stored compactly by
//! id (app lists shared by the users with the same applying rules, a policy
//! slot per user, admin rights for the few users that have any) and read
//! back by name.

use std::collections::{BTreeMap, BTreeSet};

use super::admin::{self, Reach};
use super::model::AccessModel;
use super::policy::Hit;
use super::types::{
    AdminRights, AppAccess, BindingGrant, Grantor, PolicyChoice, PolicyConflict, PolicyReason, UserAccess,
    Via,
};
use crate::model::Name;

/// One app a user holds: app id and the index (decision order) of the rule
/// that gave it; the role is that rule's first grant of the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AppSlot {
    /// The app's id.
    pub app: u32,
    /// The giving rule's index in decision order.
    pub rule: u32,
}

/// Distinct app lists: users with the same applying rules share one.
/// List 0 is empty (closed users, or apps not evaluated).
#[derive(Debug)]
pub(crate) struct AppLists {
    offsets: Vec<usize>,
    slots: Vec<AppSlot>,
}

impl Default for AppLists {
    fn default() -> Self {
        AppLists {
            offsets: vec![0, 0],
            slots: Vec::new(),
        }
    }
}

impl AppLists {
    /// Adds a list; returns its id.
    pub fn push(&mut self, slots: Vec<AppSlot>) -> u32 {
        self.slots.extend(slots);
        self.offsets.push(self.slots.len());
        (self.offsets.len() - 2) as u32
    }

    /// List `id` (empty when unknown).
    pub fn get(&self, id: u32) -> &[AppSlot] {
        let i = id as usize;
        match (self.offsets.get(i), self.offsets.get(i + 1)) {
            (Some(&a), Some(&b)) => self.slots.get(a..b).unwrap_or(&[]),
            _ => &[],
        }
    }
}

/// A user's resolved policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PolicySlot {
    /// None: a closed account, or no default and no target matched.
    None,
    /// The organization's default.
    Default,
    /// A targeted policy (index in decision order) and the target that matched.
    Policy(u32, Hit),
}

/// A user's admin rights: super admin flag and the bindings that reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AdminSlot {
    /// The user is the organization's super admin.
    pub super_admin: bool,
    /// Bindings (by index) that reach the user, and how.
    pub bindings: Vec<(u32, Reach)>,
}

/// Every user's effective access: apps with app role and rule, the effective
/// security policy and why, admin rights with their bindings.
#[derive(Debug)]
pub struct EffectiveAccess<'m> {
    model: &'m AccessModel<'m>,
    lists: AppLists,
    user_list: Vec<u32>,
    policy: Vec<PolicySlot>,
    /// Per user, every matching policy (only when policies combine).
    policy_sets: Vec<Vec<u32>>,
    admin: Vec<(u32, AdminSlot)>,
    conflicts: Vec<PolicyConflict>,
}

/// One app as held by a user, borrowed from the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppRef<'m> {
    /// The app.
    pub app: &'m Name,
    /// The app role.
    pub role: &'m Name,
    /// The rule that gave it.
    pub rule: &'m Name,
}

impl<'m> EffectiveAccess<'m> {
    /// Wraps the evaluation's output.
    pub(crate) fn new(
        model: &'m AccessModel<'m>,
        lists: AppLists,
        user_list: Vec<u32>,
        policy: Vec<PolicySlot>,
        admin: Vec<(u32, AdminSlot)>,
        conflicts: Vec<PolicyConflict>,
    ) -> Self {
        EffectiveAccess {
            model,
            lists,
            user_list,
            policy,
            policy_sets: Vec::new(),
            admin,
            conflicts,
        }
    }

    /// With every user's matching policies (when policies combine).
    pub(crate) fn with_policy_sets(mut self, sets: Vec<Vec<u32>>) -> Self {
        self.policy_sets = sets;
        self
    }

    /// The policies that make user `u`'s settings: the effective one alone,
    /// or, when the backend combines them, every matching one and the default.
    pub(crate) fn policies_at(
        &self,
        u: u32,
    ) -> Vec<(&'m Name, Option<&'m crate::model::SecurityPolicySpec>)> {
        if self.model.combination == crate::backend::PolicyCombination::Strictest {
            if matches!(self.policy.get(u as usize), None | Some(PolicySlot::None)) {
                return Vec::new();
            }
            let set = self.policy_sets.get(u as usize).map_or(&[][..], Vec::as_slice);
            return self
                .model
                .policies
                .combined(set)
                .into_iter()
                .map(|(n, s)| (n, Some(s)))
                .collect();
        }
        self.policy_name_at(u).map(|n| (n, None)).into_iter().collect()
    }

    /// The model evaluated.
    pub fn model(&self) -> &'m AccessModel<'m> {
        self.model
    }

    /// Total number of (user, app) assignments.
    pub fn assignment_count(&self) -> usize {
        self.user_list.iter().map(|l| self.lists.get(*l).len()).sum()
    }

    /// Pairs of equal-priority policies that both match some user.
    pub fn policy_conflicts(&self) -> &[PolicyConflict] {
        &self.conflicts
    }

    /// The apps of user `name` in app-name order, or `None` for an unknown user.
    pub fn apps(&self, name: &str) -> Option<Vec<AppRef<'m>>> {
        let (u, _) = self.model.user(name)?;
        let mut apps: Vec<AppRef<'m>> = self.apps_at(u).collect();
        apps.sort_unstable_by_key(|a| a.app);
        Some(apps)
    }

    /// The effective policy of user `name` (`Some(None)`: a closed account,
    /// or no default policy).
    pub fn policy(&self, name: &str) -> Option<Option<PolicyChoice>> {
        let (u, _) = self.model.user(name)?;
        Some(self.policy_at(u))
    }

    /// Everything user `name` has, or `None` for an unknown user.
    pub fn user(&self, name: &str) -> Option<UserAccess> {
        let (u, _) = self.model.user(name)?;
        Some(self.user_at(u))
    }

    /// Every user and what it has, in name order (built lazily, per user).
    pub fn iter(&self) -> impl Iterator<Item = (&'m Name, UserAccess)> + '_ {
        self.model
            .users
            .iter()
            .enumerate()
            .map(|(u, user)| (user.name, self.user_at(u as u32)))
    }

    /// Every user and what it has, as one map (for small organizations and tests).
    pub fn to_map(&self) -> BTreeMap<Name, UserAccess> {
        self.iter().map(|(n, a)| (n.clone(), a)).collect()
    }

    fn apps_at(&self, u: u32) -> impl Iterator<Item = AppRef<'m>> + '_ {
        self.list_apps(self.list_of(u))
    }

    /// The shared app list of user `u` (equal ids: equal apps).
    pub(crate) fn list_of(&self, u: u32) -> u32 {
        self.user_list.get(u as usize).copied().unwrap_or(0)
    }

    /// The apps of shared list `list`, in the order the rules gave them.
    pub(crate) fn list_apps(&self, list: u32) -> impl Iterator<Item = AppRef<'m>> + '_ {
        let model = self.model;
        self.lists.get(list).iter().filter_map(move |s| {
            let rule = model.rules.get(s.rule as usize)?;
            let role = rule.grants.iter().find(|(app, _)| *app == s.app)?.1;
            Some(AppRef {
                app: model.app(s.app)?,
                role: model.app_role(role)?,
                rule: rule.name,
            })
        })
    }

    /// The name of user `u`'s effective policy.
    pub(crate) fn policy_name_at(&self, u: u32) -> Option<&'m Name> {
        match self.policy.get(u as usize)? {
            PolicySlot::None => None,
            PolicySlot::Default => self.model.policies.default,
            PolicySlot::Policy(i, _) => self.model.policies.ordered.get(*i as usize).map(|p| p.name),
        }
    }

    /// User `u`'s super admin flag and permission bits.
    pub(crate) fn admin_mask_at(&self, u: u32) -> (bool, admin::Mask) {
        let slot = self
            .admin
            .binary_search_by_key(&u, |(v, _)| *v)
            .ok()
            .and_then(|i| self.admin.get(i));
        match slot {
            Some((_, slot)) => {
                let mut mask = if slot.super_admin { admin::all() } else { 0 };
                for (b, _) in &slot.bindings {
                    mask |= self.model.bindings.get(*b as usize).map_or(0, |b| b.mask);
                }
                (slot.super_admin, mask)
            }
            None => (false, 0),
        }
    }

    fn policy_at(&self, u: u32) -> Option<PolicyChoice> {
        policy_choice(self.model, *self.policy.get(u as usize)?)
    }

    fn user_at(&self, u: u32) -> UserAccess {
        let apps = self
            .apps_at(u)
            .map(|a| {
                (
                    a.app.clone(),
                    AppAccess {
                        role: a.role.clone(),
                        rule: a.rule.clone(),
                    },
                )
            })
            .collect();
        let slot = self
            .admin
            .binary_search_by_key(&u, |(v, _)| *v)
            .ok()
            .and_then(|i| self.admin.get(i));
        let admin = match slot {
            Some((_, slot)) => rights(self.model, slot.super_admin, &slot.bindings),
            None => AdminRights::default(),
        };
        UserAccess {
            apps,
            policy: self.policy_at(u),
            admin,
        }
    }
}

/// The public form of a policy slot.
pub(crate) fn policy_choice(model: &AccessModel<'_>, slot: PolicySlot) -> Option<PolicyChoice> {
    match slot {
        PolicySlot::None => None,
        PolicySlot::Default => Some(PolicyChoice {
            policy: model.policies.default?.clone(),
            reason: PolicyReason::Default,
        }),
        PolicySlot::Policy(i, hit) => Some(PolicyChoice {
            policy: model.policies.ordered.get(i as usize)?.name.clone(),
            reason: match hit {
                Hit::User => PolicyReason::User,
                Hit::Group(g) => PolicyReason::Group {
                    group: model.groups.name(g)?.clone(),
                },
                Hit::Rule => PolicyReason::Rule,
            },
        }),
    }
}

/// The public form of admin rights: the super admin holds every permission;
/// each binding adds its role's permissions, each remembering its grantors.
pub(crate) fn rights(model: &AccessModel<'_>, super_admin: bool, reached: &[(u32, Reach)]) -> AdminRights {
    let bound: Vec<&super::admin::Binding<'_>> = reached
        .iter()
        .filter_map(|(b, _)| model.bindings.get(*b as usize))
        .collect();
    let mut mask = if super_admin { admin::all() } else { 0 };
    for b in &bound {
        mask |= b.mask;
    }
    let permissions = admin::expand(mask, |m, a| {
        let bit = admin::bit(m, a);
        let mut from: BTreeSet<Grantor> = bound
            .iter()
            .filter(|b| b.mask & bit != 0)
            .map(|b| Grantor::Binding(b.name.clone()))
            .collect();
        if super_admin {
            from.insert(Grantor::SuperAdmin);
        }
        from
    });
    let bindings = reached
        .iter()
        .filter_map(|(b, reach)| {
            let b = model.bindings.get(*b as usize)?;
            Some(BindingGrant {
                binding: b.name.clone(),
                role: b.role.clone(),
                via: match reach {
                    Reach::Direct => Via::Direct,
                    Reach::Group(g) => Via::Group {
                        group: model.groups.name(*g)?.clone(),
                    },
                },
            })
        })
        .collect();
    AdminRights {
        super_admin,
        bindings,
        permissions,
    }
}
