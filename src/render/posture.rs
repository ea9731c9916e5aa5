//! Posture findings rendered: the terminal report ([`text`]), JSON with
//! `formatVersion` ([`json`]), a Markdown comment ([`markdown`]), SARIF
//! 2.1.0 for code scanning ([`sarif`]: every finding from files points at
//! the YAML line that causes it; accepted findings carry an external
//! suppression), and the posture section of a plan ([`delta_lines`]).
//! Pure: returns strings.

use serde_json::{json, Value};

use crate::plan::{ObjectRef, UserSample};
use crate::posture::{
    CheckId, DeltaFinding, Finding, OrgPosture, PostureDelta, Severity, POSTURE_FORMAT_VERSION,
};

use super::lines::{sanitize, Painter, BOLD, GREEN, RED, YELLOW};

fn object(o: &ObjectRef) -> String {
    o.to_string()
}

fn counts_line(org: &OrgPosture) -> String {
    let [low, medium, high] = org.open_counts();
    let accepted = org.findings.iter().filter(|f| f.accepted()).count();
    let mut line = format!("{high} high, {medium} medium, {low} low");
    if accepted > 0 {
        line.push_str(&format!(", {accepted} accepted"));
    }
    line
}

fn users_note(users: &UserSample) -> Option<String> {
    if users.count <= 1 {
        return None;
    }
    let names: Vec<&str> = users.names.iter().map(|n| n.as_str()).collect();
    let more = users.count.saturating_sub(names.len());
    Some(match (names.is_empty(), more) {
        (true, _) => format!("{} users", users.count),
        (false, 0) => format!("users: {}", names.join(", ")),
        (false, more) => format!("users: {} and {more} more", names.join(", ")),
    })
}

fn exception_note(f: &Finding) -> Option<String> {
    let x = f.exception.as_ref()?;
    let until = x
        .expires
        .as_ref()
        .map(|d| format!(" until {d}"))
        .unwrap_or_default();
    Some(if x.expired {
        format!(
            "exception {:?} expired on {}; reported again",
            x.name,
            x.expires.as_deref().unwrap_or_default()
        )
    } else {
        format!("accepted by exception {:?}{until}: {}", x.name, x.reason)
    })
}

/// The terminal report: per organization a count line, then one block per
/// finding (severity, id, subject; location; message; users; exception).
#[must_use]
pub fn text(report: &[OrgPosture], color: bool) -> String {
    let p = Painter::new(color);
    let mut blocks = Vec::new();
    for org in report {
        blocks.push(p.paint(
            BOLD,
            &format!(
                "Posture of organization {:?} ({}): {}",
                org.organization.as_str(),
                org.source,
                counts_line(org)
            ),
        ));
        if org.findings.is_empty() {
            blocks.push(p.paint(GREEN, "  No findings."));
        }
        for f in &org.findings {
            let style = match (f.accepted(), f.severity) {
                (true, _) | (false, Severity::Low) => BOLD,
                (false, Severity::Medium) => YELLOW.bold(),
                (false, Severity::High) => RED.bold(),
            };
            let tag = if f.accepted() {
                "ACCEPTED".to_string()
            } else {
                f.severity.as_str().to_uppercase()
            };
            let mut lines = vec![format!(
                "  {} {} {}",
                p.paint(style, &format!("{tag:<8}")),
                f.check,
                object(&f.subject)
            )];
            if let Some(l) = &f.location {
                lines.push(format!("           at {l}"));
            } else if f.cause != f.subject {
                lines.push(format!("           in {}", object(&f.cause)));
            }
            lines.push(format!("           {}", sanitize(&f.message)));
            lines.extend(users_note(&f.users).map(|u| format!("           {u}")));
            lines.extend(exception_note(f).map(|e| format!("           {}", sanitize(&e))));
            blocks.push(lines.join("\n"));
        }
    }
    let mut out = blocks.join("\n\n");
    out.push('\n');
    out
}

/// The report as JSON: `formatVersion`, per organization its counts and
/// findings, and the catalog of checks.
#[must_use]
pub fn json(report: &[OrgPosture]) -> String {
    let organizations: Vec<Value> = report
        .iter()
        .map(|org| {
            let [low, medium, high] = org.open_counts();
            json!({
                "organization": org.organization,
                "source": org.source,
                "open": { "high": high, "medium": medium, "low": low },
                "accepted": org.findings.iter().filter(|f| f.accepted()).count(),
                "findings": org.findings,
            })
        })
        .collect();
    let checks: Vec<Value> = CheckId::ALL
        .iter()
        .map(|c| json!({ "id": c.as_str(), "severity": c.severity(), "rationale": c.rationale() }))
        .collect();
    let mut out = serde_json::to_string_pretty(&json!({
        "formatVersion": POSTURE_FORMAT_VERSION,
        "organizations": organizations,
        "checks": checks,
    }))
    .unwrap_or_default();
    out.push('\n');
    out
}

/// The report as a Markdown comment: a heading per organization with its
/// counts, then a table of findings.
#[must_use]
pub fn markdown(report: &[OrgPosture]) -> String {
    let mut blocks = vec!["### orgctl posture".to_string()];
    for org in report {
        blocks.push(format!(
            "#### `{}` ({}): {}",
            org.organization.as_str(),
            org.source,
            counts_line(org)
        ));
        if org.findings.is_empty() {
            blocks.push("No findings.".to_string());
            continue;
        }
        let mut rows = vec![
            "| severity | check | subject | finding | where |".to_string(),
            "|---|---|---|---|---|".to_string(),
        ];
        for f in &org.findings {
            let severity = if f.accepted() {
                format!("~~{}~~ accepted", f.severity)
            } else {
                f.severity.to_string()
            };
            let mut finding = f.message.clone();
            if let Some(e) = exception_note(f) {
                finding.push_str(&format!(" ({e})"));
            }
            let place = match &f.location {
                Some(l) => format!("`{l}`"),
                None => object(&f.cause),
            };
            rows.push(format!(
                "| {severity} | `{}` | {} | {} | {} |",
                f.check,
                super::markdown::cell(&object(&f.subject)),
                super::markdown::cell(&finding),
                super::markdown::cell(&place)
            ));
        }
        blocks.push(rows.join("\n"));
    }
    let mut out = blocks.join("\n\n");
    out.push('\n');
    out
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "note",
    }
}

/// GitHub code scanning ranks security results by this score (0–10).
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
    }
}

/// A file path as a SARIF URI reference: relative paths stay relative
/// (resolved against the repository root by code scanning), with `/`.
fn uri(file: &str) -> String {
    let path = file.replace('\\', "/");
    let encoded: String = path
        .chars()
        .map(|c| match c {
            ' ' => "%20".to_string(),
            '%' => "%25".to_string(),
            '#' => "%23".to_string(),
            '?' => "%3F".to_string(),
            c => c.to_string(),
        })
        .collect();
    if encoded.starts_with('/') {
        format!("file://{encoded}")
    } else {
        encoded
    }
}

/// The report as a SARIF 2.1.0 log: one run, one rule per check, one result
/// per finding.
#[must_use]
pub fn sarif(report: &[OrgPosture], tool_version: &str) -> String {
    let rules: Vec<Value> = CheckId::ALL
        .iter()
        .map(|c| {
            json!({
                "id": c.as_str(),
                "shortDescription": { "text": c.rationale() },
                "defaultConfiguration": { "level": level(c.severity()) },
                "properties": {
                    "tags": ["security"],
                    "security-severity": security_severity(c.severity()),
                },
            })
        })
        .collect();
    let mut results = Vec::new();
    for org in report {
        for f in &org.findings {
            let index = CheckId::ALL.iter().position(|c| *c == f.check).unwrap_or(0);
            let logical = json!({
                "name": f.subject.name.as_str(),
                "fullyQualifiedName": format!("{}/{}/{}", org.organization.as_str(), f.subject.kind.as_str(), f.subject.name.as_str()),
                "kind": "object",
            });
            let mut location = json!({ "logicalLocations": [logical] });
            if let Some(l) = &f.location {
                location["physicalLocation"] = json!({
                    "artifactLocation": { "uri": uri(&l.file) },
                    "region": { "startLine": l.line.max(1), "startColumn": l.col.max(1) },
                });
            }
            let mut result = json!({
                "ruleId": f.check.as_str(),
                "ruleIndex": index,
                "level": level(f.severity),
                "message": { "text": f.message },
                "locations": [location],
                "partialFingerprints": {
                    "orgctlFinding/v1": format!(
                        "{}/{}/{}/{}",
                        org.organization.as_str(),
                        f.check,
                        f.subject.kind.as_str(),
                        f.subject.name.as_str()
                    ),
                },
                "properties": { "source": org.source, "organization": org.organization },
            });
            if let Some(x) = f.exception.as_ref().filter(|x| !x.expired) {
                result["suppressions"] = json!([{
                    "kind": "external",
                    "status": "accepted",
                    "justification": format!("{}: {}", x.name, x.reason),
                }]);
            }
            results.push(result);
        }
    }
    let mut out = serde_json::to_string_pretty(&json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "orgctl",
                "version": tool_version,
                "rules": rules,
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    }))
    .unwrap_or_default();
    out.push('\n');
    out
}

fn delta_text(f: &DeltaFinding) -> String {
    let accepted = f
        .accepted_by
        .as_ref()
        .map(|x| format!(" (accepted by exception {x:?})"))
        .unwrap_or_default();
    format!(
        "[{}] {} {}: {}{accepted}",
        f.severity,
        f.check,
        object(&f.subject),
        sanitize(&f.message)
    )
}

/// The posture section of a plan: a heading, then per finding whether the
/// plan introduces it (`true`) or resolves it, and its words. `None` when
/// the plan changes no finding.
pub(super) fn delta_section(delta: &PostureDelta) -> Option<(String, Vec<(bool, String)>)> {
    if delta.is_empty() {
        return None;
    }
    let n = delta.introduced.len();
    let heading = format!(
        "Security posture: this plan introduces {n} finding{} and resolves {}.",
        if n == 1 { "" } else { "s" },
        delta.resolved.len()
    );
    let items = delta
        .introduced
        .iter()
        .map(|f| (true, delta_text(f)))
        .chain(delta.resolved.iter().map(|f| (false, delta_text(f))))
        .collect();
    Some((heading, items))
}
