//! The plan as a Markdown pull-request comment: a title with the summary, a
//! table with one row per change (⚠️ on destructive ones), then one
//! collapsible block per change holding the same per-field lines as the
//! terminal plan in a `diff` code block, then the objects `--prune` would
//! delete and the unmanaged count. Text from the plan is escaped for the
//! place it lands in (table cell, HTML summary, code fence).

use crate::plan::{Action, Change, ObjectRef, OrgPlan, Plan, Summary};

use super::lines::{self, Line, Marker, Tone, FIELD_INDENT};
use super::text::unmanaged_line;

/// How many field paths a table row lists before `+N more`.
const FIELDS_IN_TABLE: usize = 5;

/// The plan as a Markdown comment for a pull request.
#[must_use]
pub fn markdown(plan: &Plan) -> String {
    let Plan {
        format_version: _,
        backend: _,
        options: _,
        organizations,
    } = plan;
    let empty = plan.is_empty();
    let several = organizations.len() > 1;

    let mut blocks = Vec::new();
    if empty {
        blocks.push("### orgctl plan: no changes".to_string());
        blocks.push("The live directory matches the files.".to_string());
    } else {
        let Summary {
            add,
            change,
            destroy,
            assign,
        } = plan.summary();
        let assignments = super::impact::assign_summary(assign)
            .map(|a| format!(", app assignments {a}"))
            .unwrap_or_default();
        blocks.push(format!(
            "### orgctl plan: {add} to add, {change} to change, {destroy} to destroy{assignments}"
        ));
        if organizations.iter().any(|o| !o.changes.is_empty()) {
            blocks.push(table(organizations, several));
        }
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
        let mut org_blocks: Vec<String> = changes.iter().map(details).collect();
        let section = super::impact::sentences(impact);
        if !section.is_empty() {
            org_blocks.push(impact_list(&section));
        }
        if let Some((heading, items)) = super::posture::delta_section(&impact.posture) {
            let mut block = vec![format!("**{heading}**"), String::new()];
            block.extend(items.iter().map(|(introduced, text)| {
                let sign = if *introduced { "introduced" } else { "resolved" };
                format!("- {sign}: {}", cell(text))
            }));
            org_blocks.push(block.join("\n"));
        }
        if let Some(l) = super::impact::assignments_line(assignments) {
            org_blocks.push(l);
        }
        for w in super::impact::forced_lines(org) {
            org_blocks.push(format!("> ⚠️ {}", lines::sanitize(&w)));
        }
        if !prune_candidates.is_empty() {
            org_blocks.push(prune_list(prune_candidates));
        }
        if *unmanaged > 0 {
            org_blocks.push(unmanaged_line(*unmanaged));
        }
        if several && !org_blocks.is_empty() {
            blocks.push(format!("#### Organization `{}`", organization.as_str()));
        }
        blocks.extend(org_blocks);
    }

    let mut out = blocks.join("\n\n");
    out.push('\n');
    out
}

/// The summary table; an Organization column when the plan spans several.
fn table(organizations: &[OrgPlan], several: bool) -> String {
    let mut rows = Vec::new();
    if several {
        rows.push("| Organization | Action | Kind | Name | Fields |".to_string());
        rows.push("| --- | --- | --- | --- | --- |".to_string());
    } else {
        rows.push("| Action | Kind | Name | Fields |".to_string());
        rows.push("| --- | --- | --- | --- |".to_string());
    }
    for org in organizations {
        for change in &org.changes {
            let mut cells = Vec::new();
            if several {
                cells.push(cell(org.organization.as_str()));
            }
            cells.push(cell(&action_word(change)));
            cells.push(cell(change.kind.noun()));
            cells.push(cell(change.name.as_str()));
            cells.push(cell(&field_list(change)));
            rows.push(format!("| {} |", cells.join(" | ")));
        }
    }
    rows.join("\n")
}

/// `create`, `adopt and update`, `⚠️ destroy`….
fn action_word(change: &Change) -> String {
    let word = match (change.action, change.adopt) {
        (Action::Create, _) => "create",
        (Action::Update, false) => "update",
        (Action::Update, true) if change.fields.is_empty() => "adopt",
        (Action::Update, true) => "adopt and update",
        (Action::Replace, false) => "replace",
        (Action::Replace, true) => "adopt and replace",
        (Action::Delete, _) => "destroy",
    };
    if change.destructive.is_some() {
        format!("⚠️ {word}")
    } else {
        word.to_string()
    }
}

/// The changed field paths, the first few of them.
fn field_list(change: &Change) -> String {
    let fields = change.field_changes();
    let mut paths: Vec<String> = fields
        .iter()
        .take(FIELDS_IN_TABLE)
        .map(|f| f.path.clone())
        .collect();
    let more = fields.len().saturating_sub(FIELDS_IN_TABLE);
    if more > 0 {
        paths.push(format!("+{more} more"));
    }
    paths.join(", ")
}

/// Text made safe for a table cell: no column breaks, no HTML, one line.
pub(super) fn cell(s: &str) -> String {
    lines::sanitize(s)
        .replace('|', "\\|")
        .replace('<', "&lt;")
        .replace(['\n', '\r'], " ")
}

/// Text made safe inside an HTML element.
fn html(s: &str) -> String {
    lines::sanitize(s)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// One change as a collapsible block with a `diff` code block inside.
fn details(change: &Change) -> String {
    let mark = if change.destructive.is_some() {
        "⚠️ "
    } else {
        ""
    };
    let summary = format!("{mark}{}", html(&lines::headline(change)));

    let mut body: Vec<Line> = lines::notes(change, 0);
    let fields = lines::field_lines(change);
    if fields.is_empty() {
        body.push(Line {
            indent: 0,
            marker: Marker::of(change.action),
            text: format!(" {}", lines::object(change)),
            tone: Tone::Plain,
        });
    }
    let mut code: Vec<String> = body.iter().map(|l| l.diff_block(0)).collect();
    code.extend(fields.iter().map(|l| l.diff_block(FIELD_INDENT)));
    let code = code.join("\n");
    let fence = "`".repeat(longest_backtick_run(&code).max(2) + 1);

    format!("<details><summary>{summary}</summary>\n\n{fence}diff\n{code}\n{fence}\n\n</details>")
}

/// The longest run of backticks in `s`, so a fence can be longer.
fn longest_backtick_run(s: &str) -> usize {
    s.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

/// The access impact as a heading and a nested list; markers as words
/// (a PR comment has no colours, and `+`/`-` at a line start make lists).
fn impact_list(sentences: &[super::impact::Sentence]) -> String {
    sentences
        .iter()
        .map(|s| {
            let text = lines::sanitize(&s.text).replace('<', "&lt;");
            if s.depth == 0 {
                return format!("**{text}**\n");
            }
            let mark = match s.marker {
                Marker::Add => "🟢 ",
                Marker::Remove => "🔴 ",
                Marker::Change | Marker::Replace => "🟡 ",
                Marker::Context | Marker::None => "",
            };
            format!("{}- {mark}{text}", "  ".repeat(s.depth - 1))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Managed objects that left the files, kept because `--prune` was not given.
fn prune_list(candidates: &[ObjectRef]) -> String {
    let mut out = vec![
        "**Managed objects no longer in the files**, kept because `--prune` was not given:\n".to_string(),
    ];
    for ObjectRef { kind, name } in candidates {
        out.push(format!(
            "- {} {:?} would be deleted with `--prune`",
            kind.noun(),
            name.as_str()
        ));
    }
    out.join("\n")
}
