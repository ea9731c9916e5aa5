//! Organization-wide checks: one policy for everyone, apps and rules that
//! reach (nearly) everyone, the number of full admins, a super admin
//! without delegates, and SSO apps whose users are not held to SSO. Users
//! are counted once per shared app list (users with the same applying rules
//! share one), so the cost is one pass over the users.

use std::collections::{BTreeMap, BTreeSet};

use super::facts::Facts;
use super::{finding, obj, CheckId, Finding, ObjectRef};
use crate::model::{AppType, Kind, Name, UserStatus};
use crate::plan::{UserSample, IMPACT_SAMPLE};

pub(super) fn check(f: &Facts<'_, '_>, out: &mut Vec<Finding>) {
    if let Some(org) = f.organization_ref() {
        single_policy(f, &org, out);
        admins(f, &org, out);
    }
    everyone(f, out);
    sso_apps(f, out);
}

/// Users met in name order: the count and the first few names.
#[derive(Default)]
struct Sample<'m> {
    count: usize,
    names: Vec<&'m Name>,
}

impl<'m> Sample<'m> {
    fn add(&mut self, name: &'m Name) {
        self.count += 1;
        if self.names.len() < IMPACT_SAMPLE {
            self.names.push(name);
        }
    }

    fn done(&self) -> UserSample {
        UserSample {
            count: self.count,
            names: self.names.iter().map(|n| (*n).clone()).collect(),
        }
    }
}

fn single_policy(f: &Facts<'_, '_>, org: &ObjectRef, out: &mut Vec<Finding>) {
    if f.policies.len() > 1 || f.active_admins().next().is_none() {
        return;
    }
    let mut sensitive: BTreeSet<&Name> = f
        .settings
        .sensitive_groups
        .iter()
        .filter(|g| f.groups.contains_key(g))
        .collect();
    for b in f.bindings.values() {
        if b.role.as_ref().is_some_and(|r| r.as_str() != "member") {
            let groups = b.subjects.get().and_then(|s| s.groups.get());
            sensitive.extend(groups.into_iter().flat_map(|g| g.iter()));
        }
    }
    if sensitive.is_empty() {
        return;
    }
    let names: Vec<String> = sensitive.iter().map(|g| format!("{:?}", g.as_str())).collect();
    let (cause, what) = match f.policies.keys().next() {
        Some(p) => (
            obj(Kind::SecurityPolicy, p),
            format!("one security policy ({:?})", p.as_str()),
        ),
        None => (org.clone(), "no security policy".to_string()),
    };
    let mut x = finding(
        CheckId::OrgSinglePolicy,
        org.clone(),
        cause,
        "",
        format!(
            "the organization has {what} for everyone, admins and sensitive groups ({}) included",
            names.join(", ")
        ),
    );
    x.objects.extend(sensitive.iter().map(|g| obj(Kind::Group, g)));
    out.push(x);
}

fn admins(f: &Facts<'_, '_>, org: &ObjectRef, out: &mut Vec<Finding>) {
    let active: Vec<_> = f.active_admins().collect();
    let full: Vec<_> = active.iter().filter(|a| a.full).collect();
    if full.len() > f.settings.max_full_admins {
        let mut sample = Sample::default();
        full.iter().for_each(|a| sample.add(a.name));
        let admin_bindings: Vec<&Name> = f
            .bindings
            .iter()
            .filter(|(_, b)| b.role.as_ref().is_some_and(|r| r.as_str() == "admin"))
            .map(|(n, _)| *n)
            .collect();
        let (cause, field) = match admin_bindings.first() {
            Some(b) => (obj(Kind::RoleBinding, b), "spec.subjects"),
            None => (org.clone(), "spec.superAdmin"),
        };
        let mut x = finding(
            CheckId::TooManyFullAdmins,
            org.clone(),
            cause,
            field,
            format!(
                "{} users hold every admin permission (more than {}); give custom roles where a narrower one would do",
                full.len(),
                f.settings.max_full_admins
            ),
        );
        x.objects
            .extend(admin_bindings.iter().map(|b| obj(Kind::RoleBinding, b)));
        x.objects.dedup();
        x.users = sample.done();
        out.push(x);
    }
    if let [only] = active.as_slice() {
        if only.super_admin {
            let mut x = finding(
                CheckId::SuperAdminNoDelegation,
                org.clone(),
                org.clone(),
                "spec.superAdmin",
                format!(
                    "the super admin {:?} is the only admin: no admin role is delegated to anyone else",
                    only.name.as_str()
                ),
            );
            x.objects.push(obj(Kind::User, only.name));
            x.users = UserSample {
                count: 1,
                names: vec![only.name.clone()],
            };
            out.push(x);
        }
    }
}

/// Per shared app list: how many evaluated users hold it, and its users in
/// name order (sampled).
fn list_users<'m>(f: &Facts<'_, 'm>) -> BTreeMap<u32, Sample<'m>> {
    let model = f.access.model();
    let mut lists: BTreeMap<u32, Sample<'m>> = BTreeMap::new();
    for (id, user) in model.users.iter().enumerate() {
        if user.status() == UserStatus::Closed {
            continue;
        }
        lists
            .entry(f.access.list_of(id as u32))
            .or_default()
            .add(user.name);
    }
    lists
}

fn everyone(f: &Facts<'_, '_>, out: &mut Vec<Finding>) {
    let n = f.evaluated;
    if n < f.settings.everyone_min_users.max(1) {
        return;
    }
    let lists = list_users(f);
    // app → (users, rule → users); rule → users.
    let mut apps: BTreeMap<&Name, (usize, BTreeMap<&Name, usize>)> = BTreeMap::new();
    let mut rules: BTreeMap<&Name, usize> = BTreeMap::new();
    for (list, sample) in &lists {
        let mut rules_here = BTreeSet::new();
        for a in f.access.list_apps(*list) {
            let e = apps.entry(a.app).or_default();
            e.0 += sample.count;
            *e.1.entry(a.rule).or_default() += sample.count;
            rules_here.insert(a.rule);
        }
        for r in rules_here {
            *rules.entry(r).or_default() += sample.count;
        }
    }
    let threshold = f.settings.everyone_percent as usize;
    for (app, (held, by_rule)) in apps {
        if held * 100 < n * threshold {
            continue;
        }
        // The rule that gives it to the most users (first by name on a tie).
        let Some((rule, _)) = by_rule.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))) else {
            continue;
        };
        let mut x = finding(
            CheckId::AppToNearlyEveryone,
            obj(Kind::Application, app),
            obj(Kind::AppAssignment, rule),
            "spec.assign",
            format!(
                "app {:?} is given by rules to {held} of {n} users ({}%), most by rule {:?}",
                app.as_str(),
                held * 100 / n,
                rule.as_str()
            ),
        );
        x.objects.extend(
            by_rule
                .keys()
                .filter(|r| *r != rule)
                .map(|r| obj(Kind::AppAssignment, r)),
        );
        x.users = UserSample {
            count: held,
            names: Vec::new(),
        };
        out.push(x);
    }
    for (rule, reached) in rules {
        if reached < n {
            continue;
        }
        let mut x = finding(
            CheckId::RuleMatchesEveryone,
            obj(Kind::AppAssignment, rule),
            obj(Kind::AppAssignment, rule),
            "spec.rule",
            format!(
                "rule {:?} gives apps to every one of the {n} users",
                rule.as_str()
            ),
        );
        x.users = UserSample {
            count: n,
            names: Vec::new(),
        };
        out.push(x);
    }
}

/// An SSO app's users not held to SSO: count, sampled names, their policies.
type SsoUsers<'m> = (usize, Vec<&'m Name>, BTreeSet<Option<&'m Name>>);

fn sso_apps(f: &Facts<'_, '_>, out: &mut Vec<Finding>) {
    let sso: BTreeSet<&Name> = f
        .apps
        .iter()
        .filter(|(_, a)| matches!(a.app_type, Some(AppType::Saml | AppType::Oidc)))
        .map(|(n, _)| *n)
        .collect();
    if sso.is_empty() {
        return;
    }
    let enforces = |policy: Option<&Name>| {
        f.policy(policy)
            .and_then(|p| p.sso.get())
            .and_then(|s| s.enforced.get())
            .copied()
            .unwrap_or(false)
    };
    let model = f.access.model();
    // Users with the same app list and policy are alike here: count them per
    // (list, policy) pair first, then walk the few distinct pairs.
    let mut pairs: std::collections::HashMap<(u32, Option<&Name>), Sample<'_>> =
        std::collections::HashMap::new();
    for (id, user) in model.users.iter().enumerate() {
        if user.status() != UserStatus::Active {
            continue;
        }
        let id = id as u32;
        pairs
            .entry((f.access.list_of(id), f.access.policy_name_at(id)))
            .or_default()
            .add(user.name);
    }
    // Per app: its users not held to SSO (count, names) and their policies.
    let mut found: BTreeMap<&Name, SsoUsers<'_>> = BTreeMap::new();
    for ((list, policy), sample) in &pairs {
        if enforces(*policy) {
            continue;
        }
        for app in f
            .access
            .list_apps(*list)
            .map(|a| a.app)
            .filter(|a| sso.contains(a))
        {
            let e = found.entry(app).or_default();
            e.0 += sample.count;
            e.1.extend(sample.names.iter().copied());
            e.2.insert(*policy);
        }
    }
    // Hand-made grants (live only) of apps the user's rules do not give.
    for (user, apps) in f.grants.iter().flat_map(|g| &g.manual) {
        let Some((id, u)) = model.user(user.as_str()) else {
            continue;
        };
        let policy = f.access.policy_name_at(id);
        if u.status() != UserStatus::Active || enforces(policy) {
            continue;
        }
        let ruled: Vec<&Name> = f.access.list_apps(f.access.list_of(id)).map(|a| a.app).collect();
        for app in apps.keys().filter(|a| sso.contains(a) && !ruled.contains(a)) {
            let e = found.entry(app).or_default();
            e.0 += 1;
            e.1.push(u.name);
            e.2.insert(policy);
        }
    }
    for (app, (count, mut names, policies)) in found {
        names.sort_unstable();
        names.dedup();
        names.truncate(IMPACT_SAMPLE);
        let sample = UserSample {
            count,
            names: names.into_iter().cloned().collect(),
        };
        let names: Vec<String> = policies
            .iter()
            .map(|p| match p {
                Some(p) => format!("{:?}", p.as_str()),
                None => "no policy".to_string(),
            })
            .collect();
        let users = if sample.count == 1 { "user" } else { "users" };
        let mut x = finding(
            CheckId::SsoAppNotEnforced,
            obj(Kind::Application, app),
            obj(Kind::Application, app),
            "spec.type",
            format!(
                "SSO app {:?} has {} {users} whose policy does not enforce SSO ({})",
                app.as_str(),
                sample.count,
                names.join(", ")
            ),
        );
        x.objects
            .extend(policies.iter().flatten().map(|p| obj(Kind::SecurityPolicy, p)));
        x.users = sample;
        out.push(x);
    }
}
