//! `orgctl serve`, and the http(s) backend settings resolved from flags and
//! environment (`--token-file`/`ORGCTL_TOKEN_FILE`, `ORGCTL_TOKEN`,
//! `--parallelism`, `--ca-file`, `--insecure-skip-tls-verify`,
//! `--request-timeout`). Tokens never come from flag values and are never
//! printed.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use super::args::{Cli, ServeArgs};
use super::printer::Printer;
use super::{CmdResult, Reported};
use crate::backend::http::{token_from, HttpOptions};
use crate::diagnostic::error_chain;
use crate::serve::{self, ServeConfig, Tokens};

/// The http(s) backend settings; warns when TLS verification is off.
pub(super) fn http_options(printer: &Printer, cli: &Cli, address: &str) -> Result<HttpOptions, Reported> {
    let flags = &cli.http;
    let remote = address.starts_with("http://") || address.starts_with("https://");
    if !remote {
        return Ok(HttpOptions::default());
    }
    let token = token_from(std::env::var("ORGCTL_TOKEN").ok(), flags.token_file.as_deref()).map_err(|e| {
        printer.error(&error_chain(&e));
        Reported
    })?;
    if flags.insecure_skip_tls_verify {
        printer.warn(&format!(
            "--insecure-skip-tls-verify: the certificate of {address} is not checked; anyone on the path can read the token and the directory"
        ));
    }
    Ok(HttpOptions {
        token,
        parallelism: usize::from(flags.parallelism),
        ca_file: flags.ca_file.clone(),
        insecure_skip_tls_verify: flags.insecure_skip_tls_verify,
        request_timeout: Duration::from_secs(flags.request_timeout),
    })
}

/// `orgctl serve`: runs until SIGTERM/SIGINT.
pub(super) fn serve(printer: &Printer, cli: &Cli, a: &ServeArgs) -> CmdResult {
    let tokens = Tokens::load(
        cli.http.token_file.as_deref(),
        std::env::var("ORGCTL_SERVE_TOKEN").ok(),
    )
    .map_err(|e| {
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
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "orgctl serve: listening on {scheme}://{addr}");
        let _ = out.flush();
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
