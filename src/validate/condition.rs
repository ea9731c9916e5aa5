//! Checks rule conditions (AppAssignment rules, policy target rules): one form
//! per node, known fields, operands that fit the operator, regexes that
//! compile within a size limit, and groups that exist.

use std::str::FromStr;

use super::refs::Known;
use super::{DesiredOrg, Origin, Reporter};
use crate::diagnostic::did_you_mean;
use crate::model::{Condition, Kind, Operator};

/// Longest regular expression accepted in a `matches` condition, in bytes.
pub const MAX_REGEX_BYTES: usize = 1024;
/// Compiled-size limit handed to the regex engine.
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// A user field a condition can compare.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConditionField {
    /// The user's department.
    Department,
    /// The user's designation.
    Designation,
    /// The user's location.
    Location,
    /// Membership of a group (direct or nested).
    Group,
    /// The domain of the user's e-mail.
    EmailDomain,
    /// The user's e-mail.
    Email,
    /// The user's sign-in name.
    Username,
    /// A custom attribute.
    Attribute(String),
}

/// The user fields a condition compares by name (besides `attributes.<name>`).
pub const FIELDS: [&str; 7] = [
    "department",
    "designation",
    "location",
    "group",
    "emailDomain",
    "email",
    "username",
];

impl FromStr for ConditionField {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "department" => ConditionField::Department,
            "designation" => ConditionField::Designation,
            "location" => ConditionField::Location,
            "group" => ConditionField::Group,
            "emailDomain" => ConditionField::EmailDomain,
            "email" => ConditionField::Email,
            "username" => ConditionField::Username,
            other => match other.strip_prefix("attributes.") {
                Some(a) if !a.is_empty() => ConditionField::Attribute(a.to_string()),
                _ => {
                    return Err(match did_you_mean(other, FIELDS) {
                        Some(s) => format!("unknown condition field {other:?}, did you mean {s:?}?"),
                        None => format!(
                            "unknown condition field {other:?}; expected one of: {}, or attributes.<name>",
                            FIELDS.join(", ")
                        ),
                    });
                }
            },
        })
    }
}

/// Compiles a `matches` pattern under the size limits.
pub fn compile_regex(pattern: &str) -> Result<regex::Regex, String> {
    if pattern.len() > MAX_REGEX_BYTES {
        return Err(format!(
            "regular expression is {} bytes long; the limit is {MAX_REGEX_BYTES}",
            pattern.len()
        ));
    }
    regex::RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| {
            let detail = e.to_string();
            let last = detail
                .lines()
                .last()
                .unwrap_or_default()
                .trim()
                .trim_start_matches("error: ")
                .trim_end_matches('.');
            let mut chars = last.chars();
            let last: String = match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => String::new(),
            };
            format!("invalid regular expression {pattern:?}: {last}")
        })
}

/// Checks one condition tree at `path`.
pub(crate) fn check(
    r: &mut Reporter,
    origin: &Origin,
    path: &str,
    c: &Condition,
    org: &DesiredOrg,
    known: &Known,
) {
    let forms: Vec<&str> = [
        ("`all`", c.all.is_some()),
        ("`any`", c.any.is_some()),
        ("`field`", c.field.is_some()),
    ]
    .into_iter()
    .filter_map(|(word, present)| present.then_some(word))
    .collect();
    if forms.len() != 1 {
        let found = match forms.as_slice() {
            [] => "none".to_string(),
            [init @ .., last] => format!("{} and {last}", init.join(", ")),
        };
        r.at(
            origin,
            path,
            format!("a condition needs exactly one of `all`, `any`, or `field` with `op`; found {found}"),
        );
        return;
    }
    for (word, list) in [("all", &c.all), ("any", &c.any)] {
        if let Some(list) = list {
            if c.op.is_some() || c.value.is_some() || c.values.is_some() {
                r.at(
                    origin,
                    path,
                    format!("`{word}` cannot be combined with `op`, `value` or `values`"),
                );
            }
            if list.is_empty() {
                r.at(
                    origin,
                    &format!("{path}.{word}"),
                    format!("`{word}` needs at least one condition"),
                );
            }
            for (i, sub) in list.iter().enumerate() {
                check(r, origin, &format!("{path}.{word}[{i}]"), sub, org, known);
            }
            return;
        }
    }
    let Some(field_text) = &c.field else { return };
    let field = match field_text.parse::<ConditionField>() {
        Ok(f) => Some(f),
        Err(msg) => {
            r.at(origin, &format!("{path}.field"), msg);
            None
        }
    };
    let Some(op) = c.op else {
        r.at(origin, path, "missing required field \"op\"");
        return;
    };
    // A `value` written where `values` belongs (or the reverse) is one
    // problem, reported once at the field written.
    let operands: Vec<&String> = match op {
        Operator::In | Operator::NotIn => {
            if c.value.is_some() {
                r.at(
                    origin,
                    &format!("{path}.value"),
                    format!("`{}` takes `values` (a list), not `value`", op.as_str()),
                );
            }
            match &c.values {
                Some(v) if !v.is_empty() => v.iter().collect(),
                _ => {
                    if c.value.is_none() {
                        r.at(
                            origin,
                            path,
                            format!("`{}` needs a non-empty `values` list", op.as_str()),
                        );
                    }
                    Vec::new()
                }
            }
        }
        _ => {
            if c.values.is_some() {
                r.at(
                    origin,
                    &format!("{path}.values"),
                    format!("`{}` takes one `value`, not `values`", op.as_str()),
                );
            }
            match &c.value {
                Some(v) => vec![v],
                None => {
                    if c.values.is_none() {
                        r.at(origin, path, format!("`{}` needs a `value`", op.as_str()));
                    }
                    Vec::new()
                }
            }
        }
    };
    if op == Operator::Matches {
        for v in &operands {
            if let Err(msg) = compile_regex(v) {
                r.at(origin, &format!("{path}.value"), msg);
            }
        }
    }
    if field == Some(ConditionField::Group)
        && matches!(
            op,
            Operator::Equals | Operator::NotEquals | Operator::In | Operator::NotIn
        )
    {
        for (i, v) in operands.iter().enumerate() {
            if org.get(Kind::Group, v).is_none() && !known.hides(Kind::Group, v) {
                let at = if c.values.is_some() {
                    format!("{path}.values[{i}]")
                } else {
                    format!("{path}.value")
                };
                r.at(origin, &at, super::refs::undeclared(org, Kind::Group, v));
            }
        }
    }
}
