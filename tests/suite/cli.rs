//! CLI behaviour as users see it: exit codes, stdout and stderr of real runs
//! of the binary against an embedded directory in a temporary folder.

use crate::common;
mod help;

use std::path::{Path, PathBuf};

const SECRET: &str = "s3cr3t-portal-value";

struct Env {
    dir: tempfile::TempDir,
}

use common::{data, Run};

impl Env {
    fn new() -> Self {
        Env {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("directory.db")
    }

    fn cmd(&self) -> assert_cmd::Command {
        let mut c = assert_cmd::Command::new(env!("CARGO_BIN_EXE_orgctl"));
        c.current_dir(self.dir.path())
            .env("ORGCTL_BACKEND", format!("sqlite:{}", self.db().display()))
            .env("ORGCTL_TEST_PORTAL_SECRET", SECRET)
            .env("NO_COLOR", "1")
            .env_remove("ORGCTL_LOG");
        c
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, None)
    }

    fn run_with(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let mut c = self.cmd();
        c.args(args);
        if let Some(s) = stdin {
            c.write_stdin(s);
        }
        let out = c.output().expect("run orgctl");
        let run = Run::from_output(&out, self.dir.path());
        assert!(
            !run.stdout.contains(SECRET) && !run.stderr.contains(SECRET),
            "a secret value was printed:\n{}",
            run.transcript()
        );
        run
    }

    /// Copies a data folder into the temp dir so tests can edit it.
    fn copy(&self, rel: &str) -> PathBuf {
        common::copy_data(rel, self.dir.path())
    }
}

fn small() -> String {
    data("small").display().to_string()
}

#[test]
fn apply_without_terminal_or_auto_approve_is_refused() {
    let env = Env::new();
    let r = env.run(&["apply", "-f", &small()]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("pass --auto-approve"), "{}", r.stderr);
    let plan = env.run(&["plan", "-f", &small(), "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "nothing was applied");
}

#[test]
fn dry_run_writes_nothing() {
    let env = Env::new();
    let r = env.run(&["apply", "-f", &small(), "--dry-run", "--detailed-exitcode"]);
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(!env.db().exists(), "a dry run creates no directory");
}

#[test]
fn invalid_files_exit_one_and_never_touch_the_backend() {
    let env = Env::new();
    let bad = env.dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: orgctl.io/v1alpha1\nkind: User\nmetadata: {name: x}\nspec:\n  organization: acme\n  emial: x@acme.example\n",
    )
    .expect("write");
    let r = env.run(&["apply", "-f", "bad.yaml", "--auto-approve"]);
    insta::assert_snapshot!("invalid_apply", r.transcript());
    assert!(!env.db().exists(), "the directory file was not even created");
}

#[test]
fn history_lists_applied_changes_with_secrets_redacted() {
    let env = Env::new();
    env.run(&["apply", "-f", &small(), "--auto-approve"]);
    let r = env.run(&["history"]);
    let text = regex_time(&r.stdout);
    insta::assert_snapshot!("history", text);
    let db = std::fs::read(env.db()).expect("db");
    let audit_has_secret = String::from_utf8_lossy(&db).contains("sensitive value");
    assert!(
        audit_has_secret,
        "the audit log marks the secret change as sensitive"
    );
    // An update shows each field before and after, sets as added/removed.
    let work = env.copy("small");
    let people = work.join("people.yaml");
    let text = std::fs::read_to_string(&people).expect("read");
    let text = text.replace("department: Sales", "department: Finance");
    std::fs::write(
        &people,
        text.replace("members: {users: [bob]}", "members: {users: [alice]}"),
    )
    .expect("write");
    let r = env.run(&["apply", "-f", "small", "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    let r = env.run(&["history", "--org", "acme", "--limit", "1"]);
    insta::assert_snapshot!("history_update", regex_time(&r.stdout));
}

fn regex_time(s: &str) -> String {
    let re = regex::Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z").expect("regex");
    re.replace_all(s, "[TIME]").into_owned()
}

#[test]
fn missing_secret_is_a_clear_error() {
    let env = Env::new();
    let out = env
        .cmd()
        .env_remove("ORGCTL_TEST_PORTAL_SECRET")
        .args(["plan", "-f", &small()])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr).replace(env!("CARGO_MANIFEST_DIR"), "[REPO]");
    insta::assert_snapshot!("missing_secret", stderr);
}

#[test]
fn changing_a_secret_shows_it_as_sensitive() {
    let env = Env::new();
    env.run(&["apply", "-f", &small(), "--auto-approve"]);
    let out = env
        .cmd()
        .env("ORGCTL_TEST_PORTAL_SECRET", "rotated-value-123")
        .args(["plan", "-f", &small()])
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("rotated-value-123"));
    insta::assert_snapshot!("secret_rotation", stdout);
}

#[test]
fn stdin_is_read_with_dash() {
    let env = Env::new();
    let text: String = ["org.yaml", "people.yaml"]
        .iter()
        .map(|f| std::fs::read_to_string(data("small").join(f)).expect("read") + "---\n")
        .collect();
    let r = env.run_with(&["validate", "-f", "-"], Some(&text));
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert_eq!(r.stdout, "The files are valid: 8 objects in 1 organization.\n");
}

#[test]
fn plan_renders_json_and_markdown() {
    let env = Env::new();
    let r = env.run(&["plan", "-f", &small(), "--output", "json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(v["formatVersion"], 1);
    assert_eq!(v["organizations"][0]["changes"].as_array().map(Vec::len), Some(8));
    let r = env.run(&["plan", "-f", &small(), "--output", "markdown"]);
    assert!(
        r.stdout
            .starts_with("### orgctl plan: 8 to add, 0 to change, 0 to destroy"),
        "{}",
        r.stdout
    );
}

#[test]
fn diff_shows_unified_yaml_of_live_and_desired() {
    let env = Env::new();
    env.run(&["apply", "-f", &small(), "--auto-approve"]);
    let work = env.copy("small");
    let people = work.join("people.yaml");
    let text = std::fs::read_to_string(&people).expect("read");
    std::fs::write(&people, text.replace("department: Sales", "department: Finance")).expect("write");
    let r = env.run(&["diff", "-f", "small", "--detailed-exitcode"]);
    assert_eq!(r.code, 2, "{}", r.transcript());
    insta::assert_snapshot!("diff", r.stdout);
}

#[test]
fn adopting_an_unmanaged_object_needs_adopt() {
    let env = Env::new();
    // Someone created bob by hand: apply only bob's org without him as managed…
    env.run(&["apply", "-f", &small(), "--auto-approve"]);
    let conn = rusqlite::Connection::open(env.db()).expect("open db");
    conn.execute(
        "UPDATE objects SET managed = 0 WHERE kind = 'User' AND name = 'bob'",
        [],
    )
    .expect("mark unmanaged");
    drop(conn);
    let work = env.copy("small");
    let people = work.join("people.yaml");
    let text = std::fs::read_to_string(&people).expect("read");
    std::fs::write(&people, text.replace("firstName: Bob", "firstName: Robert")).expect("write");
    let r = env.run(&["plan", "-f", "small"]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr,
        "error: user \"bob\" already exists in organization \"acme\" but is not managed by orgctl; re-run with --adopt to take it over\n"
    );
    let r = env.run(&["apply", "-f", "small", "--adopt", "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    let r = env.run(&["plan", "-f", "small", "--detailed-exitcode"]);
    assert_eq!(
        r.code,
        0,
        "adopted objects are managed from now on: {}",
        r.transcript()
    );
}

#[test]
fn schema_prints_one_kind_and_suggests_on_typos() {
    let env = Env::new();
    let r = env.run(&["schema", "User"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("schema json");
    assert_eq!(v["properties"]["kind"]["const"], "User");
    let r = env.run(&["schema", "Usr"]);
    assert_eq!(r.code, 1);
    assert_eq!(r.stderr, "error: unknown kind \"Usr\", did you mean \"User\"?\n");
    let r = env.run(&["schema"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("schema json");
    assert_eq!(v["oneOf"].as_array().map(Vec::len), Some(9));
}

#[test]
fn killed_apply_leaves_the_directory_as_before() {
    let env = Env::new();
    let dir = env.dir.path().join("big");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let params = orgctl::synth::SynthParams::benchmark(20_000);
    for s in orgctl::synth::generate(&params) {
        let name = Path::new(&s.name).file_name().expect("file name").to_owned();
        std::fs::write(dir.join(name), s.text).expect("write");
    }
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_orgctl"))
        .current_dir(env.dir.path())
        .env("ORGCTL_BACKEND", format!("sqlite:{}", env.db().display()))
        .args(["apply", "-f", "big", "--auto-approve"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    // Kill it once the write transaction has begun (the WAL file appears).
    let wal = env.dir.path().join("directory.db-wal");
    let start = std::time::Instant::now();
    while !wal.exists() && start.elapsed() < std::time::Duration::from_secs(60) {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    std::thread::sleep(std::time::Duration::from_millis(30));
    child.kill().expect("kill");
    let _ = child.wait();
    let conn = rusqlite::Connection::open(env.db()).expect("open");
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("check");
    assert_eq!(check, "ok");
    let count: i64 = conn
        .query_row("SELECT count(*) FROM objects", [], |r| r.get(0))
        .unwrap_or(0);
    drop(conn);
    let total: usize = 1 + params.users + params.groups + params.apps + params.rules + params.roles;
    assert!(
        count == 0 || count as usize >= total,
        "all or nothing, found {count} objects"
    );
    // The next apply converges.
    let r = env.run(&["apply", "-f", "big", "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    let r = env.run(&["plan", "-f", "big", "--detailed-exitcode"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
}

#[test]
fn the_examples_schema_file_is_what_orgctl_schema_prints() {
    let env = Env::new();
    let r = env.run(&["schema"]);
    let committed =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/orgctl.schema.json"))
            .expect("examples/orgctl.schema.json");
    assert!(
        committed == r.stdout,
        "examples/orgctl.schema.json is out of date: run `cargo run -- schema > examples/orgctl.schema.json`"
    );
}

#[test]
fn semantically_invalid_files_do_not_create_the_directory() {
    let env = Env::new();
    let bad = env.dir.path().join("bad.yaml");
    let text = std::fs::read_to_string(data("small/org.yaml")).expect("read");
    std::fs::write(&bad, text.replace("minLength: 10", "minLength: 6")).expect("write");
    let r = env.run(&["plan", "-f", "bad.yaml"]);
    assert_eq!(r.code, 1, "{}", r.transcript());
    assert!(r.stderr.contains("must be at least 8, found 6"), "{}", r.stderr);
    assert!(!env.db().exists(), "reading the live state created nothing");
}

#[test]
fn export_and_history_reject_bad_organization_names() {
    let env = Env::new();
    let r = env.run(&["export", "--org", "Acme Corp"]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr,
        "error: --org: invalid name \"Acme Corp\": expected at most 63 lowercase letters, digits, '-' or '.', starting and ending with a letter or digit\n"
    );
    assert_eq!(env.run(&["apply", "-f", &small(), "--auto-approve"]).code, 0);
    let r = env.run(&["export", "--org", "nosuch"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .starts_with("error: organization \"nosuch\" does not exist in sqlite:"),
        "{}",
        r.stderr
    );
    let r = env.run(&["history", "--org", "UPPER"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.starts_with("error: --org: invalid name \"UPPER\""),
        "{}",
        r.stderr
    );
}

#[test]
fn explain_user_shows_apps_policy_and_admin_rights_from_files_and_live() {
    let env = Env::new();
    let from_files = env.run(&["explain", "user", "bob", "-f", &small()]);
    assert_eq!(from_files.code, 0, "{}", from_files.transcript());
    insta::assert_snapshot!("explain_bob", from_files.stdout);
    env.run(&["apply", "-f", &small(), "--auto-approve"]);
    let live = env.run(&["explain", "user", "bob"]);
    assert_eq!(live.code, 0, "{}", live.transcript());
    assert_eq!(
        live.stdout, from_files.stdout,
        "the live directory explains the same"
    );
    let json = env.run(&["explain", "user", "alice", "--output", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
    assert_eq!(v["admin"]["superAdmin"], true);
    assert_eq!(v["policy"]["effective"]["policy"], "default");
    let r = env.run(&["explain", "user", "bobb"]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr,
        "error: user \"bobb\" is not in organization \"acme\", did you mean \"bob\"?\n"
    );
}

/// Replaces `from` by `to` in a copied file, failing when `from` is absent.
fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).expect("read");
    assert!(text.contains(from), "{from:?} not in {}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).expect("write");
}

/// Copies examples/acme into the temp dir.
fn acme(env: &Env) -> PathBuf {
    let to = env.dir.path().join("acme");
    std::fs::create_dir_all(&to).expect("mkdir");
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/acme");
    for e in std::fs::read_dir(from).expect("read acme") {
        let p = e.expect("entry").path();
        std::fs::copy(&p, to.join(p.file_name().expect("name"))).expect("copy");
    }
    to
}

#[test]
fn editing_an_acme_rule_and_policy_shows_who_gains_and_loses_what() {
    let env = Env::new();
    let dir = acme(&env);
    let files = dir.display().to_string();
    let first = env.run(&["apply", "-f", &files, "--auto-approve"]);
    assert_eq!(first.code, 0, "{}", first.transcript());
    assert!(first.stdout.contains("App assignments of"), "{}", first.stdout);
    let noop = env.run(&["plan", "-f", &files, "--detailed-exitcode"]);
    assert_eq!(noop.code, 0, "{}", noop.transcript());

    // The walk-through of the README: CRM for Marketing too, and the
    // standard policy only from the Berlin office.
    edit(
        &dir.join("app-assignments.yaml"),
        "    field: department\n    op: equals\n    value: Sales\n  exclude:",
        "    field: department\n    op: in\n    values: [Sales, Support]\n  exclude:",
    );
    edit(
        &dir.join("security-policies.yaml"),
        "  federatedSignIn:\n    allowed: true\n    providers: [google]",
        "  federatedSignIn:\n    allowed: true\n    providers: [google]\n  network:\n    allowedIps: [203.0.113.0/24]",
    );
    let plan = env.run(&["plan", "-f", &files, "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{}", plan.transcript());
    insta::assert_snapshot!("acme_walkthrough_plan", plan.stdout);
    let md = env.run(&["plan", "-f", &files, "--output", "markdown"]);
    assert!(md.stdout.contains("**Access impact:"), "{}", md.stdout);
    let json = env.run(&["plan", "-f", &files, "--output", "json", "--impact-detail"]);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
    let impact = &v["organizations"][0]["impact"];
    let crm_gained = impact["apps"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["app"] == "crm"))
        .map(|x| x["gained"].clone())
        .expect("crm gained");
    assert_eq!(
        crm_gained["count"].as_u64(),
        crm_gained["names"].as_array().map(|n| n.len() as u64),
        "--impact-detail lists every user"
    );
    let applied = env.run(&["apply", "-f", &files, "--auto-approve"]);
    assert_eq!(applied.code, 0, "{}", applied.transcript());
    let again = env.run(&["plan", "-f", &files, "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{}", again.transcript());
}

#[test]
fn a_policy_that_would_refuse_my_address_needs_force() {
    let env = Env::new();
    let dir = acme(&env);
    let files = dir.display().to_string();
    assert_eq!(env.run(&["apply", "-f", &files, "--auto-approve"]).code, 0);
    // The super admin is on high-risk; drop the Berlin office from it.
    edit(
        &dir.join("security-policies.yaml"),
        "      - 203.0.113.0/24            # Berlin office\n",
        "",
    );
    let refused = env.run(&["apply", "-f", &files, "--auto-approve", "--my-ip", "203.0.113.9"]);
    assert_eq!(refused.code, 1, "{}", refused.transcript());
    insta::assert_snapshot!("guard_my_ip_refused", refused.transcript());
    let other = env.run(&["plan", "-f", &files, "--my-ip", "198.51.100.7"]);
    assert_eq!(
        other.code,
        0,
        "an address still allowed passes: {}",
        other.transcript()
    );
    let forced = env.run(&[
        "apply",
        "-f",
        &files,
        "--auto-approve",
        "--my-ip",
        "203.0.113.9",
        "--force",
    ]);
    assert_eq!(forced.code, 0, "{}", forced.transcript());
    assert!(
        forced
            .stdout
            .contains("Warning: lockout guard overridden with --force"),
        "{}",
        forced.stdout
    );
}

#[test]
fn losing_my_own_admin_rights_needs_force() {
    let env = Env::new();
    let dir = env.copy("small");
    let files = dir.display().to_string();
    assert_eq!(env.run(&["apply", "-f", &files, "--auto-approve"]).code, 0);
    // bob becomes super admin; alice keeps no admin binding.
    edit(&dir.join("org.yaml"), "superAdmin: alice", "superAdmin: bob");
    edit(
        &dir.join("org.yaml"),
        "subjects: {users: [alice]}",
        "subjects: {users: [bob]}",
    );
    let refused = env.run(&["plan", "-f", &files, "--as", "alice"]);
    assert_eq!(refused.code, 1, "{}", refused.transcript());
    insta::assert_snapshot!("guard_losing_my_admin_rights", refused.stderr);
    let plan = env.run(&["plan", "-f", &files]);
    assert_eq!(plan.code, 0, "{}", plan.transcript());
    assert!(
        plan.stdout
            .contains("super admin moves from \"alice\" to \"bob\""),
        "{}",
        plan.stdout
    );
}

#[test]
fn users_made_in_the_backend_get_their_apps_and_hand_made_grants_are_never_touched() {
    use orgctl::backend::{Write, WriteRequest};
    let env = Env::new();
    let dir = env.copy("small");
    let files = dir.display().to_string();
    assert_eq!(env.run(&["apply", "-f", &files, "--auto-approve"]).code, 0);

    // An admin, in the backend's console: a new Sales user, and a hand-made
    // portal grant for bob (who also gets portal from the sales rule).
    let address = format!("sqlite:{}", env.db().display());
    let acme: orgctl::model::Name = "acme".parse().expect("name");
    {
        let mut b = orgctl::backend::open(&address).expect("open");
        let spec = orgctl::model::Spec::from_json(
            orgctl::model::Kind::User,
            serde_json::json!({"organization": "acme", "email": "carl@acme.example", "department": "Sales"}),
        )
        .expect("spec");
        let rev = b.snapshot(&acme).expect("snapshot").revision;
        let writes = vec![
            Write::Put {
                kind: orgctl::model::Kind::User,
                name: "carl".parse().expect("name"),
                spec,
                secrets: Default::default(),
                managed: false,
                expected: None,
                changed: None,
            },
            Write::ManualGrant {
                user: "bob".parse().expect("name"),
                app: "portal".parse().expect("name"),
                role: Some("admin".parse().expect("name")),
            },
        ];
        b.write(
            WriteRequest {
                organization: acme.clone(),
                expected_revision: rev,
                writes,
                audit: Vec::new(),
            },
            &mut |_| {},
        )
        .expect("console writes");
    }
    let plan = env.run(&["plan", "-f", &files, "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{}", plan.transcript());
    assert!(
        plan.stdout.contains("1 user gets app \"portal\" as user: carl"),
        "{}",
        plan.stdout
    );
    assert_eq!(env.run(&["apply", "-f", &files, "--auto-approve"]).code, 0);
    assert_eq!(env.run(&["plan", "-f", &files, "--detailed-exitcode"]).code, 0);

    // The rule now targets Finance: carl loses what the rule gave; bob keeps
    // the grant made by hand (and the plan does not claim he loses portal).
    edit(&dir.join("people.yaml"), "value: Sales}", "value: Finance}");
    let plan = env.run(&["plan", "-f", &files]);
    assert!(
        plan.stdout
            .contains("1 user loses app \"portal\" (was user): carl"),
        "{}",
        plan.stdout
    );
    assert_eq!(env.run(&["apply", "-f", &files, "--auto-approve"]).code, 0);
    let b = orgctl::backend::open(&address).expect("open");
    let live = b.snapshot(&acme).expect("snapshot");
    assert!(live.grants.of_user("carl").is_empty());
    assert!(live.grants.of_user("bob").is_empty());
    assert_eq!(live.grants.manual["bob"]["portal"].as_str(), "admin");
}

#[test]
fn bad_guard_flags_are_refused_with_the_reason() {
    let env = Env::new();
    let files = small();
    let bad_name = env.run(&["plan", "-f", &files, "--as", "Not A Name"]);
    let unknown = env.run(&["plan", "-f", &files, "--as", "carol"]);
    let bad_ip = env.run(&["plan", "-f", &files, "--my-ip", "10.0.0.300"]);
    assert_eq!((bad_name.code, unknown.code, bad_ip.code), (1, 1, 1));
    insta::assert_snapshot!(
        "bad_guard_flags",
        format!(
            "{}\n{}\n{}",
            bad_name.transcript(),
            unknown.transcript(),
            bad_ip.transcript()
        )
    );
}

#[test]
fn usage_errors_exit_one_even_with_detailed_exitcode() {
    let env = Env::new();
    let r = env.run(&["plan", "-f", &small(), "--bogus-flag", "--detailed-exitcode"]);
    assert_eq!(r.code, 1, "{}", r.transcript());
    assert!(
        r.stderr
            .starts_with("error: unexpected argument '--bogus-flag' found"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.is_empty());
    let help = env.run(&["plan", "--help"]);
    assert_eq!(help.code, 0, "help is not an error");
}

#[test]
fn markdown_output_is_a_usage_error_where_there_is_no_markdown_form() {
    let env = Env::new();
    for args in [
        vec!["validate", "-f", "x.yaml", "-o", "markdown"],
        vec!["history", "-o", "markdown"],
        vec!["explain", "user", "alice", "-o", "markdown"],
        vec![
            "explain",
            "signin",
            "--user",
            "alice",
            "--ip",
            "192.0.2.1",
            "-o",
            "markdown",
        ],
    ] {
        let r = env.run(&args);
        assert_eq!(r.code, 1, "{args:?}: {}", r.transcript());
        assert!(
            r.stderr.starts_with(
                "error: invalid value 'markdown' for '--output <OUTPUT>'\n  [possible values: text, json]"
            ),
            "{args:?}: {}",
            r.stderr
        );
    }
    let plan = env.run(&["plan", "-f", &small(), "-o", "markdown"]);
    assert_eq!(plan.code, 0, "plan has a Markdown form: {}", plan.transcript());
}

/// The small organization with the portal's secret read from `file`.
fn small_with_secret_file(env: &Env, file: &str) -> PathBuf {
    let work = env.copy("small");
    let people = work.join("people.yaml");
    let text = std::fs::read_to_string(&people).expect("read");
    let text = text.replace(
        "clientSecret: {fromEnv: ORGCTL_TEST_PORTAL_SECRET}",
        &format!("clientSecret: {{fromFile: {file}}}"),
    );
    std::fs::write(&people, text).expect("write");
    work
}

#[test]
fn a_missing_secret_is_reported_at_its_line_and_column() {
    let env = Env::new();
    let r = env
        .cmd()
        .env_remove("ORGCTL_TEST_PORTAL_SECRET")
        .args(["plan", "-f", &small()])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&r.stderr).replace(env!("CARGO_MANIFEST_DIR"), "[REPO]");
    assert_eq!(
        stderr,
        "error: [REPO]/tests/data/small/people.yaml:35:29: spec.oidc.clientSecret: environment variable ORGCTL_TEST_PORTAL_SECRET is not set (application \"portal\")\n"
    );
}

#[test]
fn from_file_reads_regular_files_of_bounded_size_only() {
    let env = Env::new();
    // A device that never ends.
    let work = small_with_secret_file(&env, "/dev/zero");
    let r = env.run(&["plan", "-f", &work.display().to_string()]);
    assert_eq!(r.code, 1, "{}", r.transcript());
    assert!(
        r.stderr.ends_with(
            "spec.oidc.clientSecret: cannot read /dev/zero: it is a device, not a regular file; fromFile reads a regular file holding the value (application \"portal\")\n"
        ),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("people.yaml:35:30: "), "{}", r.stderr);
    // A file far larger than any secret.
    let big = env.dir.path().join("big.pem");
    std::fs::write(&big, vec![b'x'; 2 * 1024 * 1024]).expect("write");
    let work = small_with_secret_file(&env, &big.display().to_string());
    let r = env.run(&["plan", "-f", &work.display().to_string()]);
    assert_eq!(r.code, 1, "{}", r.transcript());
    assert!(
        r.stderr
            .contains("big.pem: it is larger than 1024 KiB; fromFile reads a file holding one value"),
        "{}",
        r.stderr
    );
    // A directory.
    let work = small_with_secret_file(&env, ".");
    let r = env.run(&["plan", "-f", &work.display().to_string()]);
    assert!(
        r.stderr.contains(": it is a directory, not a regular file;"),
        "{}",
        r.stderr
    );
}

#[cfg(unix)]
#[test]
fn from_file_refuses_a_fifo_instead_of_waiting_on_it() {
    let env = Env::new();
    let fifo = env.dir.path().join("secret.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let work = small_with_secret_file(&env, &fifo.display().to_string());
    let out = env
        .cmd()
        .args(["plan", "-f", &work.display().to_string()])
        .timeout(std::time::Duration::from_secs(20))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "a FIFO must not block the plan");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("secret.fifo: it is a FIFO (named pipe), not a regular file;"),
        "{stderr}"
    );
}

#[test]
fn every_json_output_carries_its_format_version() {
    let env = Env::new();
    let bad = env.dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: orgctl.io/v1alpha1\nkind: User\nmetadata: {name: x}\nspec: {}\n",
    )
    .expect("write");
    let runs: Vec<Vec<&str>> = vec![
        vec!["validate", "-f", "bad.yaml", "-o", "json"],
        vec!["plan", "-f", "SMALL", "-o", "json"],
        vec!["apply", "-f", "SMALL", "--dry-run", "-o", "json"],
        vec!["apply", "-f", "SMALL", "--auto-approve", "-o", "json"],
        vec!["validate", "-f", "SMALL", "-o", "json"],
        vec!["history", "-o", "json"],
        vec!["explain", "user", "alice", "-o", "json"],
        vec![
            "explain",
            "signin",
            "--user",
            "alice",
            "--ip",
            "192.0.2.1",
            "-o",
            "json",
        ],
    ];
    let small = small();
    for args in runs {
        let args: Vec<&str> = args
            .iter()
            .map(|a| if *a == "SMALL" { small.as_str() } else { a })
            .collect();
        let r = env.run(&args);
        let v: serde_json::Value =
            serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}\n{}", r.transcript()));
        assert_eq!(v["formatVersion"], 1, "{args:?}: {}", r.stdout);
    }
}

#[test]
fn unknown_organizations_and_missing_directories_are_errors_with_a_suggestion() {
    let env = Env::new();
    let missing = env.run(&["history"]);
    assert_eq!(missing.code, 1, "{}", missing.transcript());
    assert_eq!(
        missing.stderr,
        "error: the directory sqlite:[TMP]/directory.db does not exist: nothing has been applied to it (is --backend or ORGCTL_BACKEND right?)\n"
    );
    for args in [vec!["export", "--org", "acme"], vec!["explain", "user", "alice"]] {
        let r = env.run(&args);
        assert_eq!(r.code, 1, "{args:?}: {}", r.transcript());
        assert!(
            r.stderr.contains("does not exist: nothing has been applied"),
            "{args:?}: {}",
            r.stderr
        );
    }
    assert_eq!(env.run(&["apply", "-f", &small(), "--auto-approve"]).code, 0);
    for args in [
        vec!["history", "--org", "acmee"],
        vec!["export", "--org", "acmee"],
    ] {
        let r = env.run(&args);
        assert_eq!(r.code, 1, "{args:?}: {}", r.transcript());
        assert_eq!(
            r.stderr,
            "error: organization \"acmee\" does not exist in sqlite:[TMP]/directory.db, did you mean \"acme\"?\n",
            "{args:?}"
        );
    }
    let r = env.run(&["explain", "user", "alice", "--org", "acmee"]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr,
        "error: organization \"acmee\" was not found, did you mean \"acme\"?\n"
    );
}

/// The commit this build records: what `git rev-parse` says here, or
/// `unknown` without git (a source tarball), as build.rs decides.
fn built_commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".to_string())
}

#[test]
fn version_and_dash_dash_version_name_the_commit() {
    let env = Env::new();
    let expected = format!(
        "orgctl {} (commit {})\n",
        env!("CARGO_PKG_VERSION"),
        built_commit()
    );
    for args in [vec!["version"], vec!["--version"]] {
        let r = env.run(&args);
        assert_eq!(
            (r.code, r.stdout.as_str(), r.stderr.as_str()),
            (0, expected.as_str(), ""),
            "{args:?}"
        );
    }
    let r = env.run(&["version", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(
        v,
        serde_json::json!({"formatVersion": 1, "version": env!("CARGO_PKG_VERSION"), "commit": built_commit()})
    );
}

#[test]
fn completions_and_man_pages_are_generated_from_the_real_flags() {
    let env = Env::new();
    let bash = env.run(&["completions", "bash"]);
    assert_eq!(bash.code, 0, "{}", bash.transcript());
    assert!(bash.stdout.contains("_orgctl()"), "{}", bash.stdout);
    assert!(bash.stdout.contains("--detailed-exitcode") && bash.stdout.contains("--auto-approve"));
    // Completion offers each option where the command's help lists it: the
    // backend flags accepted before a command are not offered there.
    let opts_of = |case: &str| {
        let at = bash
            .stdout
            .find(&format!("        {case})\n"))
            .unwrap_or_else(|| panic!("no {case} case"));
        bash.stdout[at..].lines().nth(1).unwrap_or_default().to_string()
    };
    assert!(!opts_of("orgctl").contains("--backend"), "{}", opts_of("orgctl"));
    assert!(
        !opts_of("orgctl__subcmd__validate").contains("--backend"),
        "{}",
        opts_of("orgctl__subcmd__validate")
    );
    assert!(
        opts_of("orgctl__subcmd__plan").contains("--backend"),
        "{}",
        opts_of("orgctl__subcmd__plan")
    );
    let zsh = env.run(&["completions", "zsh"]);
    assert!(zsh.stdout.starts_with("#compdef orgctl"), "{}", zsh.stdout);
    let bad = env.run(&["completions", "cmd.exe"]);
    assert_eq!(bad.code, 1, "{}", bad.transcript());
    assert!(bad.stderr.contains("invalid value 'cmd.exe'"), "{}", bad.stderr);

    let r = env.run(&["man", "--out", "man"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert_eq!(
        r.stderr,
        "Wrote orgctl.1 and a page per command (orgctl-plan.1, …) to man.\n"
    );
    let page = |name: &str| {
        std::fs::read_to_string(env.dir.path().join("man").join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    assert!(page("orgctl.1").contains(".TH orgctl 1"), "{}", page("orgctl.1"));
    let plan = page("orgctl-plan.1");
    assert!(plan.contains("detailed\\-exitcode"), "{plan}");
    assert!(plan.contains("\\-\\-backend") && !page("orgctl-validate.1").contains("\\-\\-backend"));
    assert!(page("orgctl-explain-signin.1").contains("\\-\\-ip"));
}

#[test]
fn a_saved_plan_applies_without_asking_and_detailed_exitcode_needs_dry_run() {
    let env = Env::new();
    let r = env.run(&["apply", "-f", &small(), "--detailed-exitcode"]);
    assert_eq!(r.code, 1, "{}", r.transcript());
    assert!(
        r.stderr
            .starts_with("error: the following required arguments were not provided:\n  --dry-run\n"),
        "{}",
        r.stderr
    );
    let r = env.run(&["plan", "-f", &small(), "--out", "plan.json"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    // No terminal and no --auto-approve: a saved plan is the reviewed change.
    let r = env.run(&["apply", "--plan", "plan.json"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert!(
        r.stdout
            .contains("Apply complete! Objects: 8 added, 0 changed, 0 destroyed."),
        "{}",
        r.transcript()
    );
    assert_eq!(r.stderr, "");
}

#[test]
fn progress_phases_go_to_stderr_with_progress_and_nowhere_without_it() {
    let env = Env::new();
    let files = env.copy("small");
    let files = files.to_str().expect("utf-8 path");
    let quiet = env.run(&["plan", "-f", files]);
    assert_eq!((quiet.code, quiet.stderr.as_str()), (0, ""));
    let r = env.run(&["plan", "-f", files, "--progress"]);
    assert_eq!(r.stdout, quiet.stdout, "progress never reaches stdout");
    assert_eq!(r.stderr, "Reading the files and the live directory, planning…\n");
    let r = env.run(&["apply", "-f", files, "--auto-approve", "--progress"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert_eq!(
        r.stderr,
        "Reading the files and the live directory, planning…\nApplying 8 changes…\nWriting the rule-made app assignments of 1 user…\n"
    );
    edit(
        &Path::new(files).join("org.yaml"),
        "minLength: 10",
        "minLength: 12",
    );
    let r = env.run(&["apply", "-f", files, "--auto-approve", "--progress"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert_eq!(
        r.stderr,
        "Reading the files and the live directory, planning…\nApplying 1 change…\n"
    );
    let r = env.run(&["validate", "-f", files]);
    assert_eq!(r.stdout, "The files are valid: 8 objects in 1 organization.\n");
}

#[test]
fn quiet_keeps_results_warnings_and_errors_and_drops_notes_and_progress() {
    let env = Env::new();
    let files = small();
    let loud = env.run(&["plan", "-f", &files, "--out", "plan.json", "--progress"]);
    assert_eq!(
        loud.stderr,
        "Reading the files and the live directory, planning…\nSaved the plan to plan.json; apply it with: orgctl apply --plan plan.json\n"
    );
    let quiet = env.run(&["plan", "-f", &files, "--out", "plan.json", "--progress", "-q"]);
    assert_eq!((quiet.code, quiet.stderr.as_str()), (0, ""));
    assert_eq!(quiet.stdout, loud.stdout, "results are not quieted");
    let export = env.run(&["--quiet", "export", "--org", "acme"]);
    assert_eq!(
        (export.code, export.stderr.as_str()),
        (1, "error: the directory sqlite:[TMP]/directory.db does not exist: nothing has been applied to it (is --backend or ORGCTL_BACKEND right?)\n"),
        "errors are not quieted"
    );
    let both = env.run(&["plan", "-f", &files, "-q", "-v"]);
    assert_eq!(both.code, 1, "{}", both.transcript());
    assert!(
        both.stderr.contains("'--quiet' cannot be used with '--verbose"),
        "{}",
        both.stderr
    );
}

#[test]
fn a_bad_value_in_an_environment_variable_names_the_variable() {
    let env = Env::new();
    let out = env
        .cmd()
        .args(["plan", "-f", &small()])
        .env("ORGCTL_MY_IP", "10.0.0.1,nowhere")
        .output()
        .expect("run orgctl");
    let r = Run::from_output(&out, env.dir.path());
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr.as_str()),
        (
            1,
            "",
            "error: ORGCTL_MY_IP \"nowhere\": invalid IP address syntax\n"
        )
    );
}

#[test]
fn color_always_colours_a_piped_plan_and_the_default_does_not() {
    let env = Env::new();
    let plan = |color: &[&str]| {
        let out = env
            .cmd()
            .env_remove("NO_COLOR")
            .args(color)
            .args(["plan", "-f", &small()])
            .output()
            .expect("run orgctl");
        Run::from_output(&out, env.dir.path())
    };
    let always = plan(&["--color", "always"]);
    assert_eq!(always.code, 0, "{}", always.transcript());
    assert!(always.stdout.contains("\x1b["), "{}", always.stdout);
    let piped = plan(&[]);
    assert_eq!(piped.code, 0, "{}", piped.transcript());
    assert!(!piped.stdout.contains('\x1b'), "{}", piped.stdout);
    let never = plan(&["--color", "never"]);
    assert_eq!(never.stdout, piped.stdout);
    // NO_COLOR (set by Env) means never, but the flag beats it.
    let r = env.run(&["plan", "-f", &small(), "--color", "always"]);
    assert!(r.stdout.contains("\x1b["), "{}", r.stdout);
}

#[test]
fn bad_values_of_the_new_flags_are_usage_errors_with_the_accepted_values() {
    let env = Env::new();
    let color = env.run(&["--color", "sometimes", "validate", "-f", "x"]);
    assert_eq!(color.code, 1, "{}", color.transcript());
    assert_eq!(
        color.stderr.lines().take(2).collect::<Vec<_>>(),
        [
            "error: invalid value 'sometimes' for '--color <WHEN>'",
            "  [possible values: auto, always, never]"
        ]
    );
    let both = env.run(&["--color", "always", "--no-color", "validate", "-f", "x"]);
    assert_eq!(both.code, 1, "{}", both.transcript());
    assert!(both.stderr.contains("cannot be used with"), "{}", both.stderr);
    let body = env.run(&[
        "serve",
        "--db",
        "d.db",
        "--listen",
        "127.0.0.1:0",
        "--max-body-size",
        "10",
    ]);
    assert_eq!(body.code, 1, "{}", body.transcript());
    assert_eq!(
        body.stderr.lines().next(),
        Some("error: invalid value '10' for '--max-body-size <BYTES>': 10 is not in 4096..=1073741824")
    );
}
