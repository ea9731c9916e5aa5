//! Posture benchmark, on the synthetic benchmark organization (500 groups,
//! 100 apps, 200 rules, 20 roles, 10 policies):
//! - `orgctl posture` of the files at 100,000 users: access model build,
//!   full evaluation and every check (loading and validating the files not
//!   included, as in the access bench), and the checks alone;
//! - the posture delta of a plan at 10,000 users: the no-op plan (where the
//!   delta is skipped: one evaluation serves both sides) and a plan with an
//!   edited rule and policy, against the cost of the checks on both sides.
//!
//! `cargo bench --bench posture` (or `-- 100000` / `-- 10000` for one part).

// The allocator the orgctl binary uses, so figures match the CLI.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[ctor::ctor(unsafe)]
fn tune_allocator() {
    orgctl::memory::release_promptly();
}

use std::time::{Duration, Instant};

use orgctl::access::AccessModel;
use orgctl::apply::{self, EnvAndFiles};
use orgctl::backend;
use orgctl::model::{Kind, Name, Spec};
use orgctl::plan::PlanOptions;
use orgctl::posture::{self, Settings};
use orgctl::synth::{generate, SynthParams};

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// CPU time (user + system, every thread) of this process so far, from
/// `/proc/self/stat` (clock ticks of 10 ms): less sensitive than wall time to
/// other processes on a shared machine.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i)?.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

/// Best and median wall time of `n` runs, and the last result; prints the
/// mean CPU time per run under `label`.
fn time<T>(label: &str, n: usize, mut f: impl FnMut() -> T) -> (Duration, Duration, T) {
    let mut times = Vec::with_capacity(n);
    let mut last = None;
    let cpu = cpu_time();
    for _ in 0..n {
        let t = Instant::now();
        last = Some(f());
        times.push(t.elapsed());
    }
    let cpu = (cpu_time() - cpu) / n as u32;
    times.sort();
    println!("  {label}: cpu {} per run (all threads)", ms(cpu));
    (times[0], times[n / 2], last.expect("one run"))
}

fn checks(access: &orgctl::access::EffectiveAccess<'_>, objects: &[(Kind, &Name, &Spec)]) -> usize {
    posture::check(&posture::Input {
        access,
        objects,
        grants: None,
        gaps: &[],
        settings: &Settings::default(),
    })
    .len()
}

fn files(users: usize) {
    let sources = generate(&SynthParams::benchmark(users));
    let state = orgctl::validate::run(&sources).expect("the synthetic org is valid");
    let org = state.organizations.values().next().expect("one organization");
    let objects: Vec<(Kind, &Name, &Spec)> = org.objects.iter().map(|((k, n), o)| (*k, n, &o.spec)).collect();
    let (best, median, found) = time("posture (build + evaluate + checks)", 9, || {
        let model = AccessModel::from_desired(org);
        let access = model.evaluate();
        checks(&access, &objects)
    });
    let model = AccessModel::from_desired(org);
    let access = model.evaluate();
    let (cbest, cmedian, _) = time("checks alone", 9, || checks(&access, &objects));
    println!(
        "posture of the files, {users} users: {} best, {} median ({found} findings); checks alone {} best, {} median",
        ms(best),
        ms(median),
        ms(cbest),
        ms(cmedian)
    );
}

fn plan_delta(users: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite:{}", dir.path().join("d.db").display());
    let sources = generate(&SynthParams::benchmark(users));
    let mut backend = backend::open(&db).expect("open");
    let planned = orgctl::engine::plan(&sources, backend.as_ref(), &PlanOptions::default(), &EnvAndFiles)
        .expect("plan");
    let report = apply::execute(&planned.plan, backend.as_mut(), &planned.secrets, &mut |_, _| {});
    assert_eq!(report.failed(), 0);
    let opts = PlanOptions::default();
    let (nbest, nmedian, noop) = time("no-op plan", 9, || {
        orgctl::engine::plan(&sources, backend.as_ref(), &opts, &EnvAndFiles).expect("plan")
    });
    assert!(noop.plan.is_empty() && noop.plan.organizations[0].impact.posture.is_empty());
    let changed = orgctl::synth::edited_benchmark(users);
    let (ebest, emedian, edit) = time("edited plan", 5, || {
        orgctl::engine::plan(&changed, backend.as_ref(), &opts, &EnvAndFiles).expect("plan")
    });
    let delta = &edit.plan.organizations[0].impact.posture;
    // What the delta adds to the edited plan: the checks over the live and
    // the planned evaluation (the evaluations themselves the plan makes anyway).
    let live = edit.live.values().next().expect("live");
    let live_objects: Vec<(Kind, &Name, &Spec)> =
        live.objects.iter().map(|((k, n), o)| (*k, n, &o.spec)).collect();
    let model = AccessModel::from_live(live);
    let access = model.evaluate();
    // Both sides as the plan checks them: at once, on two threads.
    let input = posture::Input {
        access: &access,
        objects: &live_objects,
        grants: Some(&live.grants),
        gaps: &[],
        settings: &Settings::default(),
    };
    let (dbest, dmedian, _) = time("delta checks (both sides)", 9, || {
        posture::check_pair(&input, &input)
    });
    println!(
        "plan, {users} users: no-op {} best, {} median (posture delta skipped); edited rule + policy {} best, {} median \
         ({} introduced, {} resolved); the delta's checks (both sides) {} best, {} median = {:.1}% of the no-op plan's median",
        ms(nbest),
        ms(nmedian),
        ms(ebest),
        ms(emedian),
        delta.introduced.len(),
        delta.resolved.len(),
        ms(dbest),
        ms(dmedian),
        100.0 * dmedian.as_secs_f64() / nmedian.as_secs_f64()
    );
}

fn main() {
    let only: Option<usize> = std::env::args().skip(1).find_map(|a| a.parse().ok());
    if only.is_none_or(|n| n == 100_000) {
        files(100_000);
    }
    if only.is_none_or(|n| n == 10_000) {
        plan_delta(10_000);
    }
}
