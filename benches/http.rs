//! Load figures of the HTTP backend against a real `orgctl serve` (release
//! build) on loopback: apply of the 10,000-user benchmark organization with
//! parallelism 8, the requests and time of a no-op plan of it, and the
//! server under a loopback load generator (keep-alive connections reading
//! snapshot pages): requests/s, errors and latency percentiles.
//!
//! `cargo bench --bench http` (or `-- USERS SECONDS CONNECTIONS PAGE`).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use orgctl::apply::{self, EnvAndFiles};
use orgctl::backend::http::{HttpBackend, HttpOptions};
use orgctl::model::SecretValue;
use orgctl::plan::PlanOptions;
use orgctl::synth::{generate, SynthParams};

const TOKEN: &str = "bench-token-0123456789abcdef";

struct Server(Child, String);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(db: &std::path::Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_orgctl"))
        .args([
            "serve",
            "--db",
            &db.display().to_string(),
            "--listen",
            "127.0.0.1:0",
        ])
        .env("ORGCTL_SERVE_TOKEN", TOKEN)
        .env("ORGCTL_LOG", "orgctl=warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start orgctl serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("listening line");
    let address = line
        .trim()
        .trim_start_matches("orgctl serve: listening on ")
        .to_string();
    Server(child, address)
}

fn backend(address: &str) -> HttpBackend {
    let options = HttpOptions {
        token: Some(SecretValue::new(TOKEN)),
        ..Default::default()
    };
    HttpBackend::open(address, &options).expect("open")
}

/// One keep-alive connection issuing GETs; returns latencies (µs) and errors.
fn load_worker(host: &str, path: &str, until: Instant) -> (Vec<u32>, usize) {
    let mut latencies = Vec::new();
    let mut errors = 0;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n");
    let mut stream = BufReader::new(TcpStream::connect(host).expect("connect"));
    let _ = stream.get_ref().set_nodelay(true);
    let mut body = Vec::new();
    while Instant::now() < until {
        let t = Instant::now();
        if stream.get_mut().write_all(request.as_bytes()).is_err() {
            errors += 1;
            break;
        }
        let mut status = String::new();
        if stream.read_line(&mut status).is_err() || status.is_empty() {
            errors += 1;
            break;
        }
        let mut length = 0usize;
        loop {
            let mut h = String::new();
            if stream.read_line(&mut h).is_err() {
                errors += 1;
                break;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        body.resize(length, 0);
        if stream.read_exact(&mut body).is_err() {
            errors += 1;
            break;
        }
        if !status.contains(" 200 ") {
            errors += 1;
        }
        latencies.push(t.elapsed().as_micros() as u32);
    }
    (latencies, errors)
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let users: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let seconds: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10);
    let connections: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(8);
    let page: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(50);

    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(&dir.path().join("bench.db"));
    let sources = generate(&SynthParams::benchmark(users));

    // Apply from empty.
    let mut http = backend(&server.1);
    let t = Instant::now();
    let planned = orgctl::engine::plan(&sources, &http, &PlanOptions::default(), &EnvAndFiles).expect("plan");
    let planned_in = t.elapsed();
    let assigned: usize = planned
        .plan
        .organizations
        .iter()
        .map(|o| o.assignments.users.len())
        .sum();
    println!("apply-from-empty plan: users with app assignments to write: {assigned}");
    let report = apply::execute(&planned.plan, &mut http, &planned.secrets, &mut |_, _| {});
    assert_eq!(report.failed(), 0, "apply failed");
    println!(
        "apply-from-empty users={users} changes={} parallelism=8: plan {:.2} s, total {:.2} s, {} requests",
        report.applied(),
        planned_in.as_secs_f64(),
        t.elapsed().as_secs_f64(),
        http.requests()
    );

    // No-op plan: time and requests.
    let noop = backend(&server.1);
    let t = Instant::now();
    let planned = orgctl::engine::plan(&sources, &noop, &PlanOptions::default(), &EnvAndFiles).expect("plan");
    for org in &planned.plan.organizations {
        if !org.changes.is_empty() || !org.assignments.users.is_empty() {
            eprintln!(
                "no-op plan of {}: {} changes (first: {:?}), assignments of {} users ({} grants added, {} removed)",
                org.organization.as_str(),
                org.changes.len(),
                org.changes.first().map(|c| (c.kind, c.name.as_str(), c.action)),
                org.assignments.users.len(),
                org.assignments.grants_added,
                org.assignments.grants_removed
            );
        }
    }
    assert!(planned.plan.is_empty(), "no-op plan has changes");
    let objects = planned.live.values().map(|l| l.objects.len()).sum::<usize>();
    println!(
        "no-op plan users={users}: {:.0} ms, {} requests ({} objects; 9 kinds; pages of {})",
        t.elapsed().as_secs_f64() * 1000.0,
        noop.requests(),
        objects,
        orgctl::backend::http::wire::MAX_PAGE
    );

    // Load: keep-alive connections reading snapshot pages.
    let host = server.1.trim_start_matches("http://").to_string();
    let path = format!("/v1/orgs/bench/snapshot?limit={page}&after=User%2Fm");
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let (host, path) = (host.clone(), path.clone());
            std::thread::spawn(move || load_worker(&host, &path, until))
        })
        .collect();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for w in workers {
        let (l, e) = w.join().expect("worker");
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    println!(
        "load: snapshot pages of {page} objects, {connections} keep-alive connections, {seconds} s: {} requests, {:.0} req/s, {errors} errors, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        latencies.len() as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        latencies.last().copied().unwrap_or(0) as f64 / 1000.0
    );
}
