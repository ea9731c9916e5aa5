//! Figures of the Kanidm backend against the Kanidm simulator
//! (`tests/support/kanidm_sim.rs`, served on loopback HTTP like a real
//! server): an organization of PERSONS persons (default 5,000) in 50 groups,
//! 10 OAuth2 apps with two roles each, 10 rules over group membership, the
//! default account policy and one admin binding. Measures the apply from
//! empty, then a no-op plan (best of three): time and requests each.
//!
//! `cargo bench --bench kanidm` (or `-- PERSONS`).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "../tests/support/kanidm_sim.rs"]
mod kanidm_sim;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use kanidm_sim::{KanidmSim, SIM_TOKEN};
use orgctl::apply::{self, EnvAndFiles};
use orgctl::backend::kanidm::{KanidmBackend, Settings};
use orgctl::load::Source;
use orgctl::model::SecretValue;
use orgctl::plan::PlanOptions;

const GROUPS: usize = 50;
const APPS: usize = 10;

/// The organization as YAML sources, in a shape Kanidm holds completely.
fn organization(persons: usize) -> Vec<Source> {
    let mut org = String::from(
        "apiVersion: orgctl.io/v1alpha1\nkind: Organization\nmetadata: {name: bench}\nspec:\n  displayName: Bench\n  superAdmin: u00000\n---\napiVersion: orgctl.io/v1alpha1\nkind: RoleBinding\nmetadata: {name: admins}\nspec:\n  organization: bench\n  role: admin\n  subjects: {users: [u00000]}\n---\napiVersion: orgctl.io/v1alpha1\nkind: SecurityPolicy\nmetadata: {name: default}\nspec:\n  organization: bench\n  default: true\n  password: {minLength: 12}\n  mfa: {required: true}\n  session: {lifetime: 1d}\n",
    );
    for a in 0..APPS {
        let _ = write!(
            org,
            "---\napiVersion: orgctl.io/v1alpha1\nkind: Application\nmetadata: {{name: app{a:02}}}\nspec:\n  organization: bench\n  type: oidc\n  displayName: App {a}\n  oidc: {{redirectUris: [\"https://app{a:02}.bench.example/callback\"]}}\n  roles: [user, admin]\n---\napiVersion: orgctl.io/v1alpha1\nkind: AppAssignment\nmetadata: {{name: rule{a:02}}}\nspec:\n  organization: bench\n  priority: {a}\n  rule: {{field: group, op: equals, value: team{:02}}}\n  assign: [{{app: app{a:02}, role: user}}]\n",
            a * (GROUPS / APPS)
        );
    }
    let mut people = String::new();
    for u in 0..persons {
        let _ = write!(
            people,
            "---\napiVersion: orgctl.io/v1alpha1\nkind: User\nmetadata: {{name: u{u:05}}}\nspec:\n  organization: bench\n  email: u{u:05}@bench.example\n  firstName: First{u}\n  lastName: Last{u}\n"
        );
    }
    for g in 0..GROUPS {
        let members: Vec<String> = (0..persons)
            .filter(|u| u % GROUPS == g)
            .map(|u| format!("u{u:05}"))
            .collect();
        let _ = write!(
            people,
            "---\napiVersion: orgctl.io/v1alpha1\nkind: Group\nmetadata: {{name: team{g:02}}}\nspec:\n  organization: bench\n  members: {{users: [{}]}}\n",
            members.join(", ")
        );
    }
    vec![
        Source {
            name: "org.yaml".into(),
            text: org,
        },
        Source {
            name: "people.yaml".into(),
            text: people,
        },
    ]
}

fn main() {
    let persons: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5_000);
    let sim = KanidmSim::start();
    let settings = Settings {
        token: SecretValue::new(SIM_TOKEN),
        ca_pem: None,
    };
    let mut b = KanidmBackend::open_with(&sim.address(), settings).expect("open");
    let sources = organization(persons);

    let start = Instant::now();
    let before = b.requests();
    let planned = orgctl::engine::plan(&sources, &b, &PlanOptions::default(), &EnvAndFiles)
        .unwrap_or_else(|e| panic!("plan: {e}"));
    let changes: usize = planned.plan.organizations.iter().map(|o| o.changes.len()).sum();
    let report = apply::execute(&planned.plan, &mut b, &planned.secrets, &mut |_, _| {});
    assert!(report.succeeded(), "the apply failed");
    let apply_time = start.elapsed();
    let apply_requests = b.requests() - before;
    println!(
        "kanidm apply from empty: {persons} persons, {changes} objects: {:.2} s, {apply_requests} requests ({} writes)",
        apply_time.as_secs_f64(),
        sim.writes()
    );

    let mut best = (Duration::MAX, 0);
    for _ in 0..3 {
        let start = Instant::now();
        let before = b.requests();
        let planned =
            orgctl::engine::plan(&sources, &b, &PlanOptions::default(), &EnvAndFiles).expect("plan");
        assert!(planned.plan.is_empty(), "the re-plan is empty");
        let t = start.elapsed();
        if t < best.0 {
            best = (t, b.requests() - before);
        }
    }
    println!(
        "kanidm no-op plan: {persons} persons: {:.0} ms, {} requests (best of 3)",
        best.0.as_secs_f64() * 1000.0,
        best.1
    );
}
