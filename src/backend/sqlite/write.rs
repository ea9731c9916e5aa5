//! One write request as one transaction. Guarantees: the organization's
//! revision is checked against the plan's before anything is written; every
//! object is checked against the fingerprint the plan read; the first failed
//! check or storage error drops the transaction uncommitted, so the file
//! (objects, secrets, revisions, audit) is exactly as before. The revision
//! moves, and an audit row is added, only when a row was actually written: an
//! empty request (checked against nothing) and a request that only deletes
//! objects already gone return the current revision. The audit row records,
//! per change, the object's whole stored spec before the request (secret
//! fields redacted; `null` when it did not exist), so history can undo it.
//! Secret values are written here and nowhere else, and never logged.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rusqlite::{params, Connection, OptionalExtension, MAIN_DB};

use super::{begin_write, fingerprint, label, org_revision, revision_to_sql, storage};
use crate::backend::{AuditChange, BackendError, RuleGrant, Write, WriteOutcome, WriteRequest};
use crate::model::{DigestKey, Kind, Name, SecretValue};

/// The stored revision and spec of one object, if it exists.
const SELECT_OBJECT: &str =
    "SELECT revision, spec FROM objects WHERE organization = ?1 AND kind = ?2 AND name = ?3";
/// Creates or replaces one object.
const UPSERT_OBJECT: &str = "INSERT INTO objects (organization, kind, name, spec, managed, revision)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
     ON CONFLICT (organization, kind, name)
     DO UPDATE SET spec = excluded.spec, managed = excluded.managed, revision = excluded.revision";
/// Deletes one object.
const DELETE_OBJECT: &str = "DELETE FROM objects WHERE organization = ?1 AND kind = ?2 AND name = ?3";
/// Deletes all secrets of one object.
const DELETE_SECRETS: &str = "DELETE FROM secrets WHERE organization = ?1 AND kind = ?2 AND name = ?3";
/// Deletes one secret value of an object.
const DELETE_SECRET: &str =
    "DELETE FROM secrets WHERE organization = ?1 AND kind = ?2 AND name = ?3 AND path = ?4";
/// Stores one secret value.
const INSERT_SECRET: &str =
    "INSERT INTO secrets (organization, kind, name, path, value) VALUES (?1, ?2, ?3, ?4, ?5)";
/// Finds a stored rule-made grant list by its text.
const SELECT_SET: &str = "SELECT id FROM grant_sets WHERE organization = ?1 AND grants = ?2";
/// The next free grant list id of an organization.
const NEXT_SET_ID: &str = "SELECT COALESCE(MAX(id), -1) + 1 FROM grant_sets WHERE organization = ?1";
/// Stores a new rule-made grant list.
const INSERT_SET: &str = "INSERT INTO grant_sets (organization, id, grants) VALUES (?1, ?2, ?3)";
/// Points a user at a rule-made grant list.
const UPSERT_USER_GRANTS: &str = "INSERT INTO user_grants (organization, user, set_id) VALUES (?1, ?2, ?3)
     ON CONFLICT (organization, user) DO UPDATE SET set_id = excluded.set_id";
/// Removes a user's rule-made grants.
const DELETE_USER_GRANTS: &str = "DELETE FROM user_grants WHERE organization = ?1 AND user = ?2";
/// Stores a grant made by hand.
const UPSERT_MANUAL: &str =
    "INSERT INTO manual_grants (organization, user, app, role) VALUES (?1, ?2, ?3, ?4)
     ON CONFLICT (organization, user, app) DO UPDATE SET role = excluded.role";
/// Removes one grant made by hand.
const DELETE_MANUAL: &str = "DELETE FROM manual_grants WHERE organization = ?1 AND user = ?2 AND app = ?3";
/// Removes every grant made by hand to a user.
const DELETE_USER_MANUAL: &str = "DELETE FROM manual_grants WHERE organization = ?1 AND user = ?2";
/// Removes every grant made by hand of an app.
const DELETE_APP_MANUAL: &str = "DELETE FROM manual_grants WHERE organization = ?1 AND app = ?2";
/// Drops rule-made lists no user holds any more.
const DROP_UNUSED_SET: &str = "DELETE FROM grant_sets WHERE organization = ?1 AND id = ?2
     AND NOT EXISTS (SELECT 1 FROM user_grants WHERE organization = ?1 AND set_id = ?2)";
/// The rule-made list a user points at.
const SELECT_USER_SET: &str = "SELECT set_id FROM user_grants WHERE organization = ?1 AND user = ?2";

/// Applies `request` in one transaction; see the module doc for the guarantees.
pub(super) fn write(
    conn: &mut Connection,
    request: WriteRequest,
    progress: &mut dyn FnMut(usize),
) -> Result<WriteOutcome, BackendError> {
    write_checked(conn, request, progress, true, None)
}

/// [`write`], with the organization revision check optional: single-object
/// writes (`orgctl serve`) are guarded by each object's fingerprint alone,
/// since concurrent writers move the organization's revision all the time.
pub(super) fn write_checked(
    conn: &mut Connection,
    request: WriteRequest,
    progress: &mut dyn FnMut(usize),
    check_revision: bool,
    apply: Option<&str>,
) -> Result<WriteOutcome, BackendError> {
    let WriteRequest {
        organization,
        expected_revision,
        writes,
        mut audit,
    } = request;
    let org = organization.as_str();
    if writes.is_empty() {
        return Ok(WriteOutcome {
            revision: org_revision(conn, org)?,
            results: Vec::new(),
        });
    }

    let tx = begin_write(conn)?;
    let current = org_revision(&tx, org)?;
    if check_revision && current != expected_revision {
        return Err(BackendError::Conflict {
            object: format!("organization {org:?}"),
            reason: format!(
                "it changed since the plan was made (revision {expected_revision}, now {current})"
            ),
        });
    }
    let global: i64 = tx
        .query_row("SELECT value FROM revision WHERE id = 0", [], |r| r.get(0))
        .map_err(storage)?;
    let revision = u64::try_from(global)
        .ok()
        .and_then(|g| g.checked_add(1))
        .ok_or_else(|| BackendError::Corrupt {
            object: "revision counter".to_string(),
            message: format!("value {global} out of range"),
        })?;
    let revision_sql = revision_to_sql(revision)?;

    let mut written = false;
    // Grant lists some user stopped pointing at: dropped at the end if no
    // other user points at them (checking only these keeps a one-user grants
    // write from scanning every user of the organization).
    let mut released: BTreeSet<i64> = BTreeSet::new();
    // Per object, its stored spec text before its first write of this
    // request (`None`: it did not exist), for the audit's `spec_before`.
    let mut before: HashMap<(Kind, String), Option<String>> = HashMap::new();
    {
        let mut select = tx.prepare_cached(SELECT_OBJECT).map_err(storage)?;
        let mut upsert = tx.prepare_cached(UPSERT_OBJECT).map_err(storage)?;
        let mut delete_object = tx.prepare_cached(DELETE_OBJECT).map_err(storage)?;
        let mut delete_secrets = tx.prepare_cached(DELETE_SECRETS).map_err(storage)?;
        let mut insert_secret = tx.prepare_cached(INSERT_SECRET).map_err(storage)?;
        let mut grant_lists = GrantLists::default();
        let mut spec_json = Vec::new();
        // Only puts need it (grant writes, the bulk of large requests, do not).
        let digest_key = if writes.iter().any(|w| matches!(w, Write::Put { .. })) {
            Some(stored_key(&tx)?)
        } else {
            None
        };

        for (done, w) in writes.iter().enumerate() {
            let (kind, name) = w.target();
            let key = params![org, kind.as_str(), name.as_str()];
            // Grant writes change no spec: the audit needs no copy of it.
            let object_write = matches!(w, Write::Put { .. } | Write::Delete { .. });
            let row: Option<(i64, Option<String>)> = select
                .query_row(key, |r| {
                    Ok((r.get(0)?, if object_write { Some(r.get(1)?) } else { None }))
                })
                .optional()
                .map_err(storage)?;
            let (live, spec_before) = match row {
                Some((r, spec)) => (Some(u64::try_from(r).map_err(|_| negative(kind, name, r))?), spec),
                None => (None, None),
            };
            if object_write {
                before
                    .entry((kind, name.as_str().to_string()))
                    .or_insert(spec_before);
            }
            match w {
                Write::Put {
                    kind,
                    name,
                    spec,
                    secrets,
                    managed,
                    expected,
                    ..
                } => {
                    if spec.kind() != *kind {
                        return Err(BackendError::Storage(
                            format!(
                                "refusing to store a {} spec as {}",
                                spec.kind().noun(),
                                label(*kind, name.as_str())
                            )
                            .into(),
                        ));
                    }
                    check_put(*kind, name, expected.as_deref(), live)?;
                    let key = match &digest_key {
                        Some(k) => k,
                        None => return Err(storage_msg("no digest key was read")),
                    };
                    let json = with_own_digests(spec.to_json(), secrets, key);
                    spec_json.clear();
                    serde_json::to_writer(&mut spec_json, &json).map_err(storage)?;
                    let spec_text = std::str::from_utf8(&spec_json).map_err(storage)?;
                    upsert
                        .execute(params![
                            org,
                            kind.as_str(),
                            name.as_str(),
                            spec_text,
                            managed,
                            revision_sql
                        ])
                        .map_err(storage)?;
                    // A new object has no secrets: a delete removes them with the object.
                    if live.is_some() {
                        drop_stale_secrets(&tx, org, *kind, name, &json, secrets, key)?;
                    }
                    for (path, value) in secrets {
                        insert_secret
                            .execute(params![org, kind.as_str(), name.as_str(), path, value.expose()])
                            .map_err(storage)?;
                    }
                    written = true;
                }
                Write::Delete { kind, name, expected } => {
                    if let Some(live) = live {
                        check_unchanged(*kind, name, expected.as_deref(), live)?;
                        delete_object.execute(key).map_err(storage)?;
                        delete_secrets.execute(key).map_err(storage)?;
                        // What was granted to a user or of an app goes with it.
                        let who = params![org, name.as_str()];
                        match kind {
                            Kind::User => {
                                released.extend(user_set(&tx, org, name.as_str())?);
                                tx.execute(DELETE_USER_GRANTS, who).map_err(storage)?;
                                tx.execute(DELETE_USER_MANUAL, who).map_err(storage)?;
                            }
                            Kind::Application => {
                                tx.execute(DELETE_APP_MANUAL, who).map_err(storage)?;
                            }
                            _ => {}
                        }
                        written = true;
                    }
                }
                Write::Grants { user, grants } => {
                    if live.is_none() {
                        return Err(conflict(Kind::User, user, "it no longer exists".to_string()));
                    }
                    let old = user_set(&tx, org, user.as_str())?;
                    if grants.is_empty() {
                        tx.execute(DELETE_USER_GRANTS, params![org, user.as_str()])
                            .map_err(storage)?;
                        released.extend(old);
                    } else {
                        let set = grant_lists.id_of(&tx, org, grants)?;
                        tx.prepare_cached(UPSERT_USER_GRANTS)
                            .and_then(|mut s| s.execute(params![org, user.as_str(), set]))
                            .map_err(storage)?;
                        released.extend(old.filter(|o| *o != set));
                    }
                    written = true;
                }
                Write::ManualGrant { user, app, role } => {
                    if live.is_none() {
                        return Err(conflict(Kind::User, user, "it does not exist".to_string()));
                    }
                    match role {
                        Some(role) => tx.prepare_cached(UPSERT_MANUAL).and_then(|mut s| {
                            s.execute(params![org, user.as_str(), app.as_str(), role.as_str()])
                        }),
                        None => tx
                            .prepare_cached(DELETE_MANUAL)
                            .and_then(|mut s| s.execute(params![org, user.as_str(), app.as_str()])),
                    }
                    .map_err(storage)?;
                    written = true;
                }
            }
            progress(done + 1);
        }
    }

    let results = vec![Ok(()); writes.len()];
    if !written {
        // Only deletes of objects already gone: nothing to commit, the
        // revision stays (dropping the transaction ends it).
        return Ok(WriteOutcome {
            revision: current,
            results,
        });
    }

    for set in released {
        tx.prepare_cached(DROP_UNUSED_SET)
            .and_then(|mut s| s.execute(params![org, set]))
            .map_err(storage)?;
    }
    tx.execute("UPDATE revision SET value = ?1 WHERE id = 0", [revision_sql])
        .map_err(storage)?;
    tx.execute(
        "INSERT INTO organizations (name, revision) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET revision = excluded.revision",
        params![org, revision_sql],
    )
    .map_err(storage)?;
    for change in audit.iter_mut().filter(|c| c.spec_before.is_none()) {
        let Some(spec) = before.remove(&(change.kind, change.name.clone())) else {
            continue;
        };
        let spec = spec
            .map(|text| serde_json::from_str(&text).map(|v| crate::model::redact_secrets(change.kind, v)))
            .transpose()
            .map_err(storage)?;
        change.spec_before = Some(spec);
    }
    insert_audit(&tx, revision_sql, org, &audit, apply)?;
    tx.commit().map_err(storage)?;
    Ok(WriteOutcome { revision, results })
}

/// The grant list `user` points at, if any.
fn user_set(tx: &Connection, org: &str, user: &str) -> Result<Option<i64>, BackendError> {
    tx.prepare_cached(SELECT_USER_SET)
        .and_then(|mut s| s.query_row(params![org, user], |r| r.get(0)).optional())
        .map_err(storage)
}

/// Counts the bytes written through it.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Appends the request's audit row. Its `changes` JSON is streamed into a
/// blob of the exact size (measured by a first, counting pass): the record
/// of a large apply is megabytes, and binding it as text would hold it
/// three times (the string, SQLite's copy of it, the row built from that).
/// Readers take the column as text or blob (`read_audit`).
fn insert_audit(
    tx: &Connection,
    revision: i64,
    org: &str,
    audit: &[AuditChange],
    apply: Option<&str>,
) -> Result<(), BackendError> {
    let mut counter = Counter(0);
    serde_json::to_writer(&mut counter, audit).map_err(storage)?;
    let len = i64::try_from(counter.0).map_err(storage)?;
    tx.execute(
        "INSERT INTO audit (revision, time, organization, changes, apply) VALUES (?1, ?2, ?3, zeroblob(?4), ?5)",
        params![revision, now_rfc3339()?, org, len, apply],
    )
    .map_err(storage)?;
    let mut blob = tx
        .blob_open(MAIN_DB, c"audit", c"changes", tx.last_insert_rowid(), false)
        .map_err(storage)?;
    let mut out = std::io::BufWriter::new(&mut blob);
    serde_json::to_writer(&mut out, audit).map_err(storage)?;
    std::io::Write::flush(&mut out).map_err(storage)?;
    Ok(())
}

fn storage_msg(message: &str) -> BackendError {
    BackendError::Storage(message.to_string().into())
}

/// The directory's digest key, read inside the write transaction.
fn stored_key(tx: &Connection) -> Result<DigestKey, BackendError> {
    super::schema::digest_key(tx)
        .map_err(storage)?
        .ok_or_else(|| BackendError::Corrupt {
            object: "secret-digest key".to_string(),
            message: "it is not 32 bytes long".to_string(),
        })
}

/// `spec` with each secret written now digested with this directory's key:
/// the digest the caller sent was made with the key it was shown, which is
/// another when the file was created after the plan (a plan of a missing
/// file reads an empty stand-in), so the stored digest is always our own.
fn with_own_digests(
    mut spec: serde_json::Value,
    secrets: &BTreeMap<String, SecretValue>,
    key: &DigestKey,
) -> serde_json::Value {
    for (path, value) in secrets {
        if let Some(slot) = spec.pointer_mut(&crate::model::path::pointer(path)) {
            *slot = serde_json::json!({ "digest": key.digest(value) });
        }
    }
    spec
}

/// Before an object's secrets are written again: drops each stored value
/// that is replaced or that the spec no longer stands for. A value the spec
/// still references by its digest, and that the write does not replace,
/// stays: an update that leaves a secret alone keeps it.
fn drop_stale_secrets(
    tx: &Connection,
    org: &str,
    kind: Kind,
    name: &Name,
    json: &serde_json::Value,
    replaced: &BTreeMap<String, SecretValue>,
    key: &DigestKey,
) -> Result<(), BackendError> {
    let mut stmt = tx
        .prepare_cached("SELECT path, value FROM secrets WHERE organization = ?1 AND kind = ?2 AND name = ?3")
        .map_err(storage)?;
    let stored: Vec<(String, String)> = stmt
        .query_map(params![org, kind.as_str(), name.as_str()], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .and_then(|rows| rows.collect())
        .map_err(storage)?;
    for (path, value) in stored {
        let pointer = format!("{}/digest", crate::model::path::pointer(&path));
        let still_referenced = json
            .pointer(&pointer)
            .and_then(serde_json::Value::as_str)
            .is_some_and(|d| d == key.digest(&SecretValue::new(value)));
        if replaced.contains_key(&path) || !still_referenced {
            tx.prepare_cached(DELETE_SECRET)
                .and_then(|mut s| s.execute(params![org, kind.as_str(), name.as_str(), path]))
                .map_err(storage)?;
        }
    }
    Ok(())
}

/// Rule-made lists met in this request: their text → stored id, so users
/// sharing a list cost one lookup, and the next id to allocate.
#[derive(Default)]
struct GrantLists {
    known: std::collections::HashMap<String, i64>,
    next: Option<i64>,
}

impl GrantLists {
    /// The stored id of `grants`, storing the list when it is new.
    fn id_of(&mut self, tx: &Connection, org: &str, grants: &[RuleGrant]) -> Result<i64, BackendError> {
        let text = super::grants_text(grants)?;
        if let Some(id) = self.known.get(&text) {
            return Ok(*id);
        }
        let found: Option<i64> = tx
            .prepare_cached(SELECT_SET)
            .and_then(|mut s| s.query_row(params![org, text], |r| r.get(0)).optional())
            .map_err(storage)?;
        let id = match found {
            Some(id) => id,
            None => {
                let id = match self.next {
                    Some(n) => n,
                    None => tx.query_row(NEXT_SET_ID, [org], |r| r.get(0)).map_err(storage)?,
                };
                self.next = Some(id + 1);
                tx.prepare_cached(INSERT_SET)
                    .and_then(|mut s| s.execute(params![org, id, text]))
                    .map_err(storage)?;
                id
            }
        };
        self.known.insert(text, id);
        Ok(id)
    }
}

/// A `Put` may create only what is absent and replace only what is unchanged.
fn check_put(kind: Kind, name: &Name, expected: Option<&str>, live: Option<u64>) -> Result<(), BackendError> {
    match (expected, live) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(conflict(kind, name, "it already exists".to_string())),
        (Some(_), None) => Err(conflict(
            kind,
            name,
            "it was deleted since the plan was made".to_string(),
        )),
        (Some(_), Some(live)) => check_unchanged(kind, name, expected, live),
    }
}

/// An existing object must still have the fingerprint the plan read, if one is given.
fn check_unchanged(kind: Kind, name: &Name, expected: Option<&str>, live: u64) -> Result<(), BackendError> {
    match expected {
        Some(fp) if fp != fingerprint(live) => Err(conflict(
            kind,
            name,
            format!(
                "it changed since the plan was made (fingerprint {fp}, now {})",
                fingerprint(live)
            ),
        )),
        _ => Ok(()),
    }
}

/// A conflict on one object.
fn conflict(kind: Kind, name: &Name, reason: String) -> BackendError {
    BackendError::Conflict {
        object: label(kind, name.as_str()),
        reason,
    }
}

/// A stored object whose revision is negative.
fn negative(kind: Kind, name: &Name, revision: i64) -> BackendError {
    BackendError::Corrupt {
        object: label(kind, name.as_str()),
        message: format!("negative revision {revision}"),
    }
}

/// The current time in RFC 3339 UTC, to the second.
fn now_rfc3339() -> Result<String, BackendError> {
    let now = time::OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    now.format(&time::format_description::well_known::Rfc3339)
        .map_err(storage)
}
