//! `validate`, `plan` and `apply`: the main job.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use super::printer::{Output, Printer, Rendered};
use super::progress::{count, Writing};
use super::settings::{ApplyCommand, BackendSettings, PlanCommand, PlanSettings, ValidateCommand};
use super::{open_backend, print_diagnostics, print_engine_error, read_sources, report, CmdResult, Reported};
use crate::apply::{self, EnvAndFiles};
use crate::backend::Backend;
use crate::diagnostic::error_chain;
use crate::engine;
use crate::plan::{Plan, FORMAT_VERSION};
use crate::render::{self, Format};
use crate::validate;

/// `orgctl validate`.
pub fn validate(printer: &Printer, a: &ValidateCommand) -> CmdResult {
    let sources = read_sources(printer, &a.files)?;
    match validate::run(&sources) {
        Ok(state) => {
            let objects: usize = state.organizations.values().map(|o| o.objects.len()).sum();
            let orgs = state.organizations.len();
            printer.result(
                &serde_json::json!({ "valid": true, "objects": objects, "organizations": orgs, "problems": [] }),
                |_| {
                    format!(
                        "The files are valid: {} in {}.",
                        count(objects, "object"),
                        count(orgs, "organization")
                    )
                },
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(diags) => {
            // Problems in text are messages on stderr, not a result.
            if printer.output() == Output::Json {
                printer.json(&serde_json::json!({ "valid": false, "problems": diags }));
            } else {
                print_diagnostics(printer, &diags);
            }
            Err(Reported)
        }
    }
}

/// Reads the files and plans them. Validation and the live snapshot run
/// side by side; reading never creates or changes the backend, so invalid
/// files leave it untouched.
fn make_plan(
    printer: &Printer,
    files: &[std::path::PathBuf],
    backend: &BackendSettings,
    settings: &PlanSettings,
) -> Result<(Box<dyn Backend>, engine::Planned), Reported> {
    let sources = read_sources(printer, files)?;
    let backend = open_backend(printer, backend)?;
    let mut options = settings.options.clone();
    if options.guard.addresses.is_empty() {
        // No --my-ip: the addresses the backend sees this machine at, if it can tell.
        options.guard.addresses = backend.client_addresses();
    }
    let exceptions = super::posture::read_exceptions(printer, &settings.posture_exceptions)?;
    let phase = printer.phase("Reading the files and the live directory, planning");
    let planned = engine::plan(&sources, backend.as_ref(), &options, &EnvAndFiles);
    drop(phase);
    let mut planned = planned.map_err(|e| {
        print_engine_error(printer, &e);
        Reported
    })?;
    super::posture::accept_in_plan(&mut planned.plan, &exceptions);
    Ok((backend, planned))
}

/// `--fail-on-posture`: refuses a plan that introduces an open finding that
/// severe (each one printed), after the plan was shown.
fn posture_gate(printer: &Printer, plan: &Plan, settings: &PlanSettings) -> Result<(), Reported> {
    let Some(level) = settings.fail_on_posture else {
        return Ok(());
    };
    let refused = super::posture::refused_by(plan, level);
    if refused.is_empty() {
        return Ok(());
    }
    for r in &refused {
        printer.error(r);
    }
    printer.err("The plan is refused by --fail-on-posture; nothing was changed.");
    Err(Reported)
}

fn changes_code(plan: &Plan, detailed: bool) -> ExitCode {
    if detailed && !plan.is_empty() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

impl Rendered for Plan {
    fn render(&self, output: Output, color: bool) -> String {
        let format = match output {
            Output::Text => Format::Text,
            Output::Markdown => Format::Markdown,
            // Plans offer no SARIF (clap refuses it for plan and apply).
            Output::Json | Output::Sarif => Format::Json,
        };
        render::render(self, format, color)
    }
}

/// `orgctl plan`.
pub fn plan(printer: &Printer, s: &PlanCommand) -> CmdResult {
    let (_backend, planned) = make_plan(printer, &s.files, &s.backend, &s.plan)?;
    printer.rendered(&planned.plan);
    posture_gate(printer, &planned.plan, &s.plan)?;
    if let Some(path) = &s.out {
        let json = serde_json::to_string_pretty(&planned.plan).map_err(|e| {
            printer.error(&format!("failed to encode the plan: {e}"));
            Reported
        })?;
        std::fs::write(path, json).map_err(|e| {
            printer.error(&format!("failed to write {}: {e}", path.display()));
            Reported
        })?;
        printer.note(&format!(
            "Saved the plan to {}; apply it with: orgctl apply --plan {}",
            path.display(),
            path.display()
        ));
    }
    Ok(changes_code(&planned.plan, s.detailed_exitcode))
}

fn read_saved_plan(printer: &Printer, path: &std::path::Path) -> Result<Plan, Reported> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        printer.error(&format!("failed to read {}: {e}", path.display()));
        Reported
    })?;
    let version = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("formatVersion").and_then(serde_json::Value::as_u64));
    if version != Some(u64::from(FORMAT_VERSION)) {
        printer.error(&format!(
            "{} is not a plan of format version {FORMAT_VERSION} (written by `orgctl plan --out`)",
            path.display()
        ));
        return Err(Reported);
    }
    serde_json::from_str(&text).map_err(|e| {
        printer.error(&format!("{} is not a valid plan: {e}", path.display()));
        Reported
    })
}

fn confirm(printer: &Printer) -> Result<bool, Reported> {
    if !std::io::stdin().is_terminal() {
        printer.error("refusing to apply without a terminal to confirm on; pass --auto-approve to apply non-interactively");
        return Err(Reported);
    }
    let mut err = std::io::stderr().lock();
    let _ = write!(
        err,
        "\nDo you want to perform these actions?\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: "
    );
    let _ = err.flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    Ok(line.trim() == "yes")
}

/// `orgctl apply`.
pub fn apply(printer: &Printer, s: &ApplyCommand) -> CmdResult {
    let (mut backend, plan, secrets) = match &s.saved_plan {
        Some(path) => {
            let plan = read_saved_plan(printer, path)?;
            let backend = open_backend(printer, &s.backend)?;
            let live = apply::check_stale(&plan, backend.as_ref()).map_err(|e| {
                printer.error(&error_chain(&e));
                Reported
            })?;
            let mut secrets = apply::secrets::resolve_plan(&plan, &EnvAndFiles).map_err(|errors| {
                for e in errors {
                    printer.error(&e.to_string());
                }
                Reported
            })?;
            secrets.digest_with(backend.as_ref()).map_err(|e| {
                printer.error(&error_chain(&e));
                Reported
            })?;
            secrets.keep_live(&plan, &live);
            (backend, plan, secrets)
        }
        None => {
            let (backend, planned) = make_plan(printer, &s.files, &s.backend, &s.plan)?;
            (backend, planned.plan, planned.secrets)
        }
    };
    // JSON is one document: the plan on a dry run, else the apply report.
    let json = printer.output() == Output::Json;
    if !json {
        printer.rendered(&plan);
    }
    if s.dry_run {
        if json {
            printer.out(&render::render(&plan, Format::Json, false));
        }
        return Ok(changes_code(&plan, s.detailed_exitcode));
    }
    posture_gate(printer, &plan, &s.plan)?;
    if plan.is_empty() {
        if json {
            printer.out(&report::json(&plan, None));
        }
        return Ok(ExitCode::SUCCESS);
    }
    // A saved plan is the change someone reviewed: applying it asks nothing.
    if s.saved_plan.is_none() && !s.auto_approve && !confirm(printer)? {
        printer.err("Apply cancelled; nothing was changed.");
        return Err(Reported);
    }
    let mut writing = Writing::start(printer.progress, &plan);
    let result = apply::execute(&plan, backend.as_mut(), &secrets, &mut |done, total| {
        writing.update(done, total);
    });
    writing.finish();
    if json {
        printer.out(&report::json(&plan, Some(&result)));
    } else {
        printer.out(&report::text(&plan, &result, printer.color));
    }
    if !result.succeeded() {
        Err(Reported)
    } else {
        Ok(ExitCode::SUCCESS)
    }
}
