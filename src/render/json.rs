//! The plan as pretty JSON, for scripts and saved plans: the [`Plan`]
//! structure itself (it carries `formatVersion`), with the values of
//! sensitive fields replaced by `"(sensitive value)"` so no secret, nor a
//! digest of one, leaves the engine through this format.

use std::borrow::Cow;

use serde_json::Value;

use crate::plan::{FieldChange, FieldDiff, Plan};

use crate::model::SENSITIVE;

/// The plan as pretty, newline-terminated JSON (sensitive values redacted).
#[must_use]
pub fn json(plan: &Plan) -> String {
    match serde_json::to_string_pretty(&redacted(plan)) {
        Ok(mut out) => {
            out.push('\n');
            out
        }
        // A Plan has only string map keys, so this cannot happen; still,
        // answer with valid JSON rather than panic.
        Err(e) => format!(
            "{{\"error\": {}}}\n",
            Value::String(format!("failed to serialize the plan: {e}"))
        ),
    }
}

/// A copy of `plan` whose sensitive field values are `"(sensitive value)"`
/// (`null` stays `null`, so creating and clearing remain visible).
pub(super) fn redacted(plan: &Plan) -> Plan {
    let mut plan = plan.clone();
    // A create's derived list is redacted already; holding it makes the
    // copy (and what is read back from the JSON) complete.
    for c in plan.organizations.iter_mut().flat_map(|o| o.changes.iter_mut()) {
        if let Cow::Owned(fields) = c.field_changes() {
            c.fields = fields;
        }
    }
    let fields = plan
        .organizations
        .iter_mut()
        .flat_map(|o| o.changes.iter_mut())
        .flat_map(|c| c.fields.iter_mut());
    for FieldChange {
        path: _,
        sensitive,
        diff,
    } in fields
    {
        if !*sensitive {
            continue;
        }
        match diff {
            FieldDiff::Value { before, after } => {
                redact(before);
                redact(after);
            }
            FieldDiff::Set { added, removed } => {
                added.iter_mut().chain(removed.iter_mut()).for_each(redact);
            }
        }
    }
    plan
}

fn redact(value: &mut Value) {
    if !value.is_null() {
        *value = Value::String(SENSITIVE.to_string());
    }
}
