//! Security-policy resolution: every non-closed user gets exactly one
//! effective policy, the first non-default policy in decision order
//! (priority descending, then name ascending) whose targets match, else the
//! organization's default. Two policies of equal priority that both match a
//! user are a conflict the validator reports (the name that sorts first still
//! wins, so evaluation stays deterministic).

use std::cmp::Reverse;
use std::collections::BTreeSet;

use super::condition::{Compiler, Cond};
use super::groups::{first_common, Groups};
use super::probe::Probe;
use crate::model::{Name, SecurityPolicySpec};

/// One compiled non-default policy.
#[derive(Debug)]
pub(crate) struct Policy<'a> {
    /// The policy's name.
    pub name: &'a Name,
    /// Its priority (0 when not given).
    pub priority: i32,
    /// Targeted users, as a `user_sets` id.
    pub users: Option<u32>,
    /// Targeted groups (members, nested), sorted ids.
    pub groups: Vec<u32>,
    /// Targeting rule.
    pub rule: Option<Cond>,
    /// The policy's settings.
    pub spec: &'a SecurityPolicySpec,
}

/// Which target of a policy matched a user (first in this order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hit {
    /// The user is listed in `targets.users`.
    User,
    /// The user is a member (direct or nested) of this targeted group.
    Group(u32),
    /// The user matches `targets.rule`.
    Rule,
}

impl Policy<'_> {
    /// The first target that matches the user, if any.
    pub fn hit<P: Probe>(&self, p: &P) -> Option<Hit> {
        if self.users.is_some_and(|s| p.listed(s)) {
            return Some(Hit::User);
        }
        if let Some(g) = first_common(p.groups(), &self.groups) {
            return Some(Hit::Group(g));
        }
        let rule = self.rule.as_ref()?;
        rule.eval(&mut |leaf| p.leaf(leaf)).then_some(Hit::Rule)
    }
}

/// The policies of an organization.
#[derive(Debug, Default)]
pub(crate) struct Policies<'a> {
    /// Non-default policies in decision order.
    pub ordered: Vec<Policy<'a>>,
    /// The default policy (the first by name when several claim it).
    pub default: Option<&'a Name>,
    /// The default policy's settings.
    pub default_spec: Option<&'a SecurityPolicySpec>,
    /// True when two non-default policies share a priority.
    pub ties: bool,
}

/// A user's resolved policy: an index into `ordered` and the target that
/// matched, or the default (`None` when there is no default either).
pub(crate) type Resolved = Option<(u32, Hit)>;

impl<'a> Policies<'a> {
    /// Every non-default policy whose targets match the user, in decision
    /// order (what a backend that applies them all at once combines).
    pub fn matching<P: Probe>(&self, p: &P) -> Vec<u32> {
        (0..self.ordered.len() as u32)
            .filter(|i| self.ordered[*i as usize].hit(p).is_some())
            .collect()
    }

    /// The names and settings of `matching` policies and the default.
    pub fn combined(&self, matching: &[u32]) -> Vec<(&'a Name, &'a SecurityPolicySpec)> {
        let mut out: Vec<(&'a Name, &'a SecurityPolicySpec)> = matching
            .iter()
            .filter_map(|i| self.ordered.get(*i as usize))
            .map(|p| (p.name, p.spec))
            .collect();
        if let (Some(n), Some(s)) = (self.default, self.default_spec) {
            out.push((n, s));
        }
        out
    }
    /// Resolves one user: the first matching policy in decision order.
    /// `conflict(a, b)` is called for every pair of equal-priority policies
    /// that both match, whether or not they win (`matched` is scratch space).
    pub fn resolve<P: Probe>(
        &self,
        p: &P,
        matched: &mut Vec<u32>,
        conflict: &mut impl FnMut(u32, u32),
    ) -> Resolved {
        if !self.ties {
            return self
                .ordered
                .iter()
                .enumerate()
                .find_map(|(i, policy)| policy.hit(p).map(|hit| (i as u32, hit)));
        }
        let mut winner: Resolved = None;
        let mut i = 0;
        while let Some(first) = self.ordered.get(i) {
            matched.clear();
            let mut j = i;
            while let Some(policy) = self.ordered.get(j).filter(|q| q.priority == first.priority) {
                if let Some(hit) = policy.hit(p) {
                    winner = winner.or(Some((j as u32, hit)));
                    matched.push(j as u32);
                }
                j += 1;
            }
            for (k, a) in matched.iter().enumerate() {
                for b in &matched[k + 1..] {
                    conflict(*a, *b);
                }
            }
            i = j;
        }
        winner
    }
}

/// Compiles the SecurityPolicies, sorted by name.
pub(crate) fn compile<'a>(
    specs: &[(&'a Name, &'a SecurityPolicySpec)],
    compiler: &mut Compiler,
    groups: &Groups<'a>,
    user_sets: &mut Vec<&'a BTreeSet<Name>>,
) -> Policies<'a> {
    let mut out = Policies::default();
    for (name, spec) in specs {
        if spec.default.get() == Some(&true) {
            match out.default {
                None => {
                    out.default = Some(name);
                    out.default_spec = Some(spec);
                }
                Some(first) => compiler.problems.push(format!(
                    "security policy {:?}: a second default policy; {:?} is used",
                    name.as_str(),
                    first.as_str()
                )),
            }
            continue;
        }
        let owner = format!("security policy {:?}", name.as_str());
        let targets = spec.targets.get();
        let users = targets.and_then(|t| t.users.get()).map(|c| {
            user_sets.push(&c.items);
            (user_sets.len() - 1) as u32
        });
        let rule = targets
            .and_then(|t| t.rule.get())
            .map(|c| compiler.compile(&owner, "targets.rule", c));
        out.ordered.push(Policy {
            name,
            priority: spec.priority.get().copied().unwrap_or(0),
            users,
            groups: groups.ids(
                targets
                    .and_then(|t| t.groups.get())
                    .into_iter()
                    .flat_map(|c| c.iter()),
            ),
            rule,
            spec,
        });
    }
    out.ordered
        .sort_by(|a, b| (Reverse(a.priority), a.name).cmp(&(Reverse(b.priority), b.name)));
    out.ties = out.ordered.windows(2).any(|w| w[0].priority == w[1].priority);
    out
}
