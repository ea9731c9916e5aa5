//! The parts the human renderings share: the sentence that heads a change
//! (`user "alice" will be created`), the comment lines under it, and one line
//! per changed field. They are built once as [`Line`]s and laid out by the
//! terminal renderer (indented, optionally coloured) and by the Markdown
//! renderer (inside a `diff` block, marker in column 0). Values of sensitive
//! fields never reach a `Line`: they are replaced by [`SENSITIVE`] here.

use std::borrow::Cow;

use anstyle::{AnsiColor, Color, Style};
use serde_json::Value;
use similar::{ChangeTag, TextDiff};

use super::structured;
use crate::model::SENSITIVE;
use crate::plan::{Action, Change, FieldChange, FieldDiff};

/// Column of a field's marker in the terminal layout (Terraform's).
pub(super) const FIELD_INDENT: usize = 6;

/// Lines of context around a change in a multi-line value.
const CONTEXT_LINES: usize = 3;

const fn fg(color: AnsiColor) -> Style {
    Style::new().fg_color(Some(Color::Ansi(color)))
}

/// Style of `+` lines.
pub(super) const GREEN: Style = fg(AnsiColor::Green);
/// Style of `~` lines.
pub(super) const YELLOW: Style = fg(AnsiColor::Yellow);
/// Style of `-` and `-/+` lines.
pub(super) const RED: Style = fg(AnsiColor::Red);
/// Style of headers and headings.
pub(super) const BOLD: Style = Style::new().bold();
/// Style of warnings about destroyed data.
pub(super) const WARNING: Style = fg(AnsiColor::Red).bold();
/// Style of `@@ … @@` hunk headers.
const HUNK: Style = fg(AnsiColor::Cyan);
/// Style of quiet comments (`# (2 unchanged fields hidden)`).
const DIM: Style = Style::new().dimmed();

/// Applies styles, or does nothing when colour is off.
#[derive(Debug, Clone, Copy)]
pub(super) struct Painter {
    color: bool,
}

impl Painter {
    /// A painter that emits ANSI escapes only when `color` is true.
    pub(super) fn new(color: bool) -> Painter {
        Painter { color }
    }

    /// `s` wrapped in `style`'s escape codes (or `s` itself without colour).
    pub(super) fn paint(self, style: Style, s: &str) -> String {
        if self.color && !s.is_empty() && !style.is_plain() {
            format!("{}{s}{}", style.render(), style.render_reset())
        } else {
            s.to_string()
        }
    }
}

/// The symbol at the start of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Marker {
    /// `+`: created or added.
    Add,
    /// `~`: changed in place.
    Change,
    /// `-`: destroyed or removed.
    Remove,
    /// `-/+`: destroyed and created again.
    Replace,
    /// ` `: an unchanged line of context in a text diff.
    Context,
    /// No symbol (comments, closing brackets).
    None,
}

impl Marker {
    /// The marker of an object's action.
    pub(super) fn of(action: Action) -> Marker {
        match action {
            Action::Create => Marker::Add,
            Action::Update => Marker::Change,
            Action::Replace => Marker::Replace,
            Action::Delete => Marker::Remove,
        }
    }

    /// The symbol as printed.
    pub(super) fn symbol(self) -> &'static str {
        match self {
            Marker::Add => "+",
            Marker::Change => "~",
            Marker::Remove => "-",
            Marker::Replace => "-/+",
            Marker::Context => " ",
            Marker::None => "",
        }
    }

    /// The symbol's colour.
    pub(super) fn style(self) -> Style {
        match self {
            Marker::Add => GREEN,
            Marker::Change => YELLOW,
            Marker::Remove | Marker::Replace => RED,
            Marker::Context | Marker::None => Style::new(),
        }
    }
}

/// How the text after a line's marker is coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tone {
    /// Uncoloured.
    Plain,
    /// The marker's colour (lines of a text diff).
    Marker,
    /// Red and bold (warnings).
    Warning,
    /// Cyan (hunk headers).
    Hunk,
    /// Dimmed (hidden-field counts).
    Dim,
}

/// One line of a change's body, before layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Line {
    /// Column of the marker in the terminal layout.
    pub(super) indent: usize,
    /// Leading symbol.
    pub(super) marker: Marker,
    /// Everything after the marker (a field line starts with a space).
    pub(super) text: String,
    /// Colour of `text`.
    pub(super) tone: Tone,
}

impl Line {
    /// A line with no marker.
    pub(super) fn comment(indent: usize, text: String, tone: Tone) -> Line {
        Line {
            indent,
            marker: Marker::None,
            text,
            tone,
        }
    }

    /// Terminal layout: indentation, marker, text; a blank line stays empty.
    pub(super) fn terminal(&self, p: Painter) -> String {
        if self.is_blank() {
            return String::new();
        }
        let style = match self.tone {
            Tone::Plain => Style::new(),
            Tone::Marker => self.marker.style(),
            Tone::Warning => WARNING,
            Tone::Hunk => HUNK,
            Tone::Dim => DIM,
        };
        format!(
            "{}{}{}",
            " ".repeat(self.indent),
            p.paint(self.marker.style(), self.marker.symbol()),
            p.paint(style, &self.text)
        )
    }

    /// Layout for a Markdown `diff` block: the marker moves to column 0 (so
    /// GitHub colours `+`/`-` lines) and the text keeps its column, shifted
    /// left by `dedent`.
    pub(super) fn diff_block(&self, dedent: usize) -> String {
        if self.is_blank() {
            return String::new();
        }
        let indent = " ".repeat(self.indent.saturating_sub(dedent));
        match self.marker {
            Marker::None => format!("{indent}{}", self.text),
            marker => format!("{}{indent}{}", marker.symbol(), self.text),
        }
    }

    fn is_blank(&self) -> bool {
        self.marker.symbol().trim().is_empty() && self.text.trim().is_empty()
    }
}

/// Control characters (escape codes above all) shown as `\u{1b}`, so data
/// can never drive the terminal; tabs are kept.
pub(super) fn sanitize(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c.is_control() && c != '\t') {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| {
                if c.is_control() && c != '\t' {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// `user "alice"`.
pub(super) fn object(change: &Change) -> String {
    change.kind.label(change.name.as_str()).to_string()
}

/// The sentence heading a change: `user "alice" will be created`.
pub(super) fn headline(change: &Change) -> String {
    let verb = match (change.action, change.adopt) {
        (Action::Create, _) => "will be created",
        (Action::Update, false) => "will be updated in place",
        (Action::Update, true) if change.fields.is_empty() => "will be adopted",
        (Action::Update, true) => "will be adopted and updated in place",
        (Action::Replace, false) => "must be replaced",
        (Action::Replace, true) => "will be adopted and replaced",
        (Action::Delete, _) => "will be destroyed",
    };
    format!("{} {verb}", object(change))
}

/// The comment lines under the headline: why a replace, and what a
/// destructive change destroys.
pub(super) fn notes(change: &Change, indent: usize) -> Vec<Line> {
    let mut lines = Vec::new();
    if let Some(reason) = &change.replace_reason {
        lines.push(Line::comment(
            indent,
            format!("# ({})", sanitize(reason)),
            Tone::Plain,
        ));
    }
    if let Some(reason) = &change.destructive {
        lines.push(Line::comment(
            indent,
            format!("# WARNING: {}", sanitize(reason)),
            Tone::Warning,
        ));
    }
    lines
}

/// How objects and lists inside field lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Values {
    /// One line of JSON (the terminal plan).
    Json,
    /// YAML-like lines, diffed line by line (the Markdown plan).
    Yaml,
}

/// One line per changed field (several for sets, multi-line text and, with
/// [`Values::Yaml`], structured values), then the count of unchanged fields;
/// markers at [`FIELD_INDENT`].
pub(super) fn field_lines(change: &Change, values: Values) -> Vec<Line> {
    let fields = change.field_changes();
    let width = fields
        .iter()
        .map(|f| sanitize(&f.path).chars().count())
        .max()
        .unwrap_or(0);
    let mut lines = Vec::new();
    for field in fields.iter() {
        push_field(&mut lines, field, change.action, width, values);
    }
    if change.unchanged_fields > 0 {
        let n = change.unchanged_fields;
        let noun = if n == 1 { "field" } else { "fields" };
        lines.push(Line::comment(
            FIELD_INDENT + 2,
            format!("# ({n} unchanged {noun} hidden)"),
            Tone::Dim,
        ));
    }
    lines
}

fn push_field(lines: &mut Vec<Line>, field: &FieldChange, action: Action, width: usize, values: Values) {
    let FieldChange {
        path,
        sensitive,
        diff,
    } = field;
    let path = format!("{:<width$}", sanitize(path));
    let line = |marker: Marker, text: String| Line {
        indent: FIELD_INDENT,
        marker,
        text,
        tone: Tone::Plain,
    };
    match diff {
        FieldDiff::Value { before, after } => {
            let marker = match (before.is_null(), after.is_null()) {
                (true, false) => Marker::Add,
                (false, true) => Marker::Remove,
                _ => Marker::Change,
            };
            if *sensitive {
                let text = match marker {
                    Marker::Remove => format!(" {path} = {SENSITIVE} -> null"),
                    _ => format!(" {path} = {SENSITIVE}"),
                };
                lines.push(line(marker, text));
            } else if let Some((old, new)) = multi_line(before, after) {
                lines.push(line(marker, format!(" {path} = <<-EOT")));
                push_text_diff(lines, old, new);
                lines.push(Line::comment(FIELD_INDENT + 2, "EOT".into(), Tone::Plain));
            } else if values == Values::Yaml && (structured::is_block(before) || structured::is_block(after))
            {
                lines.push(line(marker, format!(" {}:", path.trim_end())));
                push_structured_diff(lines, before, after);
            } else {
                let show = |v: &Value| match values {
                    Values::Yaml if v.is_array() || v.is_object() => structured::flow(v),
                    _ => v.to_string(),
                };
                let text = match marker {
                    Marker::Add => format!(" {path} = {}", show(after)),
                    Marker::Remove => format!(" {path} = {} -> null", show(before)),
                    _ => format!(" {path} = {} -> {}", show(before), show(after)),
                };
                lines.push(line(marker, text));
            }
        }
        FieldDiff::Set { added, removed } => {
            let marker = match action {
                Action::Create => Marker::Add,
                Action::Delete => Marker::Remove,
                Action::Update | Action::Replace => Marker::Change,
            };
            if *sensitive {
                lines.push(line(marker, format!(" {path} = {SENSITIVE}")));
                return;
            }
            lines.push(line(marker, format!(" {path} = [")));
            let elements = removed
                .iter()
                .map(|v| (Marker::Remove, v))
                .chain(added.iter().map(|v| (Marker::Add, v)));
            for (marker, value) in elements {
                let text = match values {
                    Values::Yaml if value.is_array() || value.is_object() => structured::flow(value),
                    _ => value.to_string(),
                };
                lines.push(Line {
                    indent: FIELD_INDENT + 4,
                    marker,
                    text: format!(" {text}"),
                    tone: Tone::Plain,
                });
            }
            lines.push(Line::comment(FIELD_INDENT + 2, "]".into(), Tone::Plain));
        }
    }
}

/// Both sides of a structured value as YAML-like lines, diffed line by line
/// (unchanged lines kept as context: a rule is read whole).
fn push_structured_diff(lines: &mut Vec<Line>, before: &Value, after: &Value) {
    let (old, new) = (structured::block(before), structured::block(after));
    let old: Vec<&str> = old.iter().map(String::as_str).collect();
    let new: Vec<&str> = new.iter().map(String::as_str).collect();
    let diff = TextDiff::from_slices(&old, &new);
    for change in diff.iter_all_changes() {
        let marker = match change.tag() {
            ChangeTag::Equal => Marker::Context,
            ChangeTag::Delete => Marker::Remove,
            ChangeTag::Insert => Marker::Add,
        };
        lines.push(Line {
            indent: FIELD_INDENT + 4,
            marker,
            text: format!(" {}", change.value()),
            tone: Tone::Marker,
        });
    }
}

/// Both sides as text when the value is a string with several lines
/// (`null` counts as empty text).
fn multi_line<'a>(before: &'a Value, after: &'a Value) -> Option<(&'a str, &'a str)> {
    let as_text = |v: &'a Value| match v {
        Value::Null => Some(""),
        Value::String(s) => Some(s.as_str()),
        _ => None,
    };
    let (old, new) = (as_text(before)?, as_text(after)?);
    (old.contains('\n') || new.contains('\n')).then_some((old, new))
}

/// A unified diff of two texts, 3 lines of context, one [`Line`] per line.
fn push_text_diff(lines: &mut Vec<Line>, old: &str, new: &str) {
    let indent = FIELD_INDENT + 4;
    let diff = TextDiff::from_lines(old, new);
    // The end-of-text hint only matters when the two texts disagree on it.
    let hint = old.ends_with('\n') != new.ends_with('\n');
    let mut unified = diff.unified_diff();
    unified.context_radius(CONTEXT_LINES);
    for hunk in unified.iter_hunks() {
        lines.push(Line::comment(indent, hunk.header().to_string(), Tone::Hunk));
        for change in hunk.iter_changes() {
            let marker = match change.tag() {
                ChangeTag::Equal => Marker::Context,
                ChangeTag::Delete => Marker::Remove,
                ChangeTag::Insert => Marker::Add,
            };
            let value = change.to_string_lossy();
            let value = value.strip_suffix('\n').unwrap_or(&value);
            let value = value.strip_suffix('\r').unwrap_or(value);
            lines.push(Line {
                indent,
                marker,
                text: sanitize(value).into_owned(),
                tone: Tone::Marker,
            });
            if hint && change.missing_newline() {
                lines.push(Line::comment(
                    indent,
                    "\\ No newline at end of text".into(),
                    Tone::Dim,
                ));
            }
        }
    }
}
