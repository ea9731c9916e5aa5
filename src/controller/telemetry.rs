//! What the controller tells the outside: Prometheus metrics and the
//! `/metrics`, `/healthz` and `/readyz` endpoints. `/metrics` answers in the
//! Prometheus text format 0.0.4, or in OpenMetrics 1.0 when the scraper's
//! `Accept` asks for it.
//!
//! Metrics: `orgctl_build_info{version}` (always 1),
//! `orgctl_controller_reconciles_total`,
//! `orgctl_controller_reconcile_errors_total{reason}`,
//! `orgctl_controller_reconcile_duration_seconds` (histogram),
//! `orgctl_controller_drift_corrections_total{kind}`,
//! `orgctl_controller_objects_managed{kind}`,
//! `orgctl_controller_backend_writes_total`, `orgctl_controller_leader`.
//! Every labelled counter exists at zero for each of its known labels.
//!
//! Must not: label a metric by object name (unbounded cardinality) or
//! expose anything of a spec.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Label set of a counter by reason.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// The reason (a condition reason, `ValidationFailed`, `BackendUnavailable`…).
    pub reason: String,
}

/// Label set of the build information.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VersionLabel {
    /// The crate version.
    pub version: String,
}

/// Label set of a metric by kind.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// The kind (`User`).
    pub kind: String,
}

/// The controller's metrics.
pub struct Metrics {
    registry: Registry,
    /// Reconciles of an organization, finished.
    pub reconciles: Counter,
    /// Failed reconciles (or failed parts of one), by reason.
    pub errors: Family<ReasonLabel, Counter>,
    /// Seconds per reconcile.
    pub duration: Histogram,
    /// Objects whose drift (a change made in the backend behind the
    /// controller's back) was corrected, by kind.
    pub drift_corrections: Family<KindLabel, Counter>,
    /// Resources the controller manages, by kind (set after each reconcile).
    pub objects_managed: Family<KindLabel, Gauge>,
    /// Changes written to backends.
    pub backend_writes: Counter,
    /// 1 while this replica holds the leader lease (or runs without election).
    pub leader: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut root = Registry::with_prefix("orgctl");
        let build_info = Family::<VersionLabel, Gauge>::default();
        build_info
            .get_or_create(&VersionLabel {
                version: env!("CARGO_PKG_VERSION").to_string(),
            })
            .set(1);
        root.register("build_info", "orgctl's version (always 1)", build_info);
        let registry = root.sub_registry_with_prefix("controller");
        let reconciles = Counter::default();
        let errors = Family::<ReasonLabel, Counter>::default();
        let duration = Histogram::new(exponential_buckets(0.005, 2.0, 14));
        let drift_corrections = Family::<KindLabel, Counter>::default();
        let objects_managed = Family::<KindLabel, Gauge>::default();
        let backend_writes = Counter::default();
        let leader = Gauge::default();
        registry.register("reconciles", "Reconciles of an organization", reconciles.clone());
        registry.register("reconcile_errors", "Reconcile failures by reason", errors.clone());
        registry.register(
            "reconcile_duration_seconds",
            "Duration of one organization's reconcile",
            duration.clone(),
        );
        registry.register(
            "drift_corrections",
            "Objects changed in the backend behind the controller's back and corrected",
            drift_corrections.clone(),
        );
        registry.register(
            "objects_managed",
            "Custom resources the controller manages",
            objects_managed.clone(),
        );
        registry.register(
            "backend_writes",
            "Changes written to backends",
            backend_writes.clone(),
        );
        registry.register("leader", "1 while this replica leads", leader.clone());
        // Known labels start at zero: a counter that appears only at its
        // first increment has no rate before it.
        for reason in super::error::ReconcileError::LABELS {
            // Creating the child is the point; the guard is dropped at once.
            let _ = errors.get_or_create(&ReasonLabel {
                reason: reason.to_string(),
            });
        }
        for kind in crate::model::Kind::ALL {
            let kind = KindLabel {
                kind: kind.to_string(),
            };
            let _ = drift_corrections.get_or_create(&kind);
            let _ = objects_managed.get_or_create(&kind);
        }
        Metrics {
            registry: root,
            reconciles,
            errors,
            duration,
            drift_corrections,
            objects_managed,
            backend_writes,
            leader,
        }
    }
}

impl Metrics {
    /// Counts one failure by reason.
    pub fn error(&self, reason: &str) {
        self.errors
            .get_or_create(&ReasonLabel {
                reason: reason.to_string(),
            })
            .inc();
    }

    /// The metrics in the OpenMetrics 1.0 text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// The metrics in the Prometheus text format 0.0.4, which every scraper
    /// reads: [`Metrics::encode`] less what only OpenMetrics has.
    pub fn encode_prometheus(&self) -> String {
        openmetrics_to_prometheus(&self.encode())
    }
}

/// OpenMetrics text as Prometheus text 0.0.4: a counter family is named
/// after its samples (`x_total`, where OpenMetrics names it `x`), and the
/// `# UNIT` and `# EOF` lines go. The metrics here use no other OpenMetrics
/// feature (no exemplars, info or state sets, no created timestamps).
fn openmetrics_to_prometheus(text: &str) -> String {
    let counters: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(&name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

/// What the health endpoints report.
#[derive(Default)]
pub struct Health {
    /// Set once the watch caches hold a full list (or this replica stands by).
    pub ready: AtomicBool,
}

/// State shared with the HTTP handlers.
#[derive(Clone)]
pub struct Endpoints {
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// Readiness.
    pub health: Arc<Health>,
}

/// The router serving `/metrics`, `/healthz` and `/readyz`.
pub fn router(endpoints: Endpoints) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(endpoints)
}

async fn metrics(State(e): State<Endpoints>, headers: HeaderMap) -> impl IntoResponse {
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    if openmetrics {
        (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            e.metrics.encode(),
        )
    } else {
        (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
            e.metrics.encode_prometheus(),
        )
    }
}

async fn readyz(State(e): State<Endpoints>) -> impl IntoResponse {
    if e.health.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ok\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: watch caches are filling\n",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_encode_as_prometheus_text() {
        let m = Metrics::default();
        m.reconciles.inc();
        m.error("BackendUnavailable");
        m.duration.observe(0.2);
        let text = m.encode();
        assert!(text.contains("orgctl_controller_reconciles_total 1"), "{text}");
        assert!(
            text.contains("orgctl_controller_reconcile_errors_total{reason=\"BackendUnavailable\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("orgctl_controller_reconcile_duration_seconds_bucket"),
            "{text}"
        );
    }

    #[test]
    fn build_info_and_counters_exist_before_anything_happens() {
        let text = Metrics::default().encode_prometheus();
        let version = env!("CARGO_PKG_VERSION");
        assert!(
            text.contains(&format!("orgctl_build_info{{version=\"{version}\"}} 1\n")),
            "{text}"
        );
        for line in [
            "orgctl_controller_reconciles_total 0",
            "orgctl_controller_reconcile_errors_total{reason=\"BackendUnavailable\"} 0",
            "orgctl_controller_reconcile_errors_total{reason=\"ValidationFailed\"} 0",
            "orgctl_controller_drift_corrections_total{kind=\"AppAssignment\"} 0",
            "orgctl_controller_objects_managed{kind=\"User\"} 0",
        ] {
            assert!(text.contains(line), "no {line:?} in:\n{text}");
        }
    }

    #[test]
    fn prometheus_text_names_counter_families_after_their_samples() {
        let m = Metrics::default();
        m.reconciles.inc();
        let text = m.encode_prometheus();
        assert!(
            text.contains("# TYPE orgctl_controller_reconciles_total counter\n"),
            "{text}"
        );
        assert!(
            text.contains("# HELP orgctl_controller_reconciles_total Reconciles of an organization.\n"),
            "{text}"
        );
        assert!(text.contains("orgctl_controller_reconciles_total 1\n"), "{text}");
        assert!(text.contains("# TYPE orgctl_build_info gauge\n"), "{text}");
        assert!(!text.contains("# EOF") && !text.contains("# UNIT"), "{text}");
        // Every sample belongs to a family declared before it.
        let mut declared = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                declared.push(rest.split(' ').next().unwrap_or_default().to_string());
            } else if !line.starts_with('#') && !line.is_empty() {
                let name = line.split(['{', ' ']).next().unwrap_or_default();
                assert!(
                    declared.iter().any(|d| name == d
                        || ["_bucket", "_sum", "_count"]
                            .iter()
                            .any(|s| name.strip_suffix(s) == Some(d.as_str()))),
                    "{name} has no family:\n{text}"
                );
            }
        }
    }
}
