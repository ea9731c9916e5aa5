//! The CRDs, the examples, the controller and the Helm chart against a real
//! Kubernetes control plane: etcd and kube-apiserver started by
//! `scripts/kube.sh` (which `scripts/test-all.sh` runs), driven by the real
//! `kubectl` and `helm` built with them. It is an API server without nodes:
//! no kubelet, scheduler or controller-manager, so pods never run and
//! namespaces are never finalized; every test works in a namespace of its
//! own, which it leaves behind.
//!
//! Without `ORGCTL_TEST_KUBECONFIG` the tests print how to run them and
//! return; with `ORGCTL_TEST_REQUIRE_SERVERS=1` (set by test-all.sh) a
//! missing control plane fails them instead.

mod chart;
use crate::common;
use crate::crd_corpus;
mod manifests;

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use orgctl::backend::{self, LiveOrg, Write, WriteRequest};
use orgctl::model::{Kind, Name, Spec};
use serde_json::{json, Value};

/// How long the controller gets to bring resources to their state.
const WAIT: Duration = Duration::from_secs(90);

/// The control plane scripts/kube.sh started.
struct Kube {
    /// An admin kubeconfig (`system:masters`).
    kubeconfig: PathBuf,
    /// A kubeconfig of an identity with no rights of its own: the tests
    /// grant it the chart's RBAC and run the controller as it.
    controller_kubeconfig: PathBuf,
    /// That identity's user name.
    controller_user: String,
    /// Where kubectl and helm are.
    bin: PathBuf,
    /// The Kubernetes version of kube-apiserver and kubectl.
    version: String,
    /// Prometheus' promtool.
    promtool: PathBuf,
}

/// The control plane, or `None` (after saying how to run these tests once)
/// when there is none. Panics, failing every test, when servers are required.
fn kube() -> Option<&'static Kube> {
    static KUBE: OnceLock<Option<Kube>> = OnceLock::new();
    KUBE.get_or_init(|| {
        let Some(kubeconfig) = std::env::var_os("ORGCTL_TEST_KUBECONFIG") else {
            assert!(
                std::env::var("ORGCTL_TEST_REQUIRE_SERVERS").as_deref() != Ok("1"),
                "ORGCTL_TEST_REQUIRE_SERVERS=1 but ORGCTL_TEST_KUBECONFIG is not set: \
                 start the control plane with scripts/kube.sh (scripts/test-all.sh does)"
            );
            // Straight to stderr: the test harness captures eprintln! of
            // passing tests, and this line must be seen.
            let _ = writeln!(
                std::io::stderr(),
                "kube_real: skipped, no Kubernetes API server (ORGCTL_TEST_KUBECONFIG unset); \
                 run scripts/test-all.sh to build and start one and run these tests"
            );
            return None;
        };
        let var = |name: &str| {
            std::env::var(name).unwrap_or_else(|_| {
                panic!("ORGCTL_TEST_KUBECONFIG is set but {name} is not (see scripts/kube.sh)")
            })
        };
        Some(Kube {
            kubeconfig: PathBuf::from(kubeconfig),
            controller_kubeconfig: PathBuf::from(var("ORGCTL_TEST_KUBECONFIG_CONTROLLER")),
            controller_user: var("ORGCTL_TEST_KUBE_USER_CONTROLLER"),
            bin: PathBuf::from(var("ORGCTL_TEST_KUBE_BIN")),
            version: var("ORGCTL_TEST_KUBE_VERSION"),
            promtool: PathBuf::from(var("ORGCTL_TEST_PROMTOOL")),
        })
    })
    .as_ref()
}

fn repo(rel: &str) -> String {
    crd_corpus::repo(rel).display().to_string()
}

/// One run of kubectl or helm.
struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Run {
    fn from(out: Output) -> Run {
        Run {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Kube {
    fn run(&self, tool: &str, args: &[&str], stdin: Option<&str>) -> Run {
        let mut cmd = Command::new(self.bin.join(tool));
        cmd.args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            // helm keeps its caches and repositories apart from the user's.
            .env(
                "HELM_CACHE_HOME",
                std::env::temp_dir().join("orgctl-test-helm/cache"),
            )
            .env(
                "HELM_CONFIG_HOME",
                std::env::temp_dir().join("orgctl-test-helm/config"),
            )
            .env(
                "HELM_DATA_HOME",
                std::env::temp_dir().join("orgctl-test-helm/data"),
            )
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("run {tool}: {e}"));
        if let Some(text) = stdin {
            let mut pipe = child.stdin.take().expect("stdin");
            pipe.write_all(text.as_bytes()).expect("write stdin");
        }
        Run::from(child.wait_with_output().expect("wait"))
    }

    /// Runs `tool args` and returns its stdout; a failure fails the test.
    fn ok(&self, tool: &str, args: &[&str], stdin: Option<&str>) -> String {
        let run = self.run(tool, args, stdin);
        assert!(
            run.ok,
            "{tool} {} failed:\n{}{}",
            args.join(" "),
            run.stdout,
            run.stderr
        );
        run.stdout
    }

    fn kubectl(&self, args: &[&str]) -> String {
        self.ok("kubectl", args, None)
    }

    /// A new namespace for one test; names are unique across runs against
    /// one server, since namespaces are never finalized here.
    fn namespace(&self, prefix: &str) -> String {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() % 100_000_000)
            .unwrap_or_default();
        let name = format!(
            "{prefix}-{stamp}-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        );
        self.kubectl(&["create", "namespace", &name]);
        name
    }

    /// Applies every CRD of `crds/` once per test binary and waits until the
    /// server serves them.
    fn with_crds(&self) -> &Self {
        static APPLIED: OnceLock<String> = OnceLock::new();
        APPLIED.get_or_init(|| {
            let run = self.run(
                "kubectl",
                &[
                    "apply",
                    "--server-side",
                    "--field-manager=orgctl-tests",
                    "-f",
                    &repo("crds"),
                ],
                None,
            );
            assert!(run.ok, "the CRDs were refused:\n{}{}", run.stdout, run.stderr);
            let mut args = vec!["wait", "--for=condition=Established", "--timeout=60s"];
            let names = crd_names();
            args.extend(names.iter().map(|n| n.as_str()));
            self.kubectl(&args);
            run.stderr
        });
        self
    }
}

impl Kube {
    /// Grants the controller's identity exactly the chart's RBAC, as helm
    /// renders it for a release in `ns` (its cluster-wide role, and the
    /// Lease role in `ns`), bound to that identity instead of the chart's
    /// ServiceAccount.
    fn grant_chart_rbac(&self, ns: &str) {
        let chart = repo("charts/orgctl");
        let yaml = self.ok(
            "helm",
            &[
                "template",
                // Not `orgctl`: the chart tests dry-run that release's
                // ClusterRole, which must not exist already.
                "orgctl-e2e",
                &chart,
                "--namespace",
                ns,
                "--show-only",
                "templates/rbac.yaml",
            ],
            None,
        );
        let objects = self.ok(
            "kubectl",
            &["create", "--dry-run=client", "-o", "json", "-f", "-"],
            Some(&yaml),
        );
        let items: Vec<Value> = serde_json::Deserializer::from_str(&objects)
            .into_iter::<Value>()
            .map(|o| {
                let mut o = o.expect("kubectl's JSON");
                if o["subjects"].is_array() {
                    o["subjects"] = json!([{
                        "kind": "User",
                        "apiGroup": "rbac.authorization.k8s.io",
                        "name": self.controller_user,
                    }]);
                }
                o
            })
            .collect();
        assert_eq!(
            items.len(),
            4,
            "a ClusterRole, a Role and their bindings:\n{yaml}"
        );
        let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
        // Server-side apply creates or updates in one request, so tests
        // running at once do not race on the shared ClusterRole.
        self.ok(
            "kubectl",
            &[
                "apply",
                "--server-side",
                "--force-conflicts",
                "--field-manager=orgctl-tests",
                "-f",
                "-",
            ],
            Some(&list.to_string()),
        );
    }
}

/// `crd/<plural>.orgctl.io` of every kind.
fn crd_names() -> Vec<String> {
    Kind::ALL
        .iter()
        .map(|k| format!("crd/{}.orgctl.io", orgctl::controller::objects::plural(*k)))
        .collect()
}

/// `<plural>.orgctl.io/<name>`, what kubectl takes to name one resource.
fn resource(kind: Kind, name: &str) -> String {
    format!("{}.orgctl.io/{name}", orgctl::controller::objects::plural(kind))
}

// ------------------------------------------------------------------ CRDs

#[test]
fn every_crd_is_accepted_and_established() {
    let Some(k) = kube() else { return };
    k.with_crds();
    // Applying again changes nothing and draws no warning (CEL cost, unknown
    // formats and pruned fields are reported as warnings).
    let run = k.run(
        "kubectl",
        &[
            "apply",
            "--server-side",
            "--field-manager=orgctl-tests",
            "-f",
            &repo("crds"),
        ],
        None,
    );
    assert!(
        run.ok && !run.stderr.contains("Warning"),
        "{}{}",
        run.stdout,
        run.stderr
    );
    let list: Value = serde_json::from_str(&k.kubectl(&["get", "crd", "-o", "json"])).expect("a CRD list");
    let ours: Vec<&Value> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|c| c["spec"]["group"] == "orgctl.io")
        .collect();
    assert_eq!(ours.len(), Kind::ALL.len());
    for crd in ours {
        let name = crd["metadata"]["name"].as_str().unwrap_or_default();
        let conditions = crd["status"]["conditions"].as_array().expect("conditions");
        let status = |t: &str| {
            conditions
                .iter()
                .find(|c| c["type"] == t)
                .map(|c| c["status"].as_str().unwrap_or_default().to_string())
        };
        assert_eq!(status("Established").as_deref(), Some("True"), "{name}");
        assert_eq!(status("NamesAccepted").as_deref(), Some("True"), "{name}");
        assert_eq!(status("NonStructuralSchema"), None, "{name}: {conditions:?}");
        // What the server stored is the committed file, nothing pruned.
        let plural = crd["spec"]["names"]["plural"].as_str().unwrap_or_default();
        let file = crd_corpus::repo(&format!("crds/orgctl.io_{plural}.yaml"));
        let committed = crd_corpus::yaml_documents(&std::fs::read_to_string(file).expect("the CRD file"));
        assert_eq!(
            crd["spec"]["versions"][0]["schema"], committed[0]["spec"]["versions"][0]["schema"],
            "{name}: the stored schema differs from the generated one"
        );
    }
}

#[test]
fn the_kubernetes_example_applies_with_kustomize() {
    let Some(k) = kube() else { return };
    k.with_crds();
    // The kustomization puts everything in namespace `acme`, which no other
    // test uses; applying it again is a no-op.
    let run = k.run("kubectl", &["apply", "-k", &repo("examples/kubernetes")], None);
    assert!(
        run.ok && !run.stderr.contains("Warning"),
        "{}{}",
        run.stdout,
        run.stderr
    );
    let expected: usize = crd_corpus::yaml_files(&crd_corpus::repo("examples/kubernetes/acme"))
        .values()
        .map(|text| crd_corpus::yaml_documents(text).len())
        .sum();
    let listed: Value =
        serde_json::from_str(&k.kubectl(&["get", "orgctl", "-n", "acme", "-o", "json"])).expect("a list");
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(expected));
}

#[test]
fn the_example_files_apply_as_custom_resources() {
    let Some(k) = kube() else { return };
    k.with_crds();
    let ns = k.namespace("files");
    let run = k.run(
        "kubectl",
        &["apply", "-n", &ns, "-f", &repo("examples/acme")],
        None,
    );
    assert!(
        run.ok && !run.stderr.contains("Warning"),
        "{}{}",
        run.stdout,
        run.stderr
    );
    let listed: Value =
        serde_json::from_str(&k.kubectl(&["get", "orgctl", "-n", &ns, "-o", "json"])).expect("a list");
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(crd_corpus::example_objects().len())
    );
}

#[test]
fn the_server_refuses_what_orgctl_refuses() {
    let Some(k) = kube() else { return };
    k.with_crds();
    let ns = k.namespace("refused");
    let mut wrong = Vec::new();
    for case in crd_corpus::refused() {
        let text = case.object.to_string();
        let run = k.run(
            "kubectl",
            &["apply", "--dry-run=server", "-n", &ns, "-f", "-"],
            Some(&text),
        );
        if run.ok {
            wrong.push(format!("{}: accepted", case.what));
        } else if !run.stderr.contains(case.server_says) {
            wrong.push(format!(
                "{}: refused, but without {:?}:\n{}",
                case.what, case.server_says, run.stderr
            ));
        }
    }
    for object in crd_corpus::accepted() {
        let run = k.run(
            "kubectl",
            &["apply", "--dry-run=server", "-n", &ns, "-f", "-"],
            Some(&object.to_string()),
        );
        if !run.ok || run.stderr.contains("Warning") {
            wrong.push(format!("refused {object}:\n{}", run.stderr));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

// ------------------------------------------------------------------ controller

/// One test's organization: a namespace, a real `orgctl serve` backend and
/// an `orgctl controller` process watching that namespace, with no more
/// rights than the chart's RBAC gives it.
struct Org {
    k: &'static Kube,
    ns: String,
    server: common::Server,
    /// How often the controllers re-plan.
    resync: String,
    /// The backend token the controllers read.
    token: PathBuf,
    /// The controller processes by identity, with their log files.
    controllers: Vec<Controller>,
    dir: tempfile::TempDir,
}

/// One `orgctl controller` process.
struct Controller {
    identity: String,
    child: Option<Child>,
    log: PathBuf,
    /// Where it serves /metrics, /healthz and /readyz.
    endpoints: String,
}

/// The small organization of tests/controller.rs, as custom resources.
const SEED: &str = r#"
apiVersion: orgctl.io/v1alpha1
kind: Organization
metadata: {name: acme}
spec: {displayName: Acme Corp, domains: [acme.example], superAdmin: alice}
---
apiVersion: orgctl.io/v1alpha1
kind: RoleBinding
metadata: {name: org-admins}
spec: {organization: acme, role: admin, subjects: {users: [alice]}}
---
apiVersion: orgctl.io/v1alpha1
kind: SecurityPolicy
metadata: {name: default}
spec: {organization: acme, default: true, password: {minLength: 10}}
---
apiVersion: orgctl.io/v1alpha1
kind: User
metadata: {name: alice}
spec: {organization: acme, email: alice@acme.example, department: Engineering}
---
apiVersion: orgctl.io/v1alpha1
kind: User
metadata: {name: bob}
spec: {organization: acme, email: bob@acme.example, department: Sales}
---
apiVersion: orgctl.io/v1alpha1
kind: Group
metadata: {name: sales}
spec: {organization: acme, members: {users: [bob]}}
"#;

const SEEDED: [(Kind, &str); 6] = [
    (Kind::Organization, "acme"),
    (Kind::RoleBinding, "org-admins"),
    (Kind::SecurityPolicy, "default"),
    (Kind::User, "alice"),
    (Kind::User, "bob"),
    (Kind::Group, "sales"),
];

impl Org {
    /// A namespace, a backend and a controller re-planning every `resync`.
    fn start(k: &'static Kube, prefix: &str, resync: &str) -> Org {
        let mut org = Org::without_controller(k, prefix, resync);
        org.spawn("orgctl-test-controller", &[]);
        org
    }

    /// A namespace and a backend; controllers come with [`Org::spawn`].
    fn without_controller(k: &'static Kube, prefix: &str, resync: &str) -> Org {
        k.with_crds();
        let ns = k.namespace(prefix);
        k.grant_chart_rbac(&ns);
        let dir = tempfile::tempdir().expect("tempdir");
        let server = common::Server::start(&dir.path().join("directory.db"), common::Opts::default());
        let token = dir.path().join("controller-token");
        std::fs::write(&token, common::TOKEN).expect("write token");
        Org {
            k,
            ns,
            server,
            resync: resync.to_string(),
            token,
            controllers: Vec::new(),
            dir,
        }
    }

    /// Starts a controller process named `identity` (its Lease holder name)
    /// watching the namespace, as the identity the chart's RBAC is bound to.
    fn spawn(&mut self, identity: &str, extra: &[&str]) {
        let log = self.dir.path().join(format!("{identity}.log"));
        // A port free now; the controller binds it right away.
        let endpoints = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .to_string();
        let child = Command::new(env!("CARGO_BIN_EXE_orgctl"))
            .args(["--backend", &self.server.address, "--token-file"])
            .arg(&self.token)
            .args(["controller", "--namespace", &self.ns, "--listen", &endpoints])
            .args([
                "--resync",
                &self.resync,
                "--log-format",
                "text",
                "--log-level",
                "debug",
            ])
            .args(extra)
            .env("KUBECONFIG", &self.k.controller_kubeconfig)
            .env("POD_NAME", identity)
            // Without NO_COLOR: a log that is not a terminal has no colours anyway.
            .env_remove("NO_COLOR")
            .env_remove("ORGCTL_LOG")
            .env_remove("ORGCTL_BACKEND")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start orgctl controller");
        self.controllers.push(Controller {
            identity: identity.to_string(),
            child: Some(child),
            log,
            endpoints,
        });
    }

    /// The log of the controller named `identity`.
    fn log(&self, identity: &str) -> String {
        self.controllers
            .iter()
            .find(|c| c.identity == identity)
            .map(|c| std::fs::read_to_string(&c.log).unwrap_or_default())
            .unwrap_or_default()
    }

    /// Kills the controller named `identity` with SIGKILL: it releases nothing.
    fn kill(&mut self, identity: &str) {
        for c in &mut self.controllers {
            if let Some(mut child) = c.child.take_if(|_| c.identity == identity) {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// Applies YAML documents into the namespace.
    fn apply(&self, yaml: &str) {
        self.k
            .ok("kubectl", &["apply", "-n", &self.ns, "-f", "-"], Some(yaml));
    }

    fn kubectl(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", self.ns.as_str()];
        all.extend_from_slice(args);
        self.k.kubectl(&all)
    }

    /// The seed organization, every resource of it Ready by `kubectl wait`.
    fn seed(&self) {
        self.apply(SEED);
        self.wait_ready(&SEEDED);
    }

    fn wait_ready(&self, objects: &[(Kind, &str)]) {
        let names: Vec<String> = objects.iter().map(|(k, n)| resource(*k, n)).collect();
        let timeout = format!("--timeout={}s", WAIT.as_secs());
        let mut args = vec!["-n", self.ns.as_str(), "wait", "--for=condition=Ready", &timeout];
        args.extend(names.iter().map(String::as_str));
        let run = self.k.run("kubectl", &args, None);
        assert!(
            run.ok,
            "kubectl wait --for=condition=Ready failed:\n{}{}\n{}",
            run.stdout,
            run.stderr,
            self.context()
        );
    }

    /// The resource as the API server has it, or None when it is gone.
    fn object(&self, kind: Kind, name: &str) -> Option<Value> {
        let run = self.k.run(
            "kubectl",
            &[
                "-n",
                &self.ns,
                "get",
                &resource(kind, name),
                "-o",
                "json",
                "--ignore-not-found",
            ],
            None,
        );
        assert!(run.ok, "kubectl get: {}", run.stderr);
        (!run.stdout.trim().is_empty()).then(|| serde_json::from_str(&run.stdout).expect("json"))
    }

    fn condition(&self, kind: Kind, name: &str, type_: &str) -> Option<Value> {
        self.object(kind, name)?["status"]["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == type_)
            .cloned()
    }

    fn live(&self) -> LiveOrg {
        let b = backend::open(&format!("sqlite:{}", self.server.db.display())).expect("open backend");
        b.snapshot(&name("acme")).expect("snapshot")
    }

    fn live_spec(&self, kind: Kind, n: &str) -> Option<Value> {
        self.live().get(kind, &name(n)).map(|o| o.spec.to_json())
    }

    /// Events in the namespace with this reason.
    fn events(&self, reason: &str) -> Vec<Value> {
        let list: Value = serde_json::from_str(&self.kubectl(&["get", "events.events.k8s.io", "-o", "json"]))
            .expect("json");
        list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["reason"] == reason)
            .cloned()
            .collect()
    }

    /// Polls `check` until it holds; fails with the controller's log.
    fn eventually(&self, what: &str, check: impl FnMut() -> bool) {
        self.eventually_or(what, check, String::new);
    }

    /// [`Org::eventually`], failing with `detail` (what was seen last) too.
    fn eventually_or(&self, what: &str, mut check: impl FnMut() -> bool, detail: impl FnOnce() -> String) {
        let start = Instant::now();
        loop {
            if check() {
                return;
            }
            if start.elapsed() > WAIT {
                let detail = detail();
                panic!("timed out waiting for: {what}\n{detail}\n{}", self.context());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The end of the controller's log, for failure messages.
    fn context(&self) -> String {
        let mut out = String::new();
        for c in &self.controllers {
            let log = std::fs::read_to_string(&c.log).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(40)..].join("\n");
            out.push_str(&format!(
                "--- log of controller {} (namespace {}), last lines:\n{tail}\n",
                c.identity, self.ns
            ));
        }
        out
    }

    /// Writes directly to the backend, behind the controller's back.
    fn write_behind(&self, write: Write) {
        let mut b = backend::open(&format!("sqlite:{}", self.server.db.display())).expect("open");
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
}

impl Drop for Controller {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SIGTERM: the controller stops its watches and exits.
            let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn name(n: &str) -> Name {
    n.parse().expect("a valid name")
}

fn ready(org: &Org, kind: Kind, n: &str) -> Option<(String, String)> {
    let c = org.condition(kind, n, "Ready")?;
    Some((
        c["status"].as_str()?.to_string(),
        c["reason"].as_str()?.to_string(),
    ))
}

/// `kubectl get` tables: the header of each kind's table, split into columns.
fn table_headers(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|l| l.starts_with("NAME "))
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect()
        })
        .collect()
}

#[test]
fn created_resources_reach_the_backend_and_kubectl_wait_sees_them_ready() {
    let Some(k) = kube() else { return };
    let org = Org::start(k, "create", "60s");
    org.seed();
    let bob = org.live_spec(Kind::User, "bob").expect("bob is in the backend");
    assert_eq!(bob["department"], "Sales");
    assert!(org.live_spec(Kind::Group, "sales").is_some());

    let acme = org.object(Kind::Organization, "acme").expect("the organization");
    let status = &acme["status"];
    assert_eq!(status["observedGeneration"], 1, "{status}");
    assert_eq!(status["plan"]["add"], 6, "{status}");
    let synced = org.condition(Kind::User, "bob", "Synced").expect("Synced");
    assert_eq!(synced["status"], "True");
    assert!(!org.events("Applied").is_empty(), "an Applied event");
    let log = org.log("orgctl-test-controller");
    assert!(
        log.contains("reconciled") && !log.contains('\x1b'),
        "no ANSI codes in a log file:\n{log}"
    );
    // Orphan (the default) puts no finalizer.
    let bob_cr = org.object(Kind::User, "bob").expect("bob");
    assert!(bob_cr["metadata"]["finalizers"].is_null(), "{bob_cr}");

    // `kubectl get orgctl` (the category) prints the columns the README
    // shows; the organization and a user's status are `-o wide` columns.
    let table = org.kubectl(&["get", "orgctl"]);
    let wide = org.kubectl(&["get", "orgctl", "-o", "wide"]);
    let expect = |cols: &[&str]| cols.iter().map(|c| c.to_string()).collect::<Vec<_>>();
    for (text, tables) in [
        (
            &table,
            [
                expect(&["NAME", "DISPLAY NAME", "SUPER ADMIN", "READY", "SYNCED", "AGE"]),
                expect(&["NAME", "EMAIL", "READY", "SYNCED", "AGE"]),
                expect(&["NAME", "DESCRIPTION", "READY", "SYNCED", "AGE"]),
                expect(&["NAME", "ROLE", "READY", "SYNCED", "AGE"]),
                expect(&["NAME", "DEFAULT", "PRIORITY", "READY", "SYNCED", "AGE"]),
            ],
        ),
        (
            &wide,
            [
                expect(&["NAME", "DISPLAY NAME", "SUPER ADMIN", "READY", "SYNCED", "AGE"]),
                expect(&[
                    "NAME",
                    "ORGANIZATION",
                    "EMAIL",
                    "STATUS",
                    "READY",
                    "SYNCED",
                    "AGE",
                ]),
                expect(&["NAME", "ORGANIZATION", "DESCRIPTION", "READY", "SYNCED", "AGE"]),
                expect(&["NAME", "ORGANIZATION", "ROLE", "READY", "SYNCED", "AGE"]),
                expect(&[
                    "NAME",
                    "ORGANIZATION",
                    "DEFAULT",
                    "PRIORITY",
                    "READY",
                    "SYNCED",
                    "AGE",
                ]),
            ],
        ),
    ] {
        let headers = table_headers(text);
        assert_eq!(headers.len(), tables.len(), "{text}");
        for columns in tables {
            assert!(headers.contains(&columns), "no table with {columns:?}:\n{text}");
        }
    }
    // Shown with --nocapture; the README quotes it.
    eprintln!("$ kubectl get orgctl -n {}\n{table}", org.ns);
    assert!(
        table.contains("organization.orgctl.io/acme") && table.contains("Acme Corp"),
        "{table}"
    );
    let rows: Vec<&str> = table.lines().filter(|l| l.contains(".orgctl.io/")).collect();
    assert_eq!(rows.len(), SEEDED.len(), "{table}");
    for row in rows {
        assert!(
            row.contains("True    True"),
            "not Ready and Synced: {row}\n{table}"
        );
    }
}

#[test]
fn metrics_are_prometheus_text_that_promtool_accepts() {
    let Some(k) = kube() else { return };
    let org = Org::start(k, "metrics", "60s");
    org.seed();
    let url = format!("http://{}/metrics", org.controllers[0].endpoints);
    let client = reqwest::blocking::Client::new();
    let scrape = |accept: Option<&str>| {
        let mut request = client.get(&url);
        if let Some(a) = accept {
            request = request.header("Accept", a);
        }
        let response = request.send().expect("scrape /metrics");
        assert!(response.status().is_success());
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .to_string();
        (content_type, response.text().expect("body"))
    };
    // What Prometheus sends by default prefers OpenMetrics; plain scrapers
    // (and Prometheus told so) get the 0.0.4 text format.
    let (content_type, text) = scrape(None);
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert!(text.contains("orgctl_build_info{version="), "{text}");
    assert!(text.contains("orgctl_controller_reconciles_total "), "{text}");
    let run = {
        let mut child = Command::new(&k.promtool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run promtool");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write to promtool");
        Run::from(child.wait_with_output().expect("promtool"))
    };
    assert!(
        run.ok && run.stdout.trim().is_empty() && run.stderr.trim().is_empty(),
        "promtool check metrics refused the scrape:\n{}{}\n{text}",
        run.stdout,
        run.stderr
    );
    let (content_type, text) = scrape(Some(
        "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
    ));
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    assert!(text.ends_with("# EOF\n"), "{text}");
}

#[test]
fn an_edit_with_kubectl_updates_the_backend() {
    let Some(k) = kube() else { return };
    let org = Org::start(k, "edit", "60s");
    org.seed();
    let before = org.condition(Kind::User, "bob", "Ready").expect("Ready");
    org.kubectl(&[
        "patch",
        &resource(Kind::User, "bob"),
        "--type=merge",
        "-p",
        r#"{"spec":{"department":"Marketing"}}"#,
    ]);
    org.eventually("bob's new department is in the backend", || {
        org.live_spec(Kind::User, "bob")
            .is_some_and(|s| s["department"] == "Marketing")
    });
    org.kubectl(&[
        "wait",
        "--for=jsonpath={.status.observedGeneration}=2",
        "--timeout=60s",
        &resource(Kind::User, "bob"),
    ]);
    let after = org.condition(Kind::User, "bob", "Ready").expect("Ready");
    assert_eq!(after["status"], "True");
    assert_eq!(
        after["lastTransitionTime"], before["lastTransitionTime"],
        "Ready stayed True: its transition time must not move"
    );
}

#[test]
fn an_invalid_resource_fails_validation_and_the_rest_is_applied() {
    let Some(k) = kube() else { return };
    let org = Org::start(k, "invalid", "60s");
    org.seed();
    // Valid custom resources that orgctl refuses: an unknown member, and a
    // binding that needs that group.
    org.apply(
        r#"
apiVersion: orgctl.io/v1alpha1
kind: Group
metadata: {name: broken}
spec: {organization: acme, members: {users: [nobody]}}
---
apiVersion: orgctl.io/v1alpha1
kind: RoleBinding
metadata: {name: broken-admins}
spec: {organization: acme, role: admin, subjects: {groups: [broken]}}
---
apiVersion: orgctl.io/v1alpha1
kind: Group
metadata: {name: fine}
spec: {organization: acme}
"#,
    );
    org.wait_ready(&[(Kind::Group, "fine")]);
    org.eventually("the invalid group and its dependent fail validation", || {
        [(Kind::Group, "broken"), (Kind::RoleBinding, "broken-admins")]
            .iter()
            .all(|(kind, n)| {
                ready(&org, *kind, n).is_some_and(|(s, r)| s == "False" && r == "ValidationFailed")
            })
    });
    let message = org.condition(Kind::Group, "broken", "Ready").expect("Ready")["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(message.contains("nobody"), "{message}");
    assert!(
        org.live_spec(Kind::Group, "broken").is_none(),
        "nothing of it applied"
    );
    assert!(org.live_spec(Kind::RoleBinding, "broken-admins").is_none());
    assert!(org.live_spec(Kind::Group, "fine").is_some(), "the rest applied");
    // A Warning Event about each invalid resource and none about the rest
    // (exactly one each is pinned by tests/controller.rs).
    let seen = std::cell::RefCell::new(Vec::new());
    org.eventually_or(
        "a ValidationFailed Event about each invalid resource",
        || {
            let events = org.events("ValidationFailed");
            let about: BTreeSet<String> = events
                .iter()
                .filter_map(|e| e["regarding"]["name"].as_str().map(str::to_string))
                .collect();
            seen.replace(events);
            about == BTreeSet::from(["broken".to_string(), "broken-admins".to_string()])
        },
        || format!("ValidationFailed Events seen last: {:#?}", seen.borrow()),
    );

    // Fixing the group brings both in.
    org.kubectl(&[
        "patch",
        &resource(Kind::Group, "broken"),
        "--type=merge",
        "-p",
        r#"{"spec":{"members":{"users":["bob"]}}}"#,
    ]);
    org.eventually("the fixed group and its dependent are applied", || {
        org.live_spec(Kind::RoleBinding, "broken-admins").is_some()
    });
    org.wait_ready(&[(Kind::Group, "broken"), (Kind::RoleBinding, "broken-admins")]);
}

#[test]
fn deletion_honours_the_deletion_policy() {
    let Some(k) = kube() else { return };
    let org = Org::start(k, "delete", "60s");
    org.seed();
    org.apply(
        r#"
apiVersion: orgctl.io/v1alpha1
kind: Group
metadata: {name: goes}
spec: {organization: acme, deletionPolicy: Delete}
---
apiVersion: orgctl.io/v1alpha1
kind: Group
metadata: {name: stays}
spec: {organization: acme, deletionPolicy: Orphan}
"#,
    );
    org.wait_ready(&[(Kind::Group, "goes"), (Kind::Group, "stays")]);
    org.eventually("the Delete group holds the finalizer", || {
        org.object(Kind::Group, "goes")
            .is_some_and(|o| o["metadata"]["finalizers"] == json!(["orgctl.io/finalizer"]))
    });
    assert!(org.object(Kind::Group, "stays").expect("stays")["metadata"]["finalizers"].is_null());
    assert!(org
        .live_spec(Kind::Group, "goes")
        .is_some_and(|s| s.get("deletionPolicy").is_none()));

    // kubectl waits for the finalizer to be released.
    let timeout = format!("--timeout={}s", WAIT.as_secs());
    let run = k.run(
        "kubectl",
        &[
            "-n",
            &org.ns,
            "delete",
            "--wait",
            &timeout,
            &resource(Kind::Group, "goes"),
            &resource(Kind::Group, "stays"),
        ],
        None,
    );
    assert!(run.ok, "{}{}\n{}", run.stdout, run.stderr, org.context());
    assert!(org.object(Kind::Group, "goes").is_none() && org.object(Kind::Group, "stays").is_none());
    assert!(
        org.live_spec(Kind::Group, "goes").is_none(),
        "Delete removes it from the backend"
    );
    assert!(org.live_spec(Kind::Group, "stays").is_some(), "Orphan leaves it");
    assert!(
        org.live_spec(Kind::Group, "sales").is_some(),
        "nothing else is deleted"
    );
}

#[test]
fn drift_in_the_backend_is_corrected_at_the_resync_with_an_event() {
    let Some(k) = kube() else { return };
    let org = Org::start(k, "drift", "2s");
    org.seed();
    let bob = org.live().get(Kind::User, &name("bob")).expect("bob").clone();
    let mut spec = bob.spec.to_json();
    spec["department"] = json!("Finance");
    org.write_behind(Write::Put {
        kind: Kind::User,
        name: name("bob"),
        spec: Spec::from_json(Kind::User, spec).expect("spec"),
        secrets: Default::default(),
        managed: true,
        expected: Some(bob.fingerprint.clone()),
        changed: None,
    });
    org.eventually("the drift is corrected", || {
        org.live_spec(Kind::User, "bob")
            .is_some_and(|s| s["department"] == "Sales")
    });
    org.eventually("a DriftCorrected Event and Synced saying so", || {
        !org.events("DriftCorrected").is_empty()
            && org
                .condition(Kind::User, "bob", "Synced")
                .is_some_and(|c| c["reason"] == "DriftCorrected")
    });
}

#[test]
fn a_suspended_organization_reports_its_plan_and_writes_nothing() {
    let Some(k) = kube() else { return };
    let org = Org::start(k, "suspend", "60s");
    org.seed();
    let revision = org.live().revision;
    org.kubectl(&[
        "patch",
        &resource(Kind::Organization, "acme"),
        "--type=merge",
        "-p",
        r#"{"spec":{"suspend":true}}"#,
    ]);
    org.kubectl(&[
        "patch",
        &resource(Kind::User, "bob"),
        "--type=merge",
        "-p",
        r#"{"spec":{"department":"Marketing"}}"#,
    ]);
    org.eventually("bob reports the change he waits for", || {
        ready(&org, Kind::User, "bob").is_some_and(|(s, r)| s == "False" && r == "Suspended")
    });
    org.eventually("the organization reports its plan", || {
        org.object(Kind::Organization, "acme")
            .is_some_and(|o| o["status"]["plan"]["change"] == 1)
    });
    assert_eq!(org.live().revision, revision, "nothing written while suspended");
    assert_eq!(
        org.live_spec(Kind::User, "bob").expect("bob")["department"],
        "Sales"
    );

    org.kubectl(&[
        "patch",
        &resource(Kind::Organization, "acme"),
        "--type=merge",
        "-p",
        r#"{"spec":{"suspend":false}}"#,
    ]);
    org.eventually("resuming applies the change", || {
        org.live_spec(Kind::User, "bob")
            .is_some_and(|s| s["department"] == "Marketing")
    });
    org.wait_ready(&[(Kind::User, "bob")]);
}

#[test]
fn a_rotated_secret_is_applied_again() {
    let Some(k) = kube() else { return };
    let org = Org::start(k, "secret", "60s");
    org.seed();
    let secret = |value: &str| {
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "portal"},
               "stringData": {"client-secret": value}})
        .to_string()
    };
    org.apply(&secret("first-value"));
    org.apply(
        r#"
apiVersion: orgctl.io/v1alpha1
kind: Application
metadata: {name: portal}
spec:
  organization: acme
  type: oidc
  oidc:
    redirectUris: [https://portal.acme.example/cb]
    clientSecret: {secretKeyRef: {name: portal, key: client-secret}}
"#,
    );
    org.wait_ready(&[(Kind::Application, "portal")]);
    let digest = |org: &Org| {
        org.live_spec(Kind::Application, "portal")
            .map(|a| a["oidc"]["clientSecret"]["digest"].clone())
            .unwrap_or_default()
    };
    let first = digest(&org);
    assert!(first.is_string(), "the backend holds the secret's digest");
    // Rotation: the Secret watch triggers the organization at once (the
    // resync is a minute away).
    org.apply(&secret("second-value"));
    org.eventually_or(
        "the new value reaches the backend",
        || {
            let now = digest(&org);
            now.is_string() && now != first
        },
        || {
            format!(
                "{:#}",
                org.object(Kind::Application, "portal").unwrap_or_default()["status"]
            )
        },
    );
    let app = org.live_spec(Kind::Application, "portal").expect("portal");
    assert!(!app.to_string().contains("second-value"), "{app}");
}

/// The holder of the namespace's controller Lease.
fn lease_holder(org: &Org) -> Option<String> {
    let run = org.k.run(
        "kubectl",
        &[
            "-n",
            &org.ns,
            "get",
            "leases.coordination.k8s.io",
            "orgctl-controller",
            "-o",
            "json",
            "--ignore-not-found",
        ],
        None,
    );
    let lease: Value = serde_json::from_str(&run.stdout).ok()?;
    lease["spec"]["holderIdentity"].as_str().map(str::to_string)
}

#[test]
fn two_controllers_elect_one_leader_and_the_other_takes_over_when_it_dies() {
    let Some(k) = kube() else { return };
    let mut org = Org::without_controller(k, "leader", "60s");
    let ns = org.ns.clone();
    let lease = [
        "--leader-election",
        "--lease-name",
        "orgctl-controller",
        "--lease-namespace",
        &ns,
    ];
    org.spawn("replica-a", &lease);
    org.eventually("replica-a holds the Lease", || {
        lease_holder(&org).as_deref() == Some("replica-a")
    });
    org.spawn("replica-b", &lease);
    org.seed();
    let revision = org.live().revision;
    assert!(org.log("replica-a").contains("reconciled"), "{}", org.context());
    assert!(
        !org.log("replica-b").contains("reconciled"),
        "a standby never reconciles:\n{}",
        org.context()
    );

    // SIGKILL: the Lease is not released, so replica-b waits for it to
    // expire (15 s) before it takes over.
    org.kill("replica-a");
    let killed = Instant::now();
    org.eventually("replica-b takes the Lease", || {
        lease_holder(&org).as_deref() == Some("replica-b")
    });
    assert!(
        killed.elapsed() < Duration::from_secs(30),
        "took {:?}, beyond the Lease duration",
        killed.elapsed()
    );
    org.eventually("replica-b reconciles", || {
        org.log("replica-b").contains("reconciled")
    });
    assert_eq!(org.live().revision, revision, "the new leader rewrote nothing");
    org.kubectl(&[
        "patch",
        &resource(Kind::User, "bob"),
        "--type=merge",
        "-p",
        r#"{"spec":{"department":"Support"}}"#,
    ]);
    org.eventually("the new leader applies an edit", || {
        org.live_spec(Kind::User, "bob")
            .is_some_and(|s| s["department"] == "Support")
    });
}

// ------------------------------------------------------------------ Helm

/// Values of the chart's shapes: the controller alone, with the bundled
/// directory, and with every option that adds or changes objects.
fn chart_variants() -> [(&'static str, Vec<&'static str>); 3] {
    let directory = [
        "--set",
        "directory.enabled=true",
        "--set",
        "directory.token.value=s3cr3t-token",
    ];
    [
        ("default values", vec![]),
        ("directory.enabled=true", directory.to_vec()),
        (
            "the directory over TLS, NetworkPolicies, an image digest",
            [
                &directory[..],
                &[
                    "--set",
                    "directory.tls.existingSecret=directory-tls",
                    "--set",
                    "networkPolicy.enabled=true",
                    "--set",
                    "image.digest=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                ],
            ]
            .concat(),
        ),
    ]
}

#[test]
fn helm_lints_and_renders_the_chart_and_the_server_accepts_it() {
    let Some(k) = kube() else { return };
    k.with_crds();
    let chart = repo("charts/orgctl");
    let kube_version = format!("--kube-version={}", k.version);
    for (what, values) in chart_variants() {
        let mut lint = vec!["lint", "--strict", &chart, &kube_version];
        lint.extend(values.iter().copied());
        let out = k.ok("helm", &lint, None);
        assert!(out.contains("0 chart(s) failed"), "{what}: {out}");

        let ns = k.namespace("chart");
        let mut template = vec!["template", "orgctl", &chart, "--namespace", &ns, &kube_version];
        template.extend(values.iter().copied());
        let manifests = k.ok("helm", &template, None);
        assert!(manifests.contains("kind: Deployment"), "{what}: {manifests}");
        let run = k.run(
            "kubectl",
            &["apply", "--dry-run=server", "-n", &ns, "-f", "-"],
            Some(&manifests),
        );
        assert!(
            run.ok && !run.stderr.contains("Warning"),
            "{what}: the API server refused the rendered chart:\n{}{}",
            run.stdout,
            run.stderr
        );
    }
}

#[test]
fn kubectl_and_the_server_are_the_pinned_version() {
    let Some(k) = kube() else { return };
    let version: Value =
        serde_json::from_str(&k.kubectl(&["version", "-o", "json"])).expect("kubectl version json");
    let want = format!("v{}", k.version);
    assert_eq!(version["clientVersion"]["gitVersion"], want.as_str(), "{version}");
    assert_eq!(version["serverVersion"]["gitVersion"], want.as_str(), "{version}");
    let helm = k.ok("helm", &["version", "--short"], None);
    assert!(helm.starts_with("v4."), "{helm}");
}

#[test]
fn an_organization_connected_to_keycloak_is_reconciled_into_its_realm_and_kubectl_wait_sees_it() {
    let Some(k) = kube() else { return };
    let Some(kc) = common::keycloak("kube_real with a Keycloak connection") else {
        return;
    };
    let realm = "kube-kc";
    kc.drop_realm(realm);
    let org = Org::start(k, "keycloak", "60s");
    // The client secret goes in a Secret; the Organization names it.
    org.apply(
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "keycloak-admin"},
                "stringData": {"client-secret": kc.client_secret}})
        .to_string(),
    );
    org.apply(&format!(
        r#"
apiVersion: orgctl.io/v1alpha1
kind: Organization
metadata: {{name: {realm}}}
spec:
  displayName: Reconciled on a real API server
  superAdmin: alice
  connection:
    backend: {address}
    clientId: {client_id}
    tokenSecretRef: {{name: keycloak-admin, key: client-secret}}
---
apiVersion: orgctl.io/v1alpha1
kind: RoleBinding
metadata: {{name: org-admins}}
spec: {{organization: {realm}, role: admin, subjects: {{users: [alice]}}}}
---
apiVersion: orgctl.io/v1alpha1
kind: SecurityPolicy
metadata: {{name: default}}
spec: {{organization: {realm}, default: true, password: {{minLength: 11}}}}
---
apiVersion: orgctl.io/v1alpha1
kind: User
metadata: {{name: alice}}
spec: {{organization: {realm}, email: alice@kc.example, lastName: Admin, department: IT}}
---
apiVersion: orgctl.io/v1alpha1
kind: Group
metadata: {{name: it}}
spec: {{organization: {realm}, members: {{users: [alice]}}}}
"#,
        address = kc.address(),
        client_id = kc.client_id,
    ));
    org.wait_ready(&[
        (Kind::Organization, realm),
        (Kind::RoleBinding, "org-admins"),
        (Kind::SecurityPolicy, "default"),
        (Kind::User, "alice"),
        (Kind::Group, "it"),
    ]);
    let (status, user) = kc.admin(
        "GET",
        &format!("/{realm}/users?username=alice&exact=true&briefRepresentation=false"),
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(user[0]["attributes"]["department"], json!(["IT"]), "{user}");
    let (_, settings) = kc.admin("GET", &format!("/{realm}"), None);
    assert_eq!(settings["passwordPolicy"], "length(11)", "{settings}");
    let (_, groups) = kc.admin("GET", &format!("/{realm}/groups?search=it&exact=true"), None);
    assert_eq!(groups[0]["name"], "it", "{groups}");
    // An edit with kubectl reaches Keycloak.
    org.apply(&format!(
        "apiVersion: orgctl.io/v1alpha1\nkind: User\nmetadata: {{name: alice}}\nspec: {{organization: {realm}, email: alice@kc.example, lastName: Admin, department: Security}}\n"
    ));
    org.eventually("the edit reaches Keycloak", || {
        let (_, u) = kc.admin(
            "GET",
            &format!("/{realm}/users?username=alice&exact=true&briefRepresentation=false"),
            None,
        );
        u[0]["attributes"]["department"] == json!(["Security"])
    });
    // The client secret never reaches a custom resource's status or an Event.
    let all = org.kubectl(&["get", "orgctl,events", "-o", "json"]);
    assert!(!all.contains(&kc.client_secret), "the client secret leaked");
    kc.drop_realm(realm);
}
