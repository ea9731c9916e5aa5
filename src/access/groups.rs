//! The group graph: groups by id (their names in sorted order), direct user
//! members, and for every group its ancestors (itself and every group that
//! contains it, directly or through nesting). A user's groups are the union
//! of the ancestors of the groups that list the user.
//!
//! Ancestors are found by a breadth-first walk over "is nested in" edges with
//! a visited mark, so a membership cycle (impossible after validation, but
//! possible in a live snapshot) ends the walk instead of hanging it.

use std::collections::BTreeSet;

use crate::model::{GroupSpec, Name};

/// Groups of one organization, ready for membership questions.
#[derive(Debug, Default)]
pub(crate) struct Groups<'a> {
    /// Group names, sorted; a group's id is its position.
    pub names: Vec<&'a Name>,
    /// Direct user members per group.
    pub members: Vec<Option<&'a BTreeSet<Name>>>,
    /// Per group: itself and every group containing it, sorted.
    pub ancestors: Vec<Vec<u32>>,
}

impl<'a> Groups<'a> {
    /// Builds the graph from `(name, spec)` pairs sorted by name.
    pub fn build(specs: &[(&'a Name, &'a GroupSpec)]) -> Self {
        let names: Vec<&'a Name> = specs.iter().map(|(n, _)| *n).collect();
        let mut members = Vec::with_capacity(specs.len());
        // parents[g]: groups that list g as a nested group.
        let mut parents: Vec<Vec<u32>> = vec![Vec::new(); specs.len()];
        for (id, (_, spec)) in specs.iter().enumerate() {
            let m = spec.members.get();
            members.push(m.and_then(|m| m.users.get()).map(|c| &c.items));
            let nested = m.and_then(|m| m.groups.get()).map(|c| &c.items);
            for child in nested.into_iter().flatten() {
                if let Some(child) = find(&names, child.as_str()) {
                    parents[child as usize].push(id as u32);
                }
            }
        }
        let mut ancestors = Vec::with_capacity(specs.len());
        let mut seen: Vec<u32> = vec![u32::MAX; specs.len()];
        let mut queue: Vec<u32> = Vec::new();
        for start in 0..specs.len() as u32 {
            queue.clear();
            queue.push(start);
            seen[start as usize] = start;
            let mut next = 0;
            while let Some(&g) = queue.get(next) {
                next += 1;
                for &p in &parents[g as usize] {
                    if seen[p as usize] != start {
                        seen[p as usize] = start;
                        queue.push(p);
                    }
                }
            }
            let mut found = queue.clone();
            found.sort_unstable();
            ancestors.push(found);
        }
        Groups {
            names,
            members,
            ancestors,
        }
    }

    /// The id of the group called `name`.
    pub fn id(&self, name: &str) -> Option<u32> {
        find(&self.names, name)
    }

    /// Ids of the named groups that exist, sorted and deduplicated.
    pub fn ids<'n>(&self, names: impl IntoIterator<Item = &'n Name>) -> Vec<u32> {
        let mut ids: Vec<u32> = names.into_iter().filter_map(|n| self.id(n.as_str())).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Groups that list `user` directly, in id order.
    pub fn direct_of(&self, user: &str) -> Vec<u32> {
        (0..self.names.len() as u32)
            .filter(|&g| self.members[g as usize].is_some_and(|m| m.contains(user)))
            .collect()
    }

    /// Every group of `user`, direct and nested, sorted.
    pub fn of_user(&self, user: &str) -> Vec<u32> {
        let mut out = Vec::new();
        self.close(&self.direct_of(user), &mut out);
        out
    }

    /// Appends to `out` the ancestors of every group of `direct`, sorted and deduplicated.
    pub fn close(&self, direct: &[u32], out: &mut Vec<u32>) {
        let start = out.len();
        for &g in direct {
            if let Some(a) = self.ancestors.get(g as usize) {
                out.extend_from_slice(a);
            }
        }
        out[start..].sort_unstable();
        let mut keep = start;
        for i in start..out.len() {
            if keep == start || out[i] != out[keep - 1] {
                out[keep] = out[i];
                keep += 1;
            }
        }
        out.truncate(keep);
    }

    /// The name of group `id`.
    pub fn name(&self, id: u32) -> Option<&'a Name> {
        self.names.get(id as usize).copied()
    }
}

/// Binary search of a name in a sorted list of names.
pub(crate) fn find(names: &[&Name], name: &str) -> Option<u32> {
    names
        .binary_search_by(|n| n.as_str().cmp(name))
        .ok()
        .map(|i| i as u32)
}

/// The first id present in both sorted lists.
pub(crate) fn first_common(a: &[u32], b: &[u32]) -> Option<u32> {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => return Some(a[i]),
        }
    }
    None
}
