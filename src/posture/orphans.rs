//! Orphaned access: deactivated or closed accounts that still hold admin
//! rights (a binding or the super admin seat names them, directly or
//! through a group) or hand-made app grants in the backend. The access
//! engine gives closed accounts nothing, so their bindings are read from the
//! specs here: what would come back, or what the backend may still honour.

use std::collections::{BTreeMap, BTreeSet};

use super::facts::Facts;
use super::{finding, obj, CheckId, Finding, ObjectRef};
use crate::model::{Kind, Name, UserStatus};
use crate::plan::UserSample;

pub(super) fn check(f: &Facts<'_, '_>, out: &mut Vec<Finding>) {
    let model = f.access.model();
    let gone: BTreeMap<&Name, UserStatus> = model
        .users
        .iter()
        .map(|u| (u.name, u.status()))
        .filter(|(_, s)| *s != UserStatus::Active)
        .collect();
    if gone.is_empty() {
        return;
    }
    let holders = holders(f, &gone);
    for (user, (status, grantors)) in &holders {
        let Some(cause) = grantors.first() else { continue };
        let field = match cause.kind {
            Kind::Organization => "spec.superAdmin",
            _ => "spec.subjects",
        };
        out.push(orphan(
            CheckId::OrphanedAdmin,
            user,
            cause.clone(),
            field,
            grantors,
            format!(
                "{} user {:?} still holds admin rights (through {})",
                status_word(*status),
                user.as_str(),
                grantors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let Some(grants) = f.grants else { return };
    for (user, status) in &gone {
        let Some(apps) = grants.manual.get(*user).filter(|a| !a.is_empty()) else {
            continue;
        };
        let names: Vec<String> = apps
            .iter()
            .map(|(app, role)| format!("{:?} ({})", app.as_str(), role.as_str()))
            .collect();
        let user_ref = obj(Kind::User, user);
        let mut x = orphan(
            CheckId::OrphanedGrant,
            user,
            user_ref.clone(),
            "spec.status",
            &[],
            format!(
                "{} user {:?} still holds hand-made grants of {}",
                status_word(*status),
                user.as_str(),
                names.join(", ")
            ),
        );
        x.objects.extend(apps.keys().map(|a| obj(Kind::Application, a)));
        out.push(x);
    }
}

fn status_word(s: UserStatus) -> &'static str {
    match s {
        UserStatus::Active => "active",
        UserStatus::Deactivated => "deactivated",
        UserStatus::Closed => "closed",
    }
}

fn orphan(
    check: CheckId,
    user: &Name,
    cause: ObjectRef,
    field: &str,
    grantors: &[ObjectRef],
    message: String,
) -> Finding {
    let mut x = finding(check, obj(Kind::User, user), cause, field, message);
    x.objects.truncate(1);
    x.objects.extend(grantors.iter().cloned());
    x.users = UserSample {
        count: 1,
        names: vec![user.clone()],
    };
    x
}

/// Deactivated and closed users that a binding (other than to `member`) or
/// the super admin seat reaches, with those grantors in name order.
fn holders<'a>(
    f: &Facts<'a, '_>,
    gone: &BTreeMap<&'a Name, UserStatus>,
) -> BTreeMap<&'a Name, (UserStatus, Vec<ObjectRef>)> {
    // Each departed user's groups, direct and nested.
    let mut parents: BTreeMap<&Name, Vec<&Name>> = BTreeMap::new();
    let mut direct: BTreeMap<&Name, Vec<&Name>> = BTreeMap::new();
    for (g, spec) in &f.groups {
        let Some(members) = spec.members.get() else {
            continue;
        };
        for child in members.groups.get().into_iter().flat_map(|c| c.iter()) {
            parents.entry(child).or_default().push(g);
        }
        for u in members.users.get().into_iter().flat_map(|c| c.iter()) {
            if gone.contains_key(u) {
                direct.entry(u).or_default().push(g);
            }
        }
    }
    let groups_of = |user: &Name| -> BTreeSet<&Name> {
        let mut seen: BTreeSet<&Name> = BTreeSet::new();
        let mut todo: Vec<&Name> = direct.get(user).cloned().unwrap_or_default();
        while let Some(g) = todo.pop() {
            if seen.insert(g) {
                todo.extend(parents.get(g).into_iter().flatten().copied());
            }
        }
        seen
    };
    let mut out: BTreeMap<&'a Name, (UserStatus, Vec<ObjectRef>)> = BTreeMap::new();
    let super_admin = f
        .organization
        .and_then(|(n, o)| Some((n, o.super_admin.as_ref()?)));
    for (user, status) in gone {
        let mut grantors = Vec::new();
        if let Some((org, admin)) = super_admin {
            if admin == *user {
                grantors.push(obj(Kind::Organization, org));
            }
        }
        let groups = groups_of(user);
        for (name, b) in &f.bindings {
            if b.role.as_ref().is_none_or(|r| r.as_str() == "member") {
                continue;
            }
            let Some(s) = b.subjects.get() else { continue };
            let listed = s.users.get().is_some_and(|u| u.items.contains(*user));
            let through_group = s
                .groups
                .get()
                .is_some_and(|gs| gs.iter().any(|g| groups.contains(g)));
            if listed || through_group {
                grantors.push(obj(Kind::RoleBinding, name));
            }
        }
        if !grantors.is_empty() {
            out.insert(user, (*status, grantors));
        }
    }
    out
}
