//! `orgctl controller` end to end: the controller runs against an in-memory
//! Kubernetes API server (tests/support/fake_api.rs, a tower service behind
//! a real `kube::Client`) and a real SQLite backend in a temporary
//! directory. Each test starts its own API server, backend and controller.

use crate::fake_api;
use crate::kanidm_sim;

use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_api::{FakeApi, Res};
use orgctl::backend::{self, LiveOrg, Write, WriteRequest};
use orgctl::controller::{self, leader::LeaseSettings, Handle, OpenBackend, Settings};
use orgctl::model::{Kind, Name, Spec};
use serde_json::{json, Value};

const NS: &str = "identity";

struct Env {
    api: FakeApi,
    backend: String,
    _dir: tempfile::TempDir,
    handle: Handle,
}

fn res(kind: Kind) -> Res {
    Res::orgctl(&controller::objects::plural(kind))
}

fn settings(backend: &str, resync: Duration) -> Settings {
    Settings {
        backend: backend.to_string(),
        resync,
        debounce: Duration::from_millis(50),
        backoff_base: Duration::from_millis(100),
        backoff_max: Duration::from_secs(1),
        ..Settings::default()
    }
}

impl Env {
    fn start(resync: Duration) -> Env {
        Env::start_with(resync, |_| {})
    }

    fn start_with(resync: Duration, adjust: impl FnOnce(&mut Settings)) -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let backend = format!("sqlite:{}", dir.path().join("directory.db").display());
        let api = FakeApi::new();
        let mut s = settings(&backend, resync);
        adjust(&mut s);
        let handle = controller::start(api.client(), s, Arc::new(OpenBackend::default()));
        Env {
            api,
            backend,
            _dir: dir,
            handle,
        }
    }

    fn create(&self, kind: Kind, name: &str, spec: Value) {
        self.api.create(
            &res(kind),
            NS,
            json!({
                "apiVersion": "orgctl.io/v1alpha1",
                "kind": kind.as_str(),
                "metadata": {"name": name, "namespace": NS},
                "spec": spec,
            }),
        );
    }

    /// The small organization of tests/data/small, as custom resources.
    fn seed(&self) {
        self.create(
            Kind::Organization,
            "acme",
            json!({"displayName": "Acme Corp", "domains": ["acme.example"], "superAdmin": "alice"}),
        );
        self.create(
            Kind::RoleBinding,
            "org-admins",
            json!({"organization": "acme", "role": "admin", "subjects": {"users": ["alice"]}}),
        );
        self.create(
            Kind::SecurityPolicy,
            "default",
            json!({"organization": "acme", "default": true, "password": {"minLength": 10}}),
        );
        self.create(
            Kind::User,
            "alice",
            json!({"organization": "acme", "email": "alice@acme.example", "department": "Engineering"}),
        );
        self.create(
            Kind::User,
            "bob",
            json!({"organization": "acme", "email": "bob@acme.example", "department": "Sales"}),
        );
        self.create(
            Kind::Group,
            "sales",
            json!({"organization": "acme", "members": {"users": ["bob"]}}),
        );
    }

    fn object(&self, kind: Kind, name: &str) -> Option<Value> {
        self.api.get(&res(kind), NS, name)
    }

    fn condition(&self, kind: Kind, name: &str, type_: &str) -> Option<Value> {
        let o = self.object(kind, name)?;
        o["status"]["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == type_)
            .cloned()
    }

    fn ready(&self, kind: Kind, name: &str) -> Option<(String, String)> {
        let c = self.condition(kind, name, "Ready")?;
        Some((
            c["status"].as_str()?.to_string(),
            c["reason"].as_str()?.to_string(),
        ))
    }

    fn live(&self) -> LiveOrg {
        let b = backend::open(&self.backend).expect("open backend");
        b.snapshot(&name("acme")).expect("snapshot")
    }

    /// Edits bob's department and waits until the backend has it.
    async fn move_bob_to(&self, department: &str, what: &str) {
        self.api.edit_spec(&res(Kind::User), NS, "bob", |spec| {
            spec["department"] = json!(department);
        });
        eventually(what, WAIT, || {
            self.live_spec(Kind::User, "bob")
                .is_some_and(|s| s["department"] == department)
        })
        .await;
    }

    /// Writes directly to the backend, behind the controller's back.
    fn write_behind(&self, write: Write) {
        let mut b = backend::open(&self.backend).expect("open");
        let live = b.snapshot(&name("acme")).expect("snapshot");
        let request = WriteRequest {
            organization: name("acme"),
            expected_revision: live.revision,
            writes: vec![write],
            audit: Vec::new(),
        };
        b.write(request, &mut |_| {})
            .expect("write behind the controller's back");
    }

    fn live_spec(&self, kind: Kind, n: &str) -> Option<Value> {
        self.live().get(kind, &name(n)).map(|o| o.spec.to_json())
    }

    fn events(&self, reason: &str) -> Vec<Value> {
        self.api
            .all(&Res::new("events.k8s.io", "events"))
            .into_iter()
            .filter(|e| e["reason"] == reason)
            .collect()
    }

    fn reconciles(&self) -> u64 {
        self.handle.metrics.reconciles.get()
    }

    /// The reconcile count once no reconcile has finished for 500 ms. A
    /// reconcile is counted after it wrote its statuses and Events, so a
    /// test that saw them may read the count just before it moves; 500 ms
    /// is below the tests' longest backoff (1 s), so a retry loop still
    /// shows in a longer window after it.
    async fn settled_reconciles(&self) -> u64 {
        let start = Instant::now();
        let mut last = self.reconciles();
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now = self.reconciles();
            if now == last || start.elapsed() > WAIT {
                return now;
            }
            last = now;
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

fn name(n: &str) -> Name {
    n.parse().expect("a valid name")
}

/// Polls `check` until it holds or `limit` passes.
async fn eventually(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < limit, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

const WAIT: Duration = Duration::from_secs(20);

fn is_ready(env: &Env, kind: Kind, n: &str) -> bool {
    env.ready(kind, n).is_some_and(|(s, _)| s == "True")
}

async fn seeded(resync: Duration) -> Env {
    let env = Env::start(resync);
    env.seed();
    eventually("the seeded organization is Ready", WAIT, || {
        [
            (Kind::Organization, "acme"),
            (Kind::RoleBinding, "org-admins"),
            (Kind::SecurityPolicy, "default"),
            (Kind::User, "alice"),
            (Kind::User, "bob"),
            (Kind::Group, "sales"),
        ]
        .iter()
        .all(|(k, n)| is_ready(&env, *k, n))
    })
    .await;
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_resources_reach_the_backend_and_report_ready() {
    let env = seeded(Duration::from_secs(60)).await;
    let bob = env.live_spec(Kind::User, "bob").expect("bob is in the backend");
    assert_eq!(bob["department"], "Sales");
    assert!(env.live_spec(Kind::Group, "sales").is_some());

    let org = env.object(Kind::Organization, "acme").expect("org");
    let status = &org["status"];
    assert_eq!(status["observedGeneration"], 1);
    assert!(
        status["backendRevision"].as_i64().is_some_and(|r| r > 0),
        "{status}"
    );
    assert_eq!(status["plan"]["add"], 6, "{status}");
    assert!(status["impact"].is_object(), "{status}");
    let synced = env.condition(Kind::User, "bob", "Synced").expect("Synced");
    assert_eq!(synced["status"], "True");
    // Events are published after the statuses are written.
    eventually("an Applied event", Duration::from_secs(20), || {
        !env.events("Applied").is_empty()
    })
    .await;
    // Orphan (the default) needs no finalizer.
    let bob_cr = env.object(Kind::User, "bob").expect("bob");
    assert!(bob_cr["metadata"]["finalizers"].is_null(), "{bob_cr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_updates_the_backend_and_keeps_the_transition_time() {
    let env = seeded(Duration::from_secs(60)).await;
    let before = env.condition(Kind::User, "bob", "Ready").expect("Ready");
    env.move_bob_to("Marketing", "bob's new department is in the backend")
        .await;
    eventually("bob's status observed generation 2", WAIT, || {
        env.object(Kind::User, "bob")
            .is_some_and(|o| o["status"]["observedGeneration"] == 2)
    })
    .await;
    let after = env.condition(Kind::User, "bob", "Ready").expect("Ready");
    assert_eq!(after["status"], "True");
    assert_eq!(
        after["lastTransitionTime"], before["lastTransitionTime"],
        "Ready stayed True: its transition time must not move"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_resource_is_left_out_with_its_dependents_and_waits_for_a_change() {
    let env = seeded(Duration::from_secs(60)).await;
    // A group with an unknown member, and a binding that needs that group.
    env.create(
        Kind::Group,
        "broken",
        json!({"organization": "acme", "members": {"users": ["nobody"]}}),
    );
    env.create(
        Kind::RoleBinding,
        "broken-admins",
        json!({"organization": "acme", "role": "admin", "subjects": {"groups": ["broken"]}}),
    );
    env.create(Kind::Group, "fine", json!({"organization": "acme"}));
    eventually("the valid group is applied", WAIT, || {
        is_ready(&env, Kind::Group, "fine")
    })
    .await;
    eventually("the invalid group fails validation", WAIT, || {
        env.ready(Kind::Group, "broken")
            .is_some_and(|(s, r)| s == "False" && r == "ValidationFailed")
    })
    .await;
    eventually("its dependent fails too", WAIT, || {
        env.ready(Kind::RoleBinding, "broken-admins")
            .is_some_and(|(s, r)| s == "False" && r == "ValidationFailed")
    })
    .await;
    let message = env.condition(Kind::Group, "broken", "Ready").expect("Ready")["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(message.contains("nobody"), "{message}");
    let dependent = env
        .condition(Kind::RoleBinding, "broken-admins", "Ready")
        .expect("Ready");
    assert!(
        dependent["message"]
            .as_str()
            .unwrap_or_default()
            .contains("depends on"),
        "{dependent}"
    );
    assert!(
        env.live_spec(Kind::Group, "broken").is_none(),
        "nothing of it applied"
    );
    assert!(env.live_spec(Kind::RoleBinding, "broken-admins").is_none());
    assert!(env.live_spec(Kind::Group, "fine").is_some(), "the rest applied");
    assert_eq!(
        env.events("ValidationFailed").len(),
        2,
        "one Event per invalid resource"
    );

    // No retry loop: a permanent validation error waits for a change.
    let reconciles = env.settled_reconciles().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        env.reconciles(),
        reconciles,
        "an invalid resource must not be retried"
    );

    // Fixing the group brings both in.
    env.api.edit_spec(&res(Kind::Group), NS, "broken", |spec| {
        spec["members"] = json!({"users": ["bob"]});
    });
    eventually("the fixed group and its dependent are applied", WAIT, || {
        is_ready(&env, Kind::Group, "broken") && is_ready(&env, Kind::RoleBinding, "broken-admins")
    })
    .await;
    assert!(env.live_spec(Kind::RoleBinding, "broken-admins").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_in_the_backend_is_corrected_at_the_next_resync() {
    let env = seeded(Duration::from_secs(1)).await;
    // Someone edits bob directly in the backend.
    let bob = env.live().get(Kind::User, &name("bob")).expect("bob").clone();
    let mut spec = bob.spec.to_json();
    spec["department"] = json!("Finance");
    env.write_behind(Write::Put {
        kind: Kind::User,
        name: name("bob"),
        spec: Spec::from_json(Kind::User, spec).expect("spec"),
        secrets: Default::default(),
        managed: true,
        expected: Some(bob.fingerprint.clone()),
        changed: None,
    });
    assert_eq!(
        env.live_spec(Kind::User, "bob").expect("bob")["department"],
        "Finance"
    );
    eventually("the drift is corrected", WAIT, || {
        env.live_spec(Kind::User, "bob")
            .is_some_and(|s| s["department"] == "Sales")
    })
    .await;
    eventually("a DriftCorrected Event", WAIT, || {
        !env.events("DriftCorrected").is_empty()
    })
    .await;
    drift_recorded(&env, (Kind::User, "bob"), Kind::User).await;
}

/// Waits for `object`'s Synced to say DriftCorrected, with the time in its
/// status, and for one drift correction of `counted` in the metrics.
async fn drift_recorded(env: &Env, object: (Kind, &str), counted: Kind) {
    let (kind, n) = object;
    eventually("Synced records when", WAIT, || {
        env.condition(kind, n, "Synced")
            .is_some_and(|c| c["reason"] == "DriftCorrected")
    })
    .await;
    let o = env.object(kind, n).expect("the resource");
    assert!(o["status"]["lastDriftCorrection"].is_string(), "{o}");
    let metrics = env.handle.metrics.encode();
    let line = format!("orgctl_controller_drift_corrections_total{{kind=\"{counted}\"}} 1");
    assert!(metrics.contains(&line), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assignments_changed_in_the_backend_are_reported_as_drift_and_restored() {
    let env = seeded(Duration::from_secs(1)).await;
    env.create(
        Kind::Application,
        "mail",
        json!({"organization": "acme", "type": "catalog", "displayName": "Mail", "catalogId": "mail", "roles": ["user"]}),
    );
    env.create(
        Kind::AppAssignment,
        "sales-mail",
        json!({"organization": "acme", "priority": 10, "rule": {"field": "department", "op": "equals", "value": "Sales"},
               "assign": [{"app": "mail", "role": "user"}]}),
    );
    let bob_has_mail = |env: &Env| {
        let live = env.live();
        live.grants
            .users
            .get(&name("bob"))
            .and_then(|set| live.grants.sets.get(*set as usize))
            .is_some_and(|list| list.iter().any(|g| g.app.as_str() == "mail"))
    };
    eventually("bob is given mail", WAIT, || bob_has_mail(&env)).await;
    eventually("the rule is Ready", WAIT, || {
        is_ready(&env, Kind::AppAssignment, "sales-mail")
    })
    .await;
    // Someone removes bob's rule-made grant directly in the backend.
    env.write_behind(Write::Grants {
        user: name("bob"),
        grants: Vec::new().into(),
    });
    assert!(!bob_has_mail(&env));
    eventually("the grant is restored", WAIT, || bob_has_mail(&env)).await;
    eventually("a DriftCorrected Event on the Organization", WAIT, || {
        env.events("DriftCorrected").iter().any(|e| {
            e["note"]
                .as_str()
                .is_some_and(|n| n.contains("app assignments of 1 user"))
        })
    })
    .await;
    drift_recorded(&env, (Kind::Organization, "acme"), Kind::AppAssignment).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_honours_the_deletion_policy() {
    let env = seeded(Duration::from_secs(60)).await;
    env.create(
        Kind::Group,
        "goes",
        json!({"organization": "acme", "deletionPolicy": "Delete"}),
    );
    env.create(
        Kind::Group,
        "stays",
        json!({"organization": "acme", "deletionPolicy": "Orphan"}),
    );
    eventually("both groups are applied", WAIT, || {
        is_ready(&env, Kind::Group, "goes") && is_ready(&env, Kind::Group, "stays")
    })
    .await;
    eventually("the Delete group holds the finalizer", WAIT, || {
        env.object(Kind::Group, "goes")
            .is_some_and(|o| o["metadata"]["finalizers"] == json!(["orgctl.io/finalizer"]))
    })
    .await;
    assert!(env.object(Kind::Group, "stays").expect("stays")["metadata"]["finalizers"].is_null());
    assert!(
        env.live_spec(Kind::Group, "goes").is_some(),
        "the spec was applied, and the deletion policy never reaches the backend"
    );
    assert!(env
        .live_spec(Kind::Group, "goes")
        .is_some_and(|s| s.get("deletionPolicy").is_none()));

    env.api.delete(&res(Kind::Group), NS, "goes");
    env.api.delete(&res(Kind::Group), NS, "stays");
    eventually("both resources are gone", WAIT, || {
        env.object(Kind::Group, "goes").is_none() && env.object(Kind::Group, "stays").is_none()
    })
    .await;
    assert!(
        env.live_spec(Kind::Group, "goes").is_none(),
        "Delete removes it from the backend"
    );
    assert!(env.live_spec(Kind::Group, "stays").is_some(), "Orphan leaves it");
    assert!(
        env.live_spec(Kind::Group, "sales").is_some(),
        "nothing else is deleted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_of_an_object_already_gone_from_the_backend_succeeds() {
    let env = seeded(Duration::from_secs(60)).await;
    env.create(
        Kind::Group,
        "gone",
        json!({"organization": "acme", "deletionPolicy": "Delete"}),
    );
    eventually("the group has its finalizer", WAIT, || {
        is_ready(&env, Kind::Group, "gone")
            && env
                .object(Kind::Group, "gone")
                .is_some_and(|o| o["metadata"]["finalizers"].is_array())
    })
    .await;
    // Deleted in the backend first, then in Kubernetes.
    env.write_behind(Write::Delete {
        kind: Kind::Group,
        name: name("gone"),
        expected: None,
    });
    env.api.delete(&res(Kind::Group), NS, "gone");
    eventually("the resource is released", WAIT, || {
        env.object(Kind::Group, "gone").is_none()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspended_organization_is_planned_but_nothing_is_written() {
    let env = Env::start(Duration::from_secs(60));
    env.seed();
    env.api.edit_spec(&res(Kind::Organization), NS, "acme", |spec| {
        spec["suspend"] = json!(true);
    });
    eventually("the organization reports its plan", WAIT, || {
        env.object(Kind::Organization, "acme")
            .is_some_and(|o| o["status"]["plan"]["add"] == 6)
    })
    .await;
    eventually("bob is suspended", WAIT, || {
        env.ready(Kind::User, "bob")
            .is_some_and(|(s, r)| s == "False" && r == "Suspended")
    })
    .await;
    assert!(env.live().objects.is_empty(), "nothing written while suspended");

    env.api.edit_spec(&res(Kind::Organization), NS, "acme", |spec| {
        spec["suspend"] = json!(false);
    });
    eventually("resuming applies", WAIT, || is_ready(&env, Kind::User, "bob")).await;
    assert!(env.live_spec(Kind::User, "bob").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_secret_is_a_clear_condition_not_a_crash() {
    // Retries come far later than the test waits: only the Secret watch
    // can bring the organization back.
    let env = Env::start_with(Duration::from_secs(600), |s| {
        s.backoff_base = Duration::from_secs(600);
        s.backoff_max = Duration::from_secs(600);
    });
    env.seed();
    env.api.edit_spec(&res(Kind::Organization), NS, "acme", |spec| {
        spec["connection"] = json!({"tokenSecretRef": {"name": "directory-token", "key": "token"}});
    });
    eventually("Synced says the Secret is missing", WAIT, || {
        env.condition(Kind::User, "bob", "Synced")
            .is_some_and(|c| c["status"] == "False" && c["reason"] == "SecretMissing")
    })
    .await;
    let synced = env.condition(Kind::User, "bob", "Synced").expect("Synced");
    assert!(
        synced["message"]
            .as_str()
            .unwrap_or_default()
            .contains("identity/directory-token"),
        "{synced}"
    );
    assert!(env.live().objects.is_empty());
    // The error is counted when the reconcile returns, just after its statuses.
    eventually("the error is counted", WAIT, || {
        env.handle
            .metrics
            .encode()
            .contains("orgctl_controller_reconcile_errors_total{reason=\"SecretMissing\"} 1")
    })
    .await;

    // The Secret appears: its watch triggers the organization.
    env.api.create(
        &Res::new("", "secrets"),
        NS,
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "directory-token"},
               "data": {"token": "czNjcjN0"}}),
    );
    eventually("the organization is applied", WAIT, || {
        is_ready(&env, Kind::User, "bob")
    })
    .await;
    // The token never appears in any stored object.
    for kind in Kind::ALL {
        for o in env.api.all(&res(kind)) {
            assert!(!o.to_string().contains("s3cr3t"), "{o}");
        }
    }
    for e in env.api.all(&Res::new("events.k8s.io", "events")) {
        assert!(!e.to_string().contains("s3cr3t"), "{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_key_ref_resolves_from_a_kubernetes_secret() {
    let env = seeded(Duration::from_secs(60)).await;
    env.create(
        Kind::Application,
        "portal",
        json!({"organization": "acme", "type": "oidc",
               "oidc": {"redirectUris": ["https://portal.acme.example/cb"],
                        "clientSecret": {"secretKeyRef": {"name": "portal", "key": "client-secret"}}}}),
    );
    eventually("the app waits for its Secret", WAIT, || {
        env.ready(Kind::Application, "portal")
            .is_some_and(|(s, r)| s == "False" && r == "SecretMissing")
    })
    .await;
    assert!(is_ready(&env, Kind::User, "bob"), "the rest stays Ready");
    env.api.create(
        &Res::new("", "secrets"),
        NS,
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "portal"},
               "data": {"client-secret": "cG9ydGFsLXNlY3JldA=="}}),
    );
    // Secrets are not watched: the app is retried on the resync timer, or
    // on its next change.
    env.api.edit_spec(&res(Kind::Application), NS, "portal", |spec| {
        spec["displayName"] = json!("Portal");
    });
    eventually("the app is applied", WAIT, || {
        is_ready(&env, Kind::Application, "portal")
    })
    .await;
    let app = env.live_spec(Kind::Application, "portal").expect("portal");
    assert!(app["oidc"]["clientSecret"]["digest"].is_string(), "{app}");
    assert!(!app.to_string().contains("portal-secret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_secret_holds_back_its_resource_and_the_rest_reconciles() {
    let env = seeded(Duration::from_secs(60)).await;
    let secrets = Res::new("", "secrets");
    env.api.create(
        &secrets,
        NS,
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "google"},
               "data": {"secret": "b25l"}}),
    );
    // A provider reading that Secret, named by the organization's default policy.
    env.create(
        Kind::IdentityProvider,
        "google",
        json!({"organization": "acme", "type": "google", "clientId": "acme.apps.example",
               "clientSecret": {"secretKeyRef": {"name": "google", "key": "secret"}}}),
    );
    env.api
        .edit_spec(&res(Kind::SecurityPolicy), NS, "default", |spec| {
            spec["federatedSignIn"] = json!({"allowed": true, "providers": ["google"]});
        });
    eventually("the provider and the policy naming it are applied", WAIT, || {
        is_ready(&env, Kind::IdentityProvider, "google")
            && env
                .live_spec(Kind::SecurityPolicy, "default")
                .is_some_and(|p| p["federatedSignIn"]["providers"] == json!(["google"]))
    })
    .await;

    // The Secret goes; the provider is edited meanwhile.
    env.api.delete(&secrets, NS, "google");
    env.api
        .edit_spec(&res(Kind::IdentityProvider), NS, "google", |spec| {
            spec["displayName"] = json!("Google");
        });
    eventually("the provider reports its missing Secret", WAIT, || {
        env.ready(Kind::IdentityProvider, "google")
            .is_some_and(|(s, r)| s == "False" && r == "SecretMissing")
    })
    .await;
    // The rest of the organization reconciles: the policy naming the
    // provider stays valid, and an edit elsewhere is applied.
    env.move_bob_to("Marketing", "an edit elsewhere is applied").await;
    assert!(
        is_ready(&env, Kind::SecurityPolicy, "default"),
        "the policy stays Ready"
    );
    // The provider keeps its live object: neither updated nor deleted.
    let google = env
        .live_spec(Kind::IdentityProvider, "google")
        .expect("the provider is kept");
    assert!(google.get("displayName").is_none(), "not updated: {google}");
    assert!(google["clientSecret"]["digest"].is_string(), "{google}");

    // The Secret comes back: the held edit is applied.
    env.api.create(
        &secrets,
        NS,
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "google"},
               "data": {"secret": "dHdv"}}),
    );
    eventually("the provider is applied again", WAIT, || {
        env.live_spec(Kind::IdentityProvider, "google")
            .is_some_and(|g| g["displayName"] == "Google")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_resource_without_its_secret_is_left_out_with_its_dependents() {
    let env = seeded(Duration::from_secs(60)).await;
    env.create(
        Kind::IdentityProvider,
        "google",
        json!({"organization": "acme", "type": "google", "clientId": "acme.apps.example",
               "clientSecret": {"secretKeyRef": {"name": "google", "key": "secret"}}}),
    );
    env.create(
        Kind::SecurityPolicy,
        "federated",
        json!({"organization": "acme", "priority": 10, "targets": {"groups": ["sales"]},
               "federatedSignIn": {"allowed": true, "providers": ["google"]}}),
    );
    eventually(
        "the provider waits for its Secret, the policy for the provider",
        WAIT,
        || {
            env.ready(Kind::IdentityProvider, "google")
                .is_some_and(|(s, r)| s == "False" && r == "SecretMissing")
                && env
                    .ready(Kind::SecurityPolicy, "federated")
                    .is_some_and(|(s, r)| s == "False" && r == "ValidationFailed")
        },
    )
    .await;
    assert!(env.live_spec(Kind::IdentityProvider, "google").is_none());
    assert!(env.live_spec(Kind::SecurityPolicy, "federated").is_none());
    assert!(is_ready(&env, Kind::User, "bob"), "the rest stays Ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_updates_do_not_retrigger_reconciles() {
    let env = seeded(Duration::from_secs(60)).await;
    // Let the last triggers settle, then watch for a while.
    let reconciles = env.settled_reconciles().await;
    let writes = env.api.writes();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(env.reconciles(), reconciles, "no reconcile without a change");
    assert_eq!(env.api.writes(), writes, "no writes without a change");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resync_without_drift_writes_nothing() {
    let env = seeded(Duration::from_millis(300)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let reconciles = env.reconciles();
    let writes = env.api.writes();
    let revision = env.live().revision;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(env.reconciles() >= reconciles + 2, "the resync timer re-plans");
    assert_eq!(env.api.writes(), writes, "no status or event writes");
    assert_eq!(env.live().revision, revision, "no backend writes");
}

/// Settings of replica `id` electing its leader through a Lease held for `duration`.
fn with_lease(backend: &str, id: &str, duration: Duration) -> Settings {
    let mut s = settings(backend, Duration::from_secs(60));
    let mut l = LeaseSettings::new("orgctl-controller", "orgctl-system");
    l.renew_every = Duration::from_millis(200);
    l.retry_every = Duration::from_millis(100);
    l.duration = duration;
    s.leader = Some(l);
    s.identity = id.to_string();
    s
}

/// The Lease's holder.
fn lease_holder(api: &FakeApi) -> String {
    let lease = api
        .get(
            &Res::new("coordination.k8s.io", "leases"),
            "orgctl-system",
            "orgctl-controller",
        )
        .expect("the Lease");
    lease["spec"]["holderIdentity"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Two replicas electing through one Lease; `first` leads.
struct Replicas {
    dir: tempfile::TempDir,
    backend: String,
    api: FakeApi,
    first: controller::Handle,
    second: controller::Handle,
}

async fn two_replicas(lease_duration: Duration) -> Replicas {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = format!("sqlite:{}", dir.path().join("directory.db").display());
    let api = FakeApi::new();
    let start = |id: &str| {
        controller::start(
            api.client(),
            with_lease(&backend, id, lease_duration),
            Arc::new(OpenBackend::default()),
        )
    };
    let first = start("first");
    eventually("the first replica leads", WAIT, || {
        first.metrics.leader.get() == 1
    })
    .await;
    let second = start("second");
    Replicas {
        dir,
        backend,
        api,
        first,
        second,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_lease_holder_reconciles() {
    let Replicas {
        dir,
        backend,
        api,
        first,
        second,
    } = two_replicas(Duration::from_secs(2)).await;
    let env = Env {
        api: api.clone(),
        backend: backend.clone(),
        _dir: dir,
        handle: first,
    };
    env.seed();
    eventually("the leader reconciles", WAIT, || {
        is_ready(&env, Kind::User, "bob")
    })
    .await;
    assert_eq!(second.metrics.leader.get(), 0, "the second replica stands by");
    assert_eq!(second.metrics.reconciles.get(), 0);
    assert_eq!(lease_holder(&api), "first");

    // The leader stops; the second takes over once the Lease expires.
    env.handle.abort();
    eventually("the second replica leads", WAIT, || {
        second.metrics.leader.get() == 1
    })
    .await;
    env.move_bob_to("Support", "the new leader applies").await;
    second.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_shuts_down_releases_the_lease_at_once() {
    // Far longer than the test waits: only a release hands it over.
    let Replicas {
        api, first, second, ..
    } = two_replicas(Duration::from_secs(300)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(second.metrics.leader.get(), 0, "the second replica stands by");
    first.shutdown(Duration::from_secs(5)).await;
    eventually("the second replica leads", WAIT, || {
        second.metrics.leader.get() == 1
    })
    .await;
    assert_eq!(lease_holder(&api), "second");
    second.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_whole_organization_with_delete_tears_it_down() {
    let env = Env::start(Duration::from_secs(60));
    env.seed();
    let all = [
        (Kind::Organization, "acme"),
        (Kind::RoleBinding, "org-admins"),
        (Kind::SecurityPolicy, "default"),
        (Kind::User, "alice"),
        (Kind::User, "bob"),
        (Kind::Group, "sales"),
    ];
    for (kind, n) in all {
        env.api.edit_spec(&res(kind), NS, n, |spec| {
            spec["deletionPolicy"] = json!("Delete");
        });
    }
    eventually("every resource holds the finalizer", WAIT, || {
        all.iter().all(|(k, n)| {
            is_ready(&env, *k, n)
                && env
                    .object(*k, n)
                    .is_some_and(|o| o["metadata"]["finalizers"].is_array())
        })
    })
    .await;
    assert_eq!(env.live().objects.len(), 6);
    for (kind, n) in all {
        env.api.delete(&res(kind), NS, n);
    }
    eventually("every resource is released", WAIT, || {
        all.iter().all(|(k, n)| env.object(*k, n).is_none())
    })
    .await;
    assert!(env.live().objects.is_empty(), "{:?}", env.live().objects.keys());
}

use crate::common;

/// base64 of `s` (Secret data), without a dependency for four lines.
fn base64(s: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, c)| n | (u32::from(*c) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organization_with_a_keycloak_connection_is_reconciled_into_its_realm() {
    let Some(kc) = common::keycloak("controller with a Keycloak connection") else {
        return;
    };
    let realm = "kc-controller";
    // The admin calls are blocking HTTP: off the async workers.
    use tokio::task::block_in_place as blocking;
    blocking(|| kc.drop_realm(realm));
    let env = Env::start(Duration::from_secs(60));
    env.api.create(
        &Res::new("", "secrets"),
        NS,
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "keycloak-admin"},
               "data": {"client-secret": base64(&kc.client_secret)}}),
    );
    env.create(
        Kind::Organization,
        realm,
        json!({
            "displayName": "Reconciled by the controller",
            "superAdmin": "alice",
            "connection": {
                "backend": kc.address(),
                "clientId": kc.client_id,
                "tokenSecretRef": {"name": "keycloak-admin", "key": "client-secret"},
            },
        }),
    );
    env.create(
        Kind::RoleBinding,
        "org-admins",
        json!({"organization": realm, "role": "admin", "subjects": {"users": ["alice"]}}),
    );
    env.create(
        Kind::SecurityPolicy,
        "default",
        json!({"organization": realm, "default": true, "password": {"minLength": 10}}),
    );
    env.create(
        Kind::User,
        "alice",
        json!({"organization": realm, "email": "alice@kc.example", "lastName": "Admin", "department": "IT"}),
    );
    eventually("the organization is Ready", Duration::from_secs(60), || {
        is_ready(&env, Kind::User, "alice") && is_ready(&env, Kind::Organization, realm)
    })
    .await;
    let (status, user) = blocking(|| {
        kc.admin(
            "GET",
            &format!("/{realm}/users?username=alice&exact=true&briefRepresentation=false"),
            None,
        )
    });
    assert_eq!(status, 200);
    assert_eq!(user[0]["attributes"]["department"], json!(["IT"]), "{user}");
    let (_, settings) = blocking(|| kc.admin("GET", &format!("/{realm}"), None));
    assert_eq!(settings["passwordPolicy"], "length(10)", "{settings}");
    // The client secret never reaches a stored object.
    for kind in Kind::ALL {
        for o in env.api.all(&res(kind)) {
            assert!(!o.to_string().contains(&kc.client_secret), "{o}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organization_with_a_kanidm_connection_is_reconciled_into_the_domain() {
    // The Kanidm simulator of tests/support (no real Kanidm installs here).
    let sim = kanidm_sim::KanidmSim::start();
    use tokio::task::block_in_place as blocking;
    let env = Env::start(Duration::from_secs(60));
    env.api.create(
        &Res::new("", "secrets"),
        NS,
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "kanidm-token"},
               "data": {"token": base64(kanidm_sim::SIM_TOKEN)}}),
    );
    env.create(
        Kind::Organization,
        "fabrikam",
        json!({
            "displayName": "Fabrikam",
            "superAdmin": "ana",
            "connection": {
                "backend": sim.address(),
                "tokenSecretRef": {"name": "kanidm-token", "key": "token"},
            },
        }),
    );
    env.create(
        Kind::RoleBinding,
        "org-admins",
        json!({"organization": "fabrikam", "role": "admin", "subjects": {"users": ["ana"]}}),
    );
    env.create(
        Kind::SecurityPolicy,
        "baseline",
        json!({"organization": "fabrikam", "default": true, "password": {"minLength": 12}}),
    );
    env.create(
        Kind::User,
        "ana",
        json!({"organization": "fabrikam", "email": "ana@fabrikam.example", "firstName": "Ana", "lastName": "Lima"}),
    );
    eventually("the organization is Ready", Duration::from_secs(60), || {
        is_ready(&env, Kind::User, "ana") && is_ready(&env, Kind::Organization, "fabrikam")
    })
    .await;
    let (status, person) = blocking(|| sim.call("GET", "/person/ana", None));
    assert_eq!(status, 200);
    assert!(person.to_string().contains("ana@fabrikam.example"), "{person}");
    let (_, policy) = blocking(|| {
        sim.call(
            "GET",
            "/group/idm_all_persons/_attr/auth_password_minimum_length",
            None,
        )
    });
    assert_eq!(policy, json!(["12"]), "the default policy is idm_all_persons's");
    // The token never reaches a stored object.
    for kind in Kind::ALL {
        for o in env.api.all(&res(kind)) {
            assert!(!o.to_string().contains(kanidm_sim::SIM_TOKEN), "{o}");
        }
    }
}
