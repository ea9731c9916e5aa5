//! Renders a user's effective-access explanation for people: apps and the
//! rules behind them, the effective security policy and why, admin rights and
//! the bindings they come from. Pure: returns text.

use std::collections::BTreeSet;

use crate::access::{Grantor, LossReason, PolicyReason, UserExplanation, Via};
use crate::model::UserStatus;

fn via(v: &Via) -> String {
    match v {
        Via::Direct => "directly".to_string(),
        Via::Group { group } => format!("through group {:?}", group.as_str()),
    }
}

/// The explanation as text.
pub fn user(e: &UserExplanation, organization: Option<&str>) -> String {
    let mut out = String::new();
    let status = match e.status {
        UserStatus::Active => "active",
        UserStatus::Deactivated => "deactivated",
        UserStatus::Closed => "closed",
    };
    let org = organization
        .map(|o| format!(" of organization {o:?}"))
        .unwrap_or_default();
    out.push_str(&format!("User {:?}{org} ({status})\n", e.user.as_str()));
    let groups: Vec<&str> = e.groups.iter().map(|g| g.as_str()).collect();
    if groups.is_empty() {
        out.push_str("Groups: none\n");
    } else {
        out.push_str(&format!("Groups (direct and nested): {}\n", groups.join(", ")));
    }

    out.push_str(&format!("\nApps ({}):\n", e.apps.len()));
    if e.apps.is_empty() {
        out.push_str("  none\n");
    }
    for a in &e.apps {
        out.push_str(&format!(
            "  {} as {:?}, from rule {:?} (priority {})\n",
            a.app,
            a.role.as_str(),
            a.rule.as_str(),
            a.priority
        ));
        for l in &a.losers {
            let why = match l.reason {
                LossReason::LowerPriority => "lower priority",
                LossReason::TieBreak => "same priority, the winning rule's name sorts first",
                LossReason::SameRule => "the same rule also gives this role; the first by name wins",
            };
            out.push_str(&format!(
                "      not {:?} from rule {:?} (priority {}): {why}\n",
                l.role.as_str(),
                l.rule.as_str(),
                l.priority
            ));
        }
    }
    if !e.excluded.is_empty() {
        out.push_str("Rules that exclude this user:\n");
        for x in &e.excluded {
            out.push_str(&format!(
                "  {:?} (priority {}): excluded {}\n",
                x.rule.as_str(),
                x.priority,
                via(&x.via)
            ));
        }
    }
    if !e.unmatched.is_empty() {
        out.push_str(&format!("Rules that do not match ({}):\n", e.unmatched.len()));
        for u in &e.unmatched {
            let detail = match &u.failed {
                Some(f) => {
                    let actual = f
                        .actual
                        .as_deref()
                        .map_or("no value".to_string(), |v| format!("{v:?}"));
                    format!(": {} is false (the user has {actual})", f.condition)
                }
                None => String::new(),
            };
            out.push_str(&format!(
                "  {:?} (priority {}){detail}\n",
                u.rule.as_str(),
                u.priority
            ));
        }
    }

    out.push_str("\nSecurity policy:\n");
    let p = &e.policy;
    match &p.effective {
        None => out.push_str("  none (closed accounts have no policy, or the organization has no default)\n"),
        Some(choice) => {
            let why = match &choice.reason {
                PolicyReason::Default => "the default policy: no other policy applies".to_string(),
                PolicyReason::User => "the user is listed in its targets".to_string(),
                PolicyReason::Group { group } => format!("the user is in group {:?}", group.as_str()),
                PolicyReason::Rule => "its target rule matches the user".to_string(),
            };
            let priority = p.priority.map(|n| format!(" (priority {n})")).unwrap_or_default();
            out.push_str(&format!("  {:?}{priority}: {why}\n", choice.policy.as_str()));
        }
    }
    let list = |refs: &[crate::access::PolicyRef]| -> String {
        refs.iter()
            .map(|r| format!("{:?} (priority {})", r.policy.as_str(), r.priority))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !p.higher_not_matched.is_empty() {
        out.push_str(&format!(
            "  higher priority, not applying: {}\n",
            list(&p.higher_not_matched)
        ));
    }
    if !p.also_matched.is_empty() {
        out.push_str(&format!(
            "  also applying, lower priority: {}\n",
            list(&p.also_matched)
        ));
    }
    if !p.conflicts.is_empty() {
        out.push_str(&format!(
            "  same priority, also applying (a conflict): {}\n",
            list(&p.conflicts)
        ));
    }

    out.push_str("\nAdmin rights:\n");
    let admin = &e.admin;
    if admin.super_admin {
        out.push_str("  super admin of the organization: every permission\n");
    }
    for b in &admin.bindings {
        out.push_str(&format!(
            "  role {:?} from binding {:?}, {}\n",
            b.role.as_str(),
            b.binding.as_str(),
            via(&b.via)
        ));
    }
    if admin.permissions.is_empty() {
        out.push_str("  no admin permissions\n");
    }
    for (module, actions) in &admin.permissions {
        let names: Vec<String> = actions
            .keys()
            .map(|a| {
                serde_json::to_value(a)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            })
            .collect();
        let from: BTreeSet<String> = actions
            .values()
            .flatten()
            .map(|g| match g {
                Grantor::SuperAdmin => "super admin".to_string(),
                Grantor::Binding(b) => format!("{:?}", b.as_str()),
            })
            .collect();
        let module = serde_json::to_value(module)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        out.push_str(&format!(
            "  {module}: {} (from {})\n",
            names.join(", "),
            from.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    out
}
