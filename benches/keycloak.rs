//! Figures of the Keycloak backend against the real Keycloak of the test
//! run (`scripts/keycloak.sh start DIR`, then source `DIR/keycloak.env`):
//!
//! 1. a realm of USERS users (default 10,000), 500 groups, 100 clients and
//!    200 rules (the synthetic benchmark organization with one realm-wide
//!    policy and no custom roles): the apply from empty, then the requests
//!    and time of a no-op plan (best of three);
//! 2. an apply from empty of 1,000 users with their groups and assignments,
//!    side by side with Keycloak's own `partialImport` of the same users and
//!    groups (the floor), and the re-apply (0 writes).
//!
//! `cargo bench --bench keycloak` (or `-- USERS`; `-- noop` measures only
//! the no-op plan of the large realm a previous run left).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use orgctl::apply::{self, EnvAndFiles};
use orgctl::backend::keycloak::{Credentials, KeycloakBackend};
use orgctl::load::Source;
use orgctl::model::SecretValue;
use orgctl::plan::PlanOptions;
use orgctl::synth::{generate, SynthParams};
use serde_json::{json, Value};

struct Server {
    url: String,
    id: String,
    secret: String,
}

impl Server {
    fn from_env() -> Option<Server> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Some(Server {
            url: var("ORGCTL_TEST_KEYCLOAK_URL")?,
            id: var("ORGCTL_TEST_KEYCLOAK_CLIENT_ID")?,
            secret: var("ORGCTL_TEST_KEYCLOAK_CLIENT_SECRET")?,
        })
    }

    fn backend(&self) -> KeycloakBackend {
        let credentials = Credentials::Client {
            realm: "master".into(),
            id: self.id.clone(),
            secret: SecretValue::new(&self.secret),
        };
        KeycloakBackend::open_with(&format!("keycloak+{}", self.url), credentials).expect("open")
    }

    fn token(&self) -> String {
        let v: Value = reqwest::blocking::Client::new()
            .post(format!(
                "{}/realms/master/protocol/openid-connect/token",
                self.url
            ))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", self.id.as_str()),
                ("client_secret", self.secret.as_str()),
            ])
            .send()
            .expect("token")
            .json()
            .expect("token json");
        v["access_token"].as_str().expect("access_token").to_string()
    }

    fn admin(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> (u16, String) {
        let c = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(600))
            .build()
            .expect("client");
        let mut r = c
            .request(method, format!("{}/admin/realms{path}", self.url))
            .bearer_auth(self.token());
        if let Some(b) = body {
            r = r.json(b);
        }
        let resp = r.send().expect("admin call");
        (resp.status().as_u16(), resp.text().unwrap_or_default())
    }

    fn drop_realm(&self, realm: &str) {
        self.admin(reqwest::Method::DELETE, &format!("/{realm}"), None);
    }
}

/// The synthetic organization in a shape Keycloak holds: one realm-wide
/// policy (the default), no custom roles.
fn keycloak_org(name: &str, users: usize, groups: usize, apps: usize, rules: usize) -> Vec<Source> {
    let p = SynthParams {
        organization: name.into(),
        users,
        groups,
        apps,
        rules,
        roles: 0,
        policies: 1,
    };
    let mut sources = generate(&p);
    for s in &mut sources {
        // Keycloak keeps one realm-wide policy without IP ranges or SMS.
        if s.name.ends_with("security-policies.yaml") {
            s.text = format!(
                "apiVersion: orgctl.io/v1alpha1\nkind: SecurityPolicy\nmetadata: {{name: default}}\nspec:\n  organization: {name}\n  default: true\n  password: {{minLength: 12, historyCount: 5}}\n  session: {{lifetime: 1d, idleTimeout: 1h}}\n"
            );
        }
    }
    sources
}

fn plan_and_apply(b: &mut KeycloakBackend, sources: &[Source]) -> (Duration, usize, usize) {
    let start = Instant::now();
    let before = b.requests();
    let planned =
        orgctl::engine::plan(sources, &*b, &PlanOptions::default(), &EnvAndFiles).unwrap_or_else(|e| {
            panic!("plan: {e}");
        });
    let changes: usize = planned.plan.organizations.iter().map(|o| o.changes.len()).sum();
    let report = apply::execute(&planned.plan, b, &planned.secrets, &mut |_, _| {});
    let failed: Vec<String> = report
        .organizations
        .iter()
        .flat_map(|o| &o.results)
        .filter_map(|r| match &r.outcome {
            apply::ChangeOutcome::Failed(e) => Some(format!("{} {}: {e}", r.kind, r.name)),
            _ => None,
        })
        .take(5)
        .collect();
    assert!(report.succeeded(), "the apply failed: {failed:?}");
    (start.elapsed(), b.requests() - before, changes)
}

fn no_op_plan(b: &KeycloakBackend, sources: &[Source]) -> (Duration, usize) {
    let mut best = (Duration::MAX, 0);
    for _ in 0..3 {
        let start = Instant::now();
        let before = b.requests();
        let planned = orgctl::engine::plan(sources, b, &PlanOptions::default(), &EnvAndFiles).expect("plan");
        assert!(planned.plan.is_empty(), "the re-plan is empty");
        let t = start.elapsed();
        if t < best.0 {
            best = (t, b.requests() - before);
        }
    }
    best
}

/// Keycloak's own bulk import of the same users and groups (no clients,
/// roles or flows: the floor for writing people and memberships).
fn partial_import(server: &Server, realm: &str, sources: &[Source]) -> Duration {
    server.drop_realm(realm);
    let (s, body) = server.admin(
        reqwest::Method::POST,
        "",
        Some(&json!({ "realm": realm, "enabled": true })),
    );
    assert_eq!(s, 201, "{body}");
    let desired = orgctl::validate::run(sources).expect("valid");
    let org = desired.organizations.values().next().expect("one org");
    let mut groups = Vec::new();
    let mut member_of: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for ((kind, name), o) in &org.objects {
        if let (orgctl::model::Kind::Group, orgctl::model::Spec::Group(g)) = (kind, &o.spec) {
            groups.push(json!({ "name": name.as_str(), "path": format!("/{name}") }));
            if let Some(users) = g.members.get().and_then(|m| m.users.get()) {
                for u in users.iter() {
                    member_of
                        .entry(u.to_string())
                        .or_default()
                        .push(format!("/{name}"));
                }
            }
        }
    }
    let users: Vec<Value> = org
        .objects
        .iter()
        .filter_map(|((_, name), o)| match &o.spec {
            orgctl::model::Spec::User(u) => Some(json!({
                "username": name.as_str(),
                "email": u.email.as_ref().map(|e| e.as_str()),
                "firstName": u.first_name.get(),
                "lastName": u.last_name.get(),
                "enabled": true,
                "attributes": {
                    "department": u.department.get().into_iter().collect::<Vec<_>>(),
                    "location": u.location.get().into_iter().collect::<Vec<_>>(),
                },
                "groups": member_of.get(name.as_str()).cloned().unwrap_or_default(),
            })),
            _ => None,
        })
        .collect();
    let start = Instant::now();
    let (s, body) = server.admin(
        reqwest::Method::POST,
        &format!("/{realm}/partialImport"),
        Some(&json!({ "ifResourceExists": "FAIL", "groups": groups, "users": users })),
    );
    assert_eq!(s, 200, "{}", &body[..body.len().min(500)]);
    start.elapsed()
}

/// 2. 1,000 users from empty, beside partialImport, and the re-apply.
fn small_realm(server: &Server) {
    let small = keycloak_org("kcbench-1k", 1_000, 50, 10, 20);
    server.drop_realm("kcbench-1k");
    let mut b = server.backend();
    let (t, requests, changes) = plan_and_apply(&mut b, &small);
    println!("apply from empty, 1,000 users, 50 groups, 10 clients, 20 rules: {changes} changes, {requests} requests, {:.1} s", t.as_secs_f64());
    let floor = partial_import(server, "kcbench-1k-import", &small);
    println!(
        "partialImport of the same 1,000 users and 50 groups: {:.1} s (orgctl / partialImport = {:.2})",
        floor.as_secs_f64(),
        t.as_secs_f64() / floor.as_secs_f64()
    );
    let before = b.requests();
    let planned = orgctl::engine::plan(&small, &b, &PlanOptions::default(), &EnvAndFiles).expect("plan");
    println!(
        "re-apply: {} changes, {} app-assignment users to write, {} requests (reads only)",
        planned
            .plan
            .organizations
            .iter()
            .map(|o| o.changes.len())
            .sum::<usize>(),
        planned
            .plan
            .organizations
            .iter()
            .map(|o| o.assignments.users.len())
            .sum::<usize>(),
        b.requests() - before
    );
    server.drop_realm("kcbench-1k-import");
}

fn main() {
    let Some(server) = Server::from_env() else {
        eprintln!("benches/keycloak: no Keycloak; start one with `scripts/keycloak.sh start DIR` and source DIR/keycloak.env");
        return;
    };
    let users: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000);

    // `-- noop`: only the no-op plan of the large realm a previous run left.
    let no_op_only = std::env::args().skip(1).any(|a| a == "noop");
    if !no_op_only {
        small_realm(&server);
    }
    // 1. The large realm.
    let big = keycloak_org("kcbench", users, 500, 100, 200);
    let mut b = server.backend();
    if !no_op_only {
        server.drop_realm("kcbench");
        let (t, requests, changes) = plan_and_apply(&mut b, &big);
        println!(
            "apply from empty, {users} users, 500 groups, 100 clients, 200 rules: {changes} changes, {requests} requests, {:.1} s",
            t.as_secs_f64()
        );
    }
    let (t, requests) = no_op_plan(&b, &big);
    println!(
        "no-op plan of it: {requests} requests, {:.2} s (best of 3)",
        t.as_secs_f64()
    );
}
