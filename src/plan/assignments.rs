//! Materialized app assignments: compares what the rules give every user
//! after the apply with the rule-made lists the backend holds, and plans a
//! rewrite of each user's list that differs. Grants made by hand are not
//! part of these lists and are never planned. Users the plan deletes are
//! left out (the backend drops their grants with them).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::AssignmentPlan;
use crate::access::EffectiveAccess;
use crate::backend::{LiveGrants, RuleGrant};
use crate::model::Name;

/// A grant as (app, role, rule), borrowed.
type GrantRef<'a> = (&'a Name, &'a Name, &'a Name);

/// The grants of evaluated list `list`, borrowed, sorted.
fn refs_of<'m>(after: &EffectiveAccess<'m>, list: u32) -> Vec<GrantRef<'m>> {
    let mut v: Vec<GrantRef<'m>> = after.list_apps(list).map(|a| (a.app, a.role, a.rule)).collect();
    v.sort_unstable();
    v
}

/// Plans every user's rule-made list that differs from the backend's.
/// Lists are compared borrowed; a list is copied only when some user's
/// list is written (a no-op plan copies nothing).
pub(crate) fn plan(after: &EffectiveAccess<'_>, live: &LiveGrants) -> AssignmentPlan {
    let mut out = AssignmentPlan::default();
    // Evaluated list id → its grants, borrowed.
    let mut lists: HashMap<u32, Vec<GrantRef<'_>>> = HashMap::new();
    // Evaluated list id → its index in the plan, once written.
    let mut written: HashMap<u32, u32> = HashMap::new();
    // (evaluated list, live set) → grants added and removed (both 0: equal).
    let mut diffs: HashMap<(u32, Option<u32>), (usize, usize)> = HashMap::new();
    let mut users = Vec::new();
    for (u, user) in after.model().users.iter().enumerate() {
        let list = after.list_of(u as u32);
        let set = live.users.get(user.key).copied();
        let (added, removed) = *diffs.entry((list, set)).or_insert_with(|| {
            let new = lists.entry(list).or_insert_with(|| refs_of(after, list));
            let mut old: Vec<GrantRef<'_>> = set
                .and_then(|s| live.sets.get(s as usize))
                .into_iter()
                .flatten()
                .map(|g| (&g.app, &g.role, &g.rule))
                .collect();
            old.sort_unstable();
            count_changes(&old, new)
        });
        if added == 0 && removed == 0 {
            continue;
        }
        let index = *written.entry(list).or_insert_with(|| {
            let grants = lists
                .get(&list)
                .into_iter()
                .flatten()
                .map(|(app, role, rule)| RuleGrant {
                    app: (*app).clone(),
                    role: (*role).clone(),
                    rule: (*rule).clone(),
                })
                .collect();
            out.lists.push(grants);
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
/// the whole (app, role, rule) triple); both sorted.
fn count_changes(old: &[GrantRef<'_>], new: &[GrantRef<'_>]) -> (usize, usize) {
    if old == new {
        return (0, 0);
    }
    let old_set: BTreeSet<&GrantRef<'_>> = old.iter().collect();
    let new_set: BTreeSet<&GrantRef<'_>> = new.iter().collect();
    (
        new_set.difference(&old_set).count(),
        old_set.difference(&new_set).count(),
    )
}
