//! `orgctl crds`: the generated Kubernetes CustomResourceDefinitions, as one
//! YAML stream on stdout or as one file per CRD in a directory.

use std::process::ExitCode;

use super::printer::Printer;
use super::settings::CrdsCommand;
use super::{CmdResult, Reported};
use crate::crd;
use crate::diagnostic::error_chain;

/// `orgctl crds`.
pub fn crds(printer: &Printer, a: &CrdsCommand) -> CmdResult {
    let failed = |e: crd::RenderError| {
        printer.error(&error_chain(&e));
        Reported
    };
    let Some(dir) = &a.dir else {
        printer.out(&crd::stream().map_err(failed)?);
        return Ok(ExitCode::SUCCESS);
    };
    let files = crd::files().map_err(failed)?;
    if let Err(e) = std::fs::create_dir_all(dir) {
        printer.error(&format!("failed to create {}: {e}", dir.display()));
        return Err(Reported);
    }
    for f in &files {
        let path = dir.join(&f.name);
        if let Err(e) = std::fs::write(&path, &f.text) {
            printer.error(&format!("failed to write {}: {e}", path.display()));
            return Err(Reported);
        }
    }
    printer.note(&format!("Wrote {} CRDs to {}.", files.len(), dir.display()));
    Ok(ExitCode::SUCCESS)
}
