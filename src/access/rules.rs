//! AppAssignment rules compiled for evaluation: priority, condition,
//! exclusions and the (app, app role) grants, and the per-user decision of
//! which rule gives which app.

use std::cmp::Reverse;

use super::condition::{Compiler, Cond};
use super::groups::{first_common, Groups};
use super::probe::Probe;
use crate::model::{AppAssignmentSpec, Name};

/// One compiled AppAssignment.
#[derive(Debug)]
pub(crate) struct Rule<'a> {
    /// The rule's name.
    pub name: &'a Name,
    /// Its priority (0 when not given).
    pub priority: i32,
    /// Which users match.
    pub cond: Cond,
    /// Excluded users, as a `user_sets` id.
    pub exclude_users: Option<u32>,
    /// Excluded groups (members, nested), sorted ids.
    pub exclude_groups: Vec<u32>,
    /// `(app id, app role id)` in app order, then role order.
    pub grants: Vec<(u32, u32)>,
}

/// Why a matching user is excluded from a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exclusion {
    /// The user is listed in `exclude.users`.
    User,
    /// The user is a member (direct or nested) of this excluded group.
    Group(u32),
}

impl Rule<'_> {
    /// Whether the rule's condition holds for the user.
    pub fn matches<P: Probe>(&self, p: &P) -> bool {
        self.cond.eval(&mut |leaf| p.leaf(leaf))
    }

    /// Whether (and why) the user is excluded from the rule.
    pub fn excluded<P: Probe>(&self, p: &P) -> Option<Exclusion> {
        if self.exclude_users.is_some_and(|s| p.listed(s)) {
            return Some(Exclusion::User);
        }
        first_common(p.groups(), &self.exclude_groups).map(Exclusion::Group)
    }
}

/// Compiles the AppAssignments, sorted by name, into rules in decision
/// order: priority descending, then name ascending (the tie-break).
pub(crate) fn compile<'a>(
    specs: &[(&'a Name, &'a AppAssignmentSpec)],
    compiler: &mut Compiler,
    groups: &Groups<'a>,
    user_sets: &mut Vec<&'a std::collections::BTreeSet<Name>>,
    apps: &[&'a Name],
    app_roles: &[&'a Name],
) -> Vec<Rule<'a>> {
    let mut rules: Vec<Rule<'a>> = specs
        .iter()
        .map(|(name, spec)| {
            let owner = format!("app assignment {:?}", name.as_str());
            let cond = match spec.rule.get() {
                Some(c) => compiler.compile(&owner, "rule", c),
                None => {
                    compiler
                        .problems
                        .push(format!("{owner}: no `rule`; it matches no one"));
                    Cond::Never("the rule has no condition".into())
                }
            };
            let exclude = spec.exclude.get();
            let exclude_users = exclude.and_then(|m| m.users.get()).map(|c| {
                user_sets.push(&c.items);
                (user_sets.len() - 1) as u32
            });
            let exclude_groups = groups.ids(
                exclude
                    .and_then(|m| m.groups.get())
                    .into_iter()
                    .flat_map(|c| c.iter()),
            );
            let grants = spec
                .assign
                .get()
                .into_iter()
                .flat_map(|c| c.iter())
                .filter_map(|g| {
                    let app = super::groups::find(apps, g.app.as_str())?;
                    let role = super::groups::find(app_roles, g.role.as_str())?;
                    Some((app, role))
                })
                .collect();
            Rule {
                name,
                priority: spec.priority.get().copied().unwrap_or(0),
                cond,
                exclude_users,
                exclude_groups,
                grants,
            }
        })
        .collect();
    rules.sort_by(|a, b| (Reverse(a.priority), a.name).cmp(&(Reverse(b.priority), b.name)));
    rules
}
