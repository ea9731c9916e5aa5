//! The organization as it was at a past time, rebuilt from the current
//! snapshot and the audit log: start from [`Backend::snapshot`] and undo,
//! newest first, every audit entry recorded after that time. Backend-neutral
//! (it only reads the trait's snapshot and history) and pure apart from those
//! two reads ([`reconstruct`] takes both as values).
//!
//! # Semantics
//!
//! - **Which entries.** Entries come newest first (by revision); each one
//!   whose time is after `at` is undone, and the walk stops at the first entry
//!   at or before `at` (entries are stored to the second; an entry at exactly
//!   `at` counts as done by then).
//! - **Undoing a change is exact**: the backend records in every change the
//!   object's whole stored spec before the request (`spec_before`, `null`
//!   when the object did not exist), so undoing sets the object back to that
//!   spec, or removes it.
//! - **Older entries** (recorded before backends kept `spec_before`): a
//!   create is undone by removing the object; an update field by field from
//!   its recorded before-values (scalars restored, sets with what was added
//!   removed and what was removed added; exact for the fields it changed); a
//!   replace or a delete cannot be undone and is an error naming the entry.
//! - **Secrets** are never in the audit log, not even as digests. A restored
//!   object keeps its current secret field where it still exists; otherwise
//!   the field is left out.
//! - **Not a snapshot to plan against.** Ownership markers are not recorded:
//!   an object kept keeps its marker, a restored one reads as managed (only
//!   orgctl's own writes are in the log). Restored objects have an empty
//!   fingerprint. The result's revision is that of the newest entry kept (0
//!   when none).
//! - **Before the organization existed**: when undoing leaves no object at
//!   all, [`AsOfError::NotYetCreated`] names the oldest recorded change.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::{AuditChange, AuditEntry, Backend, BackendError, JsonText, LiveObject, LiveOrg};
use crate::model::{path, secret_paths, Kind, Name, Spec, SENSITIVE};

/// Why an organization cannot be shown as it was.
#[derive(Debug, thiserror::Error)]
pub enum AsOfError {
    /// The time is before the organization's first recorded change.
    #[error(
        "organization {organization:?} did not exist at {at}: its first recorded change is at {created}"
    )]
    NotYetCreated {
        /// The organization.
        organization: String,
        /// The time asked for (RFC 3339).
        at: String,
        /// The time of its oldest audit entry.
        created: String,
    },
    /// The organization has no objects and no recorded changes.
    #[error("organization {organization:?} has no objects and no recorded changes")]
    Unknown {
        /// The organization.
        organization: String,
    },
    /// An audit entry's time cannot be read.
    #[error("audit entry of revision {revision} has an unreadable time {time:?}")]
    BadTime {
        /// The entry's revision.
        revision: u64,
        /// The time as stored.
        time: String,
    },
    /// A change cannot be undone.
    #[error("cannot undo revision {revision} ({time}) for {object}: {reason}")]
    CannotUndo {
        /// The entry's revision.
        revision: u64,
        /// The entry's time.
        time: String,
        /// The object (`user "bob"`).
        object: String,
        /// Why.
        reason: String,
    },
    /// Reading the snapshot or the history failed.
    #[error("failed to read the live state or its history")]
    Backend(#[from] BackendError),
}

/// An organization as it was at a past time.
#[derive(Debug, Clone, PartialEq)]
pub struct AsOf {
    /// The organization's objects as they were (`revision`: see below).
    pub org: LiveOrg,
    /// The revisions of the entries undone, newest first.
    pub undone: Vec<u64>,
}

/// Formats a time as RFC 3339 (UTC as `Z`).
pub fn format_time(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

/// Parses an audit entry's time.
fn entry_time(e: &AuditEntry) -> Result<OffsetDateTime, AsOfError> {
    OffsetDateTime::parse(&e.time, &Rfc3339).map_err(|_| AsOfError::BadTime {
        revision: e.revision,
        time: e.time.clone(),
    })
}

/// Reads the organization at `at` from `backend`: one snapshot, then the
/// history in growing pages until an entry at or before `at` (or the oldest)
/// is reached, so the reads grow with the changes undone, not with the log.
pub fn as_of(backend: &dyn Backend, organization: &Name, at: OffsetDateTime) -> Result<AsOf, AsOfError> {
    let live = backend.snapshot(organization)?;
    let mut limit = 64usize;
    loop {
        let entries = backend.history(Some(organization), limit)?;
        let complete = entries.len() < limit;
        let mut reached = false;
        for e in &entries {
            if entry_time(e)? <= at {
                reached = true;
                break;
            }
        }
        if reached || complete {
            return reconstruct(&live, &entries, at);
        }
        limit = limit.saturating_mul(4);
    }
}

/// Undoes, on a copy of `live`, every entry of `newest_first` (one
/// organization's audit entries, newest first) recorded after `at`; see the
/// module doc. `newest_first` must reach back to an entry at or before `at`,
/// or to the organization's oldest entry.
pub fn reconstruct(
    live: &LiveOrg,
    newest_first: &[AuditEntry],
    at: OffsetDateTime,
) -> Result<AsOf, AsOfError> {
    let organization = live
        .organization
        .as_ref()
        .map(|o| o.to_string())
        .or_else(|| newest_first.first().map(|e| e.organization.clone()))
        .unwrap_or_default();
    let mut objects = live.objects.clone();
    let mut undone = Vec::new();
    let mut revision = 0;
    let mut oldest_undone: Option<&AuditEntry> = None;
    for entry in newest_first {
        if entry_time(entry)? <= at {
            revision = entry.revision;
            break;
        }
        for change in entry.changes.iter().rev() {
            undo(&mut objects, entry, change)?;
        }
        undone.push(entry.revision);
        oldest_undone = Some(entry);
    }
    if objects.is_empty() {
        return Err(match oldest_undone {
            Some(first) => AsOfError::NotYetCreated {
                organization,
                at: format_time(at),
                created: first.time.clone(),
            },
            None => AsOfError::Unknown { organization },
        });
    }
    Ok(AsOf {
        org: LiveOrg {
            organization: live.organization.clone(),
            revision,
            objects,
            // The audit log keeps counts of assignment writes, not the lists:
            // the past state carries no materialized assignments.
            grants: Default::default(),
        },
        undone,
    })
}

/// Undoes one change on `objects`.
fn undo(
    objects: &mut BTreeMap<(Kind, Name), LiveObject>,
    entry: &AuditEntry,
    change: &AuditChange,
) -> Result<(), AsOfError> {
    // Materialized app assignments are not objects: nothing to undo here.
    if change.action == "assign" {
        return Ok(());
    }
    let kind = change.kind;
    let object = kind.label(&change.name).to_string();
    let fail = |reason: String| AsOfError::CannotUndo {
        revision: entry.revision,
        time: entry.time.clone(),
        object: object.clone(),
        reason,
    };
    let name: Name = change.name.parse().map_err(fail)?;
    let key = (kind, name);
    let current = objects.get(&key);
    let restored: Option<Value> = match (&change.spec_before, change.action.as_str()) {
        (Some(None), _) | (None, "create") => None,
        (Some(Some(spec)), _) => Some(with_current_secrets(kind, spec.clone(), current)),
        (None, "update") => {
            let Some(current) = current else {
                return Err(fail("the object it updated is missing".into()));
            };
            Some(undo_fields(current.spec.to_json(), change).map_err(fail)?)
        }
        (None, action) => {
            return Err(fail(format!(
                "the entry does not record the spec before the {action} (written by an older orgctl)"
            )))
        }
    };
    match restored {
        None => {
            objects.remove(&key);
        }
        Some(json) => {
            let spec = Spec::from_json(kind, json)
                .map_err(|e| fail(format!("the recorded spec is invalid: {e}")))?;
            let managed = current.is_none_or(|c| c.managed);
            objects.insert(
                key,
                LiveObject {
                    spec,
                    managed,
                    fingerprint: String::new(),
                },
            );
        }
    }
    Ok(())
}

/// Puts back the current value of each redacted secret field, or drops it.
fn with_current_secrets(kind: Kind, mut spec: Value, current: Option<&LiveObject>) -> Value {
    let now = current.map(|c| c.spec.to_json());
    for field in secret_paths(kind) {
        let pointer = path::pointer(field);
        if spec.pointer(&pointer).and_then(Value::as_str) != Some(SENSITIVE) {
            continue;
        }
        match now
            .as_ref()
            .and_then(|n| n.pointer(&pointer))
            .filter(|v| !v.is_null())
        {
            Some(v) => {
                if let Some(slot) = spec.pointer_mut(&pointer) {
                    *slot = v.clone();
                }
            }
            None => {
                path::remove(&mut spec, field);
            }
        }
    }
    spec
}

/// Sets the field at a dotted `path`, creating parent objects as needed.
fn set_path(spec: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let mut slot = spec;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        let Some(obj) = slot.as_object_mut() else {
            return Err(format!("cannot set {path}"));
        };
        if parts.peek().is_none() {
            obj.insert(part.to_string(), value);
            return Ok(());
        }
        slot = obj
            .entry(part.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    Ok(())
}

/// Undoes an update recorded as field changes only (older entries): each
/// changed path gets its before-value back.
fn undo_fields(mut spec: Value, change: &AuditChange) -> Result<Value, String> {
    let empty = Map::new();
    let (before, after) = (
        change.before.as_ref().map(JsonText::value),
        change.after.as_ref().map(JsonText::value),
    );
    let before = before.as_ref().and_then(Value::as_object).unwrap_or(&empty);
    let after = after.as_ref().and_then(Value::as_object).unwrap_or(&empty);
    for (field, new) in after {
        let old = before.get(field).unwrap_or(&Value::Null);
        if new.as_str() == Some(SENSITIVE) || old.as_str() == Some(SENSITIVE) {
            continue; // secrets are not recorded: they stay as they are
        }
        let pointer = path::pointer(field);
        match (new.get("added"), old.get("removed")) {
            (Some(Value::Array(added)), Some(Value::Array(removed))) => {
                let mut items: Vec<Value> = spec
                    .pointer(&pointer)
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                items.retain(|i| !added.contains(i));
                for r in removed {
                    if !items.contains(r) {
                        items.push(r.clone());
                    }
                }
                if items.is_empty() {
                    path::remove(&mut spec, field);
                } else {
                    set_path(&mut spec, field, Value::Array(items))?;
                }
            }
            _ if old.is_null() => {
                path::remove(&mut spec, field);
            }
            _ => set_path(&mut spec, field, old.clone())?,
        }
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn n(s: &str) -> Name {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    fn t(s: &str) -> OffsetDateTime {
        OffsetDateTime::parse(s, &Rfc3339).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn obj(kind: Kind, spec: Value) -> LiveObject {
        LiveObject {
            spec: Spec::from_json(kind, spec).unwrap_or_else(|e| panic!("{e}")),
            managed: true,
            fingerprint: "r9".into(),
        }
    }

    fn live(objects: Vec<(Kind, &str, Value)>) -> LiveOrg {
        LiveOrg {
            organization: Some(n("acme")),
            revision: 9,
            objects: objects
                .into_iter()
                .map(|(k, name, spec)| ((k, n(name)), obj(k, spec)))
                .collect(),
            grants: Default::default(),
        }
    }

    fn change(kind: Kind, name: &str, action: &str, spec_before: Option<Option<Value>>) -> AuditChange {
        AuditChange {
            kind,
            name: name.into(),
            action: action.into(),
            before: None,
            after: None,
            spec_before,
        }
    }

    fn entry(revision: u64, time: &str, changes: Vec<AuditChange>) -> AuditEntry {
        AuditEntry {
            revision,
            time: time.into(),
            organization: "acme".into(),
            changes,
        }
    }

    fn policy(ips: &[&str]) -> Value {
        json!({"organization": "acme", "default": true, "network": {"allowedIps": ips}})
    }

    /// r1 creates the org and a policy allowing two ranges; r2 drops one
    /// range and deletes bob; r3 creates carol.
    fn story() -> (LiveOrg, Vec<AuditEntry>) {
        let bob = json!({"organization": "acme", "email": "bob@acme.example"});
        let now = live(vec![
            (Kind::Organization, "acme", json!({"displayName": "Acme"})),
            (Kind::SecurityPolicy, "default", policy(&["10.0.0.0/8"])),
            (
                Kind::User,
                "carol",
                json!({"organization": "acme", "email": "carol@acme.example"}),
            ),
        ]);
        let history = vec![
            entry(
                3,
                "2026-11-26T09:00:00Z",
                vec![change(Kind::User, "carol", "create", Some(None))],
            ),
            entry(
                2,
                "2026-11-25T09:00:00Z",
                vec![
                    change(
                        Kind::SecurityPolicy,
                        "default",
                        "update",
                        Some(Some(policy(&["10.0.0.0/8", "192.0.2.0/24"]))),
                    ),
                    change(Kind::User, "bob", "delete", Some(Some(bob))),
                ],
            ),
            entry(
                1,
                "2026-11-24T09:00:00Z",
                vec![
                    change(Kind::Organization, "acme", "create", Some(None)),
                    change(Kind::SecurityPolicy, "default", "create", Some(None)),
                    change(Kind::User, "bob", "create", Some(None)),
                ],
            ),
        ];
        (now, history)
    }

    fn names(org: &LiveOrg) -> Vec<String> {
        org.objects.keys().map(|(k, n)| format!("{k}/{n}")).collect()
    }

    #[test]
    fn entries_after_the_time_are_undone_newest_first() {
        let (now, history) = story();
        let past = reconstruct(&now, &history, t("2026-11-24T12:00:00Z")).unwrap();
        assert_eq!(past.undone, vec![3, 2]);
        assert_eq!(past.org.revision, 1);
        assert_eq!(
            names(&past.org),
            vec!["Organization/acme", "User/bob", "SecurityPolicy/default"]
        );
        let p = past.org.get(Kind::SecurityPolicy, &n("default")).unwrap();
        assert_eq!(p.spec.to_json(), policy(&["10.0.0.0/8", "192.0.2.0/24"]));
        assert_eq!(p.fingerprint, "", "restored objects have no fingerprint");
        // An entry at exactly the time counts as done.
        let at_r2 = reconstruct(&now, &history, t("2026-11-25T09:00:00Z")).unwrap();
        assert_eq!(at_r2.undone, vec![3]);
        assert_eq!(at_r2.org.revision, 2);
        // Now (or later) changes nothing.
        let later = reconstruct(&now, &history, t("2030-01-01T00:00:00Z")).unwrap();
        assert_eq!(later.org.objects, now.objects);
        assert!(later.undone.is_empty());
    }

    #[test]
    fn a_time_before_the_first_change_is_an_error() {
        let (now, history) = story();
        let err = reconstruct(&now, &history, t("2026-01-01T00:00:00Z")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "organization \"acme\" did not exist at 2026-01-01T00:00:00Z: its first recorded change is at 2026-11-24T09:00:00Z"
        );
    }

    #[test]
    fn restored_secrets_come_from_the_current_object_or_are_left_out() {
        let digest = json!({"digest": "sha256:00"});
        let now = live(vec![(
            Kind::IdentityProvider,
            "google",
            json!({"organization": "acme", "type": "google", "clientSecret": digest, "clientId": "new"}),
        )]);
        let before =
            json!({"organization": "acme", "type": "google", "clientSecret": SENSITIVE, "clientId": "old"});
        let history = vec![
            entry(
                2,
                "2026-11-25T00:00:00Z",
                vec![
                    change(
                        Kind::IdentityProvider,
                        "google",
                        "update",
                        Some(Some(before.clone())),
                    ),
                    change(Kind::IdentityProvider, "gone", "delete", Some(Some(before))),
                ],
            ),
            entry(1, "2026-11-24T00:00:00Z", vec![]),
        ];
        let past = reconstruct(&now, &history, t("2026-11-24T12:00:00Z")).unwrap();
        let google = past
            .org
            .get(Kind::IdentityProvider, &n("google"))
            .unwrap()
            .spec
            .to_json();
        assert_eq!(google["clientId"], "old");
        assert_eq!(google["clientSecret"], digest);
        let gone = past
            .org
            .get(Kind::IdentityProvider, &n("gone"))
            .unwrap()
            .spec
            .to_json();
        assert_eq!(gone.get("clientSecret"), None);
        assert_eq!(gone["clientId"], "old");
    }

    #[test]
    fn older_entries_undo_updates_field_by_field_and_refuse_deletes() {
        let now = live(vec![(
            Kind::SecurityPolicy,
            "default",
            json!({"organization": "acme", "default": true, "mfa": {"required": true},
                   "network": {"allowedIps": ["10.0.0.0/8", "203.0.113.0/24"]}}),
        )]);
        let mut update = change(Kind::SecurityPolicy, "default", "update", None);
        update.before = Some(JsonText::from(json!({
            "mfa.required": null,
            "network.allowedIps": {"removed": ["192.0.2.0/24"]},
        })));
        update.after = Some(JsonText::from(json!({
            "mfa.required": true,
            "network.allowedIps": {"added": ["203.0.113.0/24"]},
        })));
        let history = vec![
            entry(2, "2026-11-25T00:00:00Z", vec![update]),
            entry(1, "2026-11-24T00:00:00Z", vec![]),
        ];
        let past = reconstruct(&now, &history, t("2026-11-24T12:00:00Z")).unwrap();
        let p = past
            .org
            .get(Kind::SecurityPolicy, &n("default"))
            .unwrap()
            .spec
            .to_json();
        assert_eq!(p["network"]["allowedIps"], json!(["10.0.0.0/8", "192.0.2.0/24"]));
        assert_eq!(p["mfa"].get("required"), None);

        let history = vec![
            entry(
                2,
                "2026-11-25T00:00:00Z",
                vec![change(Kind::User, "bob", "delete", None)],
            ),
            entry(1, "2026-11-24T00:00:00Z", vec![]),
        ];
        let err = reconstruct(&now, &history, t("2026-11-24T12:00:00Z")).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "cannot undo revision 2 (2026-11-25T00:00:00Z) for user \"bob\": the entry does not record"
            ),
            "{err}"
        );
        // A legacy create is undone by removing the object.
        let history = vec![
            entry(
                2,
                "2026-11-25T00:00:00Z",
                vec![change(Kind::SecurityPolicy, "default", "create", None)],
            ),
            entry(1, "2026-11-24T00:00:00Z", vec![]),
        ];
        let err = reconstruct(&now, &history, t("2026-11-24T12:00:00Z")).unwrap_err();
        assert!(matches!(err, AsOfError::NotYetCreated { .. }), "{err}");
    }

    /// A backend holding one snapshot and a long history; counts history reads.
    struct Fake {
        live: LiveOrg,
        history: Vec<AuditEntry>,
        reads: std::cell::RefCell<Vec<usize>>,
    }

    impl Backend for Fake {
        fn describe(&self) -> String {
            "fake".into()
        }
        fn capabilities(&self) -> crate::backend::Capabilities {
            crate::backend::Capabilities::default()
        }
        fn organizations(&self) -> Result<Vec<Name>, BackendError> {
            Ok(vec![n("acme")])
        }
        fn snapshot(&self, _: &Name) -> Result<LiveOrg, BackendError> {
            Ok(self.live.clone())
        }
        fn write(
            &mut self,
            _: crate::backend::WriteRequest,
            _: &mut dyn FnMut(usize),
        ) -> Result<crate::backend::WriteOutcome, BackendError> {
            Err(BackendError::Storage("read-only".into()))
        }
        fn history(&self, _: Option<&Name>, limit: usize) -> Result<Vec<AuditEntry>, BackendError> {
            self.reads.borrow_mut().push(limit);
            Ok(self.history.iter().take(limit).cloned().collect())
        }
        fn secret_digests(
            &self,
            _: &Name,
            values: &[&crate::model::SecretValue],
        ) -> Result<Vec<String>, BackendError> {
            let key = crate::backend::process_digest_key();
            Ok(values.iter().map(|v| key.digest(v)).collect())
        }
    }

    #[test]
    fn history_is_read_in_growing_pages_until_the_time_is_reached() {
        let (now, story) = story();
        // 100 no-op entries after the story, one per minute on 2026-11-27.
        let mut history: Vec<AuditEntry> = (0..100u64)
            .rev()
            .map(|i| {
                entry(
                    4 + i,
                    &format!("2026-11-27T{:02}:{:02}:00Z", i / 60, i % 60),
                    vec![],
                )
            })
            .collect();
        history.extend(story);
        let fake = Fake {
            live: now,
            history,
            reads: Default::default(),
        };
        let past = as_of(&fake, &n("acme"), t("2026-11-24T12:00:00Z")).unwrap();
        assert_eq!(past.undone.len(), 102);
        assert_eq!(past.org.revision, 1);
        assert_eq!(*fake.reads.borrow(), vec![64, 256]);
        fake.reads.borrow_mut().clear();
        let recent = as_of(&fake, &n("acme"), t("2026-11-27T01:00:00Z")).unwrap();
        assert_eq!(recent.undone.len(), 39);
        assert_eq!(*fake.reads.borrow(), vec![64], "one page when the time is recent");
    }

    #[test]
    fn unreadable_times_are_errors() {
        let (now, mut history) = story();
        history[0].time = "yesterday".into();
        let err = reconstruct(&now, &history, t("2026-11-24T12:00:00Z")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "audit entry of revision 3 has an unreadable time \"yesterday\""
        );
    }
}
