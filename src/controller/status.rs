//! Status as the controller writes it: the `Ready` and `Synced` conditions
//! (a condition's `lastTransitionTime` moves only when its `status` does),
//! `observedGeneration`, the backend revision, and on the Organization the
//! last plan's summary and access impact counts. Also the merge patch that
//! turns one status into the next, so an unchanged status costs no write.
//!
//! Must not: put a secret value or a token in a message (messages come from
//! engine diagnostics and errors, which never hold values).

use serde_json::{Map, Value};

use crate::crd::{ConditionStatus, ObjectStatus, StatusCondition};

/// Condition type: the backend holds the object's spec.
pub const READY: &str = "Ready";
/// Condition type: the last reconcile of the object ran without error.
pub const SYNCED: &str = "Synced";

/// Longest message kept in a condition (the CRD allows 32768).
const MAX_MESSAGE: usize = 4000;

/// One condition's new value (without its transition time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// True, False or Unknown.
    pub status: ConditionStatus,
    /// A CamelCase reason.
    pub reason: &'static str,
    /// For people.
    pub message: String,
}

impl Condition {
    /// A condition that holds.
    pub fn yes(reason: &'static str, message: impl Into<String>) -> Self {
        Condition {
            status: ConditionStatus::True,
            reason,
            message: message.into(),
        }
    }

    /// A condition that does not hold.
    pub fn no(reason: &'static str, message: impl Into<String>) -> Self {
        Condition {
            status: ConditionStatus::False,
            reason,
            message: message.into(),
        }
    }

    /// A condition not known yet.
    pub fn unknown(reason: &'static str, message: impl Into<String>) -> Self {
        Condition {
            status: ConditionStatus::Unknown,
            reason,
            message: message.into(),
        }
    }
}

/// Sets condition `type_` in `conditions`: a new `status` gets `now` as its
/// transition time; the same status keeps the old time (reason and message
/// are updated either way).
pub fn set_condition(conditions: &mut Vec<StatusCondition>, type_: &str, c: &Condition, now: &str) {
    let mut message = c.message.clone();
    if message.len() > MAX_MESSAGE {
        let mut cut = MAX_MESSAGE;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push('…');
    }
    match conditions.iter_mut().find(|x| x.type_ == type_) {
        Some(existing) => {
            if existing.status != c.status {
                existing.last_transition_time = now.to_string();
            }
            existing.status = c.status;
            existing.reason = c.reason.to_string();
            existing.message = message;
        }
        None => conditions.push(StatusCondition {
            type_: type_.to_string(),
            status: c.status,
            reason: c.reason.to_string(),
            message,
            last_transition_time: now.to_string(),
        }),
    }
    conditions.sort_by(|a, b| a.type_.cmp(&b.type_));
}

/// The condition of `type_`, if set.
pub fn condition<'a>(status: &'a ObjectStatus, type_: &str) -> Option<&'a StatusCondition> {
    status.conditions.iter().find(|c| c.type_ == type_)
}

/// True when the status says the object was in sync at `generation`: the
/// backend held it and nothing about the resource changed since.
pub fn was_in_sync(status: &ObjectStatus, generation: Option<i64>) -> bool {
    status.observed_generation.is_some()
        && status.observed_generation == generation
        && condition(status, READY).is_some_and(|c| c.status == ConditionStatus::True)
}

/// The merge patch (`{"status": …}`) that turns `old` into `new`, or `None`
/// when they are equal. Fields `new` drops are sent as `null`.
pub fn patch(old: &ObjectStatus, new: &ObjectStatus) -> Option<Value> {
    if old == new {
        return None;
    }
    let old = serde_json::to_value(old).ok()?;
    let mut new = match serde_json::to_value(new).ok()? {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    if let Value::Object(old) = old {
        for key in old.keys() {
            if !new.contains_key(key) {
                new.insert(key.clone(), Value::Null);
            }
        }
    }
    Some(serde_json::json!({ "status": Value::Object(new) }))
}

/// Now, as an RFC 3339 time to the second (as `metav1.Time` writes it).
pub fn now() -> String {
    let t = time::OffsetDateTime::now_utc();
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_moves_only_when_status_does() {
        let mut conds = Vec::new();
        set_condition(&mut conds, READY, &Condition::yes("Applied", "ok"), "t1");
        set_condition(&mut conds, READY, &Condition::yes("Applied", "still ok"), "t2");
        assert_eq!(conds[0].last_transition_time, "t1");
        assert_eq!(conds[0].message, "still ok");
        set_condition(&mut conds, READY, &Condition::no("ValidationFailed", "bad"), "t3");
        assert_eq!(conds[0].last_transition_time, "t3");
        assert_eq!(conds[0].reason, "ValidationFailed");
    }

    #[test]
    fn equal_status_needs_no_patch_and_dropped_fields_are_nulled() {
        let old = ObjectStatus {
            observed_generation: Some(1),
            backend_revision: Some(3),
            ..ObjectStatus::default()
        };
        assert_eq!(patch(&old, &old), None);
        let new = ObjectStatus {
            observed_generation: Some(2),
            ..ObjectStatus::default()
        };
        let p = patch(&old, &new).expect("a patch");
        assert_eq!(p["status"]["observedGeneration"], 2);
        assert!(p["status"]["backendRevision"].is_null());
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        let mut conds = Vec::new();
        let long = "é".repeat(MAX_MESSAGE);
        set_condition(&mut conds, SYNCED, &Condition::no("X", long), "t");
        assert!(conds[0].message.len() <= MAX_MESSAGE + '…'.len_utf8());
    }
}
