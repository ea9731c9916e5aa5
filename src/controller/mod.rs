//! `orgctl controller`: keeps live identity backends equal to the orgctl
//! custom resources in a cluster. It watches every kind, groups resources by
//! organization ([`objects::OrgKey`]: namespace and organization name), and
//! reconciles one organization at a time through exactly the engine
//! `orgctl apply` uses ([`reconcile`]); it writes each resource's outcome to
//! its status, emits Events, honours deletion policies with a finalizer,
//! re-plans every organization on a resync timer (correcting drift), backs
//! off per organization after errors, and elects a leader through a Lease.
//!
//! Layout: [`cache`] (the watch caches and their triggers), [`objects`]
//! (compact resources → engine sources), [`reconcile`] (one
//! organization; its blocking part, validate + plan + apply, in
//! `engine_job`), [`status`] (conditions and patches), [`secrets`] (Secrets
//! → tokens and `secretKeyRef` values), [`scheduler`] (debounce, one at a
//! time, requeue), [`leader`] (Lease election), [`telemetry`] (metrics and
//! health endpoints).
//!
//! Must not: plan or apply by any path but [`crate::engine`] and
//! [`crate::apply::execute`]; put a token or secret value in status, an
//! Event, a metric or a log line.

pub mod cache;
mod engine_job;
pub mod error;
pub mod leader;
pub mod objects;
pub mod reconcile;
pub mod scheduler;
pub mod secrets;
pub mod status;
pub mod telemetry;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DynamicObject, PartialObjectMeta};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::watcher;
use kube::runtime::WatchStreamExt;
use kube::Client;
use tokio::sync::mpsc;

use crate::backend::{self, Backend, BackendError};
use crate::crd::ObjectStatus;
use crate::model::{Kind, SecretValue};
use objects::OrgKey;
use telemetry::{Endpoints, Health, KindLabel, Metrics};

/// Why the controller stopped.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// The Kubernetes client could not be configured.
    #[error("failed to configure the Kubernetes client")]
    Client(#[source] kube::Error),
    /// The metrics and health endpoint could not listen.
    #[error("failed to listen on {address}")]
    Listen {
        /// The address.
        address: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Leadership was lost (another replica took the Lease).
    #[error("lost the leader Lease {0}; stopping so a restart can stand by")]
    LostLease(String),
    /// The async runtime could not start.
    #[error("failed to start the async runtime")]
    Runtime(#[source] std::io::Error),
}

/// Opens the backend an organization lives in. The controller opens one per
/// reconcile, on a blocking thread.
pub trait Connect: Send + Sync {
    /// Opens `address`, signing in with `login` when the backend takes it.
    fn open(&self, address: &str, login: &Login) -> Result<Box<dyn Backend>, BackendError>;
}

/// What a reconcile signs in to its backend with (from the Organization's
/// `spec.connection` and its Secret, or the controller's defaults).
#[derive(Debug, Clone, Default)]
pub struct Login {
    /// The bearer token of an http(s) backend, or the client secret of a
    /// Keycloak service-account client.
    pub token: Option<SecretValue>,
    /// The Keycloak client whose secret `token` is.
    pub client_id: Option<String>,
}

/// Opens backends with [`backend::open_with`]: the http(s) settings from
/// the flags, the token of the organization's connection (or the default).
#[derive(Debug, Default, Clone)]
pub struct OpenBackend {
    /// Settings of http(s) backends; the token is set per call.
    pub http: backend::http::HttpOptions,
}

impl Connect for OpenBackend {
    fn open(&self, address: &str, login: &Login) -> Result<Box<dyn Backend>, BackendError> {
        if address.starts_with("keycloak+") {
            // The connection's client and Secret, else the controller's environment.
            let credentials = match (&login.client_id, &login.token) {
                (Some(id), Some(secret)) => backend::keycloak::Credentials::Client {
                    realm: std::env::var("ORGCTL_KEYCLOAK_AUTH_REALM").unwrap_or_else(|_| "master".into()),
                    id: id.clone(),
                    secret: secret.clone(),
                },
                _ => backend::keycloak::Credentials::from_env()?,
            };
            return Ok(Box::new(backend::keycloak::KeycloakBackend::open_with(
                address,
                credentials,
            )?));
        }
        if address.starts_with("kanidm+") {
            // The connection's Secret holds the service account's API token,
            // else the controller's environment.
            let settings = match &login.token {
                Some(token) => backend::kanidm::Settings::with_token(token.clone())?,
                None => backend::kanidm::Settings::from_env()?,
            };
            return Ok(Box::new(backend::kanidm::KanidmBackend::open_with(
                address, settings,
            )?));
        }
        // `sqlite:` takes no token; http(s) backends get it in their options.
        let options = backend::http::HttpOptions {
            token: login.token.clone(),
            ..self.http.clone()
        };
        backend::open_with(address, &options)
    }
}

/// Settings of one controller run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The default backend (`--backend`), for organizations without `spec.connection.backend`.
    pub backend: String,
    /// The default backend's bearer token file (`--token-file`), read at each reconcile.
    pub token_file: Option<PathBuf>,
    /// Settings of http(s) backends (parallelism, CA file, timeout).
    pub http: backend::http::HttpOptions,
    /// Re-plan every organization this often (`--resync`).
    pub resync: Duration,
    /// Quiet time after a change before reconciling.
    pub debounce: Duration,
    /// First delay after a failed reconcile; doubled per failure in a row.
    pub backoff_base: Duration,
    /// Longest delay after failures.
    pub backoff_max: Duration,
    /// Organizations reconciled at once.
    pub concurrency: usize,
    /// Reconcile only these namespaces (`--namespace`, repeatable); empty:
    /// every namespace. One namespace is watched alone; several are watched
    /// cluster-wide and the others' resources are never reconciled.
    pub namespaces: Vec<String>,
    /// Leader election through a Lease, when set.
    pub leader: Option<leader::LeaseSettings>,
    /// Name of this replica in Events and the Lease (`POD_NAME` or host name).
    pub identity: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            backend: backend::DEFAULT_ADDRESS.to_string(),
            token_file: None,
            http: backend::http::HttpOptions::default(),
            resync: Duration::from_secs(300),
            debounce: Duration::from_millis(500),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            concurrency: 4,
            namespaces: Vec::new(),
            leader: None,
            identity: "orgctl-controller".to_string(),
        }
    }
}

/// The watch caches of every kind.
#[derive(Clone)]
pub struct Stores {
    by_kind: BTreeMap<Kind, cache::Cache>,
    /// Status writes the caches do not show yet.
    written: Arc<cache::Written>,
}

impl Stores {
    /// The resources of one organization, every kind, in dependency order
    /// (by name within a kind).
    pub fn members(&self, key: &OrgKey) -> Vec<Arc<objects::Member>> {
        let mut out = Vec::new();
        for cache in self.by_kind.values() {
            let mut of = cache.of(key);
            of.sort_by(|a, b| a.name.cmp(&b.name));
            out.extend(of);
        }
        out
    }

    /// How many resources of each kind the caches hold.
    pub fn counts(&self) -> Vec<(Kind, usize)> {
        self.by_kind.iter().map(|(k, s)| (*k, s.len())).collect()
    }
}

/// What every reconcile shares.
pub struct Context {
    /// The Kubernetes client.
    pub client: Client,
    /// The watch caches.
    pub stores: Stores,
    /// Settings.
    pub settings: Settings,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Publishes Events.
    pub recorder: Recorder,
    /// Opens backends.
    pub connect: Arc<dyn Connect>,
    /// Failures in a row per organization (for backoff).
    failures: Mutex<HashMap<OrgKey, u32>>,
    /// Which organizations read which Secrets (the Secret watch triggers them).
    secret_users: Arc<secrets::SecretUsers>,
}

impl Context {
    /// The delay before retrying `key` after one more failure.
    fn backoff(&self, key: &OrgKey) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let n = failures.entry(key.clone()).or_insert(0);
        *n = n.saturating_add(1);
        let factor = 2u32.saturating_pow(n.saturating_sub(1).min(16));
        self.settings
            .backoff_base
            .saturating_mul(factor)
            .min(self.settings.backoff_max)
    }

    /// Forgets the failures of `key` after a clean reconcile.
    fn succeeded(&self, key: &OrgKey) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    /// The status to start from: the last one written, else the cached one.
    fn last_status(&self, member: &objects::Member) -> ObjectStatus {
        self.stores.written.status_of(member)
    }

    /// Records a status written, with the resource version it made.
    fn remember_status(
        &self,
        member: &objects::Member,
        resource_version: Option<String>,
        status: &ObjectStatus,
    ) {
        if let Some(cache) = self.stores.by_kind.get(&member.kind) {
            cache.remember_status(member, resource_version, status);
        }
    }
}

/// A running controller: its metrics and readiness, for tests and `main`.
pub struct Handle {
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// Readiness.
    pub health: Arc<Health>,
    stop: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<Result<(), ControllerError>>,
}

impl Handle {
    /// Stops the controller: it stops reconciling (what a reconcile in
    /// progress wrote stays; the next leader re-plans it), releases the
    /// leader Lease, and returns (waits at most `grace`, then aborts).
    pub async fn shutdown(self, grace: Duration) {
        self.stop.notify_one();
        let abort = self.task.abort_handle();
        if tokio::time::timeout(grace, self.task).await.is_err() {
            abort.abort();
        }
    }

    /// Waits for the controller to stop (it runs until an error or abort).
    pub async fn join(self) -> Result<(), ControllerError> {
        match self.task.await {
            Ok(r) => r,
            Err(_) => Ok(()),
        }
    }

    /// Stops the controller.
    pub fn abort(&self) {
        self.task.abort();
    }
}

/// Starts the controller on `client` (in the current tokio runtime).
pub fn start(client: Client, settings: Settings, connect: Arc<dyn Connect>) -> Handle {
    let metrics = Arc::new(Metrics::default());
    let health = Arc::new(Health::default());
    let stop = Arc::new(tokio::sync::Notify::new());
    let task = tokio::spawn(run(
        client,
        settings,
        connect,
        metrics.clone(),
        health.clone(),
        stop.clone(),
    ));
    Handle {
        metrics,
        health,
        stop,
        task,
    }
}

/// Runs the controller until it fails: waits for leadership when election is
/// on, fills the watch caches, then reconciles.
async fn run(
    client: Client,
    settings: Settings,
    connect: Arc<dyn Connect>,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    stop: Arc<tokio::sync::Notify>,
) -> Result<(), ControllerError> {
    let lease = match &settings.leader {
        Some(l) => {
            // A replica standing by is healthy and ready (it serves its
            // endpoints); it only does not reconcile.
            health.ready.store(true, Ordering::Relaxed);
            let held = leader::acquire(&client, l, &settings.identity).await?;
            health.ready.store(false, Ordering::Relaxed);
            Some(held)
        }
        None => None,
    };
    metrics.leader.set(1);
    let (tx, rx) = mpsc::unbounded_channel();
    let mut by_kind = BTreeMap::new();
    let written = Arc::new(cache::Written::default());
    let mut watches = Vec::new();
    for kind in Kind::ALL {
        let ar = objects::api_resource(kind);
        let api: Api<DynamicObject> = match settings.namespaces.as_slice() {
            [ns] => Api::namespaced_with(client.clone(), ns, &ar),
            _ => Api::all_with(client.clone(), &ar),
        };
        let cache = cache::Cache::new(kind, written.clone());
        by_kind.insert(kind, cache.clone());
        let stream = watcher(api, watcher::Config::default()).default_backoff();
        let only = Arc::new(settings.namespaces.clone());
        watches.push(tokio::spawn(forward_triggers(
            kind,
            stream,
            cache,
            tx.clone(),
            only,
        )));
    }
    let secret_users = Arc::new(secrets::SecretUsers::default());
    for api in secret_apis(&client, &settings.namespaces) {
        let stream = watcher(api, watcher::Config::default()).default_backoff();
        watches.push(tokio::spawn(forward_secret_triggers(
            stream,
            secret_users.clone(),
            tx.clone(),
        )));
    }
    drop(tx);
    let stores = Stores { by_kind, written };
    for cache in stores.by_kind.values() {
        // Reconciling a half-listed organization would report references
        // to objects not listed yet as invalid.
        cache.wait_until_ready().await;
    }
    health.ready.store(true, Ordering::Relaxed);
    let reporter = Reporter {
        controller: "orgctl-controller".into(),
        instance: Some(settings.identity.clone()),
    };
    let ctx = Arc::new(Context {
        recorder: Recorder::new(client.clone(), reporter),
        client: client.clone(),
        stores,
        metrics,
        connect,
        failures: Mutex::default(),
        secret_users,
        settings,
    });
    let pacing = scheduler::Pacing {
        debounce: ctx.settings.debounce,
        concurrency: ctx.settings.concurrency,
        retry_after_panic: ctx.settings.backoff_max.min(ctx.settings.resync),
    };
    let reconciles = {
        let ctx = ctx.clone();
        scheduler::run(rx, pacing, move |key| {
            let ctx = ctx.clone();
            async move { reconcile::run(&ctx, &key).await }
        })
    };
    let result = match lease {
        Some(held) => {
            let result = tokio::select! {
                _ = reconciles => Ok(()),
                lost = leader::keep(&held) => Err(lost),
                _ = stop.notified() => Ok(()),
            };
            if result.is_ok() {
                leader::release(&held).await;
            }
            result
        }
        None => {
            tokio::select! {
                _ = reconciles => {}
                _ = stop.notified() => {}
            }
            Ok(())
        }
    };
    for w in watches {
        w.abort();
    }
    ctx.metrics.leader.set(0);
    result
}

/// Feeds one kind's watch events into its cache and sends the
/// organizations they trigger.
async fn forward_triggers<S>(
    kind: Kind,
    stream: S,
    cache: cache::Cache,
    sender: mpsc::UnboundedSender<OrgKey>,
    only: Arc<Vec<String>>,
) where
    S: futures::Stream<Item = Result<watcher::Event<DynamicObject>, watcher::Error>>,
{
    // Organizations of namespaces not reconciled never get a trigger.
    let tx = Trigger { sender, only };
    let mut stream = std::pin::pin!(stream);
    while let Some(event) = stream.next().await {
        match event {
            Ok(e) => {
                for key in cache.apply(e) {
                    let _ = tx.send(key);
                }
            }
            Err(e) => tracing::warn!(kind = %kind, error = %e, "watch failed; retrying"),
        }
    }
}

/// The Secret APIs to watch: every namespace, or each one reconciled
/// (RBAC then grants Secrets per namespace only).
fn secret_apis(client: &Client, namespaces: &[String]) -> Vec<Api<PartialObjectMeta<Secret>>> {
    if namespaces.is_empty() {
        vec![Api::all(client.clone())]
    } else {
        namespaces
            .iter()
            .map(|ns| Api::namespaced(client.clone(), ns))
            .collect()
    }
}

/// Triggers the organizations that read a Secret when it appears, changes
/// or goes. Only metadata is watched: Secret values are read at reconcile
/// time and never cached.
async fn forward_secret_triggers<S>(
    stream: S,
    users: Arc<secrets::SecretUsers>,
    sender: mpsc::UnboundedSender<OrgKey>,
) where
    S: futures::Stream<Item = Result<watcher::Event<PartialObjectMeta<Secret>>, watcher::Error>>,
{
    let mut stream = std::pin::pin!(stream);
    while let Some(event) = stream.next().await {
        let meta = match event {
            Ok(watcher::Event::Apply(m) | watcher::Event::InitApply(m) | watcher::Event::Delete(m)) => m,
            Ok(_) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "Secret watch failed; retrying");
                continue;
            }
        };
        let (Some(ns), Some(name)) = (meta.metadata.namespace.as_deref(), meta.metadata.name.as_deref())
        else {
            continue;
        };
        for org in users.of(ns, name) {
            let _ = sender.send(org);
        }
    }
}

/// Sends reconcile triggers for the namespaces the controller reconciles.
struct Trigger {
    sender: mpsc::UnboundedSender<OrgKey>,
    only: Arc<Vec<String>>,
}

impl Trigger {
    fn send(&self, key: OrgKey) -> Result<(), mpsc::error::SendError<OrgKey>> {
        if self.only.is_empty() || self.only.contains(&key.namespace) {
            self.sender.send(key)
        } else {
            Ok(())
        }
    }
}

/// Updates the managed-objects gauge from the caches.
fn count_objects(ctx: &Context) {
    for (kind, n) in ctx.stores.counts() {
        ctx.metrics
            .objects_managed
            .get_or_create(&KindLabel {
                kind: kind.as_str().to_string(),
            })
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }
}

/// Serves `/metrics`, `/healthz` and `/readyz` on `address` until the task is dropped.
pub async fn serve_endpoints(address: &str, endpoints: Endpoints) -> Result<(), ControllerError> {
    let listener =
        tokio::net::TcpListener::bind(address)
            .await
            .map_err(|source| ControllerError::Listen {
                address: address.to_string(),
                source,
            })?;
    axum::serve(listener, telemetry::router(endpoints))
        .await
        .map_err(|source| ControllerError::Listen {
            address: address.to_string(),
            source,
        })
}

/// Runs `orgctl controller` with a client from the environment (in-cluster
/// or kubeconfig) until it fails or is interrupted.
pub fn run_blocking(settings: Settings, listen: String) -> Result<(), ControllerError> {
    // The `orgctl` binary set this before its first allocation; this is for
    // library callers.
    crate::memory::release_promptly();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(ControllerError::Runtime)?;
    runtime.block_on(async move {
        let client = Client::try_default().await.map_err(ControllerError::Client)?;
        let connect = Arc::new(OpenBackend {
            http: settings.http.clone(),
        });
        let handle = start(client, settings, connect);
        let endpoints = Endpoints {
            metrics: handle.metrics.clone(),
            health: handle.health.clone(),
        };
        let server = serve_endpoints(&listen, endpoints);
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(ControllerError::Runtime)?;
        let stop = handle.stop.clone();
        let mut running = std::pin::pin!(handle.join());
        // Leaving the block drops the runtime, which stops every task.
        tokio::select! {
            r = server => r,
            r = &mut running => r,
            _ = async {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            } => {
                // Release the Lease so a standby takes over at once,
                // within the Pod's termination grace period.
                stop.notify_one();
                let _ = tokio::time::timeout(Duration::from_secs(20), running).await;
                Ok(())
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ns: &str) -> OrgKey {
        OrgKey {
            namespace: ns.to_string(),
            organization: "acme".to_string(),
        }
    }

    #[test]
    fn triggers_reach_only_the_namespaces_reconciled() {
        let (sender, mut rx) = mpsc::unbounded_channel();
        let some = Trigger {
            sender: sender.clone(),
            only: Arc::new(vec!["team-a".into(), "team-b".into()]),
        };
        for ns in ["team-a", "other", "team-b"] {
            some.send(key(ns)).expect("send");
        }
        let every = Trigger {
            sender,
            only: Arc::new(Vec::new()),
        };
        every.send(key("other")).expect("send");
        let mut got = Vec::new();
        while let Ok(k) = rx.try_recv() {
            got.push(k.namespace);
        }
        assert_eq!(got, ["team-a", "team-b", "other"]);
    }
}
