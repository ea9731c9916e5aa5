//! Security posture: an organization checked against the guidance orgctl's
//! model is built on (MFA and strong factors for admins, risk-tiered
//! policies, trusted addresses, delegated admin roles, apps for the people
//! who need them, enforced SSO). Checks are data: each [`Finding`] has a
//! stable [`CheckId`], a [`Severity`], the object that causes it (the place
//! to fix, located in the files when they are the input), and the objects
//! and users it concerns. Pure: no I/O, no printing; the CLI renders
//! findings (`render::posture`) and the plan carries a [`PostureDelta`].
//!
//! # Semantics (decisions)
//!
//! - **Effective access.** Every check reads what the access engine
//!   evaluates: a user's effective policy (targets, nested groups, priority),
//!   admin rights as the union of bindings (nested groups), rule-made apps
//!   after priority and exclusions. Unset policy fields read as the backend
//!   defaults of `access::settings` (MFA not required, any mode, backup codes
//!   allowed, any address, federated sign-in allowed, password length 8, no
//!   history). A user with no effective policy gets those defaults.
//! - **Admins** are active users with any admin permission or the super
//!   admin flag. Deactivated and closed holders are the orphaned-access
//!   checks' business.
//! - **Enforced SSO** makes password and federated sign-in impossible
//!   (`access::signin`), so the password and federated checks skip admins
//!   whose policy enforces SSO; MFA is then the identity provider's, and the
//!   MFA checks still ask the policy to require it.
//! - **Risk tiers.** An admin is on the ordinary users' policy when their
//!   effective policy is the default one (or none) that active non-admins
//!   also have; a targeted policy shared with, say, a finance group is a tier.
//! - **One finding per subject**: per admin for the admin checks (a plan
//!   delta then names the admin who became exposed), per app, rule or
//!   policy for the others, per organization for counts.
//! - **Order** is deterministic: severity (high first), check, subject.

mod admins;
mod catalog;
mod delta;
pub mod exceptions;
mod facts;
mod locate;
mod org;
mod orphans;

#[cfg(test)]
mod tests;

use serde::Serialize;

use crate::access::EffectiveAccess;
use crate::backend::{GapFound, LiveGrants};
use crate::diagnostic::Location;
use crate::model::{Kind, Name, Spec};
use crate::plan::{ObjectRef, UserSample};

pub use catalog::{CheckId, Severity};
pub use delta::{delta, DeltaFinding, PostureDelta};
pub use exceptions::{Acceptance, PostureException};
pub use locate::locate;

/// Version of the JSON form of a posture report.
pub const POSTURE_FORMAT_VERSION: u32 = 1;

/// Thresholds of the checks that need one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// More users than this with every admin permission is a finding.
    pub max_full_admins: usize,
    /// An app held by at least this percentage of users is "nearly everyone".
    pub everyone_percent: u32,
    /// The "everyone" checks need at least this many users to mean anything.
    pub everyone_min_users: usize,
    /// Groups the organization considers sensitive (besides groups that
    /// receive an admin role, which always are).
    pub sensitive_groups: Vec<Name>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_full_admins: 3,
            everyone_percent: 90,
            everyone_min_users: 10,
            sensitive_groups: Vec::new(),
        }
    }
}

/// One weakness found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// Which check.
    pub check: CheckId,
    /// Its severity.
    pub severity: Severity,
    /// What the finding is about (one finding per check and subject).
    pub subject: ObjectRef,
    /// What was found, in one sentence naming the objects.
    pub message: String,
    /// The object whose settings cause it: the place to fix.
    pub cause: ObjectRef,
    /// The field of `cause` (`spec.mfa.required`); empty for the whole object.
    pub field: String,
    /// Where `cause`'s field is written, when the input was files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// Every object concerned, the subject first.
    pub objects: Vec<ObjectRef>,
    /// The users concerned (a sample of a few names and the count).
    pub users: UserSample,
    /// The exception that accepts it, or that did until it expired.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exception: Option<Acceptance>,
}

impl Finding {
    /// True when an exception in force accepts the finding.
    pub fn accepted(&self) -> bool {
        self.exception.as_ref().is_some_and(|e| !e.expired)
    }
}

/// One organization's findings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgPosture {
    /// The organization.
    pub organization: Name,
    /// What was checked: `files`, `live` or `files+live`.
    pub source: String,
    /// Findings, high first.
    pub findings: Vec<Finding>,
}

impl OrgPosture {
    /// Findings not accepted by an exception in force, per severity.
    pub fn open_counts(&self) -> [usize; 3] {
        let mut counts = [0; 3];
        for f in self.findings.iter().filter(|f| !f.accepted()) {
            if let Some(c) = counts.get_mut(f.severity as usize) {
                *c += 1;
            }
        }
        counts
    }
}

/// What the checks read about one organization.
pub struct Input<'a, 'm> {
    /// Effective access of every user.
    pub access: &'a EffectiveAccess<'m>,
    /// Every object of the organization.
    pub objects: &'a [(Kind, &'a Name, &'a Spec)],
    /// The backend's materialized grants, when the input is live.
    pub grants: Option<&'a LiveGrants>,
    /// What the backend cannot hold of the desired objects.
    pub gaps: &'a [GapFound],
    /// Thresholds.
    pub settings: &'a Settings,
}

/// [`check`] of two organizations at once, on two threads (a plan's live
/// and planned sides: the delta then costs the wall time of one side).
#[must_use]
pub fn check_pair(a: &Input<'_, '_>, b: &Input<'_, '_>) -> (Vec<Finding>, Vec<Finding>) {
    std::thread::scope(|s| {
        let first = s.spawn(|| check(a));
        let second = check(b);
        let first = first.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        (first, second)
    })
}

/// Runs every check over one organization; findings sorted high first.
#[must_use]
pub fn check(input: &Input<'_, '_>) -> Vec<Finding> {
    let facts = facts::Facts::new(input);
    let mut out = Vec::new();
    admins::check(&facts, &mut out);
    org::check(&facts, &mut out);
    orphans::check(&facts, &mut out);
    for gap in input.gaps {
        let subject = ObjectRef {
            kind: gap.kind,
            name: gap.name.clone(),
        };
        let field = if gap.path.is_empty() {
            String::new()
        } else {
            format!("spec.{}", gap.path)
        };
        let what = if field.is_empty() {
            String::new()
        } else {
            format!("{field} of ")
        };
        let message = format!(
            "the backend cannot enforce {what}{}: {}",
            gap.kind.label(gap.name.as_str()),
            gap.reason
        );
        out.push(finding(
            CheckId::BackendCannotEnforce,
            subject.clone(),
            subject,
            &field,
            message,
        ));
    }
    sort(&mut out);
    out
}

/// High first, then by check and subject.
pub(crate) fn sort(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        (std::cmp::Reverse(a.severity), a.check, &a.subject).cmp(&(
            std::cmp::Reverse(b.severity),
            b.check,
            &b.subject,
        ))
    });
}

/// A finding of `check` about `subject`, caused by `cause`'s `field`; its
/// objects are the subject and the cause, its users none (callers add more).
pub(crate) fn finding(
    check: CheckId,
    subject: ObjectRef,
    cause: ObjectRef,
    field: &str,
    message: String,
) -> Finding {
    let mut objects = vec![subject.clone()];
    if cause != subject {
        objects.push(cause.clone());
    }
    Finding {
        check,
        severity: check.severity(),
        subject,
        message,
        cause,
        field: field.to_string(),
        location: None,
        objects,
        users: UserSample::default(),
        exception: None,
    }
}

/// An object reference.
pub(crate) fn obj(kind: Kind, name: &Name) -> ObjectRef {
    ObjectRef {
        kind,
        name: name.clone(),
    }
}
