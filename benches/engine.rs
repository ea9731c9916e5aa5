//! Criterion benchmarks of the engine on the 10,000-user benchmark
//! organization (500 groups, 100 apps, 200 rules, 20 roles, 10 policies):
//! a no-op plan (load + validate + snapshot + diff) and an apply from empty.
//!
//! `cargo bench --bench engine`

// The allocator the orgctl binary uses, so figures match the CLI.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

// Tuned before the first allocation, as in `orgctl` (src/main.rs).
#[ctor::ctor(unsafe)]
fn tune_allocator() {
    orgctl::memory::release_promptly();
}

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use orgctl::apply::{self, EnvAndFiles};
use orgctl::backend;
use orgctl::plan::PlanOptions;
use orgctl::synth::{generate, SynthParams};

const USERS: usize = 10_000;

fn engine(c: &mut Criterion) {
    let sources = generate(&SynthParams::benchmark(USERS));
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite:{}", dir.path().join("noop.db").display());
    {
        let mut b = backend::open(&db).expect("open");
        let planned =
            orgctl::engine::plan(&sources, b.as_ref(), &PlanOptions::default(), &EnvAndFiles).expect("plan");
        let report = apply::execute(&planned.plan, b.as_mut(), &planned.secrets, &mut |_, _| {});
        assert_eq!(report.failed(), 0);
    }
    let mut group = c.benchmark_group("10k-users");
    group.sample_size(10);
    group.bench_function("no-op plan (load+validate+snapshot+diff)", |bench| {
        let b = backend::open(&db).expect("open");
        bench.iter(|| {
            let planned = orgctl::engine::plan(&sources, b.as_ref(), &PlanOptions::default(), &EnvAndFiles)
                .expect("plan");
            assert!(planned.plan.is_empty());
        })
    });
    let mut n = 0;
    group.bench_function("apply from empty (plan+write)", |bench| {
        bench.iter_batched(
            || {
                n += 1;
                let path = format!("sqlite:{}", dir.path().join(format!("empty-{n}.db")).display());
                backend::open(&path).expect("open")
            },
            |mut b| {
                let planned =
                    orgctl::engine::plan(&sources, b.as_ref(), &PlanOptions::default(), &EnvAndFiles)
                        .expect("plan");
                let report = apply::execute(&planned.plan, b.as_mut(), &planned.secrets, &mut |_, _| {});
                assert_eq!(report.failed(), 0);
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
