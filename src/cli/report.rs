//! Renders an apply report for people and scripts.

use super::progress::count;
use crate::apply::{ApplyReport, ChangeOutcome};
use crate::plan::{Action, Plan};

fn verb(action: Action) -> &'static str {
    match action {
        Action::Create => "created",
        Action::Update => "updated",
        Action::Replace => "replaced",
        Action::Delete => "deleted",
    }
}

/// The report as text: failures in full, then a Terraform-style summary.
pub fn text(plan: &Plan, report: &ApplyReport, color: bool) -> String {
    let (red, green, reset) = if color {
        ("\x1b[31m", "\x1b[32m", "\x1b[0m")
    } else {
        ("", "", "")
    };
    let mut out = String::new();
    let (mut added, mut changed, mut destroyed) = (0, 0, 0);
    for org in &report.organizations {
        for r in &org.results {
            let object = r.kind.label(r.name.as_str()).to_string();
            match &r.outcome {
                ChangeOutcome::Applied => {
                    match r.action {
                        Action::Create => added += 1,
                        Action::Update => changed += 1,
                        Action::Delete => destroyed += 1,
                        Action::Replace => {
                            added += 1;
                            destroyed += 1;
                        }
                    }
                    out.push_str(&format!("{object}: {}\n", verb(r.action)));
                }
                ChangeOutcome::Failed(e) => out.push_str(&format!("{red}{object}: failed: {e}{reset}\n")),
                ChangeOutcome::RolledBack => out.push_str(&format!("{object}: not applied (rolled back)\n")),
                ChangeOutcome::NotAttempted => out.push_str(&format!("{object}: not applied\n")),
            }
        }
        if let Some(a) = &org.assignments {
            let what = format!("app assignments of {}", count(a.users, "user"));
            match &a.outcome {
                ChangeOutcome::Applied => out.push_str(&format!("{what}: written\n")),
                ChangeOutcome::Failed(e) => out.push_str(&format!("{red}{what}: failed: {e}{reset}\n")),
                ChangeOutcome::RolledBack => out.push_str(&format!("{what}: not written (rolled back)\n")),
                ChangeOutcome::NotAttempted => out.push_str(&format!("{what}: not written\n")),
            }
        }
    }
    let failed = report.failed();
    if report.succeeded() {
        let assigned: usize = report
            .organizations
            .iter()
            .filter_map(|o| o.assignments.as_ref())
            .map(|a| a.users)
            .sum();
        let assigned = if assigned > 0 {
            format!(" App assignments of {} updated.", count(assigned, "user"))
        } else {
            String::new()
        };
        out.push_str(&format!(
            "\n{green}Apply complete! Objects: {added} added, {changed} changed, {destroyed} destroyed.{assigned}{reset}\n"
        ));
        for org in &report.organizations {
            out.push_str(&format!(
                "Organization {:?} is now at revision {}.\n",
                org.organization.as_str(),
                org.revision_after
            ));
        }
    } else {
        let total: usize = plan.organizations.iter().map(|o| o.changes.len()).sum();
        out.push_str(&format!(
            "\n{red}Apply failed: {} of {} applied, {failed} not applied.{reset} {}\n",
            report.applied(),
            count(total, "change"),
            after_failure(report)
        ));
    }
    out
}

/// What a failed apply left behind, from the outcomes themselves: the
/// embedded directory rolls an organization back whole, while over HTTP each
/// write stands on its own, so "left as they were" is only said when true.
fn after_failure(report: &ApplyReport) -> &'static str {
    let written = report.organizations.iter().any(|o| {
        o.results.iter().any(|r| r.outcome == ChangeOutcome::Applied)
            || o.assignments
                .as_ref()
                .is_some_and(|a| a.outcome == ChangeOutcome::Applied)
    });
    if written {
        "The changes listed as applied were written and stay; fix the cause and run plan again to see what is left."
    } else {
        "Nothing was written; fix the cause and run plan again."
    }
}

/// The plan and report as one JSON document.
pub fn json(plan: &Plan, report: Option<&ApplyReport>) -> String {
    serde_json::json!({ "formatVersion": crate::plan::FORMAT_VERSION, "plan": plan, "report": report })
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::{ChangeResult, OrgReport};
    use crate::model::Kind;

    fn report(outcomes: &[ChangeOutcome]) -> ApplyReport {
        let results = outcomes
            .iter()
            .enumerate()
            .map(|(i, outcome)| ChangeResult {
                kind: Kind::User,
                name: format!("u{i}").parse().expect("a name"),
                action: Action::Create,
                outcome: outcome.clone(),
            })
            .collect();
        ApplyReport {
            organizations: vec![OrgReport {
                organization: "acme".parse().expect("a name"),
                revision_before: 1,
                revision_after: 1,
                results,
                assignments: None,
            }],
        }
    }

    #[test]
    fn a_failed_apply_says_what_it_left_behind() {
        let failed = || ChangeOutcome::Failed("boom".into());
        // The embedded directory: one transaction, rolled back whole.
        let rolled_back = report(&[ChangeOutcome::RolledBack, failed()]);
        assert_eq!(
            after_failure(&rolled_back),
            "Nothing was written; fix the cause and run plan again."
        );
        // Over HTTP: what landed before the failure stays.
        let partial = report(&[ChangeOutcome::Applied, failed(), ChangeOutcome::NotAttempted]);
        assert_eq!(
            after_failure(&partial),
            "The changes listed as applied were written and stay; fix the cause and run plan again to see what is left."
        );
    }
}
