//! `orgctl controller`: resolves its settings from flags and environment,
//! sets up logging (text or JSON), and runs [`crate::controller`].

use std::process::ExitCode;

use super::args::{Cli, ControllerArgs, LogFormat};
use crate::backend;
use crate::controller::{self, leader::LeaseSettings, Settings};
use crate::diagnostic::error_chain;

/// `orgctl controller`.
pub fn run(cli: &Cli, a: &ControllerArgs) -> ExitCode {
    init_logging(a, cli.no_color);
    let identity = std::env::var("POD_NAME")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("orgctl-controller-{}", std::process::id()));
    let leader = if a.leader_election {
        let Some(namespace) = a.lease_namespace.clone() else {
            eprintln!("error: --leader-election needs --lease-namespace (or POD_NAMESPACE)");
            return ExitCode::FAILURE;
        };
        Some(LeaseSettings::new(a.lease_name.clone(), namespace))
    } else {
        None
    };
    let settings = Settings {
        backend: cli
            .backend
            .clone()
            .unwrap_or_else(|| backend::DEFAULT_ADDRESS.to_string()),
        token_file: cli.http.token_file.clone(),
        http: crate::backend::http::HttpOptions {
            token: None,
            parallelism: usize::from(cli.http.parallelism),
            ca_file: cli.http.ca_file.clone(),
            insecure_skip_tls_verify: cli.http.insecure_skip_tls_verify,
            request_timeout: std::time::Duration::from_secs(cli.http.request_timeout),
        },
        resync: a.resync,
        namespaces: a.namespaces.clone(),
        leader,
        identity,
        ..Settings::default()
    };
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

/// Logs on stderr, coloured only on a terminal and without `--no-color` /
/// `NO_COLOR`: a log collector or file must not get ANSI escape codes.
fn init_logging(a: &ControllerArgs, no_color: bool) {
    let directive = match a.log_level.as_str() {
        l @ ("error" | "warn" | "info" | "debug" | "trace") => format!("orgctl={l},kube=warn"),
        other => other.to_string(),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ORGCTL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(directive));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(!no_color && std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match a.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
