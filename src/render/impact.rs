//! The access impact of a plan in plain words, shared by the terminal and
//! Markdown renderings: one [`Sentence`] per group of users (who gets or
//! loses an app, who moves to another policy and how their sign-in rules
//! change, whose admin rights change), then the app assignments to write
//! and the lockout guards overridden with `--force`. Groups name a few
//! users and count the rest unless the plan was made with `--impact-detail`.

use crate::access::settings::{Direction, SettingChange};
use crate::model::{Action, Module, Name};
use crate::plan::{AccessImpact, AdminImpact, AssignmentPlan, OrgPlan, PolicyImpact, UserSample};

use super::lines::Marker;

/// One line of the impact section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Sentence {
    /// Nesting depth (0: a group, 1: a detail of it).
    pub depth: usize,
    /// `+` gains, `-` losses, `~` changes, none for headings and notes.
    pub marker: Marker,
    /// The words.
    pub text: String,
}

fn line(depth: usize, marker: Marker, text: String) -> Sentence {
    Sentence { depth, marker, text }
}

/// `1 user` / `12 users`.
fn users(n: usize) -> String {
    if n == 1 {
        "1 user".to_string()
    } else {
        format!("{n} users")
    }
}

/// `1 grant` / `3 grants`.
fn grants(n: usize) -> String {
    if n == 1 {
        "1 grant".to_string()
    } else {
        format!("{n} grants")
    }
}

/// `1 user gets` / `3 users get` (the verb in its plural form).
fn users_do(n: usize, verb: &str) -> String {
    if n == 1 {
        format!("1 user {verb}s")
    } else {
        format!("{n} users {verb}")
    }
}

/// `: ann, bob and 10 more` (or every name).
fn names(sample: &UserSample) -> String {
    if sample.names.is_empty() {
        return String::new();
    }
    let shown: Vec<&str> = sample.names.iter().map(Name::as_str).collect();
    let more = sample.count.saturating_sub(shown.len());
    if more > 0 {
        format!(": {} and {more} more", shown.join(", "))
    } else {
        format!(": {}", shown.join(", "))
    }
}

/// `"a"` or `no policy`.
fn policy_name(p: &Option<Name>, combined: &[Name]) -> String {
    if !combined.is_empty() {
        let names: Vec<String> = combined.iter().map(|n| format!("{:?}", n.as_str())).collect();
        return format!(
            "policies {} (combined, strictest of each setting)",
            names.join(" + ")
        );
    }
    match p {
        Some(p) => format!("policy {:?}", p.as_str()),
        None => "no policy".to_string(),
    }
}

/// A setting change in words, with its direction.
fn setting(c: &SettingChange) -> String {
    let how = match c.direction {
        Direction::Stricter => "stricter",
        Direction::Looser => "looser",
        Direction::Changed => "changed",
    };
    let after = c.after.to_string();
    let words = match (c.field.as_str(), after.as_str()) {
        ("mfa.required", "true") => "MFA becomes required".to_string(),
        ("mfa.required", _) => "MFA is no longer required".to_string(),
        ("sso.enforced", "true") => "single sign-on becomes enforced".to_string(),
        ("sso.enforced", _) => "single sign-on is no longer enforced".to_string(),
        ("federatedSignIn.allowed", "false") => "federated sign-in becomes disallowed".to_string(),
        ("federatedSignIn.allowed", _) => "federated sign-in becomes allowed".to_string(),
        ("network.allowedIps", "any") => "sign-in is allowed from any address again".to_string(),
        ("network.allowedIps", "none") => {
            "sign-in is allowed from no address: newly blocked everywhere".to_string()
        }
        ("network.allowedIps", after) if c.direction == Direction::Stricter => {
            format!(
                "sign-in only from {after} (was {}): newly blocked from other addresses",
                c.before
            )
        }
        ("network.allowedIps", after) => format!("sign-in only from {after} (was {})", c.before),
        (field, after) => format!("{field}: {} → {after}", c.before),
    };
    format!("{words} ({how})")
}

/// [`policy_name`] without the word "policy" for a single policy (the
/// second name of a move).
fn short_policy_name(p: &Option<Name>, combined: &[Name]) -> String {
    match p {
        Some(p) if combined.is_empty() => format!("{:?}", p.as_str()),
        _ => policy_name(p, combined),
    }
}

fn policy_lines(p: &PolicyImpact, out: &mut Vec<Sentence>) {
    let n = p.users.count;
    let what = if p.before == p.after && p.combined_before == p.combined_after {
        format!(
            "{} on {} {} new settings",
            users(n),
            policy_name(&p.after, &p.combined_after),
            if n == 1 { "gets" } else { "get" }
        )
    } else if p.before.is_none() {
        format!(
            "{} {}",
            users_do(n, "get"),
            policy_name(&p.after, &p.combined_after)
        )
    } else {
        format!(
            "{} from {} to {}",
            users_do(n, "move"),
            policy_name(&p.before, &p.combined_before),
            short_policy_name(&p.after, &p.combined_after)
        )
    };
    out.push(line(1, Marker::Change, format!("{what}{}", names(&p.users))));
    for c in &p.settings {
        let marker = match c.direction {
            Direction::Stricter => Marker::Add,
            Direction::Looser => Marker::Remove,
            Direction::Changed => Marker::Change,
        };
        out.push(line(2, marker, setting(c)));
    }
    if p.settings.is_empty() && p.before.is_some() && p.after.is_some() {
        out.push(line(2, Marker::None, "same settings".to_string()));
    }
}

/// `user: create, update; group: view`, or `every admin right`.
fn permissions(perms: &std::collections::BTreeMap<Module, Vec<Action>>) -> String {
    let count: usize = perms.values().map(Vec::len).sum();
    if count == crate::access::MODULES.len() * crate::access::ACTIONS.len() {
        return "every admin right".to_string();
    }
    crate::model::describe_permissions(perms.iter().map(|(m, a)| (*m, a.clone())))
}

fn admin_lines(a: &AdminImpact, out: &mut Vec<Sentence>) {
    let who = format!("{:?}", a.user.as_str());
    match a.super_admin {
        Some((false, true)) => {
            out.push(line(
                1,
                Marker::Add,
                format!("{who} becomes super admin (every admin right)"),
            ));
            return;
        }
        Some((true, false)) if a.lost.is_empty() => {
            out.push(line(
                1,
                Marker::Remove,
                format!("{who} stops being super admin and keeps every admin right"),
            ));
            return;
        }
        Some((true, false)) => {
            out.push(line(
                1,
                Marker::Remove,
                format!("{who} stops being super admin and loses {}", permissions(&a.lost)),
            ));
            return;
        }
        _ => {}
    }
    if !a.gained.is_empty() {
        out.push(line(
            1,
            Marker::Add,
            format!("{who} gains admin rights: {}", permissions(&a.gained)),
        ));
    }
    if !a.lost.is_empty() {
        out.push(line(
            1,
            Marker::Remove,
            format!("{who} loses admin rights: {}", permissions(&a.lost)),
        ));
    }
}

/// The impact section of one organization (empty when nothing changes for anyone).
pub(super) fn sentences(impact: &AccessImpact) -> Vec<Sentence> {
    let AccessImpact {
        users_affected,
        apps,
        app_roles,
        policies,
        admins,
        notices,
        posture: _,
    } = impact;
    let mut out = Vec::new();
    if impact.is_empty() {
        return out;
    }
    out.push(line(
        0,
        Marker::None,
        format!("Access impact: {} affected.", users(*users_affected)),
    ));
    for n in notices {
        out.push(line(1, Marker::Change, n.clone()));
    }
    for a in apps {
        let (app, role) = (a.app.as_str(), a.role.as_str());
        let groups = [
            (Marker::Add, &a.gained, "get", format!("app {app:?} as {role}")),
            (
                Marker::Remove,
                &a.lost,
                "lose",
                format!("app {app:?} (was {role})"),
            ),
        ];
        for (marker, who, verb, what) in groups {
            if who.count > 0 {
                let text = format!("{} {what}{}", users_do(who.count, verb), names(who));
                out.push(line(1, marker, text));
            }
        }
    }
    for r in app_roles {
        out.push(line(
            1,
            Marker::Change,
            format!(
                "{} app {:?} as {} instead of {}{}",
                users_do(r.users.count, "keep"),
                r.app.as_str(),
                r.after.as_str(),
                r.before.as_str(),
                names(&r.users)
            ),
        ));
    }
    for p in policies {
        policy_lines(p, &mut out);
    }
    for a in admins {
        admin_lines(a, &mut out);
    }
    out
}

/// `App assignments: …` when the plan rewrites some users' lists.
pub(super) fn assignments_line(a: &AssignmentPlan) -> Option<String> {
    if a.is_empty() {
        return None;
    }
    Some(format!(
        "App assignments: the rule-made app lists of {} will be written ({} added, {} removed); grants made by hand are kept.",
        users(a.users.len()),
        grants(a.grants_added),
        a.grants_removed
    ))
}

/// `of 3 users to update` (after "app assignments") for the summary lines, when any.
pub(super) fn assign_summary(assign: usize) -> Option<String> {
    (assign > 0).then(|| format!("of {} to update", users(assign)))
}

/// Guards overridden with `--force`.
pub(super) fn forced_lines(org: &OrgPlan) -> Vec<String> {
    org.forced
        .iter()
        .map(|f| format!("Warning: lockout guard overridden with --force: {f}"))
        .collect()
}
