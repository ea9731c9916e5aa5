//! Render: turn a [`Plan`] into text — the terminal plan in Terraform's
//! grammar ([`text()`]), JSON for scripts and saved plans ([`json()`]), and
//! Markdown for pull-request comments ([`markdown()`]). Every renderer reads the
//! one `Plan` structure and returns a `String`; this module must not do I/O
//! (no printing, no files, no terminal detection: the caller says whether to
//! colour). Secrets show as `(sensitive value)` in every format.

pub mod explain;
mod impact;
mod json;
mod lines;
mod markdown;
pub mod posture;
mod structured;
mod text;

#[cfg(test)]
mod tests;

pub use json::json;
pub use markdown::markdown;
pub use text::{text, TextOptions};

use crate::plan::Plan;

/// An output format for a plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Format {
    /// The terminal plan ([`text()`]).
    #[default]
    Text,
    /// Pretty JSON ([`json()`]).
    Json,
    /// A Markdown pull-request comment ([`markdown()`]).
    Markdown,
}

/// Renders `plan` in `format`; `color` only affects [`Format::Text`].
#[must_use]
pub fn render(plan: &Plan, format: Format, color: bool) -> String {
    match format {
        Format::Text => text(plan, &TextOptions { color }),
        Format::Json => json(plan),
        Format::Markdown => markdown(plan),
    }
}
