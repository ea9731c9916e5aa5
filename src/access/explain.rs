//! `explain`: why one user has what it has, computed for that user alone
//! (its groups from one pass over the groups, then every rule, policy and
//! binding once), with the same decisions as the full evaluation: the
//! probe differs, the rule order, tie-break, targets and bindings do not.

use std::collections::BTreeMap;

use serde::Serialize;

use super::admin::Reach;
use super::effective::{policy_choice, rights, PolicySlot};
use super::model::AccessModel;
use super::probe::{Probe, RowProbe};
use super::rules::Exclusion;
use super::types::{AdminRights, PolicyChoice, Via};
use crate::model::{Name, UserStatus};

/// Why a user holds, or does not hold, what it does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserExplanation {
    /// The user.
    pub user: Name,
    /// The user's status; a closed account gets nothing.
    pub status: UserStatus,
    /// The user's groups, direct and nested, by name.
    pub groups: Vec<Name>,
    /// Apps held, by app name, with the winning rule and the rules that lost.
    pub apps: Vec<AppExplanation>,
    /// Rules whose condition matched but that exclude the user.
    pub excluded: Vec<ExcludedRule>,
    /// Rules whose condition did not match, with the first failing condition.
    pub unmatched: Vec<UnmatchedRule>,
    /// The effective security policy and why.
    pub policy: PolicyExplanation,
    /// Admin permissions per module and action, with their bindings.
    pub admin: AdminRights,
}

/// One app a user holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppExplanation {
    /// The app.
    pub app: Name,
    /// The app role given.
    pub role: Name,
    /// The rule that gave it.
    pub rule: Name,
    /// That rule's priority.
    pub priority: i32,
    /// Other grants of this app to this user that lost, in decision order.
    pub losers: Vec<LosingGrant>,
}

/// A grant of an app that matched but lost to the winning rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LosingGrant {
    /// The losing rule.
    pub rule: Name,
    /// The role it would have given.
    pub role: Name,
    /// Its priority.
    pub priority: i32,
    /// Why it lost.
    pub reason: LossReason,
}

/// Why a matching grant lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum LossReason {
    /// The winning rule has a higher priority.
    LowerPriority,
    /// Same priority: the winning rule's name sorts first.
    TieBreak,
    /// The winning rule grants this app twice; the role that sorts first wins.
    SameRule,
}

/// A rule that matched but excludes the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExcludedRule {
    /// The rule.
    pub rule: Name,
    /// Its priority.
    pub priority: i32,
    /// Listed in `exclude.users` (direct), or through an excluded group.
    pub via: Via,
}

/// A rule whose condition did not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnmatchedRule {
    /// The rule.
    pub rule: Name,
    /// Its priority.
    pub priority: i32,
    /// The first condition that failed.
    pub failed: Option<FailedCondition>,
}

/// The first condition of a rule that did not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedCondition {
    /// Where in the rule, e.g. `rule.all[1]`.
    pub path: String,
    /// The condition as written, or why it is invalid.
    pub condition: String,
    /// The user's value of the field compared (`None`: absent).
    pub actual: Option<String>,
}

/// A policy named with its priority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRef {
    /// The policy.
    pub policy: Name,
    /// Its priority.
    pub priority: i32,
}

/// How the effective policy was chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyExplanation {
    /// The effective policy and which target matched.
    pub effective: Option<PolicyChoice>,
    /// Its priority (`None` for the default).
    pub priority: Option<i32>,
    /// Policies of higher priority whose targets do not match the user.
    pub higher_not_matched: Vec<PolicyRef>,
    /// Policies that also match but lose: lower priority, or equal priority
    /// (a conflict, see `conflicts`).
    pub also_matched: Vec<PolicyRef>,
    /// Equal-priority policies that also match: a validation error.
    pub conflicts: Vec<PolicyRef>,
    /// When the backend applies every matching policy at once (Kanidm):
    /// each of them and the default, whose settings combine at their
    /// strictest; empty otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub combined: Vec<PolicyRef>,
}

impl<'a> AccessModel<'a> {
    /// Explains one user, without evaluating anyone else; `None` for an unknown user.
    pub fn explain_user(&self, name: &str) -> Option<UserExplanation> {
        let (_, user) = self.user(name)?;
        let p = RowProbe::new(self, user);
        let groups = p
            .groups()
            .iter()
            .filter_map(|g| self.groups.name(*g).cloned())
            .collect();
        let mut out = UserExplanation {
            user: user.name.clone(),
            status: user.status(),
            groups,
            apps: Vec::new(),
            excluded: Vec::new(),
            unmatched: Vec::new(),
            policy: PolicyExplanation {
                effective: None,
                priority: None,
                higher_not_matched: Vec::new(),
                also_matched: Vec::new(),
                conflicts: Vec::new(),
                combined: Vec::new(),
            },
            admin: AdminRights::default(),
        };
        if user.closed() {
            return Some(out);
        }
        self.explain_apps(&p, &mut out);
        self.explain_policy(&p, &mut out.policy);
        let reached: Vec<(u32, Reach)> = self
            .bindings
            .iter()
            .enumerate()
            .filter_map(|(i, b)| b.reach(&p).map(|r| (i as u32, r)))
            .collect();
        out.admin = rights(self, self.is_super_admin(name), &reached);
        Some(out)
    }

    fn explain_apps(&self, p: &RowProbe<'_, 'a>, out: &mut UserExplanation) {
        // app id → (winning rule index, app explanation)
        let mut won: BTreeMap<u32, (usize, AppExplanation)> = BTreeMap::new();
        for (ri, rule) in self.rules.iter().enumerate() {
            if !rule.matches(p) {
                let failed = rule
                    .cond
                    .first_failure("rule", &mut |leaf| p.leaf(leaf))
                    .map(|f| {
                        let leaf = f.leaf.and_then(|l| self.leaves.get(l as usize));
                        FailedCondition {
                            path: f.path,
                            condition: leaf.map(|l| l.text.clone()).or(f.invalid).unwrap_or_default(),
                            actual: f.leaf.and_then(|l| p.value_of(l)).filter(|v| !v.is_empty()),
                        }
                    });
                out.unmatched.push(UnmatchedRule {
                    rule: rule.name.clone(),
                    priority: rule.priority,
                    failed,
                });
                continue;
            }
            if let Some(ex) = rule.excluded(p) {
                let via = match ex {
                    Exclusion::User => Some(Via::Direct),
                    Exclusion::Group(g) => self.groups.name(g).map(|g| Via::Group { group: g.clone() }),
                };
                if let Some(via) = via {
                    out.excluded.push(ExcludedRule {
                        rule: rule.name.clone(),
                        priority: rule.priority,
                        via,
                    });
                }
                continue;
            }
            for &(app, role) in &rule.grants {
                let (Some(app_name), Some(role_name)) = (self.app(app), self.app_role(role)) else {
                    continue;
                };
                match won.get_mut(&app) {
                    None => {
                        let e = AppExplanation {
                            app: app_name.clone(),
                            role: role_name.clone(),
                            rule: rule.name.clone(),
                            priority: rule.priority,
                            losers: Vec::new(),
                        };
                        won.insert(app, (ri, e));
                    }
                    Some((winner, e)) => {
                        let reason = if *winner == ri {
                            LossReason::SameRule
                        } else if e.priority > rule.priority {
                            LossReason::LowerPriority
                        } else {
                            LossReason::TieBreak
                        };
                        e.losers.push(LosingGrant {
                            rule: rule.name.clone(),
                            role: role_name.clone(),
                            priority: rule.priority,
                            reason,
                        });
                    }
                }
            }
        }
        out.apps = won.into_values().map(|(_, e)| e).collect();
    }

    fn explain_policy(&self, p: &RowProbe<'_, 'a>, out: &mut PolicyExplanation) {
        let mut matched = Vec::new();
        let resolved = self.policies.resolve(p, &mut matched, &mut |_, _| {});
        let slot = match resolved {
            Some((i, hit)) => PolicySlot::Policy(i, hit),
            None if self.policies.default.is_some() => PolicySlot::Default,
            None => PolicySlot::None,
        };
        out.effective = policy_choice(self, slot);
        let winner = resolved.and_then(|(i, _)| self.policies.ordered.get(i as usize).map(|w| (i, w)));
        out.priority = winner.map(|(_, w)| w.priority);
        if self.combination == crate::backend::PolicyCombination::Strictest {
            // Every matching policy applies: none wins, none loses.
            let matching = self.policies.matching(p);
            out.combined = self
                .policies
                .combined(&matching)
                .into_iter()
                .map(|(name, spec)| PolicyRef {
                    policy: name.clone(),
                    priority: spec.priority.get().copied().unwrap_or(0),
                })
                .collect();
            out.higher_not_matched = self
                .policies
                .ordered
                .iter()
                .enumerate()
                .filter(|(i, _)| !matching.contains(&(*i as u32)))
                .map(|(_, q)| PolicyRef {
                    policy: q.name.clone(),
                    priority: q.priority,
                })
                .collect();
            return;
        }
        for (i, policy) in self.policies.ordered.iter().enumerate() {
            let r = PolicyRef {
                policy: policy.name.clone(),
                priority: policy.priority,
            };
            let hit = policy.hit(p).is_some();
            match winner {
                Some((w, _)) if i as u32 == w => {}
                Some((_, w)) if hit => {
                    if policy.priority == w.priority {
                        out.conflicts.push(r.clone());
                    }
                    out.also_matched.push(r);
                }
                Some((_, w)) if policy.priority > w.priority => out.higher_not_matched.push(r),
                None if !hit => out.higher_not_matched.push(r),
                _ => {}
            }
        }
    }
}
