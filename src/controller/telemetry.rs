//! What the controller tells the outside: Prometheus metrics (text
//! exposition) and the `/metrics`, `/healthz` and `/readyz` endpoints.
//!
//! Metrics: `orgctl_controller_reconciles_total`,
//! `orgctl_controller_reconcile_errors_total{reason}`,
//! `orgctl_controller_reconcile_duration_seconds` (histogram),
//! `orgctl_controller_drift_corrections_total{kind}`,
//! `orgctl_controller_objects_managed{kind}`,
//! `orgctl_controller_backend_writes_total`, `orgctl_controller_leader`.
//!
//! Must not: label a metric by object name (unbounded cardinality) or
//! expose anything of a spec.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
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
        let mut registry = Registry::with_prefix("orgctl_controller");
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
        Metrics {
            registry,
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

    /// The metrics in Prometheus text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
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

async fn metrics(State(e): State<Endpoints>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        e.metrics.encode(),
    )
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
}
