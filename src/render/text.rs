//! The terminal plan, in Terraform's grammar: a legend of the symbols in use,
//! one block per change in plan order (deletions first), the managed objects
//! `--prune` would delete, the unmanaged count, and the summary footer.
//! Colour is the caller's decision ([`TextOptions::color`]); without it the
//! output holds no escape codes at all.

use crate::plan::{Action, Change, ObjectRef, OrgPlan, Plan, Summary};

use super::lines::{self, Line, Marker, Painter, Tone, BOLD, GREEN};

/// Options of the terminal rendering.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TextOptions {
    /// Emit ANSI colours and bold (only for a terminal that wants them).
    pub color: bool,
}

/// Column of a change's header lines.
const HEADER_INDENT: usize = 2;

/// The plan as a person reads it in a terminal.
#[must_use]
pub fn text(plan: &Plan, opts: &TextOptions) -> String {
    let TextOptions { color } = *opts;
    let p = Painter::new(color);
    let Plan {
        format_version: _,
        backend: _,
        options: _,
        organizations,
    } = plan;
    let empty = plan.is_empty();
    let several = organizations.len() > 1;

    let mut blocks = Vec::new();
    if !empty {
        blocks.push(legend(plan, p));
        blocks.push("orgctl will perform the following actions:".to_string());
    }
    for org in organizations {
        let OrgPlan {
            organization,
            revision: _,
            fingerprints: _,
            changes,
            prune_candidates,
            unmanaged,
            assignments,
            impact,
            forced: _,
        } = org;
        let mut org_blocks: Vec<String> = changes.iter().map(|c| change_block(c, p)).collect();
        if several && changes.is_empty() && assignments.is_empty() && !empty {
            org_blocks.push("  No changes in this organization.".to_string());
        }
        let section = super::impact::sentences(impact);
        if !section.is_empty() {
            org_blocks.push(impact_block(&section, p));
        }
        if let Some((heading, items)) = super::posture::delta_section(&impact.posture) {
            let mut block = vec![p.paint(BOLD, &heading)];
            block.extend(items.iter().map(|(introduced, text)| {
                let marker = if *introduced { Marker::Add } else { Marker::Remove };
                format!(
                    "{}{} {text}",
                    " ".repeat(HEADER_INDENT),
                    p.paint(marker.style(), marker.symbol())
                )
            }));
            org_blocks.push(block.join("\n"));
        }
        if let Some(l) = super::impact::assignments_line(assignments) {
            org_blocks.push(l);
        }
        for w in super::impact::forced_lines(org) {
            org_blocks.push(p.paint(super::lines::WARNING, &w));
        }
        if !prune_candidates.is_empty() {
            org_blocks.push(prune_block(prune_candidates, p));
        }
        if *unmanaged > 0 {
            org_blocks.push(unmanaged_line(*unmanaged));
        }
        if several && !org_blocks.is_empty() {
            let heading = format!("Organization {:?}:", organization.as_str());
            blocks.push(p.paint(BOLD, &heading));
        }
        blocks.extend(org_blocks);
    }
    blocks.push(footer(plan.summary(), empty, p));

    let mut out = blocks.join("\n\n");
    out.push('\n');
    out
}

/// The symbols in use: create, update, replace, destroy.
fn legend(plan: &Plan, p: Painter) -> String {
    let used = |action: Action| {
        plan.organizations
            .iter()
            .flat_map(|o| &o.changes)
            .any(|c| c.action == action)
    };
    let mut out = vec!["Objects are marked with the following symbols:".to_string()];
    let entries = [
        (Action::Create, "create"),
        (Action::Update, "update in place"),
        (Action::Replace, "destroy and then create replacement"),
        (Action::Delete, "destroy"),
    ];
    for (action, meaning) in entries {
        if used(action) {
            let marker = Marker::of(action);
            let symbol = format!("{:>3}", marker.symbol());
            out.push(format!("{} {meaning}", p.paint(marker.style(), &symbol)));
        }
    }
    out.join("\n")
}

/// One change: header comments, then `<sym> kind "name" {`, fields, `}`.
fn change_block(change: &Change, p: Painter) -> String {
    let mut out = vec![p.paint(
        BOLD,
        &format!("{}# {}", " ".repeat(HEADER_INDENT), lines::headline(change)),
    )];
    out.extend(lines::notes(change, HEADER_INDENT).iter().map(|l| l.terminal(p)));

    let marker = Marker::of(change.action);
    let body = lines::field_lines(change, lines::Values::Json);
    let opener = Line {
        // Right-align the symbol in three columns, as Terraform does.
        indent: (HEADER_INDENT + 1).saturating_sub(marker.symbol().len()),
        marker,
        text: if body.is_empty() {
            format!(" {}", lines::object(change))
        } else {
            format!(" {} {{", lines::object(change))
        },
        tone: Tone::Plain,
    };
    out.push(opener.terminal(p));
    if !body.is_empty() {
        out.extend(body.iter().map(|l| l.terminal(p)));
        out.push(format!("{}}}", " ".repeat(lines::FIELD_INDENT - 2)));
    }
    out.join("\n")
}

/// The access impact, indented under its heading, markers coloured.
fn impact_block(sentences: &[super::impact::Sentence], p: Painter) -> String {
    sentences
        .iter()
        .map(|s| {
            let indent = " ".repeat(HEADER_INDENT * (s.depth + usize::from(s.depth > 0)));
            if s.depth == 0 {
                p.paint(BOLD, &s.text)
            } else if s.marker == Marker::None {
                format!("{indent}  {}", s.text)
            } else {
                format!(
                    "{indent}{} {}",
                    p.paint(s.marker.style(), s.marker.symbol()),
                    s.text
                )
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Managed objects that left the files, kept because `--prune` was not given.
fn prune_block(candidates: &[ObjectRef], p: Painter) -> String {
    let mut out = vec![p.paint(
        BOLD,
        "Managed objects no longer in the files, kept because --prune was not given:",
    )];
    for ObjectRef { kind, name } in candidates {
        out.push(format!(
            "{}# {} would be deleted with --prune",
            " ".repeat(HEADER_INDENT),
            kind.label(name.as_str())
        ));
    }
    out.join("\n")
}

/// `3 unmanaged objects left alone.`
pub(super) fn unmanaged_line(n: usize) -> String {
    let noun = if n == 1 { "object" } else { "objects" };
    format!("{n} unmanaged {noun} left alone.")
}

/// `Plan: …` or `No changes. …`.
fn footer(summary: Summary, empty: bool, p: Painter) -> String {
    if empty {
        format!(
            "{} The live directory matches the files.",
            p.paint(GREEN.bold(), "No changes.")
        )
    } else {
        let Summary {
            add,
            change,
            destroy,
            assign,
        } = summary;
        let mut line = format!("Plan: {add} to add, {change} to change, {destroy} to destroy.");
        if let Some(a) = super::impact::assign_summary(assign) {
            line.push_str(&format!(" App assignments {a}."));
        }
        p.paint(BOLD, &line)
    }
}
