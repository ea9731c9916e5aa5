//! Renders explanations for people: a user's effective access (apps and the
//! rules behind them, the effective security policy and why, admin rights and
//! the bindings they come from), and a sign-in what-if (the decision, every
//! reason, and what applies). Pure: returns text.

use std::collections::BTreeSet;

use crate::access::{
    mode_name, policy_reason, Grantor, LossReason, SignInExplanation, SignInMethod, UserExplanation, Via,
};
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
        Some(_) if !p.combined.is_empty() => {
            let names: Vec<String> = p
                .combined
                .iter()
                .map(|r| format!("{:?}", r.policy.as_str()))
                .collect();
            out.push_str(&format!(
                "  {}: every matching policy and the default apply together, each setting at its strictest (the backend's rule; priorities decide nothing)\n",
                names.join(" + ")
            ));
        }
        None => out.push_str("  none (closed accounts have no policy, or the organization has no default)\n"),
        Some(choice) => {
            let why = policy_reason(&choice.reason);
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
    if !p.combined.is_empty() && !p.higher_not_matched.is_empty() {
        out.push_str(&format!("  not applying: {}\n", list(&p.higher_not_matched)));
    } else if !p.higher_not_matched.is_empty() {
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
        let names: Vec<&str> = actions.keys().map(|a| a.as_str()).collect();
        let from: BTreeSet<String> = actions
            .values()
            .flatten()
            .map(|g| match g {
                Grantor::SuperAdmin => "super admin".to_string(),
                Grantor::Binding(b) => format!("{:?}", b.as_str()),
            })
            .collect();
        let module = module.as_str();
        out.push_str(&format!(
            "  {module}: {} (from {})\n",
            names.join(", "),
            from.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    out
}

/// A sign-in evaluation as text: the attempt, the decision with every
/// reason (`code: sentence`), then the facts that apply either way.
pub fn signin(e: &SignInExplanation) -> String {
    let mut out = String::new();
    let org = e
        .organization
        .as_ref()
        .map(|o| format!(" of organization {:?}", o.as_str()))
        .unwrap_or_default();
    let status = match e.status {
        UserStatus::Active => "active",
        UserStatus::Deactivated => "deactivated",
        UserStatus::Closed => "closed",
    };
    out.push_str(&format!(
        "Sign-in of user {:?}{org} ({status})\n",
        e.user.as_str()
    ));
    let via = e.attempt.via.as_deref().unwrap_or_default();
    let how = match e.method {
        SignInMethod::Password => "with a password".to_string(),
        SignInMethod::Federated => format!("through {via:?} (federated)"),
        SignInMethod::Sso => format!("through {via:?} (SAML single sign-on)"),
    };
    let factor = e
        .attempt
        .mfa
        .map(|m| format!("second factor {}", mode_name(m)))
        .unwrap_or_else(|| "no second factor".to_string());
    out.push_str(&format!("  from {}, {how}, {factor}\n", e.attempt.ip));
    if let Some(at) = &e.as_of {
        let n = at.applies_undone;
        out.push_str(&format!(
            "  as the organization was at {} (revision {}; {n} later apply{} undone)\n",
            at.at,
            at.revision,
            if n == 1 { "" } else { "s" }
        ));
    }
    out.push('\n');
    if e.allowed {
        out.push_str("Allowed.\n");
    } else {
        let n = e.denials.len();
        out.push_str(&format!(
            "Denied ({n} reason{}):\n",
            if n == 1 { "" } else { "s" }
        ));
        for d in &e.denials {
            out.push_str(&format!("  {}: {}\n", d.code.as_str(), d.message));
        }
    }
    if !e.notes.is_empty() {
        out.push_str("\nApplies either way:\n");
        for n in &e.notes {
            out.push_str(&format!("  {}: {}\n", n.code.as_str(), n.message));
        }
    }
    out
}
