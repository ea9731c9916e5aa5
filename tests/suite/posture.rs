//! `orgctl posture` and the plan's posture section as users see them: runs
//! of the binary on `examples/acme` and small organizations, against an
//! embedded directory in a temporary folder; SARIF validated against the
//! SARIF 2.1.0 JSON Schema; exceptions with and without expiry.

use crate::common;

use std::path::{Path, PathBuf};

use common::Run;

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        Env {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn run(&self, args: &[&str]) -> Run {
        let out = assert_cmd::Command::new(env!("CARGO_BIN_EXE_orgctl"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env(
                "ORGCTL_BACKEND",
                format!("sqlite:{}", self.dir.path().join("directory.db").display()),
            )
            .env("NO_COLOR", "1")
            .env_remove("ORGCTL_LOG")
            .args(args)
            .args(if args.first() == Some(&"posture") {
                &["--today", TODAY][..]
            } else {
                &[]
            })
            .output()
            .expect("run orgctl");
        Run::from_output(&out, self.dir.path())
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        p
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

const ACME: &str = "examples/acme";
const ACME_EXCEPTIONS: &str = "examples/posture/acme-exceptions.yaml";
/// The day exceptions are evaluated at, so reports do not move with the clock.
const TODAY: &str = "2026-12-01";

#[test]
fn acme_files_report_as_text() {
    let env = Env::new();
    let run = env.run(&["posture", "-f", ACME]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    insta::assert_snapshot!("acme_text", run.stdout);
}

#[test]
fn fail_on_sets_the_exit_code() {
    let env = Env::new();
    let high = env.run(&["posture", "-f", ACME, "--fail-on", "high"]);
    assert_eq!(high.code, 0, "acme has no high finding:\n{}", high.transcript());
    let medium = env.run(&["posture", "-f", ACME, "--fail-on", "medium", "-o", "json"]);
    assert_eq!(medium.code, 4, "{}", medium.transcript());
    assert_eq!(
        medium.stderr,
        "12 open findings of severity medium or higher (--fail-on medium).\n"
    );
    // Accepted findings do not count.
    let low = env.run(&[
        "posture",
        "-f",
        ACME,
        "--fail-on",
        "low",
        "--exceptions",
        ACME_EXCEPTIONS,
    ]);
    assert_eq!(low.code, 4);
    assert!(
        low.stderr
            .starts_with("12 open findings of severity low or higher"),
        "{}",
        low.stderr
    );
}

#[test]
fn json_carries_format_version_counts_and_locations() {
    let env = Env::new();
    let run = env.run(&[
        "posture",
        "-f",
        ACME,
        "-o",
        "json",
        "--exceptions",
        ACME_EXCEPTIONS,
    ]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(v["formatVersion"], 1);
    let org = &v["organizations"][0];
    assert_eq!(org["organization"], "acme");
    assert_eq!(org["source"], "files");
    assert_eq!(
        org["open"],
        serde_json::json!({"high": 0, "medium": 10, "low": 2})
    );
    assert_eq!(org["accepted"], 7);
    let mfa = org["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["check"] == "ADMIN-PASSWORD-SHORT" && f["subject"]["name"] == "kavya.reddy")
        .expect("finding");
    assert_eq!(mfa["severity"], "medium");
    assert_eq!(
        mfa["cause"],
        serde_json::json!({"kind": "SecurityPolicy", "name": "standard"})
    );
    assert_eq!(mfa["field"], "spec.password.minLength");
    assert_eq!(
        mfa["location"],
        serde_json::json!({"file": "examples/acme/security-policies.yaml", "line": 13, "col": 16})
    );
    assert_eq!(v["checks"].as_array().map(Vec::len), Some(18));
}

#[test]
fn markdown_report() {
    let env = Env::new();
    let run = env.run(&[
        "posture",
        "-f",
        ACME,
        "-o",
        "markdown",
        "--exceptions",
        ACME_EXCEPTIONS,
    ]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    insta::assert_snapshot!("acme_markdown", run.stdout);
}

fn sarif_validator() -> jsonschema::Validator {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::data("sarif/sarif-schema-2.1.0.json")).expect("schema"),
    )
    .expect("schema json");
    jsonschema::draft4::new(&schema).expect("the SARIF schema compiles")
}

fn assert_valid_sarif(text: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(text).expect("sarif json");
    let validator = sarif_validator();
    let errors: Vec<String> = validator
        .iter_errors(&v)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert_eq!(errors, Vec::<String>::new(), "SARIF is invalid");
    v
}

#[test]
fn sarif_is_valid_and_points_at_the_yaml_lines() {
    let env = Env::new();
    let run = env.run(&[
        "posture",
        "-f",
        ACME,
        "-o",
        "sarif",
        "--exceptions",
        ACME_EXCEPTIONS,
    ]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let v = assert_valid_sarif(&run.stdout);
    assert_eq!(v["version"], "2.1.0");
    let run0 = &v["runs"][0];
    assert_eq!(run0["tool"]["driver"]["rules"].as_array().map(Vec::len), Some(18));
    let results = run0["results"].as_array().expect("results");
    assert_eq!(results.len(), 19);
    let short = results
        .iter()
        .find(|r| r["ruleId"] == "ADMIN-PASSWORD-SHORT")
        .expect("result");
    assert_eq!(short["level"], "warning");
    assert_eq!(
        short["locations"][0]["physicalLocation"],
        serde_json::json!({
            "artifactLocation": {"uri": "examples/acme/security-policies.yaml"},
            "region": {"startLine": 13, "startColumn": 16}
        })
    );
    let accepted: Vec<&serde_json::Value> = results
        .iter()
        .filter(|r| r.get("suppressions").is_some())
        .collect();
    assert_eq!(accepted.len(), 7);
    assert_eq!(accepted[0]["suppressions"][0]["kind"], "external");
    // Every result names its rule by index too, as code scanning reads it.
    for r in results {
        let index = r["ruleIndex"].as_u64().expect("index") as usize;
        assert_eq!(run0["tool"]["driver"]["rules"][index]["id"], r["ruleId"]);
    }
}

#[test]
fn sarif_of_a_live_organization_is_valid_without_file_locations() {
    let env = Env::new();
    let apply = env.run(&["apply", "-f", ACME, "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.transcript());
    let run = env.run(&["posture", "-o", "sarif"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let v = assert_valid_sarif(&run.stdout);
    let results = v["runs"][0]["results"].as_array().expect("results");
    assert_eq!(results.len(), 19);
    assert!(results
        .iter()
        .all(|r| r["locations"][0].get("physicalLocation").is_none()));
    assert_eq!(
        results[0]["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
        "acme/User/claire.dubois"
    );
}

#[test]
fn files_and_live_side_by_side() {
    let env = Env::new();
    // Not applied yet: the files are checked and the backend says so.
    let before = env.run(&["posture", "-f", ACME, "--live", "-o", "json"]);
    assert_eq!(before.code, 1, "no directory yet:\n{}", before.transcript());
    assert!(before.stderr.contains("does not exist"), "{}", before.stderr);
    let apply = env.run(&["apply", "-f", ACME, "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.transcript());
    let run = env.run(&["posture", "-f", ACME, "--live", "-o", "json"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    let sources: Vec<&str> = v["organizations"]
        .as_array()
        .expect("orgs")
        .iter()
        .map(|o| o["source"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(sources, ["files", "live"]);
    let count = |i: usize| v["organizations"][i]["findings"].as_array().map(Vec::len);
    assert_eq!(count(0), count(1), "the live organization is what the files say");
}

#[test]
fn exceptions_accept_findings_until_they_expire() {
    let env = Env::new();
    let exceptions = env.write(
        "exceptions.yaml",
        "apiVersion: orgctl.io/v1alpha1
kind: PostureException
metadata: {name: standing}
spec:
  organization: acme
  check: ADMIN-PASSWORD-SHORT
  objects: [SecurityPolicy/standard]
  reason: SSO rollout replaces passwords
---
apiVersion: orgctl.io/v1alpha1
kind: PostureException
metadata: {name: until-2099}
spec:
  organization: acme
  check: ADMIN-ANY-ADDRESS
  objects: [User/kavya.reddy]
  reason: travels
  expires: 2099-12-31
---
apiVersion: orgctl.io/v1alpha1
kind: PostureException
metadata: {name: lapsed}
spec:
  organization: acme
  check: ADMIN-ANY-ADDRESS
  objects: [User/claire.dubois]
  reason: travelled
  expires: 2020-01-01
",
    );
    let run = env.run(&["posture", "-f", ACME, "--exceptions", s(&exceptions)]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let block = |check: &str, user: &str| -> String {
        let head = format!("{check} user \"{user}\"");
        run.stdout
            .split("\n\n")
            .find(|b| b.contains(&head))
            .unwrap_or_else(|| panic!("no {head} in:\n{}", run.stdout))
            .to_string()
    };
    assert_eq!(
        block("ADMIN-PASSWORD-SHORT", "kavya.reddy"),
        "  ACCEPTED ADMIN-PASSWORD-SHORT user \"kavya.reddy\"
           at examples/acme/security-policies.yaml:13:16
           admin (custom role) \"kavya.reddy\" may use a password of 10 characters under policy \"standard\" (12 at least for admins)
           accepted by exception \"standing\": SSO rollout replaces passwords"
    );
    assert!(block("ADMIN-ANY-ADDRESS", "kavya.reddy")
        .ends_with("accepted by exception \"until-2099\" until 2099-12-31: travels"));
    let lapsed = block("ADMIN-ANY-ADDRESS", "claire.dubois");
    assert!(lapsed.starts_with("  MEDIUM   ADMIN-ANY-ADDRESS"), "{lapsed}");
    assert!(
        lapsed.ends_with("exception \"lapsed\" expired on 2020-01-01; reported again"),
        "{lapsed}"
    );
    assert!(run
        .stdout
        .starts_with("Posture of organization \"acme\" (files): 0 high, 9 medium, 7 low, 3 accepted\n"));
}

#[test]
fn exception_files_are_validated_with_every_problem_located() {
    let env = Env::new();
    let bad = env.write(
        "bad.yaml",
        "apiVersion: orgctl.io/v1alpha1
kind: PostureException
metadata: {name: typo}
spec:
  organization: acme
  check: ADMIN-MFA-NOT-REQUIRD
  objects: [Usr/ann, bob]
  reson: because
  expires: 2027-02-30
---
apiVersion: orgctl.io/v1alpha1
kind: PostureExeption
metadata: {name: other}
spec: {organization: acme, check: ORPHANED-ADMIN, objects: [User/ann], reason: ok}
---
apiVersion: orgctl.io/v1alpha1
kind: PostureException
metadata: {name: dup}
spec: {organization: acme, check: ORPHANED-ADMIN, objects: [User/ann], reason: ok}
---
apiVersion: orgctl.io/v1alpha1
kind: PostureException
metadata: {name: dup}
spec: {organization: acme, check: ORPHANED-ADMIN, objects: [User/ann], reason: ok}
",
    );
    let run = env.run(&["posture", "-f", ACME, "--exceptions", s(&bad)]);
    assert_eq!(run.code, 1);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "error: [TMP]/bad.yaml:6:10: spec.check: unknown posture check \"ADMIN-MFA-NOT-REQUIRD\", did you mean \"ADMIN-MFA-NOT-REQUIRED\"?
error: [TMP]/bad.yaml:7:13: spec.objects[0]: unknown kind \"Usr\", did you mean \"User\"?
error: [TMP]/bad.yaml:7:22: spec.objects[1]: expected Kind/name (e.g. User/ann), found \"bob\"
error: [TMP]/bad.yaml:8:3: spec.reson: unknown field \"reson\", did you mean \"reason\"?
error: [TMP]/bad.yaml:9:12: spec.expires: invalid date \"2027-02-30\": expected YYYY-MM-DD
error: [TMP]/bad.yaml:12:7: kind: unknown kind \"PostureExeption\" in a posture exceptions file; expected \"PostureException\"
error: [TMP]/bad.yaml:21:1: metadata.name: duplicate posture exception \"dup\" in organization \"acme\" (first defined at [TMP]/bad.yaml:16:1)
7 problems found in 1 file; nothing was changed.
"
    );
}

const SMALL: &str = "apiVersion: orgctl.io/v1alpha1
kind: Organization
metadata: {name: small}
spec: {displayName: Small, superAdmin: root}
---
apiVersion: orgctl.io/v1alpha1
kind: User
metadata: {name: root}
spec: {organization: small, email: root@small.example}
---
apiVersion: orgctl.io/v1alpha1
kind: User
metadata: {name: ann}
spec: {organization: small, email: ann@small.example}
---
apiVersion: orgctl.io/v1alpha1
kind: RoleBinding
metadata: {name: admins}
spec: {organization: small, role: admin, subjects: {users: [root, ann]}}
---
apiVersion: orgctl.io/v1alpha1
kind: SecurityPolicy
metadata: {name: everyone}
spec:
  organization: small
  default: true
  password: {minLength: 14, historyCount: 5}
  mfa: {required: true, modes: [totp]}
  network: {allowedIps: [203.0.113.0/24]}
";

#[test]
fn plan_shows_the_posture_delta_and_fail_on_posture_refuses_it() {
    let env = Env::new();
    let org = env.write("small.yaml", SMALL);
    let apply = env.run(&["apply", "-f", s(&org), "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.transcript());
    // No posture change: no section, and the gate lets it through.
    let same = env.run(&["plan", "-f", s(&org), "--fail-on-posture", "high"]);
    assert_eq!(same.code, 0, "{}", same.transcript());
    assert!(!same.stdout.contains("Security posture"), "{}", same.stdout);

    let weaker = env.write("weaker.yaml", &SMALL.replace("required: true", "required: false"));
    let plan = env.run(&["plan", "-f", s(&weaker)]);
    assert_eq!(plan.code, 0, "{}", plan.transcript());
    let section: Vec<&str> = plan
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("Security posture"))
        .take(3)
        .collect();
    assert_eq!(
        section,
        [
            "Security posture: this plan introduces 2 findings and resolves 0.",
            "  + [high] ADMIN-MFA-NOT-REQUIRED user \"ann\": admin \"ann\" signs in under policy \"everyone\", which does not require MFA",
            "  + [high] ADMIN-MFA-NOT-REQUIRED user \"root\": super admin \"root\" signs in under policy \"everyone\", which does not require MFA",
        ]
    );
    let json = env.run(&["plan", "-f", s(&weaker), "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
    let introduced = &v["organizations"][0]["impact"]["posture"]["introduced"];
    assert_eq!(introduced.as_array().map(Vec::len), Some(2));
    assert_eq!(introduced[0]["check"], "ADMIN-MFA-NOT-REQUIRED");
    let md = env.run(&["plan", "-f", s(&weaker), "-o", "markdown"]);
    assert!(
        md.stdout.contains("**Security posture: this plan introduces 2 findings and resolves 0.**\n\n- introduced: [high] ADMIN-MFA-NOT-REQUIRED user \"ann\""),
        "{}",
        md.stdout
    );

    let refused = env.run(&["plan", "-f", s(&weaker), "--fail-on-posture", "high"]);
    assert_eq!(refused.code, 1, "{}", refused.transcript());
    assert!(
        refused.stdout.contains("Security posture"),
        "the plan is still shown"
    );
    assert_eq!(
        refused.stderr,
        "error: the plan introduces posture finding ADMIN-MFA-NOT-REQUIRED (high) on user \"ann\" of organization \"small\": admin \"ann\" signs in under policy \"everyone\", which does not require MFA
error: the plan introduces posture finding ADMIN-MFA-NOT-REQUIRED (high) on user \"root\" of organization \"small\": super admin \"root\" signs in under policy \"everyone\", which does not require MFA
The plan is refused by --fail-on-posture; nothing was changed.
"
    );
    let apply = env.run(&[
        "apply",
        "-f",
        s(&weaker),
        "--auto-approve",
        "--fail-on-posture",
        "high",
    ]);
    assert_eq!(apply.code, 1, "{}", apply.transcript());

    // Accepted for the policy: the plan goes through and says so.
    let exceptions = env.write(
        "exceptions.yaml",
        "apiVersion: orgctl.io/v1alpha1
kind: PostureException
metadata: {name: mfa-later}
spec: {organization: small, check: ADMIN-MFA-NOT-REQUIRED, objects: [SecurityPolicy/everyone], reason: new tokens arrive next week, expires: 2099-01-31}
",
    );
    let accepted = env.run(&[
        "plan",
        "-f",
        s(&weaker),
        "--fail-on-posture",
        "high",
        "--exceptions",
        s(&exceptions),
    ]);
    assert_eq!(accepted.code, 0, "{}", accepted.transcript());
    assert!(
        accepted
            .stdout
            .contains("which does not require MFA (accepted by exception \"mfa-later\")"),
        "{}",
        accepted.stdout
    );
}

#[test]
fn an_exception_that_accepts_nothing_is_pointed_out_with_a_did_you_mean() {
    let env = Env::new();
    let exceptions = env.write(
        "exceptions.yaml",
        "apiVersion: orgctl.io/v1alpha1
kind: PostureException
metadata: {name: typo}
spec:
  organization: acme
  check: ADMIN-ANY-ADDRESS
  objects: [User/kavya.redy]
  reason: travels
---
apiVersion: orgctl.io/v1alpha1
kind: PostureException
metadata: {name: nothing-to-accept}
spec:
  organization: acme
  check: ADMIN-ANY-ADDRESS
  objects: [User/jonas.weber]
  reason: no finding of this check concerns him
",
    );
    let run = env.run(&["posture", "-f", ACME, "--exceptions", s(&exceptions)]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let warnings: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("accepts no finding"))
        .collect();
    assert_eq!(warnings.len(), 2, "{}", run.stderr);
    assert!(
        warnings[0].ends_with(
            "exception \"typo\" accepts no finding: organization \"acme\" has no user \"kavya.redy\" (did you mean \"kavya.reddy\"?)"
        ),
        "{}",
        warnings[0]
    );
    assert!(warnings[0].contains("exceptions.yaml:"), "{}", warnings[0]);
    assert!(
        warnings[1].ends_with(
            "exception \"nothing-to-accept\" accepts no finding: no ADMIN-ANY-ADDRESS finding concerns the objects it names"
        ),
        "{}",
        warnings[1]
    );
}
