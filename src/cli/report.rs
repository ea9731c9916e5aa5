//! Renders an apply report for people and scripts, and the progress bar.

use std::io::IsTerminal;

use crate::apply::{ApplyReport, ChangeOutcome};
use crate::plan::{Action, Plan};

/// A progress bar on stderr when it is a terminal.
pub fn progress_bar(plan: &Plan) -> Option<indicatif::ProgressBar> {
    let total: usize = plan.organizations.iter().map(|o| o.changes.len()).sum();
    if !std::io::stderr().is_terminal() || total < 2 {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} applying [{bar:30}] {pos}/{len} changes ({elapsed})",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    Some(bar)
}

fn verb(action: Action) -> &'static str {
    match action {
        Action::Create => "created",
        Action::Update => "updated",
        Action::Replace => "replaced",
        Action::Delete => "deleted",
    }
}

/// `1 user` / `3 users`.
fn users(n: usize) -> String {
    if n == 1 {
        "1 user".to_string()
    } else {
        format!("{n} users")
    }
}

/// The report as text: failures in full, then a Terraform-style summary.
pub fn text(plan: &Plan, report: &ApplyReport, transactional: bool, color: bool) -> String {
    let (red, green, reset) = if color {
        ("\x1b[31m", "\x1b[32m", "\x1b[0m")
    } else {
        ("", "", "")
    };
    let mut out = String::new();
    let (mut added, mut changed, mut destroyed) = (0, 0, 0);
    for org in &report.organizations {
        for r in &org.results {
            let object = format!("{} {:?}", r.kind.noun(), r.name.as_str());
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
            let what = format!("app assignments of {}", users(a.users));
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
            format!(" App assignments of {} updated.", users(assigned))
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
        // Only a transactional backend undoes a failed request's writes.
        let after = if transactional {
            "Organizations whose write failed were left as they were; fix the cause and run plan again."
        } else {
            "The changes marked applied are in the backend (it has no transactions); fix the cause and run apply again to finish."
        };
        out.push_str(&format!(
            "\n{red}Apply failed: {} of {total} changes applied, {failed} not applied.{reset} {after}\n",
            report.applied()
        ));
    }
    out
}

/// The plan and report as one JSON document.
pub fn json(plan: &Plan, report: Option<&ApplyReport>) -> String {
    serde_json::json!({ "formatVersion": crate::plan::FORMAT_VERSION, "plan": plan, "report": report })
        .to_string()
}
