//! The full evaluation. First the index (`index.rs`) and, per rule, the set
//! of users it applies to as a bit set. Then users are walked in parallel
//! chunks (`std::thread::scope`):
//! - **apps**: a user's apps depend only on which rules apply to it, so each
//!   distinct set of applying rules (its "signature"; about a thousand among
//!   100,000 synthetic users) is resolved once, walking the rules in decision
//!   order and keeping each app's first grant, and users share the result;
//! - **policy**: resolved per user through the index probe;
//! - **admin**: the bindings that reach the user, for the few users reached.
//!
//! Output is compact (ids, shared app lists); [`EffectiveAccess`] turns it
//! back into names on demand.

use std::collections::BTreeMap;
use std::ops::Range;

use super::admin::Reach;
use super::bits::{ones, Bits, Transposed};
use super::columns::FxMap;
use super::effective::{AdminSlot, AppLists, AppSlot, EffectiveAccess, PolicySlot};
use super::index::{Index, IndexProbe};
use super::model::AccessModel;
use super::types::PolicyConflict;

/// Below this many users the evaluation stays on the calling thread.
const PARALLEL_MIN_USERS: usize = if cfg!(test) { 64 } else { 4096 };

/// What one chunk of users produced.
#[derive(Default)]
struct ChunkOut {
    /// The chunk's distinct app lists, keyed by rule signature (list 0: empty).
    lists: AppLists,
    signatures: Vec<Box<[u64]>>,
    /// Per user: its list in `lists`.
    user_list: Vec<u32>,
    policy: Vec<PolicySlot>,
    /// Per user, every matching policy (only when policies combine).
    policy_sets: Vec<Vec<u32>>,
    admin: Vec<(u32, AdminSlot)>,
    /// `(policy a, policy b)` → first user (by id) both match.
    conflicts: BTreeMap<(u32, u32), u32>,
}

/// Which parts of the evaluation to compute.
#[derive(Clone, Copy)]
pub(crate) struct Parts {
    /// App assignments.
    pub apps: bool,
    /// Admin rights.
    pub admin: bool,
}

impl<'a> AccessModel<'a> {
    /// Evaluates every user: apps, policy and admin rights, and the policy
    /// conflicts found on the way.
    pub fn evaluate(&self) -> EffectiveAccess<'_> {
        self.evaluate_parts(Parts {
            apps: true,
            admin: true,
        })
    }

    /// Every pair of equal-priority policies that both match some user, with
    /// the first such user by name (evaluates policies only).
    pub fn policy_conflicts(&self) -> Vec<PolicyConflict> {
        self.evaluate_parts(Parts {
            apps: false,
            admin: false,
        })
        .policy_conflicts()
        .to_vec()
    }

    /// Evaluates every user for the parts asked (policies always).
    pub(crate) fn evaluate_parts(&self, parts: Parts) -> EffectiveAccess<'_> {
        let index = Index::build(self);
        let rule_bits = if parts.apps {
            index.rule_bits(self)
        } else {
            Vec::new()
        };
        let n = self.users.len();
        let threads = if n < PARALLEL_MIN_USERS {
            1
        } else {
            std::thread::available_parallelism()
                .map_or(1, |t| t.get())
                .clamp(1, 16)
        };
        let per = n.div_ceil(threads).max(1);
        let ranges: Vec<Range<u32>> = (0..threads)
            .map(|t| ((t * per).min(n) as u32)..(((t + 1) * per).min(n) as u32))
            .collect();
        let outs: Vec<ChunkOut> = if threads == 1 {
            ranges
                .into_iter()
                .map(|r| chunk(self, &index, &rule_bits, r, parts))
                .collect()
        } else {
            let (index, rule_bits) = (&index, &rule_bits);
            std::thread::scope(|s| {
                let handles: Vec<_> = ranges
                    .into_iter()
                    .map(|r| s.spawn(move || chunk(self, index, rule_bits, r, parts)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                    .collect()
            })
        };
        merge(self, outs)
    }
}

/// Evaluates users `range`.
fn chunk(
    model: &AccessModel<'_>,
    index: &Index<'_>,
    rule_bits: &[Bits],
    range: Range<u32>,
    parts: Parts,
) -> ChunkOut {
    let mut out = ChunkOut {
        lists: AppLists::default(),
        user_list: Vec::with_capacity(range.len()),
        policy: Vec::with_capacity(range.len()),
        ..ChunkOut::default()
    };
    out.signatures.push(Box::default());
    let mut known: FxMap<Box<[u64]>, u32> = FxMap::default();
    let mut applying = Transposed::new(rule_bits);
    // stamp[app] == mark: the list being built already has the app.
    let mut stamp: Vec<u32> = vec![0; model.apps.len()];
    let mut mark = 0u32;
    let mut matched: Vec<u32> = Vec::new();
    let mut reached: Vec<(u32, Reach)> = Vec::new();
    let strictest = model.combination == crate::backend::PolicyCombination::Strictest;
    for u in range {
        if index.closed(u) {
            out.user_list.push(0);
            out.policy.push(PolicySlot::None);
            if strictest {
                out.policy_sets.push(Vec::new());
            }
            continue;
        }
        let p = IndexProbe {
            model,
            index,
            user: u,
        };
        let list = if parts.apps {
            let row = applying.row(u);
            match known.get(row) {
                Some(list) => *list,
                None => {
                    mark += 1;
                    let mut slots = Vec::new();
                    for ri in ones(row) {
                        let Some(rule) = model.rules.get(ri as usize) else {
                            continue;
                        };
                        for &(app, _) in &rule.grants {
                            if let Some(s) = stamp.get_mut(app as usize).filter(|s| **s != mark) {
                                *s = mark;
                                slots.push(AppSlot { app, rule: ri });
                            }
                        }
                    }
                    let list = out.lists.push(slots);
                    known.insert(row.into(), list);
                    out.signatures.push(row.into());
                    list
                }
            }
        } else {
            0
        };
        out.user_list.push(list);
        let resolved = model.policies.resolve(&p, &mut matched, &mut |a, b| {
            out.conflicts.entry((a, b)).or_insert(u);
        });
        out.policy.push(match resolved {
            Some((i, hit)) => PolicySlot::Policy(i, hit),
            None if model.policies.default.is_some() => PolicySlot::Default,
            None => PolicySlot::None,
        });
        if strictest {
            out.policy_sets.push(model.policies.matching(&p));
        }
        if parts.admin {
            reached.clear();
            for (bi, binding) in model.bindings.iter().enumerate() {
                if let Some(reach) = binding.reach(&p) {
                    reached.push((bi as u32, reach));
                }
            }
            let super_admin = index.super_admin(u);
            if super_admin || !reached.is_empty() {
                out.admin.push((
                    u,
                    AdminSlot {
                        super_admin,
                        bindings: reached.clone(),
                    },
                ));
            }
        }
    }
    out
}

/// Joins the chunks (in user order) into one result, sharing app lists of
/// equal signatures across chunks.
fn merge<'m>(model: &'m AccessModel<'m>, outs: Vec<ChunkOut>) -> EffectiveAccess<'m> {
    let n = model.users.len();
    let mut lists = AppLists::default();
    let mut known: FxMap<Box<[u64]>, u32> = FxMap::default();
    let mut user_list = Vec::with_capacity(n);
    let mut policy = Vec::with_capacity(n);
    let mut policy_sets = Vec::new();
    let mut admin = Vec::new();
    let mut conflicts: BTreeMap<(u32, u32), u32> = BTreeMap::new();
    for out in outs {
        let remap: Vec<u32> = out
            .signatures
            .into_iter()
            .enumerate()
            .map(|(local, signature)| {
                if local == 0 {
                    return 0;
                }
                *known
                    .entry(signature)
                    .or_insert_with(|| lists.push(out.lists.get(local as u32).to_vec()))
            })
            .collect();
        user_list.extend(
            out.user_list
                .iter()
                .map(|l| remap.get(*l as usize).copied().unwrap_or(0)),
        );
        policy.extend(out.policy);
        policy_sets.extend(out.policy_sets);
        admin.extend(out.admin);
        for (pair, u) in out.conflicts {
            let e = conflicts.entry(pair).or_insert(u);
            *e = (*e).min(u);
        }
    }
    let mut conflicts: Vec<PolicyConflict> = conflicts
        .into_iter()
        .filter_map(|((a, b), u)| {
            let (a, b) = (
                model.policies.ordered.get(a as usize)?,
                model.policies.ordered.get(b as usize)?,
            );
            Some(PolicyConflict {
                first: a.name.clone(),
                second: b.name.clone(),
                priority: a.priority,
                example_user: model.users.get(u as usize)?.name.clone(),
            })
        })
        .collect();
    conflicts.sort();
    EffectiveAccess::new(model, lists, user_list, policy, admin, conflicts).with_policy_sets(policy_sets)
}
