//! The access impact of a plan: who gains or loses which app (or app role),
//! whose effective security policy changes and how (stricter or looser,
//! field by field), whose admin rights change, and who becomes or stops
//! being super admin. "Before" is what the backend holds now: the app
//! assignments it has materialized (and those made by hand, which win over
//! a rule's), the policies and admin rights of the live objects. "After" is
//! the evaluation of the organization once the plan is applied.
//!
//! Users are walked once, in name order, on both sides; app lists and
//! policy pairs are shared by many users and compared once per pair, so the
//! cost is one pass over the users plus the distinct differences.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use super::{AccessImpact, AdminImpact, AppImpact, AppRoleImpact, PolicyImpact, UserSample};
use crate::access::settings::{self, SettingChange};
use crate::access::EffectiveAccess;
use crate::backend::LiveGrants;
use crate::model::{Name, SecurityPolicySpec};

/// Names shown per line when the impact is summarized.
pub const SAMPLE: usize = 5;

/// Collects a [`UserSample`] from users met in name order.
#[derive(Debug, Default)]
struct Sample<'m> {
    count: usize,
    names: Vec<&'m Name>,
}

impl<'m> Sample<'m> {
    fn add(&mut self, user: &'m Name, all: bool) {
        self.count += 1;
        if all || self.names.len() < SAMPLE {
            self.names.push(user);
        }
    }

    fn done(&self) -> UserSample {
        UserSample {
            count: self.count,
            names: self.names.iter().map(|n| (*n).clone()).collect(),
        }
    }
}

/// How an app list differs: (app, role) added and removed, (app, old, new).
#[derive(Debug, Default, Clone)]
struct AppDiff<'m> {
    added: Vec<(&'m Name, &'m Name)>,
    removed: Vec<(&'m Name, &'m Name)>,
    changed: Vec<(&'m Name, &'m Name, &'m Name)>,
}

impl AppDiff<'_> {
    fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

/// Two (app, role) lists sorted by app, merged.
fn diff_apps<'m>(old: &[(&'m Name, &'m Name)], new: &[(&'m Name, &'m Name)]) -> AppDiff<'m> {
    let mut d = AppDiff::default();
    if old == new {
        return d;
    }
    let (mut i, mut j) = (0, 0);
    loop {
        match (old.get(i), new.get(j)) {
            (None, None) => break,
            (Some(o), None) => {
                d.removed.push(*o);
                i += 1;
            }
            (None, Some(n)) => {
                d.added.push(*n);
                j += 1;
            }
            (Some(o), Some(n)) => match o.0.cmp(n.0) {
                Ordering::Less => {
                    d.removed.push(*o);
                    i += 1;
                }
                Ordering::Greater => {
                    d.added.push(*n);
                    j += 1;
                }
                Ordering::Equal => {
                    if o.1 != n.1 {
                        d.changed.push((o.0, o.1, n.1));
                    }
                    i += 1;
                    j += 1;
                }
            },
        }
    }
    d
}

/// A user's apps with hand-made grants laid over the rule-made ones.
fn overlay<'m>(
    rule_made: impl Iterator<Item = (&'m Name, &'m Name)>,
    manual: Option<&'m BTreeMap<Name, Name>>,
) -> Vec<(&'m Name, &'m Name)> {
    let mut apps: BTreeMap<&'m Name, &'m Name> = rule_made.collect();
    for (app, role) in manual.into_iter().flatten() {
        apps.insert(app, role);
    }
    apps.into_iter().collect()
}

/// What the impact is computed from.
pub(crate) struct Sides<'m, 'p> {
    /// Effective access of the live organization.
    pub before: &'m EffectiveAccess<'m>,
    /// Effective access once the plan is applied.
    pub after: &'m EffectiveAccess<'m>,
    /// The grants the backend holds now.
    pub grants: &'m LiveGrants,
    /// Policy specs by name, live.
    pub policies_before: &'p BTreeMap<&'m Name, &'m SecurityPolicySpec>,
    /// Policy specs by name, after the apply.
    pub policies_after: &'p BTreeMap<&'m Name, &'m SecurityPolicySpec>,
    /// List every user instead of a few per line.
    pub detail: bool,
}

/// A policy move: the policies applying before and after (one, or, when
/// the backend combines them, every matching one and the default).
type PolicyPair<'m> = (Vec<&'m Name>, Vec<&'m Name>);

/// The settings one side's policies make: the one policy's, or their
/// strictest combination.
fn side_settings<'m>(
    names: &[(&'m Name, Option<&'m SecurityPolicySpec>)],
    specs: &BTreeMap<&'m Name, &'m SecurityPolicySpec>,
) -> Option<std::borrow::Cow<'m, SecurityPolicySpec>> {
    let found: Vec<&SecurityPolicySpec> = names
        .iter()
        .filter_map(|(n, s)| s.or_else(|| specs.get(n).copied()))
        .collect();
    match found.as_slice() {
        [] => None,
        [one] => Some(std::borrow::Cow::Borrowed(*one)),
        many => Some(std::borrow::Cow::Owned(crate::access::combine::strictest(many))),
    }
}

/// Per-line accumulators.
#[derive(Default)]
struct Lines<'m> {
    apps: BTreeMap<(&'m Name, &'m Name), (Sample<'m>, Sample<'m>)>,
    roles: BTreeMap<(&'m Name, &'m Name, &'m Name), Sample<'m>>,
    policies: BTreeMap<PolicyPair<'m>, (Sample<'m>, Vec<SettingChange>)>,
    admins: Vec<AdminImpact>,
    affected: usize,
}

/// Computes the impact; see the module doc.
pub(crate) fn impact(s: &Sides<'_, '_>) -> AccessImpact {
    let (b_users, a_users) = (&s.before.model().users, &s.after.model().users);
    // One evaluation on both sides (the plan changes no object): only the
    // materialized apps can differ.
    let same = std::ptr::eq(s.before, s.after);
    let mut lines = Lines::default();
    let mut app_diffs: HashMap<(Option<u32>, Option<u32>), AppDiff<'_>> = HashMap::new();
    let mut setting_diffs: HashMap<PolicyPair<'_>, Vec<SettingChange>> = HashMap::new();
    for (b, a, user) in crate::access::join_users(b_users, a_users) {
        let name = user.name;
        let manual = s.grants.manual.get(user.key);

        // Apps: held now (materialized) versus given after the apply.
        let set = b.and(s.grants.users.get(user.key).copied());
        let list = a.map(|u| s.after.list_of(u));
        let old_apps = || {
            let rule_made = set
                .and_then(|x| s.grants.sets.get(x as usize))
                .into_iter()
                .flatten()
                .map(|g| (&g.app, &g.role));
            overlay(rule_made, if b.is_some() { manual } else { None })
        };
        let new_apps = || {
            let rule_made: Vec<(&Name, &Name)> = list
                .into_iter()
                .flat_map(|l| s.after.list_apps(l).map(|x| (x.app, x.role)))
                .collect();
            overlay(rule_made.into_iter(), if a.is_some() { manual } else { None })
        };
        let own;
        let apps = if manual.is_some() {
            own = diff_apps(&old_apps(), &new_apps());
            &own
        } else {
            app_diffs
                .entry((set, list))
                .or_insert_with(|| diff_apps(&old_apps(), &new_apps()))
        };

        if same && apps.is_empty() {
            continue;
        }
        // Policy: the effective one before and after, and its settings.
        let side_b = b.map(|u| s.before.policies_at(u)).unwrap_or_default();
        let side_a = a.map(|u| s.after.policies_at(u)).unwrap_or_default();
        let pair: PolicyPair<'_> = (
            side_b.iter().map(|(n, _)| *n).collect(),
            side_a.iter().map(|(n, _)| *n).collect(),
        );
        let settings = setting_diffs.entry(pair.clone()).or_insert_with(|| {
            match (
                side_settings(&side_b, s.policies_before),
                side_settings(&side_a, s.policies_after),
            ) {
                (Some(x), Some(y)) => settings::compare(&x, &y),
                _ => Vec::new(),
            }
        });
        let policy_changed = pair.0 != pair.1 || !settings.is_empty();

        // Admin rights.
        let (super_b, mask_b) = b.map_or((false, 0), |u| s.before.admin_mask_at(u));
        let (super_a, mask_a) = a.map_or((false, 0), |u| s.after.admin_mask_at(u));
        let admin_changed = mask_b != mask_a || super_b != super_a;

        if apps.is_empty() && !policy_changed && !admin_changed {
            continue;
        }
        lines.affected += 1;
        for (app, role) in &apps.added {
            lines.apps.entry((app, role)).or_default().0.add(name, s.detail);
        }
        for (app, role) in &apps.removed {
            lines.apps.entry((app, role)).or_default().1.add(name, s.detail);
        }
        for (app, from, to) in &apps.changed {
            lines
                .roles
                .entry((app, from, to))
                .or_default()
                .add(name, s.detail);
        }
        if policy_changed {
            let entry = lines
                .policies
                .entry(pair)
                .or_insert_with(|| (Sample::default(), settings.clone()));
            entry.0.add(name, s.detail);
        }
        if admin_changed {
            lines.admins.push(AdminImpact {
                user: name.clone(),
                gained: crate::access::expand_mask(mask_a & !mask_b),
                lost: crate::access::expand_mask(mask_b & !mask_a),
                super_admin: (super_b != super_a).then_some((super_b, super_a)),
            });
        }
    }
    AccessImpact {
        users_affected: lines.affected,
        apps: lines
            .apps
            .into_iter()
            .map(|((app, role), (gained, lost))| AppImpact {
                app: app.clone(),
                role: role.clone(),
                gained: gained.done(),
                lost: lost.done(),
            })
            .collect(),
        app_roles: lines
            .roles
            .into_iter()
            .map(|((app, before, after), users)| AppRoleImpact {
                app: app.clone(),
                before: before.clone(),
                after: after.clone(),
                users: users.done(),
            })
            .collect(),
        policies: lines
            .policies
            .into_iter()
            .map(|((before, after), (users, settings))| {
                let all = |v: &[&Name]| -> Vec<Name> {
                    if v.len() > 1 {
                        v.iter().map(|n| (*n).clone()).collect()
                    } else {
                        Vec::new()
                    }
                };
                PolicyImpact {
                    before: before.first().map(|n| (*n).clone()),
                    after: after.first().map(|n| (*n).clone()),
                    combined_before: all(&before),
                    combined_after: all(&after),
                    users: users.done(),
                    settings,
                }
            })
            .collect(),
        admins: lines.admins,
        notices: Vec::new(),
        posture: Default::default(),
    }
}
