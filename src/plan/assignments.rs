//! Materialized app assignments: compares what the rules give every user
//! after the apply with the rule-made lists the backend holds, and plans a
//! rewrite of each user's list that differs. Grants made by hand are not
//! part of these lists and are never planned. Users the plan deletes are
//! left out (the backend drops their grants with them).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::AssignmentPlan;
use crate::access::EffectiveAccess;
use crate::backend::{LiveGrants, RuleGrant};

/// The rule-made list of evaluated list `list`, sorted by app.
fn grants_of(after: &EffectiveAccess<'_>, list: u32) -> Vec<RuleGrant> {
    let mut v: Vec<RuleGrant> = after
        .list_apps(list)
        .map(|a| RuleGrant {
            app: a.app.clone(),
            role: a.role.clone(),
            rule: a.rule.clone(),
        })
        .collect();
    v.sort_unstable();
    v
}

/// Plans every user's rule-made list that differs from the backend's.
pub(crate) fn plan(after: &EffectiveAccess<'_>, live: &LiveGrants) -> AssignmentPlan {
    let mut out = AssignmentPlan::default();
    // Evaluated list id → its grants and, once written, its index in the plan.
    let mut lists: HashMap<u32, (Vec<RuleGrant>, Option<u32>)> = HashMap::new();
    // (evaluated list, live set) → grants added and removed (both 0: equal).
    let mut diffs: HashMap<(u32, Option<u32>), (usize, usize)> = HashMap::new();
    let mut users = Vec::new();
    for (u, user) in after.model().users.iter().enumerate() {
        let list = after.list_of(u as u32);
        let set = live.users.get(user.key).copied();
        let (added, removed) = *diffs.entry((list, set)).or_insert_with(|| {
            let new = &lists
                .entry(list)
                .or_insert_with(|| (grants_of(after, list), None))
                .0;
            let old = set
                .and_then(|s| live.sets.get(s as usize))
                .map_or(&[][..], Vec::as_slice);
            count_changes(old, new)
        });
        if added == 0 && removed == 0 {
            continue;
        }
        let Some((grants, index)) = lists.get_mut(&list) else {
            continue;
        };
        let index = *index.get_or_insert_with(|| {
            out.lists.push(grants.clone());
            (out.lists.len() - 1) as u32
        });
        out.grants_added += added;
        out.grants_removed += removed;
        users.push((user.name.clone(), index));
    }
    out.users = users.into_iter().collect::<BTreeMap<_, _>>();
    out
}

/// Grants in `new` but not `old`, and in `old` but not `new` (a grant is
/// the whole (app, role, rule) triple).
fn count_changes(old: &[RuleGrant], new: &[RuleGrant]) -> (usize, usize) {
    if old == new {
        return (0, 0);
    }
    let old_set: BTreeSet<&RuleGrant> = old.iter().collect();
    let new_set: BTreeSet<&RuleGrant> = new.iter().collect();
    (
        new_set.difference(&old_set).count(),
        old_set.difference(&new_set).count(),
    )
}
