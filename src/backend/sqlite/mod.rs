//! The embedded directory: a real transactional store in one SQLite file
//! (`sqlite:PATH`, by default `.orgctl/directory.db`) that can hold several
//! organizations. It owns the file's schema, the revision counter, the
//! ownership markers, the secret values and the audit log; it must not know
//! about plans, YAML or rendering. Every write request is one `BEGIN IMMEDIATE`
//! transaction: it commits whole or leaves the file exactly as it was.
//!
//! Schema (version 4, see [`schema`]; the version is `PRAGMA user_version`):
//!
//! - `revision(id = 0, value)`: the global revision counter. Each write request
//!   that changes something takes the next value.
//! - `organizations(name PK, revision)`: the global revision of the last write
//!   to the organization; it is [`LiveOrg::revision`] (0 for an organization
//!   never written).
//! - `objects(organization, kind, name, spec, managed, revision)`, key
//!   `(organization, kind, name)`, clustered (`WITHOUT ROWID`) so a snapshot is
//!   one range scan. `kind` is [`Kind::as_str`], `spec` the JSON of
//!   [`Spec::to_json`] (secret fields as `{digest}` only), `managed` the
//!   ownership marker, `revision` the global revision of the object's last
//!   write; the object's fingerprint is `r<revision>`.
//! - `secrets(organization, kind, name, path, value)`: secret values by dotted
//!   spec path, kept apart from the specs so a snapshot never reads them.
//!   The spec's `{digest}` of each is keyed with `digest_key(id = 0, key)`
//!   (version 4): 32 random bytes made with the file, never read out of it.
//! - `grant_sets(organization, id, grants)`, `user_grants(organization, user,
//!   set_id)` (version 2): the app assignments rules made, materialized;
//!   each distinct list once (JSON `[[app, role, rule], …]` sorted by app),
//!   each user pointing at its list, so 100,000 users sharing a thousand
//!   lists cost 100,000 short rows. Lists no user holds are dropped in the
//!   transaction that orphaned them.
//! - `manual_grants(organization, user, app, role)` (version 2): grants made
//!   by hand; a plan never writes them. Deleting a user drops its grants,
//!   deleting an app the hand-made grants of it.
//! - `audit(id, revision, time, organization, changes)`: one row per applied
//!   request, `time` in RFC 3339 UTC, `changes` the JSON of its
//!   [`AuditChange`]s (already redacted by the caller), each completed with
//!   the object's stored spec before the request (`specBefore`, secrets
//!   redacted, `null` when it did not exist) so history can be undone.

mod schema;
pub mod served;
mod write;

#[cfg(test)]
mod tests;

use std::path::Path;
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior};

use super::{
    AuditChange, AuditEntry, Backend, BackendError, Capabilities, LiveGrants, LiveObject, LiveOrg, RuleGrant,
    WriteOutcome, WriteRequest,
};
use crate::model::{Kind, Name, SecretValue, Spec};

/// How long a connection waits for another process's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The newest audit rows of one organization (`?1`), at most `?2`.
const HISTORY_OF_ORG: &str = "SELECT id, revision, time, organization, changes, apply FROM audit
     WHERE organization = ?1 ORDER BY id DESC";
/// The newest audit rows of every organization, at most `?1`.
const HISTORY_ALL: &str =
    "SELECT id, revision, time, organization, changes, apply FROM audit ORDER BY id DESC";

/// The embedded SQLite directory.
pub struct SqliteBackend {
    /// The connection to the directory file.
    conn: Connection,
    /// The path as given, for `describe`.
    path: String,
    /// The file did not exist: `conn` is an empty in-memory directory until
    /// the first write creates the file, so reading never creates anything.
    pending_create: bool,
}

impl SqliteBackend {
    /// Opens the directory file at `path` and brings its schema up to date.
    /// A missing file reads as an empty directory and is created (with its
    /// parent folders) by the first write.
    pub fn open(path: &str) -> Result<Self, BackendError> {
        if Path::new(path).exists() {
            return Self::open_file(path);
        }
        let mut conn = Connection::open_in_memory().map_err(|e| BackendError::Open {
            path: path.to_string(),
            source: Box::new(e),
        })?;
        schema::migrate(&mut conn).map_err(|e| BackendError::Open {
            path: path.to_string(),
            source: Box::new(e),
        })?;
        Ok(SqliteBackend {
            conn,
            path: path.to_string(),
            pending_create: true,
        })
    }

    /// Runs a read on the directory: on the file if it exists by now (another
    /// handle may have created it since this one was opened), else on the
    /// empty in-memory stand-in.
    fn read<R>(&self, f: impl FnOnce(&Connection) -> Result<R, BackendError>) -> Result<R, BackendError> {
        if self.pending_create && Path::new(&self.path).exists() {
            let fresh = Self::open_file(&self.path)?;
            return f(&fresh.conn);
        }
        f(&self.conn)
    }

    /// Opens (creating if needed) the directory file at `path`.
    fn open_file(path: &str) -> Result<Self, BackendError> {
        let open_error = |source: Box<dyn std::error::Error + Send + Sync>| BackendError::Open {
            path: path.to_string(),
            source,
        };
        if let Some(parent) = Path::new(path).parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| open_error(Box::new(e)))?;
        }
        let mut conn = Connection::open(path).map_err(|e| open_error(Box::new(e)))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| open_error(Box::new(e)))?;
        conn.set_prepared_statement_cache_capacity(32);
        match schema::migrate(&mut conn) {
            Ok(()) => {}
            Err(schema::MigrateError::TooNew(found)) => {
                return Err(BackendError::SchemaTooNew {
                    path: path.to_string(),
                    found,
                    supported: schema::SCHEMA_VERSION,
                })
            }
            Err(e) => return Err(open_error(Box::new(e))),
        }
        // After the version check, so a file this build refuses is left untouched.
        // Returns the mode now in force ("memory" for an in-memory database).
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0))
            .map_err(|e| open_error(Box::new(e)))?;
        Ok(SqliteBackend {
            conn,
            path: path.to_string(),
            pending_create: false,
        })
    }
}

impl Backend for SqliteBackend {
    fn describe(&self) -> String {
        format!("sqlite:{}", self.path)
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            transactional: true,
            revisions: true,
            ..Capabilities::default()
        }
    }

    fn organizations(&self) -> Result<Vec<Name>, BackendError> {
        self.read(organization_names)
    }

    /// Two reads in one read transaction (so they agree): the organization's
    /// revision, then all its objects in one range scan.
    fn snapshot(&self, organization: &Name) -> Result<LiveOrg, BackendError> {
        self.read(|conn| snapshot_of(conn, organization))
    }

    fn write(
        &mut self,
        request: WriteRequest,
        progress: &mut dyn FnMut(usize),
    ) -> Result<WriteOutcome, BackendError> {
        if self.pending_create && (!request.writes.is_empty() || Path::new(&self.path).exists()) {
            *self = Self::open_file(&self.path)?;
        }
        write::write(&mut self.conn, request, progress)
    }

    fn history(&self, organization: Option<&Name>, limit: usize) -> Result<Vec<AuditEntry>, BackendError> {
        self.read(|conn| history_of(conn, organization, limit))
    }

    /// One key for the whole file: its organizations share the directory.
    fn secret_digests(
        &self,
        _organization: &Name,
        values: &[&SecretValue],
    ) -> Result<Vec<String>, BackendError> {
        let key = self.read(|conn| {
            schema::digest_key(conn)
                .map_err(storage)?
                .ok_or_else(|| BackendError::Corrupt {
                    object: "secret-digest key".to_string(),
                    message: "it is not 32 bytes long".to_string(),
                })
        })?;
        Ok(values.iter().map(|v| key.digest(v)).collect())
    }
}

fn organization_names(conn: &Connection) -> Result<Vec<Name>, BackendError> {
    let mut stmt = conn
        .prepare_cached("SELECT name FROM organizations ORDER BY name")
        .map_err(storage)?;
    let mut rows = stmt.query([]).map_err(storage)?;
    let mut names = Vec::new();
    while let Some(row) = rows.next().map_err(storage)? {
        let fail = |message: String| BackendError::Corrupt {
            object: "organization list".to_string(),
            message,
        };
        let name = column_text(row, 0).map_err(fail)?;
        names.push(name.parse::<Name>().map_err(fail)?);
    }
    names.sort();
    Ok(names)
}

/// Reads the organization's revision and all its objects in one read transaction.
fn snapshot_of(conn: &Connection, organization: &Name) -> Result<LiveOrg, BackendError> {
    let org = organization.as_str();
    let tx = conn.unchecked_transaction().map_err(storage)?;
    let revision = org_revision(&tx, org)?;
    // Collected first: building the map from a (nearly sorted) batch is
    // cheaper than inserting row by row.
    let mut objects = Vec::new();
    {
        let mut stmt = tx
            .prepare_cached("SELECT kind, name, spec, managed, revision FROM objects WHERE organization = ?1")
            .map_err(storage)?;
        let mut rows = stmt.query([org]).map_err(storage)?;
        while let Some(row) = rows.next().map_err(storage)? {
            objects.push(read_object(org, row)?);
        }
    }
    let grants = grants_of(&tx, org)?;
    // Read-only: ending it either way changes nothing.
    tx.commit().map_err(storage)?;
    Ok(LiveOrg {
        organization: Some(organization.clone()),
        revision,
        objects: objects.into_iter().collect(),
        grants,
    })
}

/// The text a rule-made list is stored as: JSON `[[app, role, rule], …]`.
pub(super) fn grants_text(grants: &[RuleGrant]) -> Result<String, BackendError> {
    let triples: Vec<[&str; 3]> = grants
        .iter()
        .map(|g| [g.app.as_str(), g.role.as_str(), g.rule.as_str()])
        .collect();
    serde_json::to_string(&triples).map_err(storage)
}

/// Names already checked, by text.
#[derive(Default)]
struct Names(std::collections::HashMap<String, Name>);

impl Names {
    /// `text` as a checked name.
    fn get(&mut self, text: &str) -> Result<Name, String> {
        if let Some(n) = self.0.get(text) {
            return Ok(n.clone());
        }
        let n: Name = text.parse()?;
        self.0.insert(text.to_string(), n.clone());
        Ok(n)
    }
}

/// Reads an organization's materialized grants: three range scans.
fn grants_of(conn: &Connection, org: &str) -> Result<LiveGrants, BackendError> {
    let corrupt = |what: &str, message: String| BackendError::Corrupt {
        object: format!("{what} of organization {org:?}"),
        message,
    };
    let mut grants = LiveGrants::default();
    let mut index = std::collections::HashMap::new();
    // A few hundred apps, roles and rules recur in every list: check each once.
    let mut names = Names::default();
    {
        let mut stmt = conn
            .prepare_cached("SELECT id, grants FROM grant_sets WHERE organization = ?1 ORDER BY id")
            .map_err(storage)?;
        let mut rows = stmt.query([org]).map_err(storage)?;
        while let Some(row) = rows.next().map_err(storage)? {
            let fail = |m: String| corrupt("an app assignment list", m);
            let id: i64 = row.get(0).map_err(|e| fail(e.to_string()))?;
            // Names never need JSON escapes, so the text can be borrowed.
            let triples: Vec<[&str; 3]> =
                serde_json::from_str(column_text(row, 1).map_err(fail)?).map_err(|e| fail(e.to_string()))?;
            let list = triples
                .iter()
                .map(|[app, role, rule]| {
                    Ok(RuleGrant {
                        app: names.get(app)?,
                        role: names.get(role)?,
                        rule: names.get(rule)?,
                    })
                })
                .collect::<Result<Vec<_>, String>>()
                .map_err(fail)?;
            index.insert(id, grants.sets.len() as u32);
            grants.sets.push(list);
        }
    }
    {
        let mut stmt = conn
            .prepare_cached("SELECT user, set_id FROM user_grants WHERE organization = ?1")
            .map_err(storage)?;
        let mut rows = stmt.query([org]).map_err(storage)?;
        let mut users = Vec::new();
        while let Some(row) = rows.next().map_err(storage)? {
            let fail = |m: String| corrupt("the app assignments", m);
            let user: Name = column_text(row, 0).map_err(fail)?.parse().map_err(fail)?;
            let id: i64 = row.get(1).map_err(|e| fail(e.to_string()))?;
            let set = *index
                .get(&id)
                .ok_or_else(|| fail(format!("user {:?} holds unknown list {id}", user.as_str())))?;
            users.push((user, set));
        }
        grants.users = users.into_iter().collect();
    }
    {
        let mut stmt = conn
            .prepare_cached("SELECT user, app, role FROM manual_grants WHERE organization = ?1")
            .map_err(storage)?;
        let mut rows = stmt.query([org]).map_err(storage)?;
        while let Some(row) = rows.next().map_err(storage)? {
            let fail = |m: String| corrupt("a hand-made app assignment", m);
            let text = |i| -> Result<Name, BackendError> {
                column_text(row, i).map_err(fail)?.parse().map_err(fail)
            };
            let (user, app, role) = (text(0)?, text(1)?, text(2)?);
            grants.manual.entry(user).or_default().insert(app, role);
        }
    }
    Ok(grants)
}

/// The newest audit entries first, optionally of one organization.
fn history_of(
    conn: &Connection,
    organization: Option<&Name>,
    limit: usize,
) -> Result<Vec<AuditEntry>, BackendError> {
    let mut history = History::new(limit);
    match organization {
        Some(org) => {
            let mut stmt = conn.prepare_cached(HISTORY_OF_ORG).map_err(storage)?;
            let mut rows = stmt.query([org.as_str()]).map_err(storage)?;
            while let Some(row) = rows.next().map_err(storage)? {
                if !history.add(row)? {
                    break;
                }
            }
        }
        None => {
            let mut stmt = conn.prepare_cached(HISTORY_ALL).map_err(storage)?;
            let mut rows = stmt.query([]).map_err(storage)?;
            while let Some(row) = rows.next().map_err(storage)? {
                if !history.add(row)? {
                    break;
                }
            }
        }
    }
    Ok(history.finish())
}

/// Audit rows, newest first, gathered into entries: the rows one apply wrote
/// over HTTP (one per request, all carrying its apply id) read as one entry,
/// as the one row of an apply on SQLite does.
struct History {
    limit: usize,
    entries: Vec<AuditEntry>,
    /// The entry being gathered, its apply id, and its rows' changes newest first.
    current: Option<(AuditEntry, Option<String>, Vec<Vec<AuditChange>>)>,
}

impl History {
    fn new(limit: usize) -> Self {
        History {
            limit,
            entries: Vec::new(),
            current: None,
        }
    }

    /// Adds the next (older) row; false once `limit` entries are complete.
    fn add(&mut self, row: &Row<'_>) -> Result<bool, BackendError> {
        let mut entry = read_audit(row)?;
        let apply: Option<String> = row.get(5).map_err(storage)?;
        if let Some((current, current_apply, parts)) = &mut self.current {
            if apply.is_some() && apply == *current_apply && entry.organization == current.organization {
                parts.push(std::mem::take(&mut entry.changes));
                return Ok(true);
            }
        }
        self.close();
        if self.entries.len() == self.limit {
            return Ok(false);
        }
        let changes = std::mem::take(&mut entry.changes);
        self.current = Some((entry, apply, vec![changes]));
        Ok(true)
    }

    /// Completes the entry being gathered: its changes in the order written.
    fn close(&mut self) {
        if let Some((mut entry, _, parts)) = self.current.take() {
            entry.changes = parts.into_iter().rev().flatten().collect();
            self.entries.push(entry);
        }
    }

    fn finish(mut self) -> Vec<AuditEntry> {
        if self.entries.len() < self.limit {
            self.close();
        }
        self.entries
    }
}

/// Wraps any storage failure (SQLite, JSON encoding, integer range).
fn storage<E: std::error::Error + Send + Sync + 'static>(e: E) -> BackendError {
    BackendError::Storage(Box::new(e))
}

/// How errors and plans name an object: `user "alice"`.
fn label(kind: Kind, name: &str) -> String {
    kind.label(name).to_string()
}

/// The fingerprint of an object last written at `revision`.
fn fingerprint(revision: u64) -> String {
    format!("r{revision}")
}

/// A revision as SQLite stores it (a signed 64-bit integer).
fn revision_to_sql(revision: u64) -> Result<i64, BackendError> {
    i64::try_from(revision).map_err(storage)
}

/// A revision read back; a negative one means the file was damaged.
fn revision_from_sql(value: i64, object: impl FnOnce() -> String) -> Result<u64, BackendError> {
    u64::try_from(value).map_err(|_| BackendError::Corrupt {
        object: object(),
        message: format!("negative revision {value}"),
    })
}

/// The organization's revision, 0 when it was never written.
fn org_revision(conn: &Connection, org: &str) -> Result<u64, BackendError> {
    let value: Option<i64> = conn
        .prepare_cached("SELECT revision FROM organizations WHERE name = ?1")
        .and_then(|mut stmt| stmt.query_row([org], |r| r.get(0)).optional())
        .map_err(storage)?;
    match value {
        Some(v) => revision_from_sql(v, || format!("organization {org:?}")),
        None => Ok(0),
    }
}

/// A text column, or why it is not one.
fn column_text<'r>(row: &'r Row<'_>, i: usize) -> Result<&'r str, String> {
    row.get_ref(i)
        .map_err(|e| e.to_string())?
        .as_str()
        .map_err(|e| e.to_string())
}

/// Reads one `objects` row (`kind, name, spec, managed, revision`).
fn read_object(org: &str, row: &Row<'_>) -> Result<((Kind, Name), LiveObject), BackendError> {
    let kind_text = column_text(row, 0);
    let name_text = column_text(row, 1);
    // Names the row as well as it can be read; built only on failure.
    let fail = |message: String| {
        let object = match (&kind_text, &name_text) {
            (Ok(k), Ok(n)) => match k.parse::<Kind>() {
                Ok(kind) => label(kind, n),
                Err(_) => format!("object {k}/{n:?}"),
            },
            _ => format!("object of organization {org:?}"),
        };
        BackendError::Corrupt { object, message }
    };
    let kind = kind_text.clone().map_err(fail)?.parse::<Kind>().map_err(fail)?;
    let name = name_text.clone().map_err(fail)?.parse::<Name>().map_err(fail)?;
    let spec_text = column_text(row, 2).map_err(fail)?;
    let spec = Spec::from_json_str(kind, spec_text).map_err(|e| fail(e.to_string()))?;
    let managed: i64 = row.get(3).map_err(|e| fail(e.to_string()))?;
    let revision: i64 = row.get(4).map_err(|e| fail(e.to_string()))?;
    let revision = u64::try_from(revision).map_err(|_| fail(format!("negative revision {revision}")))?;
    let object = LiveObject {
        spec,
        managed: managed != 0,
        fingerprint: fingerprint(revision),
    };
    Ok(((kind, name), object))
}

/// Reads one `audit` row (`id, revision, time, organization, changes`).
fn read_audit(row: &Row<'_>) -> Result<AuditEntry, BackendError> {
    let id: i64 = row.get(0).map_err(storage)?;
    let fail = |message: String| BackendError::Corrupt {
        object: format!("audit entry {id}"),
        message,
    };
    let revision: i64 = row.get(1).map_err(|e| fail(e.to_string()))?;
    let revision = u64::try_from(revision).map_err(|_| fail(format!("negative revision {revision}")))?;
    let time = column_text(row, 2).map_err(fail)?.to_string();
    let organization = column_text(row, 3).map_err(fail)?.to_string();
    // Text in older rows, a blob when streamed in (`write::insert_audit`).
    let changes: Vec<AuditChange> = match row.get_ref(4).map_err(|e| fail(e.to_string()))? {
        ValueRef::Text(json) | ValueRef::Blob(json) => serde_json::from_slice(json),
        other => return Err(fail(format!("changes is {:?}, not JSON", other.data_type()))),
    }
    .map_err(|e| fail(e.to_string()))?;
    Ok(AuditEntry {
        revision,
        time,
        organization,
        changes,
    })
}

/// Starts the one write transaction of a request (takes the write lock now,
/// so the revision check and the writes see the same state).
fn begin_write(conn: &mut Connection) -> Result<rusqlite::Transaction<'_>, BackendError> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(storage)
}
