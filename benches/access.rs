//! Access-engine benchmark: model build, full evaluation (every user × every
//! rule, policy and binding), `explain` of one user (with and without
//! building the model), on the synthetic
//! benchmark organization (500 groups, 100 apps, 200 rules, 20 roles,
//! 10 policies) at 10,000 and 100,000 users. Prints the best and median of
//! several runs.
//!
//! `cargo bench --bench access` (or `-- 100000` for one size).

// The allocator the orgctl binary uses, so figures match the CLI.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use orgctl::access::AccessModel;
use orgctl::synth::{generate, SynthParams};

/// CPU time (user + system, every thread) of this process so far, from
/// `/proc/self/stat` (clock ticks of 10 ms).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i)?.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

/// Runs `f` `n` times; returns best and median wall time, mean CPU time per
/// run (all threads), and the last result.
fn time<T>(n: usize, mut f: impl FnMut() -> T) -> (Duration, Duration, Duration, T) {
    let mut times = Vec::with_capacity(n);
    let mut last = None;
    let cpu = cpu_time();
    for _ in 0..n {
        let t = Instant::now();
        let out = f();
        times.push(t.elapsed());
        last = Some(out);
    }
    let cpu = (cpu_time() - cpu) / n as u32;
    times.sort();
    (times[0], times[n / 2], cpu, last.expect("at least one run"))
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn run(users: usize) {
    let sources = generate(&SynthParams::benchmark(users));
    let state = orgctl::validate::run(&sources).expect("the synthetic org is valid");
    let org = state.organizations.values().next().expect("one organization");
    let runs = if users > 50_000 { 11 } else { 21 };

    let (build_best, build_med, build_cpu, model) = time(runs, || AccessModel::from_desired(org));
    assert!(model.problems().is_empty(), "{:?}", model.problems());
    let (eval_best, eval_med, eval_cpu, assignments) = time(runs, || model.evaluate().assignment_count());
    let (total_best, total_med, total_cpu, _) = time(runs, || {
        AccessModel::from_desired(org).evaluate().assignment_count()
    });
    // Explain a user in the middle of the name order, with and without building the model.
    let name = model.users().nth(users / 2).expect("a user").clone();
    let (explain_best, explain_med, _, explanation) = time(runs * 3, || {
        model.explain_user(name.as_str()).expect("known user")
    });
    let (cold_best, cold_med, _, _) = time(runs * 3, || {
        AccessModel::from_desired(org)
            .explain_user(name.as_str())
            .expect("known user")
    });
    println!(
        "access users={users} rules={} assignments={assignments} apps(explained user)={}",
        model.rule_count(),
        explanation.apps.len()
    );
    println!(
        "  model build          best {} median {} (cpu {})",
        ms(build_best),
        ms(build_med),
        ms(build_cpu)
    );
    println!(
        "  full evaluation      best {} median {} (cpu {})",
        ms(eval_best),
        ms(eval_med),
        ms(eval_cpu)
    );
    println!(
        "  build + evaluation   best {} median {} (cpu {})",
        ms(total_best),
        ms(total_med),
        ms(total_cpu)
    );
    println!(
        "  explain one user     best {} median {}",
        ms(explain_best),
        ms(explain_med)
    );
    println!(
        "  build + explain      best {} median {}",
        ms(cold_best),
        ms(cold_med)
    );
}

fn main() {
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() {
        vec![10_000, 100_000]
    } else {
        sizes
    };
    for users in sizes {
        run(users);
    }
}
