//! `orgctl explain signin` as users see it: real runs of the binary against
//! the files of examples/acme and against an embedded directory in a
//! temporary folder (filled by `orgctl apply`), including `--at`.

use crate::common;

use std::path::{Path, PathBuf};

struct Env {
    dir: tempfile::TempDir,
}

use common::Run;

fn acme() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/acme")
        .display()
        .to_string()
}

impl Env {
    fn new() -> Self {
        Env {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("d.db")
    }

    fn run(&self, args: &[&str]) -> Run {
        let mut c = assert_cmd::Command::new(env!("CARGO_BIN_EXE_orgctl"));
        c.current_dir(self.dir.path())
            .env("ORGCTL_BACKEND", format!("sqlite:{}", self.db().display()))
            .env("NO_COLOR", "1")
            .env_remove("ORGCTL_LOG")
            .args(args);
        let out = c.output().expect("run orgctl");
        Run::from_output(&out, self.dir.path())
    }

    /// Writes `text` to `name` in the temp dir and returns the path.
    fn write(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path.display().to_string()
    }

    fn apply(&self, files: &str) {
        let r = self.run(&["apply", "-f", files, "--auto-approve"]);
        assert_eq!(r.code, 0, "{}", r.transcript());
    }
}

/// jonas.weber is in `admins` (policy high-risk: office ranges, totp or
/// security-key, no federated sign-in, SSO enforced through corp-sso).
const DENIED: &[&str] = &[
    "explain",
    "signin",
    "--user",
    "jonas.weber",
    "--ip",
    "8.8.8.8",
    "--mfa",
    "sms",
];

#[test]
fn allowed_sign_in_from_the_files_exits_zero() {
    let env = Env::new();
    let r = env.run(&[
        "explain",
        "signin",
        "--user",
        "priya.raman",
        "--ip",
        "198.51.100.7",
        "--mfa",
        "totp",
        "-f",
        &acme(),
    ]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    insta::assert_snapshot!("signin_allowed", r.transcript());
}

#[test]
fn denied_sign_in_lists_every_reason_in_text_and_json_and_exits_three() {
    let env = Env::new();
    let files = acme();
    let text = env.run(&[DENIED, &["-f", &files]].concat());
    assert_eq!(text.code, 3, "{}", text.transcript());
    insta::assert_snapshot!("signin_denied", text.transcript());

    let json = env.run(&[DENIED, &["-f", &files, "--output", "json"]].concat());
    assert_eq!(json.code, 3, "{}", json.transcript());
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
    let codes: Vec<&str> = v["denials"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["code"].as_str())
        .collect();
    assert_eq!(codes, ["ip-not-allowed", "mfa-mode-not-allowed", "sso-required"]);
    assert_eq!(v["allowed"], false);
    insta::assert_snapshot!("signin_denied_json", json.stdout);

    // SSO through the enforced provider from the office is allowed, without MFA.
    let sso = env.run(&[
        "explain",
        "signin",
        "--user",
        "jonas.weber",
        "--ip",
        "203.0.113.9",
        "--via",
        "corp-sso",
        "-f",
        &files,
    ]);
    assert_eq!(sso.code, 0, "{}", sso.transcript());
    assert!(sso.stdout.contains("\nAllowed.\n"), "{}", sso.stdout);
}

#[test]
fn the_live_backend_explains_the_same_as_the_files() {
    let env = Env::new();
    let files = acme();
    env.apply(&files);
    let live = env.run(DENIED);
    let from_files = env.run(&[DENIED, &["-f", &files]].concat());
    assert_eq!(live.code, 3, "{}", live.transcript());
    assert_eq!(live.stdout, from_files.stdout);
    let live_json = env.run(&[DENIED, &["--output", "json"]].concat());
    let files_json = env.run(&[DENIED, &["-f", &files, "--output", "json"]].concat());
    assert_eq!(live_json.stdout, files_json.stdout);
}

#[test]
fn unknown_user_is_an_error_with_a_suggestion() {
    let env = Env::new();
    let r = env.run(&[
        "explain",
        "signin",
        "--user",
        "jonas.webber",
        "--ip",
        "203.0.113.9",
        "-f",
        &acme(),
    ]);
    assert_eq!(r.code, 1, "{}", r.transcript());
    assert_eq!(r.stdout, "");
    assert_eq!(
        r.stderr,
        "error: user \"jonas.webber\" is not in organization \"acme\", did you mean \"jonas.weber\"?\n"
    );
}

#[test]
fn unknown_provider_is_a_denial_with_a_suggestion() {
    let env = Env::new();
    let r = env.run(&[
        "explain",
        "signin",
        "--user",
        "priya.raman",
        "--ip",
        "198.51.100.7",
        "--mfa",
        "push-app",
        "--via",
        "gooogle",
        "-f",
        &acme(),
    ]);
    assert_eq!(r.code, 3, "{}", r.transcript());
    insta::assert_snapshot!("signin_unknown_provider", r.transcript());
}

const ORG: &str = "apiVersion: orgctl.io/v1alpha1
kind: Organization
metadata: {name: acme}
spec: {superAdmin: alice}
---
apiVersion: orgctl.io/v1alpha1
kind: User
metadata: {name: alice}
spec: {organization: acme, email: alice@acme.example}
---
apiVersion: orgctl.io/v1alpha1
kind: User
metadata: {name: bob}
spec: {organization: acme, email: bob@acme.example}
---
apiVersion: orgctl.io/v1alpha1
kind: RoleBinding
metadata: {name: admins}
spec: {organization: acme, role: admin, subjects: {users: [alice]}}
---
apiVersion: orgctl.io/v1alpha1
kind: SecurityPolicy
metadata: {name: default}
spec:
  organization: acme
  default: true
  session: {lifetime: 7d}
";

/// The default policy allowing `ips`.
fn with_ips(ips: &str) -> String {
    format!("{ORG}  network: {{allowedIps: [{ips}]}}\n")
}

/// Sets the time of the audit entry of `revision` (applies in a test run
/// within one second; fixed times make `--at` deterministic).
fn set_time(db: &Path, revision: u64, time: &str) {
    let conn = rusqlite::Connection::open(db).expect("open db");
    let n = conn
        .execute(
            "UPDATE audit SET time = ?1 WHERE revision = ?2",
            rusqlite::params![time, revision as i64],
        )
        .expect("update audit");
    assert_eq!(n, 1, "one audit entry of revision {revision}");
}

#[test]
fn at_evaluates_the_organization_as_it_was_before_a_policy_change() {
    let env = Env::new();
    let first = env.write("first.yaml", &with_ips("203.0.113.0/24, 198.51.100.7"));
    env.apply(&first);
    let second = env.write("second.yaml", &with_ips("203.0.113.0/24"));
    env.apply(&second);
    set_time(&env.db(), 1, "2026-11-24T09:00:00Z");
    set_time(&env.db(), 2, "2026-11-25T09:00:00Z");
    let bob = ["explain", "signin", "--user", "bob", "--ip", "198.51.100.7"];

    let between = env.run(&[&bob[..], &["--at", "2026-11-24T12:00:00Z"]].concat());
    assert_eq!(between.code, 0, "{}", between.transcript());
    insta::assert_snapshot!("signin_at_between", between.transcript());

    // At the second of the first apply counts as after it.
    let at_first = env.run(&[&bob[..], &["--at", "2026-11-24T09:00:00Z"]].concat());
    assert_eq!(at_first.code, 0, "{}", at_first.transcript());

    let now = env.run(&bob);
    assert_eq!(now.code, 3, "{}", now.transcript());
    insta::assert_snapshot!("signin_now_denied", now.transcript());

    let after = env.run(
        &[
            &bob[..],
            &["--at", "2026-11-25T09:00:00+01:00", "--output", "json"],
        ]
        .concat(),
    );
    assert_eq!(
        after.code,
        0,
        "an hour before the second apply: {}",
        after.transcript()
    );
    let v: serde_json::Value = serde_json::from_str(&after.stdout).expect("json");
    assert_eq!(
        v["asOf"],
        serde_json::json!({"at": "2026-11-25T09:00:00+01:00", "revision": 1, "appliesUndone": 1})
    );
    assert_eq!(
        v["settings"]["allowedIps"],
        serde_json::json!(["198.51.100.7", "203.0.113.0/24"])
    );

    let later = env.run(&[&bob[..], &["--at", "2026-11-26T00:00:00Z", "--output", "json"]].concat());
    assert_eq!(later.code, 3, "{}", later.transcript());
    let v: serde_json::Value = serde_json::from_str(&later.stdout).expect("json");
    assert_eq!(v["asOf"]["appliesUndone"], 0);
    assert_eq!(v["asOf"]["revision"], 2);

    let before = env.run(&[&bob[..], &["--at", "2026-11-01T00:00:00Z"]].concat());
    assert_eq!(before.code, 1, "{}", before.transcript());
    assert_eq!(
        before.stderr,
        "error: organization \"acme\" did not exist at 2026-11-01T00:00:00Z: its first recorded change is at 2026-11-24T09:00:00Z\n"
    );

    let with_files = env.run(&[&bob[..], &["--at", "2026-11-24T12:00:00Z", "-f", &second]].concat());
    assert_eq!(with_files.code, 1, "{}", with_files.transcript());
    assert_eq!(
        with_files.stderr,
        "error: --at needs the live backend's history; it cannot be used with -f\n"
    );

    let bad_time = env.run(&[&bob[..], &["--at", "yesterday"]].concat());
    assert_ne!(bad_time.code, 0);
    assert!(
        bad_time
            .stderr
            .contains("expected an RFC 3339 time such as 2026-11-24T09:00:00Z"),
        "{}",
        bad_time.stderr
    );
}

#[test]
fn at_restores_deleted_objects_from_the_audit_log() {
    let env = Env::new();
    let strict = format!(
        "{ORG}---
apiVersion: orgctl.io/v1alpha1
kind: SecurityPolicy
metadata: {{name: strict}}
spec:
  organization: acme
  priority: 10
  targets: {{users: [bob]}}
  mfa: {{required: true}}
"
    );
    let first = env.write("first.yaml", &strict);
    env.apply(&first);
    let second = env.write("second.yaml", ORG);
    let r = env.run(&["apply", "-f", &second, "--prune", "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    set_time(&env.db(), 1, "2026-11-24T09:00:00Z");
    set_time(&env.db(), 2, "2026-11-25T09:00:00Z");
    let bob = ["explain", "signin", "--user", "bob", "--ip", "192.0.2.1"];
    let now = env.run(&bob);
    assert_eq!(now.code, 0, "the strict policy is gone: {}", now.transcript());
    let then = env.run(&[&bob[..], &["--at", "2026-11-24T12:00:00Z"]].concat());
    assert_eq!(then.code, 3, "{}", then.transcript());
    assert!(
        then.stdout
            .contains("mfa-missing: Policy \"strict\" requires a second factor"),
        "{}",
        then.stdout
    );
}

/// An allowed-IP rule written with an IPv4-mapped IPv6 network is the IPv4
/// network it carries: validate accepts it, and explain signin allows the
/// addresses inside it however they are written (validate and sign-in agree).
#[test]
fn an_ipv4_mapped_rule_allows_the_ipv4_addresses_it_carries() {
    let env = Env::new();
    let files = env.write(
        "mapped.yaml",
        "apiVersion: orgctl.io/v1alpha1
kind: Organization
metadata: {name: acme}
spec: {superAdmin: alice}
---
apiVersion: orgctl.io/v1alpha1
kind: User
metadata: {name: alice}
spec: {organization: acme, email: alice@acme.example}
---
apiVersion: orgctl.io/v1alpha1
kind: RoleBinding
metadata: {name: alice-admin}
spec: {organization: acme, role: admin, subjects: {users: [alice]}}
---
apiVersion: orgctl.io/v1alpha1
kind: SecurityPolicy
metadata: {name: office}
spec:
  organization: acme
  default: true
  network: {allowedIps: [\"::ffff:203.0.113.0/120\"]}
",
    );
    let valid = env.run(&["validate", "-f", &files]);
    assert_eq!(valid.code, 0, "{}", valid.transcript());
    for (ip, code) in [("203.0.113.5", 0), ("::ffff:203.0.113.5", 0), ("203.0.114.5", 3)] {
        let r = env.run(&["explain", "signin", "--user", "alice", "--ip", ip, "-f", &files]);
        assert_eq!(r.code, code, "{ip}: {}", r.transcript());
    }
    let denied = env.run(&[
        "explain",
        "signin",
        "--user",
        "alice",
        "--ip",
        "203.0.114.5",
        "-f",
        &files,
    ]);
    assert!(
        denied
            .stdout
            .contains("allows sign-in only from 203.0.113.0/24; 203.0.114.5 is outside them."),
        "{}",
        denied.stdout
    );
}
