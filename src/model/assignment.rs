//! The AppAssignment kind: a rule over user fields that gives apps, with an
//! app role, to every matching user, present and future.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Collection, Field, Members, Name};

/// A comparison operator of a rule condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Operator {
    /// Equal (case-insensitive).
    Equals,
    /// Not equal (case-insensitive).
    NotEquals,
    /// One of `values`.
    In,
    /// None of `values`.
    NotIn,
    /// Starts with `value`.
    StartsWith,
    /// Ends with `value`.
    EndsWith,
    /// Contains `value`.
    Contains,
    /// Matches the regular expression `value`.
    Matches,
}

impl Operator {
    /// The operator as written in YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Equals => "equals",
            Operator::NotEquals => "notEquals",
            Operator::In => "in",
            Operator::NotIn => "notIn",
            Operator::StartsWith => "startsWith",
            Operator::EndsWith => "endsWith",
            Operator::Contains => "contains",
            Operator::Matches => "matches",
        }
    }
}

/// A condition: exactly one of `all`, `any`, or a comparison
/// (`field`, `op`, and `value` or `values`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Condition {
    /// Every sub-condition must hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub all: Option<Vec<Condition>>,
    /// At least one sub-condition must hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub any: Option<Vec<Condition>>,
    /// The user field compared: department, designation, location, group,
    /// emailDomain, email, username, or `attributes.<name>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The comparison.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub op: Option<Operator>,
    /// The operand of single-valued operators.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The operands of `in` and `notIn`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
}

/// One app (and app role) a rule gives.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppGrant {
    /// The Application's name.
    pub app: Name,
    /// One of the app's roles.
    pub role: Name,
}

/// A conditional assignment of apps to users.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
#[schemars(transform = super::rules::Required(super::Kind::AppAssignment))]
pub struct AppAssignmentSpec {
    /// The organization this rule belongs to.
    pub organization: Option<Name>,
    /// What the rule is for.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub description: Field<String>,
    /// Higher wins when rules give one app different roles.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub priority: Field<i32>,
    /// Which users match.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub rule: Field<Condition>,
    /// Users and groups never matched by this rule.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub exclude: Field<Members>,
    /// The apps and roles given to matching users.
    #[serde(skip_serializing_if = "Field::is_unset")]
    pub assign: Field<Collection<AppGrant>>,
}
