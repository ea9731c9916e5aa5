//! Writes a synthetic organization as YAML files, for trying orgctl at scale
//! and benchmarking it (the generator is `orgctl::synth`, which only builds
//! with the `dev` feature, never into the shipped binary):
//!
//! ```sh
//! cargo run --release --example synth -- --users 10000 --out /tmp/big
//! orgctl plan -f /tmp/big
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use orgctl::synth::{generate, SynthParams};

/// Writes a synthetic organization (one YAML file per kind) into a directory.
#[derive(Debug, Parser)]
#[command(name = "synth")]
struct Args {
    /// Number of users.
    #[arg(long, default_value_t = 10_000)]
    users: usize,
    /// The benchmark shape (500 groups, 100 apps, 200 rules, 20 roles, 10 policies) instead of the small one that grows with the users.
    #[arg(long)]
    benchmark: bool,
    /// The organization's name.
    #[arg(long = "org", value_name = "NAME")]
    organization: Option<String>,
    /// The directory to write (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut params = if args.benchmark {
        SynthParams::benchmark(args.users)
    } else {
        SynthParams::small(args.users)
    };
    if let Some(name) = args.organization {
        params.organization = name;
    }
    if let Err(e) = std::fs::create_dir_all(&args.out) {
        eprintln!("error: failed to create {}: {e}", args.out.display());
        return ExitCode::FAILURE;
    }
    let sources = generate(&params);
    for s in &sources {
        let Some(file) = Path::new(&s.name).file_name() else {
            continue;
        };
        let path = args.out.join(file);
        if let Err(e) = std::fs::write(&path, &s.text) {
            eprintln!("error: failed to write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    eprintln!(
        "Wrote the organization {:?} ({} users) as {} files into {}.",
        params.organization,
        params.users,
        sources.len(),
        args.out.display()
    );
    ExitCode::SUCCESS
}
