//! What an apply did, per change: the data the CLI renders and the controller
//! writes into status.

use serde::{Deserialize, Serialize};

use crate::model::{Kind, Name};
use crate::plan::Action;

/// The result of one change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "status", content = "error")]
pub enum ChangeOutcome {
    /// Written.
    Applied,
    /// Failed, with the reason.
    Failed(String),
    /// Written in a transaction that was rolled back because another change failed.
    RolledBack,
    /// Not attempted because an earlier step failed.
    NotAttempted,
}

/// One change and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeResult {
    /// Kind of the object.
    pub kind: Kind,
    /// Name of the object.
    pub name: Name,
    /// What was attempted.
    pub action: Action,
    /// What happened.
    pub outcome: ChangeOutcome,
}

/// Results for one organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgReport {
    /// The organization.
    pub organization: Name,
    /// Revision before the apply.
    pub revision_before: u64,
    /// Revision after the apply.
    pub revision_after: u64,
    /// Per-change results in execution order.
    pub results: Vec<ChangeResult>,
    /// The app assignments written, when the plan had any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignments: Option<AssignmentResult>,
}

/// What became of a plan's app assignments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignmentResult {
    /// Users whose rule-made app list was to be written.
    pub users: usize,
    /// What happened to them (one outcome: they are written together).
    pub outcome: ChangeOutcome,
}

/// The whole apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplyReport {
    /// Per organization.
    pub organizations: Vec<OrgReport>,
}

impl ApplyReport {
    /// Changes applied.
    pub fn applied(&self) -> usize {
        self.results()
            .filter(|r| r.outcome == ChangeOutcome::Applied)
            .count()
    }

    /// Changes not applied (failed, rolled back or not attempted).
    pub fn failed(&self) -> usize {
        self.results()
            .filter(|r| r.outcome != ChangeOutcome::Applied)
            .count()
    }

    /// True when every change and every assignment was written.
    pub fn succeeded(&self) -> bool {
        self.failed() == 0
            && self
                .organizations
                .iter()
                .filter_map(|o| o.assignments.as_ref())
                .all(|a| a.outcome == ChangeOutcome::Applied)
    }

    fn results(&self) -> impl Iterator<Item = &ChangeResult> {
        self.organizations.iter().flat_map(|o| &o.results)
    }
}
