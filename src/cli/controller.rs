//! `orgctl controller`: sets up logging (text or JSON) and runs
//! [`crate::controller`] with the settings `cli::settings` resolved.

use std::process::ExitCode;

use super::args::LogFormat;
use super::printer::Printer;
use super::settings::ControllerProcess;
use crate::controller::{self, Settings};
use crate::diagnostic::error_chain;

/// `orgctl controller`.
pub fn run(printer: &Printer, a: &ControllerProcess, settings: Settings) -> ExitCode {
    init_logging(a, printer.color_err);
    tracing::info!(
        backend = %settings.backend,
        resync = ?settings.resync,
        listen = %a.listen,
        namespaces = %if settings.namespaces.is_empty() { "(all)".to_string() } else { settings.namespaces.join(",") },
        "starting the orgctl controller"
    );
    match controller::run_blocking(settings, a.listen.clone()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %error_chain(&e), "the controller stopped");
            ExitCode::FAILURE
        }
    }
}

/// Logs on stderr, coloured only where the printer colours stderr (a
/// terminal under `--color auto`, as `--color` decides): a log collector or file
/// must not get ANSI escape codes.
fn init_logging(a: &ControllerProcess, color: bool) {
    let directive = match a.log_level.as_str() {
        l @ ("error" | "warn" | "info" | "debug" | "trace") => format!("orgctl={l},kube=warn"),
        other => other.to_string(),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ORGCTL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(directive));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color);
    let _ = match a.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
