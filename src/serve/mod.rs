//! `orgctl serve`: the embedded directory as a REST API (see
//! `openapi.json`). It owns the HTTP surface only: routing, bearer-token
//! auth, request limits and logs, JSON errors, TLS, graceful shutdown. Every
//! read and write goes through the SQLite backend's serving functions
//! (`backend::sqlite::served`); per-object domain rules are the validator's
//! (`validate::check_spec`). It must not plan or decide what changes.
//!
//! Concurrency: reads use a small pool of read-only handles (SQLite WAL lets
//! them run beside the writer); writes go one at a time through a single
//! writer handle, each in its own transaction, on blocking threads so the
//! async workers stay free. On SIGTERM/SIGINT the server stops accepting,
//! lets in-flight requests finish (a started transaction commits or rolls
//! back whole) and exits.

mod auth;
mod body;
mod conn;
mod error;
mod openapi;
mod reads;
mod writes;

use std::net::SocketAddr;
use std::path::PathBuf;
#[cfg(feature = "dev")]
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::Router;

pub use auth::{Scope, TokenError, Tokens};
pub use conn::Limits;
pub use error::ApiError;
pub use openapi::{document as openapi_document, operations as openapi_operations};

use crate::backend::sqlite::SqliteBackend;
use crate::backend::BackendError;

/// How long in-flight requests get to finish after SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// Read handles kept open for reuse.
const READ_POOL: usize = 8;

/// Everything `orgctl serve` needs.
#[derive(Debug)]
pub struct ServeConfig {
    /// The directory file.
    pub db: PathBuf,
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// Accepted bearer tokens.
    pub tokens: Tokens,
    /// PEM certificate chain and private key, for HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Injected faults (tests only: the `dev` feature).
    #[cfg(feature = "dev")]
    pub faults: Vec<Fault>,
    /// Timeouts and the connection limit.
    pub limits: Limits,
}

/// A test-only fault: every `every`-th API request is answered `status`
/// (with `Retry-After: retry_after`) before it is looked at. Only with the
/// `dev` feature: a shipped server cannot be told to fail.
#[cfg(feature = "dev")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// 429 or 503 (any 4xx/5xx is accepted).
    pub status: u16,
    /// Period in requests.
    pub every: u64,
    /// Seconds to send in `Retry-After`.
    pub retry_after: u64,
}

#[cfg(feature = "dev")]
impl std::str::FromStr for Fault {
    type Err = String;
    /// `STATUS:EVERY[:RETRY_AFTER]`, e.g. `503:4` or `429:7:1`.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("invalid fault {s:?}: expected STATUS:EVERY[:RETRY_AFTER_SECONDS]");
        let mut parts = s.split(':');
        let status: u16 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let every: u64 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let retry_after: u64 = match parts.next() {
            Some(p) => p.parse().map_err(|_| bad())?,
            None => 0,
        };
        if parts.next().is_some() || every == 0 || !(400..600).contains(&status) {
            return Err(bad());
        }
        Ok(Fault {
            status,
            every,
            retry_after,
        })
    }
}

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The directory could not be opened.
    #[error("failed to open the directory")]
    Open(#[from] BackendError),
    /// The address could not be bound.
    #[error("failed to listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The TLS certificate or key could not be loaded.
    #[error("failed to load the TLS certificate {cert} and key {key}")]
    Tls {
        /// Certificate file.
        cert: String,
        /// Key file.
        key: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The async runtime could not start, or the server failed.
    #[error("the server failed")]
    Runtime(#[source] std::io::Error),
}

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// What the handlers share.
pub struct Inner {
    path: String,
    readers: Mutex<Vec<SqliteBackend>>,
    writer: Mutex<SqliteBackend>,
    tokens: Tokens,
    #[cfg(feature = "dev")]
    faults: Vec<Fault>,
    #[cfg(feature = "dev")]
    requests: AtomicU64,
    body_timeout: Duration,
    /// Largest request body read, in bytes; advertised on snapshot pages.
    max_body: usize,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Opens the directory at `path` (creating it) for serving.
    pub fn open(
        path: &str,
        tokens: Tokens,
        #[cfg(feature = "dev")] faults: Vec<Fault>,
        body_timeout: Duration,
        max_body: usize,
    ) -> Result<AppState, BackendError> {
        let writer = SqliteBackend::open_for_serving(path)?;
        Ok(AppState(Arc::new(Inner {
            path: path.to_string(),
            readers: Mutex::new(Vec::new()),
            writer: Mutex::new(writer),
            tokens,
            #[cfg(feature = "dev")]
            faults,
            #[cfg(feature = "dev")]
            requests: AtomicU64::new(0),
            body_timeout,
            max_body,
        })))
    }

    /// Runs `f` on a pooled read handle on a blocking thread.
    pub(crate) async fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(&SqliteBackend) -> Result<R, ApiError> + Send + 'static,
    ) -> Result<R, ApiError> {
        let state = self.clone();
        tokio::task::spawn_blocking(move || {
            let handle = state.readers.lock().ok().and_then(|mut pool| pool.pop());
            let handle = match handle {
                Some(h) => h,
                None => SqliteBackend::open_for_serving(&state.path).map_err(ApiError::backend)?,
            };
            let result = f(&handle);
            if let Ok(mut pool) = state.readers.lock() {
                if pool.len() < READ_POOL {
                    pool.push(handle);
                }
            }
            result
        })
        .await
        .map_err(|_| ApiError::internal("read task"))?
    }

    /// Runs `f` on the one writer handle on a blocking thread.
    pub(crate) async fn write<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut SqliteBackend) -> Result<R, ApiError> + Send + 'static,
    ) -> Result<R, ApiError> {
        let state = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut writer = state
                .writer
                .lock()
                .map_err(|_| ApiError::internal("writer lock"))?;
            f(&mut writer)
        })
        .await
        .map_err(|_| ApiError::internal("write task"))?
    }
}

/// The whole router: unauthenticated probes and document, and `/v1`
/// behind the token check.
pub fn router(state: AppState) -> Router {
    let v1 = Router::new()
        .route("/v1/capabilities", get(reads::capabilities))
        .route("/v1/whoami", get(reads::whoami))
        .route("/v1/orgs", get(reads::organizations))
        .route("/v1/orgs/{org}", get(reads::organization))
        .route("/v1/orgs/{org}/snapshot", get(reads::snapshot))
        .route("/v1/orgs/{org}/secret-digests", post(reads::secret_digests))
        .route(
            "/v1/orgs/{org}/grants",
            get(reads::grants).put(writes::put_grants_batch),
        )
        .route("/v1/orgs/{org}/grants/{user}", put(writes::put_grants))
        .route(
            "/v1/orgs/{org}/manual-grants/{user}/{app}",
            put(writes::put_manual_grant).delete(writes::delete_manual_grant),
        )
        .route("/v1/orgs/{org}/objects/{resource}", get(reads::list))
        .route(
            "/v1/orgs/{org}/objects/{resource}/{name}",
            get(reads::object)
                .put(writes::put_object)
                .delete(writes::delete_object),
        )
        .route("/v1/history", get(reads::history))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::require_token));
    #[cfg(feature = "dev")]
    let v1 = v1.layer(middleware::from_fn_with_state(state.clone(), inject_faults));
    Router::new()
        .route("/healthz", get(reads::healthz))
        .route("/readyz", get(reads::readyz))
        .route("/openapi.json", get(reads::openapi))
        .merge(v1)
        .fallback(no_route)
        .method_not_allowed_fallback(no_method)
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

async fn no_route() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_route",
        "no such endpoint; see /openapi.json",
    )
}

async fn no_method() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method; see /openapi.json",
    )
}

/// One structured log line per request: method, path, status, duration.
/// Headers and bodies are never logged (they may hold tokens and secrets).
async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let start = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let micros = start.elapsed().as_micros() as u64;
    if status >= 500 {
        tracing::warn!(%method, path, status, micros, "request");
    } else {
        tracing::info!(%method, path, status, micros, "request");
    }
    response
}

/// Test-only faults (`--inject-fault`): answered before the request is read.
#[cfg(feature = "dev")]
async fn inject_faults(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    use axum::response::IntoResponse;
    if !state.faults.is_empty() {
        let n = state.requests.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(f) = state.faults.iter().find(|f| n % f.every == 0) {
            let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let mut e = ApiError::new(status, "injected_fault", "fault injected for testing");
            e.retry_after = Some(f.retry_after);
            return e.into_response();
        }
    }
    next.run(request).await
}

/// Runs the server until SIGTERM or SIGINT. `on_listening` is called with
/// the bound address (useful with port 0) before the first request.
pub fn run(config: ServeConfig, on_listening: impl FnOnce(SocketAddr, bool)) -> Result<(), ServeError> {
    let ServeConfig {
        db,
        listen,
        tokens,
        tls,
        #[cfg(feature = "dev")]
        faults,
        limits,
    } = config;
    let state = AppState::open(
        &db.to_string_lossy(),
        tokens,
        #[cfg(feature = "dev")]
        faults,
        limits.body_timeout,
        limits.max_body,
    )?;
    let listener =
        std::net::TcpListener::bind(listen).map_err(|source| ServeError::Bind { addr: listen, source })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| ServeError::Bind { addr: listen, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| ServeError::Bind { addr: listen, source })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("orgctl-serve")
        .build()
        .map_err(ServeError::Runtime)?;
    let app = router(state);
    runtime.block_on(async move {
        let handle = axum_server::Handle::new();
        let shutdown = handle.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutting down: finishing in-flight requests");
            shutdown.graceful_shutdown(Some(SHUTDOWN_GRACE));
        });
        match tls {
            Some((cert, key)) => {
                let _ = rustls::crypto::ring::default_provider().install_default();
                let config = axum_server::tls_rustls::RustlsConfig::from_pem_file(&cert, &key)
                    .await
                    .map_err(|source| ServeError::Tls {
                        cert: cert.display().to_string(),
                        key: key.display().to_string(),
                        source,
                    })?;
                on_listening(bound, true);
                let mut server = axum_server::from_tcp_rustls(listener, config)
                    .map_err(ServeError::Runtime)?
                    .http1_only()
                    .map(|tls| conn::Guard::new(tls, &limits));
                timeouts(server.http_builder(), &limits);
                server
                    .handle(handle)
                    .serve(app.into_make_service_with_connect_info::<SocketAddr>())
                    .await
                    .map_err(ServeError::Runtime)
            }
            None => {
                on_listening(bound, false);
                let mut server = axum_server::from_tcp(listener)
                    .map_err(ServeError::Runtime)?
                    .http1_only()
                    .acceptor(conn::Guard::new(axum_server::accept::DefaultAcceptor, &limits));
                timeouts(server.http_builder(), &limits);
                server
                    .handle(handle)
                    .serve(app.into_make_service_with_connect_info::<SocketAddr>())
                    .await
                    .map_err(ServeError::Runtime)
            }
        }
    })?;
    // Dropping the runtime waits for blocking tasks: a write in progress commits.
    drop(runtime);
    tracing::info!("stopped");
    Ok(())
}

/// hyper's header timeout: it runs from a connection's start and from the
/// end of each answer until a whole request head arrived, so it closes slow
/// senders and idle kept-alive connections alike. The server speaks HTTP/1.1
/// only: the HTTP/2 sniffing of an "auto" connection waits for a first byte
/// outside any timeout.
fn timeouts(
    builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    limits: &Limits,
) {
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
