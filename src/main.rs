//! The orgctl binary: parse arguments, hand them to the library.
#![forbid(unsafe_code)]

use clap::Parser;

// mimalloc keeps memory flat when many small specs are built on two threads
// and freed in bulk (glibc's per-thread arenas fragment under that pattern).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    orgctl::cli::run(orgctl::cli::Cli::parse())
}
