//! The directory file's schema and its migrations. The schema version lives in
//! `PRAGMA user_version`; `MIGRATIONS[i]` takes a file from version `i` to
//! `i + 1`. Migrations are only ever appended, never edited, and all pending
//! ones run in one `BEGIN IMMEDIATE` transaction, so two processes opening the
//! same fresh file cannot both migrate it and a failed migration leaves the file
//! as it was. This module must not know about specs or the engine (a secret's
//! digest is found by its stored dotted path alone).

use rusqlite::{Connection, TransactionBehavior};

/// Schema version 1: the revision counter, organizations, objects, secrets and
/// the audit log.
const V1: &str = "
CREATE TABLE revision (
    id    INTEGER PRIMARY KEY CHECK (id = 0),
    value INTEGER NOT NULL CHECK (value >= 0)
);
INSERT INTO revision (id, value) VALUES (0, 0);

CREATE TABLE organizations (
    name     TEXT PRIMARY KEY NOT NULL,
    revision INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE objects (
    organization TEXT NOT NULL,
    kind         TEXT NOT NULL,
    name         TEXT NOT NULL,
    spec         TEXT NOT NULL,
    managed      INTEGER NOT NULL CHECK (managed IN (0, 1)),
    revision     INTEGER NOT NULL,
    PRIMARY KEY (organization, kind, name)
) WITHOUT ROWID;

CREATE TABLE secrets (
    organization TEXT NOT NULL,
    kind         TEXT NOT NULL,
    name         TEXT NOT NULL,
    path         TEXT NOT NULL,
    value        TEXT NOT NULL,
    PRIMARY KEY (organization, kind, name, path)
) WITHOUT ROWID;

CREATE TABLE audit (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    revision     INTEGER NOT NULL,
    time         TEXT NOT NULL,
    organization TEXT NOT NULL,
    changes      TEXT NOT NULL
);
CREATE INDEX audit_by_organization ON audit (organization, id);
";

/// Schema version 2: materialized app assignments. Rule-made lists are
/// stored once per distinct list (`grant_sets`, `grants` the JSON of the
/// sorted `[app, role, rule]` triples) and referenced per user
/// (`user_grants`); grants made by hand live apart (`manual_grants`).
const V2: &str = "
CREATE TABLE grant_sets (
    organization TEXT NOT NULL,
    id           INTEGER NOT NULL,
    grants       TEXT NOT NULL,
    PRIMARY KEY (organization, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX grant_sets_by_grants ON grant_sets (organization, grants);

CREATE TABLE user_grants (
    organization TEXT NOT NULL,
    user         TEXT NOT NULL,
    set_id       INTEGER NOT NULL,
    PRIMARY KEY (organization, user)
) WITHOUT ROWID;

CREATE TABLE manual_grants (
    organization TEXT NOT NULL,
    user         TEXT NOT NULL,
    app          TEXT NOT NULL,
    role         TEXT NOT NULL,
    PRIMARY KEY (organization, user, app)
) WITHOUT ROWID;
";

/// Schema version 3: the users of a grant list, so a write that releases a
/// list checks that one list for other users instead of every user's; the
/// apply an audit row belongs to (`orgctl serve` writes one row per request,
/// and `history` reads the rows of one apply as one entry).
const V3: &str = "
CREATE INDEX user_grants_by_set ON user_grants (organization, set_id);
ALTER TABLE audit ADD COLUMN apply TEXT;
";

/// Schema version 4: the directory's secret-digest key (HMAC-SHA256, 32
/// random bytes), made with the store and never given out; the digests of
/// the secrets an older file holds are recomputed with it ([`rekey_digests`]).
const V4: &str = "
CREATE TABLE digest_key (
    id  INTEGER PRIMARY KEY CHECK (id = 0),
    key BLOB NOT NULL CHECK (length(key) = 32)
);
";

/// One migration: SQL, then an optional step that rewrites data.
struct Migration {
    sql: &'static str,
    then: Option<fn(&Connection) -> rusqlite::Result<()>>,
}

/// Every migration in order; the schema version of a file is how many ran.
const MIGRATIONS: &[Migration] = &[
    Migration { sql: V1, then: None },
    Migration { sql: V2, then: None },
    Migration { sql: V3, then: None },
    Migration {
        sql: V4,
        then: Some(rekey_digests),
    },
];

/// Creates the digest key and rewrites each stored secret's digest (the
/// `digest` member at the secret's dotted path in its object's spec) as the
/// keyed digest of the stored value, so a store upgraded from unkeyed
/// digests plans no change for secrets nobody changed. Object revisions
/// stay: the secret is the same, only its stored fingerprint of it changes.
fn rekey_digests(tx: &Connection) -> rusqlite::Result<()> {
    let key = crate::backend::random_digest_key();
    tx.execute(
        "INSERT INTO digest_key (id, key) VALUES (0, ?1)",
        [key.as_bytes()],
    )?;
    let mut secrets = tx.prepare("SELECT organization, kind, name, path, value FROM secrets")?;
    let rows: Vec<[String; 5]> = secrets
        .query_map([], |r| {
            Ok([r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?])
        })?
        .collect::<Result<_, _>>()?;
    for [org, kind, name, path, value] in rows {
        let digest = key.digest(&crate::model::SecretValue::new(value));
        let json_path = format!("$.{path}.digest");
        tx.execute(
            "UPDATE objects SET spec = json_set(spec, ?4, ?5)
             WHERE organization = ?1 AND kind = ?2 AND name = ?3 AND json_type(spec, ?4) = 'text'",
            rusqlite::params![org, kind, name, json_path, digest],
        )?;
    }
    Ok(())
}

/// The directory's secret-digest key (schema version 4 and later).
pub(super) fn digest_key(conn: &Connection) -> rusqlite::Result<Option<crate::model::DigestKey>> {
    let bytes: Vec<u8> = conn.query_row("SELECT key FROM digest_key WHERE id = 0", [], |r| r.get(0))?;
    Ok(crate::model::DigestKey::from_bytes(&bytes))
}

/// The highest schema version this build understands.
pub(super) const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Why a file's schema could not be brought up to date.
#[derive(Debug, thiserror::Error)]
pub(super) enum MigrateError {
    /// The file was written by a newer orgctl.
    #[error("schema version {0} is newer than this orgctl understands")]
    TooNew(u32),
    /// `user_version` holds something no orgctl writes.
    #[error("schema version {0} is not valid")]
    Invalid(i64),
    /// SQLite failed.
    #[error("failed to migrate the schema")]
    Sqlite(#[from] rusqlite::Error),
}

/// Reads the file's schema version.
fn version(conn: &Connection) -> Result<u32, MigrateError> {
    let v: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let v = u32::try_from(v).map_err(|_| MigrateError::Invalid(v))?;
    if v > SCHEMA_VERSION {
        return Err(MigrateError::TooNew(v));
    }
    Ok(v)
}

/// Applies every pending migration in one transaction; a file already up to
/// date is not written (and not locked for writing).
pub(super) fn migrate(conn: &mut Connection) -> Result<(), MigrateError> {
    if version(conn)? == SCHEMA_VERSION {
        return Ok(());
    }
    migrate_to(conn, SCHEMA_VERSION)
}

/// Runs the migrations from the file's version up to `target` in one
/// transaction (a test stops short of the newest to make an older file).
pub(super) fn migrate_to(conn: &mut Connection, target: u32) -> Result<(), MigrateError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Read again under the write lock: another process may have migrated.
    let from = version(&tx)?;
    for m in MIGRATIONS.iter().take(target as usize).skip(from as usize) {
        tx.execute_batch(m.sql)?;
        if let Some(then) = m.then {
            then(&tx)?;
        }
    }
    tx.pragma_update(None, "user_version", target.max(from))?;
    tx.commit()?;
    Ok(())
}
