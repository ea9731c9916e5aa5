//! orgctl against the real Keycloak server of the test run: what the plan
//! promises is what Keycloak enforces (token requests sign in for real),
//! drift made through Keycloak's own admin API is found and corrected, a
//! realm built by hand exports to files that plan without field changes,
//! what Keycloak cannot hold is a plan error with nothing written, and an
//! apply cut off mid-way reports per change and converges on the next run.
//! Each test has a realm of its own. Without a Keycloak (plain `cargo test`)
//! the suite says so in one line and runs nothing; `scripts/test-all.sh`
//! starts one and makes its absence a failure.

use crate::common;

use std::io::{Read, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{Keycloak, Run};
use serde_json::json;

const APP_SECRET: &str = "crm-client-secret-0123456789";
const PASSWORD: &str = "Correct-horse-battery-9";

struct Env {
    dir: tempfile::TempDir,
    kc: Keycloak,
    realm: String,
    /// The backend address (the server itself, or a proxy in front of it).
    address: String,
}

impl Env {
    fn new(realm: &str) -> Option<Env> {
        let kc = common::keycloak("Keycloak suite")?;
        kc.drop_realm(realm);
        Some(Env {
            dir: tempfile::tempdir().expect("tempdir"),
            address: kc.address(),
            kc,
            realm: realm.to_string(),
        })
    }

    fn run(&self, args: &[&str]) -> Run {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_orgctl"))
            .current_dir(self.dir.path())
            .args(args)
            .env("ORGCTL_BACKEND", &self.address)
            .envs(self.kc.env())
            .env("CRM_SECRET", APP_SECRET)
            .env("NO_COLOR", "1")
            .env_remove("ORGCTL_LOG")
            .output()
            .expect("run orgctl");
        let run = Run::from_output(&out, self.dir.path());
        let all = format!("{}{}", run.stdout, run.stderr);
        assert!(
            !all.contains(APP_SECRET),
            "a secret was printed:\n{}",
            run.transcript()
        );
        assert!(
            !all.contains(&self.kc.client_secret),
            "the admin secret was printed:\n{}",
            run.transcript()
        );
        run
    }

    /// Writes the organization's files (`org.yaml` with `extra` appended).
    fn files(&self, extra: &str) -> String {
        let dir = self.dir.path().join("org");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("org.yaml"), org_yaml(&self.realm, extra)).expect("write");
        dir.display().to_string()
    }

    fn apply(&self, files: &str) -> Run {
        let r = self.run(&["apply", "-f", files, "--auto-approve"]);
        assert_eq!(r.code, 0, "{}", r.transcript());
        r
    }

    fn plan(&self, files: &str) -> Run {
        self.run(&["plan", "-f", files, "--detailed-exitcode"])
    }

    fn admin(&self, method: &str, path: &str, body: Option<serde_json::Value>) -> (u16, serde_json::Value) {
        self.kc.admin(method, &format!("/{}{path}", self.realm), body)
    }

    fn user_id(&self, user: &str) -> String {
        self.kc
            .id_of(&format!("/{}/users?username={user}&exact=true", self.realm))
    }

    fn client_uuid(&self, client: &str) -> String {
        self.kc
            .id_of(&format!("/{}/clients?clientId={client}", self.realm))
    }

    /// Sets a user's password as an admin would.
    fn set_password(&self, user: &str, password: &str) -> (u16, serde_json::Value) {
        let id = self.user_id(user);
        self.admin(
            "PUT",
            &format!("/users/{id}/reset-password"),
            Some(json!({ "type": "password", "value": password, "temporary": false })),
        )
    }

    /// Lets the client take password grants (a setting orgctl leaves alone),
    /// so the test can sign in without a browser.
    fn allow_password_grants(&self, client: &str) {
        let uuid = self.client_uuid(client);
        let (status, mut c) = self.admin("GET", &format!("/clients/{uuid}"), None);
        assert_eq!(status, 200);
        c["directAccessGrantsEnabled"] = json!(true);
        let (status, v) = self.admin("PUT", &format!("/clients/{uuid}"), Some(c));
        assert_eq!(status, 204, "{v}");
    }

    fn sign_in(&self, user: &str) -> (u16, String) {
        self.kc.sign_in(&self.realm, "crm", APP_SECRET, user, PASSWORD)
    }
}

/// An organization Keycloak can hold completely.
fn org_yaml(realm: &str, extra: &str) -> String {
    format!(
        r#"apiVersion: orgctl.io/v1alpha1
kind: Organization
metadata: {{name: {realm}}}
spec:
  displayName: Test realm {realm}
  domains: [{realm}.example]
  superAdmin: ada
---
apiVersion: orgctl.io/v1alpha1
kind: RoleBinding
metadata: {{name: admins}}
spec:
  organization: {realm}
  role: admin
  subjects: {{users: [ada]}}
---
apiVersion: orgctl.io/v1alpha1
kind: User
metadata: {{name: ada}}
spec: {{organization: {realm}, email: ada@{realm}.example, firstName: Ada, lastName: Lovelace, department: IT}}
---
apiVersion: orgctl.io/v1alpha1
kind: User
metadata: {{name: sam}}
spec: {{organization: {realm}, email: sam@{realm}.example, firstName: Sam, lastName: Seller, department: Sales, customAttributes: {{costCenter: "4711"}}}}
---
apiVersion: orgctl.io/v1alpha1
kind: User
metadata: {{name: eve}}
spec: {{organization: {realm}, email: eve@{realm}.example, firstName: Eve, lastName: Engineer, department: Engineering}}
---
apiVersion: orgctl.io/v1alpha1
kind: Group
metadata: {{name: staff}}
spec:
  organization: {realm}
  members: {{users: [ada, eve, sam], groups: [sales]}}
---
apiVersion: orgctl.io/v1alpha1
kind: Group
metadata: {{name: sales}}
spec:
  organization: {realm}
  description: The sales team
  members: {{users: [sam]}}
---
apiVersion: orgctl.io/v1alpha1
kind: Application
metadata: {{name: crm}}
spec:
  organization: {realm}
  type: oidc
  displayName: CRM
  oidc:
    redirectUris: [https://crm.{realm}.example/callback]
    clientSecret: {{fromEnv: CRM_SECRET}}
  roles: [sales-rep, viewer]
---
apiVersion: orgctl.io/v1alpha1
kind: AppAssignment
metadata: {{name: sales-crm}}
spec:
  organization: {realm}
  priority: 10
  rule: {{field: department, op: equals, value: Sales}}
  assign: [{{app: crm, role: sales-rep}}]
---
apiVersion: orgctl.io/v1alpha1
kind: Role
metadata: {{name: helpdesk}}
spec:
  organization: {realm}
  description: Reads users and groups
  permissions: {{user: [view], group: [view]}}
---
apiVersion: orgctl.io/v1alpha1
kind: RoleBinding
metadata: {{name: helpdesk-staff}}
spec:
  organization: {realm}
  role: helpdesk
  subjects: {{users: [eve]}}
{extra}"#
    )
}

fn policy(mfa: bool) -> String {
    format!(
        "---\napiVersion: orgctl.io/v1alpha1\nkind: SecurityPolicy\nmetadata: {{name: standard}}\nspec:\n  organization: ORG\n  default: true\n  password: {{minLength: 12, historyCount: 3, mixedCase: true}}\n  session: {{lifetime: 1d, idleTimeout: 2h}}\n  mfa: {{required: {mfa}{}}}\n",
        if mfa { ", modes: [totp]" } else { "" }
    )
}

#[test]
fn assigned_users_sign_in_others_are_refused_and_the_password_policy_holds() {
    let Some(env) = Env::new("kc-enforce") else { return };
    let files = env.files(&policy(false).replace("ORG", &env.realm));
    let r = env.plan(&files);
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(
        r.stdout.contains("+ 1 user gets app \"crm\" as sales-rep: sam"),
        "{}",
        r.stdout
    );
    env.apply(&files);
    let r = env.plan(&files);
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert_eq!(r.stdout, "No changes. The live directory matches the files.\n");

    env.allow_password_grants("crm");
    for user in ["sam", "eve"] {
        let (status, v) = env.set_password(user, PASSWORD);
        assert_eq!(status, 204, "{v}");
    }
    // Keycloak refuses a password shorter than the policy's 12.
    let (status, v) = env.set_password("eve", "Short-1a");
    assert_eq!(status, 400, "{v}");
    assert!(v.to_string().contains("invalidPasswordMinLengthMessage"), "{v}");

    // sam matches the rule and gets a token; eve does not and is refused.
    assert_eq!(env.sign_in("sam").0, 200);
    let (status, why) = env.sign_in("eve");
    assert_eq!((status, why.as_str()), (401, "Access denied"));
    // orgctl says the same.
    let explain = |user: &str| env.run(&["explain", "user", user, "--org", &env.realm]);
    let sam = explain("sam");
    assert!(sam.stdout.contains("crm"), "{}", sam.transcript());
    let eve = explain("eve");
    assert!(!eve.stdout.contains("crm as"), "{}", eve.transcript());

    // A grant made by hand in Keycloak lets eve in and is kept by orgctl.
    let uuid = env.client_uuid("crm");
    let (_, role) = env.admin("GET", &format!("/clients/{uuid}/roles/viewer"), None);
    let eve_id = env.user_id("eve");
    let (status, v) = env.admin(
        "POST",
        &format!("/users/{eve_id}/role-mappings/clients/{uuid}"),
        Some(json!([{ "id": role["id"], "name": "viewer" }])),
    );
    assert_eq!(status, 204, "{v}");
    assert_eq!(env.sign_in("eve").0, 200);
    let r = env.plan(&files);
    assert_eq!(r.code, 0, "a hand-made grant is not drift:\n{}", r.transcript());

    // sam leaves Sales: the plan says sam loses crm, and Keycloak agrees.
    let text = std::fs::read_to_string(PathBuf::from(&files).join("org.yaml")).expect("read");
    std::fs::write(
        PathBuf::from(&files).join("org.yaml"),
        text.replace(
            "lastName: Seller, department: Sales",
            "lastName: Seller, department: Support",
        ),
    )
    .expect("write");
    let r = env.plan(&files);
    assert!(
        r.stdout
            .contains("- 1 user loses app \"crm\" (was sales-rep): sam"),
        "{}",
        r.stdout
    );
    env.apply(&files);
    assert_eq!(env.sign_in("sam"), (401, "Access denied".to_string()));
    assert_eq!(env.sign_in("eve").0, 200, "the hand-made grant stays");
}

#[test]
fn mfa_required_makes_keycloak_ask_for_otp_and_explain_signin_agrees() {
    let Some(env) = Env::new("kc-mfa") else { return };
    let files = env.files(&policy(false).replace("ORG", &env.realm));
    env.apply(&files);
    env.allow_password_grants("crm");
    assert_eq!(env.set_password("sam", PASSWORD).0, 204);
    assert_eq!(env.sign_in("sam").0, 200, "no MFA yet");
    let r = env.run(&[
        "explain",
        "signin",
        "--user",
        "sam",
        "--ip",
        "127.0.0.1",
        "--org",
        &env.realm,
    ]);
    assert_eq!(r.code, 0, "{}", r.transcript());

    let files = env.files(&policy(true).replace("ORG", &env.realm));
    let r = env.plan(&files);
    assert!(r.stdout.contains("mfa.required"), "{}", r.stdout);
    env.apply(&files);
    assert_eq!(env.plan(&files).code, 0);
    // sam has no OTP device: Keycloak will not finish the sign-in (a
    // password grant cannot set one up; Keycloak logs "credential setup
    // required" for direct-grant-validate-otp and answers 500).
    let (status, why) = env.sign_in("sam");
    assert_eq!(
        (status, why.as_str()),
        (500, "For more on this error consult the server log.")
    );
    // explain signin without a second factor is denied (exit 3), with TOTP allowed.
    let r = env.run(&[
        "explain",
        "signin",
        "--user",
        "sam",
        "--ip",
        "127.0.0.1",
        "--org",
        &env.realm,
    ]);
    assert_eq!(r.code, 3, "{}", r.transcript());
    let r = env.run(&[
        "explain",
        "signin",
        "--user",
        "sam",
        "--ip",
        "127.0.0.1",
        "--mfa",
        "totp",
        "--org",
        &env.realm,
    ]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    // MFA optional again: the same sign-in goes through.
    let files = env.files(&policy(false).replace("ORG", &env.realm));
    env.apply(&files);
    assert_eq!(env.plan(&files).code, 0);
    assert_eq!(env.sign_in("sam").0, 200);
}

#[test]
fn drift_made_in_keycloak_is_planned_and_corrected_and_unmanaged_objects_are_left_alone() {
    let Some(env) = Env::new("kc-drift") else { return };
    let files = env.files(&policy(false).replace("ORG", &env.realm));
    env.apply(&files);
    // Behind orgctl's back: a changed attribute, a removed grant-group
    // membership (sam's rule-made grants), and a new client nobody declared.
    let sam = env.user_id("sam");
    let (_, mut user) = env.admin("GET", &format!("/users/{sam}"), None);
    user["attributes"]["department"] = json!(["Marketing"]);
    assert_eq!(env.admin("PUT", &format!("/users/{sam}"), Some(user)).0, 204);
    let (_, groups) = env.admin("GET", &format!("/users/{sam}/groups"), None);
    let grant_group = groups
        .as_array()
        .and_then(|g| {
            g.iter().find(|g| {
                g["path"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("/orgctl-grants/"))
            })
        })
        .cloned()
        .expect("sam is in the grant group of its rule-made list");
    let gid = grant_group["id"].as_str().expect("id");
    assert_eq!(
        env.admin("DELETE", &format!("/users/{sam}/groups/{gid}"), None).0,
        204
    );
    let (status, _) = env.admin(
        "POST",
        "/clients",
        Some(json!({ "clientId": "wiki", "protocol": "openid-connect" })),
    );
    assert_eq!(status, 201);

    let r = env.plan(&files);
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(
        r.stdout.contains("~ department = \"Marketing\" -> \"Sales\""),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("+ 1 user gets app \"crm\" as sales-rep: sam"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("1 unmanaged"),
        "the hand-made client is counted:\n{}",
        r.stdout
    );
    env.apply(&files);
    assert_eq!(env.plan(&files).code, 0);
    // The hand-made client is still there.
    let (status, v) = env.admin("GET", "/clients?clientId=wiki", None);
    assert_eq!((status, v.as_array().map(Vec::len)), (200, Some(1)));

    // A role mapping removed behind orgctl's back: the app role taken out of
    // the realm role that sam's grant group carries.
    assert_eq!(env.set_password("sam", PASSWORD).0, 204);
    assert_eq!(env.sign_in("sam").0, 200);
    let (_, groups) = env.admin("GET", &format!("/users/{sam}/groups"), None);
    let key = groups
        .as_array()
        .and_then(|g| {
            g.iter().find_map(|g| {
                g["path"]
                    .as_str()?
                    .strip_prefix("/orgctl-grants/")
                    .map(str::to_string)
            })
        })
        .expect("sam is in a grant group again");
    let role = format!("/roles/grants:{key}/composites");
    let (_, composites) = env.admin("GET", &role, None);
    let crm: Vec<serde_json::Value> = composites
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["name"] == "sales-rep")
        .cloned()
        .collect();
    assert_eq!(crm.len(), 1, "{composites}");
    assert_eq!(env.admin("DELETE", &role, Some(json!(crm))).0, 204);
    assert_eq!(
        env.sign_in("sam"),
        (401, "Access denied".to_string()),
        "sam lost the crm role"
    );
    let r = env.plan(&files);
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(
        r.stdout.contains("+ 1 user gets app \"crm\" as sales-rep: sam"),
        "{}",
        r.stdout
    );
    env.apply(&files);
    assert_eq!(env.plan(&files).code, 0);
    let back = env.sign_in("sam");
    assert_eq!(back.0, 200, "the role is back: {}", back.1);
}

#[test]
fn a_realm_built_by_hand_exports_to_files_that_plan_without_field_changes() {
    let Some(env) = Env::new("kc-byhand") else { return };
    let (s, v) = env.kc.admin(
        "POST",
        "",
        Some(json!({ "realm": env.realm, "enabled": true, "displayName": "Built by hand" })),
    );
    assert_eq!(s, 201, "{v}");
    let (s, mut profile) = env.admin("GET", "/users/profile", None);
    assert_eq!(s, 200);
    profile["unmanagedAttributePolicy"] = json!("ENABLED");
    assert_eq!(env.admin("PUT", "/users/profile", Some(profile)).0, 200);
    for (user, dept) in [("root", "IT"), ("nora", "Sales")] {
        let (s, v) = env.admin(
            "POST",
            "/users",
            Some(json!({
                "username": user, "email": format!("{user}@byhand.example"), "firstName": user, "lastName": "Hand",
                "enabled": true, "attributes": { "department": [dept] },
            })),
        );
        assert_eq!(s, 201, "{v}");
    }
    let (s, _) = env.admin("POST", "/groups", Some(json!({ "name": "sellers" })));
    assert_eq!(s, 201);
    let gid = env.kc.id_of(&format!("/{}/groups?search=sellers", env.realm));
    let nora = env.user_id("nora");
    assert_eq!(
        env.admin("PUT", &format!("/users/{nora}/groups/{gid}"), None).0,
        204
    );
    let (s, _) = env.admin(
        "POST",
        "/clients",
        Some(json!({ "clientId": "shop", "name": "Shop", "protocol": "openid-connect", "redirectUris": ["https://shop.byhand.example/*"] })),
    );
    assert_eq!(s, 201);
    let shop = env.client_uuid("shop");
    assert_eq!(
        env.admin(
            "POST",
            &format!("/clients/{shop}/roles"),
            Some(json!({ "name": "buyer" }))
        )
        .0,
        201
    );
    // The realm's admin.
    let rm = env.client_uuid("realm-management");
    let (_, admin_role) = env.admin("GET", &format!("/clients/{rm}/roles/realm-admin"), None);
    let root = env.user_id("root");
    let (s, v) = env.admin(
        "POST",
        &format!("/users/{root}/role-mappings/clients/{rm}"),
        Some(json!([{ "id": admin_role["id"], "name": "realm-admin" }])),
    );
    assert_eq!(s, 204, "{v}");

    let r = env.run(&["export", "--org", &env.realm, "--dir", "exported"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    let users = std::fs::read_to_string(env.dir.path().join("exported/users.yaml")).expect("users.yaml");
    assert!(users.contains("department: Sales"), "{users}");
    // Nothing of it is orgctl's yet: planning asks for --adopt and writes nothing.
    let r = env.plan("exported");
    assert_eq!(r.code, 1, "{}", r.transcript());
    assert!(
        r.stderr.contains("not managed by orgctl; re-run with --adopt"),
        "{}",
        r.stderr
    );
    // Adopted, the plan changes no field: only ownership moves.
    let r = env.run(&["plan", "-f", "exported", "--adopt"]);
    assert!(!r.stdout.contains(" -> "), "no field changes:\n{}", r.stdout);
    let r = env.run(&["apply", "-f", "exported", "--adopt", "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    let r = env.plan("exported");
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert_eq!(r.stdout, "No changes. The live directory matches the files.\n");
}

#[test]
fn what_keycloak_cannot_hold_is_a_plan_error_and_nothing_is_written() {
    let Some(env) = Env::new("kc-gaps") else { return };
    let realm = &env.realm;
    let extra = format!(
        "{}---\napiVersion: orgctl.io/v1alpha1\nkind: SecurityPolicy\nmetadata: {{name: admins-only}}\nspec:\n  organization: {realm}\n  priority: 10\n  targets: {{users: [ada]}}\n  network: {{allowedIps: [203.0.113.0/24]}}\n---\napiVersion: orgctl.io/v1alpha1\nkind: Role\nmetadata: {{name: creator}}\nspec: {{organization: {realm}, permissions: {{user: [create]}}}}\n",
        policy(false).replace("ORG", realm),
    );
    let files = env.files(&extra);
    let r = env.plan(&files);
    assert_eq!(r.code, 1, "{}", r.transcript());
    let b = env.address.clone();
    let expected = [
        format!("error: role \"creator\": field spec.permissions cannot be stored by backend {b}: Keycloak's realm-management roles cannot give user:create alone"),
        format!("error: security policy \"admins-only\": field spec.targets cannot be stored by backend {b}: Keycloak holds one realm-wide policy: only the default policy (default: true) can be expressed"),
        format!("error: security policy \"admins-only\": field spec.network.allowedIps cannot be stored by backend {b}: Keycloak has no IP allow-list (enforce it at a reverse proxy)"),
    ];
    for e in &expected {
        assert!(r.stderr.contains(e.as_str()), "missing {e:?} in\n{}", r.stderr);
    }
    let r = env.run(&["apply", "-f", &files, "--auto-approve"]);
    assert_eq!(r.code, 1);
    let (status, _) = env.kc.admin("GET", &format!("/{}", env.realm), None);
    assert_eq!(status, 404, "nothing was written: the realm does not exist");
}

/// A TCP relay in front of Keycloak that can be cut: after `cut_after`
/// requests have started, every connection is dropped, as when the server
/// stops. Loopback only.
struct Relay {
    address: String,
    down: Arc<AtomicBool>,
}

impl Relay {
    fn start(target: &str, cut_after: usize) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = format!("http://{}", listener.local_addr().expect("addr"));
        let target = target.trim_start_matches("http://").to_string();
        let down = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(AtomicUsize::new(0));
        let d = down.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(client) = stream else { continue };
                if d.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                let (d2, seen2) = (d.clone(), seen.clone());
                std::thread::spawn(move || relay(client, server, d2, seen2, cut_after));
            }
        });
        Relay { address, down }
    }
}

/// Copies both ways; counts requests (client writes that start with a
/// method) and cuts every connection once the count passes `cut_after`.
fn relay(
    mut client: TcpStream,
    mut server: TcpStream,
    down: Arc<AtomicBool>,
    seen: Arc<AtomicUsize>,
    cut_after: usize,
) {
    let mut back_client = client.try_clone().expect("clone");
    let mut back_server = server.try_clone().expect("clone");
    let d = down.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        while let Ok(n) = back_server.read(&mut buf) {
            if n == 0 || d.load(Ordering::SeqCst) || back_client.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = back_client.shutdown(std::net::Shutdown::Both);
    });
    let _ = client.set_read_timeout(Some(Duration::from_millis(200)));
    let mut buf = [0u8; 16 * 1024];
    loop {
        if down.load(Ordering::SeqCst) {
            break;
        }
        match client.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let starts = [&b"GET "[..], b"PUT ", b"POST ", b"DELETE "]
                    .iter()
                    .any(|m| buf[..n].starts_with(m));
                if starts && seen.fetch_add(1, Ordering::SeqCst) + 1 > cut_after {
                    down.store(true, Ordering::SeqCst);
                    break;
                }
                if server.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    let _ = client.shutdown(std::net::Shutdown::Both);
    let _ = server.shutdown(std::net::Shutdown::Both);
}

#[test]
fn keycloak_gone_mid_apply_is_reported_per_change_and_the_next_apply_converges() {
    let Some(mut env) = Env::new("kc-fault") else {
        return;
    };
    let files = env.files(&policy(false).replace("ORG", &env.realm));
    // Enough requests for the snapshot and a few writes, then the relay cuts.
    let relay = Relay::start(&env.kc.url, 40);
    env.address = format!("keycloak+{}", relay.address);
    let r = env.run(&["apply", "-f", &files, "--auto-approve"]);
    assert!(relay.down.load(Ordering::SeqCst), "the relay cut the connection");
    assert_eq!(r.code, 1, "{}", r.transcript());
    assert!(
        r.stdout.contains("failed") || r.stderr.contains("failed"),
        "{}",
        r.transcript()
    );
    assert!(
        r.stdout.contains(": not applied\n"),
        "later changes are reported as not applied:\n{}",
        r.transcript()
    );
    assert!(
        r.stdout
            .contains("The changes listed as applied were written and stay"),
        "{}",
        r.transcript()
    );
    // Keycloak is back (no relay): the next apply finishes the job.
    env.address = env.kc.address();
    let r = env.apply(&files);
    assert!(r.stdout.contains("Apply complete!"), "{}", r.transcript());
    let r = env.plan(&files);
    assert_eq!(r.code, 0, "{}", r.transcript());
}

#[test]
fn history_explains_that_keycloak_keeps_no_audit_log() {
    let Some(env) = Env::new("kc-history") else { return };
    let r = env.run(&["history"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert_eq!(
        r.stdout,
        "No history: Keycloak keeps no audit log of orgctl's writes; its own admin events (Realm settings → Events → Admin events, when enabled) record every change.\n"
    );
}

/// The first 128 bits of the unkeyed SHA-256 of `value`, as orgctl used to
/// store secret digests: anyone could test guesses against it.
fn unkeyed_digest(value: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(value.as_bytes());
    let hex: String = d.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

#[test]
fn the_keycloak_example_applies_completely_and_replans_to_no_changes() {
    let Some(env) = Env::new("northwind") else { return };
    let example = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/keycloak");
    let example = example.display().to_string();
    let with = |portal: &str, google: &str, args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_orgctl"))
            .current_dir(env.dir.path())
            .args(args)
            .env("ORGCTL_BACKEND", &env.address)
            .envs(env.kc.env())
            .env("PORTAL_CLIENT_SECRET", portal)
            .env("GOOGLE_CLIENT_SECRET", google)
            .env("NO_COLOR", "1")
            .output()
            .expect("run orgctl");
        Run::from_output(&out, env.dir.path())
    };
    let run = |args: &[&str]| with("portal-secret-for-tests", "google-secret-for-tests", args);
    let r = run(&["apply", "-f", &example, "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert!(
        r.stdout.contains("Apply complete! Objects: 29 added"),
        "{}",
        r.stdout
    );
    let r = run(&["plan", "-f", &example, "--detailed-exitcode"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert_eq!(r.stdout, "No changes. The live directory matches the files.\n");

    // The identity provider's digest is keyed with the realm's own key.
    let (status, realm) = env.admin("GET", "", None);
    assert_eq!(status, 200, "{realm}");
    let key = realm["attributes"]["orgctl.io/secret-digest-key"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(key.len(), 64, "a 32-byte key in the realm: {realm}");
    let idp_path = "/identity-provider/instances/google";
    let (status, mut idp) = env.admin("GET", idp_path, None);
    assert_eq!(status, 200, "{idp}");
    let stored = idp["config"]["orgctl.io/secret-digest"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(stored.starts_with("hmac-sha256:"), "{idp}");
    assert_ne!(stored, unkeyed_digest("google-secret-for-tests"));

    // A digest an earlier orgctl stored (unkeyed) is rewritten once.
    idp["config"]["orgctl.io/secret-digest"] = json!(unkeyed_digest("google-secret-for-tests"));
    let (status, v) = env.admin("PUT", idp_path, Some(idp));
    assert_eq!(status, 204, "{v}");
    let r = run(&["plan", "-f", &example, "--detailed-exitcode"]);
    assert_eq!(r.code, 2, "{}", r.transcript());
    assert!(
        r.stdout.contains("Plan: 0 to add, 1 to change, 0 to destroy."),
        "{}",
        r.stdout
    );
    let r = run(&["apply", "-f", &example, "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    let r = run(&["plan", "-f", &example, "--detailed-exitcode"]);
    assert_eq!(r.code, 0, "{}", r.transcript());

    // Rotating both secrets writes each once; no plan shows a digest.
    let rotated = |args: &[&str]| with("portal-secret-rotated", "google-secret-rotated", args);
    let r = rotated(&["plan", "-f", &example, "--output", "json"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert!(r.stdout.contains("(sensitive value)"), "{}", r.stdout);
    assert!(
        !r.stdout.contains("sha256:"),
        "a digest in the plan: {}",
        r.stdout
    );
    let r = rotated(&["apply", "-f", &example, "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    assert!(
        r.stdout.contains("Objects: 0 added, 2 changed, 0 destroyed."),
        "{}",
        r.stdout
    );
    let r = rotated(&["plan", "-f", &example, "--detailed-exitcode"]);
    assert_eq!(r.code, 0, "{}", r.transcript());
    let uuid = env.client_uuid("portal");
    let (status, secret) = env.admin("GET", &format!("/clients/{uuid}/client-secret"), None);
    assert_eq!(status, 200, "{secret}");
    assert_eq!(secret["value"], "portal-secret-rotated");
}
