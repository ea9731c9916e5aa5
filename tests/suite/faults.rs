//! Faults against the real `orgctl serve`: a server killed with SIGKILL in
//! the middle of a large apply (nothing committed is lost, the next apply
//! converges), injected 429/503 answers (retried, honouring Retry-After, and
//! reported), 401/403/404/422 (clear errors naming the object, never the
//! token), and two appliers racing on one organization (one wins, the other
//! reports a conflict, no update is lost).

use crate::common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Opts, Server, READ_TOKEN, TOKEN};
use orgctl::backend::http::{HttpBackend, HttpOptions};
use orgctl::backend::{Backend, Write, WriteRequest};
use orgctl::model::{Kind, Name, SecretValue, Spec};
use serde_json::Value;

const SECRET: &str = "s3cr3t-portal-value";

fn orgctl(dir: &Path, address: &str, token: &str, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_orgctl"));
    c.current_dir(dir)
        .args(args)
        .env("ORGCTL_BACKEND", address)
        .env("ORGCTL_TOKEN", token)
        .env("ORGCTL_TEST_PORTAL_SECRET", SECRET)
        .env("NO_COLOR", "1")
        .env_remove("ORGCTL_LOG")
        .env_remove("ORGCTL_TOKEN_FILE");
    c
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn finish(out: Output) -> Run {
    let run = Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    for t in [TOKEN, READ_TOKEN, SECRET] {
        assert!(
            !run.stdout.contains(t) && !run.stderr.contains(t),
            "a secret was printed:\n{}\n{}",
            run.stdout,
            run.stderr
        );
    }
    run
}

fn run(dir: &Path, address: &str, token: &str, args: &[&str]) -> Run {
    finish(orgctl(dir, address, token, args).output().expect("run orgctl"))
}

fn backend(address: &str, token: &str) -> HttpBackend {
    let options = HttpOptions {
        token: Some(SecretValue::new(token)),
        request_timeout: Duration::from_secs(10),
        ..Default::default()
    };
    HttpBackend::open(address, &options).expect("open")
}

fn name(s: &str) -> Name {
    s.parse().expect("name")
}

/// Writes a synthetic organization of `users` users as files in `dir/org`.
fn synth_files(dir: &Path, users: usize) -> String {
    let org = dir.join("org");
    std::fs::create_dir_all(&org).expect("mkdir");
    for s in orgctl::synth::generate(&orgctl::synth::SynthParams::small(users)) {
        let file = Path::new(&s.name).file_name().expect("file name").to_owned();
        std::fs::write(org.join(file), s.text).expect("write");
    }
    org.display().to_string()
}

#[test]
fn a_server_killed_mid_apply_loses_nothing_committed_and_the_next_apply_converges() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = synth_files(dir.path(), 4000);
    let mut server = Server::start(&dir.path().join("d.db"), Opts::default());
    let watcher = server.client();
    let org = name("synth");
    let apply = orgctl(
        dir.path(),
        &server.address,
        TOKEN,
        &[
            "apply",
            "-f",
            &files,
            "--auto-approve",
            "--output",
            "json",
            "--parallelism",
            "2",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("start apply");
    // Kill the server once a few hundred writes have committed.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let revision = watcher
            .get(server.url("/v1/orgs/synth"))
            .bearer_auth(TOKEN)
            .send()
            .ok()
            .and_then(|r| r.json::<Value>().ok())
            .and_then(|v| v["revision"].as_u64())
            .unwrap_or(0);
        if revision >= 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the apply did not progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    server.kill();
    let killed = finish(apply.wait_with_output().expect("apply output"));
    assert_eq!(killed.code, Some(1), "the apply fails:\n{}", killed.stderr);
    let report: Value = serde_json::from_str(&killed.stdout).expect("json report");
    let results = report["report"]["organizations"][0]["results"]
        .as_array()
        .expect("results")
        .clone();
    let applied: Vec<(String, String)> = results
        .iter()
        .filter(|r| r["outcome"]["status"] == "applied")
        .map(|r| {
            (
                r["kind"].as_str().unwrap_or("").to_string(),
                r["name"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert!(applied.len() >= 150, "{} applied", applied.len());
    assert!(applied.len() < results.len(), "the kill interrupted the apply");
    assert!(results.iter().any(|r| r["outcome"]["status"] == "failed"));

    server.restart();
    let live = backend(&server.address, TOKEN).snapshot(&org).expect("snapshot");
    for (kind, n) in &applied {
        let kind: Kind = kind.parse().expect("kind");
        assert!(
            live.get(kind, &name(n)).is_some(),
            "{kind} {n} was reported applied but is gone"
        );
    }
    let again = run(
        dir.path(),
        &server.address,
        TOKEN,
        &["apply", "-f", &files, "--auto-approve"],
    );
    assert_eq!(again.code, Some(0), "{}\n{}", again.stdout, again.stderr);
    let plan = run(
        dir.path(),
        &server.address,
        TOKEN,
        &["plan", "-f", &files, "--detailed-exitcode"],
    );
    assert_eq!(plan.code, Some(0), "{}\n{}", plan.stdout, plan.stderr);
}

#[test]
fn injected_429_and_503_are_retried_with_backoff_and_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(
        &dir.path().join("d.db"),
        Opts {
            args: vec![
                "--inject-fault".into(),
                "503:4".into(),
                "--inject-fault".into(),
                "429:7:1".into(),
            ],
        },
    );
    let small = common::data("small").display().to_string();
    let started = Instant::now();
    let r = run(
        dir.path(),
        &server.address,
        TOKEN,
        &["apply", "-f", &small, "--auto-approve"],
    );
    assert_eq!(r.code, Some(0), "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("8 added"), "{}", r.stdout);
    assert!(
        r.stderr.contains("503 Service Unavailable") || r.stderr.contains("HTTP 503"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("HTTP 429"), "{}", r.stderr);
    assert!(r.stderr.contains("retrying in"), "{}", r.stderr);
    assert!(r.stderr.contains("were retried"), "{}", r.stderr);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was honoured"
    );
    let plan = run(
        dir.path(),
        &server.address,
        TOKEN,
        &["plan", "-f", &small, "--detailed-exitcode"],
    );
    assert_eq!(plan.code, Some(0), "{}\n{}", plan.stdout, plan.stderr);
}

#[test]
fn auth_and_rule_failures_are_clear_and_name_the_object_never_the_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("d.db"), Opts::default());
    let small = common::data("small").display().to_string();
    // 401: a wrong token.
    let r = run(
        dir.path(),
        &server.address,
        "not-the-token-0123456789",
        &["plan", "-f", &small],
    );
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("HTTP 401") && r.stderr.contains("bearer token"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("reading organization \"acme\""), "{}", r.stderr);
    assert!(!r.stderr.contains("not-the-token"), "{}", r.stderr);
    // No token at all: refused before any request.
    let out = Command::new(env!("CARGO_BIN_EXE_orgctl"))
        .args(["plan", "-f", &small])
        .env("ORGCTL_BACKEND", &server.address)
        .env_remove("ORGCTL_TOKEN")
        .env_remove("ORGCTL_TOKEN_FILE")
        .env("ORGCTL_TEST_PORTAL_SECRET", SECRET)
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&out.stderr).contains("set ORGCTL_TOKEN or pass --token-file"));
    // 403: a read-only token plans but cannot apply.
    let r = run(
        dir.path(),
        &server.address,
        READ_TOKEN,
        &["plan", "-f", &small, "--detailed-exitcode"],
    );
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    let r = run(
        dir.path(),
        &server.address,
        READ_TOKEN,
        &["apply", "-f", &small, "--auto-approve"],
    );
    assert_eq!(r.code, Some(1));
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(all.contains("HTTP 403") && all.contains("may only read"), "{all}");
    assert!(all.contains("writing organization \"acme\""), "{all}");
    // A token file works as well as the env.
    let token_file = dir.path().join("client-token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).expect("write");
    let r = run(
        dir.path(),
        &server.address,
        "",
        &[
            "apply",
            "-f",
            &small,
            "--auto-approve",
            "--token-file",
            &token_file.display().to_string(),
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);

    // 404 and 422 through the backend: each write's error names its object.
    let mut b = backend(&server.address, TOKEN);
    let org = name("acme");
    let live = b.snapshot(&org).expect("snapshot");
    let mut weak = live
        .get(Kind::SecurityPolicy, &name("default"))
        .expect("policy")
        .spec
        .to_json();
    weak["password"]["minLength"] = 6.into();
    let weak = Spec::from_json(Kind::SecurityPolicy, weak).expect("spec");
    let fingerprint = live
        .get(Kind::SecurityPolicy, &name("default"))
        .map(|o| o.fingerprint.clone());
    let outcome = b
        .write(
            WriteRequest {
                organization: org.clone(),
                expected_revision: live.revision,
                writes: vec![
                    Write::Grants {
                        user: name("bob"),
                        grants: Vec::new().into(),
                    },
                    Write::Grants {
                        user: name("ghost"),
                        grants: Vec::new().into(),
                    },
                    Write::Put {
                        kind: Kind::SecurityPolicy,
                        name: name("default"),
                        spec: weak,
                        secrets: Default::default(),
                        managed: true,
                        expected: fingerprint,
                        changed: None,
                    },
                ],
                audit: Vec::new(),
            },
            &mut |_| {},
        )
        .expect("write");
    let results: Vec<String> = outcome
        .results
        .iter()
        .map(|r| r.clone().err().unwrap_or_default())
        .collect();
    assert_eq!(results[0], "");
    assert!(
        results[1].contains("user \"ghost\" does not exist") && results[1].contains("HTTP 404"),
        "{results:?}"
    );
    assert!(
        results[2].starts_with("not attempted"),
        "a failed wave stops the later ones: {results:?}"
    );
    let mut weak = live
        .get(Kind::SecurityPolicy, &name("default"))
        .expect("policy")
        .spec
        .to_json();
    weak["password"]["minLength"] = 6.into();
    let put = Write::Put {
        kind: Kind::SecurityPolicy,
        name: name("default"),
        spec: Spec::from_json(Kind::SecurityPolicy, weak).expect("spec"),
        secrets: Default::default(),
        managed: true,
        expected: live
            .get(Kind::SecurityPolicy, &name("default"))
            .map(|o| o.fingerprint.clone()),
        changed: None,
    };
    let now = b.snapshot(&org).expect("snapshot").revision;
    let err = b
        .write(
            WriteRequest {
                organization: org.clone(),
                expected_revision: now,
                writes: vec![put],
                audit: Vec::new(),
            },
            &mut |_| {},
        )
        .expect_err("422");
    let text = err.to_string();
    assert!(
        text.contains("security policy \"default\"")
            && text.contains("spec.password.minLength")
            && text.contains("HTTP 422"),
        "{text}"
    );
}

#[test]
fn two_appliers_racing_on_one_org_one_wins_and_no_update_is_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("d.db"), Opts::default());
    let small = common::data("small").display().to_string();
    assert_eq!(
        run(
            dir.path(),
            &server.address,
            TOKEN,
            &["apply", "-f", &small, "--auto-approve"]
        )
        .code,
        Some(0)
    );
    // Two editors change the same user from the same state and save plans.
    let people = std::fs::read_to_string(common::data("small/people.yaml")).expect("read");
    let org_yaml = std::fs::read_to_string(common::data("small/org.yaml")).expect("read");
    for (who, department) in [("a", "Finance"), ("b", "Marketing")] {
        let d = dir.path().join(who);
        std::fs::create_dir_all(&d).expect("mkdir");
        std::fs::write(d.join("org.yaml"), &org_yaml).expect("write");
        std::fs::write(
            d.join("people.yaml"),
            people.replace("department: Sales", &format!("department: {department}")),
        )
        .expect("write");
        let r = run(
            dir.path(),
            &server.address,
            TOKEN,
            &["plan", "-f", who, "--out", &format!("{who}.json")],
        );
        assert_eq!(r.code, Some(0), "{}", r.stderr);
    }
    let spawn = |who: &str| {
        orgctl(
            dir.path(),
            &server.address,
            TOKEN,
            &["apply", "--plan", &format!("{who}.json"), "--auto-approve"],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn")
    };
    let (a, b) = (spawn("a"), spawn("b"));
    let (a, b) = (
        finish(a.wait_with_output().expect("a")),
        finish(b.wait_with_output().expect("b")),
    );
    let (winner, loser) = match (a.code, b.code) {
        (Some(0), Some(1)) => ("a", b),
        (Some(1), Some(0)) => ("b", a),
        other => panic!(
            "exactly one must win: {other:?}\n{}\n{}\n{}\n{}",
            a.stdout, a.stderr, b.stdout, b.stderr
        ),
    };
    let said = format!("{}{}", loser.stdout, loser.stderr);
    assert!(
        (said.contains("conflict on") || said.contains("stale")) && said.contains("plan"),
        "the loser reports a conflict and says to re-plan:\n{said}"
    );
    // The winner's update is there; the loser's plan is still to do.
    let r = run(
        dir.path(),
        &server.address,
        TOKEN,
        &["plan", "-f", winner, "--detailed-exitcode"],
    );
    assert_eq!(r.code, Some(0), "{}", r.stdout);
    let other = if winner == "a" { "b" } else { "a" };
    let r = run(
        dir.path(),
        &server.address,
        TOKEN,
        &["plan", "-f", other, "--detailed-exitcode"],
    );
    assert_eq!(r.code, Some(2), "{}", r.stdout);

    // Per object: a write whose object changed after the snapshot is a conflict naming it.
    let mut one = backend(&server.address, TOKEN);
    let org = name("acme");
    let before = one.snapshot(&org).expect("snapshot");
    let bob = before.get(Kind::User, &name("bob")).expect("bob").clone();
    let mut renamed = bob.spec.to_json();
    renamed["firstName"] = "Robert".into();
    let put = |spec: Value, expected: &str| Write::Put {
        kind: Kind::User,
        name: name("bob"),
        spec: Spec::from_json(Kind::User, spec).expect("spec"),
        secrets: Default::default(),
        managed: true,
        expected: Some(expected.to_string()),
        changed: None,
    };
    let first = one
        .write(
            WriteRequest {
                organization: org.clone(),
                expected_revision: before.revision,
                writes: vec![put(renamed, &bob.fingerprint)],
                audit: Vec::new(),
            },
            &mut |_| {},
        )
        .expect("first writer");
    assert!(first.results.iter().all(Result::is_ok));
    // The second writer read the same snapshot: its first write carries the old
    // organization revision and is refused before anything is written.
    let mut retitled = bob.spec.to_json();
    retitled["lastName"] = "Builder".into();
    let mut two = backend(&server.address, TOKEN);
    let err = two
        .write(
            WriteRequest {
                organization: org.clone(),
                expected_revision: before.revision,
                writes: vec![put(retitled.clone(), &bob.fingerprint)],
                audit: Vec::new(),
            },
            &mut |_| {},
        )
        .expect_err("conflict");
    assert!(
        err.to_string().contains("conflict on organization \"acme\"")
            && err.to_string().contains("re-run plan"),
        "{err}"
    );
    // Even past the organization check, the object's own revision guards it.
    let now = two.snapshot(&org).expect("snapshot");
    let outcome = two
        .write(
            WriteRequest {
                organization: org.clone(),
                expected_revision: now.revision,
                writes: vec![
                    Write::Grants {
                        user: name("alice"),
                        grants: Vec::new().into(),
                    },
                    put(retitled, &bob.fingerprint),
                ],
                audit: Vec::new(),
            },
            &mut |_| {},
        )
        .expect("write");
    let message = outcome.results[1].clone().expect_err("stale object");
    assert!(
        message.contains("conflict on user \"bob\"") && message.contains("re-run plan"),
        "{message}"
    );
    let after = two.snapshot(&org).expect("snapshot");
    let spec = after.get(Kind::User, &name("bob")).expect("bob").spec.to_json();
    assert_eq!(
        spec["firstName"], "Robert",
        "the first writer's update is not lost"
    );
    assert!(spec.get("lastName").is_none());
}

/// Plans and applies the small organization plus a user whose department
/// is `department` bytes against `server`: both must fail with the plan error
/// `reason` (after "user \"zed\": field spec.department cannot be stored by
/// backend ADDRESS: "), no broken pipe, and nothing written.
fn oversized_user_is_a_plan_error(dir: &Path, server: &Server, department: usize, reason: &str) {
    let files = dir.join("files");
    std::fs::create_dir_all(&files).expect("mkdir");
    let small = common::data("small");
    for f in ["org.yaml", "people.yaml"] {
        std::fs::copy(small.join(f), files.join(f)).expect("copy");
    }
    let big = format!(
        "apiVersion: orgctl.io/v1alpha1\nkind: User\nmetadata: {{name: zed}}\nspec:\n  organization: acme\n  email: zed@acme.example\n  department: {}\n",
        "d".repeat(department)
    );
    std::fs::write(files.join("zed.yaml"), big).expect("write");
    let files = files.display().to_string();
    let expected = format!(
        "user \"zed\": field spec.department cannot be stored by backend {}: {reason}",
        server.address
    );
    for command in [
        &["plan", "-f", &files][..],
        &["apply", "-f", &files, "--auto-approve"][..],
    ] {
        let r = run(dir, &server.address, TOKEN, command);
        assert_eq!(r.code, Some(1), "{command:?}: {}", r.stderr);
        assert!(r.stderr.contains(&expected), "{command:?}: {}", r.stderr);
        assert!(!r.stderr.to_lowercase().contains("broken pipe"), "{}", r.stderr);
    }
    let r = run(dir, &server.address, TOKEN, &["history"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(!r.stdout.contains("zed"), "nothing was written: {}", r.stdout);
}

#[test]
fn an_object_too_large_for_the_server_is_a_plan_error_not_a_broken_apply() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("d.db"), Opts::default());
    // A 2 MiB department: within the server's 4 MiB body, but not three times.
    oversized_user_is_a_plan_error(
        dir.path(),
        &server,
        2 * 1024 * 1024,
        "the object is 2049 KiB as JSON, and a write of it carries up to three copies (the spec, and the changed fields before and after for the audit log) in a body the server limits to 4 MiB; objects may be at most 1365 KiB",
    );
}

#[test]
fn one_apply_over_http_is_one_history_entry_as_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("d.db"), Opts::default());
    let files = synth_files(dir.path(), 50);
    let r = run(
        dir.path(),
        &server.address,
        TOKEN,
        &["apply", "-f", &files, "--auto-approve"],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let history = |dir: &Path| -> Value {
        let r = run(dir, &server.address, TOKEN, &["history", "--output", "json"]);
        assert_eq!(r.code, Some(0), "{}", r.stderr);
        serde_json::from_str(&r.stdout).expect("history JSON")
    };
    let h = history(dir.path());
    let entries = h["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 1, "one apply, one entry: {h}");
    let changes = entries[0]["changes"].as_array().expect("changes");
    let objects = changes.iter().filter(|c| c["action"] == "create").count();
    assert!(
        objects > 50,
        "every object's creation is in the one entry: {objects}"
    );
    assert_eq!(
        changes.last().map(|c| c["action"].clone()),
        Some(Value::from("assign")),
        "the assignments last, as written"
    );
    // A second apply is a second entry.
    std::fs::write(
        Path::new(&files).join("extra.yaml"),
        "apiVersion: orgctl.io/v1alpha1\nkind: Group\nmetadata: {name: extra}\nspec: {organization: synth}\n",
    )
    .expect("write");
    let r = run(
        dir.path(),
        &server.address,
        TOKEN,
        &["apply", "-f", &files, "--auto-approve"],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(history(dir.path())["entries"].as_array().map(Vec::len), Some(2));
}

/// Runs orgctl against `address` with the small organization's portal secret.
fn with_portal_secret(dir: &Path, address: &str, secret: &str, args: &[&str]) -> Run {
    finish(
        orgctl(dir, address, TOKEN, args)
            .env("ORGCTL_TEST_PORTAL_SECRET", secret)
            .output()
            .expect("run"),
    )
}

#[test]
fn a_rotated_secret_is_written_once_and_the_next_plan_is_empty_on_sqlite_and_http() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("served.db"), Opts::default());
    let sqlite = dir.path().join("embedded.db");
    let small = common::data("small").display().to_string();
    for (address, db) in [
        (format!("sqlite:{}", sqlite.display()), sqlite.clone()),
        (server.address.clone(), dir.path().join("served.db")),
    ] {
        let with = |secret: &str, args: &[&str]| with_portal_secret(dir.path(), &address, secret, args);
        let r = with(SECRET, &["apply", "-f", &small, "--auto-approve"]);
        assert_eq!(r.code, Some(0), "{address}: {}", r.stderr);
        let rotated = "rotated-portal-value-2";
        let r = with(rotated, &["apply", "-f", &small, "--auto-approve"]);
        assert_eq!(r.code, Some(0), "{address}: {}", r.stderr);
        assert!(
            r.stdout.contains("Objects: 0 added, 1 changed, 0 destroyed."),
            "{address}: {}",
            r.stdout
        );
        assert!(!r.stdout.contains(rotated) && !r.stderr.contains(rotated));
        // Stored once, and nothing left to do.
        let conn = rusqlite::Connection::open(&db).expect("open the directory");
        let stored: String = conn
            .query_row(
                "SELECT value FROM secrets WHERE kind = 'Application' AND name = 'portal'",
                [],
                |row| row.get(0),
            )
            .expect("the secret");
        assert_eq!(stored, rotated, "{address}");
        let r = with(rotated, &["plan", "-f", &small, "--detailed-exitcode"]);
        assert_eq!(
            r.code,
            Some(0),
            "{address}: no changes after the rotation: {}",
            r.stdout
        );
        let r = with(rotated, &["apply", "-f", &small, "--auto-approve"]);
        assert_eq!(r.code, Some(0), "{address}: {}", r.stderr);
        let r = with(rotated, &["history", "--output", "json"]);
        let h: Value = serde_json::from_str(&r.stdout).expect("history JSON");
        assert_eq!(
            h["entries"].as_array().map(Vec::len),
            Some(2),
            "{address}: the first apply and the rotation, nothing after: {h}"
        );
    }
}

#[test]
fn a_server_started_with_a_small_body_limit_has_plans_keep_within_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(
        &dir.path().join("d.db"),
        Opts {
            args: vec!["--max-body-size".into(), "262144".into()],
        },
    );
    // 150 KiB: far within the default 4 MiB body, but not the 256 KiB one.
    oversized_user_is_a_plan_error(
        dir.path(),
        &server,
        150 * 1024,
        "the object is 151 KiB as JSON, and a write of it carries up to three copies (the spec, and the changed fields before and after for the audit log) in a body the server limits to 256 KiB; objects may be at most 85 KiB",
    );
    // The server advertises its limit on the snapshot and in its capabilities.
    let client = server.client();
    let snapshot = client
        .get(server.url("/v1/orgs/acme/snapshot"))
        .bearer_auth(READ_TOKEN)
        .send()
        .expect("send");
    assert_eq!(
        snapshot
            .headers()
            .get("x-orgctl-max-body-size")
            .and_then(|v| v.to_str().ok()),
        Some("262144")
    );
    let caps: Value = client
        .get(server.url("/v1/capabilities"))
        .bearer_auth(READ_TOKEN)
        .send()
        .expect("send")
        .json()
        .expect("json");
    assert_eq!(caps["maxBodySize"], 262144);
}

/// The first 128 bits of the unkeyed SHA-256 of `value`, as orgctl used to
/// store, plan and serve secret digests: anyone could test guesses on it.
fn unkeyed_digest(value: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(value.as_bytes());
    d.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

#[test]
fn no_plan_nor_read_only_snapshot_holds_a_guessable_digest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("served.db"), Opts::default());
    let sqlite = dir.path().join("embedded.db");
    let small = common::data("small").display().to_string();
    let (old, new) = ("hunter2", "hunter3");
    let unkeyed = [unkeyed_digest(old), unkeyed_digest(new)];
    for address in [format!("sqlite:{}", sqlite.display()), server.address.clone()] {
        let with = |secret: &str, args: &[&str]| with_portal_secret(dir.path(), &address, secret, args);
        let r = with(old, &["apply", "-f", &small, "--auto-approve"]);
        assert_eq!(r.code, Some(0), "{address}: {}", r.stderr);
        for format in ["json", "text", "markdown"] {
            let r = with(new, &["plan", "-f", &small, "--output", format]);
            assert_eq!(r.code, Some(0), "{address}: {}", r.stderr);
            assert!(r.stdout.contains("(sensitive value)"), "{address}: {}", r.stdout);
            for text in [&r.stdout, &r.stderr] {
                assert!(
                    !text.contains("hmac-sha256:") && !text.contains("sha256:"),
                    "{address}: a digest in the {format} plan: {text}"
                );
                for d in &unkeyed {
                    assert!(!text.contains(d.as_str()), "{address}: {text}");
                }
            }
        }
    }
    let snapshot = server
        .client()
        .get(server.url("/v1/orgs/acme/snapshot"))
        .bearer_auth(READ_TOKEN)
        .send()
        .expect("send")
        .text()
        .expect("text");
    assert!(snapshot.contains("hmac-sha256:"), "{snapshot}");
    assert!(!snapshot.contains(&unkeyed[0]), "{snapshot}");
}

#[test]
fn a_secret_the_files_leave_alone_is_kept_through_a_saved_plan_that_shows_no_digest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&dir.path().join("served.db"), Opts::default());
    let sqlite = dir.path().join("embedded.db");
    let small = common::data("small");
    for (address, db) in [
        (format!("sqlite:{}", sqlite.display()), sqlite.clone()),
        (server.address.clone(), dir.path().join("served.db")),
    ] {
        let files = dir.path().join(format!(
            "files-{}",
            db.file_stem().and_then(|s| s.to_str()).unwrap_or("x")
        ));
        std::fs::create_dir_all(&files).expect("mkdir");
        for f in ["org.yaml", "people.yaml"] {
            std::fs::copy(small.join(f), files.join(f)).expect("copy");
        }
        let f = files.display().to_string();
        let with = |args: &[&str]| with_portal_secret(dir.path(), &address, SECRET, args);
        let r = with(&["apply", "-f", &f, "--auto-approve"]);
        assert_eq!(r.code, Some(0), "{address}: {}", r.stderr);
        // The portal stops managing its secret and changes its name.
        let people = std::fs::read_to_string(files.join("people.yaml")).expect("read");
        let people = people
            .replace("    clientSecret: {fromEnv: ORGCTL_TEST_PORTAL_SECRET}\n", "")
            .replace("displayName: Employee portal", "displayName: Staff portal");
        std::fs::write(files.join("people.yaml"), people).expect("write");
        let saved = dir.path().join("kept-plan.json");
        let saved = saved.display().to_string();
        let r = with(&["plan", "-f", &f, "--out", &saved]);
        assert_eq!(r.code, Some(0), "{address}: {}", r.stderr);
        let plan = std::fs::read_to_string(&saved).expect("saved plan");
        assert!(
            !plan.contains("sha256:"),
            "{address}: a digest in the saved plan: {plan}"
        );
        assert!(
            plan.contains("\"digest\":\"(kept)\"") || plan.contains("\"digest\": \"(kept)\""),
            "{plan}"
        );
        let r = with(&["apply", "--plan", &saved]);
        assert_eq!(r.code, Some(0), "{address}: {}", r.stderr);
        let conn = rusqlite::Connection::open(&db).expect("open the directory");
        let stored: String = conn
            .query_row(
                "SELECT value FROM secrets WHERE kind = 'Application' AND name = 'portal'",
                [],
                |row| row.get(0),
            )
            .expect("the secret is kept");
        assert_eq!(stored, SECRET, "{address}");
        let r = with(&["plan", "-f", &f, "--detailed-exitcode"]);
        assert_eq!(r.code, Some(0), "{address}: nothing left to do: {}", r.stdout);
    }
}
