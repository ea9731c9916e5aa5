//! The reads and writes `orgctl serve` needs beyond the [`Backend`](crate::backend::Backend) trait:
//! pages of objects in key order (a snapshot in pages, per-kind listings with
//! filters), single objects, organization listings, the grants of an
//! organization, and single-object writes guarded by the object's fingerprint
//! alone. Each read is one read transaction, so a page and the organization
//! revision it reports agree. Stored specs are handed out as the JSON text the
//! file holds, so a server can send them without parsing them. This module
//! must not know HTTP.

use rusqlite::types::Value as SqlValue;
use rusqlite::{params_from_iter, Connection};

use super::{column_text, grants_of, org_revision, storage, write, SqliteBackend};
use crate::backend::{AuditChange, BackendError, LiveGrants, Write, WriteOutcome, WriteRequest};
use crate::model::{Kind, Name};

/// One object as stored: spec as JSON text (secrets as `{digest}` only).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredObject {
    /// Kind of the object.
    pub kind: Kind,
    /// Name of the object.
    pub name: Name,
    /// The stored spec, JSON text.
    pub spec_json: String,
    /// The ownership marker.
    pub managed: bool,
    /// Global revision of the object's last write (fingerprint `r<revision>`).
    pub revision: u64,
}

/// What selects the objects of a page.
#[derive(Debug, Clone, Default)]
pub struct PageQuery {
    /// Only this kind (all kinds when `None`).
    pub kind: Option<Kind>,
    /// Start after this key (exclusive), in `(kind, name)` order.
    pub after: Option<(Kind, Name)>,
    /// Only objects with this ownership marker.
    pub managed: Option<bool>,
    /// Only names starting with this text.
    pub prefix: Option<String>,
    /// At most this many objects.
    pub limit: usize,
}

/// A page of objects and the organization revision it was read at.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectPage {
    /// The organization's revision (0 when never written).
    pub revision: u64,
    /// The objects, in `(kind, name)` order (kind as text).
    pub objects: Vec<StoredObject>,
    /// True when more objects follow the last one.
    pub more: bool,
}

impl SqliteBackend {
    /// Opens the directory for serving: the file is created now (a server
    /// always has one) and commits are durable against a killed process
    /// (WAL with `synchronous = NORMAL`: a commit survives the process dying;
    /// only a power cut may lose the last commits, never consistency).
    pub fn open_for_serving(path: &str) -> Result<Self, BackendError> {
        let backend = Self::open_file(path)?;
        backend
            .conn
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(storage)?;
        Ok(backend)
    }

    /// Checks the file answers and its schema is current (readiness).
    pub fn ping(&self) -> Result<(), BackendError> {
        self.read(|conn| {
            conn.query_row("SELECT COUNT(*) FROM revision", [], |r| r.get::<_, i64>(0))
                .map_err(storage)?;
            Ok(())
        })
    }

    /// The organization's revision, or `None` when it was never written.
    pub fn org_revision_if_known(&self, organization: &Name) -> Result<Option<u64>, BackendError> {
        self.read(|conn| {
            let known = exists(
                conn,
                "SELECT 1 FROM organizations WHERE name = ?1",
                organization.as_str(),
            )?;
            if known {
                Ok(Some(org_revision(conn, organization.as_str())?))
            } else {
                Ok(None)
            }
        })
    }

    /// Organizations after `after` in name order, at most `limit`, with
    /// their revisions; the flag says whether more follow.
    pub fn organization_page(
        &self,
        after: Option<&Name>,
        limit: usize,
    ) -> Result<(Vec<(Name, u64)>, bool), BackendError> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT name, revision FROM organizations WHERE name > ?1 ORDER BY name LIMIT ?2",
                )
                .map_err(storage)?;
            let after = after.map_or("", Name::as_str);
            let fetch = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
            let mut rows = stmt.query(rusqlite::params![after, fetch]).map_err(storage)?;
            let mut out = Vec::new();
            while let Some(row) = rows.next().map_err(storage)? {
                let fail = |message: String| BackendError::Corrupt {
                    object: "organization list".to_string(),
                    message,
                };
                let name: Name = column_text(row, 0).map_err(fail)?.parse().map_err(fail)?;
                let revision: i64 = row.get(1).map_err(|e| fail(e.to_string()))?;
                let revision =
                    u64::try_from(revision).map_err(|_| fail(format!("negative revision {revision}")))?;
                out.push((name, revision));
            }
            let more = out.len() > limit;
            out.truncate(limit);
            Ok((out, more))
        })
    }

    /// One page of an organization's objects (see [`PageQuery`]), read in
    /// one transaction with the organization's revision.
    pub fn object_page(&self, organization: &Name, query: &PageQuery) -> Result<ObjectPage, BackendError> {
        self.read(|conn| {
            let tx = conn.unchecked_transaction().map_err(storage)?;
            let revision = org_revision(&tx, organization.as_str())?;
            let mut sql = String::from(
                "SELECT kind, name, spec, managed, revision FROM objects WHERE organization = ?",
            );
            let mut args: Vec<SqlValue> = vec![SqlValue::Text(organization.to_string())];
            if let Some(kind) = query.kind {
                sql.push_str(" AND kind = ?");
                args.push(SqlValue::Text(kind.as_str().to_string()));
            }
            if let Some((kind, name)) = &query.after {
                sql.push_str(" AND (kind, name) > (?, ?)");
                args.push(SqlValue::Text(kind.as_str().to_string()));
                args.push(SqlValue::Text(name.to_string()));
            }
            if let Some(managed) = query.managed {
                sql.push_str(" AND managed = ?");
                args.push(SqlValue::Integer(i64::from(managed)));
            }
            if let Some(prefix) = &query.prefix {
                sql.push_str(" AND substr(name, 1, length(?)) = ?");
                args.push(SqlValue::Text(prefix.clone()));
                args.push(SqlValue::Text(prefix.clone()));
            }
            sql.push_str(" ORDER BY kind, name LIMIT ?");
            args.push(SqlValue::Integer(
                i64::try_from(query.limit.saturating_add(1)).unwrap_or(i64::MAX),
            ));
            let mut objects = Vec::new();
            {
                let mut stmt = tx.prepare_cached(&sql).map_err(storage)?;
                let mut rows = stmt.query(params_from_iter(args)).map_err(storage)?;
                while let Some(row) = rows.next().map_err(storage)? {
                    objects.push(stored(organization, row)?);
                }
            }
            tx.commit().map_err(storage)?;
            let more = objects.len() > query.limit;
            objects.truncate(query.limit);
            Ok(ObjectPage {
                revision,
                objects,
                more,
            })
        })
    }

    /// One object, with the organization's revision read alongside.
    pub fn object(
        &self,
        organization: &Name,
        kind: Kind,
        name: &Name,
    ) -> Result<(u64, Option<StoredObject>), BackendError> {
        self.read(|conn| {
            let tx = conn.unchecked_transaction().map_err(storage)?;
            let revision = org_revision(&tx, organization.as_str())?;
            let found = {
                let mut stmt = tx
                    .prepare_cached(
                        "SELECT kind, name, spec, managed, revision FROM objects
                         WHERE organization = ?1 AND kind = ?2 AND name = ?3",
                    )
                    .map_err(storage)?;
                let mut rows = stmt
                    .query(rusqlite::params![
                        organization.as_str(),
                        kind.as_str(),
                        name.as_str()
                    ])
                    .map_err(storage)?;
                match rows.next().map_err(storage)? {
                    Some(row) => Some(stored(organization, row)?),
                    None => None,
                }
            };
            tx.commit().map_err(storage)?;
            Ok((revision, found))
        })
    }

    /// The organization's materialized grants and its revision, read together.
    pub fn grants(&self, organization: &Name) -> Result<(u64, LiveGrants), BackendError> {
        self.read(|conn| {
            let tx = conn.unchecked_transaction().map_err(storage)?;
            let revision = org_revision(&tx, organization.as_str())?;
            let grants = grants_of(&tx, organization.as_str())?;
            tx.commit().map_err(storage)?;
            Ok((revision, grants))
        })
    }

    /// Applies one write in its own transaction, guarded by the object's
    /// fingerprint (the write's `expected`) and, when given, by the
    /// organization's revision. The audit log records `audit` for it.
    pub fn write_one(
        &mut self,
        organization: &Name,
        write: Write,
        audit: Vec<AuditChange>,
        expected_revision: Option<u64>,
        apply: Option<&str>,
    ) -> Result<WriteOutcome, BackendError> {
        self.write_many(organization, vec![write], audit, expected_revision, apply)
    }

    /// Applies several writes to one organization in one transaction (the
    /// users' grant lists of `PUT /v1/orgs/{org}/grants`); all or none. Its
    /// audit row carries `apply`, the id of the client's apply, so `history`
    /// shows the rows of one apply as one entry.
    pub fn write_many(
        &mut self,
        organization: &Name,
        writes: Vec<Write>,
        audit: Vec<AuditChange>,
        expected_revision: Option<u64>,
        apply: Option<&str>,
    ) -> Result<WriteOutcome, BackendError> {
        let request = WriteRequest {
            organization: organization.clone(),
            expected_revision: expected_revision.unwrap_or(0),
            writes,
            audit,
        };
        if self.pending_create {
            *self = Self::open_file(&self.path)?;
        }
        write::write_checked(
            &mut self.conn,
            request,
            &mut |_| {},
            expected_revision.is_some(),
            apply,
        )
    }
}

/// True when `sql` (one `?1` parameter) finds a row.
fn exists(conn: &Connection, sql: &str, arg: &str) -> Result<bool, BackendError> {
    let mut stmt = conn.prepare_cached(sql).map_err(storage)?;
    let mut rows = stmt.query([arg]).map_err(storage)?;
    Ok(rows.next().map_err(storage)?.is_some())
}

/// Reads one `objects` row (`kind, name, spec, managed, revision`) as stored.
fn stored(organization: &Name, row: &rusqlite::Row<'_>) -> Result<StoredObject, BackendError> {
    let fail = |message: String| BackendError::Corrupt {
        object: format!("an object of organization {:?}", organization.as_str()),
        message,
    };
    let kind: Kind = column_text(row, 0).map_err(fail)?.parse().map_err(fail)?;
    let name: Name = column_text(row, 1).map_err(fail)?.parse().map_err(fail)?;
    let spec_json = column_text(row, 2).map_err(fail)?.to_string();
    let managed: i64 = row.get(3).map_err(|e| fail(e.to_string()))?;
    let revision: i64 = row.get(4).map_err(|e| fail(e.to_string()))?;
    let revision = u64::try_from(revision).map_err(|_| fail(format!("negative revision {revision}")))?;
    Ok(StoredObject {
        kind,
        name,
        spec_json,
        managed: managed != 0,
        revision,
    })
}
