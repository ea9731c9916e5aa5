//! The status every orgctl custom resource carries: what the controller last
//! observed and did. Written by the controller only (status subresource);
//! nothing here is read back as desired state.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Status of an orgctl custom resource, shared by every kind.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectStatus {
    /// The `metadata.generation` the controller last reconciled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub observed_generation: Option<i64>,
    /// Standard conditions, one per type: `Ready` (the backend holds the
    /// spec) and `Synced` (the last reconcile ran without error).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<StatusCondition>,
    /// The backend's organization revision after the last reconcile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub backend_revision: Option<i64>,
    /// Organization only: the summary of the last plan for the whole organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlanSummary>,
    /// Organization only: who the last plan affects (counts of the access impact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impact: Option<ImpactSummary>,
    /// When the controller last corrected drift made in the backend behind
    /// its back (RFC 3339); on the Organization, any of its objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub last_drift_correction: Option<String>,
}

/// One condition, in the shape of Kubernetes' `metav1.Condition`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusCondition {
    /// The condition's type: `Ready` or `Synced`.
    #[serde(rename = "type")]
    #[schemars(length(min = 1, max = 316))]
    pub type_: String,
    /// Whether the condition holds.
    pub status: ConditionStatus,
    /// A CamelCase word saying why (e.g. `Applied`, `InvalidSpec`, `BackendUnavailable`).
    #[schemars(
        length(min = 1, max = 1024),
        regex(pattern = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
    )]
    pub reason: String,
    /// A sentence for people; may be empty. Never holds a secret value.
    #[schemars(length(max = 32768))]
    pub message: String,
    /// When `status` last changed (RFC 3339); a reconcile that changes nothing keeps it.
    #[schemars(extend("format" = "date-time"))]
    pub last_transition_time: String,
}

/// The value of a condition's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// Not known yet.
    Unknown,
}

/// How many objects the last plan of an organization would add, change and destroy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct PlanSummary {
    /// Objects to create.
    #[schemars(range(min = 0))]
    pub add: i64,
    /// Objects to change in place.
    #[schemars(range(min = 0))]
    pub change: i64,
    /// Objects to delete.
    #[schemars(range(min = 0))]
    pub destroy: i64,
    /// Users whose rule-made app assignments are rewritten.
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub assign: i64,
}

/// Counts of the last plan's access impact on people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImpactSummary {
    /// Users with any change of apps, policy or admin rights.
    #[schemars(range(min = 0))]
    pub users_affected: i64,
    /// (user, app) grants gained.
    #[schemars(range(min = 0))]
    pub app_grants_gained: i64,
    /// (user, app) grants lost.
    #[schemars(range(min = 0))]
    pub app_grants_lost: i64,
    /// Users moving to another security policy (or whose policy changes).
    #[schemars(range(min = 0))]
    pub policy_changes: i64,
    /// Users whose admin rights change.
    #[schemars(range(min = 0))]
    pub admin_changes: i64,
}
