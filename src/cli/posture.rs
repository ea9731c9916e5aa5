//! `orgctl posture`: the security posture of the files (`-f`), of the live
//! backend, or of both (`-f … --live`), with exceptions (`--exceptions`),
//! as text, JSON, Markdown or SARIF; exit 4 with `--fail-on` when an open
//! finding is at least that severe. Also the plan's `--fail-on-posture`.

use std::process::ExitCode;

use super::args::SeverityArg;
use super::printer::{Output, Printer, Rendered};
use super::settings::PostureCommand;
use super::{open_backend, open_existing_backend, print_diagnostics, read_sources, CmdResult, Reported};
use crate::access::AccessModel;
use crate::backend::{Backend, LiveOrg};
use crate::diagnostic::{did_you_mean, error_chain};
use crate::model::{Kind, Name, Spec};
use crate::plan::Plan;
use crate::posture::{self, exceptions, OrgPosture, PostureException, Settings, Severity};
use crate::render::posture as render;

/// The exit code of `posture --fail-on` when an open finding is that severe.
pub const EXIT_FINDINGS: u8 = 4;

impl From<SeverityArg> for Severity {
    fn from(s: SeverityArg) -> Self {
        match s {
            SeverityArg::Low => Severity::Low,
            SeverityArg::Medium => Severity::Medium,
            SeverityArg::High => Severity::High,
        }
    }
}

/// Today (UTC), the day exceptions expire against.
fn today() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}

/// Reads and validates the exception files, printing every problem.
pub(super) fn read_exceptions(
    printer: &Printer,
    files: &[std::path::PathBuf],
) -> Result<Vec<PostureException>, Reported> {
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let sources = read_sources(printer, files)?;
    exceptions::load(&sources).map_err(|diags| {
        print_diagnostics(printer, &diags);
        Reported
    })
}

fn check_one(
    organization: &Name,
    source: &str,
    model: &AccessModel<'_>,
    objects: &[(Kind, &Name, &Spec)],
    live: Option<&LiveOrg>,
    gaps: &[crate::backend::GapFound],
    settings: &Settings,
) -> OrgPosture {
    let access = model.evaluate();
    let findings = posture::check(&posture::Input {
        access: &access,
        objects,
        grants: live.map(|l| &l.grants),
        gaps,
        settings,
    });
    OrgPosture {
        organization: organization.clone(),
        source: source.to_string(),
        findings,
    }
}

/// `orgctl posture`.
pub fn posture(printer: &Printer, a: &PostureCommand) -> CmdResult {
    let exceptions = read_exceptions(printer, &a.exceptions)?;
    let settings = &a.checks;
    let mut report = Vec::new();
    // Every object checked, per organization: what exceptions may name.
    let mut known: std::collections::BTreeSet<(Name, Kind, Name)> = std::collections::BTreeSet::new();
    let use_live = a.live;
    let live = &a.backend;
    // Files alone need a backend only for what it cannot hold; the embedded
    // directory holds everything, and opening it would create its file.
    let remote = !live.address.starts_with("sqlite:");
    let backend: Option<Box<dyn Backend>> = if use_live {
        Some(open_existing_backend(printer, live)?)
    } else if remote {
        Some(open_backend(printer, live)?)
    } else {
        None
    };
    let fail = |e: crate::backend::BackendError| {
        printer.error(&error_chain(&e));
        Reported
    };
    if !a.files.is_empty() {
        let sources = read_sources(printer, &a.files)?;
        let desired = crate::validate::run(&sources).map_err(|diags| {
            print_diagnostics(printer, &diags);
            Reported
        })?;
        let names = pick(
            printer,
            a.organization.as_deref(),
            desired.organizations.keys().cloned().collect(),
        )?;
        let caps = backend.as_ref().map(|b| b.capabilities());
        for org in &names {
            let Some(d) = desired.organizations.get(org) else {
                continue;
            };
            let gaps = caps
                .as_ref()
                .map(|c| crate::plan::unsupported(d, c))
                .unwrap_or_default();
            let objects: Vec<(Kind, &Name, &Spec)> =
                d.objects.iter().map(|((k, n), o)| (*k, n, &o.spec)).collect();
            known.extend(objects.iter().map(|(k, n, _)| (org.clone(), *k, (*n).clone())));
            let model = AccessModel::from_desired(d);
            let mut one = check_one(org, "files", &model, &objects, None, &gaps, settings);
            posture::locate(&mut one.findings, d, &sources);
            report.push(one);
        }
    }
    if use_live {
        let backend = backend.as_deref().ok_or(Reported)?;
        let available = backend.organizations().map_err(fail)?;
        let names = match (&a.files.is_empty(), &report) {
            // Both: the organizations of the files, as the live backend holds them.
            (false, r) => r.iter().map(|o: &OrgPosture| o.organization.clone()).collect(),
            (true, _) => pick(printer, a.organization.as_deref(), available.clone())?,
        };
        for org in &names {
            if !available.contains(org) {
                printer.warn(&format!(
                    "organization {:?} is not in {} yet: only its files were checked",
                    org.as_str(),
                    backend.describe()
                ));
                continue;
            }
            let live = backend.snapshot(org).map_err(fail)?;
            let objects: Vec<(Kind, &Name, &Spec)> =
                live.objects.iter().map(|((k, n), o)| (*k, n, &o.spec)).collect();
            known.extend(objects.iter().map(|(k, n, _)| (org.clone(), *k, (*n).clone())));
            let model = AccessModel::from_live(&live);
            report.push(check_one(
                org,
                "live",
                &model,
                &objects,
                Some(&live),
                &[],
                settings,
            ));
        }
    }
    let today = a.today;
    for org in &mut report {
        exceptions::apply(&mut org.findings, &org.organization, &exceptions, today);
    }
    let names_of = |org: &Name, kind: Kind| -> Vec<Name> {
        known
            .iter()
            .filter(|(o, k, _)| o == org && *k == kind)
            .map(|(_, _, n)| n.clone())
            .collect()
    };
    for (x, why) in exceptions::unused(&exceptions, &report, &names_of) {
        printer.warn(&format!(
            "{}: exception {:?} accepts no finding: {why}",
            x.location,
            x.name.as_str()
        ));
    }
    printer.rendered(report.as_slice());
    if let Some(level) = a.fail_on {
        let level = Severity::from(level);
        let failing = report
            .iter()
            .flat_map(|o| &o.findings)
            .filter(|f| !f.accepted() && f.severity >= level)
            .count();
        if failing > 0 {
            printer.err(&format!(
                "{failing} open finding{} of severity {level} or higher (--fail-on {level}).",
                if failing == 1 { "" } else { "s" }
            ));
            return Ok(ExitCode::from(EXIT_FINDINGS));
        }
    }
    Ok(ExitCode::SUCCESS)
}

impl Rendered for [OrgPosture] {
    fn render(&self, output: Output, color: bool) -> String {
        match output {
            Output::Text => render::text(self, color),
            Output::Json => render::json(self),
            Output::Markdown => render::markdown(self),
            Output::Sarif => render::sarif(self, env!("CARGO_PKG_VERSION")),
        }
    }
}

/// The organizations to check: the one named, or every one there is.
fn pick(printer: &Printer, named: Option<&str>, available: Vec<Name>) -> Result<Vec<Name>, Reported> {
    let Some(n) = named else {
        if available.is_empty() {
            printer.error("there is no organization to check");
            return Err(Reported);
        }
        return Ok(available);
    };
    match available.iter().find(|o| o.as_str() == n) {
        Some(o) => Ok(vec![o.clone()]),
        None => {
            let hint = did_you_mean(n, available.iter().map(Name::as_str))
                .map(|s| format!(", did you mean {s:?}?"))
                .unwrap_or_default();
            printer.error(&format!("organization {n:?} was not found{hint}"));
            Err(Reported)
        }
    }
}

/// `plan --fail-on-posture`: marks the findings the exceptions accept, then
/// refuses (after the plan is shown) when the plan introduces an open
/// finding at least `level` severe.
pub(super) fn accept_in_plan(plan: &mut Plan, exceptions: &[PostureException]) {
    let today = today();
    for org in &mut plan.organizations {
        let delta = &mut org.impact.posture;
        for f in delta.introduced.iter_mut().chain(delta.resolved.iter_mut()) {
            f.accepted_by = exceptions::matching(exceptions, &org.organization, f.check, &f.objects, today)
                .filter(|(_, expired)| !expired)
                .map(|(x, _)| x.name.to_string());
        }
    }
}

/// The findings a plan introduces at `level` or above that no exception
/// accepts, as sentences.
pub(super) fn refused_by(plan: &Plan, level: SeverityArg) -> Vec<String> {
    let level = Severity::from(level);
    plan.organizations
        .iter()
        .flat_map(|o| o.impact.posture.introduced_at_least(level).map(move |f| (o, f)))
        .map(|(o, f)| {
            format!(
                "the plan introduces posture finding {} ({}) on {} of organization {:?}: {}",
                f.check,
                f.severity,
                f.subject,
                o.organization.as_str(),
                f.message
            )
        })
        .collect()
}
