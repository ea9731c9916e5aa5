//! Scale benchmark: phase timings and peak RSS of a no-op plan and of an
//! apply from empty, for synthetic organizations of 10,000 and 100,000 users
//! (500 groups, 100 apps, 200 rules, 20 roles, 10 policies). Every
//! measurement runs in its own child process so peak RSS is its own.
//!
//! `cargo bench --bench scale` (or `-- 10000` for one size).

// The allocator the orgctl binary uses, so figures match the CLI.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

// Tuned before the first allocation, as in `orgctl` (src/main.rs).
#[ctor::ctor(unsafe)]
fn tune_allocator() {
    orgctl::memory::release_promptly();
}

use std::process::Command;
use std::time::{Duration, Instant};

use orgctl::apply::{self, EnvAndFiles};
use orgctl::backend;
use orgctl::plan::PlanOptions;
use orgctl::synth::{generate, SynthParams};

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Child: apply the org into `db` from empty, report timings.
fn child_apply(users: usize, db: &str) {
    let sources = generate(&SynthParams::benchmark(users));
    let t = Instant::now();
    let mut backend = backend::open(&format!("sqlite:{db}")).expect("open");
    let planned = orgctl::engine::plan(&sources, backend.as_ref(), &PlanOptions::default(), &EnvAndFiles)
        .expect("plan");
    let planned_at = t.elapsed();
    let report = apply::execute(&planned.plan, backend.as_mut(), &planned.secrets, &mut |_, _| {});
    assert_eq!(report.failed(), 0, "apply failed");
    println!(
        "apply-from-empty users={users} changes={} plan={} total={} peak_rss={:.0} MiB",
        report.applied(),
        ms(planned_at),
        ms(t.elapsed()),
        peak_rss_mib()
    );
}

/// Child: a plan against `db` (no-op, or of the edited org), phase by phase.
fn child_noop(users: usize, db: &str, edit: bool) {
    let sources = if edit {
        orgctl::synth::edited_benchmark(users)
    } else {
        generate(&SynthParams::benchmark(users))
    };
    let backend = backend::open(&format!("sqlite:{db}")).expect("open");
    let t0 = Instant::now();
    let (loaded, diags) = orgctl::load::load(&sources);
    assert!(diags.is_empty());
    let t1 = Instant::now();
    let desired = orgctl::validate::validate(loaded, &sources).expect("valid");
    let t2 = Instant::now();
    let org = desired.organizations.keys().next().cloned().expect("org");
    let live = backend.snapshot(&org).expect("snapshot");
    let t3 = Instant::now();
    let mut secrets = apply::resolve(&desired, &EnvAndFiles).expect("secrets");
    secrets.digest_with(backend.as_ref()).expect("digests");
    let lives = std::iter::once((org, live)).collect();
    let mut plan = orgctl::plan::diff(
        &desired,
        &lives,
        &secrets.digests,
        &backend.capabilities(),
        &PlanOptions::default(),
        &backend.describe(),
    )
    .expect("plan");
    let t4 = Instant::now();
    orgctl::plan::add_access_effects(&mut plan, &lives, &PlanOptions::default()).expect("effects");
    let t5 = Instant::now();
    assert_eq!(plan.is_empty(), !edit, "unexpected plan");
    let affected = plan.organizations[0].impact.users_affected;
    println!(
        "phases{} users={users}: load={} validate={} snapshot={} diff={} access-effects={} (sum {}; effects {:.0}% of the plan; {affected} users affected)",
        if edit { " (edited rule + policy)" } else { "" },
        ms(t1 - t0),
        ms(t2 - t1),
        ms(t3 - t2),
        ms(t4 - t3),
        ms(t5 - t4),
        ms(t5 - t0),
        100.0 * (t5 - t4).as_secs_f64() / (t5 - t0).as_secs_f64(),
    );
}

/// Child: the no-op plan as `orgctl plan` runs it (validation beside the
/// snapshot), with the process's peak RSS.
fn child_engine(users: usize, db: &str) {
    let sources = generate(&SynthParams::benchmark(users));
    let backend = backend::open(&format!("sqlite:{db}")).expect("open");
    let t = Instant::now();
    let planned = orgctl::engine::plan(&sources, backend.as_ref(), &PlanOptions::default(), &EnvAndFiles)
        .expect("plan");
    let took = t.elapsed();
    assert!(planned.plan.is_empty(), "no-op plan has changes");
    println!(
        "noop-plan users={users} time={} peak_rss={:.0} MiB",
        ms(took),
        peak_rss_mib()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(pos) = args.iter().position(|a| a == "--child") {
        let what = args[pos + 1].as_str();
        let users: usize = args[pos + 2].parse().expect("users");
        let db = &args[pos + 3];
        match what {
            "apply" => child_apply(users, db),
            "phases" => child_noop(users, db, false),
            "phases-edited" => child_noop(users, db, true),
            _ => child_engine(users, db),
        }
        return;
    }
    let sizes: Vec<usize> = args
        .iter()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect::<Vec<_>>();
    let sizes = if sizes.is_empty() {
        vec![10_000, 100_000]
    } else {
        sizes
    };
    let exe = std::env::current_exe().expect("exe");
    for users in sizes {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("directory.db").display().to_string();
        let run = |what: &str| {
            let out = Command::new(&exe)
                .args(["--child", what, &users.to_string(), &db])
                .output()
                .expect("child");
            print!("{}", String::from_utf8_lossy(&out.stdout));
            if !out.status.success() {
                eprint!("{}", String::from_utf8_lossy(&out.stderr));
            }
        };
        run("apply");
        run("phases");
        run("phases-edited");
        for _ in 0..5 {
            run("engine");
        }
    }
}
