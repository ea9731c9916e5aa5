//! `orgctl serve`. The accepted tokens come from `--token-file` /
//! `ORGCTL_TOKEN_FILE` and `ORGCTL_SERVE_TOKEN` (resolved by
//! `cli::settings`), never from flag values, and are never printed.

use super::printer::Printer;
use super::settings::ServeSettings;
use super::{CmdResult, Reported};
use crate::diagnostic::error_chain;
use crate::serve::{self, ServeConfig, Tokens};
use std::process::ExitCode;

/// `orgctl serve`: runs until SIGTERM/SIGINT.
pub(super) fn serve(printer: &Printer, settings: &ServeSettings) -> CmdResult {
    let tokens = Tokens::load(settings.token_file.as_deref(), settings.token.clone()).map_err(|e| {
        printer.error(&error_chain(&e));
        Reported
    })?;
    if tokens.any_short() {
        printer.warn("a token is shorter than 16 characters; use long random tokens");
    }
    #[cfg(feature = "dev")]
    if !settings.faults.is_empty() {
        printer.warn("fault injection is on (--inject-fault): for tests only");
    }
    let config = ServeConfig {
        db: settings.db.clone(),
        listen: settings.listen,
        tokens,
        tls: settings.tls.clone(),
        #[cfg(feature = "dev")]
        faults: settings.faults.clone(),
        limits: settings.limits,
    };
    let result = serve::run(config, |addr, tls| {
        let scheme = if tls { "https" } else { "http" };
        // Tests and scripts read this line to learn the bound port.
        printer.out(&format!("orgctl serve: listening on {scheme}://{addr}"));
        tracing::info!(address = %addr, tls, "listening");
    });
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            printer.error(&error_chain(&e));
            Err(Reported)
        }
    }
}
