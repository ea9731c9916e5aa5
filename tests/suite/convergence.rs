//! One convergence suite for every backend: the same plan / apply /
//! idempotency / prune / saved-plan / export tests run against the embedded
//! directory (`sqlite:`), against a real `orgctl serve` started on a free
//! loopback port (`http://`), and against the real Keycloak server of the
//! test run (`keycloak+http://`, realm `acme`; these cases take turns),
//! against the Kanidm simulator (`tests/support/kanidm_sim.rs`, always) and
//! against a real Kanidm when `ORGCTL_TEST_KANIDM_URL` and
//! `ORGCTL_TEST_KANIDM_TOKEN` are set (these cases take turns too). Each
//! case is one function; `all!` makes a test of it per backend. Kanidm
//! cannot hold a department or an idle timeout, so its targets use
//! `tests/data/small-kanidm`: the same eight objects, a rule over group
//! membership and a last name to edit instead.

use crate::common;
use crate::kanidm_sim;

use std::path::PathBuf;
use std::process::Output;

use common::{Opts, Run, Server, TOKEN};
use orgctl::backend::{self, Backend, RuleGrant, Write, WriteRequest};
use orgctl::model::Name;

const SECRET: &str = "s3cr3t-portal-value";

#[derive(Clone, Copy, Debug)]
enum Target {
    Sqlite,
    Http,
    Keycloak,
    KanidmSim,
    KanidmReal,
}

/// Keycloak cases share the realm `acme` and so take turns.
static KEYCLOAK_TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
/// Real-Kanidm cases share its one domain and so take turns.
static KANIDM_TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A Kanidm to run against: the simulator, or a real server (with its turn).
enum Kanidm {
    Sim(kanidm_sim::KanidmSim),
    Real {
        server: common::RealKanidm,
        _turn: std::sync::MutexGuard<'static, ()>,
    },
}

impl Kanidm {
    fn address(&self) -> String {
        match self {
            Kanidm::Sim(s) => s.address(),
            Kanidm::Real { server, .. } => server.address(),
        }
    }

    fn token(&self) -> String {
        match self {
            Kanidm::Sim(_) => kanidm_sim::SIM_TOKEN.to_string(),
            Kanidm::Real { server, .. } => server.token.clone(),
        }
    }
}

struct Env {
    target: Target,
    dir: tempfile::TempDir,
    server: Option<Server>,
    keycloak: Option<(common::Keycloak, std::sync::MutexGuard<'static, ()>)>,
    kanidm: Option<Kanidm>,
}

impl Env {
    /// The environment of one case, or `None` when its server is absent
    /// (the Keycloak cases outside `scripts/test-all.sh`).
    fn new(target: Target) -> Option<Env> {
        let dir = tempfile::tempdir().expect("tempdir");
        let (server, keycloak, kanidm) = match target {
            Target::Sqlite => (None, None, None),
            Target::Http => (
                Some(Server::start(&dir.path().join("served.db"), Opts::default())),
                None,
                None,
            ),
            Target::Keycloak => {
                let kc = common::keycloak("convergence suite on Keycloak")?;
                let turn = KEYCLOAK_TURN.lock().unwrap_or_else(|p| p.into_inner());
                kc.drop_realm("acme");
                (None, Some((kc, turn)), None)
            }
            Target::KanidmSim => (None, None, Some(Kanidm::Sim(kanidm_sim::KanidmSim::start()))),
            Target::KanidmReal => {
                let real = common::real_kanidm("convergence suite on a real Kanidm")?;
                let turn = KANIDM_TURN.lock().unwrap_or_else(|p| p.into_inner());
                real.reset();
                (
                    None,
                    None,
                    Some(Kanidm::Real {
                        server: real,
                        _turn: turn,
                    }),
                )
            }
        };
        Some(Env {
            target,
            dir,
            server,
            keycloak,
            kanidm,
        })
    }

    /// The test data folder of this target.
    fn data_name(&self) -> &'static str {
        if self.kanidm.is_some() {
            "small-kanidm"
        } else {
            "small"
        }
    }

    /// An edit of bob that changes one field: (before, after) text.
    fn edit(&self) -> (&'static str, &'static str) {
        if self.kanidm.is_some() {
            ("lastName: Jones", "lastName: Finch")
        } else {
            ("department: Sales", "department: Finance")
        }
    }

    /// True for the embedded directory, where the exact transcripts are
    /// pinned (other backends word revisions and capabilities their way).
    fn pins_transcripts(&self) -> bool {
        matches!(self.target, Target::Sqlite)
    }

    /// True when the backend keeps an audit log.
    fn has_history(&self) -> bool {
        self.keycloak.is_none() && self.kanidm.is_none()
    }

    fn address(&self) -> String {
        if let Some((kc, _)) = &self.keycloak {
            return kc.address();
        }
        if let Some(k) = &self.kanidm {
            return k.address();
        }
        match &self.server {
            Some(s) => s.address.clone(),
            None => format!("sqlite:{}", self.dir.path().join("directory.db").display()),
        }
    }

    fn backend(&self) -> Box<dyn Backend> {
        if let Some(k) = &self.kanidm {
            let ca_pem = match k {
                Kanidm::Real { server, .. } => server
                    .ca_file
                    .as_ref()
                    .map(|f| std::fs::read(f).expect("read the CA file")),
                Kanidm::Sim(_) => None,
            };
            let settings = backend::kanidm::Settings {
                token: orgctl::model::SecretValue::new(k.token()),
                ca_pem,
            };
            return Box::new(
                backend::kanidm::KanidmBackend::open_with(&k.address(), settings).expect("open kanidm"),
            );
        }
        if let Some((kc, _)) = &self.keycloak {
            let credentials = backend::keycloak::Credentials::Client {
                realm: "master".into(),
                id: kc.client_id.clone(),
                secret: orgctl::model::SecretValue::new(&kc.client_secret),
            };
            return Box::new(
                backend::keycloak::KeycloakBackend::open_with(&kc.address(), credentials)
                    .expect("open keycloak"),
            );
        }
        let options = backend::http::HttpOptions {
            token: Some(orgctl::model::SecretValue::new(TOKEN)),
            ..Default::default()
        };
        backend::open_with(&self.address(), &options).expect("open backend")
    }

    fn run(&self, args: &[&str]) -> Run {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_orgctl"));
        if let Some((kc, _)) = &self.keycloak {
            cmd.envs(kc.env());
        }
        if let Some(k) = &self.kanidm {
            cmd.env("ORGCTL_KANIDM_TOKEN", k.token());
            if let Kanidm::Real { server, .. } = k {
                cmd.envs(server.env());
            }
        }
        let out: Output = cmd
            .current_dir(self.dir.path())
            .args(args)
            .env("ORGCTL_BACKEND", self.address())
            .env("ORGCTL_TOKEN", TOKEN)
            .env("ORGCTL_TEST_PORTAL_SECRET", SECRET)
            .env("NO_COLOR", "1")
            .env_remove("ORGCTL_LOG")
            .env_remove("ORGCTL_TOKEN_FILE")
            .output()
            .expect("run orgctl");
        let run = Run::from_output(&out, self.dir.path());
        let all = format!("{}{}", run.stdout, run.stderr);
        assert!(
            !all.contains(SECRET),
            "a secret value was printed:\n{}",
            run.transcript()
        );
        assert!(
            !all.contains(TOKEN),
            "the token was printed:\n{}",
            run.transcript()
        );
        if let Some(k) = &self.kanidm {
            assert!(
                !all.contains(&k.token()),
                "the Kanidm token was printed:\n{}",
                run.transcript()
            );
        }
        assert!(!all.contains("panicked"), "panic:\n{}", run.transcript());
        run
    }

    /// Copies this target's data as `small` into the work directory.
    fn copy_small(&self) -> PathBuf {
        let from = common::copy_data(self.data_name(), self.dir.path());
        let to = self.dir.path().join("small");
        if from != to {
            std::fs::rename(&from, &to).expect("rename data");
        }
        to
    }

    /// This target's data folder, as a path argument.
    fn small(&self) -> String {
        common::data(self.data_name()).display().to_string()
    }

    fn history_len(&self) -> usize {
        let h = self.run(&["history", "--limit", "1000", "--output", "json"]);
        assert_eq!(h.code, 0, "{}", h.transcript());
        let v: serde_json::Value = serde_json::from_str(&h.stdout).expect("history json");
        v["entries"].as_array().map_or(0, Vec::len)
    }
}

macro_rules! all {
    ($($case:ident),* $(,)?) => {
        $(
            mod $case {
                #[test]
                fn sqlite() {
                    if let Some(env) = super::Env::new(super::Target::Sqlite) {
                        super::$case(env)
                    }
                }
                #[test]
                fn http() {
                    if let Some(env) = super::Env::new(super::Target::Http) {
                        super::$case(env)
                    }
                }
                #[test]
                fn keycloak() {
                    if let Some(env) = super::Env::new(super::Target::Keycloak) {
                        super::$case(env)
                    }
                }
                #[test]
                fn kanidm_sim() {
                    if let Some(env) = super::Env::new(super::Target::KanidmSim) {
                        super::$case(env)
                    }
                }
                #[test]
                fn kanidm_real() {
                    if let Some(env) = super::Env::new(super::Target::KanidmReal) {
                        super::$case(env)
                    }
                }
            }
        )*
    };
}

all!(
    apply_then_replan_shows_no_changes_and_a_second_apply_writes_nothing,
    an_update_converges,
    removed_objects_are_pruned_only_with_prune_and_within_max_deletes,
    saved_plan_applies_and_a_stale_one_is_refused,
    export_round_trips_to_no_changes,
    grants_travel_and_read_back_the_same,
);

fn apply_then_replan_shows_no_changes_and_a_second_apply_writes_nothing(env: Env) {
    let small = env.small();
    let plan = env.run(&["plan", "-f", &small, "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{}", plan.transcript());
    assert!(
        plan.stdout
            .ends_with("Plan: 8 to add, 0 to change, 0 to destroy. App assignments of 1 user to update.\n"),
        "{}",
        plan.stdout
    );
    let first = env.run(&["apply", "-f", &small, "--auto-approve"]);
    assert_eq!(first.code, 0, "{}", first.transcript());
    if env.pins_transcripts() {
        insta::assert_snapshot!("first_apply", first.transcript());
    }
    assert!(
        first
            .stdout
            .contains("Apply complete! Objects: 8 added, 0 changed, 0 destroyed."),
        "{}",
        first.stdout
    );
    let plan = env.run(&["plan", "-f", &small, "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}", plan.transcript());
    assert_eq!(plan.stdout, "No changes. The live directory matches the files.\n");
    let second = if env.has_history() {
        let written = env.history_len();
        assert!(written >= 1);
        let second = env.run(&["apply", "-f", &small, "--auto-approve"]);
        assert_eq!(env.history_len(), written, "the second apply wrote nothing");
        second
    } else {
        let second = env.run(&["apply", "-f", &small, "--auto-approve"]);
        assert!(second.stdout.contains("No changes."), "{}", second.transcript());
        second
    };
    assert_eq!(second.code, 0, "{}", second.transcript());
    let b = env.backend();
    let live = b.snapshot(&"acme".parse().expect("name")).expect("snapshot");
    assert_eq!(live.objects.len(), 8);
    assert!(live.objects.values().all(|o| o.managed));
}

fn an_update_converges(env: Env) {
    let work = env.copy_small();
    assert_eq!(env.run(&["apply", "-f", "small", "--auto-approve"]).code, 0);
    let people = work.join("people.yaml");
    let text = std::fs::read_to_string(&people).expect("read");
    std::fs::write(&people, {
        let (from, to) = env.edit();
        assert!(text.contains(from), "{from}");
        text.replace(from, to)
    })
    .expect("write");
    let r = env.run(&["apply", "-f", "small", "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert!(
        r.stdout.contains("0 added, 1 changed, 0 destroyed"),
        "{}",
        r.stdout
    );
    let r = env.run(&["plan", "-f", "small", "--detailed-exitcode"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
}

fn removed_objects_are_pruned_only_with_prune_and_within_max_deletes(env: Env) {
    let work = env.copy_small();
    assert_eq!(env.run(&["apply", "-f", "small", "--auto-approve"]).code, 0);
    let people = work.join("people.yaml");
    let text = std::fs::read_to_string(&people).expect("read");
    let kept: Vec<&str> = text
        .split("---\n")
        .filter(|d| !d.contains("kind: Group") && !d.contains("kind: AppAssignment"))
        .collect();
    std::fs::write(&people, kept.join("---\n")).expect("write");
    let r = env.run(&["plan", "-f", "small", "--detailed-exitcode"]);
    assert_eq!(r.code, 0, "without --prune nothing changes:\n{}", r.transcript());
    assert!(r.stdout.contains("--prune"), "{}", r.stdout);
    if env.pins_transcripts() {
        insta::assert_snapshot!("prune_candidates", r.stdout);
    }
    let r = env.run(&[
        "apply",
        "-f",
        "small",
        "--prune",
        "--max-deletes",
        "1",
        "--auto-approve",
    ]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr,
        "error: the plan deletes 2 objects, more than --max-deletes 1\n"
    );
    let r = env.run(&["apply", "-f", "small", "--prune", "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert!(
        r.stdout.contains("0 added, 0 changed, 2 destroyed"),
        "{}",
        r.stdout
    );
    if env.pins_transcripts() {
        insta::assert_snapshot!("prune_apply", r.stdout);
    }
    let r = env.run(&["plan", "-f", "small", "--prune", "--detailed-exitcode"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    let live = env
        .backend()
        .snapshot(&"acme".parse().expect("name"))
        .expect("snapshot");
    assert_eq!(live.objects.len(), 6);
}

fn saved_plan_applies_and_a_stale_one_is_refused(env: Env) {
    let work = env.copy_small();
    let r = env.run(&["plan", "-f", "small", "--out", "plan.json"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    let saved = std::fs::read_to_string(env.dir.path().join("plan.json")).expect("plan file");
    assert!(!saved.contains(SECRET), "saved plans hold no secret values");
    let r = env.run(&["apply", "--plan", "plan.json", "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    let people = work.join("people.yaml");
    let text = std::fs::read_to_string(&people).expect("read");
    std::fs::write(&people, {
        let (from, to) = env.edit();
        assert!(text.contains(from), "{from}");
        text.replace(from, to)
    })
    .expect("write");
    let r = env.run(&["plan", "-f", "small", "--out", "stale.json"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    std::fs::write(&people, text.replace("firstName: Bob", "firstName: Robert")).expect("write");
    let r = env.run(&["apply", "-f", "small", "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    let r = env.run(&["apply", "--plan", "stale.json", "--auto-approve"]);
    assert_eq!(r.code, 1, "{}", r.transcript());
    assert!(r.stderr.contains("the saved plan is stale"), "{}", r.stderr);
    assert!(r.stderr.contains("run plan again"), "{}", r.stderr);
    if env.pins_transcripts() {
        insta::assert_snapshot!("stale_plan", r.stderr);
    }
}

fn export_round_trips_to_no_changes(env: Env) {
    let small = env.small();
    assert_eq!(env.run(&["apply", "-f", &small, "--auto-approve"]).code, 0);
    let r = env.run(&["export", "--org", "acme", "--dir", "exported"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    if env.pins_transcripts() {
        insta::assert_snapshot!("export_messages", r.stderr);
    }
    let users = std::fs::read_to_string(env.dir.path().join("exported/users.yaml")).expect("users.yaml");
    assert!(users.contains("email: alice@acme.example"), "{users}");
    let r = env.run(&["plan", "-f", "exported", "--detailed-exitcode"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    let r = env.run(&[
        "export",
        "--org",
        "acme",
        "--dir",
        "per-object",
        "--layout",
        "object",
    ]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert!(env.dir.path().join("per-object/user/bob.yaml").exists());
    let r = env.run(&["plan", "-f", "per-object", "--detailed-exitcode"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
}

fn grants_travel_and_read_back_the_same(env: Env) {
    let small = env.small();
    assert_eq!(env.run(&["apply", "-f", &small, "--auto-approve"]).code, 0);
    let mut b = env.backend();
    let org: Name = "acme".parse().expect("name");
    let n = |s: &str| -> Name { s.parse().expect("name") };
    let live = b.snapshot(&org).expect("snapshot");
    let list = vec![RuleGrant {
        app: n("portal"),
        role: n("user"),
        rule: n("sales-portal"),
    }];
    let writes = vec![
        Write::Grants {
            user: n("bob"),
            grants: list.clone().into(),
        },
        Write::Grants {
            user: n("alice"),
            grants: list.clone().into(),
        },
        Write::ManualGrant {
            user: n("alice"),
            app: n("portal"),
            role: Some(n("admin")),
        },
    ];
    let outcome = b
        .write(
            WriteRequest {
                organization: org.clone(),
                expected_revision: live.revision,
                writes,
                audit: Vec::new(),
            },
            &mut |_| {},
        )
        .expect("write grants");
    assert!(outcome.results.iter().all(Result::is_ok), "{outcome:?}");
    let live = b.snapshot(&org).expect("snapshot");
    assert_eq!(live.grants.sets, vec![list.clone()], "one shared list");
    assert_eq!(live.grants.of_user("bob"), list.as_slice());
    assert_eq!(live.grants.of_user("alice"), list.as_slice());
    assert_eq!(
        live.grants.manual.get("alice").and_then(|m| m.get("portal")),
        Some(&n("admin"))
    );
    // Removing them: an empty list and a removed hand-made grant.
    let outcome = b
        .write(
            WriteRequest {
                organization: org.clone(),
                expected_revision: live.revision,
                writes: vec![
                    Write::Grants {
                        user: n("bob"),
                        grants: Vec::new().into(),
                    },
                    Write::ManualGrant {
                        user: n("alice"),
                        app: n("portal"),
                        role: None,
                    },
                ],
                audit: Vec::new(),
            },
            &mut |_| {},
        )
        .expect("write grants");
    assert!(outcome.results.iter().all(Result::is_ok), "{outcome:?}");
    let live = b.snapshot(&org).expect("snapshot");
    assert!(live.grants.of_user("bob").is_empty());
    assert!(live.grants.manual.is_empty());
    assert_eq!(live.grants.rule_grant_count(), 1);
}
