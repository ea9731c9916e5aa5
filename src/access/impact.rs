//! Plan impact: what changes for each user between two evaluations (live
//! "before", desired "after"): apps gained, lost or given another role,
//! the effective policy, admin permissions. Users are joined by name;
//! a user on one side only is compared with nothing. App lists are shared
//! by many users, so each pair of lists is compared once.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::admin::{self, Mask};
use super::columns::FxMap;
use super::effective::EffectiveAccess;
use crate::model::{Action, Module, Name};

/// An app with its role.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRole {
    /// The app.
    pub app: Name,
    /// The app role.
    pub role: Name,
}

/// An app whose role changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleChange {
    /// The app.
    pub app: Name,
    /// The role before.
    pub before: Name,
    /// The role after.
    pub after: Name,
}

/// What changes for one user (only users with some change are listed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserImpact {
    /// The user.
    pub user: Name,
    /// Apps the user gains.
    pub apps_added: Vec<AppRole>,
    /// Apps the user loses.
    pub apps_removed: Vec<AppRole>,
    /// Apps kept with another role.
    pub roles_changed: Vec<RoleChange>,
    /// The effective policy before and after, when it changes.
    pub policy: Option<(Option<Name>, Option<Name>)>,
    /// Admin permissions gained.
    pub admin_gained: BTreeMap<Module, BTreeSet<Action>>,
    /// Admin permissions lost.
    pub admin_lost: BTreeMap<Module, BTreeSet<Action>>,
    /// The super admin flag before and after, when it changes.
    pub super_admin: Option<(bool, bool)>,
}

/// The difference of two app lists.
#[derive(Debug, Clone, Default)]
struct AppDiff {
    added: Vec<AppRole>,
    removed: Vec<AppRole>,
    changed: Vec<RoleChange>,
}

/// A user on either side: its id there, if any.
type Side = Option<u32>;

/// Every user whose apps, policy or admin rights differ between `before`
/// and `after`, in name order.
pub fn impact(before: &EffectiveAccess<'_>, after: &EffectiveAccess<'_>) -> Vec<UserImpact> {
    let (b_users, a_users) = (&before.model().users, &after.model().users);
    let mut out = Vec::new();
    let mut diffs: FxMap<(Side, Side), AppDiff> = FxMap::default();
    for (b, a, user) in super::model::join_users(b_users, a_users) {
        let name = user.name;
        let lists = (b.map(|u| before.list_of(u)), a.map(|u| after.list_of(u)));
        let apps = diffs
            .entry(lists)
            .or_insert_with(|| app_diff(before, lists.0, after, lists.1));
        let policy_b = b.and_then(|u| before.policy_name_at(u));
        let policy_a = a.and_then(|u| after.policy_name_at(u));
        let (super_b, mask_b) = b.map_or((false, 0), |u| before.admin_mask_at(u));
        let (super_a, mask_a) = a.map_or((false, 0), |u| after.admin_mask_at(u));
        let changed = !apps.added.is_empty()
            || !apps.removed.is_empty()
            || !apps.changed.is_empty()
            || policy_b != policy_a
            || mask_b != mask_a
            || super_b != super_a;
        if changed {
            out.push(UserImpact {
                user: name.clone(),
                apps_added: apps.added.clone(),
                apps_removed: apps.removed.clone(),
                roles_changed: apps.changed.clone(),
                policy: (policy_b != policy_a).then(|| (policy_b.cloned(), policy_a.cloned())),
                admin_gained: actions(mask_a & !mask_b),
                admin_lost: actions(mask_b & !mask_a),
                super_admin: (super_b != super_a).then_some((super_b, super_a)),
            });
        }
    }
    out
}

fn actions(mask: Mask) -> BTreeMap<Module, BTreeSet<Action>> {
    admin::expand(mask, |_, _| ())
        .into_iter()
        .map(|(m, a)| (m, a.into_keys().collect()))
        .collect()
}

/// The (app, role) pairs of a list, sorted by app.
fn sorted_roles<'m>(e: &EffectiveAccess<'m>, list: Option<u32>) -> Vec<(&'m Name, &'m Name)> {
    let mut v: Vec<(&'m Name, &'m Name)> = list
        .map(|l| e.list_apps(l).map(|x| (x.app, x.role)).collect())
        .unwrap_or_default();
    v.sort_unstable();
    v
}

fn app_diff(
    before: &EffectiveAccess<'_>,
    b: Option<u32>,
    after: &EffectiveAccess<'_>,
    a: Option<u32>,
) -> AppDiff {
    // (app, role) sorted by app, borrowed: most pairs of lists are equal.
    let (old, new) = (sorted_roles(before, b), sorted_roles(after, a));
    let mut diff = AppDiff::default();
    if old == new {
        return diff;
    }
    let pair = |(app, role): (&Name, &Name)| AppRole {
        app: app.clone(),
        role: role.clone(),
    };
    let (mut i, mut j) = (0, 0);
    loop {
        match (old.get(i).copied(), new.get(j).copied()) {
            (None, None) => break,
            (Some(o), None) => {
                diff.removed.push(pair(o));
                i += 1;
            }
            (None, Some(x)) => {
                diff.added.push(pair(x));
                j += 1;
            }
            (Some(o), Some(x)) => match o.0.cmp(x.0) {
                Ordering::Less => {
                    diff.removed.push(pair(o));
                    i += 1;
                }
                Ordering::Greater => {
                    diff.added.push(pair(x));
                    j += 1;
                }
                Ordering::Equal => {
                    if o.1 != x.1 {
                        diff.changed.push(RoleChange {
                            app: o.0.clone(),
                            before: o.1.clone(),
                            after: x.1.clone(),
                        });
                    }
                    i += 1;
                    j += 1;
                }
            },
        }
    }
    diff
}
