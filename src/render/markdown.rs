//! The plan as a Markdown pull-request comment: a title with the summary, a
//! table with one row per change (⚠️ on destructive ones), then one
//! collapsible block per change holding the same per-field lines as the
//! terminal plan in a `diff` code block (objects and lists as YAML-like
//! lines), then the objects `--prune` would delete and the unmanaged count.
//! Text from the plan is escaped for the place it lands in (table cell, HTML
//! summary, code fence). A plan too long for a comment keeps its title,
//! warnings, impact and counts whole and shows as many changes in detail as
//! fit, saying how many.

use crate::plan::{Action, Change, ObjectRef, OrgPlan, Plan, Summary};

use super::lines::{self, Line, Marker, Tone, Values, FIELD_INDENT};
use super::text::unmanaged_line;

/// How many field paths a table row lists before `+N more`.
const FIELDS_IN_TABLE: usize = 5;

/// The longest comment [`markdown`] writes, in characters: GitHub refuses
/// comments over 65,536, and CI adds a marker, a note and a footer.
pub const COMMENT_LIMIT: usize = 60_000;

/// Rows of the table, and objects of the prune list, in a cut plan.
const ROWS_WHEN_CUT: usize = 50;

/// The plan as a Markdown comment for a pull request, at most
/// [`COMMENT_LIMIT`] characters for any but a pathological plan (thousands
/// of organizations or `--impact-detail` over thousands of users).
#[must_use]
pub fn markdown(plan: &Plan) -> String {
    markdown_within(plan, COMMENT_LIMIT)
}

/// [`markdown`] within `limit` characters.
pub(super) fn markdown_within(plan: &Plan, limit: usize) -> String {
    let full = assemble(plan, None);
    if full.chars().count() <= limit {
        return full;
    }
    assemble(plan, Some(limit))
}

/// One organization's blocks: the per-change details, and the rest
/// (impact, warnings, prune list, unmanaged count), which is never cut.
struct OrgBlocks {
    heading: String,
    details: Vec<String>,
    rest: Vec<String>,
}

fn assemble(plan: &Plan, limit: Option<usize>) -> String {
    let Plan {
        format_version: _,
        backend: _,
        options: _,
        organizations,
    } = plan;
    let cut = limit.is_some();
    let empty = plan.is_empty();
    let several = organizations.len() > 1;
    let total: usize = organizations.iter().map(|o| o.changes.len()).sum();

    let mut head = Vec::new();
    if empty {
        head.push("### orgctl plan: no changes".to_string());
        head.push("The live directory matches the files.".to_string());
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
        head.push(format!(
            "### orgctl plan: {add} to add, {change} to change, {destroy} to destroy{assignments}"
        ));
    }
    let rows = if cut { ROWS_WHEN_CUT } else { usize::MAX };
    let table = (total > 0).then(|| table(organizations, several, rows));

    let orgs: Vec<OrgBlocks> = organizations.iter().map(|o| org_blocks(o, cut)).collect();
    let mut shown = total;
    if let Some(limit) = limit {
        // Everything but the details, and a generous allowance for the note.
        let fixed: usize = head
            .iter()
            .chain(&table)
            .chain(
                orgs.iter()
                    .flat_map(|o| std::iter::once(&o.heading).chain(&o.rest)),
            )
            .map(|b| b.chars().count() + 2)
            .sum::<usize>()
            + 250;
        let mut budget = limit.saturating_sub(fixed);
        shown = 0;
        for d in orgs.iter().flat_map(|o| &o.details) {
            let n = d.chars().count() + 2;
            if n > budget {
                break;
            }
            budget -= n;
            shown += 1;
        }
        let in_table = if total > ROWS_WHEN_CUT {
            format!(", the table lists the first {ROWS_WHEN_CUT}")
        } else {
            String::new()
        };
        head.push(format!(
            "> ✂️ **Too long for one comment:** {shown} of {total} changes are shown in detail{in_table}. The full plan is in the saved plan file (`orgctl plan --out`; in CI, the run's artifact)."
        ));
    }

    let mut blocks = head;
    blocks.extend(table);
    let mut left = shown;
    for org in orgs {
        let OrgBlocks {
            heading,
            details,
            rest,
        } = org;
        let take = details.len().min(left);
        left -= take;
        let mut org_blocks: Vec<String> = details.into_iter().take(take).collect();
        org_blocks.extend(rest);
        if several && !org_blocks.is_empty() {
            blocks.push(heading);
        }
        blocks.extend(org_blocks);
    }

    let mut out = blocks.join("\n\n");
    out.push('\n');
    out
}

fn org_blocks(org: &OrgPlan, cut: bool) -> OrgBlocks {
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
    let mut rest = Vec::new();
    let section = super::impact::sentences(impact);
    if !section.is_empty() {
        rest.push(impact_list(&section));
    }
    if let Some((heading, items)) = super::posture::delta_section(&impact.posture) {
        let mut block = vec![format!("**{heading}**"), String::new()];
        block.extend(items.iter().map(|(introduced, text)| {
            let sign = if *introduced { "introduced" } else { "resolved" };
            format!("- {sign}: {}", cell(text))
        }));
        rest.push(block.join("\n"));
    }
    if let Some(l) = super::impact::assignments_line(assignments) {
        rest.push(l);
    }
    for w in super::impact::forced_lines(org) {
        rest.push(format!("> ⚠️ {}", lines::sanitize(&w)));
    }
    if !prune_candidates.is_empty() {
        let rows = if cut { ROWS_WHEN_CUT } else { usize::MAX };
        rest.push(prune_list(prune_candidates, rows));
    }
    if *unmanaged > 0 {
        rest.push(unmanaged_line(*unmanaged));
    }
    OrgBlocks {
        heading: format!("#### Organization `{}`", organization.as_str()),
        details: changes.iter().map(details).collect(),
        rest,
    }
}

/// The summary table, at most `rows` rows; an Organization column when the
/// plan spans several.
fn table(organizations: &[OrgPlan], several: bool, rows: usize) -> String {
    let mut lines = Vec::new();
    if several {
        lines.push("| Organization | Action | Kind | Name | Fields |".to_string());
        lines.push("| --- | --- | --- | --- | --- |".to_string());
    } else {
        lines.push("| Action | Kind | Name | Fields |".to_string());
        lines.push("| --- | --- | --- | --- |".to_string());
    }
    let all = organizations
        .iter()
        .flat_map(|org| org.changes.iter().map(move |c| (org, c)));
    let total = all.clone().count();
    for (org, change) in all.take(rows) {
        let mut cells = Vec::new();
        if several {
            cells.push(cell(org.organization.as_str()));
        }
        cells.push(cell(&action_word(change)));
        cells.push(cell(change.kind.noun()));
        cells.push(cell(change.name.as_str()));
        cells.push(cell(&field_list(change)));
        lines.push(format!("| {} |", cells.join(" | ")));
    }
    let mut out = lines.join("\n");
    if total > rows {
        out.push_str(&format!("\n\n…and {} more.", total - rows));
    }
    out
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
    let fields = lines::field_lines(change, Values::Yaml);
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

/// Managed objects that left the files, kept because `--prune` was not
/// given; at most `rows` of them listed.
fn prune_list(candidates: &[ObjectRef], rows: usize) -> String {
    let mut out = vec![
        "**Managed objects no longer in the files**, kept because `--prune` was not given:\n".to_string(),
    ];
    for ObjectRef { kind, name } in candidates.iter().take(rows) {
        out.push(format!(
            "- {} would be deleted with `--prune`",
            kind.label(name.as_str())
        ));
    }
    if candidates.len() > rows {
        out.push(format!("- …and {} more", candidates.len() - rows));
    }
    out.join("\n")
}
