//! Behaviour of the embedded directory against real files in temporary
//! directories: round trips, revisions, conflicts, rollback, isolation,
//! history and schema versioning.

use std::collections::BTreeMap;

use serde_json::json;
use tempfile::TempDir;

use super::SqliteBackend;
use crate::backend::{AuditChange, Backend, BackendError, JsonText, Write, WriteOutcome, WriteRequest};
use crate::model::{Kind, Name, SecretValue, Spec};
use rusqlite::Connection;

fn name(s: &str) -> Name {
    s.parse().unwrap()
}

fn temp_db() -> (TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("directory.db").to_string_lossy().into_owned();
    (dir, path)
}

fn user(org: &str, local: &str) -> Spec {
    Spec::from_json(
        Kind::User,
        json!({"organization": org, "email": format!("{local}@{org}.example"), "department": "Sales"}),
    )
    .unwrap()
}

fn group(org: &str) -> Spec {
    Spec::from_json(Kind::Group, json!({"organization": org})).unwrap()
}

fn organization() -> Spec {
    Spec::from_json(Kind::Organization, json!({"displayName": "Acme Inc."})).unwrap()
}

fn oidc_app(org: &str, digest: &str) -> Spec {
    Spec::from_json(
        Kind::Application,
        json!({"organization": org, "type": "oidc", "oidc": {"clientSecret": {"digest": digest}}}),
    )
    .unwrap()
}

fn put(kind: Kind, n: &str, spec: Spec, managed: bool, expected: Option<&str>) -> Write {
    Write::Put {
        kind,
        name: name(n),
        spec,
        secrets: BTreeMap::new(),
        managed,
        expected: expected.map(str::to_string),
        changed: None,
    }
}

fn put_user(org: &str, n: &str, expected: Option<&str>) -> Write {
    put(Kind::User, n, user(org, n), true, expected)
}

/// `value`'s digest under the directory's key.
fn digest_of(b: &SqliteBackend, value: &str) -> String {
    let d = b
        .secret_digests(&name("acme"), &[&SecretValue::new(value)])
        .expect("digest");
    d.into_iter().next().expect("one digest")
}

fn put_app_with_secret(org: &str, n: &str, secret: &str, expected: Option<&str>) -> Write {
    let value = SecretValue::new(secret);
    Write::Put {
        kind: Kind::Application,
        name: name(n),
        // The backend digests the value with its own key whatever is sent.
        spec: oidc_app(org, "hmac-sha256:sent"),
        secrets: BTreeMap::from([("oidc.clientSecret".to_string(), value)]),
        managed: true,
        expected: expected.map(str::to_string),
        changed: None,
    }
}

fn delete(kind: Kind, n: &str, expected: Option<&str>) -> Write {
    Write::Delete {
        kind,
        name: name(n),
        expected: expected.map(str::to_string),
    }
}

fn audit_for(writes: &[Write]) -> Vec<AuditChange> {
    writes
        .iter()
        .map(|w| match w {
            Write::Put { kind, name, spec, .. } => AuditChange {
                kind: *kind,
                name: name.as_str().to_string(),
                action: "create".into(),
                before: None,
                after: Some(JsonText::new(&spec.to_json())),
                spec_before: None,
            },
            Write::Delete { kind, name, .. } => AuditChange {
                kind: *kind,
                name: name.as_str().to_string(),
                action: "delete".into(),
                before: None,
                after: None,
                spec_before: None,
            },
            Write::Grants { user, .. } | Write::ManualGrant { user, .. } => AuditChange {
                kind: Kind::User,
                name: user.as_str().to_string(),
                action: "assign".into(),
                spec_before: None,
                before: None,
                after: None,
            },
        })
        .collect()
}

fn request(org: &str, expected_revision: u64, writes: Vec<Write>) -> WriteRequest {
    WriteRequest {
        organization: name(org),
        expected_revision,
        audit: audit_for(&writes),
        writes,
    }
}

fn apply(b: &mut SqliteBackend, req: WriteRequest) -> Result<WriteOutcome, BackendError> {
    b.write(req, &mut |_| {})
}

/// Applies writes against the organization's current revision.
fn apply_now(b: &mut SqliteBackend, org: &str, writes: Vec<Write>) -> WriteOutcome {
    let rev = b.snapshot(&name(org)).unwrap().revision;
    apply(b, request(org, rev, writes)).unwrap()
}

/// Every row of every table, as text, in a stable order.
fn dump(b: &SqliteBackend) -> Vec<String> {
    let mut out = Vec::new();
    for table in [
        "revision",
        "organizations",
        "objects",
        "secrets",
        "audit",
        "grant_sets",
        "user_grants",
        "manual_grants",
    ] {
        let mut stmt = b.conn.prepare(&format!("SELECT * FROM {table}")).unwrap();
        let n = stmt.column_count();
        let rows = stmt
            .query_map([], |r| {
                let mut cells = vec![table.to_string()];
                for i in 0..n {
                    cells.push(format!("{:?}", r.get::<_, rusqlite::types::Value>(i)?));
                }
                Ok(cells.join("|"))
            })
            .unwrap();
        out.extend(rows.map(Result::unwrap));
    }
    out.sort();
    out
}

fn secrets_of(b: &SqliteBackend, org: &str, n: &str) -> Vec<(String, String)> {
    let mut stmt = b
        .conn
        .prepare("SELECT path, value FROM secrets WHERE organization = ?1 AND name = ?2 ORDER BY path")
        .unwrap();
    stmt.query_map([org, n], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn put_then_snapshot_round_trips_specs_and_ownership() {
    let (_dir, path) = temp_db();
    let mut b = SqliteBackend::open(&path).unwrap();
    let out = apply_now(
        &mut b,
        "acme",
        vec![
            put(Kind::Organization, "acme", organization(), true, None),
            put_user("acme", "alice", None),
            put(Kind::Group, "finance", group("acme"), false, None),
        ],
    );
    assert_eq!(out.results, vec![Ok(()), Ok(()), Ok(())]);

    let live = b.snapshot(&name("acme")).unwrap();
    assert_eq!(live.organization, Some(name("acme")));
    assert_eq!(live.revision, out.revision);
    assert_eq!(live.objects.len(), 3);
    let alice = live.get(Kind::User, &name("alice")).unwrap();
    assert_eq!(alice.spec, user("acme", "alice"));
    assert!(alice.managed);
    assert_eq!(alice.fingerprint, format!("r{}", out.revision));
    let finance = live.get(Kind::Group, &name("finance")).unwrap();
    assert_eq!(finance.spec, group("acme"));
    assert!(!finance.managed);
    assert_eq!(
        live.get(Kind::Organization, &name("acme")).unwrap().spec,
        organization()
    );
}

#[test]
fn unknown_organization_snapshots_empty_at_revision_zero() {
    let (_dir, path) = temp_db();
    let b = SqliteBackend::open(&path).unwrap();
    let live = b.snapshot(&name("nobody")).unwrap();
    assert_eq!(live.organization, Some(name("nobody")));
    assert_eq!(live.revision, 0);
    assert!(live.objects.is_empty());
    assert!(b.organizations().unwrap().is_empty());
}

#[test]
fn revision_moves_only_when_something_is_written() {
    let (_dir, path) = temp_db();
    let mut b = SqliteBackend::open(&path).unwrap();

    let empty = apply(&mut b, request("acme", 0, vec![])).unwrap();
    assert_eq!(empty.revision, 0);
    assert!(empty.results.is_empty());
    assert!(b.organizations().unwrap().is_empty());
    assert!(b.history(None, 10).unwrap().is_empty());

    let first = apply_now(&mut b, "acme", vec![put_user("acme", "alice", None)]);
    assert!(first.revision > 0);

    let before = dump(&b);
    let again = apply(&mut b, request("acme", first.revision, vec![])).unwrap();
    assert_eq!(again.revision, first.revision);
    assert_eq!(dump(&b), before);

    let gone = apply(
        &mut b,
        request("acme", first.revision, vec![delete(Kind::User, "bob", None)]),
    )
    .unwrap();
    assert_eq!(gone.revision, first.revision);
    assert_eq!(gone.results, vec![Ok(())]);
    assert_eq!(dump(&b), before);

    let fp = format!("r{}", first.revision);
    let second = apply_now(&mut b, "acme", vec![put_user("acme", "alice", Some(&fp))]);
    assert!(second.revision > first.revision);
    assert_eq!(b.snapshot(&name("acme")).unwrap().revision, second.revision);
}

#[test]
fn conflicting_write_midway_rolls_back_everything() {
    let (_dir, path) = temp_db();
    let mut b = SqliteBackend::open(&path).unwrap();
    let seed: Vec<Write> = (0..60)
        .map(|i| put_app_with_secret("acme", &format!("app-{i}"), &format!("secret-{i}"), None))
        .collect();
    let seeded = apply_now(&mut b, "acme", seed);
    let fp = format!("r{}", seeded.revision);

    let before_dump = dump(&b);
    let before_snapshot = b.snapshot(&name("acme")).unwrap();
    let before_history = b.history(None, 100).unwrap();

    let mut writes: Vec<Write> = (0..49)
        .map(|i| match i % 3 {
            0 => put_app_with_secret("acme", &format!("app-{i}"), "rotated", Some(&fp)),
            1 => delete(Kind::Application, &format!("app-{i}"), Some(&fp)),
            _ => put_user("acme", &format!("user-{i}"), None),
        })
        .collect();
    writes.push(put_app_with_secret("acme", "app-55", "rotated", Some("r999")));
    writes.extend((60..70).map(|i| put_user("acme", &format!("user-{i}"), None)));
    assert_eq!(writes.len(), 60);

    let mut calls = 0;
    let err = b
        .write(request("acme", seeded.revision, writes), &mut |_| calls += 1)
        .unwrap_err();
    match err {
        BackendError::Conflict { object, reason } => {
            assert_eq!(object, r#"application "app-55""#);
            assert!(reason.contains("changed since the plan"), "{reason}");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(calls, 49);

    assert_eq!(dump(&b), before_dump);
    assert_eq!(b.snapshot(&name("acme")).unwrap(), before_snapshot);
    assert_eq!(b.history(None, 100).unwrap(), before_history);
    assert_eq!(
        secrets_of(&b, "acme", "app-0"),
        vec![("oidc.clientSecret".to_string(), "secret-0".to_string())]
    );

    // The file still takes writes, against the unchanged revision.
    apply(
        &mut b,
        request("acme", seeded.revision, vec![put_user("acme", "zoe", None)]),
    )
    .unwrap();
}

#[test]
fn stale_org_revision_is_a_conflict() {
    let (_dir, path) = temp_db();
    let mut b = SqliteBackend::open(&path).unwrap();
    let first = apply_now(&mut b, "acme", vec![put_user("acme", "alice", None)]);
    let before = dump(&b);

    let err = apply(&mut b, request("acme", 0, vec![put_user("acme", "bob", None)])).unwrap_err();
    match err {
        BackendError::Conflict { object, reason } => {
            assert_eq!(object, r#"organization "acme""#);
            assert_eq!(
                reason,
                format!(
                    "it changed since the plan was made (revision 0, now {})",
                    first.revision
                )
            );
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(dump(&b), before);
}

#[test]
fn object_fingerprints_guard_creates_updates_and_deletes() {
    let (_dir, path) = temp_db();
    let mut b = SqliteBackend::open(&path).unwrap();
    let first = apply_now(&mut b, "acme", vec![put_user("acme", "alice", None)]);
    let rev = first.revision;
    let before = dump(&b);

    let cases = [
        (put_user("acme", "alice", None), "it already exists"),
        (
            put_user("acme", "bob", Some("r1")),
            "it was deleted since the plan was made",
        ),
        (
            put_user("acme", "alice", Some("r0")),
            "it changed since the plan was made",
        ),
        (
            delete(Kind::User, "alice", Some("r0")),
            "it changed since the plan was made",
        ),
    ];
    for (write, expected_reason) in cases {
        let target = format!("user {:?}", write.target().1.as_str());
        match apply(&mut b, request("acme", rev, vec![write])).unwrap_err() {
            BackendError::Conflict { object, reason } => {
                assert_eq!(object, target);
                assert!(reason.starts_with(expected_reason), "{reason}");
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
        assert_eq!(dump(&b), before);
    }
}

#[test]
fn delete_of_missing_object_is_success() {
    let (_dir, path) = temp_db();
    let mut b = SqliteBackend::open(&path).unwrap();
    let first = apply_now(&mut b, "acme", vec![put_user("acme", "alice", None)]);
    let out = apply(
        &mut b,
        request(
            "acme",
            first.revision,
            vec![
                delete(Kind::User, "ghost", Some("r7")),
                delete(Kind::User, "alice", None),
            ],
        ),
    )
    .unwrap();
    assert_eq!(out.results, vec![Ok(()), Ok(())]);
    assert!(out.revision > first.revision);
    assert!(b.snapshot(&name("acme")).unwrap().objects.is_empty());
}

#[test]
fn secrets_are_kept_apart_from_specs_replaced_and_deleted() {
    let (_dir, path) = temp_db();
    let mut b = SqliteBackend::open(&path).unwrap();
    let first = apply_now(
        &mut b,
        "acme",
        vec![put_app_with_secret("acme", "crm", "hunter2", None)],
    );
    assert_eq!(
        secrets_of(&b, "acme", "crm"),
        vec![("oidc.clientSecret".to_string(), "hunter2".to_string())]
    );
    let spec_text: String = b
        .conn
        .query_row("SELECT spec FROM objects WHERE name = 'crm'", [], |r| r.get(0))
        .unwrap();
    assert!(!spec_text.contains("hunter2"));
    let digest = digest_of(&b, "hunter2");
    assert!(spec_text.contains(&digest), "{spec_text}");

    // An update that keeps the secret (its digest, no new value) keeps the value.
    let fp = format!("r{}", first.revision);
    let kept = apply_now(
        &mut b,
        "acme",
        vec![put(
            Kind::Application,
            "crm",
            oidc_app("acme", &digest),
            true,
            Some(&fp),
        )],
    );
    assert_eq!(
        secrets_of(&b, "acme", "crm"),
        vec![("oidc.clientSecret".to_string(), "hunter2".to_string())]
    );

    // A spec that no longer stands for the stored value drops it.
    let fp = format!("r{}", kept.revision);
    let second = apply_now(
        &mut b,
        "acme",
        vec![put(
            Kind::Application,
            "crm",
            oidc_app("acme", "x"),
            true,
            Some(&fp),
        )],
    );
    assert!(secrets_of(&b, "acme", "crm").is_empty());

    let fp = format!("r{}", second.revision);
    let third = apply_now(
        &mut b,
        "acme",
        vec![put_app_with_secret("acme", "crm", "s3cret", Some(&fp))],
    );
    assert_eq!(
        secrets_of(&b, "acme", "crm"),
        vec![("oidc.clientSecret".to_string(), "s3cret".to_string())]
    );

    let fp = format!("r{}", third.revision);
    apply_now(&mut b, "acme", vec![delete(Kind::Application, "crm", Some(&fp))]);
    assert!(secrets_of(&b, "acme", "crm").is_empty());
}

#[test]
fn progress_is_reported_after_each_write() {
    let (_dir, path) = temp_db();
    let mut b = SqliteBackend::open(&path).unwrap();
    let mut seen = Vec::new();
    let writes = vec![
        put_user("acme", "a", None),
        put_user("acme", "b", None),
        delete(Kind::User, "c", None),
    ];
    b.write(request("acme", 0, writes), &mut |n| seen.push(n))
        .unwrap();
    assert_eq!(seen, vec![1, 2, 3]);
}

#[test]
fn organizations_are_isolated_in_one_file() {
    let (_dir, path) = temp_db();
    let mut b = SqliteBackend::open(&path).unwrap();
    let acme = apply_now(&mut b, "acme", vec![put_user("acme", "alice", None)]);
    let globex = apply_now(
        &mut b,
        "globex",
        vec![
            put_user("globex", "alice", None),
            put_user("globex", "hank", None),
        ],
    );

    assert_eq!(b.organizations().unwrap(), vec![name("acme"), name("globex")]);
    let a = b.snapshot(&name("acme")).unwrap();
    let g = b.snapshot(&name("globex")).unwrap();
    assert_eq!(a.revision, acme.revision);
    assert_eq!(g.revision, globex.revision);
    assert_eq!(a.objects.len(), 1);
    assert_eq!(g.objects.len(), 2);
    assert_eq!(
        a.get(Kind::User, &name("alice")).unwrap().spec,
        user("acme", "alice")
    );
    assert_eq!(
        g.get(Kind::User, &name("alice")).unwrap().spec,
        user("globex", "alice")
    );

    // A write to globex does not move acme's revision, so acme's plans stay fresh.
    let gfp = format!("r{}", globex.revision);
    apply_now(&mut b, "globex", vec![delete(Kind::User, "alice", Some(&gfp))]);
    assert_eq!(b.snapshot(&name("acme")).unwrap(), a);
    apply(
        &mut b,
        request("acme", acme.revision, vec![put_user("acme", "bob", None)]),
    )
    .unwrap();
}

#[test]
fn history_lists_newest_first_and_filters_by_org() {
    let (_dir, path) = temp_db();
    let mut b = SqliteBackend::open(&path).unwrap();
    let r1 = apply_now(&mut b, "acme", vec![put_user("acme", "alice", None)]).revision;
    let r2 = apply_now(&mut b, "globex", vec![put_user("globex", "hank", None)]).revision;
    let r3 = apply_now(&mut b, "acme", vec![put_user("acme", "bob", None)]).revision;

    let all = b.history(None, 10).unwrap();
    let revs: Vec<u64> = all.iter().map(|e| e.revision).collect();
    assert_eq!(revs, vec![r3, r2, r1]);
    assert_eq!(all[0].organization, "acme");
    let mut expected = audit_for(&[put_user("acme", "bob", None)]);
    // The backend records that bob did not exist before.
    expected[0].spec_before = Some(None);
    assert_eq!(all[0].changes, expected);
    assert!(
        time::OffsetDateTime::parse(&all[0].time, &time::format_description::well_known::Rfc3339).is_ok(),
        "{}",
        all[0].time
    );
    assert!(all[0].time.ends_with('Z'));

    let acme = b.history(Some(&name("acme")), 10).unwrap();
    assert_eq!(acme.iter().map(|e| e.revision).collect::<Vec<_>>(), vec![r3, r1]);
    assert!(acme.iter().all(|e| e.organization == "acme"));

    assert_eq!(b.history(None, 1).unwrap().len(), 1);
    assert!(b.history(None, 0).unwrap().is_empty());
    assert!(b.history(Some(&name("initech")), 10).unwrap().is_empty());
}

#[test]
fn audit_records_stored_as_text_by_earlier_versions_still_read() {
    let (_dir, path) = temp_db();
    let mut b = SqliteBackend::open(&path).unwrap();
    let r1 = apply_now(&mut b, "acme", vec![put_user("acme", "alice", None)]).revision;
    drop(b);
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let kind: String = conn
            .query_row("SELECT typeof(changes) FROM audit", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kind, "blob", "new records are streamed in");
        conn.execute(
            "INSERT INTO audit (revision, time, organization, changes)
             VALUES (?1, '2026-01-01T00:00:00Z', 'acme', ?2)",
            rusqlite::params![
                i64::try_from(r1 + 1).unwrap(),
                r#"[{"kind":"User","name":"old","action":"delete","before":{},"after":null}]"#
            ],
        )
        .unwrap();
    }
    let b = SqliteBackend::open(&path).unwrap();
    let history = b.history(None, 10).unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].changes[0].name, "old");
    assert_eq!(history[1].changes[0].name, "alice");
}

#[test]
fn newer_schema_is_refused() {
    let (_dir, path) = temp_db();
    drop(SqliteBackend::open(&path).unwrap());
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
    match SqliteBackend::open(&path) {
        Err(BackendError::SchemaTooNew {
            path: p,
            found,
            supported,
        }) => {
            assert_eq!(p, path);
            assert_eq!(found, 99);
            assert_eq!(supported, super::schema::SCHEMA_VERSION);
        }
        Err(other) => panic!("expected SchemaTooNew, got {other:?}"),
        Ok(_) => panic!("expected SchemaTooNew, got a backend"),
    }
}

#[test]
fn reopening_keeps_data() {
    let (_dir, path) = temp_db();
    let (snapshot, history) = {
        let mut b = SqliteBackend::open(&path).unwrap();
        apply_now(&mut b, "acme", vec![put_user("acme", "alice", None)]);
        apply_now(
            &mut b,
            "acme",
            vec![put_app_with_secret("acme", "crm", "hunter2", None)],
        );
        (b.snapshot(&name("acme")).unwrap(), b.history(None, 10).unwrap())
    };
    let mut b = SqliteBackend::open(&path).unwrap();
    assert_eq!(b.snapshot(&name("acme")).unwrap(), snapshot);
    assert_eq!(b.history(None, 10).unwrap(), history);
    assert_eq!(
        secrets_of(&b, "acme", "crm"),
        vec![("oidc.clientSecret".to_string(), "hunter2".to_string())]
    );
    let next = apply_now(&mut b, "acme", vec![put_user("acme", "bob", None)]);
    assert!(next.revision > snapshot.revision);
}

#[test]
fn reading_never_creates_the_file_and_the_first_write_does() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir
        .path()
        .join("a/b/.orgctl/directory.db")
        .to_string_lossy()
        .into_owned();
    let mut b = SqliteBackend::open(&path).unwrap();
    assert_eq!(b.snapshot(&name("acme")).unwrap().revision, 0);
    assert!(b.organizations().unwrap().is_empty());
    assert!(b.history(None, 10).unwrap().is_empty());
    assert!(
        !std::path::Path::new(&path).exists(),
        "reads leave no file behind"
    );
    apply_now(&mut b, "acme", vec![put_user("acme", "alice", None)]);
    assert!(std::path::Path::new(&path).exists());
    assert_eq!(b.describe(), format!("sqlite:{path}"));
    let caps = b.capabilities();
    assert!(caps.transactional);
    assert!(caps.gaps.is_empty());
    let mode: String = b
        .conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn unopenable_path_is_an_open_error() {
    let dir = tempfile::tempdir().unwrap();
    // A directory cannot be opened as a database file.
    let path = dir.path().to_string_lossy().into_owned();
    match SqliteBackend::open(&path) {
        Err(BackendError::Open { path: p, .. }) => assert_eq!(p, path),
        Err(other) => panic!("expected an open error, got {other:?}"),
        Ok(_) => panic!("expected an open error, got a backend"),
    }
}

#[test]
fn unreadable_row_is_corrupt_and_names_the_object() {
    let (_dir, path) = temp_db();
    let mut b = SqliteBackend::open(&path).unwrap();
    apply_now(&mut b, "acme", vec![put_user("acme", "alice", None)]);
    b.conn
        .execute(
            "UPDATE objects SET spec = '{\"nope\": 1}' WHERE name = 'alice'",
            [],
        )
        .unwrap();
    match b.snapshot(&name("acme")).unwrap_err() {
        BackendError::Corrupt { object, .. } => assert_eq!(object, r#"user "alice""#),
        other => panic!("expected corrupt, got {other:?}"),
    }
    b.conn
        .execute("UPDATE objects SET kind = 'Gadget' WHERE name = 'alice'", [])
        .unwrap();
    match b.snapshot(&name("acme")).unwrap_err() {
        BackendError::Corrupt { object, message } => {
            assert_eq!(object, r#"object Gadget/"alice""#);
            assert!(message.contains("unknown kind"), "{message}");
        }
        other => panic!("expected corrupt, got {other:?}"),
    }
}

#[test]
fn two_handles_on_one_file_see_each_others_writes_and_conflict() {
    // Both handles open before the file exists: the second must still see
    // what the first one creates.
    let (_dir, path) = temp_db();
    let mut first = SqliteBackend::open(&path).unwrap();
    let mut second = SqliteBackend::open(&path).unwrap();
    let planned = second.snapshot(&name("acme")).unwrap().revision;
    let out = apply_now(&mut first, "acme", vec![put_user("acme", "alice", None)]);
    assert_eq!(second.snapshot(&name("acme")).unwrap().revision, out.revision);
    match apply(
        &mut second,
        request("acme", planned, vec![put_user("acme", "bob", None)]),
    ) {
        Err(BackendError::Conflict { object, .. }) => assert_eq!(object, r#"organization "acme""#),
        other => panic!("expected a conflict, got {other:?}"),
    }
}

#[test]
fn put_of_a_spec_of_another_kind_is_refused() {
    let (_dir, path) = temp_db();
    let mut b = SqliteBackend::open(&path).unwrap();
    let before = dump(&b);
    let err = apply(
        &mut b,
        request(
            "acme",
            0,
            vec![put(Kind::Group, "alice", user("acme", "alice"), true, None)],
        ),
    )
    .unwrap_err();
    assert!(matches!(err, BackendError::Storage(_)), "{err:?}");
    assert_eq!(dump(&b), before);
}

#[test]
fn audit_records_each_objects_whole_spec_before_with_secrets_redacted() {
    let (_dir, path) = temp_db();
    let mut b = SqliteBackend::open(&path).unwrap();
    apply_now(
        &mut b,
        "acme",
        vec![
            put_user("acme", "alice", None),
            put_app_with_secret("acme", "portal", "hunter2", None),
        ],
    );
    let live = b.snapshot(&name("acme")).unwrap();
    let fp = |kind, n: &str| live.get(kind, &name(n)).unwrap().fingerprint.clone();
    let mut renamed = user("acme", "alice");
    if let Spec::User(u) = &mut renamed {
        u.department = crate::model::Field::Set("Finance".into());
    }
    apply_now(
        &mut b,
        "acme",
        vec![
            put(Kind::User, "alice", renamed, true, Some(&fp(Kind::User, "alice"))),
            delete(
                Kind::Application,
                "portal",
                Some(&fp(Kind::Application, "portal")),
            ),
            delete(Kind::Group, "never-there", None),
        ],
    );
    let entry = &b.history(None, 1).unwrap()[0];
    let before: Vec<_> = entry.changes.iter().map(|c| c.spec_before.clone()).collect();
    assert_eq!(
        before,
        vec![
            Some(Some(user("acme", "alice").to_json())),
            Some(Some(json!({
                "organization": "acme",
                "type": "oidc",
                "oidc": {"clientSecret": "(sensitive value)"}
            }))),
            Some(None),
        ]
    );
    let text = serde_json::to_string(&entry.changes).unwrap();
    assert!(!text.contains("sha256:"), "no digest in the audit: {text}");
    // Entries written before `specBefore` existed still read, as `None`.
    let old: AuditChange = serde_json::from_value(
        json!({"kind": "User", "name": "x", "action": "delete", "before": {}, "after": null}),
    )
    .unwrap();
    assert_eq!(old.spec_before, None);
}

/// Timing of the targets in the brief; run with
/// `cargo test --release --lib backend::sqlite -- --ignored --nocapture`.
#[test]
#[ignore]
fn timing_of_twelve_thousand_puts_and_a_snapshot() {
    let (_dir, path) = temp_db();
    let mut b = SqliteBackend::open(&path).unwrap();
    let writes: Vec<Write> = (0..12_000)
        .map(|i| put_user("acme", &format!("user-{i}"), None))
        .collect();
    let req = request("acme", 0, writes);
    let started = std::time::Instant::now();
    let out = apply(&mut b, req).unwrap();
    let write_time = started.elapsed();
    let mut snapshot_times = Vec::new();
    for _ in 0..10 {
        let started = std::time::Instant::now();
        let live = b.snapshot(&name("acme")).unwrap();
        snapshot_times.push(started.elapsed());
        assert_eq!(live.objects.len(), 12_000);
        assert_eq!(live.revision, out.revision);
    }
    snapshot_times.sort();
    eprintln!(
        "12,000 puts in one request: {write_time:?}; snapshot of 12,000 objects: min {:?}, median {:?}",
        snapshot_times[0], snapshot_times[5]
    );
}

fn grant(app: &str, role: &str, rule: &str) -> crate::backend::RuleGrant {
    crate::backend::RuleGrant {
        app: name(app),
        role: name(role),
        rule: name(rule),
    }
}

fn grants(user: &str, list: Vec<crate::backend::RuleGrant>) -> Write {
    Write::Grants {
        user: name(user),
        grants: list.into(),
    }
}

fn manual(user: &str, app: &str, role: Option<&str>) -> Write {
    Write::ManualGrant {
        user: name(user),
        app: name(app),
        role: role.map(name),
    }
}

fn grant_rows(b: &SqliteBackend, table: &str) -> i64 {
    b.conn
        .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

#[test]
fn rule_grants_are_stored_once_per_distinct_list_and_read_back_per_user() {
    let (_dir, path) = temp_db();
    let mut b = SqliteBackend::open(&path).unwrap();
    let users = ["ann", "bob", "cid"];
    apply_now(
        &mut b,
        "acme",
        users.iter().map(|u| put_user("acme", u, None)).collect(),
    );
    let shared = vec![grant("github", "developer", "eng"), grant("jira", "user", "all")];
    apply_now(
        &mut b,
        "acme",
        vec![
            grants("ann", shared.clone()),
            grants("bob", shared.clone()),
            grants("cid", vec![grant("jira", "admin", "leads")]),
        ],
    );
    let live = b.snapshot(&name("acme")).unwrap();
    assert_eq!(live.grants.of_user("ann"), shared.as_slice());
    assert_eq!(live.grants.of_user("bob"), shared.as_slice());
    assert_eq!(live.grants.of_user("cid"), [grant("jira", "admin", "leads")]);
    assert_eq!(live.grants.sets.len(), 2);
    assert_eq!(live.grants.rule_grant_count(), 5);
    assert_eq!(grant_rows(&b, "grant_sets"), 2);

    // cid moves to the shared list: its old list is held by nobody and dropped.
    let rev = b.snapshot(&name("acme")).unwrap().revision;
    let out = apply_now(
        &mut b,
        "acme",
        vec![grants("cid", shared.clone()), grants("ann", vec![])],
    );
    assert!(out.revision > rev);
    let live = b.snapshot(&name("acme")).unwrap();
    assert_eq!(live.grants.of_user("ann"), []);
    assert_eq!(live.grants.of_user("cid"), shared.as_slice());
    assert_eq!(grant_rows(&b, "grant_sets"), 1);

    // A list goes with its last user: kept while cid holds it, then dropped.
    apply_now(&mut b, "acme", vec![delete(Kind::User, "bob", None)]);
    assert_eq!(grant_rows(&b, "grant_sets"), 1);
    apply_now(&mut b, "acme", vec![delete(Kind::User, "cid", None)]);
    assert_eq!(grant_rows(&b, "grant_sets"), 0);
}

#[test]
fn hand_made_grants_survive_rule_writes_and_go_with_their_user_or_app() {
    let (_dir, path) = temp_db();
    let mut b = SqliteBackend::open(&path).unwrap();
    apply_now(
        &mut b,
        "acme",
        vec![put_user("acme", "ann", None), put_user("acme", "bob", None)],
    );
    apply_now(
        &mut b,
        "acme",
        vec![
            manual("ann", "payroll", Some("viewer")),
            manual("bob", "payroll", Some("admin")),
            grants("ann", vec![grant("payroll", "editor", "finance")]),
        ],
    );
    apply_now(&mut b, "acme", vec![grants("ann", vec![])]);
    let live = b.snapshot(&name("acme")).unwrap();
    assert_eq!(live.grants.manual[&name("ann")][&name("payroll")], name("viewer"));
    assert_eq!(live.grants.of_user("ann"), []);

    let fp = live.get(Kind::User, &name("ann")).unwrap().fingerprint.clone();
    apply_now(&mut b, "acme", vec![delete(Kind::User, "ann", Some(&fp))]);
    let live = b.snapshot(&name("acme")).unwrap();
    assert!(!live.grants.manual.contains_key(&name("ann")));
    assert_eq!(live.grants.manual[&name("bob")][&name("payroll")], name("admin"));

    apply_now(&mut b, "acme", vec![manual("bob", "payroll", None)]);
    assert!(b.snapshot(&name("acme")).unwrap().grants.manual.is_empty());
}

#[test]
fn granting_to_a_user_that_is_gone_is_a_conflict_and_writes_nothing() {
    let (_dir, path) = temp_db();
    let mut b = SqliteBackend::open(&path).unwrap();
    apply_now(&mut b, "acme", vec![put_user("acme", "ann", None)]);
    let before = dump(&b);
    let err = apply(
        &mut b,
        request(
            "acme",
            1,
            vec![
                grants("ann", vec![grant("jira", "user", "all")]),
                grants("zed", vec![]),
            ],
        ),
    )
    .unwrap_err();
    assert!(
        matches!(&err, BackendError::Conflict { object, .. } if object == "user \"zed\""),
        "{err:?}"
    );
    assert_eq!(dump(&b), before);
}

#[test]
fn a_version_one_file_is_migrated_to_the_current_version_keeping_its_objects() {
    let (_dir, path) = temp_db();
    {
        let mut b = SqliteBackend::open(&path).unwrap();
        apply_now(&mut b, "acme", vec![put_user("acme", "ann", None)]);
        // Turn the file back into what a version-1 orgctl wrote.
        b.conn
            .execute_batch(
                "DROP TABLE grant_sets; DROP TABLE user_grants; DROP TABLE manual_grants;
                 ALTER TABLE audit DROP COLUMN apply; DROP TABLE digest_key; PRAGMA user_version = 1;",
            )
            .unwrap();
    }
    let mut b = SqliteBackend::open(&path).unwrap();
    let version: i64 = b
        .conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 4);
    let index: i64 = b
        .conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'user_grants_by_set'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(index, 1, "version 3 indexes the users of a grant list");
    assert!(b
        .snapshot(&name("acme"))
        .unwrap()
        .get(Kind::User, &name("ann"))
        .is_some());
    apply_now(
        &mut b,
        "acme",
        vec![grants("ann", vec![grant("jira", "user", "all")])],
    );
    assert_eq!(b.snapshot(&name("acme")).unwrap().grants.rule_grant_count(), 1);
}

#[test]
fn digests_are_keyed_per_directory_and_an_upgraded_store_is_rekeyed() {
    let (_dir, path) = temp_db();
    // A store of schema version 3 holding an unkeyed digest, as orgctl wrote them.
    {
        let mut conn = Connection::open(&path).unwrap();
        super::schema::migrate_to(&mut conn, 3).unwrap();
        let unkeyed = "sha256:f52fbd32b2b3b86ff88ef6c490628285";
        conn.execute(
            "INSERT INTO objects (organization, kind, name, spec, managed, revision) VALUES ('acme', 'Application', 'crm', ?1, 1, 7)",
            [oidc_app("acme", unkeyed).to_json().to_string()],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO secrets (organization, kind, name, path, value) VALUES ('acme', 'Application', 'crm', 'oidc.clientSecret', 'hunter2')",
            [],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO organizations (name, revision) VALUES ('acme', 7)",
            [],
        )
        .unwrap();
    }
    let b = SqliteBackend::open(&path).unwrap();
    let live = b.snapshot(&name("acme")).unwrap();
    let crm = live.get(Kind::Application, &name("crm")).expect("crm");
    let stored = crm.spec.to_json()["oidc"]["clientSecret"]["digest"].clone();
    // The stored digest is now the keyed one a plan computes: no change to plan.
    assert_eq!(stored, serde_json::json!(digest_of(&b, "hunter2")));
    assert!(stored
        .as_str()
        .is_some_and(|d| d.starts_with(crate::model::DIGEST_PREFIX)));
    assert_eq!(crm.fingerprint, "r7", "rekeying is not a change of the object");
    // Another directory has another key.
    let (_dir2, path2) = temp_db();
    let other = SqliteBackend::open(&path2).unwrap();
    let mut other = other;
    apply_now(&mut other, "acme", vec![put_user("acme", "bob", None)]);
    assert_ne!(digest_of(&other, "hunter2"), digest_of(&b, "hunter2"));
}
