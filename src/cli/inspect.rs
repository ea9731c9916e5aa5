//! `diff`, `export`, `history` and `schema`: looking at state without changing it.

use std::collections::BTreeMap;
use std::process::ExitCode;

use serde_json::Value;

use super::args::Layout;
use super::printer::{Output, Printer};
use super::settings::DiffCommand;
use super::settings::{ExportCommand, HistoryCommand, SchemaCommand};
use super::{
    known_organization, open_backend, open_existing_backend, print_engine_error, read_sources, CmdResult,
    Reported,
};
use crate::apply::EnvAndFiles;
use crate::backend::JsonText;
use crate::diagnostic::error_chain;
use crate::engine;
use crate::load::emit;
use crate::model::{secret_paths, Kind, Metadata, Name, Object, Spec};
use crate::plan::Action;

fn document(kind: Kind, name: &Name, spec: Value) -> Value {
    serde_json::json!({
        "apiVersion": crate::model::API_VERSION,
        "kind": kind.as_str(),
        "metadata": { "name": name.as_str() },
        "spec": spec,
    })
}

/// `orgctl diff`.
pub fn diff(printer: &Printer, s: &DiffCommand) -> CmdResult {
    let sources = read_sources(printer, &s.files)?;
    let backend = open_backend(printer, &s.backend)?;
    let planned = engine::plan(&sources, backend.as_ref(), &s.plan.options, &EnvAndFiles).map_err(|e| {
        print_engine_error(printer, &e);
        Reported
    })?;
    let mut out = String::new();
    for org in &planned.plan.organizations {
        let live = planned.live.get(&org.organization);
        for change in &org.changes {
            let before = live
                .and_then(|l| l.get(change.kind, &change.name))
                .map(|o| {
                    emit::document(&document(
                        change.kind,
                        &change.name,
                        crate::model::redact_secrets(change.kind, o.spec.to_json()),
                    ))
                })
                .unwrap_or_default();
            let after = match (&change.after, change.action) {
                (Some(after), a) if a != Action::Delete => emit::document(&document(
                    change.kind,
                    &change.name,
                    crate::model::redact_secrets(change.kind, after.value()),
                )),
                _ => String::new(),
            };
            let label = format!("{}/{}/{}", org.organization, change.kind, change.name);
            let text = similar::TextDiff::from_lines(&before, &after);
            out.push_str(
                &text
                    .unified_diff()
                    .context_radius(3)
                    .header(&format!("live/{label}"), &format!("desired/{label}"))
                    .to_string(),
            );
        }
    }
    if out.is_empty() {
        printer.out("No differences.");
        return Ok(ExitCode::SUCCESS);
    }
    printer.out(&out);
    Ok(if s.detailed_exitcode {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// The file of a kind in the `kind` layout: its plural, but the one
/// organization an export holds goes to `organization.yaml`.
fn file_stem(kind: Kind) -> &'static str {
    match kind {
        Kind::Organization => "organization",
        other => other.plural(),
    }
}

/// Drops secret fields: their values never leave the backend.
fn without_secrets(kind: Kind, mut spec: Value) -> (Value, usize) {
    let mut dropped = 0;
    for path in secret_paths(kind) {
        if crate::model::path::remove(&mut spec, path).is_some() {
            dropped += 1;
        }
    }
    (spec, dropped)
}

/// `orgctl export`.
pub fn export(printer: &Printer, a: &ExportCommand) -> CmdResult {
    let org = &a.organization;
    let backend = open_existing_backend(printer, &a.backend)?;
    known_organization(printer, backend.as_ref(), org)?;
    let live = backend.snapshot(org).map_err(|e| {
        printer.error(&error_chain(&e));
        Reported
    })?;
    if live.objects.is_empty() {
        printer.error(&format!(
            "organization {:?} does not exist in {}",
            org.as_str(),
            backend.describe()
        ));
        return Err(Reported);
    }
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    let mut dropped = 0;
    for ((kind, name), obj) in &live.objects {
        let (spec, n) = without_secrets(*kind, obj.spec.to_json());
        dropped += n;
        let object = Object {
            metadata: Metadata {
                name: name.clone(),
                labels: BTreeMap::new(),
                annotations: BTreeMap::new(),
            },
            spec: Spec::from_json(*kind, spec).map_err(|e| {
                printer.error(&format!(
                    "stored {} is unreadable: {e}",
                    kind.label(name.as_str())
                ));
                Reported
            })?,
        };
        let file = match a.layout {
            Layout::Kind => format!("{}.yaml", file_stem(*kind)),
            Layout::Object => format!("{}/{}.yaml", kind.as_str().to_lowercase(), name),
        };
        files
            .entry(file)
            .or_default()
            .push_str(&emit::document(&object.to_document()));
    }
    let sorted: Vec<(String, String)> = {
        // Files in dependency order of their first kind, for readers.
        let mut v: Vec<(String, String)> = files.into_iter().collect();
        v.sort_by_key(|(f, _)| {
            let rank = Kind::ALL
                .iter()
                .position(|k| f.starts_with(file_stem(*k)) || f.starts_with(&k.as_str().to_lowercase()))
                .unwrap_or(0);
            (rank, f.clone())
        });
        v
    };
    match &a.dir {
        None => {
            let all: String = sorted.into_iter().map(|(_, text)| text).collect();
            printer.out(&all);
        }
        Some(dir) => {
            for (file, text) in &sorted {
                let path = dir.join(file);
                let written = path
                    .parent()
                    .map_or(Ok(()), std::fs::create_dir_all)
                    .and_then(|_| std::fs::write(&path, text));
                if let Err(e) = written {
                    printer.error(&format!("failed to write {}: {e}", path.display()));
                    return Err(Reported);
                }
            }
            printer.note(&format!(
                "Exported {} of {:?} into {} under {}.",
                super::progress::count(live.objects.len(), "object"),
                org.as_str(),
                super::progress::count(sorted.len(), "file"),
                dir.display()
            ));
        }
    }
    if dropped > 0 {
        printer.warn(&format!(
            "{dropped} secret field(s) were left out (secret values never leave the backend); they stay as they are when the export is applied"
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// `orgctl history`.
pub fn history(printer: &Printer, a: &HistoryCommand) -> CmdResult {
    let org = a.organization.as_ref();
    let backend = open_existing_backend(printer, &a.backend)?;
    if let Some(org) = org {
        known_organization(printer, backend.as_ref(), org)?;
    }
    if let (Some(reason), Output::Text) = (backend.capabilities().no_history, printer.output()) {
        printer.out(&format!("No history: {reason}."));
        return Ok(ExitCode::SUCCESS);
    }
    let entries = backend.history(org, a.limit).map_err(|e| {
        printer.error(&error_chain(&e));
        Reported
    })?;
    printer.result(&serde_json::json!({ "entries": entries }), |_| {
        history_text(&entries)
    });
    Ok(ExitCode::SUCCESS)
}

/// The history for people: each revision and its changes.
fn history_text(entries: &[crate::backend::AuditEntry]) -> String {
    if entries.is_empty() {
        return "No changes have been applied yet.".to_string();
    }
    let mut out = String::new();
    for e in entries {
        let n = e.changes.len();
        out.push_str(&format!(
            "revision {}  {}  {}  {n} change{}\n",
            e.revision,
            e.time,
            e.organization,
            if n == 1 { "" } else { "s" }
        ));
        for c in &e.changes {
            if c.action == "assign" {
                let field = |k: &str| {
                    c.after
                        .as_ref()
                        .map(JsonText::value)
                        .and_then(|a| a.get(k).and_then(Value::as_u64))
                        .unwrap_or(0)
                };
                let users = field("users");
                out.push_str(&format!(
                    "  ~ app assignments of {users} user{} ({} grant{} added, {} removed)\n",
                    if users == 1 { "" } else { "s" },
                    field("grantsAdded"),
                    if field("grantsAdded") == 1 { "" } else { "s" },
                    field("grantsRemoved")
                ));
                continue;
            }
            let sym = match c.action.as_str() {
                "create" => "+",
                "delete" => "-",
                "replace" => "-/+",
                _ => "~",
            };
            out.push_str(&format!("  {sym} {}\n", c.kind.label(&c.name)));
            if c.action == "update" || c.action == "replace" {
                let empty = serde_json::Map::new();
                let (before, after) = (
                    c.before.as_ref().map(JsonText::value),
                    c.after.as_ref().map(JsonText::value),
                );
                let before = before.as_ref().and_then(Value::as_object).unwrap_or(&empty);
                let after = after.as_ref().and_then(Value::as_object).unwrap_or(&empty);
                for (path, new) in after {
                    let old = before.get(path).unwrap_or(&Value::Null);
                    // Set changes are recorded as {added} after and {removed} before.
                    let line = match (new.get("added"), old.get("removed")) {
                        (Some(added), Some(removed)) => format!("added {added}, removed {removed}"),
                        _ => format!("{old} -> {new}"),
                    };
                    out.push_str(&format!("      {path}: {line}\n"));
                }
            }
        }
    }
    out
}

/// The schema accepting any kind: `oneOf` the per-kind schemas, shared `$defs`.
pub fn combined_schema() -> Value {
    let mut defs = serde_json::Map::new();
    let mut one_of = Vec::new();
    for kind in Kind::ALL {
        let mut s = kind.json_schema();
        if let Some(o) = s.as_object_mut() {
            if let Some(Value::Object(d)) = o.remove("$defs") {
                defs.extend(d);
            }
            o.remove("$schema");
        }
        one_of.push(s);
    }
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "orgctl object",
        "oneOf": one_of,
        "$defs": defs,
    })
}

/// `orgctl schema`.
pub fn schema(printer: &Printer, a: &SchemaCommand) -> CmdResult {
    let schema = match a.kind {
        None => combined_schema(),
        Some(kind) => kind.json_schema(),
    };
    printer.out(&serde_json::to_string_pretty(&schema).unwrap_or_default());
    Ok(ExitCode::SUCCESS)
}
