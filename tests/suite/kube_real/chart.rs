//! The Helm chart `charts/orgctl` as the real helm renders it (`helm install
//! --dry-run=client -o json`: the manifests and NOTES.txt, with the values
//! checked against values.schema.json by helm itself), each document read by
//! the real kubectl and parsed into its Kubernetes API type with nothing
//! dropped. The tests check what the chart promises: a hardened controller
//! pod, least-privilege RBAC, the optional in-cluster directory, values
//! refused by the schema with helm's message. The chart's files themselves
//! (CRDs, Chart.yaml, values.yaml documented) are checked without a cluster
//! by `tests/crds.rs`.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Secret, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{json, Map, Value as J};

use crate::kube_real::manifests::{
    args, container, flag, labels_select, pod_spec, quantity, sts_pod_spec, Manifests,
};
use crate::kube_real::{kube, repo, Kube};

const NAMESPACE: &str = "orgctl-system";

/// The chart rendered for one release.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// Every manifest, `---`-separated, each after its `# Source:` line.
    pub manifest: String,
    /// The rendered NOTES.txt.
    pub notes: String,
}

/// `helm install RELEASE charts/orgctl --dry-run=client -o json` with each
/// override as a values file (in order, as `-f` merges them); helm's error
/// message when it refuses.
fn helm_render(k: &Kube, release: &str, overrides: &[J]) -> Result<Rendered, String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let chart = repo("charts/orgctl");
    let mut args: Vec<String> = [
        "install",
        release,
        &chart,
        "--namespace",
        NAMESPACE,
        "--dry-run=client",
        "-o",
        "json",
    ]
    .map(String::from)
    .to_vec();
    for (i, values) in overrides.iter().enumerate() {
        // JSON is YAML: helm reads it as a values file.
        let file = dir.path().join(format!("values-{i}.json"));
        std::fs::write(&file, values.to_string()).expect("write values");
        args.push("-f".into());
        args.push(file.display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = k.run("helm", &args, None);
    if !run.ok {
        let e = run.stderr.trim();
        return Err(e
            .strip_prefix("Error: INSTALLATION FAILED: ")
            .unwrap_or(e)
            .to_string());
    }
    let release: J = serde_json::from_str(&run.stdout).expect("helm's release as JSON");
    Ok(Rendered {
        manifest: release["manifest"].as_str().expect("manifest").to_string(),
        notes: release["info"]["notes"].as_str().unwrap_or_default().to_string(),
    })
}

fn try_render(k: &Kube, overrides: &[J]) -> Result<Rendered, String> {
    helm_render(k, "orgctl", overrides)
}

fn render(k: &Kube, overrides: &[J]) -> Manifests {
    let rendered = try_render(k, overrides).unwrap_or_else(|e| panic!("render failed: {e}"));
    Manifests::parse(k, &rendered)
}

fn render_error(k: &Kube, overrides: &[J]) -> String {
    match try_render(k, overrides) {
        Ok(r) => panic!("rendering succeeded, expected an error:\n{}", r.manifest),
        Err(e) => e,
    }
}

/// `{"a": {"b": value}}` from `a.b`.
fn set(path: &str, value: J) -> J {
    path.rsplit('.').fold(value, |acc, key| {
        let mut m = Map::new();
        m.insert(key.to_string(), acc);
        J::Object(m)
    })
}

/// A token value for the directory in tests.
fn directory_on() -> Vec<J> {
    vec![json!({"directory": {"enabled": true, "token": {"value": "s3cr3t-token"}}})]
}

// ------------------------------------------------------------------ defaults

#[test]
fn default_values_render_the_controller_and_nothing_else() {
    let Some(k) = kube() else { return };
    let m = render(k, &[]);
    let kinds = m.kinds();
    let expected: BTreeMap<String, usize> = [
        ("ClusterRole", 1),
        ("ClusterRoleBinding", 1),
        ("Deployment", 1),
        ("Role", 1),
        ("RoleBinding", 1),
        ("Service", 1),
        ("ServiceAccount", 1),
    ]
    .into_iter()
    .map(|(k, n)| (k.to_string(), n))
    .collect();
    assert_eq!(kinds, expected);
    assert!(m.all::<StatefulSet>().is_empty() && m.all::<Secret>().is_empty());
    let svc = m.one::<Service>();
    assert_eq!(svc.metadata.name.as_deref(), Some("orgctl-metrics"));
    let deployment = m.one::<Deployment>();
    assert_eq!(deployment.metadata.name.as_deref(), Some("orgctl"));
    assert_eq!(Some(&deployment.spec).and_then(|s| s.replicas), Some(1));
    // No backend configured: no default connection flags, and the notes say so.
    let a = args(container(pod_spec(&deployment), "controller"));
    assert!(
        flag(&a, "--backend").is_none() && !a.contains(&"--token-file".to_string()),
        "{a:?}"
    );
    assert!(m.notes.contains("No default backend"), "{}", m.notes);
}

#[test]
fn every_object_is_labelled_and_in_the_release_namespace() {
    let Some(k) = kube() else { return };
    for overrides in [vec![], directory_on(), vec![json!({"watchNamespaces": ["acme"]})]] {
        let m = render(k, &overrides);
        for d in &m.docs {
            let labels = &d.json["metadata"]["labels"];
            assert_eq!(labels["helm.sh/chart"], "orgctl-0.1.0", "{}", d.name());
            assert_eq!(labels["app.kubernetes.io/managed-by"], "Helm");
            assert_eq!(labels["app.kubernetes.io/name"], "orgctl");
            assert_eq!(labels["app.kubernetes.io/instance"], "orgctl");
            assert_eq!(labels["app.kubernetes.io/version"], env!("CARGO_PKG_VERSION"));
            let cluster_scoped = matches!(d.kind(), "ClusterRole" | "ClusterRoleBinding");
            let namespace = d.json["metadata"]["namespace"].as_str();
            if cluster_scoped {
                assert_eq!(namespace, None, "{} {}", d.kind(), d.name());
            } else if d.name().ends_with("-secrets") {
                assert_eq!(namespace, Some("acme"));
            } else {
                assert_eq!(namespace, Some(NAMESPACE), "{} {}", d.kind(), d.name());
            }
        }
    }
}

#[test]
fn controller_pod_is_hardened_and_probed() {
    let Some(k) = kube() else { return };
    let m = render(k, &[]);
    let d = m.one::<Deployment>();
    let pod = pod_spec(&d);
    let psc = pod.security_context.as_ref().expect("pod security context");
    assert_eq!(psc.run_as_non_root, Some(true));
    assert_eq!(psc.run_as_user, Some(65532));
    assert_eq!(psc.fs_group, Some(65532));
    assert_eq!(
        psc.seccomp_profile.as_ref().map(|s| s.type_.as_str()),
        Some("RuntimeDefault")
    );
    assert_eq!(pod.service_account_name.as_deref(), Some("orgctl"));
    assert_eq!(pod.containers.len(), 1);

    let c = container(pod, "controller");
    assert_eq!(
        c.image.as_deref(),
        Some(format!("ghcr.io/orgctl/orgctl:{}", env!("CARGO_PKG_VERSION")).as_str())
    );
    let sc = c.security_context.as_ref().expect("container security context");
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(sc.run_as_non_root, Some(true));
    assert_eq!(sc.privileged, None);
    assert_eq!(
        sc.capabilities.as_ref().and_then(|c| c.drop.clone()),
        Some(vec!["ALL".to_string()])
    );
    assert_eq!(sc.capabilities.as_ref().and_then(|c| c.add.clone()), None);
    assert_eq!(
        sc.seccomp_profile.as_ref().map(|s| s.type_.as_str()),
        Some("RuntimeDefault")
    );

    let res = c.resources.as_ref().expect("resources");
    assert_eq!(quantity(&res.requests, "cpu"), "50m");
    assert_eq!(quantity(&res.requests, "memory"), "64Mi");
    assert_eq!(quantity(&res.limits, "cpu"), "500m");
    assert_eq!(quantity(&res.limits, "memory"), "128Mi");

    // Probes on the health endpoints of the port --listen serves.
    let ports = c.ports.clone().unwrap_or_default();
    let metrics = ports
        .iter()
        .find(|p| p.name.as_deref() == Some("metrics"))
        .expect("metrics port");
    assert_eq!(metrics.container_port, 8080);
    assert_eq!(flag(&args(c), "--listen").as_deref(), Some("0.0.0.0:8080"));
    for (probe, path) in [(&c.liveness_probe, "/healthz"), (&c.readiness_probe, "/readyz")] {
        let get = probe
            .as_ref()
            .and_then(|p| p.http_get.as_ref())
            .expect("an httpGet probe");
        assert_eq!(get.path.as_deref(), Some(path));
        assert_eq!(get.port, IntOrString::String("metrics".into()));
    }

    // A writable /tmp on the read-only root filesystem.
    let tmp = c
        .volume_mounts
        .as_ref()
        .and_then(|v| v.iter().find(|m| m.mount_path == "/tmp"))
        .expect("/tmp mount");
    let vol = pod
        .volumes
        .as_ref()
        .and_then(|v| v.iter().find(|v| v.name == tmp.name))
        .expect("tmp volume");
    assert!(vol.empty_dir.is_some());

    // POD_NAMESPACE from the downward API.
    let env = c.env.clone().unwrap_or_default();
    let ns = env
        .iter()
        .find(|e| e.name == "POD_NAMESPACE")
        .expect("POD_NAMESPACE");
    assert_eq!(
        ns.value_from
            .as_ref()
            .and_then(|v| v.field_ref.as_ref())
            .map(|f| f.field_path.as_str()),
        Some("metadata.namespace")
    );

    // The metrics Service selects the controller's pods and targets that port.
    let svc = m.one::<Service>();
    let spec = svc.spec.expect("service spec");
    let pod_labels = Some(&d.spec)
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .expect("pod labels");
    assert!(labels_select(
        &spec.selector.clone().unwrap_or_default(),
        &pod_labels
    ));
    let port = &spec.ports.expect("ports")[0];
    assert_eq!(port.port, 8080);
    assert_eq!(port.target_port, Some(IntOrString::String("metrics".into())));
    // The Deployment's selector matches its own pods.
    let selector = Some(&d.spec)
        .and_then(|s| s.selector.match_labels.clone())
        .expect("selector");
    assert!(labels_select(&selector, &pod_labels));
}

#[test]
fn controller_args_follow_the_values() {
    let Some(k) = kube() else { return };
    let d = render(k, &[]).one::<Deployment>();
    let a = args(container(pod_spec(&d), "controller"));
    assert_eq!(a[0], "controller");
    assert_eq!(flag(&a, "--resync").as_deref(), Some("5m"));
    assert_eq!(flag(&a, "--log-level").as_deref(), Some("info"));
    assert_eq!(flag(&a, "--log-format").as_deref(), Some("json"));
    assert!(a.contains(&"--leader-election".to_string()));
    assert_eq!(flag(&a, "--lease-name").as_deref(), Some("orgctl"));
    assert_eq!(flag(&a, "--lease-namespace").as_deref(), Some(NAMESPACE));
    assert!(flag(&a, "--namespace").is_none());
    assert_eq!(
        Some(&d.spec)
            .and_then(|s| s.strategy.as_ref())
            .and_then(|s| s.type_.clone())
            .as_deref(),
        Some("RollingUpdate")
    );

    let m = render(
        k,
        &[json!({
            "resync": "90s",
            "logLevel": "debug",
            "logFormat": "text",
            "replicaCount": 3,
            "leaderElection": {"leaseName": "orgctl-leader"},
            "watchNamespaces": ["acme", "globex"],
            "defaultBackend": {"url": "https://directory.example.com:8443", "tokenSecret": {"name": "backend", "key": "bearer"}},
            "image": {"tag": "1.2.3", "pullPolicy": "Always"},
        })],
    );
    let d = m.one::<Deployment>();
    let pod = pod_spec(&d);
    let c = container(pod, "controller");
    let a = args(c);
    assert_eq!(flag(&a, "--resync").as_deref(), Some("90s"));
    assert_eq!(flag(&a, "--log-level").as_deref(), Some("debug"));
    assert_eq!(flag(&a, "--log-format").as_deref(), Some("text"));
    assert_eq!(flag(&a, "--lease-name").as_deref(), Some("orgctl-leader"));
    assert_eq!(
        flag(&a, "--backend").as_deref(),
        Some("https://directory.example.com:8443")
    );
    assert_eq!(
        flag(&a, "--token-file").as_deref(),
        Some("/etc/orgctl/token/token")
    );
    let namespaces: Vec<&String> = a
        .iter()
        .zip(a.iter().skip(1))
        .filter(|(f, _)| *f == "--namespace")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(namespaces, ["acme", "globex"]);
    assert_eq!(Some(&d.spec).and_then(|s| s.replicas), Some(3));
    assert_eq!(c.image.as_deref(), Some("ghcr.io/orgctl/orgctl:1.2.3"));
    assert_eq!(c.image_pull_policy.as_deref(), Some("Always"));
    // The token file is the named key of the named Secret.
    let mount = c
        .volume_mounts
        .as_ref()
        .and_then(|v| v.iter().find(|m| m.mount_path == "/etc/orgctl/token"))
        .expect("token mount");
    assert_eq!(mount.read_only, Some(true));
    let secret = pod
        .volumes
        .as_ref()
        .and_then(|v| v.iter().find(|v| v.name == mount.name))
        .and_then(|v| v.secret.clone())
        .expect("token volume");
    assert_eq!(secret.secret_name.as_deref(), Some("backend"));
    let items = secret.items.expect("items");
    assert_eq!(
        (items[0].key.as_str(), items[0].path.as_str()),
        ("bearer", "token")
    );
    assert!(m.notes.contains("https://directory.example.com:8443"));

    // Without leader election: no lease flags, no lease Role, Recreate.
    let m = render(k, &[json!({"leaderElection": {"enabled": false}})]);
    let d = m.one::<Deployment>();
    let a = args(container(pod_spec(&d), "controller"));
    assert!(
        !a.iter()
            .any(|x| x.starts_with("--lease") || x == "--leader-election"),
        "{a:?}"
    );
    assert!(m.all::<Role>().is_empty());
    assert_eq!(
        Some(&d.spec)
            .and_then(|s| s.strategy.as_ref())
            .and_then(|s| s.type_.clone())
            .as_deref(),
        Some("Recreate")
    );
}

#[test]
fn scheduling_and_annotation_values_pass_through_to_both_pods() {
    let Some(k) = kube() else { return };
    let m = render(
        k,
        &[
            directory_on()[0].clone(),
            json!({
                "podAnnotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "8080", "note": "a: b # c"},
                "nodeSelector": {"kubernetes.io/os": "linux"},
                "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "identity", "effect": "NoSchedule"}],
                "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64", "arm64"]}]}
                ]}}},
                "imagePullSecrets": [{"name": "regcred"}],
                "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/orgctl"}},
                "metrics": {"service": {"port": 9090, "annotations": {"prometheus.io/scrape": "true"}}},
            }),
        ],
    );
    let d = m.one::<Deployment>();
    let s = m.one::<StatefulSet>();
    for (meta, pod) in [
        (
            Some(&d.spec).and_then(|s| s.template.metadata.clone()),
            pod_spec(&d),
        ),
        (
            Some(&s.spec).and_then(|s| s.template.metadata.clone()),
            sts_pod_spec(&s),
        ),
    ] {
        let annotations = meta.and_then(|m| m.annotations).expect("annotations");
        assert_eq!(annotations["prometheus.io/scrape"], "true");
        assert_eq!(annotations["prometheus.io/port"], "8080");
        assert_eq!(annotations["note"], "a: b # c");
        assert_eq!(
            pod.node_selector.as_ref().map(|n| n["kubernetes.io/os"].as_str()),
            Some("linux")
        );
        let t = &pod.tolerations.as_ref().expect("tolerations")[0];
        assert_eq!(
            (t.key.as_deref(), t.value.as_deref()),
            (Some("dedicated"), Some("identity"))
        );
        let terms = &pod
            .affinity
            .as_ref()
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|n| n.required_during_scheduling_ignored_during_execution.as_ref())
            .expect("node affinity")
            .node_selector_terms;
        assert_eq!(
            terms[0].match_expressions.as_ref().expect("expressions")[0].values,
            Some(vec!["amd64".into(), "arm64".into()])
        );
        assert_eq!(
            pod.image_pull_secrets.as_ref().map(|p| p[0].name.as_str()),
            Some("regcred")
        );
    }
    let sa = m.one::<ServiceAccount>();
    assert_eq!(
        sa.metadata.annotations.expect("annotations")["eks.amazonaws.com/role-arn"],
        "arn:aws:iam::123456789012:role/orgctl"
    );
    let svc = m.named::<Service>("orgctl-metrics");
    assert_eq!(
        svc.metadata.annotations.expect("annotations")["prometheus.io/scrape"],
        "true"
    );
    assert_eq!(svc.spec.and_then(|s| s.ports).expect("ports")[0].port, 9090);
}

// ------------------------------------------------------------------ RBAC

/// The CRDs' plural names, from the chart's crds/.
fn orgctl_plurals() -> BTreeSet<String> {
    let dir = repo("charts/orgctl/crds");
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(dir).expect("crds dir") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("read CRD");
        for doc in crate::crd_corpus::yaml_documents(&text) {
            assert_eq!(doc["spec"]["group"], "orgctl.io");
            out.insert(
                doc["spec"]["names"]["plural"]
                    .as_str()
                    .expect("plural")
                    .to_string(),
            );
        }
    }
    assert_eq!(out.len(), 9);
    out
}

/// Every (scope, apiGroup, resource, verb) granted, refusing wildcards,
/// resource names and non-resource URLs.
fn grants(rules: &[PolicyRule], scope: &str, out: &mut BTreeSet<(String, String, String, String)>) {
    for r in rules {
        assert!(
            r.resource_names.is_none() && r.non_resource_urls.is_none(),
            "{r:?}"
        );
        let groups = r.api_groups.clone().unwrap_or_default();
        let resources = r.resources.clone().unwrap_or_default();
        assert!(
            !groups.is_empty() && !resources.is_empty() && !r.verbs.is_empty(),
            "{r:?}"
        );
        for g in &groups {
            for res in &resources {
                for v in &r.verbs {
                    for x in [g, res, v] {
                        assert!(!x.contains('*'), "a wildcard in {r:?}");
                    }
                    out.insert((scope.to_string(), g.clone(), res.clone(), v.clone()));
                }
            }
        }
    }
}

fn all_grants(m: &Manifests) -> BTreeSet<(String, String, String, String)> {
    let mut out = BTreeSet::new();
    for cr in m.all::<ClusterRole>() {
        assert!(cr.aggregation_rule.is_none());
        grants(&cr.rules.unwrap_or_default(), "cluster", &mut out);
    }
    for role in m.all::<Role>() {
        let ns = role.metadata.namespace.clone().expect("namespace");
        grants(&role.rules.unwrap_or_default(), &ns, &mut out);
    }
    out
}

fn expected_grants(secrets_in: &[&str]) -> BTreeSet<(String, String, String, String)> {
    let g = |scope: &str, group: &str, res: &str, verb: &str| {
        (
            scope.to_string(),
            group.to_string(),
            res.to_string(),
            verb.to_string(),
        )
    };
    let mut out = BTreeSet::new();
    for plural in orgctl_plurals() {
        for verb in ["get", "list", "watch", "patch", "update"] {
            out.insert(g("cluster", "orgctl.io", &plural, verb));
        }
        for sub in ["status", "finalizers"] {
            for verb in ["patch", "update"] {
                out.insert(g("cluster", "orgctl.io", &format!("{plural}/{sub}"), verb));
            }
        }
    }
    for group in ["", "events.k8s.io"] {
        for verb in ["create", "patch"] {
            out.insert(g("cluster", group, "events", verb));
        }
    }
    for scope in secrets_in {
        for verb in ["get", "list", "watch"] {
            out.insert(g(scope, "", "secrets", verb));
        }
    }
    for verb in ["get", "create", "update"] {
        out.insert(g(NAMESPACE, "coordination.k8s.io", "leases", verb));
    }
    out
}

/// Every binding grants its role to the controller's service account only.
fn check_bindings(m: &Manifests, service_account: &str) {
    let subject_ok = |subjects: &Option<Vec<k8s_openapi::api::rbac::v1::Subject>>| {
        let s = subjects.clone().unwrap_or_default();
        s.len() == 1
            && s[0].kind == "ServiceAccount"
            && s[0].name == service_account
            && s[0].namespace.as_deref() == Some(NAMESPACE)
    };
    let cluster_roles: BTreeSet<String> = m
        .all::<ClusterRole>()
        .iter()
        .filter_map(|r| r.metadata.name.clone())
        .collect();
    for b in m.all::<ClusterRoleBinding>() {
        assert!(subject_ok(&b.subjects), "{b:?}");
        assert_eq!(b.role_ref.kind, "ClusterRole");
        assert!(cluster_roles.contains(&b.role_ref.name));
    }
    let roles: BTreeSet<(String, String)> = m
        .all::<Role>()
        .iter()
        .map(|r| {
            (
                r.metadata.namespace.clone().unwrap_or_default(),
                r.metadata.name.clone().unwrap_or_default(),
            )
        })
        .collect();
    let bindings = m.all::<RoleBinding>();
    assert_eq!(bindings.len(), roles.len(), "one binding per Role");
    for b in bindings {
        assert!(subject_ok(&b.subjects), "{b:?}");
        assert_eq!(b.role_ref.kind, "Role");
        assert!(roles.contains(&(
            b.metadata.namespace.clone().unwrap_or_default(),
            b.role_ref.name.clone()
        )));
    }
}

#[test]
fn rbac_is_least_privilege() {
    let Some(k) = kube() else { return };
    let m = render(k, &[]);
    assert_eq!(all_grants(&m), expected_grants(&["cluster"]));
    check_bindings(&m, "orgctl");
    assert_eq!(m.all::<ClusterRoleBinding>().len(), 1);
    // Nothing else anywhere in the rendered text either.
    for d in &m.docs {
        assert!(!d.json.to_string().contains("\"*\""), "{}: a wildcard", d.name());
    }
}

#[test]
fn watch_namespaces_move_secrets_to_namespaced_roles() {
    let Some(k) = kube() else { return };
    let m = render(k, &[json!({"watchNamespaces": ["acme", "globex"]})]);
    assert_eq!(all_grants(&m), expected_grants(&["acme", "globex"]));
    check_bindings(&m, "orgctl");
    let secret_roles: Vec<String> = m
        .all::<Role>()
        .iter()
        .filter(|r| r.metadata.name.as_deref() == Some("orgctl-secrets"))
        .filter_map(|r| r.metadata.namespace.clone())
        .collect();
    assert_eq!(secret_roles, ["acme", "globex"]);
}

#[test]
fn rbac_and_service_account_can_be_left_to_the_cluster_admin() {
    let Some(k) = kube() else { return };
    let m = render(
        k,
        &[json!({"rbac": {"create": false}, "serviceAccount": {"create": false, "name": "orgctl-sa"}})],
    );
    let kinds = m.kinds();
    assert_eq!(
        kinds.keys().cloned().collect::<Vec<_>>(),
        ["Deployment", "Service"]
    );
    assert_eq!(
        pod_spec(&m.one::<Deployment>()).service_account_name.as_deref(),
        Some("orgctl-sa")
    );

    let m = render(
        k,
        &[json!({"serviceAccount": {"create": false, "name": "orgctl-sa"}})],
    );
    assert!(m.all::<ServiceAccount>().is_empty());
    check_bindings(&m, "orgctl-sa");

    let m = render(k, &[json!({"serviceAccount": {"name": "custom"}})]);
    assert_eq!(m.one::<ServiceAccount>().metadata.name.as_deref(), Some("custom"));
    check_bindings(&m, "custom");
}

// ------------------------------------------------------------------ directory

#[test]
fn directory_enabled_deploys_the_directory_and_points_the_controller_at_it() {
    let Some(k) = kube() else { return };
    let m = render(k, &directory_on());
    let kinds = m.kinds();
    assert_eq!(kinds.get("StatefulSet"), Some(&1));
    assert_eq!(kinds.get("Service"), Some(&2));
    assert_eq!(kinds.get("Secret"), Some(&1));

    let sts = m.one::<StatefulSet>();
    assert_eq!(sts.metadata.name.as_deref(), Some("orgctl-directory"));
    let spec = &sts.spec;
    assert_eq!(spec.replicas, Some(1), "SQLite has one writer");
    assert_eq!(spec.service_name.as_deref(), Some("orgctl-directory"));
    let claims = spec.volume_claim_templates.clone().expect("volumeClaimTemplates");
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0].metadata.name.as_deref(), Some("data"));
    let claim = claims[0].spec.as_ref().expect("claim spec");
    assert_eq!(claim.access_modes, Some(vec!["ReadWriteOnce".to_string()]));
    assert_eq!(claim.storage_class_name, None);
    assert_eq!(
        quantity(&claim.resources.as_ref().expect("resources").requests, "storage"),
        "1Gi"
    );

    let pod = sts_pod_spec(&sts);
    assert_eq!(pod.automount_service_account_token, Some(false));
    let c = container(pod, "directory");
    assert_eq!(
        c.image.as_deref(),
        Some(format!("ghcr.io/orgctl/orgctl:{}", env!("CARGO_PKG_VERSION")).as_str())
    );
    assert_eq!(
        args(c),
        [
            "serve",
            "--db",
            "/data/directory.db",
            "--listen",
            "0.0.0.0:8443",
            "--token-file",
            "/etc/orgctl/token/token"
        ]
    );
    let sc = c.security_context.as_ref().expect("security context");
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(
        sc.capabilities.as_ref().and_then(|c| c.drop.clone()),
        Some(vec!["ALL".to_string()])
    );
    assert_eq!(
        pod.security_context.as_ref().and_then(|p| p.fs_group),
        Some(65532),
        "the volume is writable by uid 65532"
    );
    let res = c.resources.as_ref().expect("resources");
    assert!(res.requests.is_some() && res.limits.is_some());
    let mounts: BTreeMap<String, (String, Option<bool>)> = c
        .volume_mounts
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|m| (m.mount_path, (m.name, m.read_only)))
        .collect();
    assert_eq!(mounts["/data"].0, "data");
    assert_eq!(mounts["/etc/orgctl/token"].1, Some(true));
    assert!(mounts.contains_key("/tmp"));
    let port = c
        .ports
        .clone()
        .unwrap_or_default()
        .into_iter()
        .find(|p| p.name.as_deref() == Some("http"))
        .expect("http port");
    assert_eq!(port.container_port, 8443);
    for (probe, path) in [(&c.liveness_probe, "/healthz"), (&c.readiness_probe, "/readyz")] {
        let get = probe.as_ref().and_then(|p| p.http_get.as_ref()).expect("probe");
        assert_eq!(
            (get.path.as_deref(), &get.port),
            (Some(path), &IntOrString::String("http".into()))
        );
    }
    let token_volume = pod
        .volumes
        .clone()
        .unwrap_or_default()
        .into_iter()
        .find(|v| v.name == mounts["/etc/orgctl/token"].0)
        .and_then(|v| v.secret)
        .expect("token volume");
    assert_eq!(
        token_volume.secret_name.as_deref(),
        Some("orgctl-directory-token")
    );

    let secret = m.one::<Secret>();
    assert_eq!(secret.metadata.name.as_deref(), Some("orgctl-directory-token"));
    assert_eq!(secret.string_data.expect("stringData")["token"], "s3cr3t-token");

    // The directory's Service selects the directory only; the metrics one the controller only.
    let d = m.one::<Deployment>();
    let controller_labels = Some(&d.spec)
        .and_then(|s| s.template.metadata.clone())
        .and_then(|m| m.labels)
        .expect("labels");
    let directory_labels = spec
        .template
        .metadata
        .clone()
        .and_then(|m| m.labels)
        .expect("labels");
    let svc = m.named::<Service>("orgctl-directory").spec.expect("spec");
    let selector = svc.selector.clone().expect("selector");
    assert!(labels_select(&selector, &directory_labels) && !labels_select(&selector, &controller_labels));
    let ports = svc.ports.expect("ports");
    assert_eq!(
        (ports[0].port, ports[0].target_port.clone()),
        (8443, Some(IntOrString::String("http".into())))
    );
    let metrics = m
        .named::<Service>("orgctl-metrics")
        .spec
        .and_then(|s| s.selector)
        .expect("selector");
    assert!(labels_select(&metrics, &controller_labels) && !labels_select(&metrics, &directory_labels));

    // The controller's default backend is that Service, with the same token.
    let pod = pod_spec(&d);
    let a = args(container(pod, "controller"));
    assert_eq!(
        flag(&a, "--backend").as_deref(),
        Some("http://orgctl-directory.orgctl-system.svc:8443")
    );
    assert_eq!(
        flag(&a, "--token-file").as_deref(),
        Some("/etc/orgctl/token/token")
    );
    let volume = pod
        .volumes
        .clone()
        .unwrap_or_default()
        .into_iter()
        .find_map(|v| v.secret)
        .expect("token volume");
    assert_eq!(volume.secret_name.as_deref(), Some("orgctl-directory-token"));
    let items = volume.items.expect("items");
    assert_eq!(
        (items[0].key.as_str(), items[0].path.as_str()),
        ("token", "token")
    );
    assert!(
        m.notes.contains("http://orgctl-directory.orgctl-system.svc:8443"),
        "{}",
        m.notes
    );
}

#[test]
fn directory_settings_follow_the_values() {
    let Some(k) = kube() else { return };
    let m = render(
        k,
        &[json!({
            "directory": {
                "enabled": true,
                "token": {"existingSecret": "directory-token", "existingSecretKey": "bearer"},
                "storage": {"size": "5Gi", "storageClassName": "fast-ssd"},
                "service": {"port": 9443},
                "image": {"repository": "registry.example.com/orgctl", "tag": "9.9.9", "pullPolicy": "Always"},
            },
        })],
    );
    assert!(m.all::<Secret>().is_empty(), "an existing Secret is not rendered");
    let sts = m.one::<StatefulSet>();
    let pod = sts_pod_spec(&sts);
    let c = container(pod, "directory");
    assert_eq!(c.image.as_deref(), Some("registry.example.com/orgctl:9.9.9"));
    assert_eq!(c.image_pull_policy.as_deref(), Some("Always"));
    let claim = sts.spec.volume_claim_templates.clone().expect("claims")[0]
        .spec
        .clone()
        .expect("claim spec");
    assert_eq!(claim.storage_class_name.as_deref(), Some("fast-ssd"));
    assert_eq!(
        quantity(&claim.resources.expect("resources").requests, "storage"),
        "5Gi"
    );
    for volumes in [
        pod.volumes.clone(),
        pod_spec(&m.one::<Deployment>()).volumes.clone(),
    ] {
        let secret = volumes
            .unwrap_or_default()
            .into_iter()
            .find_map(|v| v.secret)
            .expect("token volume");
        assert_eq!(secret.secret_name.as_deref(), Some("directory-token"));
        let items = secret.items.expect("items");
        assert_eq!(
            (items[0].key.as_str(), items[0].path.as_str()),
            ("bearer", "token")
        );
    }
    let a = args(container(pod_spec(&m.one::<Deployment>()), "controller"));
    assert_eq!(
        flag(&a, "--backend").as_deref(),
        Some("http://orgctl-directory.orgctl-system.svc:9443")
    );
    // The controller keeps its own image.
    assert_eq!(
        container(pod_spec(&m.one::<Deployment>()), "controller")
            .image
            .as_deref(),
        Some(format!("ghcr.io/orgctl/orgctl:{}", env!("CARGO_PKG_VERSION")).as_str())
    );

    // An explicit default backend wins over the directory.
    let m = render(
        k,
        &[
            directory_on()[0].clone(),
            json!({"defaultBackend": {"url": "https://idp.example.com", "tokenSecret": {"name": "idp-token"}}}),
        ],
    );
    let a = args(container(pod_spec(&m.one::<Deployment>()), "controller"));
    assert_eq!(flag(&a, "--backend").as_deref(), Some("https://idp.example.com"));
    assert_eq!(m.kinds().get("StatefulSet"), Some(&1));
}

#[test]
fn an_image_digest_pins_both_images() {
    let Some(k) = kube() else { return };
    let digest = format!("sha256:{}", "a".repeat(64));
    let mut overrides = directory_on();
    overrides.push(json!({"image": {"digest": digest, "tag": "ignored"}}));
    let m = render(k, &overrides);
    let pinned = format!("ghcr.io/orgctl/orgctl@{digest}");
    let controller = container(pod_spec(&m.one::<Deployment>()), "controller").clone();
    assert_eq!(controller.image.as_deref(), Some(pinned.as_str()));
    let sts = m.one::<StatefulSet>();
    assert_eq!(
        container(sts_pod_spec(&sts), "directory").image.as_deref(),
        Some(pinned.as_str())
    );
    // A directory image of its own does not inherit the controller's digest.
    overrides.push(json!({"directory": {"image": {"tag": "9.9.9"}}}));
    let sts = render(k, &overrides).one::<StatefulSet>();
    assert_eq!(
        container(sts_pod_spec(&sts), "directory").image.as_deref(),
        Some("ghcr.io/orgctl/orgctl:9.9.9")
    );
    let e = render_error(k, &[json!({"image": {"digest": "latest"}})]);
    assert!(e.contains("digest"), "{e}");
}

#[test]
fn directory_tls_serves_https_and_the_controller_trusts_its_ca() {
    let Some(k) = kube() else { return };
    let mut overrides = directory_on();
    overrides.push(json!({"directory": {"tls": {"existingSecret": "directory-tls"}}}));
    let m = render(k, &overrides);
    let sts = m.one::<StatefulSet>();
    let pod = sts_pod_spec(&sts);
    let c = container(pod, "directory");
    let a = args(c);
    assert_eq!(flag(&a, "--tls-cert").as_deref(), Some("/etc/orgctl/tls/tls.crt"));
    assert_eq!(flag(&a, "--tls-key").as_deref(), Some("/etc/orgctl/tls/tls.key"));
    let port = &c.ports.as_ref().expect("ports")[0];
    assert_eq!(port.name.as_deref(), Some("https"));
    for probe in [&c.liveness_probe, &c.readiness_probe] {
        let get = probe.as_ref().and_then(|p| p.http_get.as_ref()).expect("httpGet");
        assert_eq!(get.scheme.as_deref(), Some("HTTPS"));
    }
    let tls = pod
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == "tls")
        .and_then(|v| v.secret.clone())
        .expect("the tls volume");
    assert_eq!(tls.secret_name.as_deref(), Some("directory-tls"));
    let svc = m.named::<Service>("orgctl-directory");
    let svc_port = &svc.spec.expect("spec").ports.expect("ports")[0];
    assert_eq!(svc_port.target_port, Some(IntOrString::String("https".into())));

    let deployment = m.one::<Deployment>();
    let a = args(container(pod_spec(&deployment), "controller"));
    assert_eq!(
        flag(&a, "--backend").as_deref(),
        Some("https://orgctl-directory.orgctl-system.svc:8443")
    );
    assert_eq!(
        flag(&a, "--ca-file").as_deref(),
        Some("/etc/orgctl/directory-ca/ca.crt")
    );
    let ca = pod_spec(&deployment)
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == "directory-ca")
        .and_then(|v| v.secret.clone())
        .expect("the CA volume");
    assert_eq!(ca.secret_name.as_deref(), Some("directory-tls"));
    assert_eq!(ca.items.expect("items")[0].key, "ca.crt");

    // Without TLS nothing of it is rendered.
    let m = render(k, &directory_on());
    let a = args(container(pod_spec(&m.one::<Deployment>()), "controller"));
    assert!(flag(&a, "--ca-file").is_none(), "{a:?}");
    assert!(flag(
        &args(container(sts_pod_spec(&m.one::<StatefulSet>()), "directory")),
        "--tls-cert"
    )
    .is_none());
}

#[test]
fn network_policies_admit_only_what_the_pods_serve() {
    let Some(k) = kube() else { return };
    assert!(
        render(k, &directory_on()).all::<NetworkPolicy>().is_empty(),
        "off by default"
    );
    let mut overrides = directory_on();
    overrides.push(json!({"networkPolicy": {"enabled": true,
        "directoryFrom": [{"namespaceSelector": {"matchLabels": {"team": "ci"}}}]}}));
    let m = render(k, &overrides);
    let controller = m.named::<NetworkPolicy>("orgctl-controller");
    let spec = controller.spec.expect("spec");
    assert_eq!(spec.policy_types, Some(vec!["Ingress".to_string()]));
    let rules = spec.ingress.expect("ingress");
    assert_eq!(rules.len(), 1);
    assert_eq!(
        rules[0].ports.as_ref().expect("ports")[0].port,
        Some(IntOrString::String("metrics".into()))
    );
    let pods = m
        .one::<Deployment>()
        .spec
        .template
        .metadata
        .expect("meta")
        .labels
        .expect("labels");
    assert!(labels_select(
        &spec
            .pod_selector
            .as_ref()
            .and_then(|s| s.match_labels.clone())
            .unwrap_or_default(),
        &pods
    ));

    let directory = m.named::<NetworkPolicy>("orgctl-directory");
    let spec = directory.spec.expect("spec");
    let rules = spec.ingress.expect("ingress");
    let from = rules[0].from.clone().expect("from");
    assert_eq!(from.len(), 2, "the controller and the CI namespace");
    let controller_peer = from[0]
        .pod_selector
        .as_ref()
        .and_then(|s| s.match_labels.clone())
        .expect("the controller's pods");
    assert!(labels_select(&controller_peer, &pods));
    assert!(from[1].namespace_selector.is_some());
    assert_eq!(
        rules[0].ports.as_ref().expect("ports")[0].port,
        Some(IntOrString::String("http".into()))
    );
}

#[test]
fn directory_without_a_token_fails_with_a_clear_message() {
    let Some(k) = kube() else { return };
    let e = render_error(k, &[set("directory.enabled", json!(true))]);
    assert!(
        e.contains("directory.enabled=true needs the directory's bearer token"),
        "{e}"
    );
    assert!(
        e.contains("directory.token.existingSecret") && e.contains("directory.token.value"),
        "{e}"
    );
    let e = render_error(
        k,
        &[json!({"directory": {"enabled": true, "token": {"existingSecret": "a", "value": "b"}}})],
    );
    assert!(
        e.contains("set only one of directory.token.existingSecret and directory.token.value"),
        "{e}"
    );
    // A token alone does not deploy the directory.
    let m = render(k, &[set("directory.token.value", json!("x"))]);
    assert!(m.all::<StatefulSet>().is_empty() && m.all::<Secret>().is_empty());
}

#[test]
fn replicas_without_leader_election_fail_with_a_clear_message() {
    let Some(k) = kube() else { return };
    let e = render_error(
        k,
        &[json!({"replicaCount": 2, "leaderElection": {"enabled": false}})],
    );
    assert!(
        e.contains("replicaCount > 1 needs leaderElection.enabled=true"),
        "{e}"
    );
    let m = render(k, &[json!({"replicaCount": 2})]);
    assert_eq!(m.one::<Deployment>().spec.replicas, Some(2));
    let m = render(
        k,
        &[json!({"replicaCount": 1, "leaderElection": {"enabled": false}})],
    );
    assert_eq!(m.one::<Deployment>().spec.replicas, Some(1));
}

#[test]
fn a_default_backend_needs_its_token_secret() {
    let Some(k) = kube() else { return };
    let e = render_error(k, &[set("defaultBackend.url", json!("https://idp.example.com"))]);
    assert!(e.contains("defaultBackend.tokenSecret.name"), "{e}");
}

// ------------------------------------------------------------------ names

#[test]
fn names_fit_kubernetes_limits_for_any_release_name() {
    let Some(k) = kube() else { return };
    let dns_label = regex::Regex::new(r"^[a-z]([-a-z0-9]*[a-z0-9])?$").expect("regex");
    // Helm refuses release names over 53 characters.
    let long = format!("long-release-{}", "x".repeat(40));
    for (release, fullname) in [
        ("orgctl", "orgctl".to_string()),
        ("prod", "prod-orgctl".to_string()),
        ("orgctl-prod", "orgctl-prod".to_string()),
        (long.as_str(), format!("{long}-orgctl")),
    ] {
        let rendered = helm_render(k, release, &directory_on()).unwrap_or_else(|e| panic!("{release}: {e}"));
        let m = Manifests::parse(k, &rendered);
        assert_eq!(
            m.one::<Deployment>().metadata.name.as_deref(),
            Some(fullname.as_str())
        );
        for d in &m.docs {
            let name = d.name();
            assert!(
                name.len() <= 63 && dns_label.is_match(name),
                "{release}: {} {name:?}",
                d.kind()
            );
            for (k, v) in d.json["metadata"]["labels"].as_object().expect("labels") {
                let v = v.as_str().expect("label value");
                assert!(v.len() <= 63, "{release}: label {k}={v}");
            }
        }
        // A StatefulSet's name leaves room for its pods' controller-revision-hash label.
        let sts = m.one::<StatefulSet>().metadata.name.expect("name");
        assert!(sts.len() <= 52 && sts.ends_with("-directory"), "{sts}");
    }
    let m = render(
        k,
        &[json!({"fullnameOverride": "idm", "nameOverride": "identity"})],
    );
    assert_eq!(m.one::<Deployment>().metadata.name.as_deref(), Some("idm"));
    assert_eq!(
        m.one::<Deployment>().metadata.labels.expect("labels")["app.kubernetes.io/name"],
        "identity"
    );
}

// ------------------------------------------------------------------ values and schema

#[test]
fn the_schema_refuses_bad_values() {
    let Some(k) = kube() else { return };
    let cases = [
        (json!({"replicaCount": "two"}), "replicaCount"),
        (json!({"replicaCount": -1}), "replicaCount"),
        (json!({"logLevel": "loud"}), "logLevel"),
        (json!({"logFormat": "xml"}), "logFormat"),
        (json!({"replicas": 2}), "replicas"),
        (json!({"image": {"tagg": "1.0"}}), "tagg"),
        (json!({"resync": "5 minutes"}), "resync"),
        (json!({"resync": "0m"}), "resync"),
        (json!({"watchNamespaces": "acme"}), "watchNamespaces"),
        (json!({"watchNamespaces": ["Not_A_Namespace"]}), "watchNamespaces"),
        (json!({"leaderElection": {"enabled": "yes"}}), "enabled"),
        (json!({"directory": {"storage": {"size": "lots"}}}), "size"),
        (json!({"defaultBackend": {"url": "ftp://x"}}), "url"),
        (json!({"metrics": {"service": {"port": 70000}}}), "port"),
        (json!({"image": {"pullPolicy": "Sometimes"}}), "pullPolicy"),
    ];
    for (overrides, field) in cases {
        let e = render_error(k, std::slice::from_ref(&overrides));
        assert!(
            e.starts_with("values don't meet the specifications of the schema(s)"),
            "{overrides}: {e}"
        );
        assert!(
            e.contains(field),
            "{overrides}: the error should name {field}: {e}"
        );
    }
    // Helm's `global` is allowed.
    render(k, &[json!({"global": {"imageRegistry": "x"}})]);
}

#[test]
fn templates_render_deterministically_and_notes_render_everywhere() {
    let Some(k) = kube() else { return };
    let scenarios = [
        vec![],
        directory_on(),
        vec![
            json!({"watchNamespaces": ["acme"], "defaultBackend": {"url": "https://x.example", "tokenSecret": {"name": "t"}}}),
        ],
        vec![json!({"leaderElection": {"enabled": false}, "rbac": {"create": false}})],
    ];
    for overrides in scenarios {
        let a = try_render(k, &overrides).expect("render");
        let b = try_render(k, &overrides).expect("render");
        assert_eq!(a, b);
        assert!(a.notes.contains("kubectl get orgctl"), "{}", a.notes);
        assert!(!a.notes.contains("<no value>"), "{}", a.notes);
    }
}
