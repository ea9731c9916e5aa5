//! Placeholder until the renderers land.
use crate::plan::Plan;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Text.
    Text,
    /// JSON.
    Json,
    /// Markdown.
    Markdown,
}

/// Renders a plan.
pub fn render(plan: &Plan, _format: Format, _color: bool) -> String {
    serde_json::to_string_pretty(plan).unwrap_or_default()
}
