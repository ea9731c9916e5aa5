//! `orgctl serve`. The accepted tokens come from `--token-file` /
//! `ORGCTL_TOKEN_FILE` and `ORGCTL_SERVE_TOKEN` (resolved by
//! `cli::settings`), never from flag values, and are never printed.

use std::process::ExitCode;
use std::time::Duration;

use super::args::ServeArgs;
use super::printer::Printer;
use super::settings::ServeSettings;
use super::{CmdResult, Reported};
use crate::diagnostic::error_chain;
use crate::serve::{self, ServeConfig, Tokens};

/// `orgctl serve`: runs until SIGTERM/SIGINT.
pub(super) fn serve(printer: &Printer, a: &ServeArgs, settings: &ServeSettings) -> CmdResult {
    let tokens = Tokens::load(settings.token_file.as_deref(), settings.token.clone()).map_err(|e| {
        printer.error(&error_chain(&e));
        Reported
    })?;
    if tokens.any_short() {
        printer.warn("a token is shorter than 16 characters; use long random tokens");
    }
    #[cfg(feature = "dev")]
    if !a.inject_fault.is_empty() {
        printer.warn("fault injection is on (--inject-fault): for tests only");
    }
    let config = ServeConfig {
        db: a.db.clone(),
        listen: a.listen,
        tokens,
        tls: a.tls_cert.clone().zip(a.tls_key.clone()),
        #[cfg(feature = "dev")]
        faults: a.inject_fault.clone(),
        limits: serve::Limits {
            header_timeout: Duration::from_secs(a.header_timeout),
            body_timeout: Duration::from_secs(a.body_timeout),
            max_connections: usize::try_from(a.max_connections).unwrap_or(usize::MAX),
            max_body: usize::try_from(a.max_body_size).unwrap_or(usize::MAX),
        },
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
