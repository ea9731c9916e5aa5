//! Why a reconcile of an organization failed: one enum whose variants give
//! the condition reason, the metric label and when to try again (the shape
//! of kube-rs's `error_policy`), instead of reasons passed around as strings.

use std::time::Duration;

/// A failure of one organization's reconcile, with its message for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReconcileError {
    /// Some resources are invalid (the rest was reconciled).
    #[error("{0}")]
    Invalid(String),
    /// A Secret the organization reads is missing or lacks its key.
    #[error("{0}")]
    SecretMissing(String),
    /// The controller's own backend token file cannot be read.
    #[error("{0}")]
    TokenUnreadable(String),
    /// The backend did not answer, or refused to be read or connected to.
    #[error("{0}")]
    BackendUnavailable(String),
    /// The plan was refused (a guard, something the backend cannot hold).
    #[error("{0}")]
    PlanRefused(String),
    /// Some change was not written.
    #[error("{0}")]
    ApplyFailed(String),
    /// A deletion was not written (its finalizer stays).
    #[error("{0}")]
    DeleteFailed(String),
    /// The Kubernetes API refused a status, finalizer or Event write.
    #[error("{0}")]
    Kubernetes(String),
    /// A task of the controller stopped unexpectedly.
    #[error("{0}")]
    Internal(String),
}

impl ReconcileError {
    /// Every label `orgctl_controller_reconcile_errors_total` counts under
    /// (each exists at zero from the start, so a rate over it is defined
    /// before the first failure).
    pub const LABELS: [&'static str; 9] = [
        reason::INVALID,
        reason::SECRET,
        reason::TOKEN,
        reason::BACKEND,
        reason::PLAN,
        reason::APPLY,
        reason::DELETE_FAILED,
        reason::KUBERNETES,
        reason::PANIC,
    ];

    /// The condition reason a resource shows for this failure; also the
    /// metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            ReconcileError::Invalid(_) => reason::INVALID,
            ReconcileError::SecretMissing(_) => reason::SECRET,
            ReconcileError::TokenUnreadable(_) => reason::TOKEN,
            ReconcileError::BackendUnavailable(_) => reason::BACKEND,
            ReconcileError::PlanRefused(_) => reason::PLAN,
            ReconcileError::ApplyFailed(_) => reason::APPLY,
            ReconcileError::DeleteFailed(_) => reason::DELETE_FAILED,
            ReconcileError::Kubernetes(_) => reason::KUBERNETES,
            ReconcileError::Internal(_) => reason::PANIC,
        }
    }

    /// The message for people.
    pub fn message(&self) -> &str {
        match self {
            ReconcileError::Invalid(m)
            | ReconcileError::SecretMissing(m)
            | ReconcileError::TokenUnreadable(m)
            | ReconcileError::BackendUnavailable(m)
            | ReconcileError::PlanRefused(m)
            | ReconcileError::ApplyFailed(m)
            | ReconcileError::DeleteFailed(m)
            | ReconcileError::Kubernetes(m)
            | ReconcileError::Internal(m) => m,
        }
    }

    /// When to reconcile again. What only an edit can fix (an invalid
    /// resource, a refused plan) waits for the edit's watch event, checked
    /// again at the resync; what may pass by itself (a backend or API
    /// server away, a Secret not created yet) retries with the backoff.
    pub fn requeue(&self, backoff: Duration, resync: Duration) -> Duration {
        match self {
            ReconcileError::Invalid(_) | ReconcileError::PlanRefused(_) => resync.max(backoff),
            _ => backoff,
        }
    }
}

/// Condition reasons.
pub(super) mod reason {
    pub const APPLIED: &str = "Applied";
    pub const SUCCESS: &str = "ReconcileSuccess";
    pub const DRIFT: &str = "DriftCorrected";
    pub const INVALID: &str = "ValidationFailed";
    pub const SECRET: &str = "SecretMissing";
    pub const TOKEN: &str = "TokenUnreadable";
    pub const BACKEND: &str = "BackendUnavailable";
    pub const PLAN: &str = "PlanRefused";
    pub const APPLY: &str = "ApplyFailed";
    pub const NOT_APPLIED: &str = "NotApplied";
    pub const SUSPENDED: &str = "Suspended";
    pub const DELETING: &str = "Deleting";
    pub const DELETE_FAILED: &str = "DeleteFailed";
    pub const KUBERNETES: &str = "KubernetesApiError";
    pub const PANIC: &str = "InternalError";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_variant_has_its_own_label_and_every_label_is_counted() {
        let all = [
            ReconcileError::Invalid(String::new()),
            ReconcileError::SecretMissing(String::new()),
            ReconcileError::TokenUnreadable(String::new()),
            ReconcileError::BackendUnavailable(String::new()),
            ReconcileError::PlanRefused(String::new()),
            ReconcileError::ApplyFailed(String::new()),
            ReconcileError::DeleteFailed(String::new()),
            ReconcileError::Kubernetes(String::new()),
            ReconcileError::Internal(String::new()),
        ];
        let labels: Vec<&str> = all.iter().map(ReconcileError::reason).collect();
        assert_eq!(labels, ReconcileError::LABELS);
    }

    #[test]
    fn only_what_an_edit_fixes_waits_for_the_resync() {
        let (backoff, resync) = (Duration::from_secs(2), Duration::from_secs(300));
        assert_eq!(
            ReconcileError::BackendUnavailable("down".into()).requeue(backoff, resync),
            backoff
        );
        assert_eq!(
            ReconcileError::SecretMissing("no key".into()).requeue(backoff, resync),
            backoff
        );
        assert_eq!(
            ReconcileError::PlanRefused("guard".into()).requeue(backoff, resync),
            resync
        );
        assert_eq!(
            ReconcileError::Invalid("bad".into()).requeue(Duration::from_secs(900), resync),
            Duration::from_secs(900)
        );
    }
}
