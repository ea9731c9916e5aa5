//! The Kanidm backend against the Kanidm simulator: what Kanidm cannot hold
//! is a plan error that writes nothing, drift made in Kanidm is corrected,
//! rule grants and hand-made scope-map memberships stay apart, a snapshot
//! costs four list reads, and the simulator keeps the quirks of the real
//! server the reference verified.

use crate::common;
use crate::kanidm_sim;

use std::path::Path;

use common::Run;
use kanidm_sim::{KanidmSim, SIM_TOKEN};
use orgctl::backend::kanidm::{KanidmBackend, Settings};
use orgctl::backend::Backend;
use orgctl::model::SecretValue;
use serde_json::{json, Value};

fn run(sim: &KanidmSim, dir: &Path, args: &[&str]) -> Run {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_orgctl"))
        .current_dir(dir)
        .args(args)
        .env("ORGCTL_BACKEND", sim.address())
        .env("ORGCTL_KANIDM_TOKEN", SIM_TOKEN)
        .env("ORGCTL_TEST_PORTAL_SECRET", "s3cr3t-portal-value")
        .env("NO_COLOR", "1")
        .env_remove("ORGCTL_LOG")
        .env_remove("ORGCTL_KANIDM_TOKEN_FILE")
        .output()
        .expect("run orgctl");
    let run = Run::from_output(&out, dir);
    assert!(
        !format!("{}{}", run.stdout, run.stderr).contains(SIM_TOKEN),
        "the token was printed:\n{}",
        run.transcript()
    );
    run
}

fn backend(sim: &KanidmSim) -> KanidmBackend {
    let settings = Settings {
        token: SecretValue::new(SIM_TOKEN),
        ca_pem: None,
    };
    KanidmBackend::open_with(&sim.address(), settings).expect("open")
}

fn small_kanidm() -> String {
    common::data("small-kanidm").display().to_string()
}

/// The `attrs` of one entry as the simulator returns it.
fn attrs(sim: &KanidmSim, path: &str) -> Value {
    let (status, v) = sim.call("GET", path, None);
    assert_eq!(status, 200, "{path}: {v}");
    v["attrs"].clone()
}

#[test]
fn what_kanidm_cannot_hold_is_a_plan_error_and_nothing_is_written() {
    let sim = KanidmSim::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let small = common::data("small").display().to_string();
    let writes = sim.writes();
    let r = run(&sim, dir.path(), &["apply", "-f", &small, "--auto-approve"]);
    assert_eq!(r.code, 1, "{}", r.transcript());
    insta::assert_snapshot!(r.stderr.replace(&sim.address(), "[KANIDM]"));
    assert_eq!(sim.writes(), writes, "a capability error writes nothing");
}

#[test]
fn drift_made_in_kanidm_is_corrected() {
    let sim = KanidmSim::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let small = small_kanidm();
    let r = run(&sim, dir.path(), &["apply", "-f", &small, "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    // An administrator edits Kanidm by hand.
    for (method, path, body) in [
        (
            "PUT",
            "/person/bob/_attr/displayname",
            Some(json!(["Robert Jones"])),
        ),
        ("DELETE", "/group/sales/_attr/member", Some(json!(["bob"]))),
        ("DELETE", "/oauth2/portal/_scopemap/orgctl_app_portal_user", None),
        (
            "DELETE",
            "/group/system_admins/_attr/member",
            Some(json!(["alice"])),
        ),
        (
            "PUT",
            "/group/idm_all_persons/_attr/auth_password_minimum_length",
            Some(json!(["8"])),
        ),
        (
            "PUT",
            "/domain/_attr/domain_display_name",
            Some(json!(["Renamed"])),
        ),
    ] {
        let (status, v) = sim.call(method, path, body);
        assert_eq!(status, 200, "{method} {path}: {v}");
    }
    let r = run(&sim, dir.path(), &["plan", "-f", &small, "--detailed-exitcode"]);
    assert_eq!(r.code, 2, "{}", r.transcript());
    for line in [
        "~ firstName = \"Robert\" -> \"Bob\"",
        "~ password.minLength = 8 -> 10",
        "~ displayName = \"Renamed\" -> \"Acme Corp\"",
        "+ superAdmin  = \"alice\"",
        "+ \"bob\"",
        "+ \"user\"",
    ] {
        assert!(r.stdout.contains(line), "{line}\n{}", r.stdout);
    }
    let r = run(&sim, dir.path(), &["apply", "-f", &small, "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    let r = run(&sim, dir.path(), &["plan", "-f", &small, "--detailed-exitcode"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert_eq!(attrs(&sim, "/person/bob")["displayname"], json!(["Bob Jones"]));
    assert_eq!(
        attrs(&sim, "/oauth2/portal")["oauth2_rs_scope_map"],
        json!([
            "orgctl_app_portal_admin@localhost: {\"admin\", \"email\", \"openid\", \"profile\"}",
            "orgctl_app_portal_user@localhost: {\"email\", \"openid\", \"profile\", \"user\"}"
        ])
    );
    assert_eq!(
        attrs(&sim, "/group/idm_all_persons")["auth_password_minimum_length"],
        json!(["10"])
    );
}

#[test]
fn a_rule_grant_goes_with_the_match_and_hand_made_scope_map_memberships_stay() {
    let sim = KanidmSim::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let work = common::copy_data("small-kanidm", dir.path());
    let r = run(
        &sim,
        dir.path(),
        &["apply", "-f", "small-kanidm", "--auto-approve"],
    );
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert_eq!(
        attrs(&sim, "/group/orgctl_grant_sales-portal_portal_user")["member"],
        json!(["bob@localhost"])
    );
    // By hand: bob also gets the admin role, and a group of the admin's own
    // is scope-mapped to the app.
    assert_eq!(
        sim.call(
            "POST",
            "/group/orgctl_app_portal_admin/_attr/member",
            Some(json!(["bob"]))
        )
        .0,
        200
    );
    assert_eq!(
        sim.call("POST", "/group", Some(json!({"attrs": {"name": ["auditors"]}})))
            .0,
        200
    );
    assert_eq!(
        sim.call("POST", "/group/auditors/_attr/member", Some(json!(["bob"])))
            .0,
        200
    );
    assert_eq!(
        sim.call(
            "POST",
            "/oauth2/portal/_scopemap/auditors",
            Some(json!(["openid"]))
        )
        .0,
        200
    );
    // bob leaves sales in the files: he stops matching the rule.
    let people = work.join("people.yaml");
    let text = std::fs::read_to_string(&people).expect("read");
    std::fs::write(
        &people,
        text.replace("members: {users: [bob]}", "members: {users: []}"),
    )
    .expect("write");
    let r = run(
        &sim,
        dir.path(),
        &["apply", "-f", "small-kanidm", "--auto-approve"],
    );
    assert_eq!(r.code, 0, "{}", r.transcript());
    let grant = attrs(&sim, "/group/orgctl_grant_sales-portal_portal_user");
    assert!(grant.get("member").is_none(), "the rule's grant is gone: {grant}");
    assert_eq!(
        attrs(&sim, "/group/orgctl_app_portal_admin")["member"],
        json!(["bob@localhost"])
    );
    assert_eq!(attrs(&sim, "/group/auditors")["member"], json!(["bob@localhost"]));
    let maps = attrs(&sim, "/oauth2/portal")["oauth2_rs_scope_map"].clone();
    assert!(
        maps.to_string().contains("auditors@localhost: {\\\"openid\\\"}"),
        "{maps}"
    );
    let live = backend(&sim)
        .snapshot(&"acme".parse().expect("name"))
        .expect("snapshot");
    assert_eq!(live.grants.rule_grant_count(), 0);
    assert_eq!(
        live.grants
            .manual
            .get("bob")
            .and_then(|m| m.get("portal"))
            .map(|r| r.as_str()),
        Some("admin")
    );
    let r = run(
        &sim,
        dir.path(),
        &["plan", "-f", "small-kanidm", "--detailed-exitcode"],
    );
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert!(r.stdout.contains("No changes."), "{}", r.stdout);
}

#[test]
fn a_snapshot_costs_four_list_reads_whatever_the_size() {
    let sim = KanidmSim::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let r = run(
        &sim,
        dir.path(),
        &["apply", "-f", &small_kanidm(), "--auto-approve"],
    );
    assert_eq!(r.code, 0, "{}", r.transcript());
    let b = backend(&sim);
    let live = b.snapshot(&"acme".parse().expect("name")).expect("snapshot");
    assert_eq!(live.objects.len(), 8);
    assert_eq!(b.requests(), 4);
}

#[test]
fn people_made_by_hand_are_unmanaged_and_left_alone_and_deactivation_is_account_expiry() {
    let sim = KanidmSim::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (status, _) = sim.call(
        "POST",
        "/person",
        Some(json!({"attrs": {"name": ["carol"], "displayname": ["Carol King"]}})),
    );
    assert_eq!(status, 200);
    let work = common::copy_data("small-kanidm", dir.path());
    let people = work.join("people.yaml");
    let text = std::fs::read_to_string(&people).expect("read");
    std::fs::write(
        &people,
        text.replace("lastName: Jones", "lastName: Jones\n  status: deactivated"),
    )
    .expect("write");
    let r = run(
        &sim,
        dir.path(),
        &["apply", "-f", "small-kanidm", "--auto-approve", "--prune"],
    );
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert_eq!(
        attrs(&sim, "/person/bob")["account_expire"],
        json!(["1970-01-01T00:00:00Z"])
    );
    assert_eq!(attrs(&sim, "/person/carol")["displayname"], json!(["Carol King"]));
    let live = backend(&sim)
        .snapshot(&"acme".parse().expect("name"))
        .expect("snapshot");
    let carol = live
        .get(orgctl::model::Kind::User, &"carol".parse().expect("name"))
        .expect("carol");
    assert!(!carol.managed);
    std::fs::write(
        &people,
        text.replace("lastName: Jones", "lastName: Jones\n  status: active"),
    )
    .expect("write");
    let r = run(
        &sim,
        dir.path(),
        &["apply", "-f", "small-kanidm", "--auto-approve"],
    );
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert!(attrs(&sim, "/person/bob").get("account_expire").is_none());
}

#[test]
fn another_organization_on_the_same_server_is_refused() {
    let sim = KanidmSim::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let r = run(
        &sim,
        dir.path(),
        &["apply", "-f", &small_kanidm(), "--auto-approve"],
    );
    assert_eq!(r.code, 0, "{}", r.transcript());
    let e = backend(&sim)
        .snapshot(&"globex".parse().expect("name"))
        .expect_err("one organization per server");
    assert_eq!(
        e.to_string(),
        "this Kanidm server holds organization \"acme\", not \"globex\": one organization per server (its domain)"
    );
}

#[test]
fn the_simulator_keeps_the_quirks_the_reference_verified() {
    let sim = KanidmSim::start();
    // Reads need the token too.
    let resp = reqwest::blocking::get(format!("{}/v1/group", sim.url)).expect("get");
    assert_eq!(resp.status().as_u16(), 401);
    assert_eq!(resp.text().expect("body"), "\"notauthenticated\"");
    // A missing entry is 200 null; a duplicate 409; deleting what is gone 404.
    assert_eq!(sim.call("GET", "/group/nope", None), (200, Value::Null));
    assert_eq!(
        sim.call("POST", "/group", Some(json!({"attrs": {"name": ["demo_group"]}}))),
        (200, Value::Null)
    );
    assert_eq!(
        sim.call(
            "POST",
            "/person",
            Some(json!({"attrs": {"name": ["demo_group"], "displayname": ["X"]}}))
        ),
        (
            409,
            json!({"conflicting_attributes": ["name", "spn"], "error": "Attribute uniqueness error"})
        )
    );
    assert_eq!(
        sim.call("DELETE", "/group/nope", None),
        (404, json!("nomatchingentries"))
    );
    // Account policy needs the class; values are checked.
    assert_eq!(
        sim.call(
            "PUT",
            "/group/demo_group/_attr/authsession_expiry",
            Some(json!(["3600"]))
        )
        .0,
        400
    );
    assert_eq!(
        sim.call(
            "POST",
            "/group/demo_group/_attr/class",
            Some(json!(["account_policy"]))
        )
        .0,
        200
    );
    assert_eq!(
        sim.call(
            "PUT",
            "/group/demo_group/_attr/credential_type_minimum",
            Some(json!(["sms"]))
        ),
        (400, json!({"invalidattribute": "Invalid CredentialType syntax"}))
    );
    assert_eq!(
        sim.call(
            "PUT",
            "/group/demo_group/_attr/authsession_expiry",
            Some(json!(["3600"]))
        )
        .0,
        200
    );
    // References come back as SPNs; POST appends, PUT replaces, DELETE removes.
    for name in ["demo_user", "tmp_user"] {
        let body = json!({"attrs": {"name": [name], "displayname": ["Demo"]}});
        assert_eq!(sim.call("POST", "/person", Some(body)).0, 200);
    }
    assert_eq!(
        sim.call(
            "POST",
            "/group/demo_group/_attr/member",
            Some(json!(["demo_user"]))
        )
        .0,
        200
    );
    assert_eq!(
        sim.call(
            "POST",
            "/group/demo_group/_attr/member",
            Some(json!(["tmp_user@localhost"]))
        )
        .0,
        200
    );
    assert_eq!(
        sim.call("GET", "/group/demo_group/_attr/member", None),
        (200, json!(["demo_user@localhost", "tmp_user@localhost"]))
    );
    assert_eq!(
        sim.call(
            "DELETE",
            "/group/demo_group/_attr/member",
            Some(json!(["demo_user"]))
        )
        .0,
        200
    );
    assert_eq!(
        sim.call(
            "PUT",
            "/group/demo_group/_attr/member",
            Some(json!(["demo_user"]))
        )
        .0,
        200
    );
    assert_eq!(sim.call("DELETE", "/person/tmp_user", None).0, 200);
    assert_eq!(
        attrs(&sim, "/group/demo_group")["member"],
        json!(["demo_user@localhost"])
    );
    assert_eq!(
        attrs(&sim, "/group/demo_group")["spn"],
        json!(["demo_group@localhost"])
    );
    // Scope maps read back as Kanidm renders them.
    let app = json!({"attrs": {"name": ["demo_app"], "displayname": ["Demo App"], "oauth2_rs_origin_landing": ["https://app.example.com/"]}});
    assert_eq!(sim.call("POST", "/oauth2/_basic", Some(app)).0, 200);
    let scopes = json!(["openid", "email", "profile"]);
    assert_eq!(
        sim.call("POST", "/oauth2/demo_app/_scopemap/demo_group", Some(scopes))
            .0,
        200
    );
    let a = attrs(&sim, "/oauth2/demo_app");
    assert_eq!(
        a["oauth2_rs_scope_map"],
        json!(["demo_group@localhost: {\"email\", \"openid\", \"profile\"}"])
    );
    assert_eq!(a["oauth2_rs_basic_secret"], json!(["hidden"]));
}

/// `small-kanidm` plus a policy for alice: shorter passwords, MFA, one-day sessions.
fn with_admin_policy(dir: &Path) -> std::path::PathBuf {
    let work = common::copy_data("small-kanidm", dir);
    std::fs::write(
        work.join("admins.yaml"),
        "apiVersion: orgctl.io/v1alpha1\nkind: SecurityPolicy\nmetadata: {name: admins-mfa}\nspec:\n  organization: acme\n  priority: 10\n  targets: {users: [alice]}\n  password: {minLength: 8}\n  mfa: {required: true}\n  session: {lifetime: 1d}\n",
    )
    .expect("write");
    work
}

#[test]
fn explain_and_the_access_impact_follow_kanidms_strictest_combination() {
    let sim = KanidmSim::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let work = with_admin_policy(dir.path());
    let r = run(
        &sim,
        dir.path(),
        &["apply", "-f", "small-kanidm", "--auto-approve"],
    );
    assert_eq!(r.code, 0, "{}", r.transcript());
    let policy = attrs(&sim, "/group/orgctl_policy_admins-mfa");
    assert_eq!(policy["member"], json!(["alice@localhost"]));
    assert_eq!(policy["credential_type_minimum"], json!(["mfa"]));
    assert_eq!(policy["authsession_expiry"], json!(["86400"]));

    let r = run(&sim, dir.path(), &["explain", "user", "alice"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert!(
        r.stdout.contains("  \"admins-mfa\" + \"default\": every matching policy and the default apply together, each setting at its strictest (the backend's rule; priorities decide nothing)\n"),
        "{}",
        r.stdout
    );
    let r = run(
        &sim,
        dir.path(),
        &[
            "explain",
            "signin",
            "--user",
            "alice",
            "--ip",
            "192.0.2.10",
            "--output",
            "json",
        ],
    );
    let v: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.transcript()));
    assert_eq!(
        v["notes"][0]["message"],
        json!("Security policies \"admins-mfa\" + \"default\" apply together: the backend enforces the strictest value of each setting.")
    );
    assert_eq!(v["allowed"], json!(false), "MFA from admins-mfa: {v}");
    let settings = v["settings"].to_string();
    assert!(settings.contains("\"mfaRequired\":true"), "{settings}");
    assert!(
        settings.contains("\"sessionLifetime\":\"1d\""),
        "the shorter session wins: {settings}"
    );

    // The default policy's minimum rises: under Kanidm's rule alice is
    // affected too (on the embedded directory admins-mfa alone would apply).
    let org = work.join("org.yaml");
    let text = std::fs::read_to_string(&org).expect("read");
    std::fs::write(&org, text.replace("minLength: 10", "minLength: 12")).expect("write");
    let r = run(&sim, dir.path(), &["plan", "-f", "small-kanidm"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    let impact = r.stdout.split("Access impact").nth(1).unwrap_or_default();
    insta::assert_snapshot!(impact);
}

#[test]
fn the_kanidm_example_is_held_completely() {
    let sim = KanidmSim::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let example = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/kanidm")
        .display()
        .to_string();
    let r = run(&sim, dir.path(), &["apply", "-f", &example, "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert!(
        r.stdout.contains(
            "Apply complete! Objects: 18 added, 0 changed, 0 destroyed. App assignments of 6 users updated."
        ),
        "{}",
        r.stdout
    );
    let r = run(&sim, dir.path(), &["plan", "-f", &example, "--detailed-exitcode"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert_eq!(r.stdout, "No changes. The live directory matches the files.\n");
    // eva is in platform: admins and baseline combine (14 characters, MFA, one day).
    let r = run(&sim, dir.path(), &["explain", "user", "eva"]);
    assert!(
        r.stdout
            .contains("\"admins\" + \"baseline\": every matching policy and the default apply together"),
        "{}",
        r.stdout
    );
    let live = backend(&sim)
        .snapshot(&"fabrikam".parse().expect("name"))
        .expect("snapshot");
    let n = |s: &str| -> orgctl::model::Name { s.parse().expect("name") };
    assert_eq!(
        live.grants
            .of_user("dev")
            .iter()
            .map(|g| (g.app.as_str(), g.role.as_str()))
            .collect::<Vec<_>>(),
        vec![("ci", "user"), ("wiki", "editor")]
    );
    assert!(
        live.grants.of_user("finn").is_empty(),
        "a contractor's e-mail domain does not match"
    );
    assert!(live.get(orgctl::model::Kind::User, &n("gus")).is_some());
    assert_eq!(
        attrs(&sim, "/person/gus")["account_expire"],
        json!(["1970-01-01T00:00:00Z"])
    );
}
