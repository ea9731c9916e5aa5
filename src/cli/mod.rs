//! The command-line driver: `args` (clap types) → `settings` (flags,
//! environment and defaults resolved per command) → the command, which reads
//! files, calls the engine and prints through one [`printer::Printer`].
//! `main.rs` only parses arguments and calls [`run`].

mod about;
pub mod args;
mod commands;
mod controller;
mod crds;
mod explain;
mod inspect;
mod posture;
pub mod printer;
mod progress;
mod report;
mod serve;
pub mod settings;
pub mod sources;

use std::process::ExitCode;

pub use args::Cli;
use printer::Printer;
use settings::BackendSettings;

use crate::backend::{self, Backend};
use crate::diagnostic::{error_chain, Diagnostic};
use crate::engine::EngineError;

/// A command's failure, already explained to the user.
#[derive(Debug)]
pub struct Reported;

/// What a command returns: an exit code, or a failure already printed.
pub type CmdResult = Result<ExitCode, Reported>;

/// Parses the command line. A usage error exits 1 like every other error:
/// clap's own code for it, 2, means "changes present" here. Help and
/// version requests print to stdout and exit 0.
pub fn parse_args() -> Result<Cli, ExitCode> {
    use clap::FromArgMatches;
    args::command()
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m))
        .map_err(|e| {
            let _ = e.print();
            if e.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        })
}

/// Runs the CLI with parsed arguments.
pub fn run(cli: Cli) -> ExitCode {
    let env = settings::ProcessEnvironment;
    let global = match settings::global(&cli, &env) {
        Ok(g) => g,
        Err(e) => {
            // No settings, no printer: say it plainly, as clap says usage errors.
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let printer = Printer::new(&global);
    // The controller sets up its own logging (levels, JSON) and stays quiet
    // about panics its runtime reports.
    if !matches!(cli.command, args::Command::Controller(_)) {
        // The server logs one line per request at info level.
        printer.start_logging(u8::from(matches!(cli.command, args::Command::Serve(_))));
        // A bug must not greet people with a backtrace; say what to do instead.
        std::panic::set_hook(Box::new(|info| {
            let what = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            eprintln!(
                "error: orgctl hit an internal error ({what}); nothing more was written. Please report this with the command you ran."
            );
        }));
    }
    dispatch(&printer, &cli, &env).unwrap_or(ExitCode::FAILURE)
}

/// Resolves the command's settings and runs it.
fn dispatch(printer: &Printer, cli: &Cli, env: &dyn settings::Environment) -> CmdResult {
    let before = &cli.before_command;
    match &cli.command {
        args::Command::Validate(a) => {
            let s = settings::validate_command(a);
            commands::validate(&printer.with_output(s.format.into()), &s)
        }
        args::Command::Plan(a) => {
            let s = resolved(printer, settings::plan_command(a, before, env))?;
            commands::plan(&printer.with_output(s.format.into()), &s)
        }
        args::Command::Apply(a) => {
            let s = resolved(printer, settings::apply_command(a, before, env))?;
            commands::apply(&printer.with_output(s.format.into()), &s)
        }
        args::Command::Diff(a) => inspect::diff(
            printer,
            &resolved(printer, settings::diff_command(a, before, env))?,
        ),
        args::Command::Export(a) => inspect::export(
            printer,
            &resolved(printer, settings::export_command(a, before, env))?,
        ),
        args::Command::History(a) => {
            let s = resolved(printer, settings::history_command(a, before, env))?;
            inspect::history(&printer.with_output(s.format.into()), &s)
        }
        args::Command::Schema(a) => {
            inspect::schema(printer, &resolved(printer, settings::schema_command(a))?)
        }
        args::Command::Crds(a) => crds::crds(printer, &settings::crds_command(a)),
        args::Command::Controller(a) => Ok(controller::run(
            printer,
            &settings::controller_process(a),
            resolved(printer, settings::controller(a, before, env))?,
        )),
        args::Command::Explain(a) => match &a.what {
            args::ExplainWhat::User(u) => {
                let s = settings::explain_user_command(u, before, env);
                explain::user(&printer.with_output(s.source.format.into()), &s)
            }
            args::ExplainWhat::Signin(s) => {
                let s = resolved(printer, settings::explain_signin_command(s, before, env))?;
                explain::signin(&printer.with_output(s.source.format.into()), &s)
            }
        },
        args::Command::Serve(a) => serve::serve(printer, &settings::serve(a, before, env)),
        args::Command::Version(a) => {
            let s = settings::version_command(a);
            about::version(&printer.with_output(s.format.into()), &s)
        }
        args::Command::Completions(a) => about::completions(printer, &settings::completions_command(a)),
        args::Command::Man(a) => about::man(printer, &settings::man_command(a)),
        args::Command::Posture(a) => {
            let s = resolved(printer, settings::posture_command(a, before, env))?;
            posture::posture(&printer.with_output(s.format.into()), &s)
        }
    }
}

/// The settings, or their error printed.
fn resolved<T>(printer: &Printer, settings: Result<T, settings::SettingsError>) -> Result<T, Reported> {
    settings.map_err(|e| {
        printer.error(&e.to_string());
        Reported
    })
}

/// Opens the command's backend; warns when TLS verification is off.
fn open_backend(printer: &Printer, settings: &BackendSettings) -> Result<Box<dyn Backend>, Reported> {
    let fail = |e: backend::BackendError| {
        printer.error(&error_chain(&e));
        Reported
    };
    let options = settings.http_options().map_err(fail)?;
    if settings.is_http() && settings.insecure_skip_tls_verify {
        printer.warn(&format!(
            "--insecure-skip-tls-verify: the certificate of {} is not checked; anyone on the path can read the token and the directory",
            settings.address
        ));
    }
    backend::open_with(&settings.address, &options).map_err(fail)
}

/// Opens the backend for a command that only reads it (`history`, `export`,
/// `explain`). A `sqlite:` directory file that does not exist is an error
/// there: reading never creates it, and answering "nothing applied yet"
/// would pass a mistyped `--backend` off as an empty directory.
fn open_existing_backend(
    printer: &Printer,
    settings: &BackendSettings,
) -> Result<Box<dyn Backend>, Reported> {
    let address = &settings.address;
    if let Some(path) = address.strip_prefix("sqlite:") {
        if !path.is_empty() && !std::path::Path::new(path).exists() {
            printer.error(&format!(
                "the directory {address} does not exist: nothing has been applied to it (is --backend or ORGCTL_BACKEND right?)"
            ));
            return Err(Reported);
        }
    }
    open_backend(printer, settings)
}

/// Checks that `name` is one of the organizations `backend` holds; otherwise
/// an error with a did-you-mean among those it does hold.
fn known_organization(
    printer: &Printer,
    backend: &dyn Backend,
    name: &crate::model::Name,
) -> Result<(), Reported> {
    let organizations = backend.organizations().map_err(|e| {
        printer.error(&error_chain(&e));
        Reported
    })?;
    if organizations.contains(name) {
        return Ok(());
    }
    let name = name.as_str();
    let hint = crate::diagnostic::did_you_mean(name, organizations.iter().map(crate::model::Name::as_str))
        .map(|s| format!(", did you mean {s:?}?"))
        .unwrap_or_default();
    printer.error(&format!(
        "organization {name:?} does not exist in {}{hint}",
        backend.describe()
    ));
    Err(Reported)
}

/// Prints diagnostics and a one-line count.
fn print_diagnostics(printer: &Printer, diags: &[Diagnostic]) {
    for d in diags {
        printer.error(&d.to_string());
    }
    let files: std::collections::BTreeSet<&str> = diags
        .iter()
        .filter_map(|d| d.location.as_ref().map(|l| l.file.as_str()))
        .collect();
    let noun = if diags.len() == 1 { "problem" } else { "problems" };
    let in_files = match files.len() {
        0 => String::new(),
        1 => " in 1 file".to_string(),
        n => format!(" in {n} files"),
    };
    printer.err(&format!(
        "{} {noun} found{in_files}; nothing was changed.",
        diags.len()
    ));
}

/// Prints an engine error with every problem it holds.
fn print_engine_error(printer: &Printer, e: &EngineError) {
    match e {
        EngineError::Invalid(diags) => print_diagnostics(printer, diags),
        EngineError::Secrets(errors) => {
            for s in errors {
                printer.error(&s.to_string());
            }
        }
        EngineError::Backend(b) => printer.error(&format!("{}: {}", e, error_chain(b))),
        EngineError::Plan(errors) => {
            for p in errors {
                printer.error(&p.to_string());
            }
        }
    }
}

/// Reads the sources named by -f, printing every unreadable path.
fn read_sources(
    printer: &Printer,
    files: &[std::path::PathBuf],
) -> Result<Vec<crate::load::Source>, Reported> {
    sources::read(files).map_err(|errors| {
        for e in &errors {
            printer.error(&e.to_string());
        }
        Reported
    })
}
