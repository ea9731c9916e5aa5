//! `explain user`: effective access of one user; `explain signin`: whether a
//! sign-in would be allowed under the user's security policy (exit 3 when
//! denied), optionally as the organization was at a past time (`--at`,
//! rebuilt by [`crate::backend::asof`]). Both read the files (`-f`) or the
//! live backend, and print text or JSON.

use std::process::ExitCode;

use super::args::EXIT_DENIED;
use super::printer::{Output, Printer};
use super::settings::{ExplainSigninCommand, ExplainUserCommand};
use super::{open_existing_backend, print_diagnostics, read_sources, CmdResult, Reported};
use crate::access::{AccessModel, AsOfState, SignInAttempt, SignInContext};
use crate::backend::asof;
use crate::diagnostic::{did_you_mean, error_chain};
use crate::model::Name;
use crate::render;

/// Picks the organization: the one named, or the only one there is.
fn pick(printer: &Printer, named: Option<&str>, available: Vec<Name>) -> Result<Name, Reported> {
    if let Some(n) = named {
        return match available.iter().find(|o| o.as_str() == n) {
            Some(o) => Ok(o.clone()),
            None => {
                let hint = did_you_mean(n, available.iter().map(Name::as_str))
                    .map(|s| format!(", did you mean {s:?}?"))
                    .unwrap_or_default();
                printer.error(&format!("organization {n:?} was not found{hint}"));
                Err(Reported)
            }
        };
    }
    match available.as_slice() {
        [only] => Ok(only.clone()),
        [] => {
            printer.error("there is no organization to explain");
            Err(Reported)
        }
        several => {
            let names: Vec<&str> = several.iter().map(Name::as_str).collect();
            printer.error(&format!(
                "several organizations ({}); choose one with --org",
                names.join(", ")
            ));
            Err(Reported)
        }
    }
}

fn explain(printer: &Printer, model: &AccessModel, a: &ExplainUserCommand) -> CmdResult {
    let Some(explanation) = model.explain_user(&a.name) else {
        let org = model.organization().map(Name::as_str).unwrap_or_default();
        let hint = did_you_mean(&a.name, model.users().map(Name::as_str))
            .map(|s| format!(", did you mean {s:?}?"))
            .unwrap_or_default();
        printer.error(&format!("user {:?} is not in organization {org:?}{hint}", a.name));
        return Err(Reported);
    };
    printer.result(&explanation, |e| {
        render::explain::user(e, model.organization().map(Name::as_str))
    });
    Ok(ExitCode::SUCCESS)
}

/// Reads and validates the files and picks the organization named (or the
/// only one).
fn load_desired(
    printer: &Printer,
    files: &[std::path::PathBuf],
    named: Option<&str>,
) -> Result<(crate::validate::DesiredState, Name), Reported> {
    let sources = read_sources(printer, files)?;
    let desired = crate::validate::run(&sources).map_err(|diags| {
        print_diagnostics(printer, &diags);
        Reported
    })?;
    let org = pick(printer, named, desired.organizations.keys().cloned().collect())?;
    Ok((desired, org))
}

/// `orgctl explain user NAME`.
pub fn user(printer: &Printer, a: &ExplainUserCommand) -> CmdResult {
    let (source, backend) = (&a.source, &a.source.backend);
    if !source.files.is_empty() {
        let desired = load_desired(printer, &source.files, source.organization.as_deref())?;
        let Some(desired_org) = desired.0.organizations.get(&desired.1) else {
            return Err(Reported);
        };
        return explain(
            printer,
            &AccessModel::from_desired(desired_org).with_policy_combination(backend.policy_combination()),
            a,
        );
    }
    let backend = open_existing_backend(printer, backend)?;
    let fail = |e: crate::backend::BackendError| {
        printer.error(&error_chain(&e));
        Reported
    };
    let org = pick(
        printer,
        source.organization.as_deref(),
        backend.organizations().map_err(fail)?,
    )?;
    let live = backend.snapshot(&org).map_err(fail)?;
    explain(
        printer,
        &AccessModel::from_live(&live).with_policy_combination(backend.capabilities().policies),
        a,
    )
}

fn explain_signin(
    printer: &Printer,
    model: &AccessModel,
    cx: &SignInContext,
    a: &ExplainSigninCommand,
    as_of: Option<AsOfState>,
) -> CmdResult {
    let attempt = SignInAttempt {
        ip: a.ip,
        mfa: a.mfa.map(Into::into),
        via: a.via.clone(),
    };
    let mut explanation = model.explain_signin(cx, &a.user, &attempt).map_err(|e| {
        printer.error(&e.to_string());
        Reported
    })?;
    explanation.as_of = as_of;
    // Its JSON predates `formatVersion` and is kept as scripts read it.
    if printer.output() == Output::Json {
        printer.out(&serde_json::to_string_pretty(&explanation).unwrap_or_default());
    } else {
        printer.out(&render::explain::signin(&explanation));
    }
    Ok(if explanation.allowed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_DENIED)
    })
}

/// `orgctl explain signin --user NAME --ip ADDR …`.
pub fn signin(printer: &Printer, a: &ExplainSigninCommand) -> CmdResult {
    let (source, backend) = (&a.source, &a.source.backend);
    // `--at` with files was refused by the settings.
    if !source.files.is_empty() {
        let desired = load_desired(printer, &source.files, source.organization.as_deref())?;
        let Some(desired_org) = desired.0.organizations.get(&desired.1) else {
            return Err(Reported);
        };
        return explain_signin(
            printer,
            &AccessModel::from_desired(desired_org).with_policy_combination(backend.policy_combination()),
            &SignInContext::from_desired(desired_org),
            a,
            None,
        );
    }
    let backend = open_existing_backend(printer, backend)?;
    let fail = |e: &dyn std::error::Error| {
        printer.error(&error_chain(e));
        Reported
    };
    let org = pick(
        printer,
        source.organization.as_deref(),
        backend.organizations().map_err(|e| fail(&e))?,
    )?;
    let (live, as_of) = match a.at {
        None => (backend.snapshot(&org).map_err(|e| fail(&e))?, None),
        Some(at) => {
            let past = asof::as_of(backend.as_ref(), &org, at).map_err(|e| fail(&e))?;
            let state = AsOfState {
                at: asof::format_time(at),
                revision: past.org.revision,
                applies_undone: past.undone.len(),
            };
            (past.org, Some(state))
        }
    };
    explain_signin(
        printer,
        &AccessModel::from_live(&live).with_policy_combination(backend.capabilities().policies),
        &SignInContext::from_live(&live),
        a,
        as_of,
    )
}
