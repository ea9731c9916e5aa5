//! Posture exceptions as code: documents of kind `PostureException`, in
//! their own files (`--exceptions`), that accept one check's findings for
//! named objects, with a reason and an optional expiry date. They are
//! validated like every kind (unknown fields with a did-you-mean, every
//! problem located and reported together) and are never written to a
//! backend: they describe the organization's risk decisions, not its state.
//!
//! A finding is accepted by an exception of its organization and check
//! that names any object the finding concerns (its subject, the policy or
//! rule that causes it, a binding…). An exception expires at the end of its
//! `expires` day (UTC); an expired one no longer accepts, and the finding is
//! reported again with a note that its exception expired.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{CheckId, Finding};
use crate::diagnostic::{did_you_mean, Diagnostic, Location};
use crate::load::{self, tree::Node, Source};
use crate::model::{Kind, Metadata, Name, API_VERSION};
use crate::plan::ObjectRef;

/// The kind name exception documents carry.
pub const KIND: &str = "PostureException";

/// A validated exception.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostureException {
    /// `metadata.name`, unique per organization.
    pub name: Name,
    /// The organization.
    pub organization: Name,
    /// The check whose findings it accepts.
    pub check: CheckId,
    /// The objects whose findings it accepts.
    pub objects: Vec<ObjectRef>,
    /// Why the risk is accepted.
    pub reason: String,
    /// The last day it is in force (UTC), if it expires.
    pub expires: Option<time::Date>,
    /// Where it is written.
    pub location: Location,
}

/// An exception as a finding shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Acceptance {
    /// The exception's name.
    pub name: String,
    /// Why the risk is accepted.
    pub reason: String,
    /// Its last day in force (`YYYY-MM-DD`), if it expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// True when that day has passed: the finding counts again.
    pub expired: bool,
}

/// The spec as written; every field is checked after reading so each
/// problem gets its own message.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
struct RawSpec {
    organization: Option<String>,
    check: Option<String>,
    objects: Option<Vec<String>>,
    reason: Option<String>,
    expires: Option<String>,
}

const ENVELOPE: [&str; 4] = ["apiVersion", "kind", "metadata", "spec"];

/// Reads and validates every exception of `sources`, or every problem.
pub fn load(sources: &[Source]) -> Result<Vec<PostureException>, Vec<Diagnostic>> {
    let mut out = Vec::new();
    let mut diags = Vec::new();
    for source in sources {
        let (docs, errors) = load::tree::parse_stream(&source.text);
        for e in errors {
            diags.push(Diagnostic {
                location: Some(Location {
                    file: source.name.clone(),
                    line: e.line,
                    col: e.col,
                }),
                path: String::new(),
                message: e.message,
            });
        }
        for doc in docs {
            let mut r = Doc {
                file: &source.name,
                diags: &mut diags,
                suggested: Vec::new(),
            };
            if let Some(x) = r.exception(&doc.root) {
                out.push(x);
            }
        }
    }
    let mut first: BTreeMap<(&Name, &Name), &Location> = BTreeMap::new();
    for x in &out {
        if let Some(at) = first.get(&(&x.organization, &x.name)) {
            diags.push(Diagnostic {
                location: Some(x.location.clone()),
                path: "metadata.name".to_string(),
                message: format!(
                    "duplicate posture exception {:?} in organization {:?} (first defined at {at})",
                    x.name.as_str(),
                    x.organization.as_str()
                ),
            });
        } else {
            first.insert((&x.organization, &x.name), &x.location);
        }
    }
    if diags.is_empty() {
        Ok(out)
    } else {
        diags.sort();
        Err(diags)
    }
}

/// Problems of one source.
struct Doc<'a> {
    file: &'a str,
    diags: &'a mut Vec<Diagnostic>,
    /// Fields an unknown field was taken for (not reported missing again).
    suggested: Vec<String>,
}

impl Doc<'_> {
    fn at(&mut self, node: &Node, path: &str, message: impl Into<String>) {
        let message = message.into();
        let field = path.rsplit('.').next().unwrap_or_default();
        if message.starts_with("missing required field") && self.suggested.iter().any(|s| s == field) {
            return;
        }
        self.diags.push(Diagnostic {
            location: Some(Location {
                file: self.file.to_string(),
                line: node.line,
                col: node.col,
            }),
            path: path.to_string(),
            message,
        });
    }

    fn recorded(&mut self, problems: Vec<load::recover::Recorded>) {
        for p in problems {
            self.diags.push(Diagnostic {
                location: Some(Location {
                    file: self.file.to_string(),
                    line: p.line,
                    col: p.col,
                }),
                path: p.path,
                message: p.message,
            });
        }
    }

    fn exception(&mut self, root: &Node) -> Option<PostureException> {
        let before = self.diags.len();
        let load::tree::NodeValue::Map(entries) = &root.value else {
            self.at(
                root,
                "",
                format!(
                    "expected a {KIND} with apiVersion, kind, metadata and spec, found {}",
                    root.describe()
                ),
            );
            return None;
        };
        for (k, _) in entries {
            let key = k.as_str().unwrap_or_default();
            if !ENVELOPE.contains(&key) {
                let message = match did_you_mean(key, ENVELOPE) {
                    Some(s) => format!("unknown field {key:?}, did you mean {s:?}?"),
                    None => format!("unknown field {key:?}; expected one of: {}", ENVELOPE.join(", ")),
                };
                self.at(k, key, message);
            }
        }
        match root.get("apiVersion") {
            None => self.at(
                root,
                "apiVersion",
                format!("missing required field \"apiVersion\" (expected {API_VERSION:?})"),
            ),
            Some(v) if v.as_str() != Some(API_VERSION) => self.at(
                v,
                "apiVersion",
                format!(
                    "unknown apiVersion {:?}; expected {API_VERSION:?}",
                    v.as_str().unwrap_or_default()
                ),
            ),
            Some(_) => {}
        }
        match root.get("kind") {
            None => self.at(
                root,
                "kind",
                format!("missing required field \"kind\" (expected {KIND:?})"),
            ),
            Some(k) if k.as_str() != Some(KIND) => self.at(
                k,
                "kind",
                format!(
                    "unknown kind {:?} in a posture exceptions file; expected {KIND:?}",
                    k.as_str().unwrap_or_default()
                ),
            ),
            Some(_) => {}
        }
        let metadata = match root.get("metadata") {
            None => {
                self.at(root, "metadata", "missing required field \"metadata\"");
                None
            }
            Some(node) => {
                let (value, problems) = load::typed::<Metadata>(node, "metadata");
                self.recorded(problems);
                value
            }
        };
        let spec = match root.get("spec") {
            None => {
                self.at(root, "spec", "missing required field \"spec\"");
                None
            }
            Some(node) => {
                let (value, problems) = load::typed::<RawSpec>(node, "spec");
                // A misspelt field's did-you-mean explains its absence.
                for p in &problems {
                    if let Some((_, rest)) = p.message.split_once("did you mean \"") {
                        self.suggested.push(rest.trim_end_matches("\"?").to_string());
                    }
                }
                self.recorded(problems);
                value.map(|s| (node, s))
            }
        };
        let (node, spec) = spec?;
        let fields = self.spec_fields(node, spec);
        let (metadata, (organization, check, objects, reason, expires)) = (metadata?, fields?);
        if self.diags.len() > before {
            return None;
        }
        Some(PostureException {
            name: metadata.name,
            organization,
            check,
            objects,
            reason,
            expires,
            location: Location {
                file: self.file.to_string(),
                line: root.line,
                col: root.col,
            },
        })
    }

    /// The spec's fields, each checked; `None` when any is wrong.
    #[allow(clippy::type_complexity)]
    fn spec_fields(
        &mut self,
        node: &Node,
        spec: RawSpec,
    ) -> Option<(Name, CheckId, Vec<ObjectRef>, String, Option<time::Date>)> {
        let before = self.diags.len();
        let field = |name: &str| node.get(name).unwrap_or(node);
        let organization = match spec.organization.as_deref().map(str::parse::<Name>) {
            None => {
                self.at(
                    node,
                    "spec.organization",
                    "missing required field \"organization\"",
                );
                None
            }
            Some(Err(e)) => {
                self.at(field("organization"), "spec.organization", e);
                None
            }
            Some(Ok(n)) => Some(n),
        };
        let check = match spec.check.as_deref().map(str::parse::<CheckId>) {
            None => {
                self.at(
                    node,
                    "spec.check",
                    "missing required field \"check\" (a posture check id such as ADMIN-MFA-NOT-REQUIRED)",
                );
                None
            }
            Some(Err(e)) => {
                self.at(field("check"), "spec.check", e);
                None
            }
            Some(Ok(c)) => Some(c),
        };
        let mut objects = Vec::new();
        match spec.objects.as_deref() {
            None | Some([]) => self.at(
                node,
                "spec.objects",
                "missing required field \"objects\" (the objects whose findings are accepted, as Kind/name)",
            ),
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    let path = format!("spec.objects[{i}]");
                    let at = load::node_at(node, &format!("objects[{i}]")).unwrap_or(node);
                    match object_ref(item) {
                        Ok(o) => objects.push(o),
                        Err(e) => self.at(at, &path, e),
                    }
                }
            }
        }
        let reason = match spec.reason.as_deref().map(str::trim) {
            None | Some("") => {
                self.at(
                    node,
                    "spec.reason",
                    "missing required field \"reason\" (why the finding is accepted)",
                );
                None
            }
            Some(r) => Some(r.to_string()),
        };
        let expires = match spec.expires.as_deref() {
            None => None,
            Some(text) => match parse_date(text) {
                Some(d) => Some(d),
                None => {
                    self.at(
                        field("expires"),
                        "spec.expires",
                        format!("invalid date {text:?}: expected YYYY-MM-DD"),
                    );
                    None
                }
            },
        };
        if self.diags.len() > before {
            return None;
        }
        Some((organization?, check?, objects, reason?, expires))
    }
}

/// `Kind/name` → an object reference, or why not.
fn object_ref(text: &str) -> Result<ObjectRef, String> {
    let Some((kind, name)) = text.split_once('/') else {
        return Err(format!("expected Kind/name (e.g. User/ann), found {text:?}"));
    };
    let kind = kind.parse::<Kind>().map_err(|_| {
        let names = Kind::ALL.map(Kind::as_str);
        match did_you_mean(kind, names) {
            Some(s) => format!("unknown kind {kind:?}, did you mean {s:?}?"),
            None => format!("unknown kind {kind:?}; expected one of: {}", names.join(", ")),
        }
    })?;
    let name = name.parse::<Name>()?;
    Ok(ObjectRef { kind, name })
}

/// `2027-06-30` → a date.
fn parse_date(text: &str) -> Option<time::Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text.trim(), &format).ok()
}

/// The exception for a finding of `check` concerning `objects` in
/// `organization`: one in force before an expired one, then by name; and
/// whether it has expired as of `today`.
pub fn matching<'x>(
    exceptions: &'x [PostureException],
    organization: &Name,
    check: CheckId,
    objects: &[ObjectRef],
    today: time::Date,
) -> Option<(&'x PostureException, bool)> {
    exceptions
        .iter()
        .filter(|x| &x.organization == organization && x.check == check)
        .filter(|x| x.objects.iter().any(|o| objects.contains(o)))
        .map(|x| (x, x.expires.is_some_and(|d| d < today)))
        .min_by(|(a, ea), (b, eb)| (ea, &a.name).cmp(&(eb, &b.name)))
}

/// Marks every finding of `organization` that an exception accepts, or
/// accepted until it expired, as of `today`.
pub fn apply(
    findings: &mut [Finding],
    organization: &Name,
    exceptions: &[PostureException],
    today: time::Date,
) {
    for f in findings {
        f.exception =
            matching(exceptions, organization, f.check, &f.objects, today).map(|(x, expired)| Acceptance {
                name: x.name.to_string(),
                reason: x.reason.clone(),
                expires: x.expires.map(|d| d.to_string()),
                expired,
            });
    }
}

/// Exceptions of the checked organizations that accepted no finding, each
/// with why: an object it names that the organization does not have (and
/// the nearest name it has), or no finding of its check for what it names.
pub fn unused<'x>(
    exceptions: &'x [PostureException],
    report: &[super::OrgPosture],
    known: &dyn Fn(&Name, Kind) -> Vec<Name>,
) -> Vec<(&'x PostureException, String)> {
    let used: std::collections::BTreeSet<(&Name, &str)> = report
        .iter()
        .flat_map(|o| {
            o.findings
                .iter()
                .filter_map(move |f| f.exception.as_ref().map(|a| (&o.organization, a.name.as_str())))
        })
        .collect();
    exceptions
        .iter()
        .filter(|x| report.iter().any(|o| o.organization == x.organization))
        .filter(|x| !used.contains(&(&x.organization, x.name.as_str())))
        .map(|x| {
            let missing = x.objects.iter().find_map(|o| {
                let names = known(&x.organization, o.kind);
                (!names.contains(&o.name)).then(|| {
                    let hint =
                        crate::diagnostic::did_you_mean(o.name.as_str(), names.iter().map(Name::as_str))
                            .map(|n| format!(" (did you mean {:?}?)", n))
                            .unwrap_or_default();
                    format!(
                        "organization {:?} has no {}{hint}",
                        x.organization.as_str(),
                        o.kind.label(o.name.as_str())
                    )
                })
            });
            let why =
                missing.unwrap_or_else(|| format!("no {} finding concerns the objects it names", x.check));
            (x, why)
        })
        .collect()
}
