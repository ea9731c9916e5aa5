//! The posture side of a plan: the findings the organization has once the
//! plan is applied and did not have before (introduced), and those it had
//! and no longer has (resolved). A finding is the same when its check and
//! subject are (a reworded message, e.g. another policy name, is not a new
//! finding).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{CheckId, Finding, Severity};
use crate::plan::ObjectRef;

/// One finding in a plan's posture section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeltaFinding {
    /// The check.
    pub check: CheckId,
    /// Its severity.
    pub severity: Severity,
    /// What it is about.
    pub subject: ObjectRef,
    /// What was found (after the plan for introduced findings, before it
    /// for resolved ones).
    pub message: String,
    /// The exception accepting it (name), when one in force does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_by: Option<String>,
    /// Every object concerned (what exceptions match); not kept in saved plans.
    #[serde(skip)]
    pub objects: Vec<ObjectRef>,
}

/// Findings a plan introduces and resolves.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostureDelta {
    /// Findings present after the plan and not before, high first.
    pub introduced: Vec<DeltaFinding>,
    /// Findings present before the plan and not after, high first.
    pub resolved: Vec<DeltaFinding>,
}

impl PostureDelta {
    /// True when the plan changes no finding.
    pub fn is_empty(&self) -> bool {
        self.introduced.is_empty() && self.resolved.is_empty()
    }

    /// Introduced findings of at least `severity` that no exception accepts.
    pub fn introduced_at_least(&self, severity: Severity) -> impl Iterator<Item = &DeltaFinding> {
        self.introduced
            .iter()
            .filter(move |f| f.severity >= severity && f.accepted_by.is_none())
    }
}

/// The findings of `after` missing from `before` and the reverse; both lists
/// come sorted as [`super::check`] returns them.
#[must_use]
pub fn delta(before: &[Finding], after: &[Finding]) -> PostureDelta {
    let key = |f: &Finding| (f.check, f.subject.clone());
    let before_keys: BTreeMap<_, &Finding> = before.iter().map(|f| (key(f), f)).collect();
    let after_keys: BTreeMap<_, &Finding> = after.iter().map(|f| (key(f), f)).collect();
    let entry = |f: &Finding| DeltaFinding {
        check: f.check,
        severity: f.severity,
        subject: f.subject.clone(),
        message: f.message.clone(),
        accepted_by: f
            .exception
            .as_ref()
            .filter(|e| !e.expired)
            .map(|e| e.name.clone()),
        objects: f.objects.clone(),
    };
    PostureDelta {
        introduced: after
            .iter()
            .filter(|f| !before_keys.contains_key(&key(f)))
            .map(entry)
            .collect(),
        resolved: before
            .iter()
            .filter(|f| !after_keys.contains_key(&key(f)))
            .map(entry)
            .collect(),
    }
}
