//! What orgctl says about itself: `version` (and `--version`), shell
//! completions and man pages, all generated from the clap definition so they
//! never drift from the real flags.

use std::path::Path;
use std::process::ExitCode;

use super::args::documented;
use super::printer::Printer;
use super::settings::{CompletionsCommand, ManCommand, VersionCommand};
use super::{CmdResult, Reported};

/// The git commit of this build (`unknown` outside a git checkout).
pub const COMMIT: &str = env!("ORGCTL_GIT_COMMIT");

/// `0.1.0 (commit 1a2b3c4d5e6f)`, as `--version` prints it after the name.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("ORGCTL_GIT_COMMIT"),
    ")"
);

/// `orgctl version`.
/// Its format is the printer's.
pub(super) fn version(printer: &Printer, _: &VersionCommand) -> CmdResult {
    printer.result(
        &serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "commit": COMMIT,
        }),
        |_| format!("orgctl {VERSION}"),
    );
    Ok(ExitCode::SUCCESS)
}

/// `orgctl completions SHELL`: the completion script on stdout.
pub(super) fn completions(printer: &Printer, a: &CompletionsCommand) -> CmdResult {
    let mut cmd = documented();
    let mut out = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "orgctl", &mut out);
    printer.out(&String::from_utf8_lossy(&out));
    Ok(ExitCode::SUCCESS)
}

/// `orgctl man --out DIR`: `orgctl.1` and one page per subcommand.
pub(super) fn man(printer: &Printer, a: &ManCommand) -> CmdResult {
    let fail = |what: &Path, e: std::io::Error| {
        printer.error(&format!("failed to write {}: {e}", what.display()));
        Reported
    };
    std::fs::create_dir_all(&a.out).map_err(|e| fail(&a.out, e))?;
    clap_mangen::generate_to(documented(), &a.out).map_err(|e| fail(&a.out, e))?;
    printer.note(&format!(
        "Wrote orgctl.1 and a page per command (orgctl-plan.1, …) to {}.",
        a.out.display()
    ));
    Ok(ExitCode::SUCCESS)
}
