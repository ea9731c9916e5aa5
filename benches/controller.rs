//! Controller benchmark: one organization of 10,000 custom resources on the
//! in-memory Kubernetes API (tests/support/fake_api.rs), served over
//! loopback HTTP by this process, with the controller in a child process
//! (so its peak RSS is its own) reconciling into a SQLite backend.
//!
//! Reports: time to the first full reconcile (initial list of every kind,
//! finalizer-free Orphan default, plan, apply of every object, a status per
//! resource), then the steady-state resync with no drift: calls to the
//! backend (`Backend` trait methods; over http each snapshot is one
//! paginated list per kind) and writes to the backend and to the API
//! server per resync, its duration, and the controller's peak RSS.
//!
//! `cargo bench --bench controller` (or `-- 20000` for another size).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

// Tuned before the first allocation, as in `orgctl` (src/main.rs).
#[ctor::ctor(unsafe)]
fn tune_allocator() {
    orgctl::memory::release_promptly();
}

#[path = "../tests/support/fake_api.rs"]
mod fake_api;

use std::io::{BufRead, BufReader, Write as _};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_api::{FakeApi, Res};
use orgctl::backend::{
    self, AuditEntry, Backend, BackendError, Capabilities, LiveOrg, WriteOutcome, WriteRequest,
};
use orgctl::controller::{self, Connect, Login, Settings};
use orgctl::model::{Name, SecretValue};
use orgctl::synth::{generate, SynthParams};

const NAMESPACE: &str = "bench";

fn peak_rss_mib() -> f64 {
    rss_mib("VmHWM:")
}

fn rss_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Backend calls, counted.
#[derive(Default)]
struct Calls {
    reads: AtomicUsize,
    writes: AtomicUsize,
    changes: AtomicUsize,
}

struct Counting {
    inner: Box<dyn Backend>,
    calls: Arc<Calls>,
}

impl Backend for Counting {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    fn organizations(&self) -> Result<Vec<Name>, BackendError> {
        self.calls.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.organizations()
    }
    fn snapshot(&self, organization: &Name) -> Result<LiveOrg, BackendError> {
        self.calls.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.snapshot(organization)
    }
    fn write(
        &mut self,
        request: WriteRequest,
        progress: &mut dyn FnMut(usize),
    ) -> Result<WriteOutcome, BackendError> {
        self.calls.writes.fetch_add(1, Ordering::Relaxed);
        self.calls
            .changes
            .fetch_add(request.writes.len(), Ordering::Relaxed);
        self.inner.write(request, progress)
    }
    fn history(&self, organization: Option<&Name>, limit: usize) -> Result<Vec<AuditEntry>, BackendError> {
        self.calls.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.history(organization, limit)
    }
    fn secret_digests(
        &self,
        organization: &Name,
        values: &[&SecretValue],
    ) -> Result<Vec<String>, BackendError> {
        self.calls.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.secret_digests(organization, values)
    }
}

struct CountingConnect(Arc<Calls>);

impl Connect for CountingConnect {
    fn open(&self, address: &str, _login: &Login) -> Result<Box<dyn Backend>, BackendError> {
        Ok(Box::new(Counting {
            inner: backend::open(address)?,
            calls: self.0.clone(),
        }))
    }
}

fn histogram_sum(metrics: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("orgctl_controller_reconcile_duration_seconds_sum "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// The controller, in the child process.
fn child(url: &str, db: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let config = kube::Config::new(url.parse().expect("url"));
        let client = kube::Client::try_from(config).expect("client");
        let calls = Arc::new(Calls::default());
        let settings = Settings {
            backend: format!("sqlite:{db}"),
            resync: Duration::from_secs(3),
            debounce: Duration::from_millis(100),
            ..Settings::default()
        };
        let started = Instant::now();
        let handle = controller::start(client, settings, Arc::new(CountingConnect(calls.clone())));
        while !handle.health.ready.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        println!(
            "CACHED watch_caches_filled_ms={} rss_mib={:.0} anon={:.1} file={:.1}",
            started.elapsed().as_millis(),
            rss_mib("VmRSS:"), rss_mib("RssAnon:"), rss_mib("RssFile:")
        );
        std::io::stdout().flush().ok();
        while handle.metrics.reconciles.get() < 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let first = started.elapsed();
        println!(
            "FIRST first_reconcile_ms={} backend_reads={} backend_write_requests={} backend_changes={} peak_rss_mib={:.0}",
            first.as_millis(),
            calls.reads.load(Ordering::Relaxed),
            calls.writes.load(Ordering::Relaxed),
            calls.changes.load(Ordering::Relaxed),
            peak_rss_mib()
        );
        std::io::stdout().flush().ok();
        // Let the trigger of the finalizer-free first round settle, then
        // measure resyncs.
        let base = handle.metrics.reconciles.get();
        while handle.metrics.reconciles.get() < base + 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let reads = calls.reads.load(Ordering::Relaxed);
        let writes = calls.writes.load(Ordering::Relaxed);
        let sum = histogram_sum(&handle.metrics.encode());
        let n0 = handle.metrics.reconciles.get();
        println!("MARK");
        std::io::stdout().flush().ok();
        let resyncs = 3;
        while handle.metrics.reconciles.get() < n0 + resyncs {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let n = handle.metrics.reconciles.get() - n0;
        let per = |x: usize| x as f64 / n as f64;
        let seconds = (histogram_sum(&handle.metrics.encode()) - sum) / n as f64;
        println!(
            "RESYNC resyncs={n} backend_reads_per_resync={:.1} backend_write_requests_per_resync={:.1} resync_ms={:.0} peak_rss_mib={:.0}",
            per(calls.reads.load(Ordering::Relaxed) - reads),
            per(calls.writes.load(Ordering::Relaxed) - writes),
            seconds * 1000.0,
            peak_rss_mib()
        );
        // Idle between reconciles: half a resync period after the last.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        println!("IDLE rss_mib={:.0}", rss_mib("VmRSS:"));
        std::io::stdout().flush().ok();
        handle.abort();
    });
}

/// The API server and the measurement, in the parent process.
fn parent(target: usize) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        // A synthetic organization of about `target` objects.
        let fixed = 1 + 500 + 100 + 50 + 20 + 20 + 10 + 1;
        let params = SynthParams {
            users: target.saturating_sub(fixed).max(1),
            rules: 50,
            ..SynthParams::benchmark(1)
        };
        let sources = generate(&params);
        let (loaded, diags) = orgctl::load::load(&sources);
        assert!(diags.is_empty(), "{diags:?}");
        let api = FakeApi::new();
        for d in &loaded.documents {
            let mut doc = d.object.to_document();
            doc["metadata"]["namespace"] = serde_json::json!(NAMESPACE);
            let plural = controller::objects::plural(d.object.spec.kind());
            api.create(&Res::orgctl(&plural), NAMESPACE, doc);
        }
        let objects = loaded.documents.len();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let served = api.clone();
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let api = served.clone();
            async move { api.handle(req).await }
        });
        tokio::spawn(async move { axum::serve(listener, app).await });

        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("directory.db").display().to_string();
        println!("controller: {objects} objects in one organization");
        // First run: everything is created. Second run: a restarted
        // controller over the same resources and backend (a no-op plan).
        for run in ["first run (apply from empty)", "restart (no-op)"] {
            println!("{run}:");
            measure(&api, &url, &db).await;
        }
    });
}

/// Runs the controller in a child process and prints what it reports.
async fn measure(api: &FakeApi, url: &str, db: &str) {
    let exe = std::env::current_exe().expect("exe");
    // The allocator settings the Helm chart's Deployment gives the controller.
    let mut child = Command::new(exe)
        .args(["child", url, db])
        .env("MIMALLOC_ARENA_EAGER_COMMIT", "0")
        .env("MIMALLOC_PURGE_DELAY", "0")
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the controller");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let writes_before = api.writes();
    let mut writes_at_mark = 0;
    while let Some(line) = rx.recv().await {
        if line == "MARK" {
            writes_at_mark = api.writes();
            continue;
        }
        println!("  {line}");
        if line.starts_with("FIRST") {
            let all: Vec<serde_json::Value> = orgctl::model::Kind::ALL
                .iter()
                .flat_map(|k| api.all(&Res::orgctl(&controller::objects::plural(*k))))
                .collect();
            let ready = |o: &serde_json::Value| {
                o["status"]["conditions"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
            };
            let not_ready: Vec<String> = all
                .iter()
                .filter(|o| !ready(o))
                .take(3)
                .map(|o| {
                    format!(
                        "{} {}: {}",
                        o["kind"], o["metadata"]["name"], o["status"]["conditions"]
                    )
                })
                .collect();
            println!(
                "    resources Ready: {} of {}; API server writes so far: {}{}",
                all.iter().filter(|o| ready(o)).count(),
                all.len(),
                api.writes() - writes_before,
                if not_ready.is_empty() {
                    String::new()
                } else {
                    format!("; not ready: {not_ready:?}")
                }
            );
        }
        if line.starts_with("RESYNC") {
            println!(
                "    API server writes during the measured resyncs: {}",
                api.writes() - writes_at_mark
            );
        }
    }
    let _ = child.wait();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        child(&args[2], &args[3]);
        return;
    }
    let target = args
        .iter()
        .skip(1)
        .find_map(|a| a.parse::<usize>().ok())
        .unwrap_or(10_000);
    parent(target);
}
