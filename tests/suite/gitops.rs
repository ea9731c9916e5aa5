//! The GitOps examples (`examples/gitops`) run for real: the commands of the
//! GitHub workflow's steps and of the GitLab pipeline's scripts, read from
//! those files and run in their order by bash in a checkout of the example
//! repository, against a real `orgctl serve` on a free loopback port, with
//! the tokens and secrets the CI secret store would give each job. A pull
//! request is planned, its saved plan handed on as the artifact, merged and
//! applied; a merge after the live directory moved is refused as stale, then
//! the fresh plan is applied. The comment script's decisions (which comment
//! to update, what the comment says, how a huge plan is cut) are checked on
//! its output.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{Opts, Run, Server, READ_TOKEN, TOKEN};
use yaml_rust2::{Yaml, YamlLoader};

/// The SSO secret the example's files read with `fromEnv`.
const SECRET: (&str, &str) = ("PORTAL_CLIENT_SECRET", "portal-client-secret-0123456789");
const MARKER: &str = "<!-- orgctl-plan -->";

/// A pull request's change: a longer minimum password length.
const RAISE_MIN_LENGTH: &[Edit] = &[("organization.yaml", "minLength: 10", "minLength: 12")];
/// Another change, merged and applied first.
const RENAME_BOB: &[Edit] = &[("people.yaml", "firstName: Bob", "firstName: Robert")];
/// A merge request's change: Bob moves to Support.
const MOVE_BOB: &[Edit] = &[("people.yaml", "department: Sales", "department: Support")];
/// Another change, merged and applied first.
const SHORTER_IDLE: &[Edit] = &[("organization.yaml", "idleTimeout: 2h", "idleTimeout: 1h")];

fn example(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/gitops")
        .join(rel)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir") {
        let p = e.expect("entry").path();
        let target = to.join(p.file_name().expect("name"));
        if p.is_dir() {
            copy_dir(&p, &target);
        } else {
            std::fs::copy(&p, &target).expect("copy");
        }
    }
}

/// A fresh checkout of the example repository, as a CI job starts with.
fn checkout(tmp: &Path, name: &str) -> PathBuf {
    let dir = tmp.join(name);
    copy_dir(&example(""), &dir);
    dir
}

/// Hands a job's saved plan to a later job, as the CI artifact store does.
fn hand_on(from: &Path, to: &Path) {
    copy_dir(from, to);
}

/// One edit of a file of the checkout: (file under `org/`, from, to).
type Edit = (&'static str, &'static str, &'static str);

/// A checkout with `edits` made, as a branch holding those commits.
fn checkout_with(tmp: &Path, name: &str, edits: &[&[Edit]]) -> PathBuf {
    let dir = checkout(tmp, name);
    for (file, from, to) in edits.iter().flat_map(|e| e.iter()) {
        edit(&dir.join("org").join(file), from, to);
    }
    dir
}

fn edit(file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).expect("read");
    assert!(text.contains(from), "{} has no {from:?}", file.display());
    std::fs::write(file, text.replacen(from, to, 1)).expect("write");
}

fn read(file: &Path) -> String {
    std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// Runs `script` with bash as both CI systems do (`-eo pipefail`), in `dir`,
/// with orgctl on PATH, stdin not a terminal, and only `env` of orgctl's
/// settings.
fn bash(dir: &Path, script: &str, env: &BTreeMap<String, String>) -> Run {
    let bin = Path::new(env!("CARGO_BIN_EXE_orgctl")).parent().expect("bin dir");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let mut cmd = Command::new("bash");
    cmd.args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
        .current_dir(dir)
        .stdin(Stdio::null())
        .env("PATH", path)
        .env("NO_COLOR", "1");
    for (k, _) in std::env::vars() {
        if k.starts_with("ORGCTL_") || k.starts_with("GITHUB_") || k.starts_with("CI_") {
            cmd.env_remove(k);
        }
    }
    cmd.env_remove(SECRET.0);
    cmd.envs(env);
    let out = cmd.output().expect("run bash");
    Run::from_output(&out, dir)
}

/// The values a CI secret store and variables hold for these tests.
struct Store {
    backend: String,
}

impl Store {
    /// A CI value by its name (`ORGCTL_TOKEN`, `PORTAL_CLIENT_SECRET`…).
    fn get(&self, name: &str) -> Option<String> {
        match name {
            "ORGCTL_BACKEND" => Some(self.backend.clone()),
            "ORGCTL_TOKEN" => Some(TOKEN.to_string()),
            "ORGCTL_READ_TOKEN" => Some(READ_TOKEN.to_string()),
            n if n == SECRET.0 => Some(SECRET.1.to_string()),
            _ => None,
        }
    }
}

fn load(file: &Path) -> Yaml {
    let text = read(file);
    YamlLoader::load_from_str(&text)
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
        .remove(0)
}

fn hash_entries(y: &Yaml) -> Vec<(String, String)> {
    y.as_hash()
        .map(|h| {
            h.iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// The GitHub Actions workflow.
struct Github {
    doc: Yaml,
    store: Store,
}

impl Github {
    fn new(store: Store) -> Self {
        Github {
            doc: load(&example(".github/workflows/orgctl.yml")),
            store,
        }
    }

    /// The environment of `job`: the workflow's and the job's `env`, with
    /// `${{ vars.X }}` and `${{ secrets.X }}` taken from the store (values
    /// the store does not hold, like where orgctl is installed from, are
    /// left out).
    fn env(&self, job: &str) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        let entries = hash_entries(&self.doc["env"])
            .into_iter()
            .chain(hash_entries(&self.doc["jobs"][job]["env"]));
        for (k, v) in entries {
            let value = match v.trim().strip_prefix("${{").and_then(|v| v.strip_suffix("}}")) {
                Some(expr) => {
                    let expr = expr.trim();
                    let name = expr
                        .strip_prefix("vars.")
                        .or_else(|| expr.strip_prefix("secrets."))
                        .unwrap_or_else(|| panic!("env {k}: unexpected expression {expr}"));
                    self.store.get(name)
                }
                None => Some(v),
            };
            if let Some(value) = value {
                env.insert(k, value);
            }
        }
        env
    }

    /// The `run:` of the step of `job` with this `id`.
    fn step(&self, job: &str, id: &str) -> String {
        let steps = self.doc["jobs"][job]["steps"]
            .as_vec()
            .unwrap_or_else(|| panic!("job {job} has no steps"));
        let run = steps
            .iter()
            .find(|s| s["id"].as_str() == Some(id))
            .and_then(|s| s["run"].as_str())
            .unwrap_or_else(|| panic!("job {job} has no step {id} with a run"));
        assert!(
            !run.contains("${{"),
            "step {id} of {job}: values must come through env, not ${{{{ }}}} in the script"
        );
        run.to_string()
    }

    /// Runs the steps `ids` of `job` in `dir`, in order, stopping at the
    /// first failure (as Actions does); returns the last run.
    fn run(&self, job: &str, ids: &[&str], dir: &Path) -> Run {
        self.run_with(job, ids, dir, &self.env(job))
    }

    fn run_with(&self, job: &str, ids: &[&str], dir: &Path, env: &BTreeMap<String, String>) -> Run {
        let mut last = None;
        for id in ids {
            let r = bash(dir, &self.step(job, id), env);
            let failed = r.code != 0;
            last = Some(r);
            if failed {
                break;
            }
        }
        last.expect("at least one step")
    }
}

/// The GitLab CI pipeline.
struct Gitlab {
    doc: Yaml,
    store: Store,
}

impl Gitlab {
    fn new(store: Store) -> Self {
        Gitlab {
            doc: load(&example(".gitlab-ci.yml")),
            store,
        }
    }

    /// The environment of `job`: the CI/CD variables a pipeline of that
    /// job sees (the protected write token only on the default branch),
    /// then the pipeline's and the job's `variables`, `$NAME` resolved.
    fn env(&self, job: &str, default_branch: bool) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        let mut names = vec!["ORGCTL_BACKEND", "ORGCTL_READ_TOKEN", SECRET.0];
        if default_branch {
            names.push("ORGCTL_TOKEN");
        }
        for n in names {
            env.insert(n.to_string(), self.store.get(n).expect("store value"));
        }
        let entries: Vec<_> = hash_entries(&self.doc["variables"])
            .into_iter()
            .chain(hash_entries(&self.doc[job]["variables"]))
            .collect();
        for (k, v) in entries {
            match v.strip_prefix('$') {
                // Predefined CI_ variables are not set here.
                Some(name) => {
                    if let Some(value) = env.get(name).cloned() {
                        env.insert(k, value);
                    }
                }
                None => {
                    env.insert(k, v);
                }
            }
        }
        env
    }

    /// Runs the `script:` of `job` in `dir` as one shell, as the runner does.
    fn run(&self, job: &str, dir: &Path, default_branch: bool) -> Run {
        let lines: Vec<&str> = self.doc[job]["script"]
            .as_vec()
            .unwrap_or_else(|| panic!("job {job} has no script"))
            .iter()
            .map(|l| l.as_str().expect("script line"))
            .collect();
        bash(dir, &lines.join("\n"), &self.env(job, default_branch))
    }
}

fn start() -> (tempfile::TempDir, Server, Store) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&tmp.path().join("d.db"), Opts::default());
    let store = Store {
        backend: server.address.clone(),
    };
    (tmp, server, store)
}

/// orgctl run directly, as someone outside the pull request would.
fn orgctl(dir: &Path, store: &Store, args: &str) -> Run {
    let mut env = BTreeMap::new();
    env.insert("ORGCTL_BACKEND".to_string(), store.backend.clone());
    env.insert("ORGCTL_TOKEN".to_string(), TOKEN.to_string());
    env.insert(SECRET.0.to_string(), SECRET.1.to_string());
    bash(dir, &format!("orgctl {args}"), &env)
}

/// The comment the script makes of a plan folder, with `env` set.
fn comment_body(repo: &Path, dir: &str, env: &[(&str, &str)]) -> String {
    let env: BTreeMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let r = bash(repo, &format!("ci/plan-comment.sh body {dir}"), &env);
    assert_eq!(r.code, 0, "{}", r.transcript());
    r.stdout
}

#[test]
fn github_pull_request_is_planned_with_a_read_only_token_and_merge_applies_the_reviewed_plan() {
    let (tmp, _server, store) = start();
    let wf = Github::new(store);

    // The pull request: validate, plan, the saved plan and its comment.
    let pr = checkout(tmp.path(), "pr");
    let r = wf.run("plan", &["validate", "plan"], &pr);
    assert_eq!(r.code, 0, "{}", r.transcript());
    let plan = read(&pr.join("plan/plan.md"));
    assert!(
        plan.starts_with("### orgctl plan: 8 to add, 0 to change, 0 to destroy"),
        "{plan}"
    );
    assert!(pr.join("plan/plan.json").is_file());
    assert!(
        !plan.contains(SECRET.1) && !read(&pr.join("plan/plan.json")).contains(SECRET.1),
        "the secret stays out of the saved plan"
    );
    let body = comment_body(&pr, "plan", &[]);
    assert!(body.starts_with(&format!("{MARKER}\n{plan}")), "{body}");

    // The pull request's token cannot write: applying with it is refused
    // and leaves the directory as it was.
    let main = checkout(tmp.path(), "main");
    hand_on(&pr.join("plan"), &main.join("reviewed"));
    let r = wf.run_with("apply", &["apply"], &main, &wf.env("plan"));
    assert_eq!(r.code, 1, "{}", r.transcript());
    assert!(
        r.stdout.contains("this token may only read")
            && r.stdout
                .contains("0 of 8 changes applied, 8 not applied. Nothing was written"),
        "{}",
        r.transcript()
    );

    // The merge: the reviewed plan applies without a prompt (no terminal).
    let r = wf.run("apply", &["apply"], &main);
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert!(
        r.stdout
            .contains("Apply complete! Objects: 8 added, 0 changed, 0 destroyed."),
        "{}",
        r.transcript()
    );

    // The next pull request of the same files plans nothing.
    let next = checkout(tmp.path(), "next");
    let r = wf.run("plan", &["validate", "plan"], &next);
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert!(
        read(&next.join("plan/plan.md")).starts_with("### orgctl plan: no changes"),
        "{}",
        read(&next.join("plan/plan.md"))
    );
}

#[test]
fn github_merge_after_the_directory_moved_is_refused_as_stale_and_the_fresh_plan_applies() {
    let (tmp, _server, store) = start();
    let seed = checkout(tmp.path(), "seed");
    let r = orgctl(&seed, &store, "apply -f org --auto-approve");
    assert_eq!(r.code, 0, "{}", r.transcript());
    let wf = Github::new(store);

    // The pull request raises the password length and is planned.
    let pr = checkout_with(tmp.path(), "pr", &[RAISE_MIN_LENGTH]);
    let r = wf.run("plan", &["validate", "plan"], &pr);
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert!(
        read(&pr.join("plan/plan.md")).contains("~ password.minLength = 10 -> 12"),
        "{}",
        read(&pr.join("plan/plan.md"))
    );

    // Meanwhile another change is merged and applied first.
    let other = checkout_with(tmp.path(), "other", &[RENAME_BOB]);
    let r = orgctl(&other, &wf.store, "apply -f org --auto-approve");
    assert_eq!(r.code, 0, "{}", r.transcript());

    // The merge: the default branch holds both changes; the reviewed plan
    // is refused as stale and nothing of it is written.
    let main = checkout_with(tmp.path(), "main", &[RAISE_MIN_LENGTH, RENAME_BOB]);
    hand_on(&pr.join("plan"), &main.join("reviewed"));
    let r = wf.run("apply", &["apply"], &main);
    assert_eq!(r.code, 1, "{}", r.transcript());
    assert!(
        r.stderr
            .contains("error: the saved plan is stale: \"acme\" changed since it was made")
            && r.stderr.contains("run plan again"),
        "{}",
        r.transcript()
    );

    // The fresh plan: still the reviewed change (it was not written), and
    // nothing of the other change (live already).
    let r = wf.run("apply", &["replan"], &main);
    assert_eq!(r.code, 0, "{}", r.transcript());
    let fresh = read(&main.join("plan/plan.md"));
    assert!(fresh.contains("~ password.minLength = 10 -> 12"), "{fresh}");
    assert!(!fresh.contains("firstName"), "{fresh}");
    let note = "⚠️ **The reviewed plan was not applied**";
    let body = comment_body(&main, "plan", &[("ORGCTL_COMMENT_NOTE", note)]);
    assert!(
        body.starts_with(&format!("{MARKER}\n{note}\n\n{fresh}")),
        "{body}"
    );

    // Run by hand with the fresh plan's run: it applies, and all is done.
    let dispatch = checkout_with(tmp.path(), "dispatch", &[RAISE_MIN_LENGTH, RENAME_BOB]);
    hand_on(&main.join("plan"), &dispatch.join("reviewed"));
    let r = wf.run("apply", &["apply"], &dispatch);
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert!(
        r.stdout
            .contains("Apply complete! Objects: 0 added, 1 changed, 0 destroyed."),
        "{}",
        r.transcript()
    );
    let r = wf.run("plan", &["validate", "plan"], &dispatch);
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert!(read(&dispatch.join("plan/plan.md")).starts_with("### orgctl plan: no changes"));
}

#[test]
fn gitlab_merge_request_plan_merge_stale_refusal_and_fresh_plan() {
    let (tmp, _server, store) = start();
    let ci = Gitlab::new(store);

    // A first merge request, planned and merged.
    let mr = checkout(tmp.path(), "mr1");
    let r = ci.run("orgctl-plan", &mr, false);
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert!(read(&mr.join("plan/plan.md")).starts_with("### orgctl plan: 8 to add"));
    let main = checkout(tmp.path(), "main1");
    hand_on(&mr.join("plan"), &main.join("reviewed"));
    let r = ci.run("orgctl-apply", &main, true);
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert!(!main.join("plan").exists(), "no fresh plan after a good apply");

    // A second one, planned; then the directory moves before its merge.
    let mr = checkout_with(tmp.path(), "mr2", &[MOVE_BOB]);
    let r = ci.run("orgctl-plan", &mr, false);
    assert_eq!(r.code, 0, "{}", r.transcript());
    let other = checkout_with(tmp.path(), "other", &[SHORTER_IDLE]);
    let r = orgctl(&other, &ci.store, "apply -f org --auto-approve");
    assert_eq!(r.code, 0, "{}", r.transcript());

    let main = checkout_with(tmp.path(), "main2", &[MOVE_BOB, SHORTER_IDLE]);
    hand_on(&mr.join("plan"), &main.join("reviewed"));
    let r = ci.run("orgctl-apply", &main, true);
    assert_eq!(r.code, 1, "{}", r.transcript());
    assert!(r.stderr.contains("the saved plan is stale"), "{}", r.transcript());
    let fresh = read(&main.join("plan/plan.md"));
    assert!(
        fresh.contains("~ department = \"Sales\" -> \"Support\""),
        "{fresh}"
    );
    assert!(!fresh.contains("idleTimeout"), "{fresh}");

    // The pipeline run by hand with the apply job's fresh plan.
    let again = checkout_with(tmp.path(), "main3", &[MOVE_BOB, SHORTER_IDLE]);
    hand_on(&main.join("plan"), &again.join("reviewed"));
    let r = ci.run("orgctl-apply", &again, true);
    assert_eq!(r.code, 0, "{}", r.transcript());
    let r = ci.run("orgctl-plan", &again, false);
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert!(read(&again.join("plan/plan.md")).starts_with("### orgctl plan: no changes"));
}

/// What `plan-comment.sh find` answers for a JSON list of comments.
fn find(repo: &Path, comments: &serde_json::Value, login: &str, key: Option<&str>) -> String {
    let file = repo.join("comments.json");
    std::fs::write(&file, comments.to_string()).expect("write");
    let mut env = BTreeMap::new();
    if let Some(k) = key {
        env.insert("ORGCTL_COMMENT_KEY".to_string(), k.to_string());
    }
    let r = bash(
        repo,
        &format!("ci/plan-comment.sh find '{login}' < comments.json"),
        &env,
    );
    assert_eq!(r.code, 0, "{}", r.transcript());
    r.stdout.trim().to_string()
}

#[test]
fn the_comment_to_update_is_our_marked_one_and_look_alikes_are_left_alone() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = checkout(tmp.path(), "repo");
    let bot = "github-actions[bot]";
    let github = serde_json::json!([
        {"id": 1, "body": "LGTM", "user": {"login": "alice"}},
        {"id": 2, "body": format!("{MARKER}\nfake plan"), "user": {"login": "mallory"}},
        {"id": 3, "body": format!("quoting {MARKER} here"), "user": {"login": bot}},
        {"id": 4, "body": "<!-- orgctl-plan staging -->\nstaging plan", "user": {"login": bot}},
        {"id": 5, "body": format!("{MARKER}\nold plan"), "user": {"login": bot}},
        {"id": 6, "body": format!("{MARKER}\nnewer duplicate"), "user": {"login": bot}},
    ]);
    assert_eq!(
        find(&repo, &github, bot, None),
        "5",
        "the first of ours is updated"
    );
    assert_eq!(find(&repo, &github, bot, Some("staging")), "4");
    assert_eq!(
        find(&repo, &github, bot, Some("stag")),
        "",
        "a key is matched whole"
    );
    assert_eq!(
        find(&repo, &github, "", None),
        "2",
        "without a login any author counts"
    );
    assert_eq!(
        find(
            &repo,
            &serde_json::json!([{"id": 1, "body": "LGTM", "user": {"login": "alice"}}]),
            bot,
            None
        ),
        "",
        "none of ours: a new comment is posted"
    );
    assert_eq!(find(&repo, &serde_json::json!([]), bot, None), "");
    let gitlab = serde_json::json!([
        {"id": 10, "body": format!("{MARKER}\nsystem"), "system": true, "author": {"username": "project_7_bot"}},
        {"id": 11, "body": format!("{MARKER}\nplan"), "system": false, "author": {"username": "alice"}},
        {"id": 12, "body": format!("{MARKER}\nplan"), "system": false, "author": {"username": "project_7_bot"}},
    ]);
    assert_eq!(find(&repo, &gitlab, "project_7_bot", None), "12");
}

#[test]
fn a_failed_plan_gets_a_comment_saying_so_with_the_run() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = checkout(tmp.path(), "repo");
    let body = comment_body(
        &repo,
        "plan",
        &[
            ("ORGCTL_RUN_URL", "https://ci.example/runs/7"),
            ("ORGCTL_COMMIT", "0123456789abcdef0123456789abcdef01234567"),
        ],
    );
    assert_eq!(
        body,
        format!(
            "{MARKER}\n### orgctl plan failed\n\nNo plan was made: the files are invalid or the live directory could not be read. The errors are in the job log ([run](https://ci.example/runs/7)).\n\n<sub>orgctl · commit 0123456789ab · [run and saved plan](https://ci.example/runs/7)</sub>\n"
        )
    );
}

#[test]
fn a_plan_of_thousands_of_changes_fits_one_comment_whole() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = checkout(tmp.path(), "repo");
    // 1,500 more users: a real plan far over the comment limit in full.
    let mut users = String::new();
    for i in 0..1500 {
        users.push_str(&format!(
            "---\napiVersion: orgctl.io/v1alpha1\nkind: User\nmetadata: {{name: user{i:04}}}\nspec:\n  organization: acme\n  email: user{i:04}@acme.example\n  firstName: User{i}\n  department: Sales\n"
        ));
    }
    std::fs::write(repo.join("org/many.yaml"), users).expect("write");
    let mut env = BTreeMap::new();
    env.insert("ORGCTL_BACKEND".to_string(), "sqlite:d.db".to_string());
    env.insert(SECRET.0.to_string(), SECRET.1.to_string());
    let r = bash(
        &repo,
        "mkdir -p plan && orgctl plan -f org --out plan/plan.json --output markdown > plan/plan.md",
        &env,
    );
    assert_eq!(r.code, 0, "{}", r.transcript());
    let plan = read(&repo.join("plan/plan.md"));
    assert!(
        plan.contains("of 1508 changes are shown in detail, the table lists the first 50."),
        "{}",
        &plan[..400]
    );

    // orgctl cut it; the comment keeps it whole, note and footer included.
    let note = "⚠️ **The reviewed plan was not applied**";
    let body = comment_body(
        &repo,
        "plan",
        &[
            ("ORGCTL_COMMENT_NOTE", note),
            ("ORGCTL_RUN_URL", "https://ci.example/runs/7"),
        ],
    );
    assert!(body.chars().count() <= 65_536, "{}", body.chars().count());
    assert!(
        body.starts_with(&format!("{MARKER}\n{note}\n\n{plan}")),
        "{}",
        &body[..300]
    );
}

#[test]
fn a_plan_file_over_the_limit_is_cut_by_lines_with_counts_and_closed_blocks() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = checkout(tmp.path(), "repo");
    // Longer than orgctl writes: the script must still never exceed the limit.
    let mut plan = String::from("### orgctl plan: 2000 to add, 0 to change, 0 to destroy\n");
    for i in 0..2000 {
        plan.push_str(&format!(
            "\n<details><summary>user \"user{i:04}\" will be created</summary>\n\n```diff\n+ email = \"user{i:04}@acme.example\"\n+ firstName = \"User\"\n```\n\n</details>\n"
        ));
    }
    std::fs::create_dir_all(repo.join("plan")).expect("mkdir");
    std::fs::write(repo.join("plan/plan.md"), &plan).expect("write");

    let body = comment_body(&repo, "plan", &[("ORGCTL_RUN_URL", "https://ci.example/runs/7")]);
    assert!(body.chars().count() <= 65_536, "{}", body.chars().count());
    assert!(body.chars().count() > 60_000, "the room is used");
    assert!(body.starts_with(&format!("{MARKER}\n### orgctl plan: 2000 to add")));
    let total = plan.lines().count();
    let note = format!("of {total} lines shown. The full plan is `plan.md` in the saved plan of this run.");
    assert!(body.contains(&note), "{}", &body[body.len() - 600..]);
    let fences = body.lines().filter(|l| l.starts_with("```")).count();
    assert_eq!(fences % 2, 0, "every code block is closed");
    assert_eq!(
        body.matches("<details>").count(),
        body.matches("</details>").count(),
        "every collapsible block is closed"
    );
    assert!(body.ends_with("[run and saved plan](https://ci.example/runs/7)</sub>\n"));
}
