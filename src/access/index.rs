//! The org-wide index the full evaluation reads, built in parallel:
//! - every user's groups (direct and nested) as one flat sorted list per user;
//! - the columns of the fields conditions read, and who is closed
//!   (`columns.rs`), with each leaf's result per distinct value;
//! - every listed user set as sorted user ids;
//! - per rule, the set of users it applies to (condition and exclusions),
//!   computed a bit set at a time.

use super::bits::{self, Bits};
use super::columns::{columns, Column, NONE};
use super::condition::Subject;
use super::model::AccessModel;
use super::probe::Probe;

/// Rows of ids, one per user, stored flat.
#[derive(Debug, Default)]
pub(crate) struct Rows {
    offsets: Vec<usize>,
    items: Vec<u32>,
}

impl Rows {
    /// Row `i` (empty when out of range).
    pub fn row(&self, i: u32) -> &[u32] {
        let i = i as usize;
        match (self.offsets.get(i), self.offsets.get(i + 1)) {
            (Some(&a), Some(&b)) => self.items.get(a..b).unwrap_or(&[]),
            _ => &[],
        }
    }
}

/// Everything the full evaluation looks up per user.
#[derive(Debug)]
pub(crate) struct Index<'a> {
    groups: Rows,
    columns: Vec<Column<'a>>,
    sets: Vec<Vec<u32>>,
    /// Per leaf: its positive result per distinct value (columns) or per group.
    tables: Vec<Vec<bool>>,
    /// Per user: a closed account.
    closed: Vec<bool>,
    /// The super admin's id.
    super_admin: Option<u32>,
}

impl<'a> Index<'a> {
    /// Builds the index of `model`: columns on worker threads, groups here.
    pub fn build(model: &AccessModel<'a>) -> Self {
        let (groups, (columns, closed)) = std::thread::scope(|s| {
            let columns = s.spawn(|| columns(model));
            let groups = user_groups(model);
            let columns = columns.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
            (groups, columns)
        });
        let sets = model
            .user_sets
            .iter()
            .map(|set| {
                let mut ids: Vec<u32> = set
                    .iter()
                    .filter_map(|n| model.user(n.as_str()).map(|(i, _)| i))
                    .collect();
                ids.sort_unstable();
                ids
            })
            .collect();
        let tables = model
            .leaves
            .iter()
            .map(|leaf| match leaf.subject {
                Subject::Column(c) => match columns.get(c as usize) {
                    Some(Column::Interned { distinct, .. }) => {
                        distinct.iter().map(|v| leaf.passes(v)).collect()
                    }
                    _ => Vec::new(),
                },
                Subject::Groups => model
                    .groups
                    .names
                    .iter()
                    .map(|g| leaf.passes(g.as_str()))
                    .collect(),
            })
            .collect();
        Index {
            groups,
            columns,
            sets,
            tables,
            closed,
            super_admin: model.super_admin_id(),
        }
    }

    /// Whether user `u` is closed (closed accounts get nothing).
    pub fn closed(&self, u: u32) -> bool {
        self.closed.get(u as usize).copied().unwrap_or(true)
    }

    /// Whether user `u` is the organization's super admin.
    pub fn super_admin(&self, u: u32) -> bool {
        self.super_admin == Some(u)
    }

    /// Per rule (in decision order): the users it applies to, that is whose
    /// condition holds and who are not excluded.
    pub fn rule_bits(&self, model: &AccessModel<'a>) -> Vec<Bits> {
        let n = model.users.len();
        let ids: Vec<u32> = (0..model.leaves.len() as u32).collect();
        let leaves = par_map(&ids, |&id| {
            Bits::from_fn(n, |user| {
                IndexProbe {
                    model,
                    index: self,
                    user,
                }
                .leaf(id)
            })
        });
        // Members (direct and nested) of every excluded group.
        let mut excluded: Vec<Option<Bits>> = vec![None; model.groups.names.len()];
        for rule in &model.rules {
            for &g in &rule.exclude_groups {
                if let Some(slot) = excluded.get_mut(g as usize) {
                    slot.get_or_insert_with(|| Bits::zeros(n));
                }
            }
        }
        if excluded.iter().any(Option::is_some) {
            for u in 0..n as u32 {
                for &g in self.groups.row(u) {
                    if let Some(Some(b)) = excluded.get_mut(g as usize) {
                        b.set(u);
                    }
                }
            }
        }
        model
            .rules
            .iter()
            .map(|rule| {
                let mut b = bits::eval(&rule.cond, &leaves, n);
                for &u in rule
                    .exclude_users
                    .and_then(|s| self.sets.get(s as usize))
                    .into_iter()
                    .flatten()
                {
                    b.clear(u);
                }
                for &g in &rule.exclude_groups {
                    if let Some(Some(members)) = excluded.get(g as usize) {
                        b.and_not(members);
                    }
                }
                b
            })
            .collect()
    }
}

/// Maps `f` over `items` on up to `available_parallelism` scoped threads,
/// keeping the order.
pub(crate) fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .min(items.len());
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let f = &f;
    let parts: Vec<Vec<(usize, R)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    items
                        .iter()
                        .enumerate()
                        .skip(t)
                        .step_by(threads)
                        .map(|(i, x)| (i, f(x)))
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let mut all: Vec<(usize, R)> = parts.into_iter().flatten().collect();
    all.sort_unstable_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, r)| r).collect()
}

/// Every user's groups, direct and nested.
fn user_groups(model: &AccessModel<'_>) -> Rows {
    let mut direct: Vec<(u32, u32)> = Vec::new();
    for (g, members) in model.groups.members.iter().enumerate() {
        for name in members.iter().flat_map(|m| m.iter()) {
            if let Some((u, _)) = model.user(name.as_str()) {
                direct.push((u, g as u32));
            }
        }
    }
    direct.sort_unstable();
    let mut rows = Rows {
        offsets: Vec::with_capacity(model.users.len() + 1),
        items: Vec::with_capacity(direct.len()),
    };
    rows.offsets.push(0);
    let mut scratch: Vec<u32> = Vec::new();
    let mut next = 0;
    for u in 0..model.users.len() as u32 {
        scratch.clear();
        while let Some(&(du, g)) = direct.get(next) {
            if du != u {
                break;
            }
            scratch.push(g);
            next += 1;
        }
        if !scratch.is_empty() {
            model.groups.close(&scratch, &mut rows.items);
        }
        rows.offsets.push(rows.items.len());
    }
    rows
}

/// Answers a probe for user `user` from the index.
pub(crate) struct IndexProbe<'i, 'm, 'a> {
    /// The model.
    pub model: &'m AccessModel<'a>,
    /// The index.
    pub index: &'i Index<'a>,
    /// The user's id.
    pub user: u32,
}

impl Probe for IndexProbe<'_, '_, '_> {
    fn groups(&self) -> &[u32] {
        self.index.groups.row(self.user)
    }

    fn listed(&self, set: u32) -> bool {
        self.index
            .sets
            .get(set as usize)
            .is_some_and(|ids| ids.binary_search(&self.user).is_ok())
    }

    fn leaf(&self, id: u32) -> bool {
        let (Some(leaf), Some(table)) = (
            self.model.leaves.get(id as usize),
            self.index.tables.get(id as usize),
        ) else {
            return false;
        };
        let u = self.user as usize;
        let hit = match leaf.subject {
            Subject::Column(c) => match self.index.columns.get(c as usize) {
                Some(Column::Interned { values, .. }) => {
                    let v = values.get(u).copied().unwrap_or(NONE);
                    v != NONE && table.get(v as usize).copied().unwrap_or(false)
                }
                Some(Column::Direct(values)) => {
                    values.get(u).copied().flatten().is_some_and(|v| leaf.passes(v))
                }
                None => false,
            },
            Subject::Groups => self
                .groups()
                .iter()
                .any(|g| table.get(*g as usize).copied().unwrap_or(false)),
        };
        hit != leaf.negated
    }
}
